"""newton-fails: plain Newton (fix="none") converges to maxima and saddles of a non-convex function
and to saddles of a small network's loss; the modified Newton (fix="abs") reaches minima."""

import numpy as np
import pytest

from handgrad.lab.newton_fails import (NewtonFailsConfig, SAMPLE_STARTS, classify, library_path,
                                       newton_formula, run_newton_fails)


@pytest.mark.parametrize("fix", ["none", "abs"])
def test_the_library_newton_takes_the_formula_steps(fix):
    for start in SAMPLE_STARTS:
        path = library_path(start, fix, 5)
        u, v = start
        for k in range(1, 6):
            u, v = newton_formula(u, v, fix)
            np.testing.assert_allclose(path[k], (u, v), atol=1e-6)


def test_plain_newton_finds_maxima_and_saddles_the_modified_one_minima():
    res = run_newton_fails(verbose=False, config=NewtonFailsConfig(grid=20, net_starts=4,
                                                                   net_steps=40))
    assert res.share("none", "maximum") > 0.03 and res.share("none", "saddle") > 0.2
    assert res.share("abs", "minimum") == 1.0
    # every start near the maximum goes up to it under plain Newton
    U, V = np.meshgrid(res.axis, res.axis)
    near = (np.abs(U) < 0.4) & (np.abs(V) < 0.4)
    assert near.any() and np.all(res.kinds["none"][near] == "maximum")
    plain, modified = res.net_kinds("none"), res.net_kinds("abs")
    assert plain.count("saddle") >= 2 and "minimum" not in plain
    assert modified.count("minimum") >= 2 and "saddle" not in modified and "maximum" not in modified
    for run in res.net:
        if run.kind == "saddle":
            assert run.eigenvalues[0] < 0 < run.eigenvalues[-1]
    best_plain = min(run.losses[-1] for run in res.net if run.fix == "none")
    assert max(run.losses[-1] for run in res.net if run.fix == "abs") < best_plain


def test_classify():
    kinds = classify(np.array([0.0, 1.0, 1.0, 0.5]), np.array([0.0, 0.0, -1.0, 1.0]))
    assert list(kinds) == ["maximum", "saddle", "minimum", "elsewhere"]


def test_the_surface_verdict_quotes_the_measured_shares():
    res = run_newton_fails(verbose=False, config=NewtonFailsConfig(
        grid=6, net_starts=1, net_steps=1, samples=8))
    line = next(x for x in res.verdict.splitlines() if x.startswith("Plain Newton goes"))
    assert f"from {res.share('none', 'maximum'):.0%} of the starts" in line
    assert f"saddle from {res.share('none', 'saddle'):.0%}" in line
    assert res.share("abs", "maximum") == res.share("abs", "saddle") == 0
    assert "the modified step ends at neither from any start" in line
