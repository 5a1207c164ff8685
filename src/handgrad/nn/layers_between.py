"""What goes between a hidden Linear and its activation: batch norm, then dropout (002, VI)."""

from __future__ import annotations

import numpy as np


def between(dropout: float = 0.0, batchnorm: bool = False, seed=None):
    """A ``layers_between(width, rng)`` for :func:`handgrad.nn.MLP`, or None when empty.

    Each dropout layer gets its own random stream, spawned from ``seed`` so runs are reproducible.
    """
    if not dropout and not batchnorm:
        return None
    seeds = np.random.SeedSequence(seed).spawn(64)

    def make(width, rng):
        modules = []
        if batchnorm:
            from handgrad.nn.batchnorm import BatchNorm1d
            modules.append(BatchNorm1d(width))
        if dropout:
            from handgrad.nn.dropout import Dropout
            modules.append(Dropout(dropout, rng=np.random.default_rng(seeds.pop(0))))
        return modules

    return make
