"""Regularizer terms added to the loss (004: L = Div + lambda R(W); 003 eq. 27-29).

    L2:  R = 1/2 ||W||^2   grad = W          (Frobenius norm of every weight matrix)
    L1:  R = ||W||_1       grad = sign(W)    (subgradient 0 at 0)

Only weights are penalised, never biases (003: "the biases are not regularized"); the model's
``decay_mask()`` says which entries of theta are weights.
"""

from __future__ import annotations

import numpy as np


class Penalty:
    def __init__(self, mask: np.ndarray, l2: float = 0.0, l1: float = 0.0):
        if l2 < 0 or l1 < 0:
            raise ValueError(f"regularization strengths must be >= 0, got l2={l2}, l1={l1}")
        self.mask, self.l2, self.l1 = mask, float(l2), float(l1)

    def __bool__(self) -> bool:
        return bool(self.l2 or self.l1)

    def __call__(self, theta: np.ndarray, grad: np.ndarray | None) -> float:
        w = theta[self.mask]
        value = 0.5 * self.l2 * float(w @ w) + self.l1 * float(np.abs(w).sum())
        if grad is not None:
            grad[self.mask] += self.l2 * w + self.l1 * np.sign(w)
        return value
