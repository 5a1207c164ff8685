"""The Trainer in process: exact resume (at an epoch boundary and mid-epoch after Ctrl-C) for a
model with dropout and batch norm trained by the library's optimizers, and early stopping's best-weights
restore."""

import os
import signal

import numpy as np
import pytest

from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train import Callback, Checkpoint, EarlyStopping, Task, Trainer, resume


def data(seed=0, n=90):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    d = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64) + (x[:, 3] > 0.8)
    return x, d


def make_model(init_seed, dtype=np.float64):
    # batch norm in each hidden layer, dropout after its activation; dropout seeds come from rng
    return MLP([5, 12, 8, 3], activation="relu", rng=init_seed, dtype=dtype,
               dropout=0.3, batchnorm=True)


def make_trainer(model, optimizer, epochs, callbacks=()):
    options = {"momentum": {"lr": 0.05}, "adam": {"lr": 0.01}, "nesterov": {"lr": 0.05}}
    return Trainer(model, get_loss("cross_entropy"),
                   get_optimizer(optimizer, model, **options[optimizer]),
                   task=Task("classification", "cross_entropy", 3), batch_size=16,
                   epochs=epochs, seed=7, callbacks=list(callbacks))


def without_time(history):
    return {k: v for k, v in history.items() if k != "time"}


class InterruptAt(Callback):
    """Ctrl-C after ``step`` optimizer steps (inside an epoch)."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, loss):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "nesterov"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_epochs_and_resume_equals_four_straight(tmp_path, optimizer, dtype):
    x, d = data()
    x_val, d_val = data(seed=1, n=30)
    x, x_val = x.astype(dtype), x_val.astype(dtype)
    straight = make_model(0, dtype)
    history = make_trainer(straight, optimizer, 4).fit(x, d, x_val, d_val)

    path = tmp_path / "checkpoint.safetensors"
    first = make_model(0, dtype)
    make_trainer(first, optimizer, 2, [Checkpoint(path)]).fit(x, d, x_val, d_val)
    # other initial weights and other dropout streams: everything must come from the file
    model = make_model(123, dtype)
    trainer = make_trainer(model, optimizer, 4)
    resume(trainer, path)
    assert trainer.epoch == 2
    resumed_history = trainer.fit(x, d, x_val, d_val)

    np.testing.assert_array_equal(model.theta, straight.theta)
    for (name, a), (_, b) in zip(model.named_buffers(), straight.named_buffers()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert without_time(resumed_history) == without_time(history)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_ctrl_c_mid_epoch_then_resume_equals_straight(tmp_path, optimizer):
    x, d = data()  # 90 rows, batch 16: 6 steps per epoch
    straight = make_model(0)
    make_trainer(straight, optimizer, 3).fit(x, d)

    path = tmp_path / "checkpoint.safetensors"
    first = make_model(0)
    trainer = make_trainer(first, optimizer, 3, [Checkpoint(path), InterruptAt(9)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(x, d)
    assert trainer.stop_reason == "interrupted"
    model = make_model(5)
    again = make_trainer(model, optimizer, 3)
    resume(again, path)
    assert (again.epoch, again.step_in_epoch, again.global_step) == (1, 3, 9)  # mid-epoch 2
    again.fit(x, d)
    np.testing.assert_array_equal(model.theta, straight.theta)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


class Record(Callback):
    def __init__(self):
        self.theta, self.buffers, self.val_loss = {}, {}, {}

    def on_epoch_end(self, trainer, record):
        self.theta[record["epoch"]] = trainer.model.theta.copy()
        self.buffers[record["epoch"]] = trainer.model.snapshot().buffers
        self.val_loss[record["epoch"]] = record["val_loss"]


def overfitting_problem():
    """Validation targets are half the training targets: the validation loss falls while the
    model's slope grows towards 0.5 and rises once it passes it, so there is a best epoch inside
    the run."""
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 1))
    x, x_val = rng.normal(size=(64, 4)), rng.normal(size=(64, 4))
    return x, x @ w, x_val, 0.5 * (x_val @ w)


@pytest.mark.parametrize("restore_best", [True, False])
def test_early_stopping_restores_best_weights(restore_best):
    x, d, x_val, d_val = overfitting_problem()
    model = MLP([4, 6, 1], activation="tanh", rng=0, dtype=np.float64,
                batchnorm=True)
    record, patience = Record(), 3
    stopper = EarlyStopping(patience=patience, restore_best=restore_best)
    trainer = Trainer(model, get_loss("mse"), get_optimizer("sgd", model, lr=0.02),
                      batch_size=16, epochs=200, seed=0, callbacks=[record, stopper])
    trainer.fit(x, d, x_val, d_val)

    assert trainer.stop_reason == "early_stopping"
    losses = record.val_loss
    best = min(losses, key=losses.get)
    assert 1 < best < trainer.epoch  # a real best epoch inside the run
    assert trainer.epoch == best + patience
    assert stopper.best_epoch == best
    expected = best if restore_best else trainer.epoch
    np.testing.assert_array_equal(model.theta, record.theta[expected])
    for name, buf in model.snapshot().buffers.items():
        np.testing.assert_array_equal(buf, record.buffers[expected][name], err_msg=name)
    if restore_best:
        assert not np.array_equal(model.theta, record.theta[trainer.epoch])


class CtrlCInsideStep:
    """The momentum optimizer, with Ctrl-C (a real SIGINT to this process) arriving right after
    its update of step ``at``: the worst moment, weights changed but the step not yet counted."""

    def __init__(self, model, at, presses=1):
        self.inner = get_optimizer("momentum", model, lr=0.05)
        self.at, self.presses, self.steps = at, presses, 0

    @property
    def lr(self):
        return self.inner.lr

    def step(self, closure):
        loss = self.inner.step(closure)
        self.steps += 1
        if self.steps == self.at:
            for _ in range(self.presses):
                os.kill(os.getpid(), signal.SIGINT)
        return loss

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def sigint_trainer(model, optimizer, epochs, callbacks=()):
    return Trainer(model, get_loss("cross_entropy"), optimizer,
                   task=Task("classification", "cross_entropy", 3), batch_size=16,
                   epochs=epochs, seed=7, callbacks=list(callbacks))


def test_sigint_inside_a_step_is_held_until_the_step_is_complete(tmp_path):
    x, d = data()
    straight = make_model(0)
    sigint_trainer(straight, get_optimizer("momentum", straight, lr=0.05), 3).fit(x, d)

    path = tmp_path / "checkpoint.safetensors"
    first = make_model(0)
    trainer = sigint_trainer(first, CtrlCInsideStep(first, at=9), 3, [Checkpoint(path)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(x, d)
    assert (trainer.epoch, trainer.step_in_epoch) == (1, 3)  # stopped after step 9, counted
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back
    model = make_model(5)
    again = sigint_trainer(model, get_optimizer("momentum", model, lr=0.05), 3)
    resume(again, path)
    assert again.global_step == 9
    again.fit(x, d)
    np.testing.assert_array_equal(model.theta, straight.theta)


def test_second_sigint_stops_at_once_without_writing_a_torn_checkpoint(tmp_path):
    x, d = data()
    path = tmp_path / "checkpoint.safetensors"
    model = make_model(0)
    trainer = sigint_trainer(model, CtrlCInsideStep(model, at=9, presses=2), 3,
                             [Checkpoint(path)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(x, d)
    # the checkpoint is still the one of the end of epoch 1, not the torn state inside step 9
    assert checkpoint_position(path) == (1, 0, 6)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def checkpoint_position(path):
    from handgrad import io

    state = io.read(path, kind="checkpoint")[0]["extra"]["trainer"]
    return state["epoch"], state["step_in_epoch"], state["global_step"]
