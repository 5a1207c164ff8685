"""Where the time of one handgrad step goes: every module's forward and backward, the loss and the
optimizer step, timed by wrapping the bound methods of one model (the library is
not touched). The container's own share (its loop) is its total less its modules'.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from bench.impls import HandgradImpl
from bench.workloads import SEED, load_data, step_flops


def _wrap(obj, method: str, label: str, totals: dict) -> None:
    inner = getattr(obj, method)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = inner(*args, **kwargs)
        totals[label] += time.perf_counter() - start
        return out

    setattr(obj, method, timed)


def run_profile(w: dict) -> dict:
    """Mean seconds per step of each phase of ``w["steps"]`` steps of a train workload."""
    x, labels = load_data(w)
    impl = HandgradImpl(w["sizes"], w["optimizer"], w["lr"], SEED)
    model, batch = impl.model, w["batch"]
    totals: dict[str, float] = defaultdict(float)
    order = []
    for i, module in enumerate(model.layers):
        label = f"{i}:{type(module).__name__}"
        if hasattr(module, "in_features"):
            label += f" {module.in_features}->{module.out_features}"
        order.append(label)
        _wrap(module, "forward", f"{label} forward", totals)
        # training's backward (the impl sets grad_mode): gradients written in place, and the first
        # layer forms its parameter gradients only
        _wrap(module, "backward", f"{label} backward", totals)
    _wrap(model, "forward", "model.forward (total)", totals)
    _wrap(model, "backward", "model.backward (total)", totals)
    _wrap(impl.loss, "forward", "loss forward", totals)
    _wrap(impl.loss, "backward", "loss backward", totals)
    _wrap(impl.opt, "step", "optimizer step", totals)

    starts = [s for s in range(0, len(x) - batch + 1, batch)]
    for start in starts[:3]:  # warm-up, then forget it
        impl.step(x[start:start + batch], labels[start:start + batch])
    totals.clear()
    steps = w["steps"]
    begin = time.perf_counter()
    for k in range(steps):
        start = starts[k % len(starts)]
        impl.step(x[start:start + batch], labels[start:start + batch])
    whole = (time.perf_counter() - begin) / steps

    per_step = {label: seconds / steps for label, seconds in totals.items()}
    layers_fwd = sum(per_step.get(f"{label} forward", 0.0) for label in order)
    layers_bwd = sum(per_step.get(f"{label} backward", 0.0) for label in order)
    per_step["container forward overhead"] = \
        per_step["model.forward (total)"] - layers_fwd
    per_step["container backward overhead"] = per_step["model.backward (total)"] - layers_bwd
    per_step["step (total)"] = whole
    return {"values": per_step, "order": order, "unit": "s/step", "batch": batch,
            "flops": step_flops(w["sizes"], batch), "info": impl.describe(),
            "dtype": str(np.dtype(model.dtype))}
