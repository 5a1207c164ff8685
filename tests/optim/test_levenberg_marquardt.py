"""Levenberg-Marquardt: the Jacobian by backprop of unit vectors, and Gauss-Newton's exact step
on a linear least-squares problem."""

import numpy as np
import pytest

from handgrad.nn import MLP, Linear, Sequential, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(0)
    model = MLP([3, 5, 2], activation="tanh", rng=rng, dtype=np.float64)
    x = rng.normal(size=(6, 3))
    closure = BatchClosure(model, get_loss("mse"), x, rng.normal(size=(6, 2)))
    J = get_optimizer("lm", model).jacobian(closure)
    theta0 = model.theta.copy()
    numeric = np.empty_like(J)
    h = 1e-6
    for j in range(theta0.size):
        model.theta[j] = theta0[j] + h
        plus = model.forward(x).ravel()
        model.theta[j] = theta0[j] - h
        minus = model.forward(x).ravel()
        model.theta[j] = theta0[j]
        numeric[:, j] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss", ["mse", "half_mse"])
def test_linear_least_squares_in_one_gauss_newton_step(loss):
    rng = np.random.default_rng(1)
    model = Sequential(Linear(4, 2, rng=rng, dtype=np.float64))
    x, d = rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    opt = get_optimizer("lm", model, mu=1e-12)
    opt.step(BatchClosure(model, get_loss(loss), x, d))
    X = np.hstack([x, np.ones((30, 1))])
    solution, *_ = np.linalg.lstsq(X, d, rcond=None)            # (5, 2): rows W^T then b
    W, b = model[0].W.data, model[0].b.data
    np.testing.assert_allclose(W, solution[:4].T, atol=1e-8)
    np.testing.assert_allclose(b, solution[4], atol=1e-8)


def test_rejected_steps_raise_mu_and_accepted_ones_lower_it():
    rng = np.random.default_rng(2)
    model = MLP([2, 6, 1], activation="tanh", rng=rng, dtype=np.float64)
    x = rng.normal(size=(20, 2))
    d = np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:])
    closure = BatchClosure(model, get_loss("half_mse"), x, d)
    opt = get_optimizer("lm", model, mu=1e-2)
    losses = [closure()]
    for _ in range(15):
        mu = opt.mu
        rejected = opt.rejected
        opt.step(closure)
        losses.append(closure())
        tries = opt.rejected - rejected
        assert opt.mu == pytest.approx(max(mu * 10.0 ** tries / 10.0, 1e-12))
    assert all(b <= a for a, b in zip(losses, losses[1:]))       # LM never accepts an increase
    assert losses[-1] < 0.2 * losses[0]


def test_a_closure_may_offer_its_own_residuals():
    """The residual protocol: LM asks the closure for least_squares() (scale and Jacobian) and
    never reads the loss's name or the batch then."""
    rng = np.random.default_rng(4)
    A, b = rng.normal(size=(6, 3)), rng.normal(size=6)
    model = MLP([3, 1], rng=0, dtype=np.float64)          # one Linear: y = w^T x + b0

    class Residuals:
        """E = 1/2 ||A w - b||^2 over the Linear's weights (its bias is held at 0)."""

        def __init__(self):
            self.model = model
            self.calls = 0

        def __call__(self, backward=True):
            w = model.theta[:3]
            r = A @ w - b
            model.grad[...] = 0.0
            model.grad[:3] = A.T @ r
            return 0.5 * float(r @ r)

        def least_squares(self):
            self.calls += 1
            return Problem()

    class Problem:
        """What LM needs of a least-squares problem: k of E = k ||r||^2 and J = dr/dW."""

        def scale(self):
            return 0.5

        def jacobian(self):
            return np.hstack([A, np.zeros((6, 1))])

    closure = Residuals()
    model.theta[3] = 0.0
    opt = get_optimizer("lm", model, mu=1e-12)
    opt.step(closure)
    assert closure.calls == 1
    np.testing.assert_allclose(model.theta[:3], np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-8)
