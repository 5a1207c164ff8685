"""vanishing: the gradient of a deep sigmoid network shrinks layer by layer within sigma' <= 1/4,
far faster than with tanh or ReLU; batch norm removes the shrinkage; a large init explodes it."""

import numpy as np
import pytest

from handgrad.lab.vanishing import VanishingConfig, run_vanishing


def test_sigmoid_gradients_vanish_and_large_weights_explode():
    res = run_vanishing(verbose=False, config=VanishingConfig(epochs=2))
    s = res.run("sigmoid")
    assert s.sigma_prime <= 0.25
    # the chain of Jacobians: one layer scales the gradient by at most 1/4 ||W_(k+1)||_2
    bound = np.prod(0.25 * s.spectral[1:])
    assert s.ratio[0] < 1e-3 and s.per_layer < 0.25 * s.spectral.max()
    assert s.norms[0, 0] / s.norms[0, -1] <= bound * 10    # ||grad_W|| carries y too: a loose check
    for other in ("tanh", "relu", "sigmoid + BN"):
        assert res.run(other).ratio[0] > 100 * s.ratio[0], other
    assert np.all(np.diff(np.log(s.norms[0])) > 0)        # smaller at every step towards the input
    explode = res.run("relu x 2 (explode)")
    assert explode.norms[0, 0] > 1000 * res.run("relu").norms[0, 0]
    assert "1/4" in res.verdict and f"{1 / s.ratio[0]:.0f} times smaller" in res.verdict


def test_options_are_checked():
    with pytest.raises(ValueError, match="activation"):
        VanishingConfig(activations=("sigmoid", "swish"))
    with pytest.raises(ValueError, match="invalid depth"):
        VanishingConfig(depth=1)


def test_the_exploding_line_reports_the_measured_growth():
    """The verdict said ReLU x gain multiplies the gradient "by about gain per layer" without
    measuring it; it now reports the first layer's gradient against the usual scale."""
    res = run_vanishing(verbose=False, config=VanishingConfig(
        depth=2, width=8, epochs=1, samples=64, gain=1.5, batchnorm=False))
    grown = res.run("relu x 1.5 (explode)").norms[0, 0] / res.run("relu").norms[0, 0]
    assert f"the first layer's gradient x{grown:.3g}, x{grown ** 0.5:.2f} per hidden layer" \
        in res.verdict
    assert "by about 1.5 per layer" not in res.verdict
    assert "(sigmoid " in res.verdict


def test_a_diverged_run_says_so_instead_of_nan():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = run_vanishing(verbose=False, config=VanishingConfig(
            depth=3, width=8, epochs=1, samples=64, lr=1e4, batchnorm=False, gain=0.0,
            activations=("relu",)))
    assert "-> diverged" in res.verdict and "nan" not in res.verdict
