"""``overfitting``: a network large for its data, trained long, and three ways to close the gap
between its training and validation loss (002, "Overfitting": regularization, dropout; 003, 3.3:
L2 regularization as weight decay).

A tanh MLP with two hidden layers of 64 units (about 4,400 weights) fits 12 noisy samples of a sine
with Adam, full batch. Its training loss keeps falling towards zero while the validation loss, on
fresh points from the same curve, first falls and then rises: it learns the noise. Then, from the
same initial weights:

    L2            C = C_0 + lambda/2 ||W||^2 on the weights, biases excluded (003, eq. 27-29:
                  grad <- grad + lambda W); ``--l2`` is this lambda
    dropout       each hidden unit's output zeroed with probability p in training, the rest scaled
                  by 1/(1 - p) (inverted dropout), all units kept for validation
    early stop    the unregularised run, stopped when the validation loss has not improved for
                  ``patience`` evaluations, with the weights of its best evaluation

and the gap, validation minus training loss at the end, for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (FRACTION, NONNEGATIVE, Outputs, POSITIVE, at_least, check_config,
                                 conclude, require, sine_regression)
from handgrad.lab.training import full_loss
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure

COLORS = {"none": "#d62728", "L2": "#1f77b4", "dropout": "#2ca02c", "early stopping": "#9467bd"}


@dataclass
class OverfittingConfig:
    samples: int = 12                # training points
    val_samples: int = 200           # validation points from the same curve
    noise: float = 0.3               # target noise (what overfitting learns)
    hidden: int = 64                 # units in each of the two hidden tanh layers
    steps: int = 3000                # full-batch Adam steps
    lr: float = 0.01                 # Adam's eta
    l2: float = 1e-2                 # the L2 run's lambda
    dropout: float = 0.3             # the dropout run's p
    patience: int = 20               # early stopping: evaluations without improvement
    every: int = 10                  # evaluate train and validation loss every this many steps
    seed: int = 0                    # seed of the data and the weights

    RANGES: ClassVar[dict] = {
        "samples": at_least(2),
        "val_samples": at_least(2),
        "noise": NONNEGATIVE,
        "hidden": at_least(1),
        "steps": at_least(10),
        "lr": POSITIVE,
        "l2": POSITIVE,
        "dropout": FRACTION,
        "patience": at_least(1),
        "every": at_least(1),
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        require(self.steps >= 10 * self.every, "steps", self.steps,
                f"at least 10 evaluations (10 x every = {10 * self.every})")


@dataclass
class FitRun:
    name: str
    steps: np.ndarray             # the step of each evaluation
    train: np.ndarray             # training loss (without penalty, without dropout)
    val: np.ndarray               # validation loss
    stop: int                     # index of the evaluation whose weights are kept
    prediction: np.ndarray        # the kept network on the plotting grid

    @property
    def final_train(self) -> float:
        return float(self.train[self.stop])

    @property
    def final_val(self) -> float:
        return float(self.val[self.stop])

    @property
    def gap(self) -> float:
        return self.final_val - self.final_train


@dataclass
class OverfittingResult:
    config: OverfittingConfig
    runs: list[FitRun]
    data: tuple                   # x, d, x_val, d_val
    grid: np.ndarray
    noise_floor: float            # noise^2: the best possible validation MSE
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, name: str) -> FitRun:
        return next(r for r in self.runs if r.name == name)


def fit(name: str, cfg: OverfittingConfig, data, grid) -> FitRun:
    x, d, x_val, d_val = data
    model = MLP((1, cfg.hidden, cfg.hidden, 1), activation="tanh",
                dropout=cfg.dropout if name == "dropout" else 0.0,
                rng=np.random.default_rng(cfg.seed), dtype=np.float64)
    loss = get_loss("mse")
    opt = get_optimizer("adam", model, lr=cfg.lr, l2=cfg.l2 if name == "L2" else 0.0)
    steps, train, val, best = [], [], [], (np.inf, 0, None)
    for step in range(cfg.steps + 1):
        if step % cfg.every == 0:
            steps.append(step)
            train.append(full_loss(model, loss, x, d))
            val.append(full_loss(model, loss, x_val, d_val))
            if val[-1] < best[0]:
                best = (val[-1], len(val) - 1, model.theta.copy())
            if name == "early stopping" and len(val) - 1 - best[1] >= cfg.patience:
                break
        if step < cfg.steps:
            opt.step(BatchClosure(model, loss, x, d, rewind=False))
    stop = len(val) - 1
    if name == "early stopping":
        stop = best[1]
        model.theta[...] = best[2]
    model.eval()
    prediction = model.forward(grid)[:, 0]
    return FitRun(name, np.array(steps), np.array(train), np.array(val), stop, prediction)


def run_overfitting(outputs: Outputs | None = None, verbose: bool = True,
                    config: OverfittingConfig | None = None) -> OverfittingResult:
    cfg = config or OverfittingConfig()
    x, d = sine_regression(cfg.samples, seed=cfg.seed, noise=cfg.noise)
    x_val, d_val = sine_regression(cfg.val_samples, seed=cfg.seed + 100, noise=cfg.noise)
    data = (x, d, x_val, d_val)
    grid = np.linspace(-2.0, 2.0, 200).reshape(-1, 1)
    runs = [fit(name, cfg, data, grid) for name in COLORS]
    result = OverfittingResult(cfg, runs, data, grid, cfg.noise ** 2)
    return conclude(result, _verdict(result), outputs, "overfitting", verbose,
                    plot=lambda png: _plot(result, png))


def _verdict(r: OverfittingResult) -> str:
    cfg = r.config
    plain = r.run("none")
    best_step = plain.steps[int(np.argmin(plain.val))]
    lines = [
        f"A 1-{cfg.hidden}-{cfg.hidden}-1 tanh MLP on {cfg.samples} noisy points (noise floor "
        f"{r.noise_floor:.3f}), Adam eta = {cfg.lr:g}, {cfg.steps} full-batch steps.",
        f"Unregularised, the training loss falls to {plain.final_train:.4f} "
        f"({'below' if plain.final_train < r.noise_floor else 'above'} the noise floor) while "
        f"the validation loss bottoms out at {plain.val.min():.4f} (step {best_step}) and ends at "
        f"{plain.final_val:.4f}: " + (
            "it fits the noise." if plain.final_train < r.noise_floor
            and plain.final_val > 1.05 * plain.val.min() else
            "no sign of fitting the noise in this run."),
        "  run             train      val      gap (val - train)"]
    for run in r.runs:
        stop = f"   (stopped at step {run.steps[run.stop]})" if run.name == "early stopping" else ""
        lines.append(f"  {run.name:15s} {run.final_train:.4f}   {run.final_val:.4f}   "
                     f"{run.gap:.4f}{stop}")
    closed = ", ".join(f"{run.name} {100 * (1 - run.gap / plain.gap):.0f}%" for run in r.runs[1:])
    lower = [run.name for run in r.runs[1:] if run.final_val < plain.final_val]
    higher = [run.name for run in r.runs[1:] if run.final_val >= plain.final_val]
    effect = ("each also lowers the validation loss" if not higher else
              f"{', '.join(higher)} do{'es' if len(higher) == 1 else ''} not lower the "
              "validation loss" + (f" ({', '.join(lower)} do{'es' if len(lower) == 1 else ''})"
                                   if lower else ""))
    if plain.gap <= 0:
        closed = "none, there is no gap (validation at or below training)"
    lines.append(f"Share of the gap each closes: {closed} (L2 lambda = {cfg.l2:g}, dropout p = "
                 f"{cfg.dropout:g}, early stopping with patience {cfg.patience} x {cfg.every} "
                 f"steps); {effect}, best {min(r.runs, key=lambda run: run.final_val).name}.")
    return "\n".join(lines)


def _plot(r: OverfittingResult, path):
    cfg = r.config
    fig, axes = plotting.figure(2, 3, 17, 9, f"Overfitting (002, 003): a large network on "
                                             f"{cfg.samples} points, and L2, dropout and early "
                                             f"stopping")
    plain = r.run("none")
    for ax, run in zip(axes.flat[:4], r.runs):
        if run.name == "early stopping":     # the run it cuts short, for reference
            ax.semilogy(plain.steps, plain.train, color="0.8", lw=1.2)
            ax.semilogy(plain.steps, plain.val, color="0.8", lw=1.2, ls="--")
        ax.semilogy(run.steps, run.train, color=COLORS[run.name], lw=1.8)
        ax.semilogy(run.steps, run.val, color=COLORS[run.name], lw=1.8, ls="--")
        ax.axhline(r.noise_floor, color="k", ls=":", lw=1)
        ax.axvline(run.steps[run.stop], color="0.5", lw=0.8)
        ax.set_title(f"{run.name}: gap {run.gap:.3f}" + (
            f" (stopped at step {run.steps[run.stop]}; grey: not stopped)"
            if run.name == "early stopping" else ""))
        ax.set_xlabel("Adam step")
        ax.set_ylabel("MSE")
        ax.set_xlim(0, cfg.steps)
    ax = axes[1, 1]
    x, d, x_val, d_val = r.data
    ax.plot(x_val[:, 0], d_val[:, 0], ".", color="0.75", ms=3, label="validation points")
    ax.plot(r.grid[:, 0], np.sin(1.5 * r.grid[:, 0]), color="k", lw=1, ls=":", label="sin(1.5 x)")
    for run in r.runs:
        ax.plot(r.grid[:, 0], run.prediction, color=COLORS[run.name], lw=1.6, label=run.name)
    ax.plot(x[:, 0], d[:, 0], "o", color="k", ms=5, label="training points")
    ax.set_ylim(-2.2, 2.2)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("the fitted functions")
    ax.legend(loc="upper left", ncol=2, fontsize=7)
    ax = axes[1, 2]
    names = [run.name for run in r.runs]
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, [run.final_train for run in r.runs], 0.4, color="0.6", label="training")
    ax.bar(pos + 0.2, [run.final_val for run in r.runs], 0.4,
           color=[COLORS[n] for n in names], label="validation")
    ax.axhline(r.noise_floor, color="k", ls=":", lw=1, label="noise floor")
    ax.set_xticks(pos, names)
    ax.set_ylabel("MSE of the kept weights")
    ax.set_title("side by side")
    ax.legend(loc="upper right")
    from matplotlib.lines import Line2D

    styles = [Line2D([], [], color="k", lw=1.8, label="training loss"),
              Line2D([], [], color="k", lw=1.8, ls="--", label="validation loss"),
              Line2D([], [], color="k", lw=1, ls=":", label="noise floor (noise^2)"),
              Line2D([], [], color="0.5", lw=0.8, label="the kept weights")]
    fig.legend(handles=styles, loc="lower center", ncol=4, fontsize=9, frameon=False)
    return plotting.save_png(fig, path, rect=(0, 0.04, 1, 1))
