"""``handgrad evaluate MODEL DATA``: a saved model's metrics on a data set.

DATA is a named set (digits, iris, mnist1d, body, ...), ``idx:IMAGES,LABELS`` or a CSV file with the
model's feature columns and its target column. The model file says how raw data becomes the model's
input and how outputs become predictions: its metadata holds the task, the class names, the
standardisation fitted on the training split, the target scaling (regression) and the feature names.

Which rows are scored (``--split``): for the data the model was trained on, ``auto`` reproduces the
training run's split (same seed and sizes) and scores its test part, so the figures match the run's
metrics.json; for any other data it scores every row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.data.datasets import load_arrays, split
from handgrad.data.preprocessing import Standardizer
from handgrad.errors import ModelFileError
from handgrad.train import metrics
from handgrad.train.task import Task
from handgrad.train.trainer import predict_outputs

SPLITS = ("auto", "test", "val", "train", "all")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="metrics of a saved model on a data set",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a model file written by handgrad train")
    p.add_argument("data", help="a named data set, idx:IMAGES,LABELS or a CSV file")
    p.add_argument("--target", help="the CSV's target column (default: the model's target name)")
    p.add_argument("--split", choices=SPLITS, default="auto",
                   help="rows to score (default auto: the test split of the training data, "
                        "else all rows)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)


# --- a saved model and what it needs to read raw data (shared with predict and info) --------------
class SavedModel:
    """A model file's network, task, class names and input standardisation."""

    def __init__(self, path):
        self.path = Path(path)
        self.model, self.meta = io.load_model(self.path, with_metadata=True)
        if "task" not in self.meta:
            raise ModelFileError(f"{self.path} has no task metadata; evaluate and predict need a "
                                 "model written by `handgrad train` (or io.save_model with "
                                 "train.run.model_metadata)")
        self.task = Task(**self.meta["task"])
        self.classes = [str(c) for c in self.meta.get("classes", [])]
        self.feature_names = list(self.meta.get("feature_names", []))
        scaler = self.meta.get("scaler")
        self.scaler = Standardizer.from_state(scaler) if scaler is not None else None
        self.target_scale = self.meta.get("target_scale")
        self.settings = self.meta.get("settings", {})

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """Raw features -> the model's input: the training split's standardisation, model dtype."""
        x = np.asarray(x, dtype=np.float64)
        n_in = len(self.feature_names) or x.shape[1]
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"the model takes {n_in} features, the data has "
                             f"{x.shape[1] if x.ndim == 2 else x.shape}")
        if self.scaler is not None:
            x = self.scaler.transform(x)
        return x.astype(self.model.dtype)

    def outputs(self, x_raw: np.ndarray) -> np.ndarray:
        self.model.eval()
        return predict_outputs(self.model, self.inputs(x_raw))

    def predict(self, y: np.ndarray) -> np.ndarray:
        """Class indices, or regression values on the target's original scale."""
        values = self.task.predict(y)
        if self.task.kind == "regression" and self.target_scale:
            values = values * self.target_scale["std"] + self.target_scale["mean"]
        return values

    def class_indices(self, labels, source: str) -> np.ndarray:
        """Raw labels -> the model's class indices, by name; unknown labels are an error."""
        lookup = {name: k for k, name in enumerate(self.classes)}
        keys = [label_key(v) for v in labels]
        unknown = sorted({k for k in keys if k not in lookup})
        if unknown:
            raise ValueError(f"{source}: label(s) {unknown[:5]} are not among the model's classes "
                             f"{self.classes}")
        return np.array([lookup[k] for k in keys], dtype=np.int64)

    def align_features(self, x: np.ndarray, names: list[str], source: str) -> np.ndarray:
        """The data's columns reordered to the model's feature order (matched by name)."""
        if not self.feature_names or list(names) == self.feature_names:
            return x
        missing = [f for f in self.feature_names if f not in names]
        if missing:
            more = " ..." if len(self.feature_names) > 8 else ""
            raise ValueError(f"{source}: lacks the model's feature(s) {missing[:5]}; the model was "
                             f"trained on {len(self.feature_names)} features "
                             f"{self.feature_names[:8]}{more}")
        return x[:, [list(names).index(f) for f in self.feature_names]]


def label_names(d, classes) -> list:
    """A loader's targets as label names: integer targets index its class names when it gives
    them (digits_11: 10 -> "none"), other targets are the labels themselves."""
    d = np.asarray(d)
    if classes and np.issubdtype(d.dtype, np.integer):
        if d.min() < 0 or d.max() >= len(classes):
            raise ValueError(f"class index out of range 0..{len(classes) - 1}")
        return [classes[k] for k in d.tolist()]
    return d.tolist()


def label_key(value) -> str:
    """A label as the model file stores class names: 3, 3.0 and "3" are all "3"."""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value).strip()


# --- evaluate -------------------------------------------------------------------------------------
def same_data(data: str, trained_on) -> bool:
    """Whether DATA names the data the model was trained on (same name or same file)."""
    if trained_on is None:
        return False
    if data == trained_on or data.lower().replace("-", "_") == str(trained_on).lower():
        return True
    a, b = Path(data), Path(str(trained_on))
    return a.is_file() and b.is_file() and a.resolve() == b.resolve()


def select_rows(saved: SavedModel, x, d, which: str):
    """The rows of ``which`` split, reproducing the training run's split from its settings."""
    if which == "all":
        return x, d
    s = saved.settings
    try:
        test_size, val_size, seed = s["test_size"], s["val_size"], s["seed"]
    except KeyError as err:
        raise ValueError(f"{saved.path} does not record the training split ({err} missing); "
                         "use --split all") from None
    (xt, dt), (xv, dv), (xs, ds) = split(x, d, saved.task.kind, test_size, val_size, seed)
    rows = {"train": (xt, dt), "val": (xv, dv), "test": (xs, ds)}[which]
    if rows[0] is None:
        raise ValueError("the training run held out no validation split (val_size = 0)")
    return rows


def scores(saved: SavedModel, x_raw, d) -> dict:
    """The task's metrics of the model on raw features and targets (class indices or values)."""
    y = saved.outputs(x_raw)
    if saved.task.kind == "classification":
        return metrics.classification_report(d, saved.task.predict(y),
                                             saved.task.probabilities(y), saved.task.n_classes)
    return metrics.regression_report(np.asarray(d, np.float64), saved.predict(y))


def read_data(data: str, target: str | None):
    """Raw (x, d, kind, classes, feature_names, target_name) of a data name, CSV or idx:..."""
    from handgrad.data import sources

    loaded = sources.load_scheme(data)
    return loaded if loaded is not None else load_arrays(data, target)


def evaluate(saved: SavedModel, data: str, target: str | None = None, which: str = "auto"):
    """(metrics, split used, number of rows) of a saved model on DATA."""
    if target is None:
        target = saved.settings.get("target") or saved.meta.get("target_name")
    x, d, kind, classes, names, _ = read_data(data, target)
    x = saved.align_features(x, names, data)
    if saved.task.kind == "classification":
        d = saved.class_indices(label_names(d, classes), data)
    elif kind == "classification" and not np.issubdtype(np.asarray(d).dtype, np.number):
        raise ValueError(f"{data}: the target holds labels but the model does regression")
    else:
        d = np.asarray(d, dtype=np.float64)
    if which == "auto":
        which = "test" if same_data(data, saved.settings.get("data")) else "all"
    x, d = select_rows(saved, x, d, which)
    return scores(saved, x, d), which, len(x)


def format_report(report: dict, classes: list[str]) -> str:
    if "accuracy" not in report:
        return (f"MSE {report['mse']:.6g}\nMAE {report['mae']:.6g}\nR^2 {report['r2']:.6f}")
    matrix = np.array(report["confusion_matrix"])
    if len(classes) != len(matrix):
        classes = [str(k) for k in range(len(matrix))]
    width = max([8] + [len(c) for c in classes])
    lines = [f"accuracy {report['accuracy']:.4f}", f"log loss {report['log_loss']:.4f}", "",
             f"{'class':>{width}}  precision  recall  support"]
    for name, p, r, n in zip(classes, report["precision"], report["recall"], matrix.sum(axis=1)):
        lines.append(f"{name:>{width}}  {p:9.4f}  {r:6.4f}  {n:7d}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
    cell = max([len(str(matrix.max()))] + [len(c) for c in classes]) + 1
    lines.append(" " * width + "".join(f"{c:>{cell}}" for c in classes))
    for name, row in zip(classes, matrix):
        lines.append(f"{name:>{width}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


def run(args) -> int:
    saved = SavedModel(args.model)
    report, which, n = evaluate(saved, args.data, args.target, args.split)
    if args.json:
        print(json.dumps({"data": args.data, "split": which, "rows": n, **report}, indent=2))
        return 0
    print(f"{args.model} on {args.data} ({which} split, {n} rows)")
    print(format_report(report, saved.classes))
    return 0
