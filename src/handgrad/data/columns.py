"""A table's columns as a data set: the target, numeric features and categorical features.

Rules (docs/data-and-cli.md, "Files"):

* The target (``--target``, default the last column): rows where it is missing are dropped with a
  :class:`DataWarning` naming how many and where. Numbers are regression unless they are whole
  numbers with at most 20 distinct values (classification); text is class labels.
* A feature column whose values are all numbers is numeric; one with no numbers at all is
  categorical (one-hot encoded); one that mixes numbers and text is an error naming both, since a
  stray word in a numeric column must not turn it into hundreds of categories.
* A text column with more than 20 distinct values, more than half its rows, is an identifier or
  free text, not a category: an error asks to remove it.
* scikit-learn's counted CSVs (``150,4,setosa,versicolor,virginica`` then rows of numbers and a
  class index) are read as such: features ``x0..``, target ``target``, the count line's classes.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from handgrad.data.preprocessing import Categorical, DataWarning, Frame
from handgrad.data.tables import Table, read_table
from handgrad.errors import DataError

MAX_CLASS_VALUES = 20  # whole-number targets with at most this many values are class labels
# 1,5 (a decimal comma) or 1,000,000.5 (thousands separators): numbers as text
COMMA_NUMBER = re.compile(r"^[+-]?\d+(,\d+)+(\.\d+)?$")


def load_table(path, target: str | None = None, encoding: str | None = None):
    """(frame, d, task, classes, feature_names, target_name) of a CSV or Parquet file."""
    table = read_table(path, encoding)
    if table.counted is not None:
        return _counted(table, target)
    if target is None:
        target = table.names[-1]
    if target not in table.names:
        raise DataError(f"{table.path}: target column {target!r} not found; columns are "
                        f"{table.names}")
    features = [n for n in table.names if n != target]
    if not features:
        raise DataError(f"{table.path}: has no feature columns, only the target {target!r}; "
                        "a data set needs at least one column besides the target")
    d, keep = _target_values(table, target)
    frame = table_frame(table, features, identifiers=True)
    if keep is not None:
        frame, d = frame.take(keep), d[keep]
    task, d, classes = target_task(d)
    return frame, d, task, classes, features, target


def _counted(table: Table, target):
    n_samples, n_features, classes = table.counted
    path = table.path
    if target not in (None, "target"):
        raise DataError(f"{path} is in scikit-learn's counted format (first line "
                        f"'{n_samples},{n_features},{','.join(classes)}'), whose target is its "
                        f"last column 'target'; there is no column {target!r}")
    if table.n_rows != n_samples:
        raise DataError(f"{path}: the count line says {n_samples} rows, the file has "
                        f"{table.n_rows}; is the first line really a header?")
    d = table.columns["target"]
    if isinstance(d, Categorical):
        d = _numbers(d)
    bad = ~np.isfinite(d) | (d != np.round(d)) | (d < 0) | (d >= len(classes))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(f"{path} (scikit-learn's counted format, classes {classes}): the target "
                        f"must be a class index 0..{len(classes) - 1}, got {d[rows[0]]:g} at "
                        f"{table.where(rows)}")
    names = table.names[:-1]
    frame = table_frame(table, names)
    return frame, d.astype(np.int64), "classification", list(classes), names, "target"


def _target_values(table: Table, target: str):
    """The target column, and the rows to keep when some lack a target (None: keep all)."""
    d = table.columns[target]
    if isinstance(d, Categorical):
        missing = d.codes < 0
    else:
        missing = np.isnan(d)
        if np.isinf(d).any():
            rows = np.flatnonzero(np.isinf(d))
            raise DataError(f"{table.path}: target column {target!r} holds {d[rows[0]]} at "
                            f"{table.where(rows)}; targets must be finite")
    if not missing.any():
        return d, None
    rows = np.flatnonzero(missing)
    if len(rows) == len(d):
        raise DataError(f"{table.path}: target column {target!r} has no values")
    warnings.warn(DataWarning(f"{table.path}: dropped {len(rows)} row(s) whose target {target!r} "
                              f"is missing ({table.where(rows)})"), stacklevel=5)
    return d, np.flatnonzero(~missing)


def target_task(d):
    """(task, targets, classes): text labels and whole numbers with few values are classes
    (text: indices into the sorted labels, which are the classes; numbers: the numbers)."""
    if isinstance(d, Categorical):
        classes = sorted(d.present_values())
        rank = np.array([classes.index(v) if v in classes else -1 for v in d.values] + [-1])
        return "classification", rank[d.codes], classes
    whole = np.all(d == np.round(d))
    if whole and len(np.unique(d)) <= MAX_CLASS_VALUES:
        return "classification", d.astype(np.int64), None
    return "regression", d, None


def table_frame(table: Table, names: list[str], identifiers: bool = False) -> Frame:
    """The named columns as a Frame: numbers, or categories when a column holds only text."""
    numeric_names, numeric, cat_names, cats = [], [], [], []
    for name in names:
        kind, column = column_kind(table, name, table.columns[name], identifiers)
        if kind == "numeric":
            numeric_names.append(name)
            numeric.append(column)
        else:
            cat_names.append(name)
            cats.append(column)
    x = np.column_stack(numeric) if numeric else np.empty((table.n_rows, 0))
    return Frame(numeric_names, x, cat_names, cats, source=str(table.path),
                 where_rows=table.where)


def column_kind(table: Table, name: str, column, identifiers: bool = False):
    """("numeric", float64 column) or ("categorical", Categorical), or a DataError."""
    if not isinstance(column, Categorical):
        if np.isinf(column).any():
            rows = np.flatnonzero(np.isinf(column))
            raise DataError(f"{table.path}: column {name!r} holds {column[rows[0]]} at "
                            f"{table.where(rows)}; features must be finite")
        return "numeric", column
    numbers = as_numbers(column.values)
    is_number = ~np.isnan(numbers)
    if is_number.all() and len(column.values):
        return column_kind(table, name, _numbers(column, numbers))
    if is_number.any():
        text = _first_row(column, ~is_number)
        num = _first_row(column, is_number)
        raise DataError(f"{table.path}: column {name!r} mixes numbers ({column.text(num)!r} at "
                        f"{table.where([num])}) and text ({column.text(text)!r} at "
                        f"{table.where([text])}); a feature is numbers or categories, not both: "
                        "fix the value(s)")
    values = column.values
    if values and all(COMMA_NUMBER.match(v) for v in values[:1000]):
        first = _first_row(column, np.ones(len(values), bool))
        raise DataError(f"{table.path}: column {name!r} holds numbers written with a comma "
                        f"({column.text(first)!r} at {table.where([first])}); handgrad reads "
                        "numbers with '.' as the decimal point and no thousands separators: save "
                        "the file so")
    if identifiers:
        distinct, rows = len(values), int((column.codes >= 0).sum())
        if distinct > MAX_CLASS_VALUES and distinct > rows / 2:
            raise DataError(f"{table.path}: column {name!r} has {distinct} distinct text values "
                            f"in {rows} rows: an identifier or free text, not a category; "
                            "remove the column")
    return "categorical", column


def _first_row(column: Categorical, which_values: np.ndarray) -> int:
    """The first row holding one of the values marked in ``which_values``."""
    marked = np.append(which_values, False)  # code -1 (missing) is never marked
    return int(np.flatnonzero(marked[column.codes])[0])


def _numbers(column: Categorical, numbers=None) -> np.ndarray:
    numbers = as_numbers(column.values) if numbers is None else numbers
    return np.append(numbers, np.nan)[column.codes]


def as_numbers(texts) -> np.ndarray:
    """float64 of each text, NaN where it is not a number."""
    import pandas as pd

    return pd.to_numeric(pd.Series(list(texts), dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)


def read_features(path, numeric: list[str], categorical: list[str],
                  encoding: str | None = None) -> Frame:
    """The columns a model needs from a CSV or Parquet file (others are ignored), typed as the
    model was trained: numeric columns must hold numbers, categorical ones are read as text."""
    table = read_table(path, encoding)
    if table.counted is not None:
        table.names = table.names[:-1]  # the counted format's last column is its target
    return select(table_frame(table, [n for n in numeric + categorical if n in table.names]),
                  numeric, categorical, table.names)


def select(frame: Frame, numeric: list[str], categorical: list[str], available=None) -> Frame:
    """The frame's columns in the model's order and kinds, by name."""
    available = frame.names if available is None else available
    wanted = numeric + categorical
    missing = [n for n in wanted if n not in available]
    if missing:
        raise DataError(f"{frame.source}: lacks the model's feature column(s) {missing[:5]}"
                        f"{' ...' if len(missing) > 5 else ''}; the model needs {len(wanted)} "
                        f"columns: {wanted[:8]}{' ...' if len(wanted) > 8 else ''}")
    columns = {n: frame.numeric[:, j] for j, n in enumerate(frame.numeric_names)}
    columns.update(zip(frame.categorical_names, frame.categorical))
    x = np.empty((len(frame), len(numeric)))
    for j, name in enumerate(numeric):
        column = columns[name]
        if isinstance(column, Categorical):
            row = _first_row(column, np.ones(len(column.values), bool))
            raise DataError(f"{frame.source}: column {name!r} must be numeric (the model was "
                            f"trained on numbers) but holds text ({column.text(row)!r} at "
                            f"{frame.where([row])})")
        x[:, j] = column
    cats = [as_categorical(columns[name]) for name in categorical]
    return Frame(list(numeric), x, list(categorical), cats, frame.source, frame.origin,
                 frame.where_rows)


def as_categorical(column) -> Categorical:
    """A categorical column; numbers (numeric-looking categories in new data) become the text
    a CSV writes for them: 3.0 as '3'."""
    if isinstance(column, Categorical):
        return column
    import pandas as pd

    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return Categorical(codes, [str(int(v)) if float(v).is_integer() else repr(float(v))
                               for v in uniques])
