"""Readers for data that does not come bundled with scikit-learn: CSV files (and more)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

# name -> loader returning (x, d, task, classes, feature_names, target_name)
EXTRA_SETS: dict[str, callable] = {}


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_csv(path, target: str | None):
    """A CSV with a header row. Feature columns must be numeric and complete; the target column is
    numeric (regression) or labels (classification: strings, or integers with few distinct values).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"CSV file not found: {path}")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if target is None:
        target = header[-1]
    if target not in header:
        raise ValueError(f"{path}: target column {target!r} not found; columns are {header}")
    t = header.index(target)
    for line_no, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line_no} has {len(row)} fields, header has {len(header)}")
        for j, cell in enumerate(row):
            if cell.strip() == "":
                raise ValueError(f"{path}: missing value in column {header[j]!r} at line {line_no}")
            if j != t and not _is_number(cell):
                raise ValueError(f"{path}: column {header[j]!r} is not numeric "
                                 f"({cell!r} at line {line_no}); features must be numbers")
    features = [h for j, h in enumerate(header) if j != t]
    x = np.array([[float(c) for j, c in enumerate(r) if j != t] for r in body], dtype=np.float64)
    labels = [r[t].strip() for r in body]
    numeric = all(_is_number(v) for v in labels)
    if numeric:
        values = np.array([float(v) for v in labels])
        integer_like = np.all(values == np.round(values)) and len(np.unique(values)) <= 20
        if not integer_like:
            return x, values, "regression", None, features, target
        return x, values.astype(np.int64), "classification", None, features, target
    return x, np.array(labels), "classification", None, features, target
