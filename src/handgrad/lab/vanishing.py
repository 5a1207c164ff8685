"""``vanishing``: the gradient of each layer through a deep network (002, "Vanishing and exploding
gradient"; 001, backprop as a chain of Jacobians).

001's backward pass multiplies the gradient by one Jacobian per layer:

    grad_z_k Div = f'(z_k) * (W_(k+1)^T grad_z_(k+1) Div),    grad_W_k Div = grad_z_k Div y_(k-1)^T

so ||grad_z_k|| <= max|f'| ||W_(k+1)||_2 ||grad_z_(k+1)||. For the sigmoid, sigma'(z) =
sigma(z)(1 - sigma(z)) <= 1/4: with weights of the usual size (||W||_2 about 2) every layer can
shrink the gradient by half or more, and the first layers of a deep sigmoid network barely learn.
tanh' <= 1 and ReLU' in {0, 1} shrink it far less; batch normalisation rescales z in every layer
and so undoes the weights' scale in the backward pass too. With weights initialised too large, the
same product grows instead: exploding gradients.

The experiment measures ||grad_W_k Div||_F for every layer of the same deep MLP with sigmoid, tanh
and ReLU hidden units, with and without batch norm, at initialisation and after every epoch of
mini-batch SGD, and once more for ReLU with its weights multiplied by ``gain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.errors import NonFiniteError, unknown_option
from handgrad.lab import plotting
from handgrad.lab.common import (NONNEGATIVE, Outputs, POSITIVE, at_least, check_config, conclude,
                                 two_spirals)
from handgrad.lab.training import epoch, full_loss, layer_gradient_norms, linear_layers
from handgrad.nn import MLP, Sigmoid, get_loss
from handgrad.optim import get_optimizer

ACTIVATIONS = ("sigmoid", "tanh", "relu")
COLORS = {"sigmoid": "#d62728", "tanh": "#1f77b4", "relu": "#2ca02c", "explode": "#9467bd"}


@dataclass
class VanishingConfig:
    depth: int = 10                  # hidden layers
    width: int = 32                  # units per hidden layer
    activations: tuple = ACTIVATIONS  # hidden activations to compare
    batchnorm: bool = True           # also run each with batch norm after every hidden Linear
    gain: float = 2.0                # exploding case: ReLU, its (He) weights times gain; 0: skip
    epochs: int = 15                 # epochs of mini-batch SGD
    batch_size: int = 32             # mini-batch size
    lr: float = 0.1                  # the SGD rate eta
    samples: int = 256               # points of the two-spirals data
    seed: int = 0                    # seed of the data, the weights and the batches

    RANGES: ClassVar[dict] = {
        "depth": at_least(2),
        "width": at_least(1),
        "gain": NONNEGATIVE,
        "epochs": at_least(1),
        "batch_size": at_least(1),
        "lr": POSITIVE,
        "samples": at_least(8),
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        for name in self.activations:
            if name not in ACTIVATIONS:
                raise unknown_option("activation", name, ACTIVATIONS)


@dataclass
class DepthRun:
    label: str                    # "sigmoid", "tanh + BN", "relu x 2 (explode)", ...
    activation: str
    batchnorm: bool
    gain: float
    norms: np.ndarray             # (epochs + 1, layers): ||grad_W_k|| at init and after each epoch
    losses: np.ndarray            # (epochs + 1,) full training loss
    sigma_prime: float = np.nan   # sigmoid only: the mean of sigma'(z) over units and samples
    spectral: np.ndarray = None   # ||W_k||_2 at init, per layer

    @property
    def ratio(self) -> np.ndarray:
        """||grad_W_1|| / ||grad_W_N||, first layer over last, at init and after each epoch."""
        return self.norms[:, 0] / self.norms[:, -1]

    @property
    def per_layer(self) -> float:
        """The geometric-mean factor by which one layer scales the gradient, at init."""
        return float(self.ratio[0] ** (1.0 / (self.norms.shape[1] - 1)))


@dataclass
class VanishingResult:
    config: VanishingConfig
    runs: list[DepthRun]
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, label: str) -> DepthRun:
        return next(r for r in self.runs if r.label == label)


def _mean_sigma_prime(model, x) -> float:
    """The mean of sigma'(z) = y (1 - y) over the outputs y of every hidden sigmoid."""
    values, y = [], model.check_input(x)
    model.eval()
    for module in model.layers:
        y = module.forward(y)
        if isinstance(module, Sigmoid):
            values.append(np.mean(y * (1 - y)))
    model.train()
    return float(np.mean(values))


def depth_run(cfg: VanishingConfig, data, activation: str, batchnorm: bool,
              gain: float = 1.0) -> DepthRun:
    x, d = data
    sizes = (x.shape[1],) + (cfg.width,) * cfg.depth + (1,)
    model = MLP(sizes, activation=activation, batchnorm=batchnorm,
                rng=np.random.default_rng(cfg.seed), dtype=np.float64)
    if gain != 1.0:
        for layer in linear_layers(model):
            layer.W.data *= gain
    loss = get_loss("mse")
    opt = get_optimizer("sgd", model, lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed + 1)
    spectral = np.array([np.linalg.norm(layer.W.data, 2) for layer in linear_layers(model)])
    sigma_prime = _mean_sigma_prime(model, x) if activation == "sigmoid" else np.nan
    norms, losses = [layer_gradient_norms(model, loss, x, d)], [full_loss(model, loss, x, d)]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(cfg.epochs):
            try:
                epoch(model, loss, opt, x, d, cfg.batch_size, rng)
                norms.append(layer_gradient_norms(model, loss, x, d))
                losses.append(full_loss(model, loss, x, d))
            except NonFiniteError:
                break                      # diverged: the rest of the record stays NaN
    missing = cfg.epochs + 1 - len(losses)
    norms += [np.full_like(norms[0], np.nan)] * missing
    losses += [np.nan] * missing
    label = activation + (" + BN" if batchnorm else "")
    if gain != 1.0:
        label = f"{activation} x {gain:g} (explode)"
    return DepthRun(label, activation, batchnorm, gain, np.array(norms), np.array(losses),
                    sigma_prime, spectral)


def run_vanishing(outputs: Outputs | None = None, verbose: bool = True,
                  config: VanishingConfig | None = None) -> VanishingResult:
    cfg = config or VanishingConfig()
    data = two_spirals(cfg.samples, seed=cfg.seed)
    runs = [depth_run(cfg, data, a, False) for a in cfg.activations]
    if cfg.batchnorm:
        runs += [depth_run(cfg, data, a, True) for a in cfg.activations]
    if cfg.gain > 0:
        runs.append(depth_run(cfg, data, "relu", False, cfg.gain))
    result = VanishingResult(cfg, runs)
    return conclude(result, _verdict(result), outputs, "vanishing", verbose,
                    plot=lambda png: _plot(result, png))


def _verdict(r: VanishingResult) -> str:
    cfg = r.config
    n = cfg.depth + 1
    lines = [f"An MLP with {cfg.depth} hidden layers of {cfg.width} units; ||grad_W_1|| / "
             f"||grad_W_{n}|| (first layer over last) at initialisation and after {cfg.epochs} "
             f"epochs of SGD (eta = {cfg.lr:g}):"]
    for run in r.runs:
        if not run.losses[-1] <= 100 * run.losses[0]:
            # SGD diverged (overflowed, or ends 100 times above its start): no ratio to report
            bad = np.flatnonzero(~(run.losses <= 100 * run.losses[0]))[0]
            lines.append(f"  {run.label:22s} {run.ratio[0]:9.2e} -> diverged  (x{run.per_layer:.2f}"
                         f" per layer at init; loss {run.losses[0]:.3g}, above 100 x that or not "
                         f"finite from epoch {bad})")
            continue
        lines.append(f"  {run.label:22s} {run.ratio[0]:9.2e} -> {run.ratio[-1]:9.2e}   "
                     f"(x{run.per_layer:.2f} per layer at init; loss {run.losses[0]:.3g} -> "
                     f"{run.losses[-1]:.3g})")
    if "sigmoid" in cfg.activations:
        s = r.run("sigmoid")
        bound = 0.25 * s.spectral[1:]
        lines.append(
            f"Sigmoid: sigma'(z) <= 1/4 (measured mean {s.sigma_prime:.3f}), so each layer scales "
            f"the backpropagated gradient by at most 1/4 ||W||_2 = {bound.min():.2f}-"
            f"{bound.max():.2f} here; the measured factor is {s.per_layer:.2f} per layer, and the "
            f"first layer's gradient is {1 / s.ratio[0]:.0f} times smaller than the last one's.")
        others = [run for run in r.runs if run.activation != "sigmoid" and not run.batchnorm
                  and run.gain == 1.0]
        if others:
            kept = min(abs(np.log10(o.ratio[0])) for o in others)
            lost = abs(np.log10(s.ratio[0]))
            how = ("lose far less" if kept + 1 < lost else "lose less" if kept < lost else
                   "lose as much or more here")
            lines.append(f"tanh' <= 1 and ReLU' in {{0, 1}} {how}: " + ", ".join(
                f"{o.label} {o.ratio[0]:.2g}" for o in others) + f" (sigmoid {s.ratio[0]:.2g}).")
        if cfg.batchnorm:
            b = r.run("sigmoid + BN")
            helps = abs(np.log10(b.ratio[0])) < abs(np.log10(s.ratio[0]))
            lines.append(f"Batch norm undoes the weights' scale in the backward pass: sigmoid + BN "
                         f"has ratio {b.ratio[0]:.2g} ({b.per_layer:.2f} per layer), "
                         + ("closer to 1 than without it." if helps else
                            "no closer to 1 than without it here."))
    if cfg.gain > 0:
        e = next(run for run in r.runs if run.gain != 1.0)
        line = (f"Exploding: ReLU with its weights x{cfg.gain:g}: the initial loss is "
                f"{e.losses[0]:.3g} and ||grad_W_1|| = {e.norms[0, 0]:.3g}")
        if "relu" in cfg.activations:
            plain = r.run("relu")
            grown = e.norms[0, 0] / plain.norms[0, 0]
            line += (f" against {plain.losses[0]:.3g} and {plain.norms[0, 0]:.3g} at the usual "
                     f"scale: the first layer's gradient x{grown:.3g}, "
                     f"x{grown ** (1 / cfg.depth):.2f} per hidden layer (the gain is "
                     f"{cfg.gain:g})")
        diverged = np.flatnonzero(~np.isfinite(e.losses))
        line += (f"; SGD at the same rate diverges in epoch {diverged[0]}." if diverged.size
                 else ".")
        lines.append(line)
    return "\n".join(lines)


def _style(run: DepthRun) -> dict:
    color = COLORS["explode" if run.gain != 1.0 else run.activation]
    return dict(color=color, ls="--" if run.batchnorm else "-", lw=1.8, label=run.label)


def _plot(r: VanishingResult, path):
    cfg = r.config
    fig, axes = plotting.figure(1, 3, 17, 5.4, "Vanishing and exploding gradients (002): the "
                                               "gradient of each layer of a deep MLP")
    layers = np.arange(1, cfg.depth + 2)
    ax = axes[0, 0]
    for run in r.runs:
        ax.semilogy(layers, run.norms[0], marker="o", ms=3, **_style(run))
    ax.set_xlabel("layer k (1 = input side)")
    ax.set_ylabel("||grad_W_k Div||_F")
    ax.set_title("at initialisation")
    ax.set_xticks(layers)
    ax = axes[0, 1]
    for run in r.runs:
        ax.semilogy(np.arange(run.ratio.size), run.ratio, **_style(run))
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("||grad_W_1|| / ||grad_W_N||")
    ax.set_title("first layer over last, during training")
    ax = axes[0, 2]
    for run in r.runs:
        if run.gain == 1.0:        # the exploding run starts near 1e5 and diverges: in the verdict
            ax.semilogy(np.arange(run.losses.size), run.losses, **_style(run))
    ax.set_xlabel("epoch")
    ax.set_ylabel("training MSE")
    ax.set_title(f"training loss (SGD, eta = {cfg.lr:g}; the exploding run diverges)"
                 if cfg.gain > 0 else f"training loss (SGD, eta = {cfg.lr:g})")
    rect = plotting.legend_below(fig, axes[0, 0])
    return plotting.save_png(fig, path, rect)
