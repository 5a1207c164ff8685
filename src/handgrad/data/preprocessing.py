"""Preprocessing fitted on the training split only, so no test information leaks into training."""

from __future__ import annotations

import numpy as np


class Standardizer:
    """x' = (x - mean) / std per feature; constant features get std 1 (they stay at 0)."""

    def fit(self, x: np.ndarray) -> "Standardizer":
        x = np.asarray(x, dtype=np.float64)
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std

    def state(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict) -> "Standardizer":
        scaler = cls()
        scaler.mean, scaler.std = np.asarray(state["mean"]), np.asarray(state["std"])
        return scaler


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    """Class indices as one-hot rows (004: the output encoding for multi-class problems)."""
    rows = np.zeros((len(labels), n_classes), dtype=dtype)
    rows[np.arange(len(labels)), labels] = 1.0
    return rows


def minibatches(n: int, batch_size: int, rng: np.random.Generator | None, shuffle: bool = True):
    """Index slices of one epoch: a fresh permutation from ``rng`` when shuffling.

    Returns (order, slices): the trainer gathers ``x[order]`` once per epoch, after which every
    mini-batch is a contiguous view, not a copy.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(n) if shuffle else np.arange(n)
    slices = [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if batch_size > 1 and len(slices) > 1 and n % batch_size == 1:
        # A last batch of one sample has no batch statistics (batch norm); it joins the previous one.
        slices[-2:] = [slice(slices[-2].start, n)]
    return order, slices
