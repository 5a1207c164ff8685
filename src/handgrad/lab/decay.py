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
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (FRACTION, Outputs, POSITIVE, at_least, check_config, conclude,
                                 sine_regression)
from handgrad.nn import MLP, get_loss
from handgrad.errors import unknown_option
from handgrad.train.closure import BatchClosure

SCHEDULE_NAMES = ("constant", "inverse", "inverse_square", "exponential", "step", "plateau")
GROWTH = 100.0   # diverged: the loss overflowed, or ends above this multiple of its start
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

    RANGES: ClassVar[dict] = {
        "eta0": POSITIVE,
        "epochs": at_least(1),
        "batch_size": at_least(1),
        "samples": at_least(2),
        "noise": POSITIVE,
        "hidden": at_least(1),
        "beta": POSITIVE,
        "step_size": at_least(1),
        "gamma": FRACTION,
        "alpha": FRACTION,
        "patience": at_least(1),
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        for name in self.schedules:
            if name not in SCHEDULE_NAMES:
                raise unknown_option("schedule", name, SCHEDULE_NAMES)


@dataclass
class ScheduleRun:
    schedule: str
    etas: np.ndarray              # eta used in each epoch (one more than the losses if diverged)
    train_loss: np.ndarray        # full training loss after each epoch
    val_loss: np.ndarray          # held-out loss after each epoch
    diverged_at: int | None = None  # the epoch (1-based) whose loss overflowed, or from which it
    #                                 stayed above GROWTH x its start; the losses stop before it

    @property
    def final(self) -> float:
        """The held-out loss over the last tenth of the epochs (a constant rate jitters); inf for a
        run that diverged."""
        if self.diverged_at is not None:
            return float("inf")
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
    limit = GROWTH * held_out(backward=False)
    for _ in range(cfg.epochs):
        # A rate too large overflows: the run stops at the first non-finite loss or weight.
        with np.errstate(over="ignore", invalid="ignore"):
            etas.append(opt.lr)
            order = order_rng.permutation(len(x))
            for start in range(0, len(x), cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                opt.step(BatchClosure(model, loss, x[idx], d[idx]))
            train.append(full(backward=False))
            val.append(held_out(backward=False))
        if not (np.all(np.isfinite(model.theta)) and np.isfinite(train[-1] + val[-1])):
            break
        if sched is not None:
            sched.step(val[-1] if name == "plateau" else None)
    return _cut_at_divergence(name, np.array(etas), np.array(train), np.array(val), limit)


def _cut_at_divergence(name, etas, train, val, limit) -> ScheduleRun:
    """Diverged: the held-out loss ends non-finite or above ``limit``; the run is cut where that
    last stretch began (a spike that comes back down is not divergence)."""
    above = ~(val <= limit)
    if not above[-1]:
        return ScheduleRun(name, etas, train, val)
    first = 0 if above.all() else int(above.size - np.argmin(above[::-1]))
    return ScheduleRun(name, etas[:first + 1], train[:first], val[:first], first + 1)


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
    ranked = sorted(r.runs, key=lambda run: (run.final, run.diverged_at or 0))
    lines = [f"Mini-batch SGD (batch {cfg.batch_size}, eta_0 = {cfg.eta0:g}, {cfg.epochs} epochs) "
             f"on noisy data (noise floor {r.noise_floor:.3g}); held-out loss over the last "
             f"tenth of the epochs:"]
    for run in ranked:
        lines.append(f"  {run.schedule:15s} " + (
            f"diverged in epoch {run.diverged_at} (eta = {run.etas[-1]:.2g}): the loss "
            f"overflowed or stayed above {GROWTH:g} x its start" if run.diverged_at is not None else
            f"{run.final:.4f}   (final eta {run.etas[-1]:.2g})"))
    finished = [run for run in ranked if run.diverged_at is None]
    diverged = [run.schedule for run in ranked if run.diverged_at is not None]
    if not finished:
        lines.append(f"Every schedule diverged: eta_0 = {cfg.eta0:g} is too large for batches of "
                     f"{cfg.batch_size}; try a smaller --eta0.")
        return "\n".join(lines)
    best = finished[0]
    lines.append(f"Best: {best.schedule}." + (f" Diverged: {', '.join(diverged)} (eta_0 = "
                                              f"{cfg.eta0:g} is too large for them)."
                                              if diverged else ""))
    if "constant" in cfg.schedules and r.run("constant").diverged_at is None \
            and best.schedule != "constant":
        c = r.run("constant")
        lines[-1] += (f" The constant rate ends {100 * (c.final / best.final - 1):.0f}% above it"
                      + (": mini-batch noise keeps it jittering around the minimum."
                         if _jitter(c) > _jitter(best) else "."))
    elif "constant" in cfg.schedules and best.schedule == "constant":
        lines[-1] += " No decay beats the constant rate here."
    if "inverse_square" in cfg.schedules and r.run("inverse_square").diverged_at is None:
        q = r.run("inverse_square")
        frozen = q is not best and q.final > best.final
        lines.append(f"eta_0/(k+1)^2 is down to {q.etas[min(9, len(q.etas) - 1)]:.2g} by epoch 10 "
                     f"and ends at {q.final:.4f}" + (
                         f", {100 * (q.final / best.final - 1):.0f}% above the best: decaying too "
                         "fast freezes the weights early." if frozen else "."))
    return "\n".join(lines)


def _jitter(run: ScheduleRun) -> float:
    """The held-out loss's relative spread over the last tenth of the epochs."""
    tail = run.val_loss[-max(2, run.val_loss.size // 10):]
    return float(np.std(tail) / np.mean(tail))


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
        color = SCHEDULE_COLORS[run.schedule]
        ax.semilogy(np.arange(1, run.val_loss.size + 1), run.val_loss, label=run.schedule,
                    color=color, lw=1.5)
        if run.diverged_at is not None and run.val_loss.size:
            # The curve stops at the last finite loss; the cross marks the divergence.
            ax.semilogy(run.val_loss.size, run.val_loss[-1], "x", color=color, ms=10, mew=2)
    ax.axhline(r.noise_floor, color="k", ls=":", label="noise floor")
    ax.set_xlabel("epoch k")
    ax.set_ylabel("held-out MSE")
    ax.set_title("held-out loss per epoch" + (" (x: diverged)" if any(
        run.diverged_at is not None for run in r.runs) else ""))
    ax = axes[0, 2]
    ranked = sorted(r.runs, key=lambda run: (run.final, run.diverged_at or 0))
    finals = [run.final for run in ranked if run.diverged_at is None]
    top = 1.02 * max(finals) if finals else 2 * r.noise_floor
    ax.barh([run.schedule for run in ranked],
            [run.final if run.diverged_at is None else top for run in ranked],
            color=[SCHEDULE_COLORS[run.schedule] for run in ranked],
            hatch=["//" if run.diverged_at is not None else "" for run in ranked])
    for i, run in enumerate(ranked):
        if run.diverged_at is not None:
            ax.text(top, i, f"diverged (epoch {run.diverged_at}) ", ha="right", va="center",
                    fontsize=8)
    ax.axvline(r.noise_floor, color="k", ls=":", label="noise floor")
    lo = min([r.noise_floor] + finals)
    ax.set_xlim(0.95 * lo, top)
    ax.invert_yaxis()
    ax.set_xlabel(f"held-out MSE, mean of the last {max(1, cfg.epochs // 10)} epochs")
    ax.set_title("where each schedule ends")
    ax.text(r.noise_floor, 1.01, " noise floor", transform=ax.get_xaxis_transform(), fontsize=8,
            va="bottom")
    # One legend for the three panels, below them, so it covers no curve and no bar.
    rect = plotting.legend_below(fig, axes[0, 1], ncol=len(r.runs) + 1)
    return plotting.save_png(fig, path, rect)
