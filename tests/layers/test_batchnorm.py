"""BatchNorm1d: finite differences (train and eval), the batch statistics, buffers, options, config.

The PyTorch comparison is in tests/reference/test_layers_torch.py.
"""

import json

import numpy as np
import pytest

from handgrad.check import gradcheck
from handgrad.nn import (MLP, BatchNorm1d, Sequential, ShapeError, batchnorm_between,
                         batchnorm_between_with, build)


def make_bn(num_features=4, seed=0, affine=True, **options):
    """A float64 BatchNorm1d with random gamma, beta and running statistics (not the 1/0 defaults,
    which would hide a mix-up of the two)."""
    rng = np.random.default_rng(seed)
    bn = BatchNorm1d(num_features, affine=affine, dtype=np.float64, **options)
    if affine:
        bn.params["gamma"].data[...] = rng.uniform(0.5, 2.0, num_features)
        bn.params["beta"].data[...] = rng.normal(size=num_features)
    bn.running_mean[...] = rng.normal(size=num_features)
    bn.running_var[...] = rng.uniform(0.5, 2.0, num_features)
    return bn


def check_against_finite_differences(bn, x, training, seed=1):
    """handgrad.check.gradcheck: s = sum(G * bn(x)) with a random upstream G, central differences
    for x and for every parameter; returns the analytic grad_x."""
    bn.train(training)
    report = gradcheck(bn, x, rng=seed)
    assert report.passed, str(report)
    assert set(report.errors) == {"input x", *(name for name, _ in bn.named_parameters())}
    return report["input x"].analytic


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_backward_matches_finite_differences(training, affine):
    bn = make_bn(4, affine=affine)
    x = np.random.default_rng(2).normal(1.0, 3.0, size=(6, 4))
    grad_x = check_against_finite_differences(bn, x, training)
    assert np.max(np.abs(grad_x)) > 1e-2  # a non-trivial gradient was compared


def test_batch_of_two_matches_finite_differences():
    # The smallest batch allowed in training. There xhat = +-sqrt(var / (var + eps)), which depends
    # on x only through eps, so a large eps keeps the gradient well above finite-difference noise.
    bn = make_bn(3, eps=1.0)
    x = np.random.default_rng(3).normal(size=(2, 3))
    check_against_finite_differences(bn, x, training=True)


def test_all_ones_upstream_gradient_gives_zero_input_gradient():
    # Why the tests use a random upstream gradient: sum(y) does not depend on x in training mode.
    bn = make_bn(5)
    x = np.random.default_rng(4).normal(size=(8, 5))
    bn.forward(x)
    grad_x = bn.backward(np.ones((8, 5)))
    assert np.max(np.abs(grad_x)) < 1e-12


def test_training_output_is_normalised_per_feature():
    bn = BatchNorm1d(3, dtype=np.float64)
    x = np.random.default_rng(5).normal([1.0, -4.0, 10.0], [0.1, 2.0, 30.0], size=(50, 3))
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    var = x.var(axis=0)
    np.testing.assert_allclose(y.var(axis=0), var / (var + bn.eps), rtol=1e-12)


def test_running_statistics_follow_the_momentum_rule():
    rng = np.random.default_rng(6)
    bn = make_bn(3, momentum=0.3)
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    for _ in range(4):
        x = rng.normal(2.0, 3.0, size=(7, 3))
        bn.forward(x)
        mean = 0.7 * mean + 0.3 * x.mean(axis=0)
        var = 0.7 * var + 0.3 * x.var(axis=0, ddof=1)  # unbiased, as PyTorch
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-12)


def test_eval_uses_running_statistics_and_leaves_them_alone():
    bn = make_bn(3)
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    x = np.random.default_rng(7).normal(size=(5, 3))
    bn.eval()
    y = bn.forward(x)
    gamma, beta = bn.params["gamma"].data, bn.params["beta"].data
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + bn.eps) + beta, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, mean)
    np.testing.assert_array_equal(bn.running_var, var)
    # Eval mode works on a single sample.
    assert bn.forward(x[:1]).shape == (1, 3)


def test_parameter_gradients_accumulate():
    bn = make_bn(3)
    x = np.random.default_rng(8).normal(size=(5, 3))
    G = np.random.default_rng(9).normal(size=(5, 3))
    bn.forward(x)
    bn.backward(G)
    once = bn.grad.copy()
    bn.backward(G)
    np.testing.assert_allclose(bn.grad, 2 * once, rtol=1e-12)
    assert np.all(once != 0)


def test_batch_of_one_in_training_is_a_clear_error():
    bn = BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 sample"):
        bn.forward(np.ones((1, 3), np.float32))


@pytest.mark.parametrize("shape", [(4,), (4, 2), (4, 3, 1)])
def test_wrong_input_shape_is_a_shape_error(shape):
    """Checked at the public boundary, model(x); forward itself runs unchecked."""
    with pytest.raises(ShapeError, match=r"must be 2-D|has 2 features but BatchNorm1d\(3,.*expects 3"):
        BatchNorm1d(3)(np.ones(shape, np.float32))


def test_backward_with_wrong_shape_or_before_forward():
    bn = BatchNorm1d(3)
    with pytest.raises(RuntimeError, match="before forward"):
        bn.backward(np.ones((4, 3), np.float32))
    bn.forward(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))
    with pytest.raises(ShapeError, match="grad_y"):
        bn.backward(np.ones((5, 3), np.float32))


@pytest.mark.parametrize("options, message", [
    ({"num_features": 0}, "num_features"),
    ({"num_features": 2.5}, "num_features"),
    ({"num_features": True}, "num_features"),
    ({"num_features": 3, "eps": 0.0}, "eps"),
    ({"num_features": 3, "eps": float("nan")}, "eps"),
    ({"num_features": 3, "momentum": -0.1}, "momentum"),
    ({"num_features": 3, "momentum": 1.5}, "momentum"),
    ({"num_features": 3, "momentum": float("nan")}, "momentum"),
    ({"num_features": 3, "momentum": "0.1"}, "momentum"),
    ({"num_features": 3, "eps": None}, "eps"),
])
def test_invalid_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm1d(**options)


def test_parameters_buffers_and_dtype():
    bn = BatchNorm1d(4)
    assert [name for name, _ in bn.named_parameters()] == ["gamma", "beta"]
    assert not bn.decay_mask().any()  # gamma and beta are not weight-decayed
    np.testing.assert_array_equal(bn.params["gamma"].data, 1.0)
    np.testing.assert_array_equal(bn.params["beta"].data, 0.0)
    assert dict(bn.named_buffers()).keys() == {"running_mean", "running_var"}
    assert bn.running_mean.dtype == np.float32
    bn.to(np.float64)
    assert bn.running_mean.dtype == np.float64 and bn.running_var.dtype == np.float64
    assert bn.params["gamma"].data.dtype == np.float64
    assert BatchNorm1d(4, affine=False).num_parameters == 0


def test_config_round_trip_through_build():
    bn = BatchNorm1d(5, eps=1e-3, momentum=0.25, affine=False)
    config = json.loads(json.dumps(bn.config()))
    rebuilt = build(config, dtype=np.float64)
    assert isinstance(rebuilt, BatchNorm1d)
    assert rebuilt.config() == bn.config()
    assert rebuilt.running_var.dtype == np.float64


def test_mlp_with_batchnorm_between():
    model = MLP([3, 8, 6, 2], layers_between=batchnorm_between, rng=0, dtype=np.float64)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert model.layers[1].num_features == 8 and model.layers[4].num_features == 6
    assert model.layers[1].running_mean.dtype == np.float64  # cast with the model
    assert sorted(dict(model.named_buffers())) == ["1.running_mean", "1.running_var",
                                                   "4.running_mean", "4.running_var"]
    rebuilt = build(json.loads(json.dumps(model.config())))
    assert isinstance(rebuilt, Sequential) and rebuilt.config() == model.config()
    # The gradient of the whole model through both batch norms, by finite differences. A bias just
    # before a batch norm has a true gradient of exactly 0 (the batch mean absorbs any shift), so
    # the relative error is meaningless there: check that it is ~0 on both sides instead.
    report = gradcheck(model, np.random.default_rng(1).normal(size=(5, 3)), rng=2)
    for name, error in report.errors.items():
        check = report[name]
        if name in ("0.b", "3.b"):
            assert np.max(np.abs(check.analytic)) < 1e-12 and np.max(np.abs(check.numeric)) < 1e-8
        else:
            assert error < 1e-6, str(report)


def test_batchnorm_between_with_options():
    factory = batchnorm_between_with(momentum=0.01, affine=False)
    (layer,) = factory(7, None)
    assert layer.momentum == 0.01 and not layer.affine and layer.num_features == 7
    with pytest.raises(ValueError, match="momentum"):
        batchnorm_between_with(momentum=2.0)
