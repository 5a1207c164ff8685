"""Preprocessing fitted on the training split only, so no test information leaks into training.

Raw features arrive as a :class:`Frame`: numeric columns (float64, NaN where a value is missing)
and categorical columns (:class:`Categorical`: text as codes, -1 where missing). A
:class:`Preprocessor` turns them into the model's input x, with every statistic taken from the
training rows:

    numeric column j:       x_j = (fill_j(v) - mean_j) / std_j        (Standardizer)
    categorical column c:   one 0/1 input per training category of c  (one-hot, 004's encoding)

``fill_j`` replaces a missing value by the column's training mean, median or most frequent value
when imputation is asked for (``impute=``, scikit-learn's SimpleImputer strategies); without it a
missing value is an error naming the column and the rows. A categorical column's missing values
take its most frequent training category whatever the strategy (a mean of categories does not
exist). A category never seen in training is encoded as all zeros (scikit-learn's
``OneHotEncoder(handle_unknown="ignore")``) with a :class:`DataWarning`: the model then sees none
of the column's categories, its prediction rests on the other columns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from handgrad.errors import DataError, NonFiniteError, OptionError, ShapeError
from handgrad.validate import check_choice

IMPUTE_CHOICES = ("mean", "median", "most_frequent")


class DataWarning(UserWarning):
    """Data that was used, but not exactly as given (rows dropped, categories unseen)."""


# --- raw feature columns --------------------------------------------------------------------------
def _row_numbers(rows) -> str:
    rows = np.asarray(rows)
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(str(int(r) + 1) for r in rows[:5])}{more}"


class Categorical:
    """A text column as codes into its distinct values: ``values[codes[i]]`` is row i's text,
    code -1 a missing value. Rows are taken, compared and counted through the few distinct values
    instead of a Python string per row."""

    def __init__(self, codes: np.ndarray, values):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.values = [str(v) for v in values]

    @classmethod
    def from_texts(cls, texts) -> "Categorical":
        """From text per row, None (or '') where missing; values are stripped."""
        import pandas as pd

        codes, uniques = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=True)
        return cls(codes, [str(u) for u in uniques]).stripped()

    def stripped(self) -> "Categorical":
        """Values without surrounding spaces (' a' and 'a' become one), '' missing."""
        clean = [v.strip() for v in self.values]
        if clean == self.values and "" not in clean:
            return self
        merged: dict[str, int] = {}
        remap = np.array([merged.setdefault(v, len(merged)) if v else -1 for v in clean] + [-1],
                         dtype=np.int64)
        return Categorical(remap[self.codes], list(merged))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows) -> "Categorical":
        return Categorical(self.codes[rows], self.values)

    def text(self, i: int):
        code = self.codes[i]
        return None if code < 0 else self.values[code]

    def texts(self) -> np.ndarray:
        """Text per row (None where missing) as an object array."""
        lookup = np.array(self.values + [None], dtype=object)
        return lookup[self.codes]

    def missing(self) -> np.ndarray:
        return np.flatnonzero(self.codes < 0)

    def counts(self) -> np.ndarray:
        """How many rows hold each value."""
        present = self.codes[self.codes >= 0]
        return np.bincount(present, minlength=len(self.values))

    def present_values(self) -> list[str]:
        return [v for v, n in zip(self.values, self.counts()) if n]

    def index_in(self, categories: list[str]) -> np.ndarray:
        """Each row's index in ``categories``: -1 for a value not among them, -2 if missing."""
        lookup = {c: i for i, c in enumerate(categories)}
        per_value = np.array([lookup.get(v, -1) for v in self.values] + [-2], dtype=np.int64)
        return per_value[self.codes]


@dataclass
class Frame:
    """Raw feature columns of some rows: numbers (n, k) and categories (text per row).

    ``origin`` are the rows' indices in the source and ``where_rows`` turns such indices into
    words for messages ("lines 4, 9" for a CSV file).
    """

    numeric_names: list[str]
    numeric: np.ndarray
    categorical_names: list[str] = field(default_factory=list)
    categorical: list[Categorical] = field(default_factory=list)
    source: str = "data"
    origin: np.ndarray | None = None
    where_rows: object = _row_numbers

    def __post_init__(self):
        if self.origin is None:
            self.origin = np.arange(len(self.numeric), dtype=np.int64)

    @classmethod
    def from_array(cls, x: np.ndarray, names: list[str], source: str = "data") -> "Frame":
        return cls(list(names), np.asarray(x, dtype=np.float64), source=source)

    @property
    def names(self) -> list[str]:
        return self.numeric_names + self.categorical_names

    def __len__(self) -> int:
        return len(self.numeric)

    def take(self, rows) -> "Frame":
        return Frame(self.numeric_names, self.numeric[rows], self.categorical_names,
                     [c[rows] for c in self.categorical], self.source, self.origin[rows],
                     self.where_rows)

    def where(self, rows) -> str:
        """Words for rows of this frame ("lines 4, 9"), from their origin in the source."""
        return self.where_rows(self.origin[np.asarray(rows, dtype=np.int64)])

    def missing(self) -> list[tuple[str, np.ndarray]]:
        """(column, rows with a missing value) for each column that has any."""
        out = []
        if self.numeric.size:
            gaps = np.isnan(self.numeric)
            for j in np.flatnonzero(gaps.any(axis=0)):
                out.append((self.numeric_names[j], np.flatnonzero(gaps[:, j])))
        for name, column in zip(self.categorical_names, self.categorical):
            rows = column.missing()
            if len(rows):
                out.append((name, rows))
        return out

    def refuse_missing(self, hint: str = "fill them with --impute mean|median|most_frequent "
                                          "(impute= in load_dataset) or remove those rows") -> None:
        gaps = self.missing()
        if not gaps:
            return
        every = np.unique(np.concatenate([rows for _, rows in gaps]))
        columns = ", ".join(f"{name!r} ({len(rows)})" for name, rows in gaps[:6])
        raise DataError(f"{self.source}: missing values in column(s) {columns}, at "
                        f"{self.where(every)}; {hint}")


# --- the notes' preprocessing ---------------------------------------------------------------------
class Standardizer:
    """x' = (x - mean) / std per feature; constant features get std 1 (they stay at 0)."""

    def fit(self, x: np.ndarray) -> "Standardizer":
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ShapeError(f"Standardizer.fit: x must be 2-D (rows are samples), got shape "
                             f"{x.shape}")
        if len(x) == 0:
            raise DataError("Standardizer.fit: x has zero rows; statistics need at least one")
        if not np.isfinite(x).all():
            rows, cols = np.nonzero(~np.isfinite(x))
            raise NonFiniteError(f"Standardizer.fit: x holds {len(rows)} NaN or inf value(s), "
                                 f"the first at row {rows[0]}, column {cols[0]}; impute or drop "
                                 "them first")
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            width = x.shape[1] if x.ndim == 2 else f"shape {x.shape}"
            raise ShapeError(f"Standardizer.transform: fitted on {len(self.mean)} features, got "
                             f"{width}")
        return (x - self.mean) / self.std

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """x = x' std + mean: values back in their original units."""
        return np.asarray(x, dtype=np.float64) * self.std + self.mean

    def state(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict) -> "Standardizer":
        scaler = cls()
        scaler.mean = np.atleast_1d(np.asarray(state["mean"], dtype=np.float64))
        scaler.std = np.atleast_1d(np.asarray(state["std"], dtype=np.float64))
        return scaler


class TargetScaler:
    """A regression target standardised for training, d' = (d - mean) / std (scikit-learn's
    TransformedTargetRegressor with a StandardScaler); predictions come back as y std + mean."""

    def __init__(self, mean: float, std: float):
        self.mean, self.std = float(mean), float(std)

    @classmethod
    def fit(cls, d: np.ndarray) -> "TargetScaler":
        d = np.asarray(d, dtype=np.float64)
        std = float(d.std()) if len(d) else 0.0
        return cls(float(d.mean()) if len(d) else 0.0, std if std > 0 else 1.0)

    def transform(self, d: np.ndarray) -> np.ndarray:
        return (np.asarray(d, dtype=np.float64) - self.mean) / self.std

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) * self.std + self.mean

    def state(self) -> dict:
        return {"mean": self.mean, "std": self.std}


def most_frequent(values: np.ndarray):
    """The most frequent value; among ties the smallest (scikit-learn's SimpleImputer)."""
    uniques, counts = np.unique(values, return_counts=True)
    return uniques[np.argmax(counts)]


def most_frequent_value(column: Categorical) -> str:
    """The most frequent text; among ties the smallest (as SimpleImputer)."""
    counts = column.counts()
    top = counts.max()
    return min(v for v, n in zip(column.values, counts) if n == top)


def fill_value(column: np.ndarray, strategy: str) -> float:
    present = column[~np.isnan(column)]
    if strategy == "mean":
        return float(present.mean())
    if strategy == "median":
        return float(np.median(present))
    return float(most_frequent(present))


class Preprocessor:
    """Raw feature columns -> the model's input x (see the module docstring), fitted on the
    training rows only. ``impute``: None or one of :data:`IMPUTE_CHOICES`."""

    def __init__(self, impute: str | None = None, standardize: bool = True):
        if impute is not None:
            check_choice("impute", impute, IMPUTE_CHOICES)
        self.impute, self.standardize = impute, standardize
        self.numeric_names: list[str] = []
        self.categories: list[tuple[str, list[str]]] = []
        self.fill_numeric = self.fill_categorical = self.scaler = None

    @property
    def feature_names(self) -> list[str]:
        """The raw columns the model needs, numeric then categorical."""
        return self.numeric_names + [name for name, _ in self.categories]

    @property
    def input_names(self) -> list[str]:
        """The model's inputs: the numeric columns, then one per category ("island=Dream")."""
        return self.numeric_names + [f"{name}={c}" for name, cats in self.categories
                                     for c in cats]

    def fit(self, frame: Frame) -> "Preprocessor":
        if len(frame) == 0:
            raise DataError(f"{frame.source}: no training rows to fit the preprocessing on")
        self.numeric_names = list(frame.numeric_names)
        if self.impute is None:
            frame.refuse_missing()
        else:
            self._fit_fill(frame)
        self.categories = []
        for name, column, fill in zip(frame.categorical_names, frame.categorical,
                                      self.fill_categorical or [None] * len(frame.categorical)):
            self.categories.append((name, sorted(set(column.present_values()) | (
                {fill} if fill is not None else set()))))
        if self.standardize and self.numeric_names:
            self.scaler = Standardizer().fit(self._filled(frame))
        return self

    def _fit_fill(self, frame: Frame) -> None:
        for name, rows in frame.missing():
            if len(rows) == len(frame):
                raise DataError(f"{frame.source}: column {name!r} has no values in the training "
                                "rows, so there is nothing to impute from; drop the column")
        self.fill_numeric = np.array([fill_value(frame.numeric[:, j], self.impute)
                                      for j in range(frame.numeric.shape[1])])
        self.fill_categorical = [most_frequent_value(c) for c in frame.categorical]

    def _filled(self, frame: Frame) -> np.ndarray:
        x = frame.numeric
        if self.fill_numeric is not None and np.isnan(x).any():
            x = np.where(np.isnan(x), self.fill_numeric, x)
        return x

    def transform(self, frame: Frame, dtype=np.float64) -> np.ndarray:
        """The model's input for the frame's rows (its columns already in this order)."""
        if self.impute is None:
            frame.refuse_missing("the model was trained without imputation (--impute): fill "
                                 "them or remove those rows")
        x = self._filled(frame)
        if self.scaler is not None:
            x = self.scaler.transform(x)
        blocks = [x] + [self._one_hot(frame, k) for k in range(len(self.categories))]
        return np.concatenate(blocks, axis=1).astype(dtype, copy=False) if len(blocks) > 1 \
            else x.astype(dtype, copy=False)

    def _one_hot(self, frame: Frame, k: int) -> np.ndarray:
        name, cats = self.categories[k]
        column = frame.categorical[k]
        index = column.index_in(cats)
        if self.fill_categorical is not None:
            index[index == -2] = cats.index(self.fill_categorical[k])
        unseen = np.flatnonzero(index == -1)
        if len(unseen):
            warnings.warn(DataWarning(
                f"{frame.source}: column {name!r} holds {len(unseen)} value(s) never seen in "
                f"training ({column.text(unseen[0])!r} at {frame.where(unseen[:1])}); they are "
                f"encoded as none of its categories {cats[:8]}"), stacklevel=3)
        rows = np.zeros((len(column), len(cats)))
        seen = np.flatnonzero(index >= 0)
        rows[seen, index[seen]] = 1.0
        return rows

    # --- the model file's metadata (JSON + arrays) ---
    def state(self) -> dict:
        return {"numeric": list(self.numeric_names),
                "categorical": [[name, list(cats)] for name, cats in self.categories],
                "impute": self.impute,
                "fill_numeric": None if self.fill_numeric is None else
                [float(v) for v in self.fill_numeric],
                "fill_categorical": self.fill_categorical,
                "unknown_category": "zeros"}

    @classmethod
    def from_state(cls, state: dict, scaler: dict | None) -> "Preprocessor":
        prep = cls(state.get("impute"), standardize=scaler is not None)
        prep.numeric_names = [str(n) for n in state["numeric"]]
        prep.categories = [(str(name), [str(c) for c in cats])
                           for name, cats in state["categorical"]]
        if state.get("fill_numeric") is not None:
            prep.fill_numeric = np.atleast_1d(np.asarray(state["fill_numeric"], np.float64))
        if state.get("fill_categorical") is not None:
            prep.fill_categorical = [str(c) for c in state["fill_categorical"]]
        prep.scaler = Standardizer.from_state(scaler) if scaler is not None else None
        return prep

    @classmethod
    def numeric_only(cls, names: list[str], scaler: dict | None) -> "Preprocessor":
        """A model file written before categorical columns: every feature numeric."""
        return cls.from_state({"numeric": names, "categorical": []}, scaler)


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    """Class indices as one-hot rows (004: the output encoding for multi-class problems).

    Indices must be whole numbers in 0..n_classes-1: -1 would silently mark the last class."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ShapeError(f"one_hot: labels must be 1-D, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        whole = labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and \
            np.array_equal(labels, np.floor(labels))
        if not whole:
            bad = labels[0] if labels.dtype.kind != "f" else \
                labels[~np.isfinite(labels) | (labels != np.floor(labels))][0]
            raise DataError(f"one_hot: labels must be whole class indices, got {bad!r} "
                            f"(dtype {labels.dtype})")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise DataError(f"one_hot: label {int(bad)} is outside 0..{n_classes - 1} "
                        f"({n_classes} classes)")
    rows = np.zeros((len(labels), n_classes), dtype=dtype)
    rows[np.arange(len(labels)), labels] = 1.0
    return rows


def minibatches(n: int, batch_size: int, rng: np.random.Generator | None, shuffle: bool = True):
    """Index slices of one epoch: a fresh permutation from ``rng`` when shuffling.

    Returns (order, slices): the trainer gathers ``x[order]`` once per epoch, after which every
    mini-batch is a contiguous view, not a copy.
    """
    if batch_size < 1:
        raise OptionError(f"invalid batch_size: {batch_size!r} (expected an integer >= 1)")
    order = rng.permutation(n) if shuffle else np.arange(n)
    slices = [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if batch_size > 1 and len(slices) > 1 and n % batch_size == 1:
        # A last batch of one sample has no batch statistics (batch norm): it joins the one before.
        slices[-2:] = [slice(slices[-2].start, n)]
    return order, slices
