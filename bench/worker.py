"""One measurement in a fresh process: ``python -m bench.worker '<json task>'``.

The task names an implementation and a workload; the worker builds its data from the fixed seed,
warms up, times, and prints one JSON line. The parent reads the child's peak resident memory from
``os.wait4``, so each implementation's peak memory is its own process's.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time

import numpy as np

from bench.impls import IMPLEMENTATIONS
from bench.workloads import SEED, load_data, steps_per_epoch, sweep_point, synthetic


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_train(impl_name: str, w: dict) -> dict:
    x, labels = load_data(w)
    impl = IMPLEMENTATIONS[impl_name](w["sizes"], w["optimizer"], w["lr"], SEED)
    warm = min(len(x), 5 * w["batch"])
    impl.train_epochs(x[:warm], labels[:warm], w["batch"], 1)
    values = [_timed(lambda: impl.train_epochs(x, labels, w["batch"], w["epochs"])) / w["epochs"]
              for _ in range(w["reps"])]
    return {"values": values, "unit": "s/epoch",
            "steps": steps_per_epoch(len(x), w["batch"]), "info": impl.describe()}


def run_infer(impl_name: str, w: dict) -> dict:
    x, _ = synthetic(w["samples"], w["sizes"][0], w["sizes"][-1])
    impl = IMPLEMENTATIONS[impl_name](w["sizes"], "adam", 1e-3, SEED)
    impl.predict(x[:w["batch"]], w["batch"])
    values = [_timed(lambda: impl.predict(x, w["batch"])) for _ in range(w["reps"])]
    return {"values": values, "unit": "s/pass", "info": impl.describe()}


WARM_STEPS = 2  # untimed calls before each timing: first-touch faults, BLAS thread start-up


def _time_steps(fn, steps: int, warm: int = WARM_STEPS) -> float:
    for _ in range(warm):
        fn()
    return float(np.median([_timed(fn) for _ in range(steps)]))


def run_optim(impl_name: str, w: dict) -> dict:
    rng = np.random.default_rng(SEED)
    values, info = {}, {}
    for name in w["optimizers"]:
        impl = IMPLEMENTATIONS[impl_name](w["sizes"], name, 1e-3, SEED)
        impl.prepare_grads(rng)
        values[name] = _time_steps(impl.optimizer_step, w["steps"])
        info[name] = impl.describe()["optimizer"]
    return {"values": values, "unit": "s/step", "info": info}


def run_sweep(impl_name: str, w: dict) -> dict:
    values = {}
    for point in w["points"]:
        sizes, batch = sweep_point(w, point)
        impl = IMPLEMENTATIONS[impl_name](sizes, "adam", 1e-3, SEED)
        step = _fresh_batches(impl, sizes, batch, WARM_STEPS + w["steps"], point)
        values[str(point)] = _time_steps(step, w["steps"], warm=WARM_STEPS)
    return {"values": values, "unit": "s/step", "info": impl.describe()}


def _fresh_batches(impl, sizes, batch, count, point):
    """A step function that takes a new batch each call. The same batch over and over is
    memorised within a few steps at small batch sizes: the loss reaches 0, the gradients become
    subnormal floats, and the hardware's slow path for those (~100x per operation) made the Adam
    step of a 4-sample batch 11 ms instead of 1: a measurement of the CPU, not of the trainer."""
    x, labels = synthetic(batch * count, sizes[0], sizes[-1], seed=SEED + point)
    batches = iter([_as_inputs(impl, x[i:i + batch], labels[i:i + batch])
                    for i in range(0, batch * count, batch)])
    return lambda: impl.step(*next(batches))


def _as_inputs(impl, x, labels):
    if impl.name == "torch":
        return impl._tensors(x, labels)
    return x, labels


RUNNERS = {"train": run_train, "infer": run_infer, "optim": run_optim, "sweep": run_sweep}


def blas_info() -> list[dict]:
    """The BLAS and OpenMP libraries this process loaded, as threadpoolctl reports them."""
    from threadpoolctl import threadpool_info

    keep = ("internal_api", "prefix", "version", "architecture", "num_threads")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info()]


def run_one(impl: str, workload: dict) -> dict:
    if workload["kind"] == "profile":
        from bench.profile_step import run_profile

        result = run_profile(workload)
    else:
        result = RUNNERS[workload["kind"]](impl, workload)
    # Peak resident memory of this process so far (KiB on Linux): its own peak, data included.
    result["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main(argv=None) -> None:
    task = json.loads((argv or sys.argv[1:])[0])
    results = [run_one(task["impl"], w) for w in task["workloads"]]
    blas = blas_info()
    extra = {}
    if task["impl"] == "torch":
        import torch

        found = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
        extra["torch_blas"] = found.group(1) if found else "unknown"
    for result in results:
        result["blas"] = blas
        result.setdefault("info", {}).update(extra)
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
