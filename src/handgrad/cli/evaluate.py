"""``handgrad evaluate MODEL DATA``: a saved model's metrics on a data set.

DATA is a named set (digits, iris, mnist1d, body, ...), ``idx:IMAGES,LABELS`` or a CSV/Parquet
file with the model's feature columns and its target column. The model file says how raw data
becomes the model's input and how outputs become predictions: its metadata holds the task, the
class names, the preprocessing fitted on the training split (categories, imputation values,
standardisation), the target scaling (regression) and the feature names.

Which rows are scored (``--split``): for the data the model was trained on, ``auto`` reproduces the
training run's split (same seed and sizes) and scores its test part, so the figures match the run's
metrics.json; for any other data it scores every row. A file is the training data when its content
is (the model file records the digest): not by its name, which another folder may reuse.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.data.columns import select
from handgrad.data.datasets import FIXED_TEST_ROWS, data_key, is_named_set, load_raw, split
from handgrad.data.preprocessing import Frame, Preprocessor, TargetScaler
from handgrad.data.sources import data_file_record
from handgrad.errors import DataError, ModelFileError, NonFiniteError, ShapeError
from handgrad.train import metrics
from handgrad.train.task import Task
from handgrad.train.trainer import predict_outputs

SPLITS = ("auto", "test", "val", "train", "all")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="metrics of a saved model on a data set",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a model file written by handgrad train")
    p.add_argument("data", help="a named data set, idx:IMAGES,LABELS or a CSV/Parquet file")
    p.add_argument("--target", help="the file's target column (default: the model's target name)")
    p.add_argument("--split", choices=SPLITS, default="auto",
                   help="rows to score (default auto: the test split of the training data, "
                        "else all rows)")
    p.add_argument("--encoding", help="the CSV file's text encoding (default: UTF-8), e.g. latin-1")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)


# --- a saved model and what it needs to read raw data (shared with predict and info) --------------
class SavedModel:
    """A model file's network, task, class names and preprocessing of raw features."""

    def __init__(self, path):
        self.path = Path(path)
        self.model, self.meta = io.load_model(self.path, with_metadata=True)
        if "task" not in self.meta:
            raise ModelFileError(f"{self.path} has no task metadata; evaluate and predict need a "
                                 "model written by `handgrad train` (or io.save_model with "
                                 "train.run.model_metadata)")
        try:
            self.task = Task(**self.meta["task"])
        except (TypeError, ValueError) as err:
            raise ModelFileError(f"{self.path}: its task metadata is not usable ({err})") from None
        self.classes = [str(c) for c in self.meta.get("classes", [])]
        if self.task.kind == "classification" and len(self.classes) != self.task.n_classes:
            raise ModelFileError(f"{self.path}: its metadata names {len(self.classes)} classes "
                                 f"for a task of {self.task.n_classes}")
        self.feature_names = [str(n) for n in self.meta.get("feature_names", [])]
        self.preprocessor = self._preprocessor()
        self.target_scale = self.meta.get("target_scale")
        self.settings = self.meta.get("settings") or {}

    def _preprocessor(self) -> Preprocessor:
        try:
            if "preprocessing" in self.meta:
                return Preprocessor.from_state(self.meta["preprocessing"], self.meta.get("scaler"))
            # written before categorical columns: every feature numeric, one scaler over them
            return Preprocessor.numeric_only(self.feature_names, self.meta.get("scaler"))
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"{self.path}: its preprocessing metadata is not usable "
                                 f"({type(err).__name__}: {err})") from None

    @property
    def categorical(self) -> list[str]:
        return [name for name, _ in self.preprocessor.categories]

    def frame(self, frame: Frame) -> Frame:
        """Raw feature columns in the model's order and kinds (matched by name)."""
        if not self.feature_names:  # a file without names: columns by position
            return frame
        return select(frame, self.preprocessor.numeric_names, self.categorical)

    def inputs(self, frame: Frame) -> np.ndarray:
        """Raw features -> the model's input (the training run's preprocessing, model dtype)."""
        if not self.feature_names:
            names = [f"x{j}" for j in range(frame.numeric.shape[1])]
            frame = Frame.from_array(frame.numeric, names, frame.source)
            self.preprocessor.numeric_names = frame.numeric_names
        x = self.preprocessor.transform(frame, np.float64)
        width = getattr(self.model, "in_features", None)
        if width is not None and x.shape[1] != width:
            raise ShapeError(f"{self.path}: the model takes {width} inputs, the data gives "
                             f"{x.shape[1]}")
        return x.astype(self.model.dtype)

    def outputs(self, frame: Frame) -> np.ndarray:
        """The model's outputs for raw feature rows, checked finite."""
        self.model.eval()
        y = predict_outputs(self.model, self.inputs(frame))
        if y.ndim != 2 or y.shape[1] != self.task.n_outputs:
            raise ModelFileError(f"{self.path}: the model has {y.shape[1]} outputs but its task "
                                 f"({self.task.kind}, loss {self.task.loss}) needs "
                                 f"{self.task.n_outputs}")
        bad = np.flatnonzero(~np.isfinite(y).all(axis=1))
        if len(bad):
            raise NonFiniteError(f"{self.path}: the model's outputs are NaN or inf for "
                                 f"{len(bad)} of {len(y)} rows (at {frame.where(bad)}); its "
                                 "weights may hold NaN or inf (a diverged run?)")
        return y

    def predict(self, y: np.ndarray) -> np.ndarray:
        """Class indices, or regression values on the target's original scale."""
        values = self.task.predict(y)
        if self.task.kind == "regression" and self.target_scale:
            values = TargetScaler(**self.target_scale).inverse(values)  # float64, as training
        return values

    def class_indices(self, labels, source: str) -> np.ndarray:
        """Raw labels -> the model's class indices, by name; unknown labels are an error."""
        lookup = {name: k for k, name in enumerate(self.classes)}
        keys = [label_key(v) for v in labels]
        unknown = sorted({k for k in keys if k not in lookup})
        if unknown:
            raise DataError(f"{source}: label(s) {unknown[:5]} are not among the model's classes "
                            f"{self.classes}")
        return np.array([lookup[k] for k in keys], dtype=np.int64)


def label_names(d, classes) -> list:
    """A loader's targets as label names: integer targets index its class names when it gives
    them (digits_11: 10 -> "none"), other targets are the labels themselves."""
    d = np.asarray(d)
    if classes and np.issubdtype(d.dtype, np.integer):
        if d.min() < 0 or d.max() >= len(classes):
            raise DataError(f"class index out of range 0..{len(classes) - 1}")
        return [classes[k] for k in d.tolist()]
    return d.tolist()


def label_key(value) -> str:
    """A label as the model file stores class names: 3, 3.0 and "3" are all "3"."""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value).strip()


# --- evaluate -------------------------------------------------------------------------------------
def same_data(data: str, saved: SavedModel) -> bool:
    """Whether DATA is the data the model was trained on: the same named set, or a file with the
    same content (the model file records its digest). Without that record (older files), the same
    name or path."""
    trained_on, record = saved.settings.get("data"), saved.meta.get("data_file")
    if trained_on is None:
        return False
    if is_named_set(data) or is_named_set(trained_on):
        return data.lower().replace("-", "_") == str(trained_on).lower().replace("-", "_")
    if record is not None:
        return _digest(data) == record["sha256"]
    if data == trained_on:
        return True
    a, b = Path(data), Path(str(trained_on))
    return a.is_file() and b.is_file() and a.resolve() == b.resolve()


def _digest(data: str) -> str | None:
    try:
        return data_file_record(data)["sha256"]
    except OSError:
        return None


def check_training_data(saved: SavedModel, data: str) -> None:
    """The training run's splits are defined on its own data: refuse another file (or the same
    file changed since) rather than split it as if it were that data."""
    if not same_data(data, saved):
        raise DataError(f"{data} is not the data {saved.path} was trained on "
                        f"({saved.settings.get('data')}, checked by content): its train/val/test "
                        f"splits exist only there; use --split all")


def select_rows(saved: SavedModel, frame, d, which: str, data: str, classes=None):
    """The rows of ``which`` split, reproducing the training run's split from its settings."""
    if which == "all":
        return frame, d
    check_training_data(saved, data)
    s = saved.settings
    try:
        test_size, val_size, seed = s["test_size"], s["val_size"], s["seed"]
    except KeyError as err:
        raise ModelFileError(f"{saved.path} does not record the training split ({err} missing); "
                             "use --split all") from None
    fixed = FIXED_TEST_ROWS.get(data_key(data)) if is_named_set(data) else None
    (ft, dt), (fv, dv), (fs, ds) = split(frame, d, saved.task.kind, test_size, val_size, seed,
                                         fixed, classes, frame.source)
    rows = {"train": (ft, dt), "val": (fv, dv), "test": (fs, ds)}[which]
    if rows[0] is None:
        raise DataError("the training run held out no validation split (val_size = 0); "
                        "choose another --split")
    return rows


def scores(saved: SavedModel, frame: Frame, d) -> dict:
    """The task's metrics of the model on raw features and targets (class indices or values)."""
    y = saved.outputs(frame)
    if saved.task.kind == "classification":
        return metrics.classification_report(d, saved.task.predict(y),
                                             saved.task.probabilities(y), saved.task.n_classes)
    return metrics.regression_report(np.asarray(d, np.float64), saved.predict(y))


def read_data(saved: SavedModel, data: str, target: str | None, encoding: str | None = None):
    """Raw (frame, d, kind, classes, feature_names, target_name) of DATA for this model."""
    if target is None and not is_named_set(data) and not data.lower().startswith("idx:"):
        target = saved.settings.get("target") or saved.meta.get("target_name")
    return load_raw(data, target, encoding)


def evaluate(saved: SavedModel, data: str, target: str | None = None, which: str = "auto",
             encoding: str | None = None):
    """(metrics, split used, number of rows) of a saved model on DATA."""
    frame, d, kind, classes, names, _ = read_data(saved, data, target, encoding)
    frame = saved.frame(frame)
    if saved.task.kind == "classification":
        d = saved.class_indices(label_names(d, classes), data)
        split_classes = saved.classes
    elif kind == "classification" and not np.issubdtype(np.asarray(d).dtype, np.number):
        raise DataError(f"{data}: the target holds labels but the model does regression")
    else:
        d, split_classes = np.asarray(d, dtype=np.float64), None
    if which == "auto":
        which = "test" if same_data(data, saved) else "all"
    # d holds the model's class indices, which are the training run's (sorted labels), so the
    # stratified split below draws the training run's rows
    frame, d = select_rows(saved, frame, d, which, data, split_classes)
    return scores(saved, frame, d), which, len(d)


def format_report(report: dict, classes: list[str]) -> str:
    if "accuracy" not in report:
        return (f"MSE {report['mse']:.6g}\nMAE {report['mae']:.6g}\nR^2 {report['r2']:.6f}")
    matrix = np.array(report["confusion_matrix"])
    if len(classes) != len(matrix):
        classes = [str(k) for k in range(len(matrix))]
    width = max([8] + [len(c) for c in classes])
    lines = [f"accuracy {report['accuracy']:.4f}"]
    if "log_loss" in report:  # none for score outputs (hinge): no probabilities
        lines.append(f"log loss {report['log_loss']:.4f}")
    lines += ["", f"{'class':>{width}}  precision  recall  support"]
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
    report, which, n = evaluate(saved, args.data, args.target, args.split, args.encoding)
    if args.json:
        print(json.dumps({"data": args.data, "split": which, "rows": n, **report}, indent=2))
        return 0
    print(f"{args.model} on {args.data} ({which} split, {n} rows)")
    print(format_report(report, saved.classes))
    return 0
