"""Full BFGS (001, "Issues: 1. The Hessian"; Nocedal & Wright, Algorithm 6.1): its update against
the formula computed another way, the n-step property on a quadratic, Rosenbrock, resume, size."""

import numpy as np
import pytest

from handgrad.nn import MLP
from handgrad.optim import get_optimizer
from handgrad.optim.second_order import bfgs_update
from handgrad.testfunctions import Quadratic, Rosenbrock, function_closure


def random_spd(n, rng, condition=30.0):
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return Q @ np.diag(np.geomspace(1.0, condition, n)) @ Q.T


def test_update_equals_the_expanded_formula_and_the_inverse_of_the_direct_update():
    """H_(k+1) by eq. 6.17 equals (a) its expanded form H + (s^T y + y^T H y) s s^T / (s^T y)^2
    - (H y s^T + s y^T H) / (s^T y) and (b) the inverse of the direct update of B = H^-1,
    B_(k+1) = B - B s s^T B / (s^T B s) + y y^T / (y^T s) (N&W eq. 6.19); and H_(k+1) y = s."""
    rng = np.random.default_rng(0)
    n = 6
    H = random_spd(n, rng)
    s = rng.normal(size=n)
    y = random_spd(n, rng) @ s            # y^T s > 0
    new = bfgs_update(H, s, y)
    sy = s @ y
    expanded = (H + (sy + y @ H @ y) * np.outer(s, s) / sy**2
                - (np.outer(H @ y, s) + np.outer(s, y @ H)) / sy)
    np.testing.assert_allclose(new, expanded, rtol=1e-10, atol=1e-12)
    B = np.linalg.inv(H)
    B_new = B - np.outer(B @ s, s @ B) / (s @ B @ s) + np.outer(y, y) / sy
    np.testing.assert_allclose(new, np.linalg.inv(B_new), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(new @ y, s, rtol=1e-10)
    assert np.all(np.linalg.eigvalsh(new) > 0)


@pytest.mark.parametrize("n", [3, 6])
def test_exact_line_search_reaches_a_quadratics_minimum_in_n_steps_with_H_n_the_inverse(n):
    rng = np.random.default_rng(n)
    A, b = random_spd(n, rng), rng.normal(size=n)
    model = Quadratic(A, b, 3 * rng.normal(size=n))
    opt = get_optimizer("bfgs", model, line_search="exact")
    closure = function_closure(model)
    for _ in range(n):
        opt.step(closure)
    np.testing.assert_allclose(model.theta, model.minimum, atol=1e-7)
    np.testing.assert_allclose(opt.H, np.linalg.inv(A), rtol=1e-5, atol=1e-7)
    assert opt.skipped == 0


def test_one_step_by_hand_follows_the_algorithm():
    """Step 0 is -eta g with the line search; the pair then sets H_0 = (y^T s / y^T y) I and
    H_1 = bfgs_update(H_0, s, y); step 1 moves along -H_1 g_1."""
    rng = np.random.default_rng(3)
    A, b = random_spd(4, rng), rng.normal(size=4)
    w0 = rng.normal(size=4)
    model = Quadratic(A, b, w0)
    opt = get_optimizer("bfgs", model, line_search="exact")
    closure = function_closure(model)
    opt.step(closure)
    w1 = model.theta.copy()
    s, y = w1 - w0, A @ (w1 - w0)
    H1 = bfgs_update((y @ s) / (y @ y) * np.eye(4), s, y)
    np.testing.assert_allclose(opt.H, H1, rtol=1e-10)
    # the exact line search along -g_0 lands where the directional derivative is 0
    g0 = A @ w0 + b
    alpha = (g0 @ g0) / (g0 @ A @ g0)
    np.testing.assert_allclose(w1, w0 - alpha * g0, rtol=1e-8)
    opt.step(closure)
    d = -H1 @ (A @ w1 + b)
    move = model.theta - w1
    np.testing.assert_allclose(move / np.linalg.norm(move), d / np.linalg.norm(d), atol=1e-8)


def test_reaches_the_rosenbrock_minimum_from_the_standard_start():
    model = Rosenbrock(np.array([-1.2, 1.0]))
    opt = get_optimizer("bfgs", model)
    closure = function_closure(model)
    for _ in range(100):
        opt.step(closure)
    np.testing.assert_allclose(model.theta, [1.0, 1.0], atol=1e-6)


def test_rosenbrock_trajectory_equals_nocedal_wright_with_scipys_line_search():
    """Algorithm 6.1 written out here with scipy.optimize.line_search (the strong-Wolfe search
    BFGS uses) and the expanded update formula: the same iterates, step by step."""
    from scipy.optimize import line_search
    probe = Rosenbrock(np.array([-1.2, 1.0]))
    probe_closure = function_closure(probe)

    def f(x):
        probe.theta[...] = x
        return probe_closure()

    def grad(x):
        f(x)
        return probe.grad.copy()

    x, H, reference = np.array([-1.2, 1.0]), None, []
    for _ in range(25):
        g = grad(x)
        d = -g if H is None else -H @ g
        alpha = line_search(f, grad, x, d, gfk=g, old_fval=f(x), c1=1e-4, c2=0.9)[0]
        s = alpha * d
        y = grad(x + s) - g
        x = x + s
        if y @ s > 0:
            H = (y @ s) / (y @ y) * np.eye(2) if H is None else H
            sy = s @ y
            H = (H + (sy + y @ H @ y) * np.outer(s, s) / sy**2
                 - (np.outer(H @ y, s) + np.outer(s, y @ H)) / sy)
        reference.append(x)

    model = Rosenbrock(np.array([-1.2, 1.0]))
    opt = get_optimizer("bfgs", model)
    closure = function_closure(model)
    ours = []
    for _ in range(25):
        opt.step(closure)
        ours.append(model.theta.copy())
    np.testing.assert_allclose(np.array(ours), np.array(reference), rtol=1e-9, atol=1e-12)


def test_curvature_condition_failure_skips_the_update():
    model = Quadratic(np.eye(2), np.zeros(2), np.ones(2))
    opt = get_optimizer("bfgs", model)
    opt.update(np.array([1.0, 0.0]), np.array([-1.0, 0.0]))      # y^T s = -1
    assert opt.skipped == 1 and opt.H.shape == (0, 2)
    opt.update(np.array([1.0, 0.0]), np.array([2.0, 0.0]))       # y^T s = 2: H_0 = 1/2 I
    np.testing.assert_allclose(opt.H @ np.array([2.0, 0.0]), [1.0, 0.0])


def test_resume_is_exact():
    def run(split):
        model = Rosenbrock(np.array([-1.2, 1.0]))
        opt = get_optimizer("bfgs", model)
        closure = function_closure(model)
        for _ in range(split):
            opt.step(closure)
        if split < 20:
            state, theta = opt.state_dict(), model.theta.copy()
            model = Rosenbrock(theta)
            opt = get_optimizer("bfgs", model)
            opt.load_state_dict(state)
            closure = function_closure(model)
        for _ in range(20 - split):
            opt.step(closure)
        return model.theta.copy(), opt.H.copy()
    straight, resumed = run(20), run(7)
    np.testing.assert_array_equal(straight[0], resumed[0])
    np.testing.assert_array_equal(straight[1], resumed[1])


def test_a_model_too_large_for_the_matrix_is_refused_with_its_memory():
    model = MLP([64, 64, 10], rng=np.random.default_rng(0), dtype=np.float64)   # 4810 params
    with pytest.raises(ValueError, match=r"'bfgs'.*max_params=2000.*4810.*176\.5 MiB.*lbfgs"):
        get_optimizer("bfgs", model)
    assert get_optimizer("bfgs", model, max_params=5000).H.shape == (0, 4810)


def test_a_wrong_H_shape_in_a_state_dict_is_refused():
    model = Quadratic(np.eye(3), np.zeros(3), np.ones(3))
    opt = get_optimizer("bfgs", model)
    state = opt.state_dict()
    state["state"]["H"] = np.eye(2)
    with pytest.raises(ValueError, match="state.H"):
        opt.load_state_dict(state)
