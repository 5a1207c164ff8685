"""saddle: the all-zero network is a critical point with a mixed-sign Hessian; GD escapes at the
rate the Hessian predicts; from the exact point GD does not move."""

import numpy as np
import pytest

from handgrad.lab.saddle import SaddleConfig, run_saddle


def test_saddle_spectrum_and_escape():
    cfg = SaddleConfig(hidden=3, samples=60, optimizers=("gd", "rprop", "adam"), steps=150)
    res = run_saddle(verbose=False, config=cfg)
    assert res.grad_norm < 1e-12
    lam = res.eigenvalues
    tol = 1e-6
    neg, pos = lam[lam < -tol], lam[lam > tol]
    assert neg.size >= 1 and pos.size >= 1
    # Block structure [[0, C], [C^T, 0]]: eigenvalues +-sigma_i; plus the output bias' 2.
    assert 2.0 in np.round(pos, 8)
    rest = np.sort(np.delete(pos, np.argmin(np.abs(pos - 2.0))))
    np.testing.assert_allclose(np.sort(-neg), rest, rtol=1e-6)
    # GD's negative-curvature component grows by 1 + eta |lambda_min| per step.
    assert res.gd_growth_measured == pytest.approx(res.gd_growth_predicted, rel=1e-3)
    gd, rprop = res.run("gd"), res.run("rprop")
    assert gd.moved_from_exact < 1e-9
    assert gd.escaped_at is not None and rprop.escaped_at is not None
    assert rprop.escaped_at < gd.escaped_at
    assert "a saddle point" in res.verdict


def test_symmetric_point_is_a_saddle_too():
    cfg = SaddleConfig(start="symmetric", hidden=3, samples=60, optimizers=("gd", "rprop"),
                       steps=60)
    res = run_saddle(verbose=False, config=cfg)
    assert res.grad_norm < 1e-6                        # critical: copies get equal gradients
    assert res.eigenvalues[0] < -1e-3 and res.eigenvalues[-1] > 1e-3
    assert res.gd_growth_measured == pytest.approx(res.gd_growth_predicted, rel=5e-3)
    assert res.run("gd").moved_from_exact < 1e-6
    assert res.run("rprop").escaped_at is not None
    with pytest.raises(ValueError, match="start"):
        SaddleConfig(start="diagonal")


def test_the_verdict_says_what_newton_did():
    """Newton's loss drops below the escape line and then jumps far above the saddle's: the verdict
    must not rank it among the clean escapes, and must name the Newton it runs."""
    res = run_saddle(verbose=False, config=SaddleConfig(optimizers=("gd", "newton"), steps=60))
    newton = res.run("newton")
    assert newton.escaped_at is not None
    assert np.nanmax(newton.losses[newton.escaped_at:]) > 10 * res.E_saddle
    ranking = next(line for line in res.verdict.splitlines() if "stayed below" in line)
    assert "newton" not in ranking and "gd after" in ranking
    assert "did not stay" in res.verdict and "fix='abs'" in res.verdict


def test_which_normalising_methods_leave_sooner_is_measured():
    """The verdict said "Normalising methods (Rprop, AdaGrad, RMSProp, Adam) ... leave sooner"
    in every run; with 20 steps neither GD nor Adam escapes, and by default Adam is slower."""
    short = run_saddle(verbose=False, config=SaddleConfig(steps=20, optimizers=("gd", "adam")))
    assert "No normalising method (Rprop, AdaGrad, RMSProp, Adam) left sooner than GD" \
        in short.verdict
    assert "leave sooner than GD" not in short.verdict
    race = run_saddle(verbose=False, config=SaddleConfig(steps=100,
                                                        optimizers=("gd", "rprop", "adam")))
    at = {e.optimizer: e.escaped_at for e in race.runs}
    assert at["rprop"] < at["gd"] < at["adam"]
    assert "rprop, which normalise the gradient, ignore how small it is and leave sooner than GD" \
        in race.verdict


def test_a_rate_that_overflows_is_reported_as_diverged():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = run_saddle(verbose=False, config=SaddleConfig(lr_scale=1e10, steps=20,
                                                           optimizers=("gd", "rprop")))
    assert "gd (diverged: its loss or weights overflowed)" in res.verdict
    assert "E = inf" not in res.verdict and "nan" not in res.verdict
    assert "gd (1e+30) move anyway, the rate times the tiny gradient not being tiny" in res.verdict
