"""Central differences for the layer tests (float64), until ``handgrad.check.gradcheck`` lands.

``numerical_gradient(f, a)`` perturbs each entry of the array ``a`` in place by +-h and returns
(f(a + h e_k) - f(a - h e_k)) / 2h; ``f`` must read ``a`` (a parameter view or the input array).
"""

import numpy as np
import pytest


def numerical_gradient(f, a: np.ndarray, h: float = 1e-6) -> np.ndarray:
    assert a.dtype == np.float64, "finite differences need float64"
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)  # views: writing flat perturbs a
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + h
        f_plus = f()
        flat[k] = saved - h
        f_minus = f()
        flat[k] = saved
        gflat[k] = (f_plus - f_minus) / (2.0 * h)
    return grad


def relative_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12))


@pytest.fixture
def numgrad():
    return numerical_gradient


@pytest.fixture
def relerr():
    return relative_error
