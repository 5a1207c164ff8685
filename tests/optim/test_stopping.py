"""Stopping criteria of the notes: |L_k - L_(k-1)| < eps, a maximum of epochs, and 002's running
loss Q := lambda L_i + (1 - lambda) Q."""

import pytest

from handgrad.optim import LossStagnation, MaxEpochs, RunningLoss


def test_loss_stagnation_fires_when_the_change_falls_below_eps():
    stop = LossStagnation(eps=1e-3)
    losses = [1.0, 0.5, 0.3, 0.2995, 0.2]
    fired = [stop.update(L) for L in losses]
    assert fired == [False, False, False, True, False]


def test_loss_stagnation_with_patience_needs_consecutive_epochs():
    stop = LossStagnation(eps=0.01, patience=2)
    assert [stop.update(L) for L in [1.0, 0.995, 0.5, 0.499, 0.498]] == \
        [False, False, False, False, True]


def test_loss_stagnation_resumes_from_its_state():
    a = LossStagnation(eps=0.01, patience=2)
    for L in [1.0, 0.999]:
        a.update(L)
    b = LossStagnation(eps=0.01, patience=2)
    b.load_state_dict(a.state_dict())
    assert b.update(0.998) is True and a.update(0.998) is True


def test_max_epochs():
    stop = MaxEpochs(3)
    assert [stop.update(k) for k in (1, 2, 3)] == [False, False, True]
    with pytest.raises(ValueError, match="max_epochs"):
        MaxEpochs(0)


def test_running_loss_is_the_exponential_average_of_002():
    q = RunningLoss(lam=0.25)
    assert q.update(4.0) == 4.0                  # first L_i starts Q
    assert q.update(8.0) == pytest.approx(0.25 * 8 + 0.75 * 4)
    assert q.update(0.0) == pytest.approx(0.75 * 5.0)
    q2 = RunningLoss(lam=0.5, initial=10.0)      # Q(w) evaluated at the initial weights
    assert q2.update(2.0) == pytest.approx(6.0)


@pytest.mark.parametrize("lam", [0.0, 1.5, -0.1])
def test_running_loss_rejects_lambda_outside_0_1(lam):
    with pytest.raises(ValueError, match="invalid lam"):
        RunningLoss(lam=lam)


def test_stopping_rejects_bad_values():
    with pytest.raises(ValueError, match="invalid eps"):
        LossStagnation(eps=-1.0)
    with pytest.raises(ValueError, match="non-finite"):
        RunningLoss(0.1).update(float("inf"))
