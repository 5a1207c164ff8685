"""The fast forms of the elementwise update rules, behind the readable ones.

The rules a reader opens are plain functions beside their optimizers (``sgd.py``: ``sgd``,
``sgd_momentum``, ``momentum``, ``nesterov``; ``adaptive.py``: ``adagrad``, ``rmsprop``, ``adam``,
``adamw``), written as the notes write them and returning new arrays. Each function here does the
same update in place on the model's flat vectors, with the same keyword names, in one of two forms:

- one compiled pass (``handgrad.optim._fused``, C; ``FUSED`` says whether it was built), chosen
  for contiguous float32/float64 vectors, because NumPy makes a pass over memory per operation;
- otherwise the same operations as a chain of in-place NumPy calls on a scratch buffer (any dtype,
  no temporaries), which is what runs without a C compiler.

The two fast forms compute the same operations in the same order and agree bit for bit, except
that the C loops flush subnormal numbers to zero (docs/ARCHITECTURE.md, "Compiled loops", says why
and by how much they may then differ). tests/optim/test_kernels.py holds them to each other and to
the readable rules: bit for bit for SGD, momentum, Nesterov, AdaGrad and RMSProp, and within the
ulp bound stated there for Adam/AdamW and centred RMSProp, whose fast forms arrange the arithmetic
as ``torch.optim`` does (the bias corrections folded into two scalars, m moved by lerp).

Conventions: vectors are 1-D, contiguous, of one dtype and do not overlap (the C loops check this
and raise otherwise). Scalars are Python floats named as in the notes (eta, beta, beta1, ...); a
float32 model is updated in float32 arithmetic, each scalar rounded to float32 once, as NumPy and
PyTorch do. ``scratch`` (NumPy form only) is a buffer like W, made per call when not given. The C
loops are serial: deterministic, and the BLAS threads keep the other cores.
"""

from __future__ import annotations

import math

import numpy as np

try:
    from handgrad.optim import _fused
    FUSED = True
except ImportError:  # no C compiler at install time: the NumPy forms below serve
    _fused = None
    FUSED = False


# The C loops exist for the two native float types; anything else (a big-endian array, say) runs
# the NumPy form, which handles every dtype.
_SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}


def compiled_for(W: np.ndarray) -> bool:
    """Whether the kernels run compiled for vectors like W (else their NumPy forms run)."""
    return _fused is not None and W.dtype in _SUFFIX


def _compiled(name: str, W: np.ndarray):
    """The compiled loop for W's dtype, or None (run the NumPy form)."""
    if not compiled_for(W):
        return None
    return getattr(_fused, name + _SUFFIX[W.dtype])


def _scratch(scratch, W):
    return np.empty_like(W) if scratch is None else scratch


def add_scaled(x, y, *, alpha, scratch=None):
    """x <- x + alpha y (Nesterov's look-ahead W + beta Delta W)."""
    fused = _compiled("add_scaled", x)
    if fused is not None:
        return fused(x, alpha, y)
    s = _scratch(scratch, x)
    np.multiply(y, x.dtype.type(alpha), out=s)
    x += s


def sgd(W, g, *, eta, scratch=None):
    """Gradient descent in place: W <- W - eta g (subnormals kept: no decaying state here)."""
    fused = _compiled("sgd", W)
    if fused is not None:
        return fused(W, -eta, g)
    s = _scratch(scratch, W)
    np.multiply(g, W.dtype.type(-eta), out=s)
    W += s


def sgd_momentum(W, g, b, *, eta, mu, tau, nesterov, first, scratch=None):
    """torch.optim.SGD's momentum in place: b <- g (first step) or mu b + (1 - tau) g;
    W <- W - eta (g + mu b) (Nesterov) or W - eta b."""
    fused = _compiled("sgd_momentum", W)
    if fused is not None:
        return fused(W, g, b, eta, mu, 1.0 - tau, nesterov, first)
    f, s = W.dtype.type, _scratch(scratch, W)
    if first:
        np.copyto(b, g)
    else:
        b *= f(mu)
        np.multiply(g, f(1.0 - tau), out=s)
        b += s
    if nesterov:
        np.multiply(b, f(mu), out=s)
        s += g
    else:
        np.copyto(s, b)
    s *= f(eta)
    W -= s


def momentum(W, g, delta_W, *, eta, beta, scratch=None):
    """The notes' momentum in place: Delta W <- beta Delta W - eta g;  W <- W + Delta W."""
    fused = _compiled("momentum", W)
    if fused is not None:
        return fused(W, g, delta_W, eta, beta)
    f, s = W.dtype.type, _scratch(scratch, W)
    delta_W *= f(beta)
    np.multiply(g, f(eta), out=s)
    delta_W -= s
    W += delta_W


def nesterov(W, g, delta_W, *, eta, beta, scratch=None):
    """The notes' Nesterov in place, after the look-ahead gradient g:
    W <- W - eta g;  Delta W <- beta Delta W - eta g."""
    fused = _compiled("nesterov_correct", W)
    if fused is not None:
        return fused(W, g, delta_W, eta, beta)
    f, s = W.dtype.type, _scratch(scratch, W)
    np.multiply(g, f(eta), out=s)
    W -= s
    delta_W *= f(beta)
    delta_W -= s


def adagrad(W, g, v, *, eta, eps, scratch=None):
    """AdaGrad in place: v <- v + g^2;  W <- W - eta (g / (sqrt(v) + eps))."""
    fused = _compiled("adagrad", W)
    if fused is not None:
        return fused(W, g, v, eta, eps)
    f, s = W.dtype.type, _scratch(scratch, W)
    np.multiply(g, g, out=s)
    v += s
    np.sqrt(v, out=s)
    s += f(eps)
    np.divide(g, s, out=s)
    s *= f(eta)
    W -= s


def rmsprop(W, g, v, m, b, *, eta, alpha, eps, mu, centered, scratch=None):
    """RMSProp in place: v <- alpha v + (1 - alpha) g^2;  a = sqrt(v - m^2) + eps (centered, with
    m <- m + (1 - alpha)(g - m)) or sqrt(v) + eps;  b <- mu b + g / a, W <- W - eta b (mu > 0)
    or W <- W - eta (g / a). m and b are empty vectors where unused."""
    fused = _compiled("rmsprop", W)
    if fused is not None:
        return fused(W, g, v, m, b, eta, alpha, 1.0 - alpha, eps, mu, centered, mu > 0.0)
    f, s = W.dtype.type, _scratch(scratch, W)
    v *= f(alpha)
    np.multiply(g, g, out=s)
    s *= f(1.0 - alpha)
    v += s
    if centered:
        np.subtract(g, m, out=s)
        s *= f(1.0 - alpha)
        m += s
        np.multiply(m, m, out=s)
        np.subtract(v, s, out=s)
        np.sqrt(s, out=s)
    else:
        np.sqrt(v, out=s)
    s += f(eps)
    np.divide(g, s, out=s)
    if mu > 0.0:
        b *= f(mu)
        b += s
        np.copyto(s, b)
    s *= f(eta)
    W -= s


def adam(W, g, m, v, v_max, *, t, eta, beta1, beta2, eps, amsgrad=False, weight_decay=0.0,
         mask=None, scratch=None):
    """Adam (AdamW with ``weight_decay`` lambda) in place, arranged as torch.optim.Adam does:
    W <- W - eta lambda M W (AdamW only; M = ``mask``, every entry when None);
    m <- m + (1 - beta1)(g - m);  v <- beta2 v + (1 - beta2) g^2  (v_max <- max(v_max, v));
    W <- W - (eta / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    v_max is an empty vector without AMSGrad."""
    step_size = eta / (1.0 - beta1 ** t)
    bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** t)
    decay = eta * weight_decay
    fused = _compiled("adam", W)
    if fused is not None:
        return fused(W, g, m, v, v_max, step_size, 1.0 - beta1, beta2, 1.0 - beta2,
                     bias_correction2_sqrt, eps, amsgrad, decay, W[:0] if mask is None else mask)
    f, s = W.dtype.type, _scratch(scratch, W)
    if decay:
        if mask is None:
            np.copyto(s, W)
        else:
            np.multiply(W, mask, out=s)
        s *= f(decay)
        W -= s
    np.subtract(g, m, out=s)
    s *= f(1.0 - beta1)
    m += s
    v *= f(beta2)
    np.multiply(g, g, out=s)
    s *= f(1.0 - beta2)
    v += s
    if amsgrad:
        np.maximum(v_max, v, out=v_max)
    np.sqrt(v_max if amsgrad else v, out=s)
    s /= f(bias_correction2_sqrt)
    s += f(eps)
    np.divide(m, s, out=s)
    s *= f(step_size)
    W -= s
