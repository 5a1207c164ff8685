"""The files of a finished run: the model, the test metrics as JSON, and the plots.

runs/<name>/model.safetensors    architecture + weights + what prediction needs (safe to load)
runs/<name>/metrics.json         test metrics, history, settings
runs/<name>/loss_curve.png       loss (and metric) per epoch, train and validation
runs/<name>/confusion.png        confusion matrix on the test split (classification)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.data.preprocessing import TargetScaler
from handgrad.data.sources import data_file_record
from handgrad.train import metrics, plots
from handgrad.train.trainer import predict_outputs


_HASH_NOW = object()


def model_metadata(ds, task, target_scale, settings: dict, data_file=_HASH_NOW) -> dict:
    """What ``predict`` and ``evaluate`` need to use the model on raw data: the raw feature
    columns, their preprocessing (categories, imputation values, standardisation, all fitted on
    the training split), the class names and, for regression, the target scaling. ``target_scale``
    None takes the Dataset's own (``ds.target_scaler``). ``data_file``: the training data's
    ``data_file_record``, as taken when the run started (by default, hashed now)."""
    if target_scale is None and getattr(ds, "target_scaler", None) is not None:
        target_scale = ds.target_scaler.state()
    meta = {"task": task.to_dict(), "classes": [str(c) for c in ds.classes],
            "feature_names": list(ds.feature_names), "target_name": ds.target_name,
            "data": ds.name, "target_scale": target_scale,
            "settings": {k: v for k, v in settings.items() if _jsonable(v)}}
    if data_file is _HASH_NOW and settings.get("data") is not None:
        data_file = data_file_record(settings["data"])
    if data_file is not None and data_file is not _HASH_NOW:
        meta["data_file"] = data_file
    prep = getattr(ds, "preprocessor", None)
    if prep is not None:
        meta["input_names"] = list(prep.input_names)
        meta["preprocessing"] = prep.state()
    if ds.scaler is not None:
        meta["scaler"] = {"mean": ds.scaler.mean, "std": ds.scaler.std}
    return meta


def _jsonable(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, list, dict))


def test_report(model, task, x, d, target_scale) -> dict:
    model.eval()
    y = predict_outputs(model, x)
    if task.kind == "classification":
        report = metrics.classification_report(d, task.predict(y), task.probabilities(y),
                                               task.n_classes)
    else:
        values = task.predict(y)
        if target_scale:
            # in float64: a float32 y std + mean rounds a target near 1e7 to whole units
            values = TargetScaler(**target_scale).inverse(values)
        report = metrics.regression_report(d, values)
    return report


def finish_run(run_dir: Path, model, trainer, ds, task, d_test, target_scale, meta,
               seconds: float) -> str:
    run_dir = Path(run_dir)
    report = test_report(model, task, ds.x_test, d_test, target_scale)
    io.save_model(run_dir / "model.safetensors", model, meta)
    history = {k: list(v) for k, v in trainer.history.items()}
    summary = {"test": report, "epochs": trainer.epoch, "stop_reason": trainer.stop_reason,
               "train_seconds": seconds, "history": history, "settings": meta["settings"],
               "model": model.config(), "parameters": model.num_parameters}
    io.atomic_write_text(run_dir / "metrics.json", json.dumps(summary, indent=2))
    plots.plot_history(history, run_dir / "loss_curve.png", title=f"{ds.name}: training")
    if task.kind == "classification":
        plots.plot_confusion(np.array(report["confusion_matrix"]), ds.classes,
                             run_dir / "confusion.png")
        headline = f"test accuracy {report['accuracy']:.4f}"
        if "log_loss" in report:  # not for scores (hinge): they are no probabilities
            headline += f" (log loss {report['log_loss']:.4f})"
    else:
        headline = f"test R^2 {report['r2']:.4f} (MSE {report['mse']:.4g}, MAE {report['mae']:.4g})"
    return (f"{headline} after {trainer.epoch} epochs ({trainer.stop_reason}), "
            f"{seconds:.1f} s\nwrote {run_dir}/model.safetensors, metrics.json, loss_curve.png")
