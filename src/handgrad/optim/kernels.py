"""The optimizers' update rules as single passes over the flat vectors, compiled by Numba.

Each kernel is the rule of its optimizer's docstring written element by element, so one step
reads every state vector once and writes it once. NumPy would need a pass (and a round trip
through memory) per arithmetic operation: Adam over 1.9 M float32 parameters takes ~3.5 ms as ten
NumPy passes and ~0.9 ms as this one loop on one core (`bench/`, "optimizer steps alone").

Conventions that keep the result equal to the NumPy formulas and to ``torch.optim``:

- The caller passes every coefficient already computed (1 - beta, the bias corrections) and cast to
  the vectors' dtype, so a float32 model is updated in float32 arithmetic, as NumPy and PyTorch do,
  and no integer literal promotes the loop to float64.
- ``error_model="numpy"``: a division by zero gives inf/nan instead of raising, which is what lets
  LLVM vectorise the loop (the Python error model adds a branch per element).
- The loops are serial: deterministic, and the BLAS threads keep the second core for the matrix
  products.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_kernel = njit(cache=True, nogil=True, error_model="numpy")


@_kernel
def add_scaled(x, alpha, y):
    """x <- x + alpha y (gradient descent is add_scaled(W, -eta, grad))."""
    for i in range(x.shape[0]):
        x[i] += alpha * y[i]


@_kernel
def sgd_momentum(theta, g, b, lr, mu, one_minus_tau, nesterov, first):
    """torch.optim.SGD with momentum: b <- g (first step) or mu b + (1 - tau) g;
    W <- W - eta (g + mu b) with Nesterov, W <- W - eta b without."""
    for i in range(theta.shape[0]):
        gi = g[i]
        bi = gi if first else mu * b[i] + one_minus_tau * gi
        b[i] = bi
        theta[i] -= lr * (gi + mu * bi if nesterov else bi)


@_kernel
def momentum(theta, g, delta_w, lr, beta):
    """The notes' momentum: Delta W <- beta Delta W - eta g;  W <- W + Delta W."""
    for i in range(theta.shape[0]):
        d = beta * delta_w[i] - lr * g[i]
        delta_w[i] = d
        theta[i] += d


@_kernel
def adagrad(theta, g, sum_sq, lr, eps):
    """AdaGrad: v <- v + g^2;  W <- W - eta_t g / (sqrt(v) + eps)."""
    for i in range(theta.shape[0]):
        gi = g[i]
        v = sum_sq[i] + gi * gi
        sum_sq[i] = v
        theta[i] -= lr * (gi / (np.sqrt(v) + eps))


@_kernel
def rmsprop(theta, g, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha, eps, mu,
            centered, with_momentum):
    """RMSProp: v <- alpha v + (1 - alpha) g^2; a = sqrt(v - m^2) + eps (centered, with
    m <- m + (1 - alpha)(g - m)) or sqrt(v) + eps; W <- W - eta b with b <- mu b + g / a, or
    W <- W - eta g / a."""
    for i in range(theta.shape[0]):
        gi = g[i]
        v = alpha * square_avg[i] + one_minus_alpha * (gi * gi)
        square_avg[i] = v
        if centered:
            m = grad_avg[i] + one_minus_alpha * (gi - grad_avg[i])
            grad_avg[i] = m
            v = v - m * m
        step = gi / (np.sqrt(v) + eps)
        if with_momentum:
            step = mu * buf[i] + step
            buf[i] = step
        theta[i] -= lr * step


@_kernel
def adam(theta, g, exp_avg, exp_avg_sq, max_exp_avg_sq, step_size, one_minus_beta1, beta2,
         one_minus_beta2, bias_correction2_sqrt, eps, amsgrad):
    """Adam: m <- m + (1 - beta1)(g - m);  v <- beta2 v + (1 - beta2) g^2 (v_max <- max(v_max, v)
    with AMSGrad);  W <- W - step_size m / (sqrt(v) / sqrt(1 - beta2^t) + eps), where
    step_size = eta / (1 - beta1^t): torch.optim.Adam's arrangement of Kingma & Ba's bias
    corrections."""
    for i in range(theta.shape[0]):
        gi = g[i]
        m = exp_avg[i] + one_minus_beta1 * (gi - exp_avg[i])
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (gi * gi)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        theta[i] -= step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))


@_kernel
def nesterov_correct(theta, g, delta_w, lr, beta):
    """The notes' Nesterov after the look-ahead gradient g: W <- W - eta g;
    Delta W <- beta Delta W - eta g."""
    for i in range(theta.shape[0]):
        s = lr * g[i]
        theta[i] -= s
        delta_w[i] = beta * delta_w[i] - s
