"""Shared test helpers: float64 random inputs kept away from an activation's or a loss's kinks."""

import numpy as np
import pytest


def _away_from(rng, shape, kinks=(), gap=0.05, scale=1.5):
    """Normal(0, scale) samples, redrawn until every entry is at least ``gap`` from each kink, so a
    finite difference never straddles a point where the derivative does not exist."""
    x = rng.normal(0.0, scale, size=shape)
    for _ in range(100):
        near = np.zeros(shape, bool)
        for k in kinks:
            near |= np.abs(x - k) < gap
        if not near.any():
            return x
        x[near] = rng.normal(0.0, scale, size=int(near.sum()))
    raise RuntimeError("could not draw samples away from the kinks")


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


@pytest.fixture
def away_from():
    """The function ``away_from(rng, shape, kinks=(), gap=0.05, scale=1.5)`` above."""
    return _away_from
