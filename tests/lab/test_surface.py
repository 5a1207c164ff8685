"""surface: filter-normalised directions, the plane's loss, and the path projections."""

import numpy as np

from handgrad.lab.surface import SurfaceConfig, filter_normalized_direction, project, run_surface
from handgrad.nn import MLP


def test_filter_normalisation():
    rng = np.random.default_rng(0)
    model = MLP((2, 5, 3, 1), activation="tanh", rng=rng, dtype=np.float64)
    theta = model.theta.copy()
    d = filter_normalized_direction(model, theta, rng)
    offset = 0
    for _, p in model.named_parameters():
        part = d[offset:offset + p.size].reshape(p.shape)
        if p.decay:
            np.testing.assert_allclose(np.linalg.norm(part, axis=1),
                                       np.linalg.norm(p.data, axis=1), rtol=1e-12)
        else:
            assert not part.any()                       # biases: zero direction
        offset += p.size
    np.testing.assert_array_equal(model.theta, theta)


def test_projection_keeps_in_plane_points():
    rng = np.random.default_rng(1)
    d1, d2 = rng.standard_normal(30), rng.standard_normal(30)
    coords = rng.standard_normal((7, 2))
    points = coords @ np.stack([d1, d2])
    got, kept = project(points, d1, d2)
    np.testing.assert_allclose(got, coords, atol=1e-10)
    assert abs(kept - 1.0) < 1e-12


def test_surface_small():
    cfg = SurfaceConfig(hidden=(8,), samples=60, steps=80, grid=9)
    res = run_surface(verbose=False, config=cfg)
    assert res.losses[-1] < res.losses[0]
    centre = res.random.loss[4, 4]
    assert centre == res.random.loss.min() or centre < np.median(res.random.loss)
    assert abs(centre - res.losses[-1]) < 1e-12           # alpha = beta = 0 is theta*
    assert res.pca.captured > res.random.captured
    np.testing.assert_allclose(res.pca.path[-1], 0.0, atol=1e-12)


def test_the_verdict_does_not_assume_a_basin():
    """eta = 50: training raises the loss and the end point is no basin; the verdict once said
    "sits in a basin" and "down into the basin" for every run."""
    res = run_surface(verbose=False, config=SurfaceConfig(steps=20, grid=5, lr=50.0,
                                                         optimizer="sgd"))
    assert res.losses[-1] > res.losses[0]
    assert "is not in a basin of this slice" in res.verdict
    assert "training did not lower the loss" in res.verdict and "sits in a basin" not in res.verdict
    ok = run_surface(verbose=False, config=SurfaceConfig(steps=100, grid=9))
    assert "sits in a basin" in ok.verdict and "down to" in ok.verdict
