"""The layers' elementwise passes, each written once in NumPy and run as one compiled loop
(``handgrad.nn._fused``, C) when that module is built: the bias add of Linear, ReLU's forward and
backward, and the finiteness check of inputs.

Why two forms: in a training step of a 1024-wide MLP these passes meet 128 x 1024 activations the
BLAS threads have just written, and NumPy's forms are slow there: ReLU's z * mask casts the bool
mask through a buffered loop (~30 us where one pass takes ~8), the bias add runs a short inner loop
per output unit, the finiteness check builds a boolean copy. Together ~0.3 ms of a 9 ms step. The
NumPy functions below are the reference, readable and run wherever the C module is not built
(``FUSED`` False); tests/nn/test_kernels.py holds the two to the same bits in float32 and float64.

ReLU's conventions are PyTorch's: a NaN input passes through the forward (NaN, not 0), and the
backward is a select, so a NaN gradient at a unit that was off gives 0 (torch's threshold_backward).
"""

from __future__ import annotations

import numpy as np

try:
    from handgrad.nn import _fused
    FUSED = True
except ImportError:  # no C compiler at install time: the NumPy forms below serve
    _fused = None
    FUSED = False

_SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}


def _compiled(name: str, x: np.ndarray):
    """The compiled loop for x's dtype, or None (run the NumPy form)."""
    if _fused is None or x.dtype not in _SUFFIX:
        return None
    return getattr(_fused, name + _SUFFIX[x.dtype])


def _memory_order(*arrays) -> str | None:
    """"C" or "F" if every array is contiguous in that one order (elementwise loops may then walk
    their memory as one vector), else None."""
    for order, flag in (("C", "C_CONTIGUOUS"), ("F", "F_CONTIGUOUS")):
        if all(a.flags[flag] for a in arrays):
            return order
    return None


def _vector(a: np.ndarray, order: str) -> np.ndarray:
    return a.ravel(order=order)  # a view: the caller checked that a is contiguous in this order


def add_bias_rows(z_t: np.ndarray, b: np.ndarray) -> None:
    """z^T[r, :] += b[r] in place: Linear's bias, with z^T (one row per output unit) C-ordered."""
    fused = _compiled("add_bias_rows", z_t)
    if fused is not None and z_t.flags.c_contiguous and b.dtype == z_t.dtype and z_t.size:
        return fused(_vector(z_t, "C"), b, z_t.shape[0])
    z_t += b[:, None]


def relu_forward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, mask) with mask = z > 0 and y = z where z > 0 or z is NaN, +0 elsewhere; y and mask
    keep z's memory order."""
    y = np.empty_like(z)
    mask = np.empty_like(z, dtype=np.bool_)
    fused, order = _compiled("relu_forward", z), _memory_order(z, y, mask)
    if fused is not None and order is not None:
        fused(_vector(z, order), _vector(y, order), _vector(mask, order))
        return y, mask
    np.greater(z, 0, out=mask)
    y[...] = np.where(mask | np.isnan(z), z, z.dtype.type(0))
    return y, mask


def relu_backward(grad_y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """grad_z = grad_y where mask, +0 elsewhere (a select, not a product: 0 * NaN would be NaN)."""
    out = np.empty_like(grad_y)
    fused, order = _compiled("relu_backward", grad_y), _memory_order(grad_y, mask, out)
    if fused is not None and order is not None:
        fused(_vector(grad_y, order), _vector(mask, order), _vector(out, order))
        return out
    out[...] = np.where(mask, grad_y, grad_y.dtype.type(0))
    return out


def all_finite(x: np.ndarray) -> bool | None:
    """Whether a contiguous float32/float64 x holds no NaN or inf, in one pass and no copy; None
    where no compiled loop applies (another dtype or layout): the caller checks in NumPy."""
    fused, order = _compiled("all_finite", x), _memory_order(x)
    if fused is None or order is None:
        return None
    return fused(_vector(x, order))
