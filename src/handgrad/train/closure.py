"""The closure an optimizer calls to re-evaluate the loss and its gradient on the current batch.

Every optimizer's ``step`` takes one (torch.optim's convention): plain gradient methods evaluate it
once, at the current weights; methods that evaluate the loss elsewhere too (Nesterov's look-ahead
in the notes' form, line searches, Newton, L-BFGS, Levenberg-Marquardt) call it again. It also
exposes the batch, so Levenberg-Marquardt can form the residual Jacobian and Newton can take
Hessian-vector products.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.losses import Loss
from handgrad.nn.module import Module


class BatchClosure:
    """``closure()`` sets ``model.grad`` to grad_theta Div(model(x), d) and returns the loss value.

    ``penalty(theta, grad)``, if given, adds a regulariser's value and gradient (L1/L2 terms of 004)
    and returns the value added.

    Every call evaluates the same function of theta: dropout's random streams and batch norm's
    running statistics are put back to where they stood before the first call, so a line search or
    a backtracking step sees one objective, and the step leaves the state of one evaluation
    (``rewind=False`` skips the snapshot for optimizers that evaluate the closure once).
    """

    def __init__(self, model: Module, loss: Loss, x: np.ndarray, d, penalty=None,
                 rewind: bool = True, prepared: bool = False):
        # x is a batch the caller validated (Trainer.fit does, once): the model's forward runs
        # unchecked on it. d is checked and brought to the loss's form at the first evaluation
        # (``loss.prepare_targets``), unless ``prepared``: the trainer prepares the targets once
        # per fit and passes rows of them, so no step checks them again.
        self.model, self.loss, self.x, self.d, self.penalty = model, loss, x, d, penalty
        self.prepared = prepared
        self.evaluations = 0
        # a closure evaluated once (plain gradient methods) needs no snapshot
        self._start = model.snapshot() if rewind else None

    def __call__(self, backward: bool = True) -> float:
        model = self.model
        if self.evaluations and self._start is not None:
            model.restore(self._start)
        self.evaluations += 1
        y = self.y = model.forward(self.x)
        if not self.prepared:
            self.d, self.prepared = self.loss.prepare_targets(self.d, y.shape, y.dtype), True
        value = self.loss.forward(y, self.d)
        if backward:
            # A training step's backward: the gradients are set (no zero_grad pass) and the data's
            # grad_x is not formed.
            previous = model.grad_mode(accumulate=False, needs_grad_x=False)
            try:
                model.backward(self.loss.backward())
            finally:
                model.grad_mode(*previous)
        if self.penalty is not None:
            value += self.penalty(model.theta, model.grad if backward else None)
        return value

    def predict(self) -> np.ndarray:
        return self.model.forward(self.x)
