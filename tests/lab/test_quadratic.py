"""quadratic: the measured regimes and step counts of GD on E = 1/2 a w^2 + b w + c and on a 2-D
quadratic, against the notes' analysis e_(k+1) = (1 - eta a) e_k, recomputed here independently."""

import numpy as np
import pytest

from handgrad.lab.quadratic import QuadraticConfig, run_quadratic


def steps_by_iteration(r, e0, tol, limit=100000):
    """Smallest k with |r^k e0| < tol, by plain iteration (not the lab's log formula)."""
    e = e0
    for k in range(1, limit):
        e *= r
        if abs(e) < tol:
            return k
    return None


@pytest.mark.parametrize("a,b,w0", [(2.0, -4.0, -1.0), (0.5, 1.0, 3.0)])
def test_one_dimensional_regimes(a, b, w0):
    cfg = QuadraticConfig(a=a, b=b, w0=w0, factors=(0.5, 1.0, 1.5, 2.2), tol=1e-6)
    res = run_quadratic(verbose=False, config=cfg)
    assert res.eta_opt_1d == pytest.approx(1.0 / a)
    e0 = w0 + b / a
    expected = {0.5: "monotone", 1.0: "one step", 1.5: "oscillating", 2.2: "divergent"}
    for run in res.runs_1d:
        assert run.regime == expected[run.factor]
        assert run.observed == expected[run.factor]
        r = 1.0 - run.eta * a
        if run.factor < 2:
            assert run.steps == steps_by_iteration(r, e0, cfg.tol)
            assert run.steps == run.predicted_steps
        else:
            assert run.steps is None and run.predicted_steps is None
        signs = np.sign(run.errors[np.abs(run.errors) >= cfg.tol])
        if run.factor == 0.5:      # monotone: the error keeps the sign of e0
            assert np.all(signs == np.sign(e0))
        elif run.factor >= 1.5:    # oscillating and divergent: the sign flips every step
            assert np.all(signs[1:] == -signs[:-1])
        if run.factor == 2.2:      # divergent: |e| grows by |1 - eta a| = 1.2 per step
            ratios = np.abs(run.errors[1:10] / run.errors[:9])
            np.testing.assert_allclose(ratios, 1.2, rtol=1e-9)
    # The slower half-rate run and the oscillating 1.5 run have the same |1 - eta a| = 0.5.
    assert res.runs_1d[0].steps == res.runs_1d[2].steps


def test_two_dimensional_newton_and_rescaled():
    cfg = QuadraticConfig(eigenvalues=(1.0, 10.0), angle=25.0, minimum=(0.3, -0.2),
                          start=(-1.0, 1.5), factors=(0.5, 1.5, 2.2), rescaled_eta=0.5)
    res = run_quadratic(verbose=False, config=cfg)
    assert res.eta_opt_2d == pytest.approx(0.1)
    stiff = [run.observed.split("stiff axis ")[1] for run in res.runs_2d]
    assert stiff == ["monotone", "oscillating", "divergent"]
    assert all(run.observed.startswith("flat axis monotone") for run in res.runs_2d)
    assert res.runs_2d[2].steps is None
    # GD below 2/lambda_max converges, at the pace of the flat axis: (1 - eta lambda_min)^k.
    assert res.runs_2d[0].steps == res.runs_2d[0].predicted_steps
    # Newton: one step to w*.
    assert res.newton_steps == 1
    np.testing.assert_allclose(res.newton_path[1], cfg.minimum, atol=1e-12)
    # The axis-rescaled update walks the straight line from the start to w*, halving the error.
    e = res.rescaled_path - np.asarray(cfg.minimum)
    cross = e[:, 0] * e[0, 1] - e[:, 1] * e[0, 0]
    np.testing.assert_allclose(cross, 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(e[1:6], axis=1) / np.linalg.norm(e[:5], axis=1),
                               0.5, rtol=1e-9)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match=r"invalid a \(--a\): -1 "):
        QuadraticConfig(a=-1.0)
    with pytest.raises(ValueError, match="eigenvalues"):
        QuadraticConfig(eigenvalues=(1.0, -2.0))


def test_eta_at_twice_eta_opt_is_labelled_alike_in_1d_and_2d():
    """r = 1 - eta lambda = -1: the error flips sign at constant size. 1-D said "oscillating",
    2-D's stiff axis "divergent" (rounding made |r| a hair above 1)."""
    res = run_quadratic(verbose=False, config=QuadraticConfig(factors=(2.0,), max_steps=300))
    assert res.runs_1d[0].regime == res.runs_1d[0].observed == "oscillating, no decay"
    assert res.runs_2d[0].observed == "flat axis monotone, stiff axis oscillating, no decay"
    assert res.runs_2d[0].regime.endswith("stiff axis oscillating, no decay")
    assert res.verdict.count("does not converge (|e| stays the same size)") == 2


def test_the_verdict_says_what_each_run_did_within_the_budget():
    res = run_quadratic(verbose=False, config=QuadraticConfig(max_steps=3))
    lines = res.verdict.splitlines()
    assert "eta = 0.5 eta_opt: monotone    -> not within --max-steps 3 (still converging)" \
        in lines[1]
    assert "eta = 2.2 eta_opt: divergent   -> diverges (|e| x1.2 per step)" in lines[4]
    assert "a straight line, not within --max-steps 3" in lines[-1]
    full = run_quadratic(verbose=False, config=QuadraticConfig())
    assert "a straight line, 22 steps" in full.verdict
