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
