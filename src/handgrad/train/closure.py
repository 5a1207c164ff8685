"""The closure an optimizer calls to re-evaluate the loss and its gradient on the current batch.

Methods that evaluate the loss away from the current weights (Nesterov's look-ahead in the notes'
form, Rprop's backtracking, line searches, Newton, L-BFGS, Levenberg-Marquardt) receive one, as
``torch.optim.LBFGS`` does. It also exposes the batch, so Levenberg-Marquardt can form the residual
Jacobian and Newton can take Hessian-vector products.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.losses import Loss
from handgrad.nn.module import Module


class BatchClosure:
    """``closure()`` sets ``model.grad`` to grad_theta Div(model(x), d) and returns the loss value.

    ``penalty(theta, grad)``, if given, adds a regulariser's value and gradient (L1/L2 terms of 004)
    and returns the value added.
    """

    def __init__(self, model: Module, loss: Loss, x: np.ndarray, d: np.ndarray, penalty=None):
        self.model, self.loss, self.x, self.d, self.penalty = model, loss, x, d, penalty
        self.evaluations = 0

    def __call__(self, backward: bool = True) -> float:
        self.evaluations += 1
        y = self.y = self.model.forward(self.x)
        value = self.loss.forward(y, self.d)
        if backward:
            self.model.zero_grad()
            self.model.backward(self.loss.backward())
        if self.penalty is not None:
            value += self.penalty(self.model.theta, self.model.grad if backward else None)
        return value

    def predict(self) -> np.ndarray:
        return self.model.forward(self.x)
