"""Gradient descent and the momentum methods (001, "Momentum", "Nestorov's Accelerated Gradient";
002, "Gradient descent algorithms"; 003, section 1).

Full-batch, stochastic and mini-batch gradient descent differ only in the batch the gradient was
computed on (003: "stochastic gradient descent ... estimate the gradient by computing it for a small
sample of randomly chosen training inputs"); the update is the same, so the trainer chooses the
batch and these classes do the step.

Each rule is first written as the notes write it, as a function of arrays that returns the new
values (``sgd``, ``sgd_momentum``, ``momentum``, ``nesterov``): that is the rule to read. The
classes keep the bookkeeping and run the same rule in place through ``kernels`` (one compiled pass
over the flat vectors), which tests/optim/test_kernels.py holds to these functions bit for bit.
"""

from __future__ import annotations

import numpy as np

from handgrad.errors import OptionError
from handgrad.optim import kernels
from handgrad.optim.base import Optimizer
from handgrad.validate import check_bool, check_option


# --- the rules ------------------------------------------------------------------------------------
def sgd(W, g, *, eta):
    """Gradient descent (003, eq. 10: w -> w - eta dC/dw)."""
    W = W - eta * g
    return W


def sgd_momentum(W, g, b, *, eta, mu, tau=0.0, nesterov=False, first=False):
    """torch.optim.SGD's momentum: the buffer b, then the step (returns W, b)."""
    b = g if first else mu * b + (1 - tau) * g
    step = g + mu * b if nesterov else b
    W = W - eta * step
    return W, b


def momentum(W, g, delta_W, *, eta, beta):
    """The notes' momentum (001, "Momentum Update"; returns W, Delta W)."""
    delta_W = beta * delta_W - eta * g
    W = W + delta_W
    return W, delta_W


def nesterov(W, g, delta_W, *, eta, beta):
    """The notes' Nesterov after its look-ahead: W already holds W + beta Delta W and g is the
    gradient there (001, "Training with Nestorov"; returns W, Delta W)."""
    W = W - eta * g
    delta_W = beta * delta_W - eta * g
    return W, delta_W


# --- the optimizers -------------------------------------------------------------------------------
class SGD(Optimizer):
    """Gradient descent, optionally with momentum in PyTorch's form (``torch.optim.SGD``).

    input: eta (``lr``), mu (``momentum``; the coefficient the notes call beta), tau
        (``dampening``), lambda_2 (``weight_decay`` or ``l2``), lambda_1 (``l1``), ``nesterov``
        g   <- grad_W Loss + lambda_2 M W                    (003, eq. 29; biases excluded by M)
        with momentum:
            b <- g                      on the first step
            b <- mu b + (1 - tau) g     afterwards
            g <- g + mu b               if nesterov (PyTorch's reformulated Nesterov)
            g <- b                      otherwise
        W   <- W - eta g                                     (003, eq. 10: w -> w - eta dC/dw)

    The rules: :func:`sgd`, :func:`sgd_momentum`. Without momentum this is the notes' plain rule
    W <- W - eta grad. PyTorch's momentum buffer b holds -Delta W / eta of the notes' form
    (:class:`Momentum`, where mu is called beta), so the two agree while eta is constant and differ
    once a schedule changes it. PyTorch's Nesterov evaluates the gradient at W and rewrites the
    look-ahead algebraically (Sutskever et al. 2013); :class:`Nesterov` is the notes' form, which
    evaluates it at W + beta Delta W.
    """

    name = "sgd"
    state_names = ("momentum_buffer",)
    hyper_names = ("momentum", "dampening", "nesterov")

    def __init__(self, model, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, l2: float = 0.0,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.momentum = check_option("momentum", momentum, 0.0, 1.0, high_open=True)
        self.dampening = check_option("dampening", dampening, 0.0, 1.0)
        self.nesterov = check_bool("nesterov", nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise OptionError("invalid nesterov: True (expected momentum > 0 and dampening = 0 "
                              f"for Nesterov momentum; got momentum={momentum}, "
                              f"dampening={dampening})")
        self.momentum_buffer = np.zeros_like(self.theta if self.momentum else self.theta[:0])

    def _update(self):
        if self.momentum:
            kernels.sgd_momentum(self.theta, self.grad, self.momentum_buffer, eta=self.lr,
                                 mu=self.momentum, tau=self.dampening, nesterov=self.nesterov,
                                 first=self.step_count == 1, scratch=self._kernel_scratch)
        else:
            kernels.sgd(self.theta, self.grad, eta=self.lr, scratch=self._kernel_scratch)


class Momentum(Optimizer):
    """The momentum method in the notes' form (001, "Momentum Update"; Rumelhart et al. 1986):

    input: eta (``lr``), beta (``beta``; ``momentum`` in :class:`SGD` and torch), lambda_2
        (``weight_decay`` or ``l2``), lambda_1 (``l1``)
        Delta W <- beta Delta W - eta grad_W Loss(W)
        W       <- W + Delta W

    The rule: :func:`momentum`. Delta W is a running average of past steps: it grows where the
    gradient keeps its sign and cancels where it flips. Typical beta = 0.9. The state is the step
    Delta W itself, so a change of eta (by a schedule) only scales the new gradient term.
    """

    name = "momentum"
    state_names = ("delta_w",)
    hyper_names = ("beta",)

    def __init__(self, model, lr: float = 0.01, beta: float = 0.9, weight_decay: float = 0.0,
                 l2: float = 0.0, l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.beta = check_option("beta", beta, 0.0, 1.0, high_open=True)
        self.delta_w = np.zeros_like(self.theta)

    def _update(self):
        kernels.momentum(self.theta, self.grad, self.delta_w, eta=self.lr, beta=self.beta,
                         scratch=self._kernel_scratch)


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in the notes' look-ahead form (001, "Training with
    Nestorov"; Nesterov 1983, as in Sutskever et al. 2013), with the options of :class:`Momentum`:

        W       <- W + beta Delta W                     first extend the previous step
        g       <- grad_W Loss(W)                       gradient at the look-ahead point
        W       <- W - eta g
        Delta W <- beta Delta W - eta g

    i.e. Delta W(k) = beta Delta W(k-1) - eta grad Loss(W(k-1) + beta Delta W(k-1)),
    W(k) = W(k-1) + Delta W(k). The rule after the look-ahead: :func:`nesterov`. The gradient is
    taken away from W, so ``step`` needs the closure; it returns the loss at the look-ahead point.
    PyTorch's reformulation (gradient at W, no closure) is ``sgd`` with ``nesterov=True``.
    """

    name = "nesterov"
    needs_closure = True

    def step(self, closure=None):
        self._require_closure(closure)
        s = self._kernel_scratch
        kernels.add_scaled(self.theta, self.delta_w, alpha=self.beta, scratch=s)  # look ahead
        loss = closure()
        self._regularize_grad()
        self.step_count += 1
        kernels.nesterov(self.theta, self.grad, self.delta_w, eta=self.lr, beta=self.beta,
                         scratch=s)
        return loss
