"""The layers' elementwise passes, each written once in NumPy and run as one compiled loop
(``handgrad.nn._fused``, C) when that module is built: the bias add of Linear, ReLU's forward and
backward, the finiteness check of inputs, and softmax cross-entropy with class indices.

Why two forms: in a training step of a 1024-wide MLP these passes meet 128 x 1024 activations the
BLAS threads have just written, and NumPy's forms are slow there: ReLU's z * mask casts the bool
mask through a buffered loop (~30 us where one pass takes ~8), the bias add runs a short inner loop
per output unit, the finiteness check builds a boolean copy; cross-entropy on a 32 x 10 batch is a
dozen NumPy calls, a fifth of a small network's step. The NumPy functions below are the reference,
readable and run wherever the C module is not built (``FUSED`` False);
tests/nn/test_elementwise_kernels.py holds the two to the same bits in float32 and float64, except
the softmax of cross-entropy's forward: the C loop takes exp and log from the C library and sums
each row in order where NumPy sums pairwise, so its p is a few ulp from NumPy's (2-5 for ten
classes in float32, tens for a thousand) and its loss agrees to about 1e-6 relative in float32.

ReLU: the forward passes a NaN z on (NaN, not 0, as torch.relu does) and maps -0 and -inf to +0;
the backward is a select on z > 0, so the gradient is 0 wherever z was not positive, a NaN z
included (torch passes it there), and a NaN or inf gradient at a unit that was off gives 0.
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
_LOOPS: dict = {}  # (name, dtype) -> the compiled loop: a step calls these a dozen times


def _compiled(name: str, x: np.ndarray):
    """The compiled loop for x's dtype, or None (run the NumPy form)."""
    key = (name, x.dtype)
    loop = _LOOPS.get(key)
    if loop is None and _fused is not None and x.dtype in _SUFFIX:
        loop = _LOOPS[key] = getattr(_fused, name + _SUFFIX[x.dtype])
    return loop if _fused is not None else None


def _memory_order(*arrays) -> str | None:
    """"C" or "F" if every array is aligned and contiguous in that one order (elementwise loops
    may then walk their memory as one vector), else None."""
    # A plain loop, not all() over generators: on a small network's step this runs eight times
    # and generators made it ~0.9 us a call, 15% of a 64-32-10 step.
    c = f = True
    for a in arrays:
        flags = a.flags
        if not flags.aligned:  # a view at an odd byte offset: the NumPy form serves
            return None
        c = c and flags.c_contiguous
        f = f and flags.f_contiguous
    return "C" if c else "F" if f else None


def add_bias_rows(z_t: np.ndarray, b: np.ndarray) -> None:
    """z^T[r, :] += b[r] in place: Linear's bias, with z^T (one row per output unit) C-ordered."""
    if b.shape != z_t.shape[:1]:
        raise ValueError(f"bias of shape {b.shape} for {z_t.shape[0]} output units")
    fused = _compiled("add_bias_rows", z_t)
    if (fused is not None and _memory_order(z_t) == "C" and b.dtype == z_t.dtype and z_t.size
            and b.flags.aligned):
        return fused(z_t.ravel(), b, z_t.shape[0])
    z_t += b[:, None]


def relu_forward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, mask) with mask = z > 0 and y = z where z > 0 or z is NaN, +0 elsewhere; y and mask
    keep z's memory order."""
    y = np.empty_like(z)
    mask = np.empty_like(z, dtype=np.bool_)
    fused, order = _compiled("relu_forward", z), _memory_order(z)  # y, mask: z's order
    if fused is not None and order is not None:
        fused(z.ravel(order), y.ravel(order), mask.ravel(order))
        return y, mask
    np.greater(z, 0, out=mask)
    y[...] = np.where(mask | np.isnan(z), z, z.dtype.type(0))
    return y, mask


def relu_backward(grad_y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """grad_z = grad_y where mask, +0 elsewhere (a select, not a product: 0 * NaN would be NaN)."""
    if grad_y.shape != mask.shape:  # a broadcast gradient would be a bug upstream, not a shortcut
        raise ValueError(f"ReLU backward: gradient of shape {grad_y.shape} for activations of "
                         f"shape {mask.shape}")
    out = np.empty_like(grad_y)
    fused, order = _compiled("relu_backward", grad_y), _memory_order(grad_y, mask)
    if fused is not None and order is not None:
        fused(grad_y.ravel(order), mask.ravel(order), out.ravel(order))
        return out
    out[...] = np.where(mask, grad_y, grad_y.dtype.type(0))
    return out


def all_finite(x: np.ndarray) -> bool | None:
    """Whether a contiguous float32/float64 x holds no NaN or inf, in one pass and no copy; None
    where no compiled loop applies (another dtype or layout): the caller checks in NumPy."""
    fused, order = _compiled("all_finite", x), _memory_order(x)
    if fused is None or order is None:
        return None
    return fused(x.ravel(order))


def _xent_layout(z: np.ndarray, p: np.ndarray) -> tuple | None:
    """(n, c, fortran) when z and p are 2-D and contiguous in one order, else None."""
    order = _memory_order(z, p) if z.ndim == 2 else None
    return None if order is None else (z.shape[0], z.shape[1], order == "F")


def softmax_cross_entropy(z: np.ndarray, labels: np.ndarray, p: np.ndarray) -> float:
    """p <- softmax(z) row by row, and the summed cross-entropy of the class indices ``labels``
    (intp, each in range), by log-sum-exp: sum_i log sum_j exp(z_ij - m_i) - (z_{i,c_i} - m_i),
    with m_i the row's maximum, so exp never overflows. The compiled loop takes exp and log
    from the C library and sums each row in order (p a few ulp from NumPy's, see above), and the
    rows' losses in double."""
    fused, layout = _compiled("softmax_xent", z), _xent_layout(z, p)
    if fused is not None and layout is not None and labels.dtype == np.intp and z.size:
        order = "F" if layout[2] else "C"
        return fused(z.ravel(order), p.ravel(order), labels, *layout)
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    np.divide(e, total, out=p)
    return float(np.log(total).sum() - shifted[np.arange(len(z)), labels].sum())


def softmax_cross_entropy_grad(p: np.ndarray, labels: np.ndarray, scale: float) -> np.ndarray:
    """grad_z = scale (p - d) for one-hot rows d of ``labels``: the fused softmax + cross-entropy
    gradient, in p's memory order."""
    out = np.empty_like(p)
    fused, layout = _compiled("softmax_xent_grad", p), _xent_layout(p, out)
    if fused is not None and layout is not None and labels.dtype == np.intp and p.size:
        order = "F" if layout[2] else "C"
        fused(p.ravel(order), out.ravel(order), labels, scale, *layout)
        return out
    np.copyto(out, p)
    out[np.arange(len(out)), labels] -= 1.0
    out *= out.dtype.type(scale)
    return out
