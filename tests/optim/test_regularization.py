"""L2 weight decay (weights only by default, 003 eq. 29) and L1, added to the gradient; their value
for the line-search methods; AdamW's decoupled decay."""

import numpy as np
import pytest

from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure


def setup(seed=0):
    rng = np.random.default_rng(seed)
    model = MLP([3, 4, 2], activation="tanh", rng=rng, dtype=np.float64)
    model.theta[...] += rng.normal(0, 0.3, model.theta.size)    # biases non-zero too
    x, d = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    return model, BatchClosure(model, get_loss("mse"), x, d)


@pytest.mark.parametrize("decay_biases", [False, True])
def test_sgd_step_with_l2_and_l1(decay_biases):
    model, closure = setup()
    M = np.ones(model.theta.size) if decay_biases else model.decay_mask().astype(float)
    assert 0 < M.sum() < M.size or decay_biases
    opt = get_optimizer("sgd", model, lr=0.1, weight_decay=0.3, l1=0.05,
                        decay_biases=decay_biases)
    closure()
    w, g = model.theta.copy(), model.grad.copy()
    opt.step()
    expected = w - 0.1 * (g + 0.3 * M * w + 0.05 * M * np.sign(w))
    np.testing.assert_allclose(model.theta, expected, rtol=1e-14)


def test_penalty_value_and_gradient_agree():
    model, closure = setup(1)
    opt = get_optimizer("lbfgs", model, weight_decay=0.2, l1=0.1)
    M = model.decay_mask()
    w = model.theta[M]
    assert opt.penalty() == pytest.approx(0.1 * np.sum(w * w) + 0.1 * np.abs(w).sum())
    loss, objective = opt._evaluate(closure)
    assert objective - loss == pytest.approx(opt.penalty())


def test_adamw_decays_weights_outside_the_moments():
    model, closure = setup(2)
    opt = get_optimizer("adamw", model, lr=0.01, weight_decay=0.5)
    twin, twin_closure = setup(2)
    adam = get_optimizer("adam", twin, lr=0.01)
    M = model.decay_mask()
    w0 = model.theta.copy()
    closure()
    twin_closure()
    opt.step()
    adam.step()
    # AdamW = Adam's step on the plain gradient, from W shrunk by (1 - eta lambda) on the weights
    expected = twin.theta - 0.01 * 0.5 * w0 * M
    np.testing.assert_allclose(model.theta, expected, rtol=1e-13)
    np.testing.assert_array_equal(opt.exp_avg, adam.exp_avg)


def test_one_penalty_implementation_everywhere():
    import handgrad.train
    from handgrad.optim import Penalty
    assert not hasattr(handgrad.train, "Penalty")  # the trainer adds no penalty of its own
    model, _ = setup(3)
    opt = get_optimizer("sgd", model, l2=0.2, l1=0.1)
    assert isinstance(opt.regularizer, Penalty)


@pytest.mark.parametrize("mask_kind", ["bool", "float", "none"])
def test_penalty_value_and_gradient_are_the_formula(mask_kind):
    from handgrad.optim import Penalty
    model, _ = setup(4)
    W = model.theta
    M = model.decay_mask()
    mask = {"bool": M, "float": M.astype(float), "none": None}[mask_kind]
    Mf = np.ones(W.size) if mask is None else M.astype(float)
    penalty = Penalty(mask, l2=0.3, l1=0.05)
    expected = 0.15 * np.sum((Mf * W) ** 2) + 0.05 * np.abs(Mf * W).sum()
    assert penalty.value(W) == pytest.approx(expected, rel=1e-13)
    grad = np.ones_like(W)
    assert penalty(W, grad) == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(grad, 1 + 0.3 * Mf * W + 0.05 * Mf * np.sign(W), rtol=1e-14)
    assert not Penalty(mask) and Penalty(mask).value(W) == 0.0


def test_l2_is_weight_decay_for_sgd_and_the_term_is_added_once():
    """--l2 with --weight-decay doubled the term; now l2 and weight_decay are one term, given
    once."""
    for options in (dict(l2=0.3), dict(weight_decay=0.3)):
        model, closure = setup(5)
        M = model.decay_mask().astype(float)
        opt = get_optimizer("sgd", model, lr=0.1, **options)
        closure()
        w, g = model.theta.copy(), model.grad.copy()
        opt.step()
        np.testing.assert_allclose(model.theta, w - 0.1 * (g + 0.3 * M * w), rtol=1e-14)
    with pytest.raises(ValueError, match="invalid l2: 0.3 together with weight_decay"):
        get_optimizer("sgd", setup(5)[0], l2=0.3, weight_decay=0.3)


def test_the_penalty_a_trainer_reports_is_the_users_l2_and_l1_only():
    model, _ = setup(6)
    M = model.decay_mask()
    w = model.theta[M]
    opt = get_optimizer("sgd", model, l2=0.2, l1=0.1)
    assert opt.penalty_in_loss
    assert opt.penalty() == pytest.approx(0.1 * np.sum(w * w) + 0.1 * np.abs(w).sum())
    assert not get_optimizer("sgd", model, weight_decay=0.2).penalty_in_loss
    adamw = get_optimizer("adamw", model, weight_decay=0.5, l2=0.2)
    assert adamw.penalty_in_loss
    assert adamw.penalty() == pytest.approx(0.1 * np.sum(w * w))   # the decay is not a penalty


def test_a_strength_assigned_after_a_step_takes_effect():
    """The estimators set weight_decay before each fit; a penalty made at the first step and kept
    would silently ignore the new value."""
    from handgrad.nn import Linear
    from handgrad.optim import get_optimizer

    model = Linear(3, 2, rng=0, dtype=np.float64)
    opt = get_optimizer("sgd", model, lr=0.1)
    model.grad[:] = 0.0
    opt.step()
    before = model.theta.copy()
    opt.weight_decay = 0.5
    model.grad[:] = 0.0
    opt.step()
    mask = model.decay_mask()
    np.testing.assert_allclose(model.theta[mask], before[mask] * (1 - 0.1 * 0.5), rtol=1e-12)
    np.testing.assert_array_equal(model.theta[~mask], before[~mask])
    opt.decay_biases = True
    before = model.theta.copy()
    model.grad[:] = 0.0
    opt.step()
    np.testing.assert_allclose(model.theta, before * (1 - 0.1 * 0.5), rtol=1e-12)
