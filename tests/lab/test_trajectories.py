"""trajectories: the optim classes on Function2D modules; analytic gradients of the test functions
against central differences; known behaviour on the quadratic and the saddle."""

import numpy as np
import pytest

from handgrad.check import central_differences
from handgrad.lab.common import TEST_FUNCTIONS, Function2D, function_closure
from handgrad.lab.trajectories import RATES, TrajectoriesConfig, run_trajectories


@pytest.mark.parametrize("name", sorted(TEST_FUNCTIONS))
def test_function_gradients_match_central_differences(name):
    fn = TEST_FUNCTIONS[name]()
    rng = np.random.default_rng(1)
    for _ in range(5):
        w = np.array([rng.uniform(*fn.xlim), rng.uniform(*fn.ylim)])
        module = Function2D(fn, start=w)
        closure = function_closure(module)
        value = closure()
        assert value == pytest.approx(fn.E(*w))
        numeric = central_differences(lambda: closure(backward=False), module.theta, 1e-6)
        np.testing.assert_allclose(module.grad, numeric, rtol=1e-6, atol=1e-6)


def test_races_behave_as_the_notes_say():
    cfg = TrajectoriesConfig(functions=("quadratic", "saddle"), optimizers=("gd", "rprop",
                                                                            "newton"), steps=90)
    res = run_trajectories(verbose=False, config=cfg)
    # Newton: one step to the minimum of a quadratic.
    assert res.race("quadratic", "newton").reached == 1
    # GD at eta = 1/lambda_max = 0.05: every axis converges monotonically, so E falls every step.
    gd = res.race("quadratic", "gd")
    assert RATES["quadratic"]["gd"] == pytest.approx(1.0 / cfg.condition)
    assert np.all(np.diff(gd.losses) < 0)
    # On x^2 - y^2, GD multiplies x by (1 - 2 eta) and y by (1 + 2 eta) every step.
    s = res.race("saddle", "gd")
    eta = RATES["saddle"]["gd"]
    k = np.arange(len(s.path))
    np.testing.assert_allclose(s.path[:, 0], s.path[0, 0] * (1 - 2 * eta) ** k, rtol=1e-12)
    np.testing.assert_allclose(s.path[:, 1], s.path[0, 1] * (1 + 2 * eta) ** k, rtol=1e-12)
    expected = int(np.ceil(np.log(1.0 / s.path[0, 1]) / np.log(1 + 2 * eta)))
    assert s.reached in (expected, expected + 1)
    # Rprop leaves the saddle long before GD: its step ignores the tiny gradient's size.
    assert res.race("saddle", "rprop").reached < s.reached
    assert "escaped the saddle" in res.verdict


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="optimizer"):
        TrajectoriesConfig(optimizers=("gd", "sgdx"))
    with pytest.raises(ValueError, match="test function"):
        TrajectoriesConfig(functions=("himmelblau",))


def test_the_verdict_names_the_newton_it_runs():
    from handgrad.lab.trajectories import TrajectoriesConfig, run_trajectories

    res = run_trajectories(verbose=False, config=TrajectoriesConfig(
        functions=("saddle",), optimizers=("gd", "newton"), steps=20))
    assert "modified Newton (fix='abs'" in res.verdict
