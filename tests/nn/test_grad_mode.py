"""One backward per module, shaped by the model's grad_mode: a training step's mode (gradients set,
no grad_x for the data) must leave the same parameter gradients as zero_grad + backward."""

import numpy as np
import pytest

from handgrad.nn import MLP, Linear, Module, Parameter, Sequential, ShapeError, Tanh, get_loss
from handgrad.train import BatchClosure


@pytest.mark.parametrize("batchnorm, dropout", [(False, 0.0), (True, 0.0), (False, 0.3)])
def test_backward_without_grad_x_gives_the_same_parameter_gradients(batchnorm, dropout):
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
    previous = model.grad_mode(needs_grad_x=False)
    assert previous == (True, True)
    assert model.backward(g) is None
    np.testing.assert_array_equal(model.grad, full)
    assert grad_x.shape == x.shape
    model.grad_mode(*previous)
    assert model.backward(g).shape == x.shape  # the default mode again: grad_x, accumulated
    np.testing.assert_array_equal(model.grad, 2 * full)


def test_closure_gradient_is_the_full_gradient():
    rng = np.random.default_rng(2)
    x, d = rng.normal(size=(9, 4)), rng.integers(0, 3, size=9)
    model = MLP([4, 8, 3], rng=0, dtype=np.float64)
    loss = get_loss("cross_entropy")
    value = BatchClosure(model, loss, x, d)()
    via_closure = model.grad.copy()
    model.zero_grad()
    assert loss(model.forward(x), d) == value
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
        previous = model.grad_mode(accumulate=False, needs_grad_x=False)
        model.backward(g)
        model.grad_mode(*previous)
        np.testing.assert_array_equal(model.grad, expected)
    model.backward(g)      # the default still accumulates, as torch's backward does
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
    model.grad_mode(accumulate=False, needs_grad_x=False)
    assert model.backward(g) is None
    np.testing.assert_array_equal(model.grad, expected)
    assert model.layers[0].needs_grad_x is False and model.layers[1].needs_grad_x is True


class OnlyAccumulates(Module):
    """A module written against the plain protocol: its backward always adds."""

    def __init__(self):
        super().__init__()
        self.params["w"] = Parameter(np.ones(2))
        self.flatten(np.float64)

    def forward(self, x):
        return x * self.params["w"].data

    def backward(self, grad_y):
        self.params["w"].grad += (grad_y * self.saved_x).sum(axis=0)
        return grad_y * self.params["w"].data


def test_a_module_that_only_accumulates_is_zeroed_by_grad_mode_instead():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 2))
    plain = OnlyAccumulates()
    model = Sequential(Linear(2, 2, rng=0, dtype=np.float64), plain)
    plain.saved_x = model.layers[0].forward(x)
    model.forward(x)
    g = rng.normal(size=(4, 2))
    model.backward(g)
    expected = model.grad.copy()
    model.grad[...] = 3.0
    model.grad_mode(accumulate=False)
    model.backward(g)
    np.testing.assert_array_equal(model.grad, expected)


def test_the_closure_restores_the_default_mode_even_when_backward_fails():
    model = MLP([3, 4, 2], rng=0, dtype=np.float64)
    loss = get_loss("mse")
    loss.backward = lambda: np.ones((7, 2))  # the wrong shape: Sequential.backward refuses it
    with pytest.raises(ShapeError):
        BatchClosure(model, loss, np.ones((5, 3)), np.ones((5, 2)))()
    assert (model.accumulate, model.needs_grad_x) == (True, True)
    assert all(m.accumulate and m.needs_grad_x for m in model.modules())
