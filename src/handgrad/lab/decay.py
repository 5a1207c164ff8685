"""``decay``: the learning-rate schedules of 001 ("Decaying learning rate") side by side.

"Start with a large learning rate ... gradually reduce it with iterations":

    constant         eta_k = eta_0                           (the baseline)
    inverse          eta_k = eta_0 / (k + 1)                 the notes' "linear decay"
    inverse_square   eta_k = eta_0 / (k + 1)^2               the notes' "quadratic decay"
    exponential      eta_k = eta_0 e^(-beta k)
    step             eta_k = eta_0 gamma^floor(k / step_size)
    plateau          train with a fixed eta until the held-out loss stagnates, then eta <- alpha eta

all from ``handgrad.optim.get_schedule``, stepped once per epoch k. The problem is one where the
schedule matters: mini-batch SGD on a small tanh MLP fitting noisy data. With a constant rate the
gradient noise of the mini-batches keeps the weights jittering around the minimum, so the loss
stalls above it; a rate that decays too fast (1/(k+1)^2) freezes the weights before they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import Outputs, conclude, require, sine_regression
from handgrad.nn import MLP, get_loss
from handgrad.errors import unknown_option
from handgrad.train.closure import BatchClosure

SCHEDULE_NAMES = ("constant", "inverse", "inverse_square", "exponential", "step", "plateau")
SCHEDULE_COLORS = {"constant": "#7f7f7f", "inverse": "#1f77b4", "inverse_square": "#d62728",
                   "exponential": "#2ca02c", "step": "#ff7f0e", "plateau": "#9467bd"}


@dataclass
class DecayConfig:
    schedules: tuple = SCHEDULE_NAMES   # which schedules to compare
    eta0: float = 0.2                # the initial learning rate eta_0 of every schedule
    epochs: int = 80                 # epochs (one schedule step each)
    batch_size: int = 8              # mini-batch size (small: noisy gradients)
    samples: int = 256               # training points (and as many held out)
    noise: float = 0.2               # target noise: sets the loss floor
    hidden: int = 16                 # hidden tanh units
    beta: float = 0.05               # exponential: eta_0 e^(-beta k)
    step_size: int = 25              # step: multiply by gamma every step_size epochs
    gamma: float = 0.2               # step: the factor
    alpha: float = 0.2               # plateau: eta <- alpha eta when the held-out loss stagnates
    patience: int = 5                # plateau: epochs without improvement before reducing
    seed: int = 0                    # seed of the data, the weights and the batches

    def __post_init__(self):
        for name in self.schedules:
            if name not in SCHEDULE_NAMES:
                raise unknown_option("schedule", name, SCHEDULE_NAMES)
        require(self.eta0 > 0, "eta0", self.eta0, "a positive learning rate")
        require(self.epochs >= 1, "epochs", self.epochs, "at least 1")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "at least 1")


@dataclass
class ScheduleRun:
    schedule: str
    etas: np.ndarray              # eta used in each epoch
    train_loss: np.ndarray        # full training loss after each epoch
    val_loss: np.ndarray          # held-out loss after each epoch

    @property
    def final(self) -> float:
        """The held-out loss over the last tenth of the epochs (a constant rate jitters)."""
        tail = max(1, self.val_loss.size // 10)
        return float(np.mean(self.val_loss[-tail:]))


@dataclass
class DecayResult:
    config: DecayConfig
    runs: list[ScheduleRun]
    noise_floor: float            # the held-out loss of the noise alone, E[(d - f(x))^2]
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, schedule: str) -> ScheduleRun:
        return next(r for r in self.runs if r.schedule == schedule)


def _schedule(name: str, opt, cfg: DecayConfig):
    from handgrad.optim import get_schedule

    options = {"exponential": {"beta": cfg.beta},
               "step": {"step_size": cfg.step_size, "gamma": cfg.gamma},
               "plateau": {"alpha": cfg.alpha, "patience": cfg.patience}}.get(name, {})
    return None if name == "constant" else get_schedule(name, opt, **options)


def train_with_schedule(name: str, cfg: DecayConfig, data) -> ScheduleRun:
    """Mini-batch SGD, the same initial weights and batch order for every schedule."""
    from handgrad.optim import get_optimizer

    x, d, x_val, d_val = data
    model = MLP((1, cfg.hidden, 1), activation="tanh", rng=np.random.default_rng(cfg.seed),
                dtype=np.float64)
    loss = get_loss("mse")
    opt = get_optimizer("sgd", model, lr=cfg.eta0)
    sched = _schedule(name, opt, cfg)
    order_rng = np.random.default_rng(cfg.seed + 1)
    full = BatchClosure(model, loss, x, d)
    held_out = BatchClosure(model, loss, x_val, d_val)
    etas, train, val = [], [], []
    for _ in range(cfg.epochs):
        etas.append(opt.lr)
        order = order_rng.permutation(len(x))
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            opt.step(BatchClosure(model, loss, x[idx], d[idx]))
        train.append(full(backward=False))
        val.append(held_out(backward=False))
        if sched is not None:
            sched.step(val[-1] if name == "plateau" else None)
    return ScheduleRun(name, np.array(etas), np.array(train), np.array(val))


def run_decay(outputs: Outputs | None = None, verbose: bool = True,
              config: DecayConfig | None = None) -> DecayResult:
    cfg = config or DecayConfig()
    x, d = sine_regression(cfg.samples, seed=cfg.seed, noise=cfg.noise)
    x_val, d_val = sine_regression(cfg.samples, seed=cfg.seed + 100, noise=cfg.noise)
    data = (x, d, x_val, d_val)
    runs = [train_with_schedule(name, cfg, data) for name in cfg.schedules]
    result = DecayResult(cfg, runs, cfg.noise ** 2)
    return conclude(result, _verdict(result), outputs, "decay", verbose,
                    plot=lambda png: _plot(result, png))


def _verdict(r: DecayResult) -> str:
    cfg = r.config
    ranked = sorted(r.runs, key=lambda run: run.final)
    lines = [f"Mini-batch SGD (batch {cfg.batch_size}, eta_0 = {cfg.eta0:g}, {cfg.epochs} epochs) "
             f"on noisy data (noise floor {r.noise_floor:.3g}); held-out loss over the last "
             f"tenth of the epochs:"]
    for run in ranked:
        lines.append(f"  {run.schedule:15s} {run.final:.4f}   (final eta {run.etas[-1]:.2g})")
    best = ranked[0]
    lines.append(f"Best: {best.schedule}. ")
    if "constant" in cfg.schedules:
        c = r.run("constant")
        lines[-1] += (f"The constant rate ends {100 * (c.final / best.final - 1):.0f}% above it: "
                      f"mini-batch noise keeps it jittering around the minimum.")
    if "inverse_square" in cfg.schedules:
        q = r.run("inverse_square")
        lines.append(f"eta_0/(k+1)^2 is down to {q.etas[min(9, len(q.etas) - 1)]:.2g} by epoch 10 "
                     f"and ends at {q.final:.4f}: decaying too fast freezes the weights early.")
    return "\n".join(lines)


def _plot(r: DecayResult, path):
    cfg = r.config
    fig, axes = plotting.figure(1, 3, 17, 5.2, "Decaying learning rates (001): the schedules side "
                                               "by side on one problem")
    ax = axes[0, 0]
    for run in r.runs:
        ax.semilogy(np.arange(1, run.etas.size + 1), run.etas, label=run.schedule,
                    color=SCHEDULE_COLORS[run.schedule], lw=1.8)
    ax.set_xlabel("epoch k")
    ax.set_ylabel("eta_k")
    ax.set_title("the learning rate")
    ax = axes[0, 1]
    for run in r.runs:
        ax.semilogy(np.arange(1, run.val_loss.size + 1), run.val_loss, label=run.schedule,
                    color=SCHEDULE_COLORS[run.schedule], lw=1.5)
    ax.axhline(r.noise_floor, color="k", ls=":", label="noise floor")
    ax.set_xlabel("epoch k")
    ax.set_ylabel("held-out MSE")
    ax.set_title("held-out loss per epoch")
    ax = axes[0, 2]
    ranked = sorted(r.runs, key=lambda run: run.final)
    ax.barh([run.schedule for run in ranked], [run.final for run in ranked],
            color=[SCHEDULE_COLORS[run.schedule] for run in ranked])
    ax.axvline(r.noise_floor, color="k", ls=":", label="noise floor")
    lo = min(r.noise_floor, min(run.final for run in ranked))
    ax.set_xlim(0.95 * lo, 1.02 * max(run.final for run in ranked))
    ax.invert_yaxis()
    ax.set_xlabel(f"held-out MSE, mean of the last {max(1, cfg.epochs // 10)} epochs")
    ax.set_title("where each schedule ends")
    ax.text(r.noise_floor, 1.01, " noise floor", transform=ax.get_xaxis_transform(), fontsize=8,
            va="bottom")
    # One legend for the three panels, below them, so it covers no curve and no bar.
    rect = plotting.legend_below(fig, axes[0, 1], ncol=len(r.runs) + 1)
    return plotting.save_png(fig, path, rect)
