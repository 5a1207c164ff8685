"""The optimizers PyTorch lacks, against their formulas and the notes' known behaviour on
quadratics E = 1/2 w^T A w + b^T w (001, "Convergence for quadratic surfaces") and Rosenbrock."""

import numpy as np
import pytest

from handgrad.testfunctions import (FunctionModule, Quadratic, Rosenbrock, function_closure,
                                    quadratic_with_minimum)
from handgrad.nn import get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure


def closure_for(model):
    return function_closure(model)


def random_spd(n, rng, condition=50.0):
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return Q @ np.diag(np.geomspace(1.0, condition, n)) @ Q.T


def test_quadratic_module_is_the_quadratic():
    rng = np.random.default_rng(0)
    A, b = random_spd(4, rng), rng.normal(size=4)
    w0 = rng.normal(size=4)
    model = Quadratic(A, b, w0)
    closure = closure_for(model)
    value = closure()
    E_min = model.objective(model.minimum)
    assert value == pytest.approx(model.objective(w0) - E_min, rel=1e-12)
    assert model.E(model.minimum) == pytest.approx(0.0, abs=1e-20)
    np.testing.assert_allclose(model.grad, A @ w0 + b, rtol=1e-12)


def test_newton_reaches_the_minimum_in_one_step():
    rng = np.random.default_rng(1)
    A, b = random_spd(6, rng), rng.normal(size=6)
    model = Quadratic(A, b, rng.normal(size=6) * 3)
    opt = get_optimizer("newton", model)
    opt.step(closure_for(model))
    np.testing.assert_allclose(model.theta, model.minimum, rtol=1e-7, atol=1e-9)
    assert opt.last_shift == 0.0


class Saddle(FunctionModule):
    """E = 1/2 (w1^2 + (1 - w2^2)^2): minima at (0, +-1), a saddle at (0, 0) (E = 1/2), where the
    curvature along w2 is -2: around w2 = 0 the Hessian is indefinite."""

    def residual(self, w):
        return np.array([w[0], 1.0 - w[1] ** 2])

    def jacobian(self, w):
        return np.array([[1.0, 0.0], [0.0, -2.0 * w[1]]])


def test_newton_fixes_an_indefinite_hessian_and_still_descends():
    """tau > 0 (shift) or |lambda| (abs) makes every curvature positive, so the step goes downhill
    instead of to the saddle point (which plain Newton jumps to, next test)."""
    for fix in ("shift", "abs"):
        model = Saddle(np.array([0.5, 0.1]))
        closure = closure_for(model)
        before = closure()
        opt = get_optimizer("newton", model, damping=0.1, fix=fix)
        opt.step(closure)
        assert opt.last_negative == 1
        assert (opt.last_shift > 0.0) == (fix == "shift")
        assert closure() < before
        # plain Newton would go to the stationary point w2 = 0 of the local quadratic model
        assert abs(model.theta[1]) > 0.1


def test_unmodified_newton_walks_to_the_saddle_where_the_fixed_ones_reach_a_minimum():
    """001, "issues with the Hessian": plain Newton (fix="none") goes to the stationary point of
    the local quadratic model; near w2 = 0 that is the saddle (0, 0), and it stays there."""
    ends = {}
    for fix in ("none", "abs"):
        model = Saddle(np.array([0.5, 0.1]))
        closure = closure_for(model)
        opt = get_optimizer("newton", model, fix=fix, line_search="none")
        for _ in range(8):
            opt.step(closure)
        ends[fix] = (model.theta.copy(), closure(), opt.last_negative)
    theta, loss, negative = ends["none"]
    np.testing.assert_allclose(theta, [0.0, 0.0], atol=1e-8)
    assert loss == pytest.approx(0.5) and negative == 1       # a saddle: one negative curvature
    theta, loss, negative = ends["abs"]
    np.testing.assert_allclose(np.abs(theta), [0.0, 1.0], atol=1e-6)
    assert loss < 1e-12 and negative == 0


def test_unmodified_newton_gives_no_step_where_the_hessian_is_singular():
    """E = 1/2 w1^2 does not depend on w2: H = diag(1, 0) has no inverse; the pseudo-inverse moves
    w1 to 0 and leaves w2."""
    class Flat(FunctionModule):
        def residual(self, w):
            return np.array([w[0]])

        def jacobian(self, w):
            return np.array([[1.0, 0.0]])

    model = Flat(np.array([0.7, 3.0]))
    get_optimizer("newton", model, fix="none").step(closure_for(model))
    np.testing.assert_allclose(model.theta, [0.0, 3.0], atol=1e-9)


def test_newton_with_the_exact_hessian_takes_the_same_step():
    from handgrad.nn import MLP
    steps = []
    for method in ("fd", "exact"):
        rng = np.random.default_rng(3)
        model = MLP([2, 3, 1], activation="tanh", rng=rng, dtype=np.float64)
        x, d = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
        opt = get_optimizer("newton", model, hessian_method=method, l2=0.01)
        opt.step(BatchClosure(model, get_loss("mse"), x, d))
        steps.append(model.theta.copy())
    np.testing.assert_allclose(steps[0], steps[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_gd_at_eta_opt_converges_in_one_step_per_axis(axis):
    """Diagonal A: eta = 1/a_ii puts w_i on its minimum in one step (001: eta_opt = a^-1)."""
    a = np.array([1.0, 4.0, 25.0])
    b = np.array([1.0, -2.0, 0.5])
    model = Quadratic(np.diag(a), b, np.array([3.0, -1.0, 2.0]))
    opt = get_optimizer("sgd", model, lr=1.0 / a[axis])
    closure = closure_for(model)
    opt.zero_grad()
    closure()
    opt.step()
    assert model.theta[axis] == pytest.approx(model.minimum[axis], abs=1e-12)
    others = [i for i in range(3) if i != axis]
    assert np.all(np.abs(model.theta[others] - model.minimum[others]) > 1e-3)


@pytest.mark.parametrize("factor, regime", [(0.5, "monotone"), (1.5, "oscillating"),
                                            (1.95, "oscillating"), (2.05, "divergent")])
def test_gd_regimes_of_the_notes_table(factor, regime):
    """eta < eta_opt: monotone; eta_opt < eta < 2 eta_opt: oscillating convergence;
    eta > 2 eta_opt: divergence (001, "With non-optimal step size")."""
    a = 3.0
    model = Quadratic(np.array([[a]]), np.array([-1.5]), np.array([2.0]))
    opt = get_optimizer("sgd", model, lr=factor / a)
    closure = closure_for(model)
    errors = []
    for _ in range(30):
        opt.zero_grad()
        closure()
        opt.step()
        errors.append(float(model.theta[0] - model.minimum[0]))
    errors = np.array(errors)
    signs = np.sign(errors)
    if regime == "monotone":
        assert np.all(signs == signs[0]) and np.all(np.diff(np.abs(errors)) < 0)
    elif regime == "oscillating":
        assert np.all(signs[1:] == -signs[:-1]) and np.all(np.diff(np.abs(errors)) < 0)
    else:
        assert np.all(signs[1:] == -signs[:-1]) and np.all(np.diff(np.abs(errors)) > 0)


@pytest.mark.parametrize("lr", [0.2, 0.55])   # undershoot, overshoot
def test_quickprop_lands_on_a_1d_minimum_in_one_secant_step(lr):
    a, b = 2.0, -3.0                           # E = w^2 - 3 w, minimum 1.5
    model = Quadratic(np.array([[a]]), np.array([b]), np.array([-1.0]))
    opt = get_optimizer("quickprop", model, lr=lr)
    closure = closure_for(model)
    for _ in range(2):                          # a gradient step, then the secant step
        opt.zero_grad()
        closure()
        opt.step()
    assert model.theta[0] == pytest.approx(1.5, abs=1e-12)


def test_quickprop_limits_growth_to_mu():
    """Far from the minimum the secant step would be many times the last one: capped at mu."""
    model = Quadratic(np.array([[1.0]]), np.array([-100.0]), np.array([0.0]))
    opt = get_optimizer("quickprop", model, lr=0.01, mu=1.75)
    closure = closure_for(model)
    steps = []
    for _ in range(3):
        w = model.theta[0]
        opt.zero_grad()
        closure()
        opt.step()
        steps.append(model.theta[0] - w)
    assert steps[0] == pytest.approx(1.0)       # -eta E'(0) = 0.01 * 100
    assert steps[1] == pytest.approx(1.75 * steps[0])
    assert steps[2] == pytest.approx(1.75 * steps[1])


def test_quickprop_formula_on_random_vectors():
    """One step from given state equals the notes' per-weight secant rule where it applies."""
    rng = np.random.default_rng(3)
    model = Quadratic(np.eye(50), np.zeros(50), rng.normal(size=50))
    opt = get_optimizer("quickprop", model, lr=0.1, mu=1.75)
    g_prev, s_prev, g = rng.normal(size=50), rng.normal(size=50), rng.normal(size=50)
    opt.prev_grad[...], opt.prev_step[...] = g_prev, s_prev
    opt.step_count = 1
    w0 = model.theta.copy()
    model.grad[...] = g
    opt.step()
    step = model.theta - w0
    secant = s_prev * g / (g_prev - g)
    shrink = 1.75 / 2.75
    too_far = np.where(s_prev > 0, -g > -shrink * g_prev, -g < -shrink * g_prev)
    np.testing.assert_allclose(step[~too_far], secant[~too_far], rtol=1e-12)
    np.testing.assert_allclose(step[too_far], 1.75 * s_prev[too_far], rtol=1e-12)
    # where the last step went down the last slope, the step never exceeds mu times the last one
    downhill = s_prev * g_prev < 0
    assert downhill.sum() > 10
    assert np.all(np.abs(step[downhill]) <= 1.75 * np.abs(s_prev[downhill]) + 1e-12)


def test_quickprop_add_gradient_adds_fahlmans_term_while_the_slope_agrees():
    model = Quadratic(np.array([[2.0]]), np.array([-3.0]), np.array([-1.0]))   # minimum 1.5
    plain_model = Quadratic(np.array([[2.0]]), np.array([-3.0]), np.array([-1.0]))
    opt = get_optimizer("quickprop", model, lr=0.2, add_gradient=True)
    plain = get_optimizer("quickprop", plain_model, lr=0.2)
    closure, plain_closure = closure_for(model), closure_for(plain_model)
    for _ in range(2):
        for o, c in ((opt, closure), (plain, plain_closure)):
            o.zero_grad()
            c()
            o.step()
    # E = w^2 - 3 w. First step: -eta E'(-1) = 0.2 * 5, to w1 = 0 (same for both). Second: the
    # secant step to 1.5, plus -eta E'(w1) = 0.2 * 3 with add_gradient, since the slope at w1
    # still points the way of the last step.
    assert plain_model.theta[0] == pytest.approx(1.5)
    assert model.theta[0] == pytest.approx(1.5 + 0.2 * 3.0)


def run_rprop_1d(name, w0=-1.0, lr=3.0, steps=2):
    model = Quadratic(np.array([[2.0]]), np.array([-3.0]), np.array([w0]))   # minimum 1.5
    opt = get_optimizer(name, model, lr=lr)
    closure = closure_for(model)
    path = [model.theta[0]]
    for _ in range(steps):
        opt.zero_grad()
        closure()
        opt.step()
        path.append(model.theta[0])
    return path, opt


def test_full_rprop_undoes_a_step_whose_gradient_changed_sign():
    path, opt = run_rprop_1d("rprop_backtracking")
    assert path[1] == pytest.approx(-1.0 + 3.0)            # first step: +Delta_0, past 1.5
    # derivative at 2.0 is positive (sign flipped): return to -1, take beta * Delta forward
    assert path[2] == pytest.approx(-1.0 + 0.5 * 3.0)
    assert opt.step_size[0] == pytest.approx(1.5)


def test_simplified_rprop_backtracks_the_same_way():
    path, _ = run_rprop_1d("rprop_simple")
    assert path[1:] == pytest.approx([2.0, 0.5])


def test_irprop_minus_does_not_backtrack_but_waits():
    path, opt = run_rprop_1d("rprop")
    assert path[1:] == pytest.approx([2.0, 2.0])          # no step after the sign change
    assert opt.step_size[0] == pytest.approx(1.5)


@pytest.mark.parametrize("name", ["rprop", "rprop_backtracking", "rprop_simple"])
def test_rprop_converges_on_a_diagonal_quadratic(name):
    a = np.array([1.0, 10.0, 100.0])
    model = Quadratic(np.diag(a), -a, np.array([3.0, -2.0, 0.3]))       # minimum (1, 1, 1)
    opt = get_optimizer(name, model, lr=0.1, step_min=0.0)
    closure = closure_for(model)
    for _ in range(200):
        opt.zero_grad()
        closure()
        opt.step()
    np.testing.assert_allclose(model.theta, 1.0, atol=1e-6)


def test_rprop_step_floor_and_ceiling():
    model = Quadratic(np.array([[1e-3]]), np.array([-1e3]), np.array([0.0]))   # min at 1e6
    opt = get_optimizer("rprop_backtracking", model, lr=0.1, step_max=0.5)
    closure = closure_for(model)
    for _ in range(30):
        opt.zero_grad()
        closure()
        opt.step()
    assert opt.step_size[0] == 0.5


def momentum_reference(A, b, w0, eta, beta, steps, nesterov):
    """The notes' formulas, written out directly."""
    w, dw, path = w0.copy(), np.zeros_like(w0), []
    for _ in range(steps):
        point = w + beta * dw if nesterov else w
        dw = beta * dw - eta * (A @ point + b)
        w = w + dw
        path.append(w.copy())
    return np.array(path)


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_momentum_methods_follow_the_notes_formulas(name):
    rng = np.random.default_rng(5)
    A, b, w0 = random_spd(4, rng), rng.normal(size=4), rng.normal(size=4)
    model = Quadratic(A, b, w0)
    opt = get_optimizer(name, model, lr=0.02, beta=0.9)
    closure = closure_for(model)
    path = []
    for _ in range(100):
        opt.step(closure)
        path.append(model.theta.copy())
    expected = momentum_reference(A, b, w0, 0.02, 0.9, 100, nesterov=name == "nesterov")
    np.testing.assert_allclose(np.array(path), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, steps", [("lbfgs", 30), ("cg", 30), ("newton", 2), ("lm", 5)])
def test_second_order_methods_reach_the_minimum_of_a_quadratic(name, steps):
    rng = np.random.default_rng(7)
    A, b = random_spd(8, rng, condition=100.0), rng.normal(size=8)
    model = Quadratic(A, b, rng.normal(size=8) * 2)
    opt = get_optimizer(name, model)
    closure = closure_for(model)
    for _ in range(steps):
        opt.step(closure)
    np.testing.assert_allclose(model.theta, model.minimum, atol=1e-6)


def test_cg_with_exact_arithmetic_budget_needs_at_most_n_iterations():
    rng = np.random.default_rng(8)
    A, b = random_spd(5, rng, condition=30.0), rng.normal(size=5)
    model = Quadratic(A, b, rng.normal(size=5))
    opt = get_optimizer("cg", model, c2=0.01)
    closure = closure_for(model)
    for _ in range(5 + 2):      # n iterations, plus slack for inexact (Wolfe) line searches
        opt.step(closure)
    np.testing.assert_allclose(model.theta, model.minimum, atol=1e-5)


@pytest.mark.parametrize("name, steps", [("lbfgs", 100), ("cg", 300), ("lm", 100),
                                         ("newton", 60)])
def test_second_order_methods_reach_the_rosenbrock_minimum(name, steps):
    model = Rosenbrock(np.array([-1.2, 1.0]))
    options = {"line_search": "backtracking"} if name == "newton" else {}
    opt = get_optimizer(name, model, **options)
    closure = closure_for(model)
    for _ in range(steps):
        opt.step(closure)
    np.testing.assert_allclose(model.theta, [1.0, 1.0], atol=1e-5)


def test_rotated_quadratic_has_the_stated_minimum():
    A, b = quadratic_with_minimum(condition=20.0, angle_deg=30.0)
    np.testing.assert_allclose(np.linalg.eigvalsh(A), [1.0, 20.0])
    np.testing.assert_allclose(-np.linalg.solve(A, b), [1.0, -1.0])


@pytest.mark.parametrize("perturbation", [0.0, 1e-15, 1e-13, 1e-12, 1e-10])
def test_cg_reaches_the_minimum_in_about_n_steps_whatever_the_rounding(perturbation):
    """Regression: on an 8-D quadratic CG reached it in 8 steps or crawled (5e-4 after 30) as
    rounding of the order of 1e-15 in A decided where scipy's Wolfe search stopped; the secant
    step after the search makes each line search exact on a quadratic."""
    rng = np.random.default_rng(7)
    A, b = random_spd(8, rng, condition=100.0), rng.normal(size=8)
    A = A * (1 + perturbation * np.add.outer(np.arange(8), np.arange(8)))
    model = Quadratic(A, b, rng.normal(size=8) * 2)
    opt = get_optimizer("cg", model)
    closure = closure_for(model)
    for _ in range(8 + 3):
        opt.step(closure)
    np.testing.assert_allclose(model.theta, model.minimum, atol=1e-6)
