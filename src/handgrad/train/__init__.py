"""Training: the loop, callbacks (progress, checkpoints, early stopping), metrics, plots.

The names below load on first use (PEP 562 ``__getattr__``): ``import handgrad.train.closure``,
which every optimizer that takes a closure needs, must not pull in the progress bar (tqdm), the
file format (safetensors) or plotting through this package's ``__init__``.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "BatchClosure": "closure", "Callback": "callbacks", "Checkpoint": "callbacks",
    "EarlyStopping": "callbacks", "ProgressBar": "callbacks", "resume": "callbacks",
    "Task": "task", "History": "trainer", "Trainer": "trainer",
    "predict_outputs": "trainer",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'handgrad.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"handgrad.train.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
