"""The history's train_loss is the data loss alone, as val_loss is (they compare); a penalty in the
minimised loss (l2/l1 of the optimizer) is recorded apart in history["penalty"], each step's
lambda R(W) at the W its gradient was taken at, so train_loss + penalty is the minimised loss."""

import json

import numpy as np
import pytest

from cli_helpers import train_run
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train import Task, Trainer


def problem():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def make(epochs=1, **penalty):
    model = MLP([4, 6, 2], activation="tanh", rng=1, dtype=np.float64)
    optimizer = get_optimizer("sgd", model, lr=0.1, **penalty)
    return Trainer(model, get_loss("cross_entropy"), optimizer,
                   task=Task("classification", "cross_entropy", 2), batch_size=60,
                   epochs=epochs, seed=0)


@pytest.mark.parametrize("penalty", [{"l2": 0.5}, {"l1": 0.05}, {"l2": 0.3, "l1": 0.02}])
def test_full_batch_epoch_records_the_data_loss_and_the_penalty_apart(penalty):
    x, d = problem()
    trainer = make(**penalty)
    data_loss = trainer.evaluate(x, d)["loss"]  # at W0, the W of the one full-batch step
    expected_penalty = trainer.optimizer.penalty()
    assert expected_penalty > 0.01
    trainer.fit(x, d, x, d)
    assert trainer.history["train_loss"] == [pytest.approx(data_loss, rel=1e-12)]
    assert trainer.history["penalty"] == [pytest.approx(expected_penalty, rel=1e-12)]


def test_with_train_as_validation_the_losses_compare():
    """The same rows as validation: at the same weights the two losses must be one number, with
    no penalty in either (with a full-batch step of eta -> tiny, the weights barely move)."""
    x, d = problem()
    model = MLP([4, 6, 2], activation="tanh", rng=1, dtype=np.float64)
    trainer = Trainer(model, get_loss("cross_entropy"),
                      get_optimizer("sgd", model, lr=1e-12, l2=1.0),
                      task=Task("classification", "cross_entropy", 2), batch_size=60, epochs=2,
                      seed=0)
    trainer.fit(x, d, x, d)
    np.testing.assert_allclose(trainer.history["train_loss"], trainer.history["val_loss"],
                               rtol=1e-9)
    assert min(trainer.history["penalty"]) > 0.1


def test_no_penalty_key_without_a_penalty():
    x, d = problem()
    trainer = make(epochs=2)
    trainer.fit(x, d)
    assert "penalty" not in trainer.history and len(trainer.history["train_loss"]) == 2


def test_cli_history_has_the_penalty_beside_comparable_losses(tmp_path):
    run = train_run(tmp_path, "--data", "iris", "--l2", "0.1", "--hidden", "16", "--epochs", "3",
                    "--name", "l2")
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert len(history["penalty"]) == len(history["train_loss"]) == 3
    assert min(history["penalty"]) > 0
    # the data losses of train and validation are of one kind: without the penalty the
    # training loss is no longer above the validation loss by about the penalty
    gap = np.array(history["train_loss"]) - np.array(history["val_loss"])
    assert np.all(np.abs(gap) < np.array(history["penalty"])), (gap, history["penalty"])
