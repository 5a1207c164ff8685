"""Dropout: mask statistics, eval identity, the backward's mask, determinism, rng state, config.

The PyTorch comparison is in tests/reference/test_layers_torch.py.
"""

import json

import numpy as np
import pytest

from handgrad.check import gradcheck
from handgrad.nn import (MLP, BatchNorm1d, Dropout, ShapeError, batchnorm_between, build,
                         chain_between, dropout_between)


def test_mask_statistics_and_inverted_scaling():
    p = 0.3
    x = np.random.default_rng(0).normal(size=(200, 500))
    y = Dropout(p, rng=1).forward(x)
    kept = y != 0
    n = x.size
    # The kept fraction is Binomial(n, 1 - p) / n: within 5 standard deviations of 1 - p.
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-15)
    # Inverted dropout keeps the expectation: E[y] = x, here for x = 1 everywhere.
    ones = Dropout(p, rng=2).forward(np.ones((200, 500)))
    assert abs(ones.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)
    # Each entry is dropped independently: no row or column is all kept or all dropped.
    assert 0 < kept.mean(axis=1).min() and kept.mean(axis=1).max() < 1


def test_eval_mode_is_the_identity():
    layer = Dropout(0.5).eval()
    x = np.random.default_rng(0).normal(size=(4, 6))
    assert layer.forward(x) is x
    g = np.random.default_rng(1).normal(size=(4, 6))
    assert layer.backward(g) is g
    state = layer.get_rng_state()
    layer.forward(x)
    assert layer.get_rng_state() == state  # eval mode draws nothing from the stream


def test_p_zero_is_the_identity_in_training():
    x = np.random.default_rng(0).normal(size=(3, 5))
    layer = Dropout(0.0)
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)


def test_backward_uses_the_forward_mask():
    layer = Dropout(0.4, rng=3)
    x = np.random.default_rng(0).normal(size=(20, 10))
    y = layer.forward(x)
    g = np.random.default_rng(1).normal(size=(20, 10))
    grad_x = layer.backward(g)
    kept = y != 0
    np.testing.assert_array_equal(grad_x[~kept], 0.0)
    np.testing.assert_allclose(grad_x[kept], g[kept] / 0.6, rtol=1e-15)
    # A second backward (no new forward) still uses the same mask.
    np.testing.assert_array_equal(layer.backward(g), grad_x)
    with pytest.raises(ShapeError, match="grad_y"):
        layer.backward(np.ones((20, 11)))


def test_backward_matches_finite_differences_with_the_mask_held_fixed():
    layer = Dropout(0.5, rng=4)
    state = layer.get_rng_state()
    report = gradcheck(layer, np.random.default_rng(0).normal(size=(6, 5)), rng=1,
                       before_forward=lambda: layer.set_rng_state(state))
    assert report.passed, str(report)
    assert np.count_nonzero(report["input x"].analytic) > 5


def test_model_with_dropout_and_batchnorm_matches_finite_differences():
    model = MLP([4, 7, 5, 3], activation="tanh", rng=0, dtype=np.float64,
                layers_between=chain_between(batchnorm_between, dropout_between(0.3)))
    drops = [m for m in model.layers if isinstance(m, Dropout)]
    states = [d.get_rng_state() for d in drops]

    def same_masks():
        for d, s in zip(drops, states):
            d.set_rng_state(s)
    report = gradcheck(model, np.random.default_rng(1).normal(size=(8, 4)), rng=2,
                       before_forward=same_masks)
    for name, error in report.errors.items():
        if name in ("0.b", "4.b"):  # biases just before a batch norm: true gradient 0
            assert np.max(np.abs(report[name].numeric)) < 1e-8
        else:
            assert error < 1e-6, str(report)


def test_rng_state_restores_the_mask_and_is_json():
    layer = Dropout(0.5, rng=5)
    x = np.ones((8, 8))
    layer.forward(x)  # move the stream away from its start
    state = json.loads(json.dumps(layer.get_rng_state()))
    first = layer.forward(x)
    second = layer.forward(x)
    assert not np.array_equal(first, second)  # the stream moves on
    layer.set_rng_state(state)
    np.testing.assert_array_equal(layer.forward(x), first)
    # Into a different layer object (as after loading a checkpoint into a rebuilt model).
    other = Dropout(0.5, rng=999)
    other.set_rng_state(state)
    np.testing.assert_array_equal(other.forward(x), first)


@pytest.mark.parametrize("state", [None, {}, {"bit_generator": "Nope"}, [1, 2],
                                   {"bit_generator": "PCG64", "state": {"state": "x"}}])
def test_bad_rng_state_is_rejected(state):
    with pytest.raises(ValueError, match="rng state"):
        Dropout(0.5).set_rng_state(state)


def test_seeding_is_deterministic():
    x = np.ones((10, 10))
    same = [Dropout(0.5, rng=7).forward(x) for _ in range(2)]
    np.testing.assert_array_equal(*same)
    np.testing.assert_array_equal(Dropout(0.5).forward(x), Dropout(0.5).forward(x))  # default seed
    assert not np.array_equal(Dropout(0.5, rng=7).forward(x), Dropout(0.5, rng=8).forward(x))
    # A Generator (the model's stream) seeds the layer deterministically.
    a = Dropout(0.5, rng=np.random.default_rng(3))
    b = Dropout(0.5, rng=np.random.default_rng(3))
    assert a.seed == b.seed
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    # float32 and float64 inputs get the same mask.
    np.testing.assert_array_equal(Dropout(0.5, rng=7).forward(x.astype(np.float32)) != 0,
                                  Dropout(0.5, rng=7).forward(x) != 0)


def test_mlp_dropout_layers_are_seeded_by_the_model_seed_and_independent():
    def masks(seed):
        model = MLP([5, 6, 6, 2], rng=seed, layers_between=dropout_between(0.5), dtype=np.float64)
        model.forward(np.ones((30, 5)))
        return [m.mask_scale.copy() for m in model.layers if isinstance(m, Dropout)]
    first, again, other = masks(0), masks(0), masks(1)
    assert len(first) == 2
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[1])  # each layer has its own stream


def test_config_round_trip_through_build():
    layer = Dropout(0.25, rng=11)
    config = json.loads(json.dumps(layer.config()))
    assert config == {"type": "Dropout", "p": 0.25, "seed": 11}
    rebuilt = build(config)
    assert isinstance(rebuilt, Dropout) and rebuilt.config() == layer.config()
    x = np.ones((6, 6))
    np.testing.assert_array_equal(rebuilt.forward(x), layer.forward(x))
    model = MLP([3, 4, 2], rng=0, layers_between=chain_between(batchnorm_between,
                                                               dropout_between(0.1)))
    kinds = [type(m).__name__ for m in build(model.config()).layers]
    assert kinds == ["Linear", "BatchNorm1d", "Dropout", "ReLU", "Linear"]
    assert isinstance(model.layers[1], BatchNorm1d)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), "0.5", True, None])
def test_invalid_p_is_rejected(p):
    with pytest.raises(ValueError, match="Dropout p"):
        Dropout(p)
    with pytest.raises(ValueError, match="Dropout p"):
        dropout_between(p)


@pytest.mark.parametrize("rng", [-1, 1.5, "seed", True])
def test_invalid_rng_is_rejected(rng):
    with pytest.raises(ValueError, match="Dropout rng"):
        Dropout(0.5, rng=rng)
