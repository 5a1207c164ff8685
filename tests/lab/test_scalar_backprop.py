"""Scalar backprop (001's loops over neurons and weights) equals the vector form to 1e-12 in
float64, on networks of every supported activation and loss."""

import numpy as np
import pytest

from handgrad.lab import scalar_backprop as sb
from handgrad.nn import MLP, Linear, Sequential, BatchNorm1d, Tanh, get_loss
from handgrad.train.closure import BatchClosure


def _data(loss, T, D_in, D_out, rng):
    X = rng.standard_normal((T, D_in))
    if loss == "bce":
        return X, rng.integers(0, 2, (T, D_out)).astype(float)
    if loss == "kl":
        d = rng.random((T, D_out))
        return X, d / d.sum(axis=1, keepdims=True)
    return X, rng.standard_normal((T, D_out))


@pytest.mark.parametrize("sizes,activation,output,loss", [
    ((3, 4, 2), "tanh", "identity", "half_mse"),
    ((2, 5, 3, 2), "sigmoid", "sigmoid", "bce"),
    ((3, 4, 4, 3), "relu", "softmax", "kl"),
    ((2, 3, 1), "tanh", "tanh", "mse"),
])
def test_scalar_equals_vector_backprop(sizes, activation, output, loss):
    rng = np.random.default_rng(7)
    model = MLP(sizes, activation=activation, output=output, rng=rng, dtype=np.float64)
    X, D = _data(loss, 5, sizes[0], sizes[-1], rng)
    value = BatchClosure(model, get_loss(loss), X, D)()          # the vector form
    w, f = sb.weights_from_model(model)
    Err, dErr = sb.train_gradient(w, f, loss, X, D)
    assert Err == pytest.approx(value, rel=1e-12)
    layers = [m for m in model.layers if isinstance(m, Linear)]
    for layer, (gW, gb) in zip(layers, sb.gradient_as_arrays(dErr)):
        np.testing.assert_allclose(gW, layer.W.grad, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, layer.b.grad, rtol=1e-12, atol=1e-12)


def test_index_convention_is_the_notes():
    """w[k][i][j] is the weight from unit i of layer k-1 to unit j of layer k; i = 0 the bias."""
    model = MLP((2, 3), output="identity", rng=0, dtype=np.float64)
    layer = model.layers[0]
    w, f = sb.weights_from_model(model)
    assert w[1][0][2] == layer.b.data[1] and w[1][2][3] == layer.W.data[2, 1]
    y, z = sb.forward(w, [0.5, -1.0], f)
    np.testing.assert_allclose(z[1][1:], layer.W.data @ [0.5, -1.0] + layer.b.data, rtol=1e-14)


def test_unsupported_networks_are_refused_by_name():
    with pytest.raises(ValueError, match="BatchNorm1d"):
        sb.layers_of(Sequential(Linear(2, 2), BatchNorm1d(2), Tanh()))
    with pytest.raises(ValueError, match="maxout"):
        sb.layers_of(MLP((2, 3, 1), activation="maxout"))
    with pytest.raises(ValueError, match="cross_entropy"):
        sb.check_loss("cross_entropy")
