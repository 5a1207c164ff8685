"""Data-parallel step time on MPI for the 784-1024-1024-10 workload (issue 16, item 3).

    python -m bench.scale_mpi [--steps 30] [--batches 64,256,1024]

launches, for each global batch size B: one process with two BLAS threads (no MPI), then
``mpiexec -n 1`` and ``mpiexec -n 2`` with one BLAS thread per rank, and prints the median step
time, the Allreduce's share of the step on P = 2, the speed-up and the efficiency
T_1 / (P T_P), next to the ring all-reduce model (2 (P-1)/P x 4 bytes x parameters moved per
step, at the bandwidth this machine measured for the Allreduce).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = [784, 1024, 1024, 10]


def worker(batch: int, steps: int, distributed: bool) -> dict:
    """One rank (or the one process): time ``steps`` optimizer steps on random data."""
    from handgrad.nn import MLP, get_loss
    from handgrad.optim import get_optimizer
    from handgrad.train import BatchClosure

    rank, size, dist = 0, 1, None
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch * 4, SIZES[0])).astype(np.float32)
    d = rng.integers(0, SIZES[-1], batch * 4)
    model = MLP(SIZES, activation="relu", output="softmax", rng=0, dtype=np.float32)
    loss = get_loss("cross_entropy")
    opt = get_optimizer("momentum", model, lr=0.01)
    if distributed:
        from handgrad.distributed import mpi

        comm = mpi.world()
        rank, size = comm.Get_rank(), comm.Get_size()
        opt = dist = mpi.DistributedOptimizer(opt, comm)
    times, reduce_times = [], []
    for step in range(steps + 3):
        rows = slice((step % 4) * batch, (step % 4 + 1) * batch)
        closure = BatchClosure(model, loss, x[rows], d[rows], rewind=False)
        if dist is not None:
            dist.comm.Barrier()
            before = dist.allreduce_seconds
        start = time.perf_counter()
        opt.step(closure)
        elapsed = time.perf_counter() - start
        if step >= 3:  # the first steps allocate buffers and warm the caches
            times.append(elapsed)
            reduce_times.append(0.0 if dist is None else dist.allreduce_seconds - before)
    measured = np.array([np.median(times), np.median(reduce_times)]) * 1e3
    if dist is not None:  # the step ends when the slowest rank does: rank 0 reports the maximum
        from mpi4py import MPI

        dist.comm.Allreduce(MPI.IN_PLACE, measured, op=MPI.MAX)
    return {"rank": rank, "size": size, "step_ms": float(measured[0]),
            "allreduce_ms": float(measured[1]), "parameters": int(model.num_parameters)}


def launch(batch: int, steps: int, ranks: int | None, threads: int) -> dict:
    env = dict(os.environ, **{k: str(threads) for k in
                              ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    command = [sys.executable, "-m", "bench.scale_mpi", "--worker", "--batch", str(batch),
               "--steps", str(steps)]
    if ranks is not None:
        command = [str(Path(sys.executable).with_name("mpiexec")), "-n", str(ranks), *command,
                   "--distributed"]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    (result,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batches", default="64,256,1024")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=256, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        result = worker(a.batch, a.steps, a.distributed)
        if result["rank"] == 0:
            print(json.dumps(result), flush=True)
        return
    print(f"784-1024-1024-10, float32, momentum; median of {a.steps} steps; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| global batch | 1 proc, 2 threads (ms) | P=1, 1 thread (ms) | P=2 (ms) | "
          "Allreduce on P=2 (ms, share) | speed-up P=2 vs P=1 | efficiency | "
          "vs 2 threads | model bandwidth (GB/s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in a.batches.split(",")):
        two_threads = launch(batch, a.steps, None, 2)
        one = launch(batch, a.steps, 1, 1)
        two = launch(batch, a.steps, 2, 1)
        moved = 2 * (2 - 1) / 2 * 4 * two["parameters"]  # bytes per rank, ring all-reduce
        speedup = one["step_ms"] / two["step_ms"]
        print(f"| {batch} | {two_threads['step_ms']:.1f} | {one['step_ms']:.1f} | "
              f"{two['step_ms']:.1f} | {two['allreduce_ms']:.1f} "
              f"({two['allreduce_ms'] / two['step_ms']:.0%}) | {speedup:.2f}x | "
              f"{speedup / 2:.0%} | {two_threads['step_ms'] / two['step_ms']:.2f}x | "
              f"{moved / (two['allreduce_ms'] * 1e-3) / 1e9:.2f} |", flush=True)


if __name__ == "__main__":
    main()
