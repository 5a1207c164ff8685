"""Exact resume of training through a checkpoint, for a model with batch norm and dropout: the
running statistics (buffers) and dropout's random streams must come back, not only the weights."""

import json

import numpy as np

from handgrad.nn import MLP, MSE, Dropout, batchnorm_between, build, chain_between, dropout_between
from handgrad.train import Checkpoint, Trainer, resume


class GradientDescent:
    """theta := theta - eta grad: the smallest optimizer the Trainer accepts (kept here so this test
    is about the layers' state, not an optimizer's)."""

    def __init__(self, model, lr):
        self.model, self.lr = model, lr

    def step(self, closure):
        loss = closure()
        self.model.theta -= self.lr * self.model.grad
        return loss

    def state_dict(self):
        return {"lr": self.lr}

    def load_state_dict(self, state):
        self.lr = state["lr"]


def make_model(seed):
    return MLP([3, 8, 6, 2], activation="tanh", rng=seed, dtype=np.float64,
               layers_between=chain_between(batchnorm_between, dropout_between(0.3)))


def make_trainer(model, epochs, callbacks=()):
    return Trainer(model, MSE(), GradientDescent(model, lr=0.1), batch_size=8, epochs=epochs,
                   seed=3, callbacks=callbacks)


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2]], axis=1)


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path):
    x, d = data()
    straight = make_model(0)
    make_trainer(straight, epochs=3).fit(x, d)

    first = make_model(0)
    path = tmp_path / "run.ckpt"
    make_trainer(first, epochs=1, callbacks=[Checkpoint(path)]).fit(x, d)
    # A model rebuilt from the file's description: other weights, fresh dropout streams.
    model = build(json.loads(json.dumps(straight.config())), dtype=np.float64)
    model.theta[...] = 0.0
    trainer = make_trainer(model, epochs=3)
    resume(trainer, path)
    trainer.fit(x, d)

    np.testing.assert_array_equal(model.theta, straight.theta)
    for (name, ours), (_, theirs) in zip(model.named_buffers(), straight.named_buffers()):
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    drops = [m for m in model.layers if isinstance(m, Dropout)]
    assert len(drops) == 2
    for ours, theirs in zip(drops, (m for m in straight.layers if isinstance(m, Dropout))):
        assert ours.get_rng_state() == theirs.get_rng_state()
