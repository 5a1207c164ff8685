"""cost: backprop's delta is (a - y) sigma'(z) under the quadratic cost and a - y under
cross-entropy (003, eq. 16 and 26); from a saturated wrong start the quadratic cost is much
slower."""

import numpy as np
import pytest

from handgrad.lab.cost import CostConfig, run_cost


def test_cross_entropy_learns_fast_where_the_quadratic_cost_crawls():
    res = run_cost(verbose=False)
    for run in res.runs:
        np.testing.assert_allclose(run.delta, run.delta_formula, rtol=1e-12, atol=1e-15)
    q, c = res.run("quadratic"), res.run("cross-entropy")
    assert q.a[0] == c.a[0] > 0.95
    assert abs(q.delta[0]) < abs(c.delta[0]) / 40          # sigma'(z) ~ 0.018 at the start
    assert c.epochs_to_tol is not None and q.epochs_to_tol is not None
    assert res.slowdown("bad") > 8
    # the mild start: the quadratic cost is still slower (sigma' <= 1/4), but much less so
    assert 1 < res.slowdown("mild") < res.slowdown("bad") / 2
    # the plateau: after 100 epochs the badly started quadratic neuron has barely moved
    assert q.a[100] > 0.9 and c.a[100] < 0.1
    assert f"{res.slowdown('bad'):.1f} times slower" in res.verdict


def test_options_are_checked():
    with pytest.raises(ValueError, match="invalid target"):
        CostConfig(target=2.0)


def test_the_verdict_claims_only_what_the_run_shows():
    """--target 1 from a = 0.98: the neuron is right from the start; the verdict once called it
    "badly wrong" and said the quadratic cost "learns 0.0 times slower"."""
    right = run_cost(verbose=False, config=CostConfig(target=1.0, epochs=20))
    assert "already within 0.5 of y" in right.verdict
    assert "slower" not in right.verdict and "plateau" not in right.verdict
    wrong = run_cost(verbose=False, config=CostConfig())
    assert "13.6 times slower" in wrong.verdict and "adds the long plateau" in wrong.verdict
