"""Stopping criteria of the notes, as small pieces a training loop can hold.

- 001 ("Training by gradient descent": "until Loss has converged") and the issue's reading of it:
  stop when |L_k - L_(k-1)| < epsilon between successive epochs, or at a maximum number of epochs.
- 002 ("Stochastic gradient descent"): during SGD the objective is tracked by the running estimate
  Q := lambda L_i + (1 - lambda) Q over the per-sample (or per-batch) losses L_i, "until Q and/or w
  converges"; Q starts from the objective evaluated at the initial weights, or from the first L_i.
"""

from __future__ import annotations

import math

from handgrad.validate import check_option


class LossStagnation:
    """``update(L_k)`` is True once |L_k - L_(k-1)| < eps for ``patience`` epochs in a row."""

    def __init__(self, eps: float = 1e-6, patience: int = 1):
        self.eps = check_option("eps", eps, 0.0)
        self.patience = check_option("patience", patience, 1, integer=True)
        self.previous: float | None = None
        self.count = 0

    def update(self, loss: float) -> bool:
        loss = float(loss)
        if self.previous is not None and abs(loss - self.previous) < self.eps:
            self.count += 1
        else:
            self.count = 0
        self.previous = loss
        return self.count >= self.patience

    def state_dict(self) -> dict:
        return {"previous": self.previous, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.previous, self.count = state["previous"], int(state["count"])


class MaxEpochs:
    """``update(epoch)`` is True once ``epoch`` (counted from 1) reaches ``max_epochs``."""

    def __init__(self, max_epochs: int):
        self.max_epochs = check_option("max_epochs", max_epochs, 1, integer=True)

    def update(self, epoch: int) -> bool:
        return int(epoch) >= self.max_epochs


def update_running_loss(Q: float | None, L: float, lam: float) -> float:
    """002: Q := lambda L_i + (1 - lambda) Q; without a Q yet (None), L_i starts it."""
    return L if Q is None else lam * L + (1.0 - lam) * Q


class RunningLoss:
    """002's running loss estimate Q := lambda L_i + (1 - lambda) Q, with 0 < lambda <= 1.

    ``initial`` is Q before the first update (002: "Evaluate the objective function Q(w)"); without
    it the first L_i starts Q. ``update(L_i)`` returns the new Q.
    """

    def __init__(self, lam: float = 0.01, initial: float | None = None):
        self.lam = check_option("lam", lam, 0.0, 1.0, low_open=True)
        self.Q = None if initial is None else check_option("initial", initial)

    def update(self, loss: float) -> float:
        loss = float(loss)
        if not math.isfinite(loss):
            raise ValueError(f"running loss got a non-finite loss {loss}")
        self.Q = update_running_loss(self.Q, loss, self.lam)
        return self.Q

    @property
    def value(self) -> float | None:
        return self.Q

    def state_dict(self) -> dict:
        return {"lam": self.lam, "Q": self.Q}

    def load_state_dict(self, state: dict) -> None:
        self.lam, self.Q = float(state["lam"]), state["Q"]
