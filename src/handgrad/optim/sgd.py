"""Gradient descent and the momentum methods (001, "Momentum", "Nestorov's Accelerated Gradient";
002, "Gradient descent algorithms", "Momentum vs Nesterov's momentum"; 003, section 1).

Full-batch, stochastic and mini-batch gradient descent differ only in the batch the gradient was
computed on (003: "stochastic gradient descent ... estimate the gradient by computing it for a small
sample of randomly chosen training inputs"); the update is the same, so the trainer chooses the
batch and these classes do the step.

Each rule is first written as the notes write it, as a function of arrays that returns the new
values (``sgd``, ``sgd_momentum``, ``momentum``, ``nesterov``, ``momentum_002``,
``nesterov_002``): that is the rule to read. The
classes keep the bookkeeping and run the same rule in place through ``kernels`` (one compiled pass
over the flat vectors), which tests/optim/test_kernels.py holds to these functions bit for bit;
002's forms, kept for comparison rather than speed, call their rule functions directly.

Three forms of momentum, one trajectory (tests/optim/test_momentum_forms.py):

    001 (``momentum``, ``nesterov``):  Delta W <- beta Delta W - eta g;    W <- W + Delta W
    002 (``momentum002``, ``nesterov002``): v <- beta v + epsilon g;     theta <- theta - mu v
    torch (``sgd`` with momentum):      b <- mu b + g;                    W <- W - eta b

with Delta W = -mu v = -eta b and 001's eta = 002's mu epsilon = torch's lr, 001's beta = 002's
beta = torch's momentum; the three agree step for step while the rate is constant. The
Nesterov forms take the gradient at the point the momentum part of the step reaches first
(W + beta Delta W = theta - mu beta v); torch's ``nesterov=True`` keeps that look-ahead point as
its parameter instead (Sutskever et al. 2013, eq. 3-4, rewritten). The effective step of all of
them on a steady gradient is eta / (1 - beta), ten times eta at beta = 0.9.
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


def momentum_002(theta, g, v, *, mu, epsilon, beta):
    """002's momentum ("Momentum vs Nesterov's momentum"): v_t = beta v_(t-1) + epsilon g,
    theta_(t+1) = theta_t - mu v_t (returns theta, v). 002 prints beta = 1."""
    v = beta * v + epsilon * g
    theta = theta - mu * v
    return theta, v


def nesterov_002(theta, g, v, *, mu, epsilon, beta):
    """002's Nesterov momentum after its look-ahead: theta already holds theta - mu beta v and g
    is the gradient there, v_t = beta v_(t-1) + epsilon g (returns theta, v)."""
    theta = theta - mu * epsilon * g
    v = beta * v + epsilon * g
    return theta, v


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
    evaluates it at W + beta Delta W. 002's form (:class:`Momentum002`) is the same trajectory with
    lr = mu epsilon and b = v / epsilon.
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

    Forms: this is 001's. torch's ``SGD(lr=eta, momentum=beta)`` keeps b = -Delta W / eta and takes
    the same steps while eta is constant; 002's (:class:`Momentum002`) keeps v = -Delta W / mu and
    takes the same steps with eta = mu epsilon. On a steady gradient g the step tends to
    -eta g / (1 - beta): at beta = 0.9 ten times plain gradient descent's at the same eta.
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
    PyTorch's reformulation (gradient at W, no closure) is ``sgd`` with ``nesterov=True``: its
    parameter is this form's look-ahead point W + beta Delta W at every step. 002's form
    (:class:`Nesterov002`) takes the same steps with eta = mu epsilon.
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


class Momentum002(Optimizer):
    """Momentum in 002's form ("Momentum vs Nesterov's momentum", after Sutskever et al. 2013):

    input: mu (``lr``, 002's step size, as in its AdaGrad, RMSProp and Adam), epsilon
        (``epsilon``, the gradient's weight in v), beta (``beta``, v's decay), lambda_2
        (``weight_decay`` or ``l2``), lambda_1 (``l1``)
        v_t         = beta v_(t-1) + epsilon grad f(theta_t)        ("Classical Momentum")
        theta_(t+1) = theta_t - mu v_t                               ("Jump in param space")

    The rule: :func:`momentum_002`. v points uphill (001's Delta W points downhill). 002 prints
    v_t = v_(t-1) + epsilon g, i.e. beta = 1 (accepted here): a heavy ball without friction,
    Delta theta_t = Delta theta_(t-1) - mu epsilon g, which on a quadratic never settles (for
    E = a/2 theta^2 the iterates follow r^2 - (2 - mu epsilon a) r + 1 = 0, roots of modulus 1:
    they circle the minimum forever). The default beta = 0.9 is the decay of the source the slide
    transcribes and of 001. Printed as "v_t = v_(t-1) + epsilon grad f(theta_(t-1))" the gradient
    would be one step old; it is taken at the current theta, as in the source.

    Relation to the other forms: with Delta W = -mu v, 001's eta = mu epsilon and 001's beta =
    beta, this takes exactly :class:`Momentum`'s steps; torch's ``SGD(lr=mu epsilon,
    momentum=beta)`` keeps b = v / epsilon (tests/optim/test_momentum_forms.py).
    """

    name = "momentum002"
    state_names = ("v",)
    hyper_names = ("epsilon", "beta")

    def __init__(self, model, lr: float = 0.01, epsilon: float = 1.0, beta: float = 0.9,
                 weight_decay: float = 0.0, l2: float = 0.0, l1: float = 0.0,
                 decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.epsilon = check_option("epsilon", epsilon, 0.0, low_open=True)
        self.beta = check_option("beta", beta, 0.0, 1.0)
        self.v = np.zeros_like(self.theta)

    def _update(self):
        self.theta[...], self.v[...] = momentum_002(self.theta, self.grad, self.v, mu=self.lr,
                                                    epsilon=self.epsilon, beta=self.beta)


class Nesterov002(Momentum002):
    """Nesterov's momentum in 002's form ("Nesterov's Momentum"), with :class:`Momentum002`'s
    options:

        theta  <- theta - mu beta v                  jump along the momentum part of the step
        g      <- grad f(theta)                      gradient where the jump lands
        v_t     = beta v_(t-1) + epsilon g           (002, beta = 1:
                  v_t = v_(t-1) + epsilon grad f(theta_(t-1) - mu v_(t-1)))
        theta_(t+1) = theta_t - mu v_t               (from the jump: theta <- theta - mu epsilon g)

    The rule after the jump: :func:`nesterov_002`. At 002's beta = 1 the jump is 002's
    theta - mu v; with a decay beta it is the part of the next step that is already known. With
    Delta W = -mu v and eta = mu epsilon this is :class:`Nesterov`'s trajectory (001: gradient at
    W + beta Delta W); torch's ``SGD(nesterov=True)`` holds the jump's landing point as its
    parameter. Needs the closure; returns the loss at the landing point.
    """

    name = "nesterov002"
    needs_closure = True

    def step(self, closure=None):
        self._require_closure(closure)
        self.theta -= self.theta.dtype.type(self.lr * self.beta) * self.v       # the jump
        loss = closure()
        self._regularize_grad()
        self.step_count += 1
        self.theta[...], self.v[...] = nesterov_002(self.theta, self.grad, self.v, mu=self.lr,
                                                    epsilon=self.epsilon, beta=self.beta)
        return loss
