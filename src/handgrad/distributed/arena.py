"""The optimizer arena on Dask: every (optimizer, seed) run of ``handgrad.lab.arena`` a task.

``run_arena_on_dask(spec, optimizers, ..., client=client)`` returns what
``run_arena(get_problem(spec), optimizers, ...)`` returns, entry for entry, with the runs spread
over the cluster. Only the problem's spec string and numbers travel to the workers; each worker
builds the problem itself and runs with one BLAS thread, so a run's curve does not depend on where
it ran. For the CLI: ``with dask_client(scheduler, workers) as client:`` (handgrad.distributed.sweep)
then this function instead of ``run_arena`` for each problem.
"""

from __future__ import annotations

import dataclasses
import math


def arena_run(spec: str, name: str, seed: int, rate: float, options, budget) -> dict:
    """One arena run in a worker (the problem rebuilt from its spec), as a plain dict."""
    from threadpoolctl import threadpool_limits

    from handgrad.lab import arena

    with threadpool_limits(limits=1, user_api="blas"):
        run = arena.run_once(arena.get_problem(spec), name, seed, rate, options, budget)
    return dataclasses.asdict(run)


def run_arena_on_dask(spec: str, optimizers, seeds: int = 5, lr: dict | None = None,
                      max_epochs: int | None = None, client=None, progress=None) -> list:
    from handgrad.lab import arena
    from handgrad.optim import OPTIMIZERS

    problem = arena.get_problem(spec)
    plans = []
    for name in optimizers:
        rate = (lr or {}).get(name, problem.lr.get(name, 0.01))
        batch = "full" if (OPTIMIZERS[name].full_batch or not problem.batch_size) \
            else str(problem.batch_size)
        budget = min(max_epochs or problem.max_epochs, arena.EPOCH_CAP.get(name, math.inf))
        futures = [client.submit(arena_run, spec, name, seed, rate, arena.ARENA_OPTIONS.get(name),
                                 budget, pure=False) for seed in range(seeds)]
        plans.append((arena.Entry(name, rate, batch, budget), futures))
    entries = []
    for entry, futures in plans:
        for future in futures:
            if future.status == "error" or not _wait(future):
                error = future.exception()
                if not isinstance(error, ValueError):  # a bug, not "not applicable": raise it
                    raise error
                entry.error, entry.runs = str(error), []  # as run_arena: LM, Newton's size limit
                break
            entry.runs.append(arena.Run(**future.result()))
        if progress:
            progress(entry)
        entries.append(entry)
    return entries


def _wait(future) -> bool:
    """Whether the task finished without raising."""
    from distributed import wait

    wait(future)
    return future.status == "finished"
