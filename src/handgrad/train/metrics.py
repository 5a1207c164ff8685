"""Metrics for classification (accuracy, per-class precision/recall, confusion matrix, log loss)
and regression (MSE, MAE, R^2), written out in NumPy so their definitions are in view."""

from __future__ import annotations

import numpy as np


def accuracy(d, predicted) -> float:
    return float(np.mean(np.asarray(d) == np.asarray(predicted)))


def confusion_matrix(d, predicted, n_classes: int) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(d), np.asarray(predicted)), 1)
    return matrix


def precision_recall(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class: precision = TP / predicted as that class, recall = TP / truly that class
    (0 where the denominator is 0)."""
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return precision, recall


def log_loss(d, probabilities, eps: float = 1e-15) -> float:
    """Mean of -log p(true class)."""
    p = np.clip(np.asarray(probabilities)[np.arange(len(d)), np.asarray(d)], eps, 1.0)
    return float(-np.mean(np.log(p)))


def mse(d, y) -> float:
    return float(np.mean((np.asarray(y, np.float64) - np.asarray(d, np.float64)) ** 2))


def mae(d, y) -> float:
    return float(np.mean(np.abs(np.asarray(y, np.float64) - np.asarray(d, np.float64))))


def r2(d, y) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot."""
    d, y = np.asarray(d, np.float64), np.asarray(y, np.float64)
    ss_tot = np.sum((d - d.mean(axis=0)) ** 2)
    return float(1.0 - np.sum((d - y) ** 2) / ss_tot) if ss_tot > 0 else 0.0


def classification_report(d, predicted, probabilities, n_classes: int) -> dict:
    """Accuracy, per-class precision and recall, the confusion matrix, and the log loss when
    there are probabilities (None for score outputs, as the hinge losses': no log loss)."""
    matrix = confusion_matrix(d, predicted, n_classes)
    precision, recall = precision_recall(matrix)
    report = {"accuracy": accuracy(d, predicted)}
    if probabilities is not None:
        report["log_loss"] = log_loss(d, probabilities)
    report.update(precision=precision.tolist(), recall=recall.tolist(),
                  confusion_matrix=matrix.tolist())
    return report


def regression_report(d, y) -> dict:
    return {"mse": mse(d, y), "mae": mae(d, y), "r2": r2(d, y)}
