"""overfitting: trained long on few points, a large network's validation loss climbs while its
training loss falls; L2, dropout and early stopping each close most of the gap."""

import numpy as np
import pytest

from handgrad.lab.overfitting import OverfittingConfig, run_overfitting


def test_the_gap_opens_and_each_remedy_closes_it():
    res = run_overfitting(verbose=False, config=OverfittingConfig(steps=2000))
    plain = res.run("none")
    assert plain.final_val > 1.5 * plain.val.min()           # validation climbs back up
    assert plain.final_train < plain.train[plain.val.argmin()]   # while training keeps falling
    assert plain.final_train < res.noise_floor / 2           # below the noise: it fits the noise
    for name in ("L2", "dropout", "early stopping"):
        run = res.run(name)
        assert run.gap < plain.gap / 2, name
        assert run.final_val < plain.final_val, name
    early = res.run("early stopping")
    assert early.final_val == pytest.approx(early.val.min())
    assert early.stop == len(early.val) - 1 - res.config.patience   # stopped after the patience
    np.testing.assert_array_equal(early.val[:early.stop + 1], plain.val[:early.stop + 1])


def test_options_are_checked():
    with pytest.raises(ValueError, match="invalid dropout"):
        OverfittingConfig(dropout=1.0)


def test_the_verdict_claims_only_what_the_run_shows():
    """Many points, a small net, little noise: no overfitting; the verdict once said "it fits the
    noise" and "each also lowers the validation loss" regardless."""
    res = run_overfitting(verbose=False, config=OverfittingConfig(
        samples=200, hidden=8, steps=300, noise=0.05))
    assert "no sign of fitting the noise" in res.verdict and "fits the noise." not in res.verdict
    assert "there is no gap" in res.verdict
    assert "each also lowers the validation loss" not in res.verdict
    assert "do not lower the validation loss" in res.verdict
