"""How ``l2`` maps to 003's regularised cost (eq. 27-29): C = C_0 + alpha/(2m) sum_w w^2 with C_0
the mean over the m training samples of a per-sample sum over the outputs j. The optimizer adds
l2/2 ||M W||^2 to the loss L, so l2 = alpha/m when L = C_0 (a per-sample loss with the mean), and
l2 = alpha/(m k) when the mean also runs over the k outputs (L = C_0/k; eta is then k times 003's)."""

import numpy as np
import pytest

from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure


def network(k, seed=0):
    rng = np.random.default_rng(seed)
    model = MLP([3, 5, k], activation="tanh", output="sigmoid", rng=rng, dtype=np.float64)
    model.theta[...] += rng.normal(0, 0.3, model.theta.size)        # non-zero biases
    x = rng.normal(size=(12, 3))
    d = (rng.random((12, k)) < 0.5).astype(float)
    return model, x, d


def C_003(model, x, d, alpha):
    """003 eq. 27 written out: -1/m sum_x sum_j [y ln a + (1 - y) ln(1 - a)] + alpha/(2m) sum w^2
    over the weights (the biases are not regularised)."""
    a, m = model.forward(x), len(x)
    C0 = -np.sum(d * np.log(a) + (1 - d) * np.log(1 - a)) / m
    weights = model.theta[model.decay_mask()]
    return C0 + alpha / (2 * m) * np.sum(weights ** 2)


@pytest.mark.parametrize("k", [1, 3])
def test_l2_alpha_over_m_k_gives_003s_gradient_up_to_the_mean_over_outputs(k):
    model, x, d = network(k)
    m, alpha = len(x), 5.0
    opt = get_optimizer("sgd", model, lr=0.1, l2=alpha / (m * k))     # bce: mean over m k values
    loss, objective = opt._evaluate(BatchClosure(model, get_loss("bce"), x, d))
    assert objective * k == pytest.approx(C_003(model, x, d, alpha), rel=1e-12)
    # the regularised gradient is grad C / k: central differences of 003's C written out
    theta, h = model.theta.copy(), 1e-6
    fd = np.empty_like(theta)
    for i in range(theta.size):
        model.theta[...] = theta
        model.theta[i] += h
        up = C_003(model, x, d, alpha)
        model.theta[i] -= 2 * h
        fd[i] = (up - C_003(model, x, d, alpha)) / (2 * h)
    model.theta[...] = theta
    np.testing.assert_allclose(model.grad * k, fd, rtol=1e-6, atol=1e-9)


def test_one_step_is_eq_29_with_l2_alpha_over_m():
    """cross_entropy with the mean is 003's C_0 form (per-sample sum, mean over samples):
    l2 = alpha/m gives eq. 29, w <- (1 - eta alpha/m) w - eta dC_0/dw, and b <- b - eta dC_0/db."""
    rng = np.random.default_rng(1)
    model = MLP([4, 6, 3], activation="tanh", rng=rng, dtype=np.float64)
    x, d = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    m, alpha, eta = len(x), 2.0, 0.3
    closure = BatchClosure(model, get_loss("cross_entropy"), x, d)
    closure()
    w, dC0 = model.theta.copy(), model.grad.copy()
    opt = get_optimizer("sgd", model, lr=eta, l2=alpha / m)
    opt.step(closure)
    M = model.decay_mask()
    np.testing.assert_allclose(model.theta[M], (1 - eta * alpha / m) * w[M] - eta * dC0[M],
                               rtol=1e-13)
    np.testing.assert_allclose(model.theta[~M], w[~M] - eta * dC0[~M], rtol=1e-13)
