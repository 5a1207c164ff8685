"""Shared test helpers: float64 random inputs kept away from an activation's or a loss's kinks."""

import csv

import numpy as np
import pytest

from cli_helpers import train_run
from handgrad.data.sources import write_body_csv


def _away_from(rng, shape, kinks=(), gap=0.05, scale=1.5):
    """Normal(0, scale) samples, redrawn until every entry is at least ``gap`` from each kink, so a
    finite difference never straddles a point where the derivative does not exist."""
    x = rng.normal(0.0, scale, size=shape)
    for _ in range(100):
        near = np.zeros(shape, bool)
        for k in kinks:
            near |= np.abs(x - k) < gap
        if not near.any():
            return x
        x[near] = rng.normal(0.0, scale, size=int(near.sum()))
    raise RuntimeError("could not draw samples away from the kinks")


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


@pytest.fixture
def away_from():
    """The function ``away_from(rng, shape, kinks=(), gap=0.05, scale=1.5)`` above."""
    return _away_from


# --- runs trained through the CLI, shared by the evaluate/predict/info/train tests ----------
@pytest.fixture(scope="module")
def body_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("body")
    csv_path = write_body_csv(root / "body.csv")
    run = train_run(root, "--data", str(csv_path), "--hidden", "9", "--epochs", "4", "--name", "b")
    return root, csv_path, run


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = 50.0 + 10.0 * x[:, 0] - 5.0 * x[:, 1] * x[:, 2] + rng.normal(0, 1.0, 200)
    path = root / "reg.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "c", "price"])
        writer.writerows([*row, repr(float(t))] for row, t in zip(x.tolist(), y))
    run = train_run(root, "--data", str(path), "--hidden", "8", "--epochs", "5", "--name", "r")
    return root, path, run
