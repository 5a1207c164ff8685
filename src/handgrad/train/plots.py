"""PNG plots of a run: loss and metric curves (train and validation), confusion matrix."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from handgrad.io import atomic_write_bytes  # noqa: E402


def plot_history(history: dict, path, title: str = "") -> Path:
    """Loss per epoch (train, validation) and, if recorded, the metric per epoch."""
    metrics = [k[len("val_"):] for k in history if k.startswith("val_") and k != "val_loss"]
    columns = 2 if metrics else 1
    fig, axes = plt.subplots(1, columns, figsize=(5.5 * columns, 4), squeeze=False)
    epochs = history.get("epoch", [])
    ax = axes[0, 0]
    if not epochs:  # Trainer(epochs=0): nothing trained, an empty chart that says so
        ax.text(0.5, 0.5, "no epochs trained", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel="epoch", ylabel="loss", title="loss")
        return _save(fig, path)
    ax.plot(epochs, history["train_loss"], label="train")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], label="validation")
    ax.set(xlabel="epoch", ylabel="loss", title="loss")
    if min(history["train_loss"]) > 0:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    if metrics:
        name, ax = metrics[0], axes[0, 1]
        if f"train_{name}" in history:
            ax.plot(epochs, history[f"train_{name}"], label="train")
        ax.plot(epochs, history[f"val_{name}"], label="validation")
        ax.set(xlabel="epoch", ylabel=name, title=name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, classes, path, title: str = "confusion matrix") -> Path:
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set(xticks=range(n), yticks=range(n), xticklabels=classes, yticklabels=classes,
           xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path) -> Path:
    buffer = BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
