"""The regulariser of 004 and 003 (eq. 27-29), written once: every optimizer applies it, and the
line-search methods and the trainer read its value from here.

    R(W)      = lambda_2/2 ||M W||^2 + lambda_1 ||M W||_1
    grad R(W) = lambda_2 M W + lambda_1 M sign(W)          (subgradient 0 at 0)

M is 1 on weights and 0 on biases and normalisation shifts (003: "the biases are not
regularized"; ``model.decay_mask()``), or 1 everywhere when no mask is given (as ``torch.optim``
decays every parameter). As a gradient transformation (optax's ``add_decayed_weights``), an
optimizer adds grad R to the gradient before its own rule; with ``lambda_1 = 0`` that term is
``weight_decay`` in ``torch.optim``'s sense for every method but AdamW, whose decay is decoupled
and is applied by AdamW itself.

How ``l2`` (``--l2``) maps to 003's lambda (eq. 27-29, written there with alpha and m):
003 minimises C = C_0 + lambda/(2n) sum_w w^2, where C_0 is the mean over the n training samples
of a per-sample sum over the outputs, and its step is w <- (1 - eta lambda/n) w - eta dC_0/dw.
handgrad adds l2/2 ||M W||^2 to the loss L as it is, so:

    L = C_0 (cross_entropy, nll, kl, half_mse: mean over samples)   l2 = lambda / n
    L = C_0 / k (mse, bce, mae, hinge, ...: mean over all n k values) l2 = lambda / (n k)
                                                                     (and eta = k eta_003)
    reduction="sum", L = n C_0                                       l2 = lambda (eta = eta_003/n)

n is the size of the training set, also with mini-batches: 003's decay per step is eta lambda/n
whatever the batch. Example: 003's lambda = 5 on n = 50000 images with cross-entropy is
``--l2 1e-4``. Tested in tests/optim/test_l2_mapping.py.
"""

from __future__ import annotations

import numpy as np

from handgrad.validate import check_option


class Penalty:
    """R(W) and grad R(W) for the flat parameter vector W.

    ``mask`` is ``model.decay_mask()`` (bool or 0/1 floats, one entry per parameter) or None for
    every entry. ``value(W)`` is R(W); ``add_gradient(W, grad)`` adds grad R(W) in place;
    ``penalty(W, grad)`` does both (the value, and the gradient when grad is given).
    """

    def __init__(self, mask=None, l2: float = 0.0, l1: float = 0.0):
        self.l2 = check_option("l2", l2, 0.0)
        self.l1 = check_option("l1", l1, 0.0)
        self.mask = None if mask is None else np.asarray(mask)
        self._mask_as: dict[np.dtype, np.ndarray] = {}

    def __bool__(self) -> bool:
        return bool(self.l2 or self.l1)

    def __repr__(self) -> str:
        return f"Penalty(l2={self.l2}, l1={self.l1}, mask={'None' if self.mask is None else '...'})"

    def _masked(self, W: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out <- M W, with M in W's dtype so that it is one multiply."""
        if self.mask is None:
            np.copyto(out, W)
            return out
        M = self._mask_as.get(W.dtype)
        if M is None:
            M = self._mask_as[W.dtype] = self.mask.astype(W.dtype)
        return np.multiply(W, M, out=out)

    def value(self, W: np.ndarray, scratch: np.ndarray | None = None) -> float:
        """R(W) = lambda_2/2 ||M W||^2 + lambda_1 ||M W||_1."""
        if not self:
            return 0.0
        w = self._masked(W, np.empty_like(W) if scratch is None else scratch)
        value = 0.5 * self.l2 * float(w @ w) if self.l2 else 0.0
        if self.l1:
            value += self.l1 * float(np.abs(w, out=w).sum())
        return value

    def add_gradient(self, W: np.ndarray, grad: np.ndarray,
                     scratch: np.ndarray | None = None) -> None:
        """grad <- grad + lambda_2 M W + lambda_1 M sign(W), in place."""
        if not self:
            return
        s = np.empty_like(W) if scratch is None else scratch
        if self.l2:
            self._masked(W, s)
            s *= W.dtype.type(self.l2)
            grad += s
        if self.l1:
            np.sign(W, out=s)
            self._masked(s, s)
            s *= W.dtype.type(self.l1)
            grad += s

    def __call__(self, W: np.ndarray, grad: np.ndarray | None = None) -> float:
        """R(W), adding grad R(W) to ``grad`` when it is given (the closure's penalty protocol)."""
        value = self.value(W)
        if grad is not None:
            self.add_gradient(W, grad)
        return value
