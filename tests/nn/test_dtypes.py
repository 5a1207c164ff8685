"""float32 stays float32 and float64 stays float64 through every module and loss; saturated and
integer inputs give finite, correct values (regressions of fixed bugs)."""

import numpy as np
import pytest
from scipy.special import softmax

from handgrad.nn import ACTIVATIONS, LOSSES, MLP, Sequential, get_activation, get_loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_keeps_dtype(name, dtype, rng):
    z = rng.normal(size=(3, 4)).astype(dtype)
    act = get_activation(name)
    y = act.forward(z)
    grad_z = act.backward(rng.normal(size=y.shape).astype(dtype))
    assert y.dtype == dtype and grad_z.dtype == dtype


def _loss_inputs(name, rng, dtype):
    z = rng.normal(size=(4, 3))
    if name in ("bce", "kl"):
        y = softmax(z, axis=1)
    elif name == "msle":
        y = np.abs(z)
    else:
        y = z
    if name in ("cross_entropy", "nll", "kl"):
        d = rng.integers(0, 3, 4)
    elif name in ("hinge", "squared_hinge"):
        d = np.sign(rng.normal(size=(4, 3)))
    else:
        d = rng.uniform(0, 1, (4, 3))
    return y.astype(dtype), d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_keeps_dtype(name, dtype, rng):
    y, d = _loss_inputs(name, rng, dtype)
    loss = get_loss(name)
    assert np.isfinite(loss(y, d))
    assert loss.backward().dtype == dtype


@pytest.mark.parametrize("activation", ["relu", "gelu", "elu", "maxout", "softplus", "sigmoid"])
def test_float32_model_computes_in_float32(activation, rng):
    model = MLP([4, 6, 3], activation=activation, output="softmax", rng=0)
    y = model(rng.normal(size=(5, 4)))  # float64 input is cast at the boundary
    grad_x = model.backward(rng.normal(size=y.shape).astype(np.float32))
    assert y.dtype == grad_x.dtype == model.grad.dtype == np.float32


def test_parameter_free_container_keeps_float64(rng):
    x = rng.normal(size=(2, 3))
    assert Sequential(get_activation("softmax"))(x).dtype == np.float64


def test_integer_predictions_do_not_truncate_targets():
    assert get_loss("mse")(np.array([[1]]), np.array([[0.5]])) == 0.25
    assert get_loss("mae")(np.array([[1]]), np.array([[0.5]])) == 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_saturated_predictions_are_finite(dtype):
    """A float32 sigmoid rounds to exactly 1.0 for z > 17: right answers cost 0 with gradient 0,
    wrong ones cost 100 (PyTorch's clamp) with a large finite gradient; never NaN."""
    sigmoid = get_activation("sigmoid")
    y = sigmoid.forward(np.array([[20.0], [-120.0], [20.0], [-120.0]], dtype=dtype))
    assert y.dtype == dtype
    d = np.array([1.0, 0.0, 0.0, 1.0])
    loss = get_loss("bce", reduction="sum")
    value, grad = loss(y, d), loss.backward()
    assert np.isfinite(value) and np.isfinite(grad).all()
    # right answers: dDiv/dy = -1/y or 1/(1 - y), about -1 and 1 (exactly 0 where y rounded to d)
    assert -1.0 - 1e-6 <= grad[0, 0] <= 0.0 and 0.0 <= grad[1, 0] <= 1.0 + 1e-6
    if dtype == np.float32:
        assert grad[0, 0] == 0.0 and grad[1, 0] == 0.0  # y is exactly 1.0 and 0.0
        assert grad[2, 0] == pytest.approx(1e12) and grad[3, 0] == pytest.approx(-1e12)
        assert value == pytest.approx(200.0)  # two logs clamped at -100
    else:
        assert grad[2, 0] == pytest.approx(1 / (1 - y[2, 0]))
        assert grad[3, 0] == pytest.approx(-1e12)  # y (1 - y) = e^-120, clamped at eps
        assert value == pytest.approx(20.0 + 100.0, rel=1e-6)  # -log(1 - y), -log(y) clamped
