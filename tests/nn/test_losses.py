"""Every loss's gradient grad_y Div against finite differences, with both reductions."""

import numpy as np
import pytest
from scipy.special import log_softmax, softmax

from handgrad.check import gradcheck_loss
from handgrad.nn import LOSSES, get_loss

B, C = 5, 4


def _signed(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


# id -> (loss name, make(rng, away_from) -> (prediction, target)); predictions kept off the kinks
LOSS_CASES = {
    "mse": ("mse", lambda r, a: (r.normal(size=(B, C)), r.normal(size=(B, C)))),
    "mse_column_target_1d": ("mse", lambda r, a: (r.normal(size=(B, 1)), r.normal(size=B))),
    "half_mse": ("half_mse", lambda r, a: (r.normal(size=(B, C)), r.normal(size=(B, C)))),
    # |y - d| >= 0.05: MAE has a kink at y = d
    "mae": ("mae", lambda r, a: (lambda d: (d + a(r, (B, C), (0.0,)), d))(r.normal(size=(B, C)))),
    "msle": ("msle", lambda r, a: (r.uniform(0, 3, (B, C)), r.uniform(0, 3, (B, C)))),
    "bce_soft": ("bce", lambda r, a: (r.uniform(0.05, 0.95, (B, C)), r.uniform(0, 1, (B, C)))),
    "bce_binary": ("bce", lambda r, a: (r.uniform(0.05, 0.95, (B, 1)),
                                        r.integers(0, 2, (B, 1)).astype(float))),
    "bce_logits": ("bce_logits", lambda r, a: (2 * r.normal(size=(B, C)), r.uniform(0, 1, (B, C)))),
    "cross_entropy_index": ("cross_entropy", lambda r, a: (2 * r.normal(size=(B, C)),
                                                           r.integers(0, C, B))),
    "cross_entropy_rows": ("cross_entropy", lambda r, a: (2 * r.normal(size=(B, C)),
                                                          softmax(r.normal(size=(B, C)), axis=1))),
    # targets that do not sum to 1: the gradient is p * sum(d) - d, not p - d
    "cross_entropy_unnormalised": ("cross_entropy", lambda r, a: (2 * r.normal(size=(B, C)),
                                                                  r.uniform(0, 1, (B, C)))),
    "nll_index": ("nll", lambda r, a: (log_softmax(r.normal(size=(B, C)), axis=1),
                                       r.integers(0, C, B))),
    "nll_rows": ("nll", lambda r, a: (log_softmax(r.normal(size=(B, C)), axis=1),
                                      softmax(r.normal(size=(B, C)), axis=1))),
    "kl_rows": ("kl", lambda r, a: (softmax(r.normal(size=(B, C)), axis=1),
                                    softmax(r.normal(size=(B, C)), axis=1))),
    "kl_index": ("kl", lambda r, a: (softmax(r.normal(size=(B, C)), axis=1), r.integers(0, C, B))),
    # one sigmoid output (001, "2 or not 2"): the binary divergence
    "kl_binary": ("kl", lambda r, a: (r.uniform(0.05, 0.95, (B, 1)), r.integers(0, 2, B))),
    "kl_binary_soft": ("kl", lambda r, a: (r.uniform(0.05, 0.95, (B, 1)), r.uniform(0, 1, B))),
    # the hinge's kink is at d y = 1, i.e. y = d = +-1
    "hinge": ("hinge", lambda r, a: (a(r, (B, C), (-1.0, 1.0)), _signed(r, (B, C)))),
    "squared_hinge": ("squared_hinge", lambda r, a: (a(r, (B, C), (-1.0, 1.0)),
                                                     _signed(r, (B, C)))),
}


def test_every_loss_is_in_the_table():
    assert {name for name, _ in LOSS_CASES.values()} == set(LOSSES)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_loss_gradient_matches_finite_differences(case, reduction, rng, away_from):
    name, make = LOSS_CASES[case]
    y, d = make(rng, away_from)
    report = gradcheck_loss(get_loss(name, reduction=reduction), y, d)
    assert report.passed, report
    assert report["prediction y"].analytic.shape == y.shape


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_mean_is_sum_over_the_documented_count(case, rng, away_from):
    """Elementwise losses average over every element; per-sample ones (half_mse, cross-entropy,
    nll, kl) over the rows only."""
    name, make = LOSS_CASES[case]
    y, d = make(rng, away_from)
    total, mean = get_loss(name, "sum"), get_loss(name, "mean")
    count = y.shape[0] if mean.per_sample else y.size
    assert mean(y, d) == pytest.approx(total(y, d) / count, rel=1e-12)
    assert np.allclose(mean.backward(), total.backward() / count, rtol=1e-12, atol=0)


def test_index_and_one_hot_targets_agree(rng):
    z, labels = rng.normal(size=(B, C)), rng.integers(0, C, B)
    one_hot = np.eye(C)[labels]
    for name in ("cross_entropy", "nll", "kl"):
        a, b = get_loss(name), get_loss(name)
        y = softmax(z, axis=1) if name == "kl" else z
        assert a(y, labels) == pytest.approx(b(y, one_hot), rel=1e-14)
        # cross-entropy's index path runs one compiled loop (the C library's exp, rows summed in
        # order), the one-hot path NumPy's: a few ulp apart, not always the same bits
        np.testing.assert_allclose(a.backward(), b.backward(), rtol=1e-13, atol=1e-16)


def test_kl_with_one_hot_targets_is_cross_entropy(rng):
    z, labels = rng.normal(size=(B, C)), rng.integers(0, C, B)
    assert get_loss("kl")(softmax(z, axis=1), labels) == \
        pytest.approx(get_loss("cross_entropy")(z, labels), rel=1e-12)


def test_fused_losses_are_stable_for_large_logits():
    z = np.array([[800.0, -800.0, 0.0], [-1000.0, 1000.0, 3.0]])
    ce = get_loss("cross_entropy")
    value = ce(z, np.array([1, 0]))
    assert np.isfinite(value) and value == pytest.approx((1600.0 + 2000.0) / 2)
    assert np.isfinite(ce.backward()).all()
    bce = get_loss("bce_logits")
    assert bce(np.array([[800.0], [-800.0]]), np.array([0.0, 1.0])) == pytest.approx(800.0)
    assert np.isfinite(bce.backward()).all()


@pytest.mark.parametrize("dtype", ["i1", "<i2", ">i2", "<i8", ">i8", "u1", "u8"])
def test_class_index_range_holds_for_every_integer_dtype(dtype):
    """300 classes: an int8 -1 viewed as uint8 would be 255, inside the range, if the check did
    not widen the labels first."""
    from handgrad.nn.losses import class_indices_checked
    ok = class_indices_checked(np.array([0, 1, 2], dtype=dtype), 300, 3)
    np.testing.assert_array_equal(ok, [0, 1, 2])
    if np.dtype(dtype).kind == "i":
        with pytest.raises(IndexError, match="class index -1 is out of range"):
            class_indices_checked(np.array([0, -1, 2], dtype=dtype), 300, 3)
    top = np.iinfo(np.dtype(dtype)).max
    if top >= 300:
        with pytest.raises(IndexError, match="out of range for 300 classes"):
            class_indices_checked(np.array([0, 300, 2], dtype=dtype), 300, 3)


def test_boolean_class_indices_are_refused():
    from handgrad.nn.losses import class_indices_checked
    with pytest.raises(TypeError, match="must be integers"):
        class_indices_checked(np.array([True, False]), 3, 2)


def test_binary_kl_is_bce_for_labels_and_its_gradient_for_any_target(rng):
    """d log(d / y) + (1 - d) log((1 - d) / (1 - y)) = BCE - H(d): equal values for d in {0, 1},
    equal gradients (y - d) / (y (1 - y)) for every d."""
    y = rng.uniform(0.05, 0.95, (B, 1))
    for d in (rng.integers(0, 2, B), rng.uniform(0, 1, B)):
        kl, bce = get_loss("kl"), get_loss("bce")
        entropy = -np.mean(d * np.log(np.where(d > 0, d, 1)) +
                           (1 - d) * np.log(np.where(d < 1, 1 - d, 1)))
        assert kl(y, d) == pytest.approx(bce(y, d) - entropy, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(kl.backward(), bce.backward(), rtol=1e-12)


def test_binary_kl_at_a_saturated_sigmoid_is_finite():
    y = np.array([[1.0], [0.0], [1.0]])
    kl = get_loss("kl")
    assert kl(y, np.array([1, 0, 0])) == pytest.approx(-np.log(1e-12) / 3)
    assert np.isfinite(kl.backward()).all()
