"""Rprop, resilient propagation (Riedmiller & Braun 1993; 001, "RProp" and "Rprop (simplified)").

Every weight keeps its own step size Delta and moves by Delta against the *sign* of its derivative:
the size of the derivative is ignored. Delta grows by eta+ (the notes' alpha = 1.2) while the
derivative keeps its sign and shrinks by eta- (the notes' beta = 0.5) when it flips (the minimum was
overshot), within a floor Delta_min and a ceiling Delta_max. Three variants:

- ``rprop``               iRprop- (Igel & Huesken 2000), what ``torch.optim.Rprop`` implements;
- ``rprop_backtracking``  the notes' full algorithm: on a sign change return to the previous
                          location, shrink the step and take the smaller step forward;
- ``rprop_simple``        the notes' simplified pseudo-code, line by line.

input (all three): Delta_0 (``lr``), eta- (``eta_minus``; the notes' beta), eta+ (``eta_plus``;
the notes' alpha), Delta_min (``step_min``), Delta_max (``step_max``), lambda_2 (``weight_decay``
or ``l2``), lambda_1 (``l1``).
``lr`` is the initial step size Delta_0; a learning-rate schedule does not affect Rprop. Rprop is a
batch method: it is defined for the full-batch gradient, and mini-batch noise flips signs at random.
"""

from __future__ import annotations

import numpy as np

from handgrad.optim.base import Optimizer

from handgrad.validate import check_option


class _RpropBase(Optimizer):
    full_batch = True
    hyper_names = ("eta_minus", "eta_plus", "step_min", "step_max")

    def __init__(self, model, lr, eta_minus, eta_plus, step_min, step_max, weight_decay, l1,
                 decay_biases, l2):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.eta_minus = check_option("eta_minus", eta_minus, 0.0, 1.0, low_open=True,
                                      high_open=True)
        self.eta_plus = check_option("eta_plus", eta_plus, 1.0, low_open=True)
        self.step_min = check_option("step_min", step_min, 0.0)
        self.step_max = check_option("step_max", step_max, self.step_min)
        if self.lr <= 0.0:
            raise ValueError(f"invalid lr: {lr!r} (Rprop's initial step size must be > 0)")
        self.step_size = np.full_like(self.theta, self.lr)
        self.prev_grad = np.zeros_like(self.theta)


class Rprop(_RpropBase):
    """iRprop- (Igel & Huesken 2000), identical to ``torch.optim.Rprop``:

        c      = g * g_prev
        Delta  <- clip(Delta * (eta+ if c > 0, eta- if c < 0, 1 if c = 0), Delta_min, Delta_max)
        g      <- 0 where c < 0                 no step, and no adaptation next time
        W      <- W - sign(g) Delta
        g_prev <- g

    Unlike the notes' forms it never undoes a step: after a sign change the weight waits one step.
    Defaults as torch: Delta_0 = lr = 0.01, (eta-, eta+) = (0.5, 1.2), Delta in [1e-6, 50].
    """

    name = "rprop"
    state_names = ("step_size", "prev_grad")

    def __init__(self, model, lr: float = 0.01, eta_minus: float = 0.5, eta_plus: float = 1.2,
                 step_min: float = 1e-6, step_max: float = 50.0, weight_decay: float = 0.0,
                 l2: float = 0.0, l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, eta_minus, eta_plus, step_min, step_max, weight_decay, l1,
                         decay_biases, l2)

    def _update(self):
        g, prev, delta = self.grad, self.prev_grad, self.step_size
        c = g * prev
        factor = np.where(c > 0, self.eta_plus, np.where(c < 0, self.eta_minus, 1.0))
        delta *= factor
        np.clip(delta, self.step_min, self.step_max, out=delta)
        np.copyto(prev, g)
        prev[c < 0] = 0.0
        np.sign(prev, out=c)
        c *= delta
        self.theta -= c


class RpropBacktracking(_RpropBase):
    """Rprop with weight backtracking, the notes' full algorithm (001, "Rprop"; Riedmiller & Braun
    1993). For each weight, with D the derivative at the current location:

        first step:         Delta W = sign(D) Delta_0;  w <- w - Delta W;  prevD <- D
        sign(D) = sign(prevD):                          (no overshoot: longer step, same way)
            Delta   <- min(alpha Delta, Delta_max)
            Delta W <- sign(D) Delta;  w <- w - Delta W;  prevD <- D
        sign(D) != sign(prevD):                         (overshot a minimum)
            w <- w + Delta W                            return to the previous location
            Delta   <- max(beta Delta, Delta_min)       shrink the step
            Delta W <- sign(Delta W) Delta; w <- w - Delta W   take the smaller step forward
            prevD <- 0                                  (as in Riedmiller & Braun: the next
                                                        derivative sets the direction afresh)
        D = 0 or prevD = 0: Delta W = sign(D) Delta; w <- w - Delta W; prevD <- D

    Clearing prevD after a backtrack lets the weight turn round if the smaller step still lands
    past the minimum; without it the direction of every weight would be fixed by its first
    derivative (see :class:`RpropSimple`).
    """

    name = "rprop_backtracking"
    state_names = ("step_size", "prev_grad", "last_step")

    def __init__(self, model, lr: float = 0.01, eta_minus: float = 0.5, eta_plus: float = 1.2,
                 step_min: float = 1e-6, step_max: float = 50.0, weight_decay: float = 0.0,
                 l2: float = 0.0, l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, eta_minus, eta_plus, step_min, step_max, weight_decay, l1,
                         decay_biases, l2)
        self.last_step = np.zeros_like(self.theta)   # Delta W of the notes (subtracted from w)

    def _update(self):
        g, prev, delta, dw = self.grad, self.prev_grad, self.step_size, self.last_step
        c = g * prev
        same, flipped = c > 0, c < 0
        delta[same] *= self.eta_plus
        delta[flipped] *= self.eta_minus
        np.clip(delta, self.step_min, self.step_max, out=delta)
        # The move this step: undo the old Delta W where the sign flipped, then take the new one.
        move = np.where(flipped, -dw, 0.0).astype(self.theta.dtype)
        new_dw = np.where(flipped, np.sign(dw), np.sign(g)) * delta
        move += new_dw
        self.theta -= move
        np.copyto(dw, new_dw)
        np.copyto(prev, g)
        prev[flipped] = 0.0


class RpropSimple(_RpropBase):
    """The notes' simplified Rprop (001, "Rprop (simplified)"), line by line:

        init:   prevD = dErr/dw;  Delta W = sign(prevD) Delta_0
        loop:   w <- w - Delta W
                D = dErr/dw
                if sign(prevD) == sign(D):  Delta W <- min(alpha Delta W, Delta_max); prevD <- D
                else:                       w <- w + Delta W
                                            Delta W <- max(beta Delta W, Delta_min)

    (the ceiling and floor act on |Delta W|). One ``step`` runs the loop body from "D = ..." to the
    next "w <- w - Delta W", so the weights are always at the point whose derivative the next step
    reads. As written, prevD only ever takes values of its own sign, so each weight moves in the
    direction its first derivative chose, approaching the nearest sign change of its derivative in
    that direction from one side; the full form (``rprop_backtracking``) can turn round.
    """

    name = "rprop_simple"
    state_names = ("step_size", "prev_grad", "direction")

    def __init__(self, model, lr: float = 0.01, eta_minus: float = 0.5, eta_plus: float = 1.2,
                 step_min: float = 1e-6, step_max: float = 50.0, weight_decay: float = 0.0,
                 l2: float = 0.0, l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, eta_minus, eta_plus, step_min, step_max, weight_decay, l1,
                         decay_biases, l2)
        self.direction = np.zeros_like(self.theta)   # sign(prevD), fixed at the first step

    def _update(self):
        g, prev, delta, sign = self.grad, self.prev_grad, self.step_size, self.direction
        if self.step_count == 1:          # init: prevD = D, Delta W = sign(prevD) Delta_0
            np.copyto(prev, g)
            np.sign(g, out=sign)
            self.theta -= sign * delta
            return
        agree = np.sign(g) == sign
        disagree = ~agree
        self.theta[disagree] += (sign * delta)[disagree]      # w <- w + Delta W
        delta[agree] = np.minimum(delta[agree] * self.eta_plus, self.step_max)
        delta[disagree] = np.maximum(delta[disagree] * self.eta_minus, self.step_min)
        prev[agree] = g[agree]
        self.theta -= sign * delta                             # the next loop's w <- w - Delta W
