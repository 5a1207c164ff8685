"""Per-weight adaptive learning rates: AdaGrad, RMSProp, Adam, AdamW (002, "Convergence improvement
for GD algorithms"). Each follows the published algorithm in the form ``torch.optim`` implements,
including where the epsilon goes; the docstrings say where that departs from 002's slides.
"""

from __future__ import annotations

import math

import numpy as np

from handgrad.optim import kernels
from handgrad.optim.base import Optimizer
from handgrad.validate import check_bool, check_option


class Adagrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer 2011; 002, "AdaGrad update"):

        g   <- grad_W Loss + lambda_2 M W
        v   <- v + g^2                          accumulated squares, from initial_accumulator_value
        eta_t = eta / (1 + (t - 1) lr_decay)
        W   <- W - eta_t g / (sqrt(v) + eps)

    As 002 writes it and as ``torch.optim.Adagrad`` does (eps outside the root, default 1e-10).
    """

    name = "adagrad"
    state_names = ("sum_sq",)
    hyper_names = ("lr_decay", "eps", "initial_accumulator_value")

    def __init__(self, model, lr: float = 0.01, lr_decay: float = 0.0, eps: float = 1e-10,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases)
        self.lr_decay = check_option("lr_decay", lr_decay, 0.0)
        self.eps = check_option("eps", eps, 0.0)
        self.initial_accumulator_value = check_option(
            "initial_accumulator_value", initial_accumulator_value, 0.0)
        self.sum_sq = np.full_like(self.theta, self.initial_accumulator_value)

    def _update(self):
        lr_t = self.lr / (1.0 + (self.step_count - 1) * self.lr_decay)
        kernels.adagrad(self.theta, self.grad, self.sum_sq, lr_t, self.eps,
                        scratch=self._kernel_scratch)


class RMSprop(Optimizer):
    """RMSProp (Tieleman & Hinton 2012; 002, "RMSProp update"), as ``torch.optim.RMSprop``:

        g    <- grad_W Loss + lambda_2 M W
        v    <- alpha v + (1 - alpha) g^2                   running mean square
        m    <- alpha m + (1 - alpha) g                     only if centered
        a    <- sqrt(v - m^2) + eps   (centered)   or   sqrt(v) + eps
        b    <- mu b + g / a;  W <- W - eta b               with momentum mu > 0
        W    <- W - eta g / a                               otherwise

    002 calls alpha "beta" and writes the same update without momentum or centering.
    """

    name = "rmsprop"
    state_names = ("square_avg", "grad_avg", "momentum_buffer")
    hyper_names = ("alpha", "eps", "momentum", "centered")

    def __init__(self, model, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases)
        self.alpha = check_option("alpha", alpha, 0.0, 1.0, high_open=True)
        self.eps = check_option("eps", eps, 0.0)
        self.momentum = check_option("momentum", momentum, 0.0, 1.0, high_open=True)
        self.centered = check_bool("centered", centered)
        self.square_avg = np.zeros_like(self.theta)
        self.grad_avg = np.zeros_like(self.theta if self.centered else self.theta[:0])
        self.momentum_buffer = np.zeros_like(self.theta if self.momentum else self.theta[:0])

    def _update(self):
        kernels.rmsprop(self.theta, self.grad, self.square_avg, self.grad_avg,
                        self.momentum_buffer, self.lr, self.alpha, 1.0 - self.alpha, self.eps,
                        self.momentum, self.centered, self.momentum > 0.0,
                        scratch=self._kernel_scratch)


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015, Algorithm 1; 002, "Adam update"):

        g     <- grad_W Loss + lambda_2 M W
        m     <- beta1 m + (1 - beta1) g            first moment (momentum)
        v     <- beta2 v + (1 - beta2) g^2          second moment (RMSProp)
        m_hat =  m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
        W     <- W - eta m_hat / (sqrt(v_hat) + eps)

    eps sits outside the square root, as in the paper and ``torch.optim.Adam`` (002's slide puts it
    inside). With ``amsgrad`` v_hat uses the running maximum of v (Reddi et al. 2018). Computed as
    torch does: W <- W - (eta / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """

    name = "adam"
    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    hyper_names = ("beta1", "beta2", "eps", "amsgrad")

    def __init__(self, model, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, amsgrad: bool = False, weight_decay: float = 0.0,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases)
        self.beta1 = check_option("beta1", beta1, 0.0, 1.0, high_open=True)
        self.beta2 = check_option("beta2", beta2, 0.0, 1.0, high_open=True)
        self.eps = check_option("eps", eps, 0.0)
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self.exp_avg = np.zeros_like(self.theta)
        self.exp_avg_sq = np.zeros_like(self.theta)
        self.max_exp_avg_sq = np.zeros_like(self.theta if self.amsgrad else self.theta[:0])

    def _update(self):
        t = self.step_count
        kernels.adam(self.theta, self.grad, self.exp_avg, self.exp_avg_sq, self.max_exp_avg_sq,
                     self.lr / (1.0 - self.beta1 ** t), 1.0 - self.beta1, self.beta2,
                     1.0 - self.beta2, math.sqrt(1.0 - self.beta2 ** t), self.eps, self.amsgrad,
                     **self._decay(), scratch=self._kernel_scratch)

    def _decay(self) -> dict:
        return {}  # Adam's weight decay is an L2 term in the gradient (the base class adds it)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``:

        W <- W - eta lambda M W        the decay, applied to W and not through the moments
        then Adam's step on grad_W Loss (without the L2 term).

    Weights only by default (M, 003 eq. 29); ``decay_biases=True`` decays every entry as torch does.
    """

    name = "adamw"
    l2_in_gradient = False      # decoupled: only L1 goes into the gradient

    def __init__(self, model, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, amsgrad: bool = False, weight_decay: float = 0.01,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, beta1, beta2, eps, amsgrad, weight_decay, l1, decay_biases)

    def _decay(self) -> dict:
        # Folded into Adam's pass: the same W - (M W)(eta lambda), without a pass of its own.
        if not self.weight_decay:
            return {}
        return {"decay": self.lr * self.weight_decay, "mask": self.mask}
