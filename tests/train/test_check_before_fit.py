"""Trainer.check (and fit) refuse, before the first step, what training would refuse later: the
optimizer against the loss, a batch of one sample under batch norm, a callback's monitored key
the run does not record. Nothing is trained or changed when it refuses."""

import numpy as np
import pytest

from handgrad.errors import OptionError
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train import Callback, EarlyStopping, Task, Trainer


def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    return x, (x[:, 0] > 0).astype(np.int64)


def make(optimizer="sgd", batchnorm=False, batch_size=8, callbacks=()):
    model = MLP([3, 4, 2], rng=0, dtype=np.float64, batchnorm=batchnorm)
    return Trainer(model, get_loss("cross_entropy"), get_optimizer(optimizer, model, lr=0.05),
                   task=Task("classification", "cross_entropy", 2), batch_size=batch_size,
                   epochs=3, seed=0, callbacks=callbacks)


CASES = [
    (dict(optimizer="lm"), None, ["lm", "squared-error", "cross_entropy"]),
    (dict(batchnorm=True, batch_size=1), None, ["batch_size: 1", "batch norm"]),
    (dict(callbacks=[EarlyStopping(patience=2)]), "no validation", ["val_loss", "x_val"]),
]


@pytest.mark.parametrize("options, _, needles", CASES, ids=["lm", "batchnorm", "early"])
@pytest.mark.parametrize("call", ["check", "fit"])
def test_refused_before_the_first_step(options, _, needles, call):
    x, d = data()
    trainer = make(**options)
    theta = trainer.model.theta.copy()
    with pytest.raises(OptionError) as info:
        getattr(trainer, call)(x, d)
    for needle in needles:
        assert needle in str(info.value)
    assert trainer.epoch == 0 and trainer.global_step == 0 and not trainer.history
    np.testing.assert_array_equal(trainer.model.theta, theta)


def test_check_accepts_what_fit_trains():
    x, d = data()
    trainer = make(callbacks=[EarlyStopping(patience=2)])
    trainer.check(x, d, x[:10], d[:10])
    trainer.fit(x, d, x[:10], d[:10])
    assert len(trainer.history["val_loss"]) == trainer.epoch > 0


class Writes(Callback):
    """Writes its own key into each epoch's record (as scikit-learn's validation score does)."""

    def on_epoch_end(self, trainer, record):
        record["custom"] = float(trainer.epoch)


class Declares(Writes):
    record_keys = ("custom",)


def test_keys_written_by_an_earlier_callback_are_not_refused():
    x, d = data()
    for first in (Writes(), Declares()):
        trainer = make(callbacks=[first, EarlyStopping(patience=5, monitor="custom")])
        trainer.check(x, d)
        trainer.fit(x, d)
        assert trainer.epoch == 3 and trainer.stop_reason == "max_epochs"


def test_a_declared_callback_keeps_the_check_for_other_keys():
    x, d = data()
    trainer = make(callbacks=[Declares(), EarlyStopping(patience=5, monitor="val_custom")])
    with pytest.raises(OptionError, match="val_custom"):
        trainer.check(x, d)
