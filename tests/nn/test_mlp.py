"""Whole networks: backpropagation through several depths and activations, w.r.t. every parameter
and the network input, alone (random upstream gradient) and with each loss end to end."""

import numpy as np
import pytest
from scipy.special import softmax

from handgrad.check import gradcheck, gradcheck_model
from handgrad.nn import MLP, Sequential, Linear, get_activation, get_loss

# sizes, hidden activation, output activation, batch
MLP_CASES = [
    ([3, 2], "relu", "identity", 1),                 # one layer, no hidden
    ([4, 6, 3], "tanh", "softmax", 5),
    ([4, 6, 3], "relu", "identity", 1),
    ([5, 8, 7, 4], "sigmoid", "sigmoid", 6),
    ([3, 5, 5, 5, 2], "leaky_relu", "identity", 4),  # four layers
    ([4, 6, 3], "maxout", "log_softmax", 3),
    ([4, 6, 6, 3], "elu", "identity", 2),
    ([4, 6, 3], "gelu", "tanh", 1),
    ([4, 6, 3], "softplus", "identity", 3),
    ([4, 7, 3], "hard_tanh", "identity", 5),
    ([2, 9, 9, 9, 9, 1], "tanh", "sigmoid", 3),      # five layers, one output
]


def _id(case):
    sizes, act, out, batch = case
    return f"{'-'.join(map(str, sizes))}_{act}_{out}_b{batch}"


@pytest.mark.parametrize("case", MLP_CASES, ids=[_id(c) for c in MLP_CASES])
def test_mlp_backward_matches_finite_differences(case, rng):
    sizes, activation, output, batch = case
    model = MLP(sizes, activation=activation, output=output, rng=len(sizes), dtype=np.float64)
    x = rng.normal(size=(batch, sizes[0]))
    report = gradcheck(model, x, rng=batch)
    assert report.passed, report
    n_linear = len(sizes) - 1
    assert len(report.checks) == 1 + 2 * n_linear  # input x, then W and b of every layer


# output activation, loss, make(rng, batch, width) -> targets
MODEL_LOSS_CASES = [
    ("identity", "mse", lambda r, b, w: r.normal(size=(b, w))),
    ("identity", "half_mse", lambda r, b, w: r.normal(size=(b, w))),
    ("identity", "cross_entropy", lambda r, b, w: r.integers(0, w, b)),
    ("identity", "cross_entropy", lambda r, b, w: softmax(r.normal(size=(b, w)), axis=1)),
    ("softmax", "kl", lambda r, b, w: softmax(r.normal(size=(b, w)), axis=1)),
    ("softmax", "kl", lambda r, b, w: r.integers(0, w, b)),
    ("log_softmax", "nll", lambda r, b, w: r.integers(0, w, b)),
    ("sigmoid", "bce", lambda r, b, w: r.integers(0, 2, (b, w)).astype(float)),
    ("identity", "bce_logits", lambda r, b, w: r.uniform(0, 1, (b, w))),
    ("softplus", "msle", lambda r, b, w: r.uniform(0, 2, (b, w))),
    ("identity", "squared_hinge", lambda r, b, w: np.where(r.random((b, w)) < 0.5, -1.0, 1.0)),
]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("batch", [1, 6])
@pytest.mark.parametrize("output, loss_name, make", MODEL_LOSS_CASES,
                         ids=[f"{o}+{n}{i}" for i, (o, n, _) in enumerate(MODEL_LOSS_CASES)])
def test_model_and_loss_end_to_end(output, loss_name, make, batch, reduction, rng):
    model = MLP([5, 6, 4, 3], activation="tanh", output=output, rng=batch, dtype=np.float64)
    x, d = rng.normal(size=(batch, 5)), make(rng, batch, 3)
    report = gradcheck_model(model, get_loss(loss_name, reduction=reduction), x, d)
    assert report.passed, report


def test_input_gradient_is_what_backward_returns(rng):
    """The gradient w.r.t. the network input (001: 'we will also want the derivative w.r.t. the
    input'), checked entry by entry, alone, for a deep ReLU network."""
    model = MLP([6, 10, 10, 10, 2], activation="relu", rng=9, dtype=np.float64)
    x = rng.normal(size=(3, 6))
    report = gradcheck(model, x)
    assert report["input x"].error < 1e-7, report
    assert np.abs(report["input x"].analytic).max() > 1e-3  # not trivially zero


def test_params_only_check_skips_the_input(rng):
    model = MLP([3, 4, 2], activation="tanh", rng=0, dtype=np.float64)
    report = gradcheck(model, rng.normal(size=(2, 3)), wrt_input=False)
    assert "input x" not in report.errors and report.passed


def test_hand_built_sequential_with_bias_free_layers(rng):
    model = Sequential(Linear(4, 5, bias=False, rng=0, dtype=np.float64), get_activation("tanh"),
                       Linear(5, 3, rng=1, dtype=np.float64), get_activation("softmax"))
    assert model.dtype == np.float64
    report = gradcheck(model, rng.normal(size=(3, 4)))
    assert report.passed, report
    assert set(report.errors) == {"input x", "0.W", "2.W", "2.b"}


def test_mlp_shapes_and_layer_widths():
    model = MLP([4, 6, 5, 3], activation="maxout", output="softmax", rng=0)
    widths = [(m.in_features, m.out_features) for m in model.layers if isinstance(m, Linear)]
    assert widths == [(4, 12), (6, 10), (5, 3)]  # maxout pools pairs of units
    y = model.forward(np.ones((2, 4)))
    assert y.shape == (2, 3) and np.allclose(y.sum(axis=1), 1.0)


def test_config_rebuilds_the_same_network(rng):
    from handgrad.nn import build

    model = Sequential(Linear(4, 6, bias=False, init="he_normal", rng=0, dtype=np.float64),
                       get_activation("maxout", pool=3), Linear(2, 3, rng=1, dtype=np.float64),
                       get_activation("leaky_relu", alpha=0.2), get_activation("elu", alpha=0.5))
    rebuilt = build(model.config(), dtype=np.float64)
    assert rebuilt.config() == model.config()
    rebuilt.theta[:] = model.theta
    x = rng.normal(size=(3, 4))
    assert np.array_equal(rebuilt.forward(x), model.forward(x))
