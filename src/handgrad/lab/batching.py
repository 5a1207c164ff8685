"""``batching``: full-batch gradient descent, SGD and mini-batches on the same network and data
(001, "training by gradient descent"; 002, "GD, SGD, mini-batch SGD"; 003, section 1).

003: the full gradient grad C = (1/n) sum_x grad C_x costs a pass over all n samples per step;
"stochastic gradient descent ... estimate[s] the gradient by computing it for a small sample of
randomly chosen training inputs", the mini-batch gradient

    g_B = (1/B) sum_(x in batch) grad C_x,        E[g_B] = grad C,

then W <- W - eta g_B. An epoch of batch size B takes n / B steps for the cost of one full-batch
step, so by epochs smaller batches go further, by wall time the gap narrows (each small step pays
the per-step overhead), and their loss curves are noisier. The noise is the variance of the
estimate: drawing B of the n samples without replacement,

    E ||g_B - grad C||^2 = (sigma^2 / B) (n - B) / (n - 1),
    sigma^2 = (1/n) sum_x ||grad C_x - grad C||^2

which the experiment measures at fixed weights, batch by batch, against the formula.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (Outputs, POSITIVE, at_least, check_config, conclude, require,
                                 sine_regression)
from handgrad.lab.training import epoch, full_loss
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure


GROWTH = 100.0   # diverged: the loss overflowed, or ends above this multiple of its start


@dataclass
class BatchingConfig:
    batch_sizes: tuple = (1, 4, 16, 64)  # mini-batch sizes B (full-batch GD, B = n, is added)
    lr: float = 0.05                 # the same eta for every batch size
    epochs: int = 30                 # passes over the data
    samples: int = 256               # n training points (noisy sine)
    hidden: int = 16                 # hidden tanh units
    draws: int = 300                 # random batches per size for the gradient variance
    seed: int = 0                    # seed of the data, the weights and the batches

    RANGES: ClassVar[dict] = {
        "batch_sizes": at_least(1),
        "lr": POSITIVE,
        "epochs": at_least(2),
        "samples": at_least(8),
        "hidden": at_least(1),
        "draws": at_least(10),
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        require(len(self.batch_sizes) >= 1 and all(
            isinstance(b, int) and 1 <= b < self.samples for b in self.batch_sizes),
            "batch_sizes", self.batch_sizes, f"integers in [1, samples = {self.samples})")


@dataclass
class BatchRun:
    batch_size: int
    loss: np.ndarray              # full training loss at the start and after each epoch
    seconds: np.ndarray           # training time (excluding the loss evaluations) at those points
    steps_per_epoch: int
    noise: float                  # wiggle of log10 loss about its running mean, 2nd half
    grad_variance: float          # measured E||g_B - grad C||^2 at the fixed weights
    grad_variance_formula: float  # (sigma^2 / B) (n - B) / (n - 1)
    diverged_at: int | None = None  # the epoch whose loss overflowed, or from which it stayed
    #                                 above GROWTH x its start; loss and seconds stop before it

    @property
    def label(self) -> str:
        return f"B = {self.batch_size}"


@dataclass
class BatchingResult:
    config: BatchingConfig
    runs: list[BatchRun]          # by batch size, full batch last
    sigma2: float                 # the per-sample variance sigma^2 at the fixed weights
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, batch_size: int) -> BatchRun:
        return next(r for r in self.runs if r.batch_size == batch_size)


def _model(cfg: BatchingConfig):
    return MLP((1, cfg.hidden, cfg.hidden, 1), activation="tanh",
               rng=np.random.default_rng(cfg.seed), dtype=np.float64)


def noise_of(loss: np.ndarray, window: int = 5) -> float:
    """RMS of log10 loss about its centred running mean over the second half of the curve."""
    tail = np.log10(loss[loss.size // 2:])
    if tail.size <= window:
        return float(np.std(tail - tail.mean()))
    smooth = np.convolve(tail, np.ones(window) / window, mode="valid")
    return float(np.sqrt(np.mean((tail[window // 2: window // 2 + smooth.size] - smooth) ** 2)))


def gradient_variances(cfg: BatchingConfig, x, d, sizes):
    """At the initial weights: per-sample gradients give grad C and sigma^2; random batches of
    each size, evaluated as the optimizer sees them, give the measured variance."""
    model, loss = _model(cfg), get_loss("mse")

    def gradient(idx):
        BatchClosure(model, loss, x[idx], d[idx], rewind=False)()
        return model.grad.astype(np.float64).copy()

    n = len(x)
    per_sample = np.array([gradient([i]) for i in range(n)])
    full = gradient(np.arange(n))
    sigma2 = float(np.mean(np.sum((per_sample - full) ** 2, axis=1)))
    rng = np.random.default_rng(cfg.seed + 2)
    measured, formula = {}, {}
    for B in sizes:
        draws = [gradient(rng.choice(n, size=B, replace=False)) for _ in range(cfg.draws)]
        measured[B] = float(np.mean(np.sum((np.array(draws) - full) ** 2, axis=1)))
        formula[B] = sigma2 / B * (n - B) / (n - 1)
    return sigma2, measured, formula


def train(cfg: BatchingConfig, x, d, batch_size: int):
    model, loss = _model(cfg), get_loss("mse")
    opt = get_optimizer("sgd", model, lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed + 1)
    losses, seconds, spent = [full_loss(model, loss, x, d)], [0.0], 0.0
    for _ in range(cfg.epochs):
        start = time.perf_counter()
        # A rate too large overflows: the run stops at the first non-finite loss.
        with np.errstate(over="ignore", invalid="ignore"):
            epoch(model, loss, opt, x, d, batch_size, rng)
            spent += time.perf_counter() - start
            losses.append(full_loss(model, loss, x, d))
        seconds.append(spent)
        if not np.isfinite(losses[-1]):
            break
    losses, seconds = np.array(losses), np.array(seconds)
    above = ~(losses <= GROWTH * losses[0])
    if not above[-1]:
        return losses, seconds, None
    first = int(above.size - np.argmin(above[::-1]))   # the last stretch above the limit
    return losses[:first], seconds[:first], first


def run_batching(outputs: Outputs | None = None, verbose: bool = True,
                 config: BatchingConfig | None = None) -> BatchingResult:
    cfg = config or BatchingConfig()
    x, d = sine_regression(cfg.samples, seed=cfg.seed, noise=0.1)
    sizes = sorted(set(cfg.batch_sizes)) + [cfg.samples]
    sigma2, measured, formula = gradient_variances(cfg, x, d, sizes[:-1])
    measured[cfg.samples] = formula[cfg.samples] = 0.0
    runs = []
    for B in sizes:
        losses, seconds, diverged_at = train(cfg, x, d, B)
        runs.append(BatchRun(B, losses, seconds, -(-cfg.samples // B), noise_of(losses),
                             measured[B], formula[B], diverged_at))
    result = BatchingResult(cfg, runs, sigma2)
    return conclude(result, _verdict(result), outputs, "batching", verbose,
                    plot=lambda png: _plot(result, png))


def _verdict(r: BatchingResult) -> str:
    cfg = r.config
    lines = [f"A tanh MLP 1-{cfg.hidden}-{cfg.hidden}-1 on n = {cfg.samples} noisy points, eta = "
             f"{cfg.lr:g} for every batch size, {cfg.epochs} epochs:",
             "  batch B   steps/epoch   final loss   curve noise   E||g_B - g||^2 measured "
             "(formula)"]
    for run in r.runs:
        variance = ("0 (the full gradient)" if run.batch_size == cfg.samples else
                    f"{run.grad_variance:.3g} ({run.grad_variance_formula:.3g})")
        name = f"{run.batch_size}" + (" (GD)" if run.batch_size == cfg.samples else "")
        if run.diverged_at is not None:
            lines.append(f"  {name:9s} {run.steps_per_epoch:11d}   diverged in epoch "
                         f"{run.diverged_at}{'':11s}{variance}")
            continue
        lines.append(f"  {name:9s} {run.steps_per_epoch:11d}   {run.loss[-1]:10.4f}   "
                     f"{run.noise:11.4f}   {variance}")
    diverged = [run for run in r.runs if run.diverged_at is not None]
    if diverged:
        lines.append(f"Diverged (the loss overflowed or stayed above {GROWTH:g} x its start): "
                     + ", ".join(run.label for run in diverged) + f"; eta = {cfg.lr:g} is too "
                     "large for them, so the runs are not compared.")
        lines.append(_variance_line(r))
        return "\n".join(lines)
    small, full = r.runs[0], r.runs[-1]
    best = min(r.runs, key=lambda run: run.loss[-1])
    noisiest = max(r.runs, key=lambda run: run.noise)
    ends = (f"the smallest batch goes furthest (B = {best.batch_size} ends lowest, "
            f"{full.loss[-1] / best.loss[-1]:.1f}x below full-batch GD), as an epoch of B = "
            f"{small.batch_size} is {small.steps_per_epoch} steps against GD's one"
            if best is small else
            f"B = {best.batch_size} ends lowest ({full.loss[-1] / best.loss[-1]:.1f}x below "
            f"full-batch GD), not the smallest batch (B = {small.batch_size}, "
            f"{small.loss[-1]:.4g})" if best is not full else
            "full-batch GD ends lowest: more, noisier steps per epoch do not pay here")
    noise = (f"the smallest batch's curve is the noisiest ({small.noise:.3g} against GD's "
             f"{full.noise:.3g})" if noisiest is small else
             f"the noisiest curve is B = {noisiest.batch_size}'s ({noisiest.noise:.3g}; B = "
             f"{small.batch_size}: {small.noise:.3g}, GD: {full.noise:.3g})")
    lines.append(f"By epochs {ends}; {noise}.")
    level = 2 * best.loss[-1]
    reach = []
    for run in r.runs:
        hit = np.flatnonzero(run.loss <= level)
        reach.append(f"B = {run.batch_size}: " + (f"{run.seconds[hit[0]]:.2f} s" if hit.size
                                                  else "not reached"))
    per_epoch = [run.seconds[-1] / cfg.epochs for run in (small, full)]
    lines.append(f"By wall time (this machine, this run) to reach loss {level:.3g}: "
                 + ", ".join(reach) + f"; an epoch takes {per_epoch[0]:.3g} s at B = "
                 f"{small.batch_size} and {per_epoch[1]:.3g} s for GD (the per-step overhead).")
    lines.append(_variance_line(r))
    return "\n".join(lines)


def _variance_line(r: BatchingResult) -> str:
    small = r.runs[0]
    off = max(abs(run.grad_variance / run.grad_variance_formula - 1) for run in r.runs[:-1])
    return (
        f"The mini-batch gradient's variance falls as 1/B (times (n - B)/(n - 1)): measured "
        f"{small.grad_variance:.3g} at B = {small.batch_size} down to "
        f"{r.runs[-2].grad_variance:.3g} at B = {r.runs[-2].batch_size}, "
        + (f"within {100 * off:.0f}% of" if off <= 0.25 else
           f"NOT close: up to {100 * off:.0f}% off") +
        f" the formula with sigma^2 = {r.sigma2:.3g}.")


def _plot(r: BatchingResult, path):
    cfg = r.config
    fig, axes = plotting.figure(2, 2, 13, 9.5, "Full batch, mini-batches and SGD (001, 002, 003): "
                                               "the same network, data and eta")
    colors = plt_colors(len(r.runs))
    ax = axes[0, 0]
    for run, c in zip(r.runs, colors):
        ax.semilogy(np.arange(run.loss.size), run.loss, color=c, lw=1.6,
                    label=run.label + (" (full-batch GD)" if run.batch_size == cfg.samples else
                                       " (SGD)" if run.batch_size == 1 else "")
                    + (", diverged (x)" if run.diverged_at is not None else ""))
        if run.diverged_at is not None:
            # The curve stops at the last loss below the limit; the cross marks the divergence.
            ax.semilogy(run.loss.size - 1, run.loss[-1], "x", color=c, ms=10, mew=2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training MSE")
    ax.set_title("by epochs")
    ax.legend(loc="upper right", ncol=2)
    ax = axes[0, 1]
    for run, c in zip(r.runs, colors):
        ax.loglog(run.seconds[1:], run.loss[1:], color=c, lw=1.6, marker=".", ms=3)
    ax.set_xlabel("training time, s (this machine; log scale, from the first epoch)")
    ax.set_ylabel("training MSE")
    ax.set_title("by wall time")
    ax = axes[1, 0]
    mini = r.runs[:-1]
    B = np.array([run.batch_size for run in mini])
    ax.loglog(B, [run.grad_variance for run in mini], "o", color="k", ms=7, label="measured")
    grid = np.geomspace(1, cfg.samples - 1, 100)
    ax.loglog(grid, r.sigma2 / grid * (cfg.samples - grid) / (cfg.samples - 1), color="#1f77b4",
              label="sigma^2 / B (n - B) / (n - 1)")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("E ||g_B - grad C||^2")
    ax.set_title(f"variance of the gradient estimate ({cfg.draws} batches each)")
    ax.legend(loc="lower left")
    ax = axes[1, 1]
    ax.bar([str(run.batch_size) for run in r.runs], [run.noise for run in r.runs], color=colors)
    ax.set_xlabel("batch size B")
    ax.set_ylabel("RMS of log10 loss about its running mean")
    ax.set_title("noise of the loss curve (second half)")
    return plotting.save_png(fig, path)


def plt_colors(n: int) -> list:
    """n colours from light-to-dark along one colormap: small batches light, full batch dark."""
    from matplotlib import colormaps

    return [colormaps["viridis"](v) for v in np.linspace(0.85, 0.05, n)]
