"""The workloads, their data and their FLOP/byte model (what the roofline time is made of).

A workload is a plain dictionary so that it travels to a worker process as JSON. Data are made in
the worker from a fixed seed (no downloads): synthetic float32 data of MNIST's shape, whose labels
come from a fixed random linear teacher so that the loss can fall, or scikit-learn's bundled digits.
"""

from __future__ import annotations

import numpy as np

SEED = 0
MNIST_SHAPE = (60_000, 784)
W1_SIZES = [784, 1024, 1024, 10]
IMPLS = ["handgrad", "floor", "torch", "sklearn"]

# Bytes an optimizer step reads and writes per parameter (float32): SGD reads theta and grad and
# writes theta; momentum also reads and writes its velocity; Adam its two moments.
OPTIMIZER_WORDS = {"sgd": 3, "momentum": 5, "adam": 7}


def _train(name, title, sizes, batch, samples, data="synthetic", optimizer="adam", lr=1e-3,
           epochs=1, reps=1, impls=IMPLS, memory=False, criteria=False):
    return {"name": name, "kind": "train", "title": title, "sizes": sizes, "batch": batch,
            "samples": samples, "data": data, "optimizer": optimizer, "lr": lr, "epochs": epochs,
            "reps": reps, "impls": list(impls), "memory": memory, "criteria": criteria}


def workloads(quick: bool = False) -> list[dict]:
    """Every workload of the suite; ``quick`` shrinks each to a smoke test of a few seconds."""
    n = 1_024 if quick else MNIST_SHAPE[0]
    wide = [784, 128, 128, 10] if quick else W1_SIZES
    narrow = 256 if quick else 10_000
    return [
        _train("mnist_mlp", f"{'-'.join(map(str, wide))}, ReLU, softmax CE, Adam, batch 128, "
               f"{n:,} samples, 1 epoch", wide, 128, n, memory=True, criteria=True),
        _train("digits", "64-32-10 on digits (1,797 x 64), ReLU, Adam, batch 32, 1 epoch",
               [64, 32, 10], 32, 1_797, data="digits", epochs=1 if quick else 20,
               reps=1 if quick else 5, criteria=True),
        _train("deep_narrow", f"784-(256 x 10)-10, ReLU, Adam, batch 128, {narrow:,} samples, "
               "1 epoch", [784] + [256] * 10 + [10], 128, narrow, reps=1 if quick else 3),
        _train("full_batch", f"784-256-256-10, full-batch gradient descent on {n:,} samples, "
               "one step", [784, 256, 256, 10], n, n, optimizer="sgd", lr=0.1,
               reps=1 if quick else 3),
        {"name": "inference", "kind": "infer", "sizes": wide, "batch": 1024, "samples": n,
         "title": f"inference, {'-'.join(map(str, wide))}, {n:,} samples in batches of 1,024",
         "reps": 1 if quick else 3, "impls": list(IMPLS)},
        {"name": "optimizers", "kind": "optim", "sizes": wide, "steps": 2 if quick else 40,
         "title": f"optimizer step alone on the {param_count(wide):,} parameters of {wide}",
         "optimizers": ["sgd", "momentum", "adam"], "impls": list(IMPLS)},
    ]


def sweeps(quick: bool = False) -> list[dict]:
    """Time per Adam step against width (784-w-w-10, batch 128) and against batch size."""
    widths = [64, 128] if quick else [256, 512, 1024, 2048, 4096]
    batches = [1, 32] if quick else [1, 4, 16, 64, 128, 256, 1024, 4096]
    impls = ["handgrad", "floor", "torch"]
    bw = 128 if quick else 1024
    return [
        {"name": "sweep_width", "kind": "sweep", "axis": "width", "points": widths, "batch": 128,
         "steps": 2 if quick else 12, "impls": impls,
         "title": "time per Adam step against width, 784-w-w-10, batch 128"},
        {"name": "sweep_batch", "kind": "sweep", "axis": "batch", "points": batches,
         "width": bw, "steps": 2 if quick else 12, "impls": impls,
         "title": f"time per Adam step against batch size, 784-{bw}-{bw}-10"},
    ]


def sweep_point(sweep: dict, point: int) -> tuple[list[int], int]:
    """(sizes, batch) of one point of a sweep."""
    if sweep["axis"] == "width":
        return [784, point, point, 10], sweep["batch"]
    width = sweep["width"]
    return [784, width, width, 10], point


# --- data ---------------------------------------------------------------------------------------
def synthetic(samples: int, features: int = 784, classes: int = 10, seed: int = SEED):
    """MNIST-shaped float32 inputs (standard normal) and labels from a random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, features), dtype=np.float32)
    teacher = rng.standard_normal((features, classes), dtype=np.float32)
    labels = np.empty(samples, dtype=np.int64)
    for start in range(0, samples, 8192):  # in slices, so the logits never double peak memory
        labels[start:start + 8192] = np.argmax(x[start:start + 8192] @ teacher, axis=1)
    return x, labels


def digits(cache: str | None = None):
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1]: 1,797 x 64, 10 classes.

    ``cache`` is an .npz the parent wrote once, so workers need not import scikit-learn."""
    if cache:
        with np.load(cache, allow_pickle=False) as saved:
            return saved["x"], saved["labels"]
    from sklearn.datasets import load_digits

    x, labels = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), labels.astype(np.int64)


def load_data(workload: dict):
    if workload.get("data") == "digits":
        return digits(workload.get("cache"))
    return synthetic(workload["samples"], workload["sizes"][0], workload["sizes"][-1])


# --- the FLOP and byte model --------------------------------------------------------------------
def param_count(sizes) -> int:
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


def step_flops(sizes, batch: int) -> int:
    """Matrix-product FLOPs of one training step: forward x W^T, backward grad_W = grad_z^T x and
    grad_x = grad_z W (not for the first layer, whose input needs no gradient); 2 per multiply-add."""
    products = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
    return 2 * batch * (2 * sum(products) + sum(products[1:]))


def forward_flops(sizes, batch: int) -> int:
    return 2 * batch * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))


def optimizer_bytes(sizes, optimizer: str, itemsize: int = 4) -> int:
    return OPTIMIZER_WORDS[optimizer] * itemsize * param_count(sizes)


def roofline_step(sizes, batch, optimizer, limits) -> float:
    """Seconds of one step at the machine's limit: its products at peak GEMM rate plus its
    optimizer's memory traffic at peak bandwidth (elementwise work is not counted)."""
    return (step_flops(sizes, batch) / limits["gemm_flops"]
            + optimizer_bytes(sizes, optimizer) / limits["bandwidth"])


def steps_per_epoch(samples: int, batch: int) -> int:
    return -(-samples // batch)


def roofline(workload: dict, limits: dict) -> float | None:
    """Roofline seconds of the quantity a workload reports (an epoch, a pass, a step)."""
    kind = workload["kind"]
    if kind == "train":
        full, last = divmod(workload["samples"], workload["batch"])
        seconds = full * roofline_step(workload["sizes"], workload["batch"],
                                       workload["optimizer"], limits)
        if last:
            seconds += roofline_step(workload["sizes"], last, workload["optimizer"], limits)
        return seconds
    if kind == "infer":
        return forward_flops(workload["sizes"], workload["samples"]) / limits["gemm_flops"]
    return None
