"""Data sets as train/validation/test splits, ready for a model.

``load_dataset`` returns a :class:`Dataset` whose features are preprocessed with statistics fitted
on the training split only (:class:`~handgrad.data.preprocessing.Preprocessor`: imputation when
asked for, one-hot categories, standardisation), whose classification targets are class indices
0..C-1 (one-hot rows are made where a loss needs them, 004's output encoding), and whose
regression targets come with a :class:`~handgrad.data.preprocessing.TargetScaler` fitted on the
training targets. Splits are stratified for classification and drawn from a fixed seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handgrad.data import columns, sources
from handgrad.data.preprocessing import Frame, Preprocessor, Standardizer, TargetScaler
from handgrad.errors import DataError, OptionError, unknown_option
from handgrad.nn.module import model_dtype
from handgrad.validate import check_bool, check_int, check_option



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
    preprocessor: Preprocessor | None = None
    target_scaler: TargetScaler | None = None
    suggested_loss: str | None = None

    @property
    def scaler(self) -> Standardizer | None:
        """The standardisation of the numeric inputs (None when not standardised)."""
        return None if self.preprocessor is None else self.preprocessor.scaler

    @property
    def input_names(self) -> list[str]:
        """The model's inputs: numeric features, then one per category ("island=Dream")."""
        return self.preprocessor.input_names if self.preprocessor else list(self.feature_names)

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_outputs(self) -> int:
        if self.task == "classification":
            return len(self.classes)
        return 1 if self.d_train.ndim == 1 else self.d_train.shape[1]

    def scaled_targets(self):
        """(d_train, d_val, d_test, target_scale): regression targets standardised for training
        (train and validation, in the features' dtype), the test targets in their own units, and
        the scaling {"mean", "std"} that turns predictions back into those units. For
        classification: the targets unchanged and None."""
        if self.target_scaler is None:
            return self.d_train, self.d_val, self.d_test, None
        scale = (lambda d: None if d is None else
                 self.target_scaler.transform(d).astype(self.x_train.dtype))
        return scale(self.d_train), scale(self.d_val), self.d_test, self.target_scaler.state()

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


def data_key(name) -> str:
    return str(name).lower().replace("-", "_")


def is_named_set(name) -> bool:
    """A bundled or generated set (digits, iris, mnist1d, body, ...), not a file."""
    return not isinstance(name, Path) and (data_key(name) in SKLEARN_SETS or
                                           data_key(name) in sources.EXTRA_SETS)


def load_raw(name, target: str | None = None, encoding: str | None = None):
    """(frame, d, task, classes, feature_names, target_name) of a data name or file, before any
    split or preprocessing; ``frame`` is a :class:`Frame` of raw feature columns."""
    if not isinstance(name, (str, Path)):
        raise OptionError(f"invalid data: {name!r} (expected a data set name or a file path)")
    if isinstance(name, str):
        loaded = sources.load_scheme(name)  # "idx:IMAGES,LABELS"
        if loaded is not None:
            return _as_frame(loaded, name)
    key = data_key(name)
    if is_named_set(name):
        if key in SKLEARN_SETS:
            bunch = _sklearn_loader(key)()
            names = [str(n) for n in getattr(bunch, "feature_names", [])] or \
                [f"x{i}" for i in range(bunch.data.shape[1])]
            loaded = (bunch.data.astype(np.float64), bunch.target, SKLEARN_SETS[key], None, names,
                      "target")
        else:
            loaded = sources.EXTRA_SETS[key]()
        if target is not None and target != loaded[5]:
            raise OptionError(f"invalid target: {target!r} ({name} has a fixed target "
                              f"{loaded[5]!r}; --target chooses a column of a CSV or Parquet "
                              "file)")
        return _as_frame(loaded, str(name))
    path = Path(name)
    if isinstance(name, Path) or path.exists() or path.suffix.lower() in sources.FILE_SUFFIXES:
        return columns.load_table(path, target, encoding)
    known = sorted(SKLEARN_SETS) + sorted(sources.EXTRA_SETS) + ["<file.csv>", "<file.parquet>",
                                                                  "idx:IMAGES,LABELS"]
    raise unknown_option("data set", name, known)


def _as_frame(loaded, source: str):
    x, d, task, classes, names, target_name = loaded
    return Frame.from_array(x, names, source), d, task, classes, names, target_name


def load_arrays(name, target: str | None = None, encoding: str | None = None):
    """(x, d, task, classes, feature_names, target_name) with x a float64 array: for data whose
    features are all numeric and complete (a bundled set, a numeric CSV)."""
    frame, d, task, classes, names, target_name = load_raw(name, target, encoding)
    if frame.categorical_names:
        raise DataError(f"{frame.source}: column(s) {frame.categorical_names} hold categories; "
                        "load_arrays gives numbers only (use load_dataset)")
    frame.refuse_missing()
    return frame.numeric, d, task, classes, names, target_name


def encode_labels(d) -> tuple[np.ndarray, list]:
    """Class indices 0..C-1 and the sorted list of original labels."""
    classes, indices = np.unique(np.asarray(d), return_inverse=True)
    return indices.astype(np.int64), classes.tolist()


def class_indices(d, classes, source) -> tuple[np.ndarray, list]:
    """(indices, class names): a loader's labels as indices 0..C-1. Labels with class names from
    the loader already index them; others are encoded as their sorted distinct values."""
    if not classes:
        return encode_labels(d)
    d = np.asarray(d)
    if d.dtype.kind not in "iu":  # labels by name (the body set's "F"/"M")
        lookup = {str(c): k for k, c in enumerate(classes)}
        unknown = sorted({str(v) for v in np.unique(d)} - set(lookup))
        if unknown:
            raise DataError(f"{source}: label(s) {unknown[:5]} are not among the classes "
                            f"{list(classes)}")
        uniques, inverse = np.unique(d, return_inverse=True)
        return np.array([lookup[str(u)] for u in uniques], np.int64)[inverse], list(classes)
    d = d.astype(np.int64)
    if len(d) and (d.min() < 0 or d.max() >= len(classes)):
        raise DataError(f"{source}: class index {int(d.min() if d.min() < 0 else d.max())} is "
                        f"outside 0..{len(classes) - 1} ({len(classes)} class names)")
    return d, list(classes)


# Sets published with their own test split: its size (the last rows), so results compare with the
# publication. MNIST-1D's paper trains on its first 4,000 signals and tests on the last 1,000.
FIXED_TEST_ROWS = {"mnist1d": 1000}

# The loss that makes a ready task what the notes describe (001: "2 vs not 2" is one sigmoid
# output trained with a binary divergence).
SUGGESTED_LOSS = {"digits_2_vs_not_2": "bce"}


def check_sizes(test_size, val_size) -> tuple[float, float]:
    test_size = check_option("test_size", test_size, 0.0, 1.0, low_open=True, high_open=True)
    val_size = check_option("val_size", val_size, 0.0, 1.0, high_open=True)
    if val_size >= 1.0 - test_size:
        raise OptionError(f"invalid val_size: {val_size!r} (expected less than 1 - test_size = "
                          f"{1.0 - test_size:g}, so training keeps some rows)")
    return test_size, val_size


def split(x, d, task, test_size, val_size, seed, fixed_test_rows=None, classes=None,
          source="data"):
    """Stratified (for classification) train/validation/test split with a fixed seed; with
    ``fixed_test_rows`` the last rows are the test split and ``val_size`` is a fraction of the
    rest. ``x`` may be an array or a :class:`Frame`; too few rows (per class) is a DataError."""
    index = np.arange(len(d))
    rest, test = split_rows(index, d, task, test_size, seed, fixed_test_rows, classes, source,
                            f"test split (--test-size {test_size:g})")
    if not val_size:
        train, val = rest, None
    else:
        fraction = val_size / (1.0 - (0.0 if fixed_test_rows else test_size))
        train, val = split_rows(rest, d[rest], task, fraction, seed, None, classes, source,
                                f"validation split (--val-size {val_size:g})")
    take = (lambda rows: None if rows is None else
            (x.take(rows) if isinstance(x, Frame) else x[rows]))
    pick = (lambda rows: None if rows is None else d[rows])
    return (take(train), pick(train)), (take(val), pick(val)), (take(test), pick(test))


def split_rows(index, d, task, size, seed, fixed, classes, source, what):
    """(kept, held out) row indices: ``size`` of them held out, stratified for classes.
    ``what`` names the split and its option for messages."""
    from sklearn.model_selection import train_test_split

    if fixed:
        return index[:-fixed], index[-fixed:]
    n = len(index)
    held = math.ceil(size * n)
    if n - held < 1 or held < 1:
        raise DataError(f"{source}: {n} rows are too few for a {what}: it would leave "
                        f"{max(n - held, 0)} rows for training and {held} held out; add rows or "
                        "change the size")
    if task != "classification":
        kept, out = train_test_split(index, test_size=size, random_state=seed)
        return kept, out
    labels, counts = np.unique(d, return_counts=True)
    lone = labels[counts < 2]
    if len(lone):
        name = _class_name(lone[0], classes)
        raise DataError(f"{source}: class {name!r} has only 1 row {_left(what)}; a stratified "
                        f"{what} needs at least 2 rows of every class, one to train on and one "
                        "to hold out: add rows of that class or remove it")
    if held < len(labels) or n - held < len(labels):
        raise DataError(f"{source}: a {what} holds out {held} of {n} rows, keeping {n - held}; "
                        f"a stratified split needs at least one row of each of the "
                        f"{len(labels)} classes on both sides: change the size or add rows")
    kept, out = train_test_split(index, test_size=size, random_state=seed, stratify=d)
    return kept, out


def _left(what: str) -> str:
    return "left after the test split" if what.startswith("validation") else "in the data"


def _class_name(label, classes):
    if classes and isinstance(label, (int, np.integer)) and 0 <= label < len(classes):
        return str(classes[label])
    return str(label)


def load_dataset(name="digits", target: str | None = None, *, test_size: float = 0.2,
                 val_size: float = 0.1, seed: int = 0, standardize: bool = True,
                 dtype=np.float32, impute: str | None = None,
                 encoding: str | None = None) -> Dataset:
    """A named set (digits, iris, wine, breast_cancer, diabetes, ...) or a CSV/Parquet file (a
    str or a Path), split and preprocessed. ``target`` names a file's target column; ``impute``
    (None, "mean", "median", "most_frequent") fills missing feature values, which are otherwise
    an error; ``encoding`` is a file's text encoding (default UTF-8). The features are in
    ``dtype``; regression targets stay float64 in their own units (``scaled_targets`` gives them
    standardised in ``dtype`` for training): in float32 a target near 1e7 is rounded to whole
    units, and the test metrics would be measured against the rounded values."""
    test_size, val_size = check_sizes(test_size, val_size)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    standardize = check_bool("standardize", standardize)
    dtype = model_dtype(dtype)  # the model's dtypes: float32 or float64
    prep = Preprocessor(impute, standardize)
    frame, d, task, classes, features, target_name = load_raw(name, target, encoding)
    if not frame.names:
        raise DataError(f"{frame.source}: has no feature columns")
    if impute is None:
        frame.refuse_missing()
    if task == "classification":
        d, classes = class_indices(d, classes, frame.source)
        if len(classes) < 2:
            raise DataError(f"{frame.source}: the target {target_name!r} has a single class "
                            f"({classes[0]!r}); classification needs at least two")
    key = data_key(name) if is_named_set(name) else None
    (ft, dt), (fv, dv), (fs, ds) = split(frame, d, task, test_size, val_size, seed,
                                         FIXED_TEST_ROWS.get(key), classes, frame.source)
    prep.fit(ft)
    prep_x = (lambda f: None if f is None else prep.transform(f, dtype))
    target_scaler = None
    if task == "regression":
        target_scaler = TargetScaler.fit(dt)
        dt, dv, ds = (None if a is None else np.asarray(a, dtype=np.float64) for a in (dt, dv, ds))
    return Dataset(name=sources.short_name(name), task=task, suggested_loss=SUGGESTED_LOSS.get(key),
                   x_train=prep_x(ft), d_train=dt, x_val=prep_x(fv), d_val=dv,
                   x_test=prep_x(fs), d_test=ds, classes=list(classes or []),
                   feature_names=prep.feature_names, target_name=target_name,
                   preprocessor=prep, target_scaler=target_scaler)


