"""pretraining: the greedy autoencoders learn to reconstruct; pretrained weights pass a larger
gradient to the first layer than a small random start and learn sooner than Xavier's start; the
verdict reports the measured comparison, including where pretraining does not help."""

import numpy as np
import pytest

from handgrad.lab.pretraining import PretrainingConfig, run_pretraining


def test_pretraining_against_random_starts():
    res = run_pretraining(verbose=False)
    for curve in res.reconstruction:
        assert curve[-1] < curve[0] / 3                 # each autoencoder learned
    pre, xav, small = (res.run(s) for s in ("pretrained", "Xavier random", "small random"))
    assert small.first_layer_grad < 1e-3 * pre.first_layer_grad
    assert small.val_accuracy.max() < 0.3               # vanished: it does not learn
    first = lambda run: int(np.argmax(run.val_accuracy >= 0.8))       # noqa: E731
    assert pre.val_accuracy.max() >= 0.8 and xav.val_accuracy.max() >= 0.8
    assert first(pre) + 10 < first(xav)                 # pretraining shortens the plateau ...
    assert abs(pre.val_accuracy[-1] - xav.val_accuracy[-1]) < 0.05    # ... but ends no better
    assert "finds no better solution" in res.verdict


def test_options_are_checked():
    with pytest.raises(ValueError, match="invalid hidden"):
        PretrainingConfig(hidden=())


def test_the_plateau_claim_needs_pretraining_to_be_sooner():
    """Neither start reaches 80% in 4 epochs: the verdict once said pretraining "shortens the
    plateau" whenever the final accuracies matched."""
    res = run_pretraining(verbose=False, config=PretrainingConfig(
        samples=100, epochs=4, pretrain_epochs=1, hidden=(8,)))
    assert "With Xavier's initialisation the random start ends as well" in res.verdict
    assert "shortens the plateau" not in res.verdict
