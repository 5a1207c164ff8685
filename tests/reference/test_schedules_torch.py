"""Each learning-rate schedule against its torch.optim.lr_scheduler twin, epoch by epoch."""

import math

import numpy as np
import pytest
import torch

from handgrad.nn import MLP
from handgrad.optim import get_optimizer, get_schedule

torch.set_num_threads(1)   # tiny tensors: threads only add contention on a shared machine

EPOCHS = 60


def pair(eta0=0.4):
    model = MLP([2, 3, 1], rng=0, dtype=np.float64)
    opt = get_optimizer("sgd", model, lr=eta0)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))], lr=eta0)
    return opt, topt


def compare(name, options, make_torch, metrics=None):
    opt, topt = pair()
    sched = get_schedule(name, opt, **options)
    tsched = make_torch(topt)
    assert opt.lr == topt.param_groups[0]["lr"]
    rates = []
    for k in range(EPOCHS):
        metric = None if metrics is None else float(metrics[k])
        sched.step(metric)
        topt.step()                 # torch expects an optimizer step before each schedule step
        tsched.step() if metrics is None else tsched.step(metric)
        expected = topt.param_groups[0]["lr"]
        assert opt.lr == pytest.approx(expected, rel=1e-12, abs=1e-300), f"epoch {k + 1}"
        rates.append(opt.lr)
    assert len(set(rates)) > 1      # the schedule did change eta
    return rates


def test_inverse_matches_lambdalr():
    rates = compare("inverse", {}, lambda o: torch.optim.lr_scheduler.LambdaLR(
        o, lambda k: 1.0 / (k + 1)))
    assert rates[3] == pytest.approx(0.4 / 5)         # eta_k = eta_0 / (k + 1), k = 4


def test_inverse_square_matches_lambdalr():
    rates = compare("inverse_square", {}, lambda o: torch.optim.lr_scheduler.LambdaLR(
        o, lambda k: 1.0 / (k + 1) ** 2))
    assert rates[2] == pytest.approx(0.4 / 16)


@pytest.mark.parametrize("beta", [0.05, 0.5])
def test_exponential_matches_exponentiallr(beta):
    rates = compare("exponential", {"beta": beta}, lambda o: torch.optim.lr_scheduler.ExponentialLR(
        o, gamma=math.exp(-beta)))
    assert rates[9] == pytest.approx(0.4 * math.exp(-beta * 10))


@pytest.mark.parametrize("step_size, gamma", [(1, 0.9), (7, 0.5)])
def test_step_matches_steplr(step_size, gamma):
    compare("step", {"step_size": step_size, "gamma": gamma},
            lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma))


PLATEAU_CASES = [
    dict(alpha=0.1, patience=3),
    dict(alpha=0.5, patience=0, cooldown=2),
    dict(alpha=0.3, patience=2, threshold=0.05, threshold_mode="abs", min_lr=1e-3),
    dict(alpha=0.5, patience=1, threshold=0.01, threshold_mode="rel", cooldown=1),
]


@pytest.mark.parametrize("options", PLATEAU_CASES)
def test_plateau_matches_reduce_on_plateau(options):
    # a validation loss that improves, stagnates, bumps up and improves again
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.002 * rng.normal(size=15),
                              np.linspace(0.52, 0.2, 10), 0.2 + 0.05 * rng.random(25)])
    torch_options = {("factor" if k == "alpha" else k): v for k, v in options.items()}
    compare("plateau", options, lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode="min", **torch_options), metrics)
