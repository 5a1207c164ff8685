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

    Every call evaluates the same function of theta: dropout's random streams and batch norm's
    running statistics are put back to where they stood before the first call, so a line search or
    a backtracking step sees one objective, and the step leaves the state of one evaluation
    (``rewind=False`` skips the snapshot for optimizers that evaluate the closure once).
    """

    def __init__(self, model: Module, loss: Loss, x: np.ndarray, d: np.ndarray, penalty=None,
                 rewind: bool = True):
        self.model, self.loss, self.x, self.d, self.penalty = model, loss, x, d, penalty
        self.evaluations = 0
        self._streams, self._buffers = [], []
        if rewind:  # a closure evaluated once (plain gradient methods) needs no snapshot
            self._snapshot()

    def _snapshot(self) -> None:
        model = self.model
        self._streams = [(m, m.get_rng_state()) for m in model.modules()
                         if hasattr(m, "get_rng_state")]
        self._buffers = [(m, {k: v.copy() for k, v in m.buffers.items()})
                         for m in model.modules() if getattr(m, "buffers", None)]

    def _rewind(self) -> None:
        for module, state in self._streams:
            module.set_rng_state(state)
        for module, saved in self._buffers:
            for name, value in saved.items():
                module.buffers[name][...] = value

    def __call__(self, backward: bool = True) -> float:
        if self.evaluations:
            self._rewind()
        self.evaluations += 1
        y = self.y = self.model.forward(self.x)
        value = self.loss.forward(y, self.d)
        if backward:
            # Set, not accumulated: the same as zero_grad then backward, with one pass less.
            self.model.backward_params(self.loss.backward(), accumulate=False)
        if self.penalty is not None:
            value += self.penalty(self.model.theta, self.model.grad if backward else None)
        return value

    def predict(self) -> np.ndarray:
        return self.model.forward(self.x)
