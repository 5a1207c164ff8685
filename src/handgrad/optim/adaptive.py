"""Per-weight adaptive learning rates: AdaGrad, RMSProp, Adam, AdamW (002, "Convergence improvement
for GD algorithms"). Each follows the published algorithm in the form ``torch.optim`` implements,
including where the epsilon goes; the docstrings say where that departs from 002's slides.

Each rule is first written as the notes write it, as a function of arrays that returns the new
values (``adagrad``, ``rmsprop``, ``adam``, ``adamw``): that is the rule to read. The classes keep
the bookkeeping and run the same rule in place through ``kernels`` (one compiled pass over the
flat vectors), which tests/optim/test_kernels.py holds to these functions: bit for bit for AdaGrad
and RMSProp, within a few ulp for Adam and centred RMSProp, whose fast form arranges the
arithmetic as torch does.
"""

from __future__ import annotations

import numpy as np

from handgrad.errors import OptionError
from handgrad.optim import kernels
from handgrad.optim.base import Optimizer
from handgrad.validate import check_bool, check_option


# --- the rules ------------------------------------------------------------------------------------
def adagrad(W, g, v, *, eta, eps):
    """AdaGrad (002, "AdaGrad update"; returns W, v)."""
    v = v + g**2
    W = W - eta * (g / (np.sqrt(v) + eps))
    return W, v


def rmsprop(W, g, v, *, eta, alpha, eps, m=None, b=None, mu=0.0):
    """RMSProp (002, "RMSProp update"), centred when given the mean gradient m, with momentum mu
    when given the buffer b (returns W, v, m, b)."""
    v = alpha * v + (1 - alpha) * g**2
    if m is not None:
        m = alpha * m + (1 - alpha) * g
        a = np.sqrt(v - m**2) + eps
    else:
        a = np.sqrt(v) + eps
    if b is not None and mu > 0:
        b = mu * b + g / a
        W = W - eta * b
    else:
        W = W - eta * (g / a)
    return W, v, m, b


def adam(W, g, m, v, t, *, eta, beta1, beta2, eps, v_max=None):
    """Adam (002, "Adam update"; Kingma & Ba 2015, Algorithm 1) at step t = 1, 2, ...; AMSGrad
    when given the running maximum v_max (returns W, m, v, v_max)."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    if v_max is not None:
        v_max = np.maximum(v_max, v)
    m_hat = m / (1 - beta1**t)
    v_hat = (v if v_max is None else v_max) / (1 - beta2**t)
    W = W - eta * m_hat / (np.sqrt(v_hat) + eps)
    return W, m, v, v_max


def adamw(W, g, m, v, t, *, eta, beta1, beta2, eps, weight_decay, M=1.0, v_max=None):
    """AdamW (Loshchilov & Hutter 2019): the decay shrinks W directly, outside the moments, then
    Adam's step (returns W, m, v, v_max)."""
    W = W - eta * weight_decay * M * W
    return adam(W, g, m, v, t, eta=eta, beta1=beta1, beta2=beta2, eps=eps, v_max=v_max)


# --- the optimizers -------------------------------------------------------------------------------
class Adagrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer 2011; 002, "AdaGrad update"):

    input: eta (``lr``), eps (``eps``), v_0 (``initial_accumulator_value``), ``lr_decay``,
        lambda_2 (``weight_decay`` or ``l2``), lambda_1 (``l1``)
        g   <- grad_W Loss + lambda_2 M W
        v   <- v + g^2                          accumulated squares, from v_0
        eta_t = eta / (1 + (t - 1) lr_decay)
        W   <- W - eta_t g / (sqrt(v) + eps)

    The rule: :func:`adagrad`. As 002 writes it and as ``torch.optim.Adagrad`` does (eps outside
    the root, default 1e-10).
    """

    name = "adagrad"
    state_names = ("sum_sq",)
    hyper_names = ("lr_decay", "eps", "initial_accumulator_value")

    def __init__(self, model, lr: float = 0.01, lr_decay: float = 0.0, eps: float = 1e-10,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0,
                 l2: float = 0.0, l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.lr_decay = check_option("lr_decay", lr_decay, 0.0)
        self.eps = check_option("eps", eps, 0.0)
        self.initial_accumulator_value = check_option(
            "initial_accumulator_value", initial_accumulator_value, 0.0)
        self.sum_sq = np.full_like(self.theta, self.initial_accumulator_value)

    def _update(self):
        eta_t = self.lr / (1.0 + (self.step_count - 1) * self.lr_decay)
        kernels.adagrad(self.theta, self.grad, self.sum_sq, eta=eta_t, eps=self.eps,
                        scratch=self._kernel_scratch)


class RMSprop(Optimizer):
    """RMSProp (Tieleman & Hinton 2012; 002, "RMSProp update"), as ``torch.optim.RMSprop``:

    input: eta (``lr``), alpha (``alpha``; 002 calls it beta), eps (``eps``), mu (``momentum``),
        ``centered`` (Graves 2013), lambda_2 (``weight_decay`` or ``l2``), lambda_1 (``l1``)
        g    <- grad_W Loss + lambda_2 M W
        v    <- alpha v + (1 - alpha) g^2                   running mean square
        m    <- alpha m + (1 - alpha) g                     only if centered
        a    <- sqrt(v - m^2) + eps   (centered)   or   sqrt(v) + eps
        b    <- mu b + g / a;  W <- W - eta b               with momentum mu > 0
        W    <- W - eta g / a                               otherwise

    The rule: :func:`rmsprop`. 002 writes the same update without momentum or centering.
    """

    name = "rmsprop"
    state_names = ("square_avg", "grad_avg", "momentum_buffer")
    hyper_names = ("alpha", "eps", "momentum", "centered")

    def __init__(self, model, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0,
                 l2: float = 0.0, l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.alpha = check_option("alpha", alpha, 0.0, 1.0, high_open=True)
        self.eps = check_option("eps", eps, 0.0)
        self.momentum = check_option("momentum", momentum, 0.0, 1.0, high_open=True)
        self.centered = check_bool("centered", centered)
        self.square_avg = np.zeros_like(self.theta)
        self.grad_avg = np.zeros_like(self.theta if self.centered else self.theta[:0])
        self.momentum_buffer = np.zeros_like(self.theta if self.momentum else self.theta[:0])

    def _update(self):
        kernels.rmsprop(self.theta, self.grad, self.square_avg, self.grad_avg,
                        self.momentum_buffer, eta=self.lr, alpha=self.alpha, eps=self.eps,
                        mu=self.momentum, centered=self.centered, scratch=self._kernel_scratch)


def _betas(betas, beta1, beta2) -> tuple:
    """torch's ``betas=(beta1, beta2)``, or the notes' separate names; not both."""
    if betas is None:
        return beta1, beta2
    if beta1 is not None or beta2 is not None:
        raise OptionError(f"invalid betas: {betas!r} given together with beta1/beta2 "
                          "(expected one spelling: betas=(beta1, beta2) or beta1=, beta2=)")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise OptionError(f"invalid betas: {betas!r} (expected a pair (beta1, beta2))")
    return betas[0], betas[1]


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015, Algorithm 1; 002, "Adam update"):

    input: eta (``lr``), beta1 and beta2 (``beta1``, ``beta2``, or torch's
        ``betas`` = (beta1, beta2)), eps (``eps``), ``amsgrad``, lambda_2 (``weight_decay`` or
        ``l2``: an L2 term in the gradient), lambda_1 (``l1``); t counts the steps from 1
        g     <- grad_W Loss + lambda_2 M W
        m     <- beta1 m + (1 - beta1) g            first moment (momentum)
        v     <- beta2 v + (1 - beta2) g^2          second moment (RMSProp)
        m_hat =  m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
        W     <- W - eta m_hat / (sqrt(v_hat) + eps)

    The rule: :func:`adam`. eps sits outside the square root, as in the paper and
    ``torch.optim.Adam`` (002's slide puts it inside). With ``amsgrad`` v_hat uses the running
    maximum of v (Reddi et al. 2018). The fast form computes it as torch does,
    W <- W - (eta / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with
    m <- m + (1 - beta1)(g - m): the same values within a few ulp.
    """

    name = "adam"
    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    hyper_names = ("beta1", "beta2", "eps", "amsgrad")

    def __init__(self, model, lr: float = 0.001, beta1: float | None = None,
                 beta2: float | None = None, eps: float = 1e-8, amsgrad: bool = False,
                 weight_decay: float = 0.0, l2: float = 0.0, l1: float = 0.0,
                 decay_biases: bool = False, betas: tuple | None = None):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        beta1, beta2 = _betas(betas, beta1, beta2)
        self.beta1 = check_option("beta1", 0.9 if beta1 is None else beta1, 0.0, 1.0,
                                  high_open=True)
        self.beta2 = check_option("beta2", 0.999 if beta2 is None else beta2, 0.0, 1.0,
                                  high_open=True)
        self.eps = check_option("eps", eps, 0.0)
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self.exp_avg = np.zeros_like(self.theta)
        self.exp_avg_sq = np.zeros_like(self.theta)
        self.max_exp_avg_sq = np.zeros_like(self.theta if self.amsgrad else self.theta[:0])

    def _update(self):
        kernels.adam(self.theta, self.grad, self.exp_avg, self.exp_avg_sq, self.max_exp_avg_sq,
                     t=self.step_count, eta=self.lr, beta1=self.beta1, beta2=self.beta2,
                     eps=self.eps, amsgrad=self.amsgrad, **self._decay(),
                     scratch=self._kernel_scratch)

    def _decay(self) -> dict:
        return {}  # Adam's weight decay is an L2 term in the gradient (the base class adds it)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``:

    input: the options of :class:`Adam`, except that lambda (``weight_decay``, default 0.01) is
        the decoupled decay; ``l2`` is still an L2 term in the gradient
        W <- W - eta lambda M W        the decay, applied to W and not through the moments
        then Adam's step on grad_W Loss (without the decay).

    The rule: :func:`adamw`. Weights only by default (M, 003 eq. 29); ``decay_biases=True`` decays
    every entry as torch does.
    """

    name = "adamw"
    l2_in_gradient = False      # decoupled: weight_decay does not enter the gradient

    def __init__(self, model, lr: float = 0.001, beta1: float | None = None,
                 beta2: float | None = None, eps: float = 1e-8, amsgrad: bool = False,
                 weight_decay: float = 0.01, l2: float = 0.0, l1: float = 0.0,
                 decay_biases: bool = False, betas: tuple | None = None):
        super().__init__(model, lr, beta1, beta2, eps, amsgrad, weight_decay, l2, l1,
                         decay_biases, betas)

    def _decay(self) -> dict:
        # Folded into Adam's pass: the same W - (M W)(eta lambda), without a pass of its own.
        if not self.weight_decay:
            return {}
        return {"weight_decay": self.weight_decay, "mask": self.mask}
