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
