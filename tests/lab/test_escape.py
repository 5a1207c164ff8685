"""escape: from starts in a poor, narrow minimum a small constant rate stays, a constant rate above
2 eta_opt of both minima never settles, and a large rate with decay settles in the better one."""

import numpy as np
import pytest

from handgrad.lab.escape import E, EscapeConfig, grad_E, minima, run_escape


def test_the_function_has_the_two_minima_it_claims():
    (wp, Ep, Hp), (wg, Eg, Hg) = minima()
    assert Ep > Eg and Hp > 10 * Hg                      # poor is shallower and much sharper
    h = 1e-6
    for w in (-2.0, wp, 0.3, wg, 3.5):                   # the analytic gradient
        assert grad_E(w) == pytest.approx((E(w + h) - E(w - h)) / (2 * h), abs=1e-6)


def test_a_large_rate_with_decay_escapes_where_a_small_one_stays():
    res = run_escape(verbose=False, config=EscapeConfig(seeds=100))
    small, large, decay = (res.outcome(n) for n in ("small", "large", "decay"))
    started_good = np.mean(small.paths[0] > res.barrier)
    assert small.fraction == pytest.approx(started_good)  # it ends where it started
    assert large.fraction == 0.0
    assert decay.fraction > 0.95
    wg = res.minima[-1][0]
    np.testing.assert_allclose(decay.paths[-1], wg, atol=1e-3)
    assert "claim holds" in res.verdict


def test_a_rate_that_never_exceeds_2_eta_opt_does_not_escape():
    res = run_escape(verbose=False, config=EscapeConfig(seeds=50, eta0=0.07, beta=0.001))
    assert res.outcome("decay").fraction < 0.3 and "does NOT hold" in res.verdict


def _line(verdict, start):
    return next(line for line in verdict.splitlines() if line.strip().startswith(start))


def test_the_verdict_compares_the_rates_with_the_measured_limits():
    """docs/lab.md's second example: 0.07 is below both limits (0.075, 1.28) and nothing moves;
    the verdict once said "> 2 eta_opt of both", "never settles" and "escapes" regardless."""
    res = run_escape(verbose=False, config=EscapeConfig(seeds=20, eta0=0.07, beta=0.001))
    large = _line(res.verdict, "large constant")
    assert "(< 2 eta_opt of both)" in large and "stays where it starts" in large
    assert "never settles" not in large and "escapes" not in _line(res.verdict, "eta_0")
    assert "eta_0 is already below" in res.verdict
    between = run_escape(verbose=False, config=EscapeConfig(seeds=20, eta0=0.5))
    assert "> 2 eta_opt of the poor minimum, < that of the better one" in \
        _line(between.verdict, "large constant")
    default = run_escape(verbose=False, config=EscapeConfig(seeds=20))
    assert "(> 2 eta_opt of both)" in _line(default.verdict, "large constant")
    assert "never settles" in _line(default.verdict, "large constant")
    assert "escapes, then settles" in _line(default.verdict, "eta_0")


def test_a_rate_that_overflows_is_reported(tmp_path):
    import warnings

    from handgrad.lab import Outputs

    cfg = EscapeConfig(seeds=5, eta0=1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no overflow warnings from the run
        res = run_escape(verbose=False, config=cfg)
    assert "diverges: w overflows from 100% of the starts" in _line(res.verdict, "large constant")
    assert "nan" not in res.verdict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # matplotlib's log scale at 1e300
        run_escape(Outputs(tmp_path, "escape"), verbose=False, config=cfg)
    assert (tmp_path / "escape.png").stat().st_size > 0
