"""The playground's data sets: five 2-D classification sets and one 1-D regression set.

Every set lives in the box [-1, 1] (the plane the page draws is [-EXTENT, EXTENT]^2), labels are
0/1 (classification) or a real target (regression), and ``noise`` in [0, 1] is the fraction of the
set's scale added as Gaussian jitter (as TensorFlow Playground's noise slider). A seed fixes the
points, so a shared link shows the same data.
"""

from __future__ import annotations

import numpy as np

EXTENT = 1.2          # the page draws [-EXTENT, EXTENT] along each axis

CLASSIFICATION = ("gauss", "circles", "xor", "spirals", "moons")
REGRESSION = ("regression",)
DATASETS = CLASSIFICATION + REGRESSION

TITLES = {"gauss": "two Gaussians", "circles": "circles", "xor": "XOR", "spirals": "spirals",
          "moons": "moons", "regression": "1-D regression"}


def _gauss(n, noise, rng):
    d = rng.integers(0, 2, n)
    centre = np.where(d[:, None] == 1, 0.45, -0.45)
    x = centre + rng.normal(0.0, 0.12 + 0.5 * noise, (n, 2))
    return x, d


def _circles(n, noise, rng):
    d = rng.integers(0, 2, n)
    # inner disc (class 1) of radius 0.45, outer ring (class 0) between 0.65 and 0.95
    r = np.where(d == 1, 0.45 * np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0.65, 0.95, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.c_[r * np.cos(angle), r * np.sin(angle)]
    return x + rng.normal(0.0, 0.3 * noise, (n, 2)), d


def _xor(n, noise, rng):
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.08                 # a margin around the axes, as TensorFlow Playground
    x = np.clip(x, -1, 1)
    d = (x[:, 0] * x[:, 1] > 0).astype(int)
    return x + rng.normal(0.0, 0.3 * noise, (n, 2)), d


def _spirals(n, noise, rng):
    d = rng.integers(0, 2, n)
    t = rng.uniform(0, 1, n)
    r = 0.05 + 0.9 * t
    angle = 1.75 * 2 * np.pi * t + np.pi * d
    x = np.c_[r * np.sin(angle), r * np.cos(angle)]
    return x + rng.normal(0.0, 0.15 * noise, (n, 2)), d


def _moons(n, noise, rng):
    d = rng.integers(0, 2, n)
    angle = rng.uniform(0, np.pi, n)
    upper = np.c_[np.cos(angle), np.sin(angle)]
    lower = np.c_[1 - np.cos(angle), 0.5 - np.sin(angle)]
    x = np.where(d[:, None] == 0, upper, lower)
    x = (x - [0.5, 0.25]) * 0.6                       # centre the pair in the box
    return x + rng.normal(0.0, 0.3 * noise, (n, 2)), d


def _regression(n, noise, rng):
    x = rng.uniform(-1, 1, (n, 1))
    d = np.sin(3.0 * x[:, 0]) * 0.8 + rng.normal(0.0, 0.5 * noise, n)
    return x, d


_MAKERS = {"gauss": _gauss, "circles": _circles, "xor": _xor, "spirals": _spirals,
           "moons": _moons, "regression": _regression}


def make(name: str, n: int, noise: float, train_ratio: float, seed: int):
    """(x_train, d_train, x_test, d_test): ``n`` points, the first ``train_ratio`` of them for
    training. x is (n, 2) (classification) or (n, 1) (regression); d is (n,) (0/1 labels or
    real targets). The caller validates the arguments (see ``config.py``)."""
    rng = np.random.default_rng(seed)
    x, d = _MAKERS[name](n, noise, rng)
    n_train = max(1, min(n - 1, int(round(train_ratio * n))))
    return (x[:n_train].astype(np.float64), d[:n_train].astype(np.float64),
            x[n_train:].astype(np.float64), d[n_train:].astype(np.float64))
