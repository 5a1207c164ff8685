"""The trainer's stopping rules (issue 15): 001's |L_k - L_(k-1)| < tol and 002's running loss
Q := lambda L_i + (1 - lambda) Q with |Q_k - Q_(k-1)| < running_tol, each stopping at the epoch the
recorded history says, with its reason; Q in the history and in metrics.json."""

import json

import numpy as np
import pytest

from cli_helpers import train_run
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train import Callback, Task, Trainer

EPOCHS = 40


def problem():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(96, 3))
    return x, (x[:, 0] - x[:, 1] > 0).astype(np.int64)


def make(batch_size=16, epochs=EPOCHS, **options):
    model = MLP([3, 8, 2], activation="tanh", rng=0, dtype=np.float64)
    return Trainer(model, get_loss("cross_entropy"), get_optimizer("sgd", model, lr=0.05),
                   task=Task("classification", "cross_entropy", 2), batch_size=batch_size,
                   epochs=epochs, seed=0, **options)


def first_below(values, tol) -> int:
    """The first epoch k (from 1) with |v_k - v_(k-1)| < tol, computed from a history."""
    for k in range(1, len(values)):
        if abs(values[k] - values[k - 1]) < tol:
            return k + 1
    raise AssertionError("the rule never fires in this history: choose another tol")


@pytest.fixture(scope="module")
def full():
    """The history of a run that no rule stops."""
    trainer = make()
    trainer.fit(*problem())
    assert trainer.stop_reason == "max_epochs" and trainer.epoch == EPOCHS
    return trainer.history


def a_tol_inside_the_run(values) -> float:
    """A tolerance that fires neither at the first comparison nor never: the median change."""
    return float(np.median(np.abs(np.diff(values))))


@pytest.mark.parametrize("key, option, reason", [
    ("train_loss", "tol", "loss_converged"),
    ("running_loss", "running_tol", "running_loss_converged"),
])
def test_rule_stops_at_the_epoch_its_history_gives(full, key, option, reason):
    tol = a_tol_inside_the_run(full[key])
    expected = first_below(full[key], tol)
    assert 2 < expected < EPOCHS
    trainer = make(**{option: tol})
    trainer.fit(*problem())
    assert trainer.epoch == expected
    assert trainer.stop_reason == reason
    # the same trajectory up to the stop: the rule only ends the run
    assert trainer.history[key] == full[key][:expected]


def test_running_loss_is_002s_average_of_the_batch_losses():
    lam = 0.2

    class Batches(Callback):
        def __init__(self):
            self.losses, self.q_at_epoch_end = [], []

        def on_batch_end(self, trainer, loss):
            self.losses.append(loss)

        def on_epoch_end(self, trainer, record):
            self.q_at_epoch_end.append(record["running_loss"])

    seen = Batches()
    trainer = make(epochs=3, running_lambda=lam, callbacks=[seen])
    trainer.fit(*problem())
    q, expected = None, []
    for i, loss in enumerate(seen.losses, start=1):
        q = loss if q is None else lam * loss + (1 - lam) * q
        if i % 6 == 0:  # 96 samples in batches of 16: 6 steps an epoch
            expected.append(q)
    assert len(seen.losses) == 18
    np.testing.assert_allclose(seen.q_at_epoch_end, expected, rtol=1e-14)
    assert trainer.history["running_loss"] == seen.q_at_epoch_end


def test_tol_is_checked_before_running_tol_and_both_absent_means_max_epochs(full):
    trainer = make(epochs=5)
    trainer.fit(*problem())
    assert trainer.stop_reason == "max_epochs" and trainer.epoch == 5
    both = make(tol=1e9, running_tol=1e9)  # both fire at epoch 2
    both.fit(*problem())
    assert (both.epoch, both.stop_reason) == (2, "loss_converged")


def test_cli_records_q_per_epoch_and_the_stop_reason(tmp_path):
    run = train_run(tmp_path, "--data", "iris", "--hidden", "8", "--epochs", "200",
                    "--running-tol", "1e-3", "--running-lambda", "0.1", "--name", "q")
    metrics = json.loads((run / "metrics.json").read_text())
    q = metrics["history"]["running_loss"]
    assert len(q) == metrics["epochs"] == len(metrics["history"]["train_loss"])
    assert metrics["stop_reason"] == "running_loss_converged"
    assert metrics["epochs"] == first_below(q, 1e-3) < 200
    assert metrics["settings"]["running_tol"] == 1e-3
    assert metrics["settings"]["running_lambda"] == 0.1
