"""How labels become the loss's targets and how outputs become predictions.

The notes pair each output activation with a divergence (004; 001's digit recognisers):

| problem                | output            | loss                     | target encoding      |
| ---------------------- | ----------------- | ------------------------ | -------------------- |
| multi-class            | logits (identity) | cross_entropy / nll      | class index          |
| multi-class            | softmax           | kl, mse, half_mse        | one-hot row          |
| binary (one output)    | logits            | bce_logits               | 0 / 1                |
| binary (one output)    | sigmoid           | bce, kl-free L2 losses   | 0 / 1                |
| binary (one output)    | identity          | hinge, squared_hinge     | -1 / +1              |
| regression             | identity          | mse, half_mse, mae, msle | the value            |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, softmax

from handgrad.data.preprocessing import one_hot

INDEX_TARGET_LOSSES = {"cross_entropy", "nll"}
LOGIT_LOSSES = {"cross_entropy", "bce_logits"}
SIGNED_LOSSES = {"hinge", "squared_hinge"}


@dataclass
class Task:
    kind: str            # "classification" or "regression"
    loss: str            # the loss's registry name
    n_classes: int = 0   # classification only
    output: str = "identity"

    @property
    def n_outputs(self) -> int:
        """Binary problems use one output unit except with softmax-style losses."""
        if self.kind != "classification":
            return 1
        if self.n_classes == 2 and self.loss in {"bce", "bce_logits", "hinge", "squared_hinge"}:
            return 1
        return self.n_classes

    def targets(self, d: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Labels (class indices) or values as the loss expects them."""
        if self.kind == "regression":
            return np.asarray(d, dtype=dtype).reshape(len(d), -1)
        d = np.asarray(d, dtype=np.int64)
        if self.loss in INDEX_TARGET_LOSSES:
            return d
        if self.n_outputs == 1:
            column = d.reshape(-1, 1).astype(dtype)
            return 2.0 * column - 1.0 if self.loss in SIGNED_LOSSES else column
        return one_hot(d, self.n_classes, dtype)

    def probabilities(self, y: np.ndarray) -> np.ndarray:
        """Class probabilities (n, C) from the model's outputs."""
        if self.loss == "nll":
            return np.exp(y)
        if self.n_outputs == 1:
            p1 = expit(y[:, 0]) if self.loss in LOGIT_LOSSES | SIGNED_LOSSES else y[:, 0]
            return np.column_stack([1.0 - p1, p1])
        return softmax(y, axis=1) if self.loss in LOGIT_LOSSES else y

    def predict(self, y: np.ndarray) -> np.ndarray:
        """Class indices, or regression values."""
        if self.kind == "regression":
            return y[:, 0] if y.shape[1] == 1 else y
        if self.n_outputs == 1:
            threshold = 0.0 if self.loss in LOGIT_LOSSES | SIGNED_LOSSES else 0.5
            return (y[:, 0] > threshold).astype(np.int64)
        return y.argmax(axis=1)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "loss": self.loss, "n_classes": self.n_classes,
                "output": self.output}


def default_output(loss: str) -> str:
    """The output activation that pairs with a loss (logits for the fused losses)."""
    return {"kl": "softmax", "bce": "sigmoid", "nll": "log_softmax"}.get(loss, "identity")
