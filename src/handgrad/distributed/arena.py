"""The optimizer arena on Dask: every (row, seed) run of ``handgrad.lab.arena`` a task.

``run_arena_on_dask(spec, optimizers, ..., client=client)`` returns what
``run_arena(get_problem(spec), optimizers, ...)`` returns, entry for entry, with the runs spread
over the cluster; ``run_plans_on_dask(spec, plans, seeds, client=client)`` does the same for any
rows (``arena.plan``, ``arena.momentum_plans``). Only the problem's spec string and numbers travel
to the workers; each worker builds the problem itself, and every run (in a worker or in one
process) uses one BLAS thread, so a run's curve does not depend on where it ran. For the CLI: ``with dask_client(scheduler, workers) as
client:`` (handgrad.distributed.sweep) then these functions for each problem.
"""

from __future__ import annotations

import dataclasses


def arena_run(spec: str, name: str, seed: int, rate: float, options, budget) -> dict:
    """One arena run in a worker (the problem rebuilt from its spec), as a plain dict; the run
    itself pins BLAS to one thread (``arena.run_once``), here as in one process."""
    from handgrad.lab import arena

    run = arena.run_once(arena.get_problem(spec), name, seed, rate, options, budget)
    return dataclasses.asdict(run)


def run_plans_on_dask(spec: str, plans, seeds: int = 5, client=None, progress=None) -> list:
    """``arena.run_plans(get_problem(spec), plans, seeds)``, each run a task of ``client``."""
    from handgrad.lab import arena

    submitted = [(p, [client.submit(arena_run, spec, p.optimizer, seed, p.lr, p.options, p.budget,
                                    pure=False) for seed in range(seeds)]) for p in plans]
    entries = []
    for p, futures in submitted:
        entry = p.entry()
        for future in futures:
            if future.status == "error" or not _wait(future):
                error = future.exception()
                if not isinstance(error, ValueError):  # a bug, not "not applicable": raise it
                    raise error
                entry.error, entry.runs = str(error), []  # as run_plans: LM, Newton's size limit
                break
            entry.runs.append(arena.Run(**future.result()))
        if progress:
            progress(entry)
        entries.append(entry)
    return entries


def run_arena_on_dask(spec: str, optimizers, seeds: int = 5, lr: dict | None = None,
                      max_epochs: int | None = None, client=None, progress=None) -> list:
    from handgrad.lab import arena

    problem = arena.get_problem(spec)
    plans = [arena.plan(problem, name, lr, max_epochs) for name in optimizers]
    return run_plans_on_dask(spec, plans, seeds, client, progress)


def _wait(future) -> bool:
    """Whether the task finished without raising."""
    from distributed import wait

    wait(future)
    return future.status == "finished"
