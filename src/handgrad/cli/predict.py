"""``handgrad predict MODEL INPUT.csv [--out predictions.csv]``: predictions for new rows.

INPUT.csv needs a header row naming at least the model's feature columns (any order; other
columns, such as an id or the target, are ignored). The output has one row per input row, in
order: ``prediction`` (the class name, or the value for regression, on the target's original
scale) and, for classification, ``p_<class>`` for each class, the model's probability of it.
The file is written atomically.
"""

from __future__ import annotations

import argparse
import csv
import io as text_io
from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.cli.evaluate import SavedModel
from handgrad.data.sources import read_feature_csv


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="write a saved model's predictions for a CSV file",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a model file written by handgrad train")
    p.add_argument("input", type=Path, help="CSV file with the model's feature columns")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"),
                   help="where to write the predictions (default: predictions.csv)")
    p.set_defaults(func=run)


def predictions(saved: SavedModel, x_raw: np.ndarray) -> tuple[list[str], list[list]]:
    """(header, rows) of the predictions CSV for raw feature rows."""
    y = saved.outputs(x_raw)
    predicted = saved.predict(y)
    if saved.task.kind == "regression":
        values = predicted.reshape(len(predicted), -1)
        names = ["prediction"] if values.shape[1] == 1 else \
            [f"prediction_{k}" for k in range(values.shape[1])]
        return names, [[repr(float(v)) for v in row] for row in values]
    p = saved.task.probabilities(y)
    header = ["prediction"] + [f"p_{c}" for c in saved.classes]
    rows = [[saved.classes[k]] + [repr(float(v)) for v in p_row]
            for k, p_row in zip(predicted.tolist(), p)]
    return header, rows


def run(args) -> int:
    if args.out.resolve() == args.input.resolve():
        raise ValueError(f"--out {args.out} would overwrite the input file")
    saved = SavedModel(args.model)
    if not saved.feature_names:
        raise ValueError(f"{args.model} does not record its feature names; predict needs them to "
                         "find the columns of the CSV")
    x = read_feature_csv(args.input, saved.feature_names)
    header, rows = predictions(saved, x)
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    io.atomic_write_text(args.out, buffer.getvalue())
    print(f"wrote {len(rows)} predictions to {args.out}")
    return 0
