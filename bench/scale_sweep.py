"""Sweep throughput on the embedded Dask cluster with 1 and 2 workers (issue 16, item 3).

    python -m bench.scale_sweep [--epochs 5] [--workers 1,2]

runs the issue's sweep: 4 optimizers x 3 learning rates x 2 seeds on digits (24 trials of
``handgrad train``, hidden 64), each time into a fresh store, and prints the trials per minute
(the cluster's start excluded) and the speed-up over one worker.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SPACE = {"data": "digits", "hidden": "64", "batch_size": 32,
         "optimizer": ["sgd", "momentum", "adam", "rmsprop"], "lr": [0.003, 0.01, 0.03],
         "seed": [0, 1]}


def throughput(workers: int, epochs: int) -> tuple[float, float, int, float]:
    from handgrad.distributed import sweep
    from handgrad.distributed.space import parse_space
    from handgrad.distributed.store import open_store

    space = parse_space(dict(SPACE, epochs=epochs))
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "results.jsonl")
        with sweep.dask_client(workers=workers) as client:
            client.wait_for_workers(workers)
            start = time.perf_counter()
            rows = sweep.run_sweep(space, Path(tmp), client, store, echo=lambda line: None)
            seconds = time.perf_counter() - start
    ok = sum(r["status"] == "ok" for r in rows)
    trial = float(np.median([r["seconds"] for r in rows if r["seconds"] is not None]))
    return len(rows) / seconds * 60.0, seconds, ok, trial


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--workers", default="1,2")
    a = p.parse_args()
    print(f"24 trials (digits, 64 hidden, {a.epochs} epochs); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| workers | seconds | trials/min | speed-up | trials ok | median trial (s) | load |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for workers in (int(w) for w in a.workers.split(",")):
        rate, seconds, ok, trial = throughput(workers, a.epochs)
        base = base or rate
        print(f"| {workers} | {seconds:.1f} | {rate:.1f} | {rate / base:.2f}x | {ok} | "
              f"{trial:.2f} | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
