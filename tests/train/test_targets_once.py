"""Issue 14.3 for the targets: the trainer brings them to the loss's form once per fit
(``loss.prepare_targets``), every step runs the loss unchecked on rows of them, and the value's
finiteness still turns a non-finite prediction into a divergence."""

import numpy as np
import pytest

import handgrad.nn.losses as losses_module
from handgrad.errors import DivergenceError, NonFiniteError
from handgrad.nn import MLP, get_loss
from handgrad.nn.losses import Loss
from handgrad.optim import get_optimizer
from handgrad.train import Callback, Task, Trainer


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5), x[:, 0] - 2.0 * x[:, 2]


def trainer_for(loss, batch_size, epochs=3, task=None, dtype=np.float64, lr=0.05):
    outputs = 3 if loss == "cross_entropy" else 1
    model = MLP([4, 6, outputs], rng=0, dtype=dtype)
    return Trainer(model, get_loss(loss), get_optimizer("sgd", model, lr=lr), task=task,
                   batch_size=batch_size, epochs=epochs, seed=0)


@pytest.mark.parametrize("loss, task", [
    ("cross_entropy", Task("classification", "cross_entropy", 3)),
    ("mse", None),
    ("mse", Task("regression", "mse")),
])
def test_target_checks_do_not_grow_with_the_number_of_steps(monkeypatch, loss, task):
    counts, cls = {}, type(get_loss(loss))
    real = {"prepare_targets": cls.prepare_targets, "as_float_array": losses_module.as_float_array,
            "class_indices_checked": losses_module.class_indices_checked,
            "call": Loss.__call__}

    def counting(key):
        def wrapper(*args, **kwargs):
            counts[key] = counts.get(key, 0) + 1
            return real[key](*args, **kwargs)
        return wrapper

    monkeypatch.setattr(cls, "prepare_targets", counting("prepare_targets"))
    monkeypatch.setattr(Loss, "__call__", counting("call"))
    monkeypatch.setattr(losses_module, "as_float_array", counting("as_float_array"))
    monkeypatch.setattr(losses_module, "class_indices_checked", counting("class_indices_checked"))
    seen = []
    for batch_size in (40, 2):  # 1 and 20 steps an epoch
        counts.clear()
        x, labels, values = data()
        x_val, labels_val, values_val = data(20, seed=1)
        d, d_val = (labels, labels_val) if loss == "cross_entropy" else (values, values_val)
        trainer_for(loss, batch_size, task=task).fit(x, d, x_val, d_val)
        seen.append(dict(counts))
    assert seen[0] == seen[1]
    assert seen[0]["prepare_targets"] == 2  # the training and the validation targets, once each
    assert "call" not in seen[0]  # no step goes through the checked boundary


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("task", [None, Task("regression", "mse")])
def test_regression_with_1d_targets_reports_the_loss_computed_by_hand(dtype, task):
    """A (n, 1) prediction against 1-D targets: the reported loss is mean((y_i - d_i)^2), not the
    mean over all n^2 pairs a broadcast y - d would give."""
    x, _, d = data()
    trainer = trainer_for("mse", batch_size=40, epochs=1, task=task, dtype=dtype, lr=0.0)
    y = trainer.model.forward(x.astype(dtype))[:, 0].astype(np.float64)
    by_hand = float(np.mean((y - d) ** 2))
    history = trainer.fit(x, d)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert history["train_loss"][0] == pytest.approx(by_hand, rel=rtol)
    assert trainer.evaluate(x, d)["loss"] == pytest.approx(by_hand, rel=rtol)
    assert abs(by_hand - float(np.mean((y[:, None] - d[None, :]) ** 2))) > 0.1


class Blowup(Callback):
    """After the first epoch, make the outputs overflow to inf while every weight stays finite."""

    def on_epoch_end(self, trainer, record):
        if trainer.epoch == 1:
            trainer.model.theta[:] = 1e30  # finite in float32; 1e30 * 1e30 is not


def test_an_overflowing_prediction_stops_training_as_divergence():
    x, _, d = data()
    trainer = trainer_for("mse", batch_size=10, epochs=3, dtype=np.float32)
    trainer.callbacks.append(Blowup())
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(DivergenceError,
                                                                     match="epoch 2, step 1"):
        trainer.fit(x, d)
    assert trainer.stop_reason == "diverged"


def test_evaluate_refuses_an_overflowing_prediction():
    x, _, d = data()
    trainer = trainer_for("mse", batch_size=10, epochs=1, dtype=np.float32)
    trainer.model.theta[:] = 1e30
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(NonFiniteError,
                                                                     match="non-finite loss"):
        trainer.evaluate(x, d)


def test_targets_of_the_wrong_width_are_refused_once_at_fit():
    x, _, d = data()
    trainer = trainer_for("mse", batch_size=10)
    with pytest.raises(Exception, match=r"training targets d has shape \(40, 2\) but prediction "
                                        r"y has shape \(40, 1\)"):
        trainer.fit(x, np.column_stack([d, d]))
