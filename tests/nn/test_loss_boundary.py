"""Issue 14.3 for the losses: ``loss(y, d)`` is the checked boundary, ``forward`` runs unchecked on
targets already in the loss's form (``prepare_targets``), and refuses any other form in O(1) rather
than broadcasting it."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handgrad.errors import ShapeError
from handgrad.nn import LOSSES, get_loss

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("name", ["mse", "half_mse", "mae", "msle", "bce", "bce_logits", "hinge",
                                  "squared_hinge"])
def test_forward_refuses_a_raw_column_target_instead_of_broadcasting(name):
    """y (n, 1) - d (n,) would be (n, n): n^2 terms averaged, a wrong value with no error."""
    y = RNG.uniform(0.1, 0.9, (6, 1))
    d = np.where(RNG.random(6) < 0.5, -1.0, 1.0) if "hinge" in name else RNG.uniform(0, 1, 6)
    loss = get_loss(name)
    with pytest.raises(ShapeError, match=rf"{name}.forward takes targets prepared.*loss\(y, d\)"):
        loss.forward(y, d)
    prepared = loss.prepare_targets(d, y.shape, y.dtype)
    assert prepared.shape == (6, 1) and prepared.dtype == y.dtype
    assert loss.forward(y, prepared) == loss(y, d)


def test_forward_refuses_targets_of_another_dtype():
    y = RNG.normal(size=(4, 2)).astype(np.float32)
    with pytest.raises(ShapeError, match="dtype float32.*got shape \\(4, 2\\), dtype float64"):
        get_loss("mse").forward(y, RNG.normal(size=(4, 2)))


@pytest.mark.parametrize("name", ["cross_entropy", "nll", "kl"])
def test_class_losses_refuse_unprepared_indices(name):
    y = np.full((3, 4), 0.25)
    with pytest.raises(ShapeError, match=f"{name}.forward takes"):
        get_loss(name).forward(y, np.array([0, 1, 2], dtype=np.int32))


@pytest.mark.parametrize("name, form", [("cross_entropy", "indices"), ("nll", "rows"),
                                        ("kl", "rows")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepared_class_targets_are_in_the_losses_own_form(name, form, dtype):
    labels = np.array([2.0, 0.0, 1.0])  # whole floats, as a CSV column reads
    d = get_loss(name).prepare_targets(labels, (3, 4), dtype)
    if form == "indices":
        assert d.dtype == np.intp and d.shape == (3,)
        np.testing.assert_array_equal(d, [2, 0, 1])
    else:
        assert d.dtype == dtype and d.shape == (3, 4)
        np.testing.assert_array_equal(d.argmax(axis=1), [2, 0, 1])
        np.testing.assert_array_equal(d.sum(axis=1), 1.0)


def test_regression_with_1d_targets_matches_torch():
    """The silent (n, n) broadcast would give mean((y_i - d_j)^2) over all pairs: not this."""
    y, d = RNG.normal(size=(7, 1)), RNG.normal(size=7)
    loss = get_loss("mse")
    value = loss.forward(y, loss.prepare_targets(d, y.shape, y.dtype))
    yt = torch.tensor(y, requires_grad=True)
    ref = F.mse_loss(yt[:, 0], torch.tensor(d))
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), yt.grad.numpy(), rtol=1e-12)
    broadcast = np.mean((y - d) ** 2)  # what y - d of shapes (7, 1), (7,) would average
    assert abs(value - broadcast) > 1e-3


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_call_and_prepared_forward_agree(name, rng):
    """``loss(y, d)`` = ``forward(y, prepare_targets(d))``, value and gradient, bit for bit."""
    n, k = 5, 1 if name in {"hinge", "squared_hinge", "bce", "bce_logits"} else 3
    y = rng.uniform(0.05, 0.95, (n, k))
    if name == "nll":
        y = np.log(y / y.sum(axis=1, keepdims=True))
    if name in {"kl"}:
        y = y / y.sum(axis=1, keepdims=True)
    if name in {"cross_entropy", "nll", "kl"}:
        d = rng.integers(0, k, n)
    elif "hinge" in name:
        d = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    else:
        d = rng.uniform(0, 1, (n, k)) if k > 1 else rng.uniform(0, 1, n)
    checked, unchecked = get_loss(name), get_loss(name)
    a = checked(y, d)
    b = unchecked.forward(y, unchecked.prepare_targets(d, y.shape, y.dtype))
    assert a == b
    np.testing.assert_array_equal(checked.backward(), unchecked.backward())


@pytest.mark.parametrize("name", ["mse", "kl"])
def test_targets_too_large_for_the_prediction_dtype_are_refused(name):
    """1e40 is finite in float64 and inf in float32: not a silent inf target."""
    from handgrad.errors import NonFiniteError
    d = np.array([[1e40, 0.0], [0.0, 1.0]])
    with pytest.raises(NonFiniteError, match=r"too large for float32 \(largest \|d\| = 1e\+40\)"):
        get_loss(name).prepare_targets(d, (2, 2), np.float32)
