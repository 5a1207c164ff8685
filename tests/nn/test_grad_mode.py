"""Training's backward skips the first layer's grad_x and must leave the same parameter gradients."""

import numpy as np
import pytest

from handgrad.nn import MLP, Linear, Sequential, Tanh, get_loss
from handgrad.train import BatchClosure


@pytest.mark.parametrize("batchnorm, dropout", [(False, 0.0), (True, 0.0), (False, 0.3)])
def test_backward_params_equals_full_backward(batchnorm, dropout):
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(7, 5)), rng.normal(size=(7, 3))
    model = MLP([5, 6, 4, 3], activation="tanh", rng=1, dtype=np.float64,
                batchnorm=batchnorm, dropout=dropout)
    model.eval()  # one deterministic function for both passes
    model.forward(x)
    model.zero_grad()
    grad_x = model.backward(g)
    full = model.grad.copy()
    model.forward(x)
    model.zero_grad()
    assert model.backward_params(g) is None
    np.testing.assert_array_equal(model.grad, full)
    assert grad_x.shape == x.shape


def test_closure_gradient_is_the_full_gradient():
    rng = np.random.default_rng(2)
    x, d = rng.normal(size=(9, 4)), rng.integers(0, 3, size=9)
    model = MLP([4, 8, 3], rng=0, dtype=np.float64)
    loss = get_loss("cross_entropy")
    value = BatchClosure(model, loss, x, d)()
    via_closure = model.grad.copy()
    model.zero_grad()
    assert loss.forward(model.forward(x), d) == value
    model.backward(loss.backward())
    np.testing.assert_array_equal(via_closure, model.grad)


def test_nested_sequential_keeps_its_dtype_handling():
    inner = Sequential(Linear(3, 4, rng=0), Tanh())
    outer = Sequential(inner, Linear(4, 2, rng=1), dtype=np.float64)
    y = outer.forward(np.ones((2, 3), dtype=np.float32))
    assert y.dtype == np.float64
    assert inner.forward(np.ones((2, 3))).dtype == np.float64


@pytest.mark.parametrize("activation, batchnorm, dropout",
                         [("tanh", False, 0.0), ("tanh", True, 0.0), ("tanh", False, 0.3),
                          ("maxout", False, 0.0), ("maxout", True, 0.3)])
def test_overwriting_backward_equals_zero_grad_then_backward(activation, batchnorm, dropout):
    """accumulate=False (the training step's path) sets every parameter gradient, whatever
    model.grad held before, to what zero_grad + backward gives; in training mode, so batch norm
    backpropagates through its batch statistics and dropout through its mask (one forward, whose
    caches both backward passes read)."""
    rng = np.random.default_rng(3)
    x, g = rng.normal(size=(7, 5)), rng.normal(size=(7, 3))
    model = MLP([5, 6, 4, 3], activation=activation, rng=1, dtype=np.float64,
                batchnorm=batchnorm, dropout=dropout)
    model.forward(x)
    model.zero_grad()
    model.backward(g)
    expected = model.grad.copy()
    assert np.count_nonzero(expected) > expected.size // 2
    for stale in (np.nan, 5.0):   # whatever was there must not leak through
        model.grad[...] = stale
        model.backward_params(g, accumulate=False)
        np.testing.assert_array_equal(model.grad, expected)
    model.backward_params(g)      # the default still accumulates, as torch's backward does
    np.testing.assert_array_equal(model.grad, 2 * expected)


def test_overwriting_backward_reaches_nested_containers():
    rng = np.random.default_rng(4)
    x, g = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    model = Sequential(Sequential(Linear(3, 4, rng=0), Tanh()), Linear(4, 2, rng=1),
                       dtype=np.float64)
    model.forward(x)
    model.zero_grad()
    model.backward(g)
    expected = model.grad.copy()
    model.grad[...] = 7.0
    model.forward(x)
    model.backward_params(g, accumulate=False)
    np.testing.assert_array_equal(model.grad, expected)
