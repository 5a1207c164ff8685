"""Losses and divergences Div(y, d): a value and its gradient grad_y Div w.r.t. the prediction.

Reductions: ``mean`` (the default) and ``sum``. Elementwise losses (MSE, MAE, MSLE, binary
cross-entropy, hinge) average over every element, as PyTorch does; the distribution losses
(categorical cross-entropy, KL divergence, NLL) and the notes' half squared error average over
samples, the per-sample value being a sum over outputs (001: Div = 1/2 ||Y - d||^2;
KL = sum_i d_i log(d_i / y_i); 001's Loss = 1/|X| sum_X Div(Y(X), d(X))).

Where the notes sum, the default differs: 002 writes the categorical cross-entropy
-sum_i y_i log a_i and the squared hinge sum_i max(0, 1 - y_i a_i)^2 as sums over the samples,
where ``mean`` divides by the batch size (the number of elements for the hinge, the same for one
output). ``reduction="sum"`` is the notes' sum; with ``mean`` value and gradient are the sum's
divided by that count, so a step eta with ``mean`` is a step eta / count with ``sum``. 003's
cross-entropy (eq. 25) averages over the m samples but sums over the output units j; ``bce``
averages over both, so for k outputs it is 1/k of eq. 25 (the same for one output).

The protocol mirrors modules (``Module.__call__`` / ``forward``):

- ``loss(y, d)`` is the checked public boundary: y a finite 2-D float prediction, d the targets in
  any form the loss accepts (values, a 1-D column, class indices, one-hot or probability rows); d is
  brought to the loss's own form by ``prepare_targets`` and checked (shape, dtype, finiteness, class
  indices, the loss's target range).
- ``forward(y, d)`` runs unchecked on targets already in that form, and keeps what ``backward()``
  needs; ``backward()`` returns grad_y Div with the shape of y. A training loop prepares the targets
  once per fit (``d = loss.prepare_targets(d, (n, k), dtype)``) and calls ``forward`` per batch on
  rows of them. ``forward`` refuses, in O(1), targets of another shape or dtype (``y - d`` with
  shapes (n, 1) and (n,) would broadcast to (n, n) silently), but does not scan their values.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy

from handgrad.errors import NonFiniteError, ShapeError, unknown_option
from handgrad.nn import kernels
from handgrad.nn.activations import log_softmax
from handgrad.validate import as_float_array, check_finite

REDUCTIONS = ("mean", "sum")


def _as_prediction(name, y) -> np.ndarray:
    """A finite 2-D floating prediction. Integer or boolean predictions become float64: the target
    is cast to the prediction's dtype, and an integer dtype would silently truncate it."""
    y = as_float_array(name, y, ndim=2)
    if not y.size:
        raise ShapeError(f"{name} is empty (shape {y.shape}): a loss needs at least one sample "
                         f"and one output")
    return y if y.dtype.kind == "f" else y.astype(np.float64)  # kind "f": NumPy's floating types


def _cast(name, d, dtype) -> np.ndarray:
    """d in the prediction's dtype; 1e40 is finite in float64 but inf in float32: refused."""
    with np.errstate(over="ignore"):
        cast = d.astype(dtype)
    if not np.isfinite(cast).all():
        raise NonFiniteError(f"{name} holds values too large for {np.dtype(dtype)} (largest "
                             f"|d| = {np.abs(d).max():g}); scale the targets")
    return cast


class Loss:
    name = ""
    per_sample = False  # True: value per sample is a sum over outputs, mean is over samples
    prediction_name = "prediction y"

    def __init__(self, reduction: str = "mean"):
        if reduction not in REDUCTIONS:
            raise unknown_option("reduction", reduction, REDUCTIONS)
        self.reduction = reduction

    # --- the public, checked boundary ---------------------------------------------------------
    def __call__(self, y, d) -> float:
        """Div(y, d) with y and d checked; then ``forward`` on the prepared targets."""
        y = _as_prediction(self.prediction_name, y)
        d = self.prepare_targets(d, y.shape, y.dtype)
        return self.forward(y, d)

    def prepare_targets(self, d, shape, dtype, name: str = "target d") -> np.ndarray:
        """d in the form ``forward`` takes, for a prediction of ``shape`` (n, k) and ``dtype``:
        here float (n, k) of that dtype (a 1-D d is the column of a one-output prediction),
        finite and in the loss's target range. Called once per data set, not per batch."""
        d = as_float_array(name, d, ndim=None)
        if d.ndim == 1 and shape[1] == 1:
            d = d.reshape(-1, 1)
        if d.shape != tuple(shape):
            raise ShapeError(f"{self.name}: {name} has shape {d.shape} but prediction y has "
                             f"shape {tuple(shape)}")
        if d.dtype != dtype:
            d = _cast(name, d, dtype)
        self.check_target_range(d)
        return d

    def check_target_range(self, d) -> None:
        """The loss's own target values (probabilities, -1/+1, > -1); any finite value here."""

    def _require_prepared(self, y, d) -> None:
        # O(1), not a scan: a raw target of another shape would broadcast silently in y - d
        if d.shape != y.shape or d.dtype != y.dtype:
            raise ShapeError(f"{self.name}.forward takes targets prepared for the prediction "
                             f"(shape {y.shape}, dtype {y.dtype}), got shape {d.shape}, dtype "
                             f"{d.dtype}: call loss(y, d) to have d checked and converted, or "
                             f"loss.prepare_targets(d, y.shape, y.dtype) once")

    def _scale(self, y) -> float:
        count = y.shape[0] if self.per_sample else y.size
        return 1.0 / count if self.reduction == "mean" else 1.0

    def _reduce(self, elementwise: np.ndarray, y) -> float:
        return float(np.sum(elementwise) * self._scale(y))

    def config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSE(Loss):
    """Mean squared error: (1/n) sum (y - d)^2; grad = 2 (y - d) / n."""

    name = "mse"

    def forward(self, y, d):
        self._require_prepared(y, d)
        self.diff, self.scale = y - d, self._scale(y)
        return self._reduce(self.diff ** 2, y)

    def backward(self):
        return 2.0 * self.scale * self.diff


class HalfSquaredError(Loss):
    """The notes' L2 divergence Div = 1/2 ||y - d||^2 per sample (001); grad = (y - d) / batch.
    Its gradient carries no factor 2, which is why the notes use it."""

    name = "half_mse"
    per_sample = True

    def forward(self, y, d):
        self._require_prepared(y, d)
        self.diff, self.scale = y - d, self._scale(y)
        return self._reduce(0.5 * self.diff ** 2, y)

    def backward(self):
        return self.scale * self.diff


class MAE(Loss):
    """Mean absolute error: (1/n) sum |y - d|; grad = sign(y - d) / n (subgradient 0 at y = d)."""

    name = "mae"

    def forward(self, y, d):
        self._require_prepared(y, d)
        self.sign, self.scale = np.sign(y - d), self._scale(y)
        return self._reduce(np.abs(y - d), y)

    def backward(self):
        return self.scale * self.sign


class MSLE(Loss):
    """Mean squared logarithmic error (002): (1/n) sum (log(1 + y) - log(1 + d))^2, for y, d > -1;
    grad = 2 (log(1 + y) - log(1 + d)) / ((1 + y) n). The natural logarithm.

    002's example table does not follow from this formula: for a = 3, y = 5 it lists MSLE 0.22
    and for a = 3000, y = 3200 MSLE 0.02, where (ln 6 - ln 4)^2 = 0.164 and
    (ln 3201 - ln 3001)^2 = 0.0042 (no other logarithm or form gives them: log10 gives 0.031 and
    0.00079). Its point stands with the formula's numbers, and more strongly: the 6.25% error
    costs 40x less than the 40% one (docs/notes-differences.md)."""

    name = "msle"

    def check_target_range(self, d):
        if (d <= -1).any():
            raise ValueError("msle needs predictions and targets greater than -1")

    def forward(self, y, d):
        self._require_prepared(y, d)
        # the prediction's domain, not an input check: log(1 + y) needs y > -1 at every step
        if (y <= -1).any():
            raise ValueError("msle needs predictions and targets greater than -1")
        self.log_ratio, self.one_plus_y = np.log1p(y) - np.log1p(d), 1.0 + y
        self.scale = self._scale(y)
        return self._reduce(self.log_ratio ** 2, y)

    def backward(self):
        return 2.0 * self.scale * self.log_ratio / self.one_plus_y


def _check_probability_targets(name, d):
    if (d < 0).any() or (d > 1).any():
        raise ValueError(f"{name}: targets must lie in [0, 1]")


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on probabilities y in [0, 1] (002, 003):
    -(1/n) sum [d log y + (1 - d) log(1 - y)]; grad = (y - d) / (y (1 - y) n).

    As in PyTorch, each logarithm is clamped at -100 and the denominator y (1 - y) at eps = 1e-12,
    so a saturated prediction (a float32 sigmoid rounds to exactly 1.0 for z > 17) gives a finite
    value and gradient: 0 when it is right, large but finite when it is wrong."""

    name = "bce"
    eps = 1e-12
    log_floor = -100.0

    def check_target_range(self, d):
        _check_probability_targets(self.name, d)

    def forward(self, y, d):
        self._require_prepared(y, d)
        if (y < 0).any() or (y > 1).any():  # the prediction's domain (a sigmoid output)
            raise ValueError("bce: predictions must be probabilities in [0, 1]; use "
                             "bce_logits for raw scores")
        self.y, self.d = y, d
        self.scale = self._scale(y)
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped next
            log_y = np.maximum(np.log(y), self.log_floor)
            log_1my = np.maximum(np.log1p(-y), self.log_floor)
        return self._reduce(-(d * log_y + (1 - d) * log_1my), y)

    def backward(self):
        y, d = self.y, self.d
        return self.scale * (y - d) / np.maximum(y * (1.0 - y), self.eps)


class BinaryCrossEntropyWithLogits(Loss):
    """Binary cross-entropy on logits z (fused with the sigmoid, stable for large |z|):
    (1/n) sum [log(1 + e^z) - d z]; grad = (sigmoid(z) - d) / n.
    The shortcut sigmoid(z) - d holds only for this sigmoid + BCE pair (003: "why cross-entropy
    removes sigma'")."""

    name = "bce_logits"
    prediction_name = "prediction z"

    def check_target_range(self, d):
        _check_probability_targets(self.name, d)

    def forward(self, z, d):
        self._require_prepared(z, d)
        self.z, self.d, self.scale = z, d, self._scale(z)
        return self._reduce(np.logaddexp(0.0, z) - d * z, z)

    def backward(self):
        return self.scale * (expit(self.z) - self.d)


class _ClassTargets(Loss):
    """Losses over C classes whose targets are class indices (n,) or probability/one-hot rows.

    ``takes_indices``: the prepared form of class indices is the indices themselves (intp, (n,));
    otherwise one-hot rows of the prediction's dtype."""

    per_sample = True
    takes_indices = True

    def prepare_targets(self, d, shape, dtype, name: str = "target d") -> np.ndarray:
        """Class indices (a 1-D d, or a column for a prediction of several outputs), checked:
        whole numbers in 0..C-1, one per row; or probability/one-hot rows of the prediction's
        shape, finite."""
        arr = np.asarray(d)
        if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1 and shape[1] > 1):
            labels = class_indices_checked(arr.ravel(), shape[1], shape[0], self.name)
            return labels if self.takes_indices else _one_hot(labels, shape, dtype)
        return super().prepare_targets(d, shape, dtype, name)

    def targets_as_rows(self, y, d) -> np.ndarray:
        """d as rows of y's shape and dtype, class indices as one-hot rows (checked)."""
        d = self.prepare_targets(d, y.shape, y.dtype)
        return _one_hot(d, y.shape, y.dtype) if d.ndim == 1 else d

    def _require_prepared(self, y, d) -> None:
        if d.ndim == 1 and self.takes_indices:
            if d.dtype != np.intp or len(d) != len(y):
                raise ShapeError(f"{self.name}.forward takes class indices prepared for the "
                                 f"prediction (intp, {len(y)} of them), got dtype {d.dtype}, "
                                 f"shape {d.shape}: call loss(y, d) to have d checked and "
                                 f"converted")
        else:
            super()._require_prepared(y, d)


def _one_hot(labels, shape, dtype) -> np.ndarray:
    rows = np.zeros(shape, dtype=dtype)
    rows[np.arange(len(rows)), labels] = 1.0
    return rows


def class_indices_checked(labels, n_classes, n_rows, who="loss") -> np.ndarray:
    """Integer class indices, one per prediction row, each in [0, n_classes)."""
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ShapeError(f"{who}: {labels.shape[0]} class indices for {n_rows} predictions")
    if labels.dtype.kind not in "iu":  # not a signed or unsigned integer type
        if np.issubdtype(labels.dtype, np.floating):
            check_finite(f"{who}: class indices", labels)
        if not np.issubdtype(labels.dtype, np.floating) or not np.all(labels == np.round(labels)):
            raise TypeError(f"{who}: class indices must be integers, got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    # One pass for both bounds: as unsigned, a negative index is a huge one. That holds at the
    # width of intp (a narrower type would wrap -1 to 255 < n_classes), so convert first; int64
    # labels, the usual kind, are intp already and are not copied.
    labels = labels.astype(np.intp, copy=False)
    if labels.size and labels.view(np.uintp).max() >= n_classes:
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise IndexError(f"{who}: class index {bad} is out of range for {n_classes} classes")
    return labels


class CrossEntropy(_ClassTargets):
    """Categorical cross-entropy from logits z, fused with the softmax (003, 004):

        log p = log_softmax(z)               (log-sum-exp: activations.log_softmax)
        Div   = -sum_i d_i log p_i,          grad_z Div = p sum_i d_i - d = p - d  (per sample)

    Class indices c are one-hot rows d (Div = -log p_c). The shortcut p - d holds only for this
    softmax + cross-entropy pair with targets that sum to 1; it is the reason the MLP outputs
    logits (``output='identity'``) when trained with it. For class indices
    ``handgrad.nn.kernels`` computes the same in one pass, without building d or log p.

    ``mean`` (the default) divides by the number of samples; 002 sums over them
    (``reduction="sum"``).
    """

    name = "cross_entropy"
    prediction_name = "prediction z"

    def forward(self, z, d):
        self._require_prepared(z, d)
        self.scale = self._scale(z)
        self.labels = d if d.ndim == 1 else None
        if self.labels is not None and kernels.FAST:
            self.p = np.empty_like(z)
            total = kernels.softmax_cross_entropy(z=z, labels=self.labels, p=self.p)
            if total is not None:
                return total * self.scale
        self.d = d if self.labels is None else _one_hot(self.labels, z.shape, z.dtype)
        log_p = log_softmax(z)
        self.p = np.exp(log_p)
        return self._reduce(-self.d * log_p, z)

    def backward(self):
        if self.labels is not None and kernels.FAST:
            return kernels.softmax_cross_entropy_grad(p=self.p, labels=self.labels,
                                                      scale=self.scale)
        return self.scale * (self.p * self.d.sum(axis=1, keepdims=True) - self.d)


class NLL(_ClassTargets):
    """Negative log-likelihood on log-probabilities (the output of LogSoftmax):
    Div = -sum_i d_i y_i; grad = -d."""

    name = "nll"
    prediction_name = "prediction log_p"
    takes_indices = False

    def forward(self, log_p, d):
        self._require_prepared(log_p, d)
        self.d, self.scale = d, self._scale(log_p)
        return self._reduce(-self.d * log_p, log_p)

    def backward(self):
        return -self.scale * self.d


class KLDivergence(_ClassTargets):
    """KL divergence of the notes (001: the divergence for softmax outputs), on probabilities y:

        KL(d || y) = sum_i d_i log(d_i / y_i),      grad_y KL = -d / y

    With one-hot d it equals the cross-entropy -log y_c. ``mean`` averages over samples
    (PyTorch's ``batchmean``).

    One output y (a sigmoid, 001's "Recognizing 2 or not 2": d is 0 or 1) is the probability of
    class 1, and the divergence is the binary one, the same sum over the two-class distributions
    (1 - y, y) and (1 - d, d):

        KL = d log(d / y) + (1 - d) log((1 - d) / (1 - y)),   grad_y KL = -d / y + (1 - d) / (1 - y)

    (binary cross-entropy minus the entropy of d, which is 0 for d in {0, 1}). y is clamped at
    eps = 1e-12 in the logarithms and divisions, so a saturated sigmoid gives a finite value."""

    name = "kl"
    eps = 1e-12
    takes_indices = False

    def prepare_targets(self, d, shape, dtype, name: str = "target d") -> np.ndarray:
        """One output: d is the probability of class 1 (0 or 1 for labels), a column in [0, 1];
        several: class indices or rows, as for the other class losses."""
        if shape[1] == 1:
            d = Loss.prepare_targets(self, d, shape, dtype, name)
            _check_probability_targets(self.name, d)
            return d
        return super().prepare_targets(d, shape, dtype, name)

    def forward(self, y, d):
        self._require_prepared(y, d)
        if (y < 0).any() or (y > 1).any():  # the prediction's domain (a softmax output)
            raise ValueError("kl: predictions must be probabilities (use a softmax output, or "
                             "one sigmoid output for two classes)")
        self.scale, self.binary = self._scale(y), y.shape[1] == 1
        if self.binary:  # the two-class distributions (1 - y, y) and (1 - d, d)
            y, d = np.hstack([1.0 - y, y]), np.hstack([1.0 - d, d])
        self.d, self.y = d, np.maximum(y, self.eps)
        return self._reduce(xlogy(self.d, self.d) - xlogy(self.d, self.y), y)

    def backward(self):
        grad = -self.scale * self.d / self.y
        # one output: y enters the distribution as (1 - y, y), so grad_y = g_1 - g_0
        return grad[:, 1:] - grad[:, :1] if self.binary else grad


def _signed_targets(name, d):
    if not np.all(np.isin(d, (-1.0, 1.0))):
        values = np.unique(d)
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise ValueError(f"{name}: targets must be -1 or +1, got {shown}: {name} is a two-class "
                         f"loss (one output, classes -1/+1); for 0/1 targets use bce_logits, for "
                         f"more classes cross_entropy")


class Hinge(Loss):
    """Hinge loss (1/n) sum max(0, 1 - d y) with d in {-1, +1}; grad = -d [d y < 1] / n.

    ``mean`` (the default) divides by the number of elements n; 002 writes the squared hinge as a
    sum over the samples (``reduction="sum"``)."""

    name = "hinge"
    power = 1

    def prepare_targets(self, d, shape, dtype, name: str = "target d") -> np.ndarray:
        if np.ndim(d) == 1 and shape[1] > 1:
            raise ShapeError(f"{self.name} is a two-class loss (one output, targets -1/+1), got "
                             f"{shape[1]} outputs and one target per row; for {shape[1]} "
                             f"classes use cross_entropy")
        return super().prepare_targets(d, shape, dtype, name)

    def check_target_range(self, d):
        _signed_targets(self.name, d)

    def forward(self, y, d):
        self._require_prepared(y, d)
        self.d, self.margin, self.scale = d, np.maximum(0.0, 1.0 - d * y), self._scale(y)
        return self._reduce(self.margin ** self.power, y)

    def backward(self):
        slope = 1.0 if self.power == 1 else 2.0 * self.margin
        return -self.scale * self.d * (self.margin > 0) * slope


class SquaredHinge(Hinge):
    """Squared hinge (002): (1/n) sum max(0, 1 - d y)^2; grad = -2 d max(0, 1 - d y) / n."""

    name = "squared_hinge"
    power = 2


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (
    MSE, HalfSquaredError, MAE, MSLE, BinaryCrossEntropy, BinaryCrossEntropyWithLogits,
    CrossEntropy, NLL, KLDivergence, Hinge, SquaredHinge)}


def get_loss(name, reduction: str = "mean") -> Loss:
    """A loss by name: mse, half_mse, mae, msle, bce, bce_logits, cross_entropy, nll, kl, hinge,
    squared_hinge."""
    if isinstance(name, Loss):
        return name
    key = str(name).lower().replace("-", "_")
    if key not in LOSSES:
        raise unknown_option("loss", name, LOSSES)
    return LOSSES[key](reduction=reduction)

