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
from handgrad.errors import DataError, OptionError
from handgrad.validate import as_float_array, check_choice, check_int

INDEX_TARGET_LOSSES = {"cross_entropy", "nll"}
LOGIT_LOSSES = {"cross_entropy", "bce_logits"}
SIGNED_LOSSES = {"hinge", "squared_hinge"}
BINARY_LOSSES = {"bce", "bce_logits", "hinge", "squared_hinge"}  # one output unit, two classes
# Which losses fit which problem (the table above): a class index scored by an L2 loss on one-hot
# rows is a classifier, a value scored by cross-entropy is not a regression (its loss is 0).
TASK_LOSSES = {
    "classification": ("cross_entropy", "nll", "kl", "bce", "bce_logits", "hinge",
                       "squared_hinge", "mse", "half_mse", "mae"),
    "regression": ("mse", "half_mse", "mae", "msle"),
}
KINDS = tuple(TASK_LOSSES)


@dataclass
class Task:
    """A problem kind, its loss, its number of classes and the model's output activation.

    Refuses what would train something else than asked: an unknown kind (a typo must not become
    regression), a loss that does not fit the kind, a binary loss on more than two classes.
    """

    kind: str            # "classification" or "regression"
    loss: str            # the loss's registry name
    n_classes: int = 0   # classification only
    output: str = "identity"

    def __post_init__(self):
        check_choice("task kind", self.kind, KINDS)
        if not isinstance(self.loss, str):
            raise OptionError(f"invalid loss: {self.loss!r} (expected a loss name)")
        if self.loss not in TASK_LOSSES[self.kind]:
            raise OptionError(f"invalid loss for {self.kind}: {self.loss!r} (expected one of: "
                              f"{', '.join(TASK_LOSSES[self.kind])})")
        if self.kind == "classification":
            self.n_classes = check_int("n_classes", self.n_classes, 2)
            if self.loss in BINARY_LOSSES and self.n_classes != 2:
                raise OptionError(f"invalid loss for {self.n_classes} classes: {self.loss!r} "
                                  "(a binary loss; use cross_entropy for more than two classes)")
        else:
            self.n_classes = check_int("n_classes", self.n_classes, 0, 0)
        if not isinstance(self.output, str):
            raise OptionError(f"invalid output: {self.output!r} (expected an activation name)")

    @property
    def n_outputs(self) -> int:
        """Binary problems use one output unit except with softmax-style losses."""
        if self.kind != "classification":
            return 1
        if self.n_classes == 2 and self.loss in {"bce", "bce_logits", "hinge", "squared_hinge"}:
            return 1
        return self.n_classes

    def targets(self, d: np.ndarray, dtype=np.float32, name: str = "targets d") -> np.ndarray:
        """Labels (class indices) or values as the loss expects them (checked: finite values;
        whole class indices in 0..C-1, since a label 1.7 truncated to 1 would train silently)."""
        if self.kind == "regression":
            return as_float_array(name, d, ndim=None, dtype=dtype).reshape(len(d), -1)
        d = self.labels(d, name)
        if self.loss in INDEX_TARGET_LOSSES:
            return d
        if self.n_outputs == 1:
            column = d.reshape(-1, 1).astype(dtype)
            return 2.0 * column - 1.0 if self.loss in SIGNED_LOSSES else column
        return one_hot(d, self.n_classes, dtype)

    def labels(self, d, name: str = "targets d") -> np.ndarray:
        """Class indices as int64, refusing fractions, NaN and labels outside 0..C-1."""
        d = np.asarray(d)
        if d.dtype.kind not in "biuf":
            raise DataError(f"{name}: class labels must be integers 0..{self.n_classes - 1}, "
                            f"got dtype {d.dtype} (encode them first, e.g. with np.unique)")
        if d.ndim != 1:
            raise DataError(f"{name}: class labels must be 1-D (one index per sample), got shape "
                            f"{d.shape}")
        if d.dtype.kind == "f":
            as_float_array(name, d, ndim=1)
            if not np.array_equal(d, np.floor(d)):
                bad = d[d != np.floor(d)][0]
                raise DataError(f"{name}: class labels must be whole numbers, got {bad!r}")
        if d.size and (d.min() < 0 or d.max() >= self.n_classes):
            bad = d.min() if d.min() < 0 else d.max()
            raise DataError(f"{name}: class label {bad!r} outside 0..{self.n_classes - 1} "
                            f"({self.n_classes} classes)")
        return d.astype(np.int64, copy=False)

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
