"""The affine layer z = x W^T + b: gradients, accumulation, initialisations, seeded determinism."""

import numpy as np
import pytest

from handgrad.check import gradcheck
from handgrad.nn import MLP, Linear
from handgrad.nn.init import INITIALIZERS


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("init", ["xavier_uniform", "he_normal", "uniform"])
def test_linear_backward_matches_finite_differences(bias, batch, init, rng):
    layer = Linear(4, 3, bias=bias, init=init, bias_init="uniform", rng=1, dtype=np.float64)
    report = gradcheck(layer, rng.normal(size=(batch, 4)), rng=batch)
    assert report.passed, report
    assert set(report.errors) == ({"input x", "W", "b"} if bias else {"input x", "W"})


def test_linear_gradients_are_the_notes_outer_products(rng):
    """grad_W = grad_z^T x (a sum of outer products), grad_b = sum of grad_z, grad_x = grad_z W."""
    layer = Linear(3, 2, bias_init="uniform", rng=0, dtype=np.float64)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    z = layer.forward(x)
    assert np.allclose(z, x @ layer.W.data.T + layer.b.data, rtol=0, atol=1e-15)
    grad_x = layer.backward(g)
    outer_sum = sum(np.outer(g[t], x[t]) for t in range(4))
    assert np.allclose(layer.W.grad, outer_sum, rtol=0, atol=1e-14)
    assert np.allclose(layer.b.grad, g.sum(axis=0), rtol=0, atol=1e-14)
    assert np.allclose(grad_x, g @ layer.W.data, rtol=0, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_sample_weight_gradient_is_the_outer_product_bit_for_bit(dtype, rng):
    """Batch 1 takes a broadcast multiply, not BLAS: each entry g_i x_j is one rounding either
    way, so it must equal np.outer exactly (as values: a zero may differ in sign), written in
    place and accumulated alike."""
    layer = Linear(7, 5, rng=0, dtype=dtype)
    x, g = rng.normal(size=(1, 7)).astype(dtype), rng.normal(size=(1, 5)).astype(dtype)
    layer.forward(x)
    layer.grad_mode(accumulate=False)
    layer.backward(g)
    np.testing.assert_array_equal(layer.W.grad, np.outer(g[0], x[0]))
    layer.grad_mode(accumulate=True)
    layer.backward(g)  # accumulates on top
    np.testing.assert_array_equal(layer.W.grad, np.outer(g[0], x[0]) * 2)
    # and it agrees with the matrix product the larger batches take
    layer.forward(np.repeat(x, 2, axis=0))
    layer.grad_mode(accumulate=False)
    layer.backward(np.concatenate([g, np.zeros_like(g)]))
    np.testing.assert_array_equal(layer.W.grad, np.outer(g[0], x[0]))


def test_backward_accumulates_and_zero_grad_clears(rng):
    model = MLP([3, 4, 2], activation="tanh", rng=0, dtype=np.float64)
    x, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    model.forward(x)
    model.backward(g)
    once = model.grad.copy()
    assert np.abs(once).max() > 0
    model.forward(x)
    model.backward(g)
    assert np.allclose(model.grad, 2 * once, rtol=1e-15, atol=0)
    model.zero_grad()
    assert not model.grad.any()


def test_parameters_are_views_into_theta_and_grad():
    model = MLP([3, 4, 2], rng=0, dtype=np.float64)
    assert model.theta.size == model.num_parameters == 3 * 4 + 4 + 4 * 2 + 2
    for p in model.parameters():
        assert np.shares_memory(p.data, model.theta) and np.shares_memory(p.grad, model.grad)
    assert model.decay_mask().sum() == 3 * 4 + 4 * 2  # weights decay, biases do not


# --- initialisations: the documented variances, checked statistically ------------------------

# name -> (variance as a function of fan_in, fan_out; half-width of the support if uniform)
INIT_VARIANCES = {
    "xavier_uniform": (lambda fi, fo: 2.0 / (fi + fo), True),
    "xavier_normal": (lambda fi, fo: 2.0 / (fi + fo), False),
    "glorot_uniform": (lambda fi, fo: 2.0 / (fi + fo), True),
    "glorot_normal": (lambda fi, fo: 2.0 / (fi + fo), False),
    "he_uniform": (lambda fi, fo: 2.0 / fi, True),
    "he_normal": (lambda fi, fo: 2.0 / fi, False),
    "kaiming_uniform": (lambda fi, fo: 2.0 / fi, True),
    "kaiming_normal": (lambda fi, fo: 2.0 / fi, False),
    "lecun_uniform": (lambda fi, fo: 1.0 / fi, True),
    "lecun_normal": (lambda fi, fo: 1.0 / fi, False),
    "uniform": (lambda fi, fo: 1.0 / (3.0 * fi), True),
}


def test_every_initializer_is_in_the_table():
    assert set(INIT_VARIANCES) | {"zeros"} == set(INITIALIZERS)


@pytest.mark.parametrize("fan_in, fan_out", [(400, 150), (60, 1000)])
@pytest.mark.parametrize("name", sorted(INIT_VARIANCES))
def test_init_has_the_documented_variance(name, fan_in, fan_out):
    """60 000 draws: the sample variance's relative standard error is under 0.6 %, so 4 % is
    well over 6 standard errors, yet separates fan_in from fan_out (the two shapes differ by > 30 %)."""
    variance, is_uniform = INIT_VARIANCES[name]
    W = Linear(fan_in, fan_out, init=name, rng=11, dtype=np.float64).W.data
    assert W.shape == (fan_out, fan_in)
    expected = variance(fan_in, fan_out)
    assert W.var() == pytest.approx(expected, rel=0.04)
    assert abs(W.mean()) < 4 * np.sqrt(expected / W.size)
    if is_uniform:
        limit = np.sqrt(3.0 * expected)
        assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit


def test_bias_inits():
    layer = Linear(50, 2000, bias_init="zeros", rng=0)
    assert not layer.b.data.any()
    b = Linear(50, 2000, bias_init="uniform", rng=0, dtype=np.float64).b.data
    assert np.abs(b).max() <= 1 / np.sqrt(50)  # PyTorch's nn.Linear bias bound
    assert b.var() == pytest.approx(1 / (3 * 50), rel=0.1)


# --- determinism --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_seed_gives_bit_identical_weights_and_gradients(dtype, rng):
    x, d = rng.normal(size=(6, 5)), rng.normal(size=(6, 3))

    def run(seed):
        model = MLP([5, 7, 4, 3], activation="relu", rng=seed, dtype=dtype)
        theta = model.theta.copy()
        y = model.forward(x)
        model.backward((y - d).astype(dtype))
        return theta, model.grad.copy()

    theta_a, grad_a = run(42)
    theta_b, grad_b = run(42)
    assert theta_a.dtype == dtype
    assert theta_a.tobytes() == theta_b.tobytes()
    assert grad_a.tobytes() == grad_b.tobytes()
    theta_c, _ = run(43)
    assert not np.array_equal(theta_a, theta_c)


def test_generator_and_integer_seed_agree():
    a = Linear(4, 3, rng=5, dtype=np.float64)
    b = Linear(4, 3, rng=np.random.default_rng(5), dtype=np.float64)
    assert a.theta.tobytes() == b.theta.tobytes()


def test_to_float64_keeps_values_and_views():
    model = MLP([3, 4, 2], rng=0)
    before = model.theta.astype(np.float64)
    model.to(np.float64)
    assert model.dtype == np.float64 and model.theta.dtype == np.float64
    assert np.array_equal(model.theta, before)
    assert all(np.shares_memory(p.data, model.theta) for p in model.parameters())
