"""Sweeps on Dask distributed: every trial a ``handgrad train`` run, every run a Dask task.

A trial runs the public command in the worker (``handgrad train ... --runs-dir DIR --name KEY
--no-progress``) with its BLAS pinned to one thread, and returns its run's metrics.json as a store
row. A trial's numbers therefore depend only on its settings: not on the worker, the machine's
load or how many workers there are. The driver submits the trials, writes each row the moment it
arrives, and skips the trials the store already holds.

Faults: a worker that dies takes its running trials with it; the scheduler reruns them on the
others (Dask's ``allowed-failures``), and since a row is only written when its future completes,
each trial is in the store once. A trial whose training raises or diverges is recorded with
status "failed" and its message; the sweep goes on.

Successive halving (Jamieson and Talwalkar 2016; scikit-learn's HalvingGridSearchCV, Ray Tune's
ASHA without the asynchrony): all trials train min_epochs; the best 1/eta continue to eta times as
many epochs, and so on up to ``epochs``. A survivor continues from its checkpoint when the worker
can see it (exact resume) and trains from the start otherwise: the numbers are the same.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from handgrad.distributed.space import Space, train_argv, trial_key
from handgrad.errors import HandgradError, OptionError

# The BLAS of every worker process, set before it starts (numpy reads these once, on import).
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}


# --- the trial (runs in a worker) ----------------------------------------------------------------
def run_trial(settings: dict, run_dir: str, budget: int | None = None,
              blas_threads: int | None = 1) -> dict:
    """Train one trial with ``handgrad train`` in this process and return its store row
    (without ``key``). ``budget`` overrides the epochs and continues from the run's checkpoint
    when one is there."""
    from handgrad.cli.main import main

    run_dir = Path(run_dir)
    settings = dict(settings)
    if budget is not None:
        settings["epochs"] = budget
    checkpoint = run_dir / "checkpoint.safetensors"
    resume = budget is not None and checkpoint.exists() and _checkpoint_epoch(run_dir) <= budget
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)  # a run cut short by a lost worker: start it again
    argv = ["train", *train_argv(settings), "--runs-dir", str(run_dir.parent),
            "--name", run_dir.name, "--no-progress"] + (["--resume"] if resume else [])
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with _blas_limit(blas_threads), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        code = main(argv)
    row = {"settings": settings, "seed": settings.get("seed", 0), "seconds":
           time.perf_counter() - start, "worker": _worker_name(), "budget": budget}
    if code != 0:
        return {**row, "status": "failed", "error": _failure(code, out.getvalue(), err.getvalue())}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {**row, "status": "ok", "history": metrics["history"], "epochs": metrics["epochs"],
            "stop_reason": metrics["stop_reason"], "train_seconds": metrics["train_seconds"],
            "test": {k: v for k, v in metrics["test"].items() if isinstance(v, (int, float))}}


def _failure(code: int, out: str, err: str) -> str:
    """The line that says why ``handgrad train`` stopped: "handgrad train: error: ..." on stderr,
    or "stopped: training diverged ..." on stdout (warnings may come after either)."""
    lines = [line for line in (err + "\n" + out).splitlines()
             if line.startswith(("handgrad train: error", "stopped:"))]
    if lines:
        return lines[-1]
    tail = (err.strip() or out.strip()).splitlines()
    return tail[-1] if tail else f"handgrad train exited with code {code}"


def _checkpoint_epoch(run_dir: Path) -> int:
    """The epochs a trial's last metrics.json records (its checkpoint is at least that far)."""
    path = run_dir / "metrics.json"
    if not path.exists():
        return 0
    return int(json.loads(path.read_text()).get("epochs", 0))


def _blas_limit(threads):
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def _worker_name() -> str:
    try:
        from distributed import get_worker

        address = get_worker().address
    except ValueError:  # not inside a Dask worker (a trial run directly)
        address = "local"
    return f"{address} ({socket.gethostname()}, pid {os.getpid()})"


# --- clusters -------------------------------------------------------------------------------------
def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                timeout: str = "20s"):
    """A client of the cluster at ``scheduler`` (tcp://HOST:PORT), or of an embedded local
    cluster of ``workers`` single-threaded worker processes (default: one per core)."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if workers is not None:
            raise OptionError("--workers applies to the embedded cluster only; with --scheduler "
                              "start as many `dask worker` processes as you want")
        try:
            client = Client(scheduler, timeout=timeout)
        except OSError as err:  # refused, unreachable, timed out
            raise HandgradError(f"cannot reach the Dask scheduler at {scheduler} ({err}); start "
                                f"one with `dask scheduler` or leave out --scheduler for a local "
                                f"cluster") from None
        with client:
            yield client
        return
    n = default_workers() if workers is None else workers
    if n < 1:
        raise OptionError(f"invalid workers: {n} (expected an integer >= 1)")
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **ONE_THREAD}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=50) as cluster, \
            Client(cluster) as client:
        yield client


# --- the driver -----------------------------------------------------------------------------------
def run_sweep(space: Space, out: Path, client, store, echo=print) -> list[dict]:
    """Run every trial of ``space`` not yet in ``store``; return the store's rows afterwards."""
    out = Path(out)
    trials = space.trials()
    _check_arguments(trials, space.source)
    if not space.halving:
        _run_batch(client, [(trial_key(s), s, None) for s in trials], out, store, echo)
        return store.rows()
    survivors = trials
    for rung, budget in enumerate(space.budgets()):
        echo(f"rung {rung}: {len(survivors)} trial(s) to {budget} epoch(s)")
        _run_batch(client, [(f"{trial_key(s)}-e{budget}", s, budget) for s in survivors],
                   out, store, echo)
        keep = max(1, len(survivors) // space.eta)
        survivors = best_settings(store.rows(), survivors, budget, space, keep)
    return store.rows()


def best_settings(rows, candidates, budget, space: Space, keep: int) -> list[dict]:
    """The ``keep`` candidates with the best metric at ``budget`` (failed trials last, ties in
    trial order)."""
    by_key = {r["key"]: r for r in rows}
    scored = []
    for index, settings in enumerate(candidates):
        row = by_key.get(f"{trial_key(settings)}-e{budget}")
        value = metric_value(row, space.metric) if row else None
        rank = (value is None, 0.0 if value is None else
                (-value if space.better() == "max" else value), index)
        scored.append((rank, settings))
    scored.sort(key=lambda pair: pair[0])
    return [s for _, s in scored[:keep]]


def _run_batch(client, jobs, out: Path, store, echo) -> None:
    from distributed import as_completed

    done = {row["key"] for row in store.rows()}
    todo = [job for job in jobs if job[0] not in done]
    if len(todo) < len(jobs):
        echo(f"{len(jobs) - len(todo)} of {len(jobs)} trial(s) already in the store: skipped")
    futures = {}
    for key, settings, budget in todo:
        future = client.submit(run_trial, settings, str(out / "trials" / key.split("-")[0]),
                               budget, key=f"handgrad-trial-{key}", pure=False)
        futures[future] = (key, settings, budget)
    try:
        for n, future in enumerate(as_completed(futures), 1):
            key, settings, budget = futures[future]
            row = _row(future, settings, budget)
            row["key"] = key
            store.add(row)
            echo(f"[{n}/{len(todo)}] {describe(row)}")
    finally:
        for future in futures:
            future.cancel()


def _row(future, settings, budget) -> dict:
    if future.status == "finished":
        return future.result()
    # the task raised (the trial itself, or its workers kept dying): recorded, the sweep goes on
    error = future.exception()
    return {"settings": settings, "seed": settings.get("seed", 0), "status": "failed",
            "error": f"{type(error).__name__}: {error}", "budget": budget, "seconds": None,
            "worker": None}


def _check_arguments(trials, source: str) -> None:
    """Every trial's options parse as ``handgrad train`` arguments and pass its checks of each
    value (type and range, as ``handgrad train`` checks them) before any trial is submitted."""
    from handgrad.cli import main
    from handgrad.cli.train import resolve

    parser = main.build_parser()
    # argparse exits on a bad command line; handgrad's own parser may raise its UsageError instead
    errors = (SystemExit, *((main.UsageError,) if hasattr(main, "UsageError") else ()))
    for settings in trials:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                args = parser.parse_args(["train", *train_argv(settings)])
        except errors as error:
            lines = (err.getvalue().strip() or str(error)).splitlines()
            raise OptionError(f"{source}: the trial {settings} is not a valid `handgrad train` "
                              f"command: {lines[-1] if lines else 'bad arguments'}") from None
        try:
            resolve(args)
        except OptionError as error:
            raise OptionError(f"{source}: the trial {settings} is not a valid `handgrad train` "
                              f"command: {error}") from None


# --- reading the results --------------------------------------------------------------------------
def metric_value(row: dict | None, metric: str):
    """A row's ``metric``: test_<name> from the test metrics, else the history's last epoch."""
    if not row or row.get("status") != "ok":
        return None
    if metric.startswith("test_") and metric[5:] in row.get("test", {}):
        return float(row["test"][metric[5:]])
    values = row.get("history", {}).get(metric)
    return float(values[-1]) if values else None


def describe(row: dict) -> str:
    swept = ", ".join(f"{k}={v}" for k, v in row["settings"].items())
    if row["status"] != "ok":
        return f"FAILED {swept}: {row['error']}"
    test = ", ".join(f"{k} {v:.4g}" for k, v in row["test"].items())
    return f"{swept}: test {test} ({row['seconds']:.1f} s on {row['worker']})"


def final_rows(rows: list[dict]) -> list[dict]:
    """One row per trial: with halving, the row of its largest budget."""
    best = {}
    for row in rows:
        base = row["key"].split("-")[0]
        if base not in best or (row.get("budget") or 0) >= (best[base].get("budget") or 0):
            best[base] = row
    return list(best.values())


def table(rows: list[dict], space: Space, top: int = 10) -> str:
    """A Markdown table of the best trials by the space's metric, then the failed ones."""
    rows = final_rows(rows)
    ok = [r for r in rows if metric_value(r, space.metric) is not None]
    sign = -1.0 if space.better() == "max" else 1.0
    ok.sort(key=lambda r: (-(r.get("budget") or 0), sign * metric_value(r, space.metric)))
    swept = space.swept
    head = ["rank", *swept, space.metric, "test", "epochs", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(ok[:top], 1):
        test = ", ".join(f"{k} {v:.4f}" for k, v in r["test"].items() if k in
                         ("accuracy", "log_loss", "r2", "mse"))
        cells = [str(i), *(str(r["settings"].get(k)) for k in swept),
                 f"{metric_value(r, space.metric):.4f}", test, str(r["epochs"]),
                 f"{r['seconds']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    failed = [r for r in rows if r["status"] != "ok"]
    text = "\n".join(lines) + f"\n\n{len(ok)} trial(s) ok, {len(failed)} failed"
    for r in failed:
        values = ", ".join(f"{k}={r['settings'].get(k)}" for k in swept)
        text += f"\n- failed: {values}: {r['error']}"
    return text + "\n"


def plot(rows: list[dict], space: Space, path: Path) -> Path:
    """The metric against each swept option, one panel each (one point per trial)."""
    from handgrad.train import plots  # noqa: F401  (selects matplotlib's file backend)
    import matplotlib.pyplot as plt

    rows = [r for r in final_rows(rows) if metric_value(r, space.metric) is not None]
    names = space.swept
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        xs = [r["settings"].get(name) for r in rows]
        ys = [metric_value(r, space.metric) for r in rows]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        if numeric:
            ax.scatter(xs, ys, s=18)
            if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], ys, s=18)
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_xlabel(name)
        ax.set_ylabel(space.metric)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def echo_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
