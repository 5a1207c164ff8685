"""QuickProp (Fahlman 1988, "An empirical study of learning speed in back-propagation networks";
001, "QuickProp").

Newton's step taken for every weight on its own, with the second derivative replaced by a finite
difference of the last two derivatives: each weight fits a parabola through its last two slopes and
jumps to its minimum.
"""

from __future__ import annotations

import numpy as np

from handgrad.optim.base import Optimizer

from handgrad.validate import check_bool, check_option


class QuickProp(Optimizer):
    """QuickProp, per weight, with D(k) = dErr/dw at w(k) and s(k) = w(k+1) - w(k):

    input: eta (``lr``), mu (``mu``, Fahlman's maximum growth factor), ``add_gradient``,
        lambda_2 (``weight_decay`` or ``l2``), lambda_1 (``l1``)

        secant step     s(k) = - D(k) / [(D(k) - D(k-1)) / s(k-1)]
                             = s(k-1) D(k) / (D(k-1) - D(k))
        growth limit    |s(k)| <= mu |s(k-1)|      (Fahlman's maximum growth factor, mu = 1.75);
                        when the parabola opens downward or its minimum lies further than mu
                        steps ahead (D(k) beyond mu/(1+mu) D(k-1) in the step's direction),
                        s(k) = mu s(k-1)
        fallback        s(k) = -eta D(k) where s(k-1) = 0 (the first step, or a weight that has
                        stopped) or where the two slopes are equal and point back (no curvature
                        information)
        w(k+1) = w(k) + s(k)

    This is the notes' rule w(k+1) = w(k) - ((E'(k) - E'(k-1)) / Delta w(k-1))^-1 E'(k) with
    Delta w(k-1) = w(k) - w(k-1). (001's per-weight formula writes the same step with Delta w as
    the amount *subtracted*, which flips its sign; the finite-difference curvature needs the signed
    displacement.) With ``add_gradient=True`` it also adds Fahlman's gradient term -eta D(k) when
    the slope still points the way of the previous step. On a quadratic the secant step lands on
    the minimum exactly. A batch method, as published.
    """

    name = "quickprop"
    full_batch = True
    state_names = ("prev_grad", "prev_step")
    hyper_names = ("mu", "add_gradient")

    def __init__(self, model, lr: float = 0.01, mu: float = 1.75, add_gradient: bool = False,
                 weight_decay: float = 0.0, l2: float = 0.0,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.mu = check_option("mu", mu, 0.0, low_open=True)
        self.add_gradient = check_bool("add_gradient", add_gradient)
        self.prev_grad = np.zeros_like(self.theta)
        self.prev_step = np.zeros_like(self.theta)

    def _update(self):
        g, g_prev, s_prev = self.grad, self.prev_grad, self.prev_step
        S, S_prev = -g, -g_prev                # Fahlman's slopes: the descent directions
        denom = S_prev - S
        secant = np.divide(s_prev * S, denom, out=np.zeros_like(g), where=denom != 0)
        # The parabola's minimum lies more than mu steps ahead (or it opens downward) when S
        # stays beyond mu/(1 + mu) S_prev on the side the previous step went.
        shrink = self.mu / (1.0 + self.mu)
        too_far = np.where(s_prev > 0, S > shrink * S_prev, S < shrink * S_prev)
        gradient_step = self.lr * S
        step = np.where(too_far, self.mu * s_prev, np.where(denom != 0, secant, gradient_step))
        fallback = (s_prev == 0) | (~too_far & (denom == 0))
        step = np.where(fallback, gradient_step, step)
        if self.add_gradient:                  # Fahlman's extra term while the slope agrees
            step = np.where(~fallback & (s_prev * S > 0), step + gradient_step, step)
        step = step.astype(self.theta.dtype, copy=False)
        self.theta += step
        np.copyto(s_prev, step)
        np.copyto(g_prev, g)
