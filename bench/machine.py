"""The machine's limits, measured in the same run as the workloads: ``python -m bench.machine``.

* peak float32 GEMM rate: the best of a few square products through NumPy's BLAS, with the
  threads the environment gives it;
* peak memory bandwidth: streaming copies and adds over arrays far larger than the caches, from one
  and from two threads (NumPy's elementwise loops release the GIL), the best of them;
* what the machine is: CPU, cores, memory, BLAS (threadpoolctl), versions, OPENBLAS_* variables.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_rate(sizes=(1024, 2048, 3072), repeats: int = 5) -> dict:
    """FLOP/s of float32 C = A B for square sizes; the peak is the best of them."""
    rng = np.random.default_rng(0)
    rates = {}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), dtype=np.float32)
        rates[n] = 2.0 * n ** 3 / _best(lambda: np.matmul(a, b, out=c), repeats)
    return {"gemm_by_size": rates, "gemm_flops": max(rates.values())}


def _in_threads(fn, n: int, threads: int) -> None:
    bounds = np.linspace(0, n, threads + 1).astype(int)
    workers = [threading.Thread(target=fn, args=(slice(lo, hi),))
               for lo, hi in zip(bounds[:-1], bounds[1:])]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def bandwidth(mib: int = 256, repeats: int = 5) -> dict:
    """Bytes/s of streaming copy (2 words moved per element) and add (3 words) over large arrays."""
    n = mib * 2 ** 20 // 4
    a, b, c = (np.full(n, v, dtype=np.float32) for v in (1.0, 2.0, 0.0))
    rates = {}
    for threads in (1, 2):
        copy = _best(lambda: _in_threads(lambda s: np.copyto(c[s], a[s]), n, threads), repeats)
        add = _best(lambda: _in_threads(lambda s: np.add(a[s], b[s], out=c[s]), n, threads),
                    repeats)
        rates[f"copy_{threads}t"] = 2 * 4 * n / copy
        rates[f"add_{threads}t"] = 3 * 4 * n / add
    return {"bandwidth_by_kind": rates, "bandwidth": max(rates.values())}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return None


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def describe() -> dict:
    from threadpoolctl import threadpool_info

    versions = {}
    for package in ("numpy", "scipy", "torch", "scikit-learn", "threadpoolctl", "handgrad"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(), "python": sys.version.split()[0],
        "versions": versions, "commit": _git_commit(),
        "numpy_blas": [{k: lib.get(k) for k in ("internal_api", "prefix", "version",
                                                   "architecture", "num_threads", "filepath")}
                       for lib in threadpool_info()],
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                          "OPENBLAS_NUM_THREADS",
                                                          "OMP_NUM_THREADS")},
    }


def measure(quick: bool = False) -> dict:
    limits = gemm_rate((512, 1024) if quick else (1024, 2048, 3072), 2 if quick else 5)
    limits.update(bandwidth(32 if quick else 256, 2 if quick else 5))
    return limits


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    print(json.dumps({"limits": measure("--quick" in args), "machine": describe()}))


if __name__ == "__main__":
    main()
