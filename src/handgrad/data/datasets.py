"""Data sets as train/validation/test splits, ready for a model.

``load_dataset`` returns a :class:`Dataset` whose features are standardised with statistics fitted
on the training split only, and whose classification targets are class indices 0..C-1 (one-hot rows
are made where a loss needs them, 004's output encoding). Splits are stratified for classification
and drawn from a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handgrad.data import sources
from handgrad.data.preprocessing import Standardizer
from handgrad.errors import unknown_option


@dataclass
class Dataset:
    """Features x (rows are samples) and targets d for each split."""

    name: str
    task: str  # "classification" or "regression"
    x_train: np.ndarray
    d_train: np.ndarray
    x_test: np.ndarray
    d_test: np.ndarray
    x_val: np.ndarray | None = None
    d_val: np.ndarray | None = None
    classes: list = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    target_name: str = "target"
    scaler: Standardizer | None = None
    suggested_loss: str | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_outputs(self) -> int:
        if self.task == "classification":
            return len(self.classes)
        return 1 if self.d_train.ndim == 1 else self.d_train.shape[1]

    def summary(self) -> str:
        val = 0 if self.x_val is None else len(self.x_val)
        kind = (f"{len(self.classes)} classes" if self.task == "classification"
                else "regression")
        return (f"{self.name}: {self.n_features} features, {kind}; "
                f"{len(self.x_train)} train / {val} validation / {len(self.x_test)} test")


def _sklearn_loader(name):
    from sklearn import datasets as skd
    return {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
            "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}[name]


SKLEARN_SETS = {"digits": "classification", "iris": "classification",
                "wine": "classification", "breast_cancer": "classification",
                "diabetes": "regression"}


def load_arrays(name: str, target: str | None = None):
    """(x, d, task, classes, feature_names, target_name) for a named set or a CSV path."""
    loaded = sources.load_scheme(name)  # "idx:IMAGES,LABELS"
    if loaded is not None:
        return loaded
    key = name.lower().replace("-", "_")
    if key in SKLEARN_SETS:
        bunch = _sklearn_loader(key)()
        task = SKLEARN_SETS[key]
        names = [str(n) for n in getattr(bunch, "feature_names", [])] or \
            [f"x{i}" for i in range(bunch.data.shape[1])]
        return bunch.data.astype(np.float64), bunch.target, task, None, names, "target"
    if key in sources.EXTRA_SETS:
        return sources.EXTRA_SETS[key]()
    path = Path(name)
    if path.suffix.lower() == ".csv" or path.exists():
        return sources.load_csv(path, target)
    known = sorted(SKLEARN_SETS) + sorted(sources.EXTRA_SETS) + ["<file.csv>"]
    raise unknown_option("data set", name, known)


def encode_labels(d) -> tuple[np.ndarray, list]:
    """Class indices 0..C-1 and the sorted list of original labels."""
    classes, indices = np.unique(np.asarray(d), return_inverse=True)
    return indices.astype(np.int64), classes.tolist()


# Sets published with their own test split: its size (the last rows), so results compare with the
# publication. MNIST-1D's paper trains on its first 4,000 signals and tests on the last 1,000.
FIXED_TEST_ROWS = {"mnist1d": 1000}

# The loss that makes a ready task what the notes describe (001: "2 vs not 2" is one sigmoid
# output trained with a binary divergence).
SUGGESTED_LOSS = {"digits_2_vs_not_2": "bce"}


def split(x, d, task, test_size, val_size, seed, fixed_test_rows=None):
    """Stratified (for classification) train/validation/test split with a fixed seed; with
    ``fixed_test_rows`` the last rows are the test split and ``val_size`` is a fraction of the
    rest."""
    # Imported here: scikit-learn costs ~0.8 s and ~70 MB, which training alone never needs.
    from sklearn.model_selection import train_test_split

    strat = d if task == "classification" else None
    if fixed_test_rows:
        x_rest, x_test = x[:-fixed_test_rows], x[-fixed_test_rows:]
        d_rest, d_test = d[:-fixed_test_rows], d[-fixed_test_rows:]
        test_size = 0.0
    else:
        x_rest, x_test, d_rest, d_test = train_test_split(
            x, d, test_size=test_size, random_state=seed, stratify=strat)
    if not val_size:
        return (x_rest, d_rest), (None, None), (x_test, d_test)
    strat = d_rest if task == "classification" else None
    x_train, x_val, d_train, d_val = train_test_split(
        x_rest, d_rest, test_size=val_size / (1.0 - test_size), random_state=seed, stratify=strat)
    return (x_train, d_train), (x_val, d_val), (x_test, d_test)


def load_dataset(name: str = "digits", target: str | None = None, *, test_size: float = 0.2,
                 val_size: float = 0.1, seed: int = 0, standardize: bool = True,
                 dtype=np.float32) -> Dataset:
    """A named set (digits, iris, wine, breast_cancer, diabetes, ...) or a CSV file, split and
    standardised. ``target`` names the CSV's target column."""
    if not 0.0 < test_size < 1.0 or not 0.0 <= val_size < 1.0 - test_size:
        raise ValueError(f"need 0 < test_size < 1 and 0 <= val_size < 1 - test_size, "
                         f"got test_size={test_size}, val_size={val_size}")
    x, d, task, classes, features, target_name = load_arrays(name, target)
    if task == "classification":
        d, found = encode_labels(d)
        classes = classes or found
        if len(classes) < 2:
            raise ValueError(f"{name}: the target has a single class ({classes[0]!r}); "
                             "classification needs at least two")
    key = name.lower().replace("-", "_")
    (xt, dt), (xv, dv), (xs, ds) = split(x, d, task, test_size, val_size, seed,
                                         FIXED_TEST_ROWS.get(key))
    scaler = Standardizer().fit(xt) if standardize else None
    prep = (lambda a: a if a is None else scaler.transform(a).astype(dtype)) if scaler else \
        (lambda a: a if a is None else np.asarray(a, dtype=dtype))
    cast_d = (lambda a: a) if task == "classification" else \
        (lambda a: a if a is None else np.asarray(a, dtype=dtype))
    return Dataset(name=sources.short_name(name), task=task, suggested_loss=SUGGESTED_LOSS.get(key),
                   x_train=prep(xt), d_train=cast_d(dt), x_val=prep(xv), d_val=cast_d(dv),
                   x_test=prep(xs), d_test=cast_d(ds), classes=list(classes or []),
                   feature_names=list(features), target_name=target_name, scaler=scaler)
