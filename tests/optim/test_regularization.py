"""L2 weight decay (weights only by default, 003 eq. 29) and L1, added to the gradient; their value
for the line-search methods; AdamW's decoupled decay."""

import numpy as np
import pytest

from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure


def setup(seed=0):
    rng = np.random.default_rng(seed)
    model = MLP([3, 4, 2], activation="tanh", rng=rng, dtype=np.float64)
    model.theta[...] += rng.normal(0, 0.3, model.theta.size)    # biases non-zero too
    x, d = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    return model, BatchClosure(model, get_loss("mse"), x, d)


@pytest.mark.parametrize("decay_biases", [False, True])
def test_sgd_step_with_l2_and_l1(decay_biases):
    model, closure = setup()
    M = np.ones(model.theta.size) if decay_biases else model.decay_mask().astype(float)
    assert 0 < M.sum() < M.size or decay_biases
    opt = get_optimizer("sgd", model, lr=0.1, weight_decay=0.3, l1=0.05,
                        decay_biases=decay_biases)
    closure()
    w, g = model.theta.copy(), model.grad.copy()
    opt.step()
    expected = w - 0.1 * (g + 0.3 * M * w + 0.05 * M * np.sign(w))
    np.testing.assert_allclose(model.theta, expected, rtol=1e-14)


def test_penalty_value_and_gradient_agree():
    model, closure = setup(1)
    opt = get_optimizer("lbfgs", model, weight_decay=0.2, l1=0.1)
    M = model.decay_mask()
    w = model.theta[M]
    assert opt.penalty() == pytest.approx(0.1 * np.sum(w * w) + 0.1 * np.abs(w).sum())
    loss, objective = opt._evaluate(closure)
    assert objective - loss == pytest.approx(opt.penalty())


def test_adamw_decays_weights_outside_the_moments():
    model, closure = setup(2)
    opt = get_optimizer("adamw", model, lr=0.01, weight_decay=0.5)
    twin, twin_closure = setup(2)
    adam = get_optimizer("adam", twin, lr=0.01)
    M = model.decay_mask()
    w0 = model.theta.copy()
    closure()
    twin_closure()
    opt.step()
    adam.step()
    # AdamW = Adam's step on the plain gradient, from W shrunk by (1 - eta lambda) on the weights
    expected = twin.theta - 0.01 * 0.5 * w0 * M
    np.testing.assert_allclose(model.theta, expected, rtol=1e-13)
    np.testing.assert_array_equal(opt.exp_avg, adam.exp_avg)
