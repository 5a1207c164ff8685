"""The fast forms of nn's hot passes, in one place: what runs behind the readable math of Linear,
ReLU and cross-entropy.

Each module writes its forward and backward once, in the notes' notation (``z = y @ W.T + b`` in
linear.py, ``y = max(0, z)`` in activations.py, log-softmax in losses.py); that form is the
specification. When ``FAST`` is true (the default) the module calls the function here instead,
which computes the same thing faster: a memory layout BLAS prefers, ``out=`` writes that skip a
temporary and a zero fill, a broadcast product for the batch-1 outer product, and single compiled
loops (``handgrad.nn._fused``, C, where it was built; the NumPy lines below otherwise) for the
elementwise passes NumPy makes in several. Setting ``FAST = False`` runs every module's readable
form, the reference.

tests/nn/test_fast_forms.py holds each function here to the readable form, and
tests/nn/test_elementwise_kernels.py the compiled loops to their NumPy lines:
- bit for bit: ReLU's forward and backward where the input is finite (the forward maps -0 to +0,
  where max(0, -0) may give either zero; the backward is a select: a NaN or inf gradient at a unit
  that was off gives 0, as torch's does, where grad_y * (z > 0) would give NaN), the bias add,
  grad_W and grad_b, the cross-entropy gradient given p;
- within the rounding bound of a dot product (|error| <= k eps sum_j |a_j b_j| for k terms): z and
  grad_x, which BLAS sums in another order in the transposed layout;
- within a few ulp: the compiled softmax of cross-entropy, which takes exp and log from the C
  library and sums each row in order (NumPy sums pairwise), against the readable exp(log p), which
  carries log p's rounding: p within 8 (1 + |log p|) ulp for ten classes, 128 (1 + |log p|) for a
  thousand; the loss to about 2e-6 relative in float32.
"""

from __future__ import annotations

import numpy as np

try:
    from handgrad.nn import _fused
    FUSED = True
except ImportError:  # no C compiler at install time: the NumPy forms below serve
    _fused = None
    FUSED = False

FAST = True  # False: every module runs its readable form (the notes' equations)

_SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}
_LOOPS: dict = {}  # (name, dtype) -> the compiled loop: a step calls these a dozen times


# --- Linear -------------------------------------------------------------------------------------
def linear_forward(*, y: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """z = y W^T + b, computed as the notes' z^T = W y^T (one column per sample) and viewed with
    rows as samples: with W stored (out, in) that is BLAS's fastest layout."""
    z_t = W @ y.T
    if b is not None:
        add_bias_rows(z_t, b)
    return z_t.T


def linear_backward(*, grad_z: np.ndarray, y: np.ndarray, W: np.ndarray, grad_W: np.ndarray,
                    grad_b: np.ndarray | None, accumulate: bool, needs_grad_x: bool):
    """grad_W (+)= grad_z^T y; grad_b (+)= sum over the batch of grad_z; grad_x = grad_z W (or
    None when not needed). Set, not accumulated, is written in place: no temporary, no zero fill."""
    # One sample: grad_z^T y is 004's outer product, a broadcast multiply (gemm with an inner
    # dimension of 1 is slow). Its zeros may keep the factors' sign where the matmul gives +0.
    product = np.multiply if len(y) == 1 else np.matmul
    if accumulate:
        grad_W += product(grad_z.T, y)
        if grad_b is not None:
            grad_b += grad_z.sum(axis=0)
    else:
        product(grad_z.T, y, out=grad_W)
        if grad_b is not None:  # along grad_z^T's rows: contiguous in the layout Linear produces
            np.add.reduce(grad_z.T, axis=1, out=grad_b)
    if not needs_grad_x:
        return None
    # grad_x^T = W^T grad_z^T: the forward's layout, so the activation's backward below meets
    # arrays of one memory order (mixed orders make NumPy's elementwise loops stride).
    return (W.T @ grad_z.T).T


def add_bias_rows(z_t: np.ndarray, b: np.ndarray) -> None:
    """z^T[r, :] += b[r] in place: Linear's bias, with z^T (one row per output unit) C-ordered."""
    if b.shape != z_t.shape[:1]:
        raise ValueError(f"bias of shape {b.shape} for {z_t.shape[0]} output units")
    fused = _compiled("add_bias_rows", z_t)
    if (fused is not None and _memory_order(z_t) == "C" and b.dtype == z_t.dtype and z_t.size
            and b.flags.aligned):
        return fused(z_t.ravel(), b, z_t.shape[0])
    z_t += b[:, None]


# --- ReLU ---------------------------------------------------------------------------------------
def relu_forward(*, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, on): y = max(0, z) (a NaN z passes on, as in torch.relu; -0 and -inf give +0) and
    on = z > 0, the mask the backward selects with; both in z's memory order."""
    y = np.empty_like(z)
    on = np.empty_like(z, dtype=np.bool_)
    fused, order = _compiled("relu_forward", z), _memory_order(z)
    if fused is not None and order is not None:
        fused(z.ravel(order), y.ravel(order), on.ravel(order))
        return y, on
    np.greater(z, 0, out=on)
    y[...] = np.where(on | np.isnan(z), z, z.dtype.type(0))
    return y, on


def relu_backward(*, grad_y: np.ndarray, on: np.ndarray) -> np.ndarray:
    """grad_z = grad_y where the unit was on (z > 0), +0 elsewhere: a select, in one pass."""
    if grad_y.shape != on.shape:  # a broadcast gradient would be a bug upstream, not a shortcut
        raise ValueError(f"ReLU backward: gradient of shape {grad_y.shape} for activations of "
                         f"shape {on.shape}")
    out = np.empty_like(grad_y)
    fused, order = _compiled("relu_backward", grad_y), _memory_order(grad_y, on)
    if fused is not None and order is not None:
        fused(grad_y.ravel(order), on.ravel(order), out.ravel(order))
        return out
    out[...] = np.where(on, grad_y, grad_y.dtype.type(0))
    return out


# --- softmax cross-entropy with class indices ---------------------------------------------------
def softmax_cross_entropy(*, z: np.ndarray, labels: np.ndarray, p: np.ndarray) -> float:
    """p <- softmax(z) row by row, and the summed cross-entropy of the class indices ``labels``
    (intp, each in range): sum_i log sum_j exp(z_ij - m_i) - (z_{i,c_i} - m_i), m_i the row's
    maximum, in one compiled pass (rows' losses summed in double). None where no compiled loop
    applies: the caller runs the readable form."""
    fused, layout = _compiled("softmax_xent", z), _xent_layout(z, p)
    if fused is None or layout is None or labels.dtype != np.intp or not z.size:
        return None
    order = "F" if layout[2] else "C"
    return fused(z.ravel(order), p.ravel(order), labels, *layout)


def softmax_cross_entropy_grad(*, p: np.ndarray, labels: np.ndarray, scale: float) -> np.ndarray:
    """grad_z = scale (p - d) for one-hot rows d of ``labels``, in p's memory order."""
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


# --- the input check ----------------------------------------------------------------------------
def all_finite(x: np.ndarray) -> bool | None:
    """Whether a contiguous float32/float64 x holds no NaN or inf, in one pass and no copy; None
    where no compiled loop applies (another dtype or layout): the caller checks in NumPy."""
    fused, order = _compiled("all_finite", x), _memory_order(x)
    if fused is None or order is None:
        return None
    return fused(x.ravel(order))


# --- dispatch -----------------------------------------------------------------------------------
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
    c = f = True  # a plain loop, not all() over generators: this runs several times a step
    for a in arrays:
        flags = a.flags
        if not flags.aligned:  # a view at an odd byte offset: the NumPy form serves
            return None
        c = c and flags.c_contiguous
        f = f and flags.f_contiguous
    return "C" if c else "F" if f else None


def _xent_layout(z: np.ndarray, p: np.ndarray) -> tuple | None:
    """(n, c, fortran) when z and p are 2-D and contiguous in one order, else None."""
    order = _memory_order(z, p) if z.ndim == 2 else None
    return None if order is None else (z.shape[0], z.shape[1], order == "F")
