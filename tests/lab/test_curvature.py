"""hessian experiment: the measured divergence threshold of constant-rate GD lies within 10% of
2/lambda_max, with lambda_max from the Hessian computed by backprop."""

import numpy as np
import pytest

from handgrad.lab.curvature import CurvatureConfig, run_curvature


def test_divergence_threshold_matches_two_over_lambda_max():
    cfg = CurvatureConfig(sizes=(1, 5, 1), samples=32, sweep_points=9, steps=400, bisections=8)
    res = run_curvature(verbose=False, config=cfg)
    assert res.grad_norm < 1e-5                      # trained to a minimum
    assert res.eigenvalues is not None and res.eigenvalues[-1] == pytest.approx(res.lambda_max)
    assert res.eta_opt == pytest.approx(1.0 / res.lambda_max)
    assert res.eta_limit == pytest.approx(2.0 / res.lambda_max)
    assert abs(res.ratio - 1.0) < 0.1
    # Below the limit nothing diverges, well above it everything does.
    rel = res.etas / res.eta_limit
    assert not res.diverged[rel < 0.95].any()
    assert res.diverged[rel > 1.05].all()


def test_lanczos_method_agrees_with_the_full_spectrum():
    small = dict(sizes=(1, 4, 1), samples=24, sweep_points=5, steps=200, bisections=4)
    full = run_curvature(verbose=False, config=CurvatureConfig(method="full", **small))
    lanczos = run_curvature(verbose=False, config=CurvatureConfig(method="lanczos", **small))
    assert lanczos.eigenvalues is None
    assert lanczos.lambda_max == pytest.approx(full.lambda_max, rel=1e-6)
    assert np.isfinite(lanczos.measured_limit)
