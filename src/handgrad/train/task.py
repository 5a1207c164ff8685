"""How labels become the loss's targets and how outputs become predictions.

The notes pair each output activation with a divergence (004; 001's digit recognisers):

| problem             | loss                   | output                      | target encoding |
| ------------------- | ---------------------- | --------------------------- | --------------- |
| classes             | cross_entropy          | identity (logits)           | class index     |
| classes             | nll                    | log_softmax                 | class index     |
| classes             | kl                     | softmax                     | one-hot row     |
| classes             | mse, half_mse          | sigmoid, softmax            | one-hot row     |
| classes             | mae                    | identity, sigmoid, softmax  | one-hot row     |
| two (one output)    | kl                     | sigmoid (001, "2 or not 2") | 0 / 1           |
| two (one output)    | bce                    | sigmoid                     | 0 / 1           |
| two (one output)    | bce_logits             | identity (logit)            | 0 / 1           |
| two (one output)    | hinge, squared_hinge   | identity, tanh (a score)    | -1 / +1         |
| regression          | mse, half_mse, mae     | identity                    | the value       |
| regression          | msle                   | softplus (y > -1 always)    | the value       |

Any other output is refused (``OUTPUTS``): each loss's formula assumes its prediction's range, and a
pairing outside it trains something else than asked, with no error. Two sigmoid outputs scored by
KL, for instance, are two independent probabilities, not a distribution: KL's -log y_c pushes the
true class up and nothing down, both outputs go to 1 and the argmax is a coin (001's "2 or not 2"
means one sigmoid output and the binary divergence, which ``kl`` computes for one output).
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
# A squared error fitting one-hot rows with an unbounded (identity) output has a last-layer
# curvature up to 4x (half_mse) or 8x (mse) that of cross-entropy, whose softmax bounds it by 1/4:
# at the classification step sizes it diverges (digits_2_vs_not_2 at eta = 0.05 and 0.01). 001
# pairs the L2 divergence with the logistic output; MAE's gradient is bounded, identity is fine.
_L2_WHY = ("it fits one-hot rows, and on an unbounded identity output its curvature makes "
           "training diverge at the usual step sizes (001 pairs L2 with the logistic)")
# The outputs each loss pairs with (the table above), and what the loss needs of its prediction.
OUTPUTS = {
    "cross_entropy": (("identity",), "it takes logits and applies the softmax itself"),
    "bce_logits": (("identity",), "it takes a logit and applies the sigmoid itself"),
    "nll": (("log_softmax",), "it takes log-probabilities"),
    "kl": (("softmax", "sigmoid"), "it compares probability distributions: softmax outputs, or "
           "one sigmoid output for two classes"),
    "bce": (("sigmoid",), "it takes the probability of class 1"),
    "hinge": (("identity", "tanh"), "it takes a score whose sign is the class"),
    "squared_hinge": (("identity", "tanh"), "it takes a score whose sign is the class"),
    "mse": (("sigmoid", "softmax"), _L2_WHY),
    "half_mse": (("sigmoid", "softmax"), _L2_WHY),
    "mae": (("identity", "sigmoid", "softmax"), "it fits one-hot rows"),
    "msle": (("softplus",), "log(1 + y) needs y > -1 at every step"),
}
REGRESSION_OUTPUTS = {"mse": "identity", "half_mse": "identity", "mae": "identity",
                      "msle": "softplus"}  # the targets are standardised: any sign


def output_problem(kind: str, loss: str, output: str, n_classes: int) -> str | None:
    """Why ``output`` does not pair with ``loss`` for this problem (None: it does)."""
    if kind == "regression":
        expected = REGRESSION_OUTPUTS[loss]
        return None if output == expected else (
            f"expected {expected} for a regression with {loss}: "
            + ("targets of either sign (the command line standardises them)"
               if expected == "identity" else OUTPUTS[loss][1]))
    allowed, why = OUTPUTS[loss]
    if output not in allowed:
        return f"expected one of: {', '.join(allowed)}: {why}"
    if loss == "kl" and output == "sigmoid" and n_classes != 2:
        return (f"expected softmax for {n_classes} classes: a sigmoid output with kl is the "
                "binary divergence of one output (two classes)")
    return None


def canonical_output(output) -> str:
    """The activation's registry name ("linear" is "identity"); unknown names are refused."""
    from handgrad.nn.activations import get_activation

    if not isinstance(output, str):
        raise OptionError(f"invalid output: {output!r} (expected an activation name)")
    return get_activation(output).name or "identity"


@dataclass
class Task:
    """A problem kind, its loss, its number of classes and the model's output activation.

    Refuses what would train something else than asked: an unknown kind (a typo must not become
    regression), a loss that does not fit the kind, a binary loss on more than two classes.
    """

    kind: str            # "classification" or "regression"
    loss: str            # the loss's registry name
    n_classes: int = 0   # classification only
    output: str | None = None  # None: the one that pairs with the loss (default_output)

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
        self.output = default_output(self.loss, self.kind) if self.output is None else \
            canonical_output(self.output)
        problem = output_problem(self.kind, self.loss, self.output, self.n_classes)
        if problem is not None:
            raise OptionError(f"invalid output for loss {self.loss}: {self.output!r} ({problem})")

    @property
    def n_outputs(self) -> int:
        """Two classes use one output unit with the binary losses and with kl on a sigmoid (the
        binary divergence); the other losses one output per class."""
        if self.kind != "classification":
            return 1
        if self.n_classes == 2 and (self.loss in BINARY_LOSSES or self.output == "sigmoid"
                                    and self.loss == "kl"):
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

    @property
    def gives_probabilities(self) -> bool:
        """False for the hinge losses: their output is a score whose sign is the class (a
        margin, not a log-odds: sigmoid(score) is no probability), so no log loss is reported."""
        return self.loss not in SIGNED_LOSSES

    def probabilities(self, y: np.ndarray) -> np.ndarray | None:
        """Class probabilities (n, C) from the model's outputs; None for score outputs (the hinge
        losses, ``gives_probabilities``). Outputs that are not a distribution (L2 losses on
        identity or sigmoid outputs) are clipped at 0 and normalised per row, so a reported log
        loss is one of probabilities."""
        if not self.gives_probabilities:
            return None
        if self.loss == "nll":
            return np.exp(y)
        if self.n_outputs == 1:
            p1 = expit(y[:, 0]) if self.loss in LOGIT_LOSSES else y[:, 0]
            return np.column_stack([1.0 - p1, p1])
        if self.loss in LOGIT_LOSSES:
            return softmax(y, axis=1)
        if self.output == "softmax":
            return y
        p = np.clip(y, 0.0, None)
        total = p.sum(axis=1, keepdims=True)
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / y.shape[1])

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


def default_output(loss: str, kind: str = "classification") -> str:
    """The output activation that pairs with a loss (logits for the fused losses)."""
    if kind == "regression":
        return REGRESSION_OUTPUTS.get(loss, "identity")
    return {"kl": "softmax", "bce": "sigmoid", "nll": "log_softmax", "mse": "sigmoid",
            "half_mse": "sigmoid"}.get(loss, "identity")
