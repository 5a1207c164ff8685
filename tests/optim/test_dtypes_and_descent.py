"""Every optimizer trains a float32 model in float32, and decreases a smooth loss."""

import numpy as np
import pytest

from handgrad.nn import MLP, get_loss
from handgrad.optim import OPTIMIZERS, get_optimizer
from handgrad.train.closure import BatchClosure

LR = {"sgd": 0.2, "momentum": 0.1, "nesterov": 0.1, "momentum002": 0.1, "nesterov002": 0.1,
      "adagrad": 0.1, "rmsprop": 0.01,
      "adam": 0.01, "adamw": 0.01, "rprop": 0.01, "rprop_backtracking": 0.01,
      "rprop_simple": 0.01, "quickprop": 0.1, "newton": 1.0, "bfgs": 1.0, "lbfgs": 1.0, "lm": 1.0,
      "cg": 1.0}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_decreases_the_loss_and_keeps_the_dtype(name, dtype):
    rng = np.random.default_rng(0)
    model = MLP([3, 6, 2], activation="tanh", rng=rng, dtype=dtype)
    x = rng.normal(size=(32, 3)).astype(dtype)
    d = np.tanh(x @ rng.normal(size=(3, 2))).astype(dtype)
    closure = BatchClosure(model, get_loss("half_mse"), x, d)
    options = {"line_search": "backtracking"} if name == "newton" else {}
    opt = get_optimizer(name, model, lr=LR[name], **options)
    theta = model.theta
    start = closure()
    for _ in range(30):
        opt.step(closure)
    assert model.theta is theta and model.theta.dtype == dtype     # updated in place
    if name not in ("lbfgs", "cg"):      # these keep their search history in float64
        for buffer in opt.state_dict()["state"].values():
            if buffer.size == theta.size and buffer.ndim == 1:
                assert buffer.dtype == dtype
    assert closure() < 0.7 * start
