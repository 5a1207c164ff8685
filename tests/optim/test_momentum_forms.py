"""The three forms of momentum and Nesterov (001, 002, torch.optim.SGD): 002's rules against its
formulas written out, the stated reparametrisation that makes 002's and 001's trajectories one,
torch's SGD against 002's form, and 002's printed beta = 1 (no friction) on a quadratic."""

import numpy as np
import pytest
import torch

from handgrad.optim import get_optimizer
from handgrad.optim.sgd import momentum_002, nesterov_002
from handgrad.testfunctions import Quadratic, function_closure

torch.set_num_threads(1)


def problem(seed=5, n=4):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = Q @ np.diag(np.geomspace(1.0, 20.0, n)) @ Q.T
    return A, rng.normal(size=n), rng.normal(size=n)


def reference_002(A, b, theta0, mu, epsilon, beta, steps, nesterov):
    """002's formulas written out: v_t = beta v_(t-1) + epsilon grad f(point),
    theta_(t+1) = theta_t - mu v_t; point = theta (momentum) or theta - mu beta v (Nesterov)."""
    theta, v, path = theta0.copy(), np.zeros_like(theta0), []
    for _ in range(steps):
        point = theta - mu * beta * v if nesterov else theta
        v = beta * v + epsilon * (A @ point + b)
        theta = theta - mu * v
        path.append(theta.copy())
    return np.array(path)


def run(name, A, b, theta0, steps, **options):
    model = Quadratic(A, b, theta0)
    opt = get_optimizer(name, model, **options)
    closure = function_closure(model)
    path, extra = [], []
    for _ in range(steps):
        opt.step(closure)
        path.append(model.theta.copy())
        extra.append(opt.v.copy() if hasattr(opt, "v") else opt.delta_w.copy())
    return np.array(path), np.array(extra)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("beta", [0.9, 1.0])
def test_002_forms_follow_002s_formulas(nesterov, beta):
    A, b, theta0 = problem()
    name = "nesterov002" if nesterov else "momentum002"
    path, _ = run(name, A, b, theta0, 80, lr=0.02, epsilon=0.5, beta=beta)
    expected = reference_002(A, b, theta0, 0.02, 0.5, beta, 80, nesterov)
    np.testing.assert_allclose(path, expected, rtol=1e-10, atol=1e-12)


def test_rule_functions_are_the_formulas():
    rng = np.random.default_rng(0)
    theta, g, v = rng.normal(size=(3, 5))
    new_theta, new_v = momentum_002(theta, g, v, mu=0.1, epsilon=2.0, beta=0.8)
    np.testing.assert_allclose(new_v, 0.8 * v + 2.0 * g)
    np.testing.assert_allclose(new_theta, theta - 0.1 * (0.8 * v + 2.0 * g))
    # Nesterov's rule starts from the jump's landing point theta - mu beta v and ends where the
    # momentum rule would, with g taken at that point
    ahead = theta - 0.1 * 0.8 * v
    nt, nv = nesterov_002(ahead, g, v, mu=0.1, epsilon=2.0, beta=0.8)
    np.testing.assert_allclose(nv, new_v)
    np.testing.assert_allclose(nt, new_theta, rtol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_002_is_001_under_delta_w_equal_minus_mu_v_and_eta_equal_mu_epsilon(nesterov):
    """The stated reparametrisation: Delta W = -mu v, eta = mu epsilon, the same beta."""
    A, b, theta0 = problem(seed=9)
    mu, epsilon, beta = 0.05, 0.4, 0.9
    ours, v = run("nesterov002" if nesterov else "momentum002", A, b, theta0, 150,
                  lr=mu, epsilon=epsilon, beta=beta)
    notes, delta_w = run("nesterov" if nesterov else "momentum", A, b, theta0, 150,
                         lr=mu * epsilon, beta=beta)
    np.testing.assert_allclose(ours, notes, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(-mu * v, delta_w, rtol=1e-10, atol=1e-13)


def torch_path(A, b, theta0, steps, **options):
    w = torch.tensor(theta0, requires_grad=True)
    At, bt = torch.from_numpy(A), torch.from_numpy(b)
    opt = torch.optim.SGD([w], **options)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * w @ At @ w + bt @ w).backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


def test_torch_sgd_momentum_is_002s_momentum_with_lr_mu_epsilon():
    A, b, theta0 = problem(seed=2)
    ours, _ = run("momentum002", A, b, theta0, 150, lr=0.05, epsilon=0.4, beta=0.9)
    theirs = torch_path(A, b, theta0, 150, lr=0.05 * 0.4, momentum=0.9)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)


def test_torch_nesterov_parameter_is_002s_landing_point_theta_minus_mu_beta_v():
    A, b, theta0 = problem(seed=3)
    ours, v = run("nesterov002", A, b, theta0, 150, lr=0.05, epsilon=0.4, beta=0.9)
    theirs = torch_path(A, b, theta0, 150, lr=0.05 * 0.4, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(ours - 0.05 * 0.9 * v, theirs, rtol=1e-10, atol=1e-13)


def test_002_as_printed_beta_1_never_settles_on_a_quadratic():
    """v_t = v_(t-1) + epsilon g has no friction: for E = a/2 theta^2 the iterates obey
    r^2 - (2 - mu epsilon a) r + 1 = 0, whose roots have modulus 1; with beta = 0.9 they decay."""
    a, mu, epsilon = 1.0, 0.1, 1.0
    roots = np.roots([1.0, -(2.0 - mu * epsilon * a), 1.0])
    np.testing.assert_allclose(np.abs(roots), 1.0)
    A, b, theta0 = np.array([[a]]), np.zeros(1), np.array([1.0])
    printed, _ = run("momentum002", A, b, theta0, 3000, lr=mu, epsilon=epsilon, beta=1.0)
    decayed, _ = run("momentum002", A, b, theta0, 3000, lr=mu, epsilon=epsilon, beta=0.9)
    late = np.abs(printed[-200:, 0])
    assert late.max() > 0.9         # still swinging with the starting amplitude after 3000 steps
    assert np.abs(decayed[-1, 0]) < 1e-10


def test_effective_step_on_a_steady_gradient_is_eta_over_1_minus_beta():
    """On a constant gradient every form's step tends to -eta g / (1 - beta)."""
    A, b, theta0 = np.array([[1e-12]]), np.array([1.0]), np.array([0.0])   # g = 1 + 1e-12 w
    for name, options in [("momentum", dict(lr=0.01, beta=0.9)),
                          ("momentum002", dict(lr=0.01, epsilon=1.0, beta=0.9))]:
        path, _ = run(name, A, b, theta0, 300, **options)
        assert np.diff(path[:, 0])[-1] == pytest.approx(-0.01 / (1 - 0.9), rel=1e-9)


@pytest.mark.parametrize("name", ["momentum002", "nesterov002"])
def test_resume_is_exact(name):
    A, b, theta0 = problem(seed=4)
    model = Quadratic(A, b, theta0)
    opt = get_optimizer(name, model, lr=0.05, epsilon=0.5)
    closure = function_closure(model)
    for _ in range(10):
        opt.step(closure)
    state, theta = opt.state_dict(), model.theta.copy()
    for _ in range(10):
        opt.step(closure)
    model2 = Quadratic(A, b, theta)
    opt2 = get_optimizer(name, model2, lr=0.05, epsilon=0.5)
    opt2.load_state_dict(state)
    closure2 = function_closure(model2)
    for _ in range(10):
        opt2.step(closure2)
    np.testing.assert_array_equal(model2.theta, model.theta)


@pytest.mark.parametrize("options, message", [(dict(beta=1.5), "invalid beta: 1.5"),
                                              (dict(epsilon=0.0), "invalid epsilon: 0.0")])
def test_bad_options_are_refused(options, message):
    model = Quadratic(np.eye(2), np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match=message):
        get_optimizer("momentum002", model, **options)
