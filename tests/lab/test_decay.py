"""decay: each schedule sets eta_k by its formula, and a constant rate ends above the decayed ones
under mini-batch noise."""

import numpy as np
import pytest

from handgrad.lab.decay import DecayConfig, run_decay


def test_schedules_side_by_side():
    cfg = DecayConfig(epochs=40, samples=128, step_size=10)
    res = run_decay(verbose=False, config=cfg)
    k = np.arange(cfg.epochs)
    np.testing.assert_allclose(res.run("constant").etas, cfg.eta0)
    np.testing.assert_allclose(res.run("inverse").etas, cfg.eta0 / (k + 1))
    np.testing.assert_allclose(res.run("inverse_square").etas, cfg.eta0 / (k + 1) ** 2)
    np.testing.assert_allclose(res.run("exponential").etas, cfg.eta0 * np.exp(-cfg.beta * k))
    np.testing.assert_allclose(res.run("step").etas, cfg.eta0 * cfg.gamma ** (k // 10))
    plateau = res.run("plateau").etas
    assert plateau[0] == cfg.eta0 and plateau[-1] < cfg.eta0          # it reduced at least once
    powers = np.log(plateau / cfg.eta0) / np.log(cfg.alpha)      # eta = alpha^j eta_0
    np.testing.assert_allclose(powers, np.round(powers), atol=1e-9)
    assert np.all(np.diff(powers) >= 0)
    best = min(r.final for r in res.runs)
    assert res.run("constant").final > best * 1.05
    assert res.run("inverse_square").final > res.run("exponential").final
    assert all(r.final > res.noise_floor * 0.8 for r in res.runs)


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="schedule"):
        DecayConfig(schedules=("constant", "cosine"))


def test_a_diverging_schedule_is_reported_not_a_crash(tmp_path):
    """README's old example (--eta0 0.5 --batch-size 4 with plateau) overflowed and ended with
    "schedule 'plateau' got a non-finite metric nan" or matplotlib's "Axis limits cannot be NaN"."""
    from handgrad.lab import Outputs

    cfg = DecayConfig(eta0=0.5, batch_size=4, epochs=6, samples=256,
                      schedules=("constant", "exponential", "plateau"))
    res = run_decay(Outputs(tmp_path, "decay"), verbose=False, config=cfg)
    assert (tmp_path / "decay.png").stat().st_size > 0
    for run in res.runs:
        assert run.diverged_at is not None and run.final == np.inf
        assert run.val_loss.size == run.diverged_at - 1 and np.all(np.isfinite(run.val_loss))
        assert f"{run.schedule:15s} diverged in epoch {run.diverged_at}" in res.verdict
    assert "Every schedule diverged" in res.verdict


def test_the_verdict_ranks_the_finished_runs_and_names_the_diverged(tmp_path):
    from handgrad.lab.decay import DecayResult, ScheduleRun, _plot, _verdict

    cfg = DecayConfig(schedules=("constant", "exponential", "inverse_square"), epochs=20)
    good = np.linspace(0.5, 0.05, 20)
    runs = [ScheduleRun("constant", np.full(5, 0.3), good[:4], good[:4], diverged_at=5),
            ScheduleRun("exponential", np.full(20, 0.1), good, good),
            ScheduleRun("inverse_square", np.full(20, 0.1), good + 0.1, good + 0.1)]
    res = DecayResult(cfg, runs, 0.04)
    verdict = _verdict(res)
    assert "Best: exponential. Diverged: constant" in verdict
    assert "constant rate ends" not in verdict                     # it did not end
    assert "inverse_square" in verdict and "above the best" in verdict
    _plot(res, tmp_path / "decay.png")
    assert (tmp_path / "decay.png").stat().st_size > 0
    runs[1] = ScheduleRun("exponential", np.full(20, 0.1), good + 0.2, good + 0.2)
    runs[0] = ScheduleRun("constant", np.full(20, 0.3), good, good)
    verdict = _verdict(DecayResult(cfg, runs, 0.04))
    assert "Best: constant. No decay beats the constant rate here." in verdict
