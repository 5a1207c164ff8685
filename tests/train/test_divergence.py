"""A NaN or inf loss stops training with a message naming the epoch and step, and the last good
checkpoint survives untouched (issue 4, trainer)."""

import re

import numpy as np
import pytest

from handgrad import io
from handgrad.cli.main import main
from handgrad.nn import MLP, get_loss
from handgrad.errors import DivergenceError
from handgrad.optim import get_optimizer
from handgrad.train import Callback, Checkpoint, Task, Trainer, resume

# huge weights overflow on purpose here
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


class RaiseLearningRate(Callback):
    """After ``after`` epochs, set the learning rate to ``lr`` (a divergence on demand)."""

    def __init__(self, after, lr):
        self.after, self.lr = after, lr

    def on_epoch_end(self, trainer, record):
        if trainer.epoch == self.after:
            trainer.optimizer.lr = self.lr


def blobs(rng, n=60):
    x = rng.normal(size=(n, 3))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)


def test_divergence_names_epoch_and_step_and_keeps_last_good_checkpoint(tmp_path, rng):
    x, d = blobs(rng)
    model = MLP([3, 6, 2], activation="relu", rng=1, dtype=np.float64)
    task = Task("classification", "cross_entropy", 2)
    path = tmp_path / "checkpoint.safetensors"
    snapshots = {}

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, record):
            snapshots[trainer.epoch] = trainer.model.theta.copy()

    trainer = Trainer(model, get_loss("cross_entropy"), get_optimizer("sgd", model, lr=0.1),
                      task=task, batch_size=10, epochs=6, seed=0,
                      callbacks=[Snapshot(), Checkpoint(path), RaiseLearningRate(2, 1e300)])
    with pytest.raises(DivergenceError) as caught:
        trainer.fit(x, d)
    message = str(caught.value)
    found = re.search(r"epoch (\d+), step (\d+)", message)
    assert found, message
    assert int(found.group(1)) == 3  # the first epoch at the huge learning rate
    assert 1 <= int(found.group(2)) <= 6
    assert trainer.stop_reason == "diverged"
    # The checkpoint is the one written after epoch 2, with its finite weights.
    meta, tensors = io.read(path, kind="checkpoint")
    assert meta["extra"]["trainer"]["epoch"] == 2
    fresh = MLP([3, 6, 2], activation="relu", rng=99, dtype=np.float64)
    again = Trainer(fresh, get_loss("cross_entropy"), get_optimizer("sgd", fresh, lr=0.1),
                    task=task, batch_size=10, epochs=6, seed=0)
    resume(again, path)
    np.testing.assert_array_equal(fresh.theta, snapshots[2])
    assert np.isfinite(fresh.theta).all()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_cli_huge_learning_rate_stops_with_epoch_and_step(tmp_path, capsys):
    code = main(["train", "--data", "iris", "--hidden", "8", "--epochs", "3", "--lr", "1e6",
                 "--optimizer", "sgd", "--no-progress", "--runs-dir", str(tmp_path),
                 "--name", "nan"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 1, text
    assert re.search(r"diverged.*epoch 1, step \d+", text), text
    run = tmp_path / "nan"
    assert not (run / "model.safetensors").exists()  # no model from diverged weights
    assert not list(run.glob(".*.tmp"))
