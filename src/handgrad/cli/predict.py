"""``handgrad predict MODEL INPUT.csv [--out predictions.csv]``: predictions for new rows.

INPUT.csv (or a Parquet file) needs a header row naming at least the model's feature columns (any
order; other columns, such as an id or the target, are ignored); the model's preprocessing
(imputation, categories, standardisation) is applied to them as in training. The output has one
row per input row, in order: ``prediction`` (the class name, or the value for regression, in the
target's original units) and, for classification whose outputs are probabilities (cross-entropy,
nll, kl, bce, bce_logits, or a softmax/sigmoid output), ``p_<class>`` for each class. Other
classifiers (hinge, or an L2 loss on identity outputs) write their raw outputs as ``score_<class>``
(one ``score`` for a single output unit), never as probabilities. The file is written atomically.

``handgrad predict MODEL --write-example rows.csv`` writes an input file for the model: the raw
feature columns of its training run's test split, as predict reads them.
"""

from __future__ import annotations

import argparse
import csv
import io as text_io
from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.cli.evaluate import SavedModel, label_names, read_data, select_rows
from handgrad.data.columns import read_features
from handgrad.errors import DataError, OptionError

PROBABILITY_LOSSES = {"cross_entropy", "bce_logits", "nll", "kl", "bce"}
PROBABILITY_OUTPUTS = {"softmax", "sigmoid", "log_softmax"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="write a saved model's predictions for a CSV file",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a model file written by handgrad train")
    p.add_argument("input", type=Path, nargs="?",
                   help="CSV or Parquet file with the model's feature columns")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"),
                   help="where to write the predictions (default: predictions.csv)")
    p.add_argument("--encoding", help="the CSV file's text encoding (default: UTF-8), e.g. latin-1")
    p.add_argument("--write-example", type=Path, metavar="ROWS.csv",
                   help="write the feature columns of the training run's test split to ROWS.csv "
                        "(an input file for predict) instead of predicting")
    p.set_defaults(func=run)


def gives_probabilities(task) -> bool:
    """Whether the task's outputs are class probabilities (after its softmax/sigmoid)."""
    if task.loss in {"hinge", "squared_hinge"}:
        return False
    return task.loss in PROBABILITY_LOSSES or task.output in PROBABILITY_OUTPUTS


def predictions(saved: SavedModel, frame) -> tuple[list[str], list[list]]:
    """(header, rows) of the predictions CSV for raw feature rows."""
    y = saved.outputs(frame)
    predicted = saved.predict(y)
    if saved.task.kind == "regression":
        values = predicted.reshape(len(predicted), -1)
        names = ["prediction"] if values.shape[1] == 1 else \
            [f"prediction_{k}" for k in range(values.shape[1])]
        return names, [[repr(float(v)) for v in row] for row in values]
    if gives_probabilities(saved.task):
        scores, prefix = saved.task.probabilities(y), [f"p_{c}" for c in saved.classes]
    elif y.shape[1] == 1:
        scores, prefix = y, ["score"]
    else:
        scores, prefix = y, [f"score_{c}" for c in saved.classes]
    rows = [[saved.classes[k]] + [repr(float(v)) for v in row]
            for k, row in zip(predicted.tolist(), scores)]
    return ["prediction"] + prefix, rows


def csv_text(header: list[str], rows) -> str:
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def check_output(path: Path, option: str, *inputs: Path) -> None:
    if path.is_dir():
        raise OptionError(f"invalid {option}: {str(path)!r} is a folder (expected a file name)")
    for other in inputs:
        if other is not None and path.resolve() == Path(other).resolve():
            raise OptionError(f"invalid {option}: {str(path)!r} would overwrite the input file")


def run(args) -> int:
    if args.write_example is not None:
        if args.input is not None:
            raise OptionError(f"invalid input: {str(args.input)!r} (--write-example writes an "
                              "input file; give it without INPUT)")
        check_output(args.write_example, "--write-example", args.model)
        saved = SavedModel(args.model)
        header, rows = example_rows(saved, args.encoding)
        io.atomic_write_text(args.write_example, csv_text(header, rows))
        print(f"wrote {len(rows)} rows of the test split of {saved.settings.get('data')} to "
              f"{args.write_example}")
        return 0
    if args.input is None:
        raise OptionError("invalid input: none given (expected INPUT.csv, or --write-example "
                          "ROWS.csv to make one)")
    check_output(args.out, "--out", args.input, args.model)
    saved = SavedModel(args.model)
    if not saved.feature_names:
        raise DataError(f"{args.model} does not record its feature names; predict needs them to "
                        "find the columns of the CSV")
    frame = read_features(args.input, saved.preprocessor.numeric_names, saved.categorical,
                          args.encoding)
    header, rows = predictions(saved, frame)
    io.atomic_write_text(args.out, csv_text(header, rows))
    print(f"wrote {len(rows)} predictions to {args.out}")
    return 0


def training_data_name(saved: SavedModel):
    """The training data as a data name that reads from any folder: the file's absolute path
    where the model file records it (the settings hold the path as typed, relative to where
    training ran)."""
    data, record = saved.settings.get("data"), saved.meta.get("data_file")
    if data is None or record is None:
        return data
    paths = record["paths"]
    return f"idx:{','.join(paths)}" if str(data).lower().startswith("idx:") else paths[0]


def example_rows(saved: SavedModel, encoding: str | None = None):
    """(header, rows): the raw feature columns of the training run's test split."""
    data = training_data_name(saved)
    if not data or not saved.feature_names:
        raise DataError(f"{saved.path} does not record its training data and feature names; "
                        "write the input CSV by hand: a header naming the feature columns")
    encoding = encoding or saved.settings.get("encoding")
    try:
        frame, d, _, classes, *_ = read_data(saved, str(data), None, encoding)
    except (DataError, OSError) as err:
        raise DataError(f"the training data of {saved.path} ({data}) cannot be read: {err}") \
            from None
    frame = saved.frame(frame)
    d = np.zeros(len(d)) if saved.task.kind == "regression" else \
        saved.class_indices(label_names(d, classes), str(data))
    frame, _ = select_rows(saved, frame, d, "test", str(data), saved.classes)
    columns = [frame.numeric[:, j] for j in range(frame.numeric.shape[1])] + \
        [c.texts() for c in frame.categorical]
    rows = [[_cell(c[i]) for c in columns] for i in range(len(frame))]
    return frame.numeric_names + frame.categorical_names, rows


def _cell(value) -> str:
    """A raw value as a CSV cell: '' for missing, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    value = float(value)
    if np.isnan(value):
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
