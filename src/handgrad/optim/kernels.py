"""The optimizers' update rules over the flat vectors, each written once in NumPy and run as one
compiled pass (``handgrad.optim._fused``, C) when that module is built.

Why two forms: NumPy makes a pass over memory per arithmetic operation, so Adam over 1.9 M float32
parameters is ten passes, ~3.5 ms a step, as much as a third of a training step; the compiled loop
reads and writes each vector once, ~0.85 ms with its AVX2 clone (`bench/`, "optimizer steps
alone"; 1.55 ms compiled for SSE2 only, whose sqrt and division four floats at a time bound it).
The NumPy functions below are the reference: readable, the same operations in the same order, and
what runs where the C module could not be compiled (``FUSED`` is then False).
tests/optim/test_kernels.py holds the two to the same bits in float32 and float64 wherever no
subnormal value (below 1.2e-38 in float32) enters: the C loops flush those to 0 on x86-64, because
state stuck among them (0.9 m rounds back to m) sends every later pass down the CPU's slow path
(a digits epoch 40 -> 83 ms after 30 epochs; flushed, the losses are the same to the printed
digit). Where one enters anywhere in an element's update, the forms may differ, by ~1e-34 in
float32 (a weight at 0 stays 0 where NumPy moves it by that), far below a trained weight's ulp.
Rules that divide by sqrt(state) + eps flush only while eps is a normal number: with eps = 0 a
flushed state would make the step 0 / 0.

Conventions:

- Every function updates its arrays in place and returns nothing. The vectors are 1-D, contiguous,
  of one dtype and do not overlap (the C loops check all of this and raise otherwise); the
  coefficients (lr is the notes' eta) are Python floats, rounded to that dtype once, so a float32
  model is updated in float32 arithmetic as NumPy and PyTorch do.
- ``scratch`` (NumPy form only) is a buffer the size of theta for intermediate results, made per
  call when not given.
- The C loops are serial: deterministic, and the BLAS threads keep the second core.
"""

from __future__ import annotations

import numpy as np

try:
    from handgrad.optim import _fused
    FUSED = True
except ImportError:  # no C compiler at install time: the NumPy rules below serve
    _fused = None
    FUSED = False


# The C loops exist for the two native float types; anything else (a big-endian array, say) runs
# the NumPy form, which handles every dtype.
_SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}


def compiled_for(theta: np.ndarray) -> bool:
    """Whether the kernels run compiled for vectors like theta (else their NumPy forms run)."""
    return _fused is not None and theta.dtype in _SUFFIX


def _compiled(name: str, theta: np.ndarray):
    """The compiled loop for theta's dtype, or None (run the NumPy form)."""
    if not compiled_for(theta):
        return None
    return getattr(_fused, name + _SUFFIX[theta.dtype])


def _scratch(scratch, theta):
    return np.empty_like(theta) if scratch is None else scratch


def add_scaled(x, alpha, y, scratch=None):
    """x <- x + alpha y (gradient descent is add_scaled(W, -eta, grad))."""
    fused = _compiled("add_scaled", x)
    if fused is not None:
        return fused(x, alpha, y)
    s = _scratch(scratch, x)
    np.multiply(y, x.dtype.type(alpha), out=s)
    x += s


def sgd_momentum(theta, g, b, lr, mu, one_minus_tau, nesterov, first, scratch=None):
    """torch.optim.SGD with momentum:
    b <- g (first step) or mu b + (1 - tau) g;  W <- W - eta (g + mu b) (Nesterov) or W - eta b."""
    fused = _compiled("sgd_momentum", theta)
    if fused is not None:
        return fused(theta, g, b, lr, mu, one_minus_tau, nesterov, first)
    f, s = theta.dtype.type, _scratch(scratch, theta)
    if first:
        np.copyto(b, g)
    else:
        b *= f(mu)
        np.multiply(g, f(one_minus_tau), out=s)
        b += s
    if nesterov:
        np.multiply(b, f(mu), out=s)
        s += g
    else:
        np.copyto(s, b)
    s *= f(lr)
    theta -= s


def momentum(theta, g, delta_w, lr, beta, scratch=None):
    """The notes' momentum (001, "Momentum Update"): Delta W <- beta Delta W - eta g;
    W <- W + Delta W."""
    fused = _compiled("momentum", theta)
    if fused is not None:
        return fused(theta, g, delta_w, lr, beta)
    f, s = theta.dtype.type, _scratch(scratch, theta)
    delta_w *= f(beta)
    np.multiply(g, f(lr), out=s)
    delta_w -= s
    theta += delta_w


def nesterov_correct(theta, g, delta_w, lr, beta, scratch=None):
    """The notes' Nesterov (001, "Training with Nestorov") after the look-ahead gradient g:
    W <- W - eta g;  Delta W <- beta Delta W - eta g."""
    fused = _compiled("nesterov_correct", theta)
    if fused is not None:
        return fused(theta, g, delta_w, lr, beta)
    f, s = theta.dtype.type, _scratch(scratch, theta)
    np.multiply(g, f(lr), out=s)
    theta -= s
    delta_w *= f(beta)
    delta_w -= s


def adagrad(theta, g, sum_sq, lr, eps, scratch=None):
    """AdaGrad (Duchi, Hazan & Singer 2011): v <- v + g^2;  W <- W - eta_t g / (sqrt(v) + eps)."""
    fused = _compiled("adagrad", theta)
    if fused is not None:
        return fused(theta, g, sum_sq, lr, eps)
    f, s = theta.dtype.type, _scratch(scratch, theta)
    np.multiply(g, g, out=s)
    sum_sq += s
    np.sqrt(sum_sq, out=s)
    s += f(eps)
    np.divide(g, s, out=s)
    s *= f(lr)
    theta -= s


def rmsprop(theta, g, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha, eps, mu, centered,
            with_momentum, scratch=None):
    """RMSProp (Tieleman & Hinton 2012; centered: Graves 2013): v <- alpha v + (1 - alpha) g^2;  a = sqrt(v - m^2) + eps (centered, with
    m <- m + (1 - alpha)(g - m)) or sqrt(v) + eps;  b <- mu b + g / a, W <- W - eta b (momentum)
    or W <- W - eta g / a."""
    fused = _compiled("rmsprop", theta)
    if fused is not None:
        return fused(theta, g, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha, eps, mu,
                     centered, with_momentum)
    f, s = theta.dtype.type, _scratch(scratch, theta)
    square_avg *= f(alpha)
    np.multiply(g, g, out=s)
    s *= f(one_minus_alpha)
    square_avg += s
    if centered:
        np.subtract(g, grad_avg, out=s)
        s *= f(one_minus_alpha)
        grad_avg += s
        np.multiply(grad_avg, grad_avg, out=s)
        np.subtract(square_avg, s, out=s)
        np.sqrt(s, out=s)
    else:
        np.sqrt(square_avg, out=s)
    s += f(eps)
    np.divide(g, s, out=s)
    if with_momentum:
        buf *= f(mu)
        buf += s
        np.copyto(s, buf)
    s *= f(lr)
    theta -= s


def adam(theta, g, exp_avg, exp_avg_sq, max_exp_avg_sq, step_size, one_minus_beta1, beta2,
         one_minus_beta2, bias_correction2_sqrt, eps, amsgrad, decay=0.0, mask=None,
         scratch=None):
    """Adam (Kingma & Ba 2015): m <- m + (1 - beta1)(g - m);  v <- beta2 v + (1 - beta2) g^2
    (v_max <- max(v_max, v) with AMSGrad);  W <- W - step_size m / (sqrt(v) / sqrt(1 - beta2^t)
    + eps), where step_size = eta / (1 - beta1^t): torch.optim.Adam's arrangement of Kingma & Ba's
    bias corrections. With ``decay`` = eta lambda, AdamW's decoupled decay W <- W - decay M W comes
    first (Loshchilov & Hutter 2019; M = ``mask``, every entry when None)."""
    fused = _compiled("adam", theta)
    if fused is not None:
        return fused(theta, g, exp_avg, exp_avg_sq, max_exp_avg_sq, step_size, one_minus_beta1,
                     beta2, one_minus_beta2, bias_correction2_sqrt, eps, amsgrad, decay,
                     theta[:0] if mask is None else mask)
    f, s = theta.dtype.type, _scratch(scratch, theta)
    if decay:
        if mask is None:
            np.copyto(s, theta)
        else:
            np.multiply(theta, mask, out=s)
        s *= f(decay)
        theta -= s
    np.subtract(g, exp_avg, out=s)
    s *= f(one_minus_beta1)
    exp_avg += s
    exp_avg_sq *= f(beta2)
    np.multiply(g, g, out=s)
    s *= f(one_minus_beta2)
    exp_avg_sq += s
    v = exp_avg_sq
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    np.sqrt(v, out=s)
    s /= f(bias_correction2_sqrt)
    s += f(eps)
    np.divide(exp_avg, s, out=s)
    s *= f(step_size)
    theta -= s
