"""``pretraining``: greedy layer-wise pretraining of a deep sigmoid network, against random
initialisation (002, "Local optima: pretraining").

Greedy layer-wise pretraining (Hinton et al. 2006; Bengio et al. 2007, with autoencoders): for
k = 1..L, train an autoencoder on h_(k-1), the data passed through the layers already pretrained
(h_0 = x):

    h_k = sigma(W_k h_(k-1) + b_k)             the encoder: becomes layer k of the network
    h'  = V_k h_k + c_k                        a linear decoder, discarded afterwards
    minimise 1/2 ||h' - h_(k-1)||^2            (Adam)

then put the encoders' W_k, b_k into the deep network, add a random output layer and train the
whole network on the labels (fine-tuning). The same network, data, optimizer and epochs start
from random weights too: Xavier's initialisation (Glorot & Bengio 2010, the "modern" default), and
a small one (every weight of the Xavier draw times ``small``), closer to what deep sigmoid networks
used before 2006 and where the gradient vanishes through the layers.

On the 8x8 digits with 4 hidden sigmoid layers the answer depends on the start: the verdict reports
what this run measured, also when pretraining does not help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import Outputs, POSITIVE, at_least, check_config, conclude, require
from handgrad.lab.training import epoch, full_loss, linear_layers
from handgrad.nn import MLP, Linear, Sequential, Sigmoid, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure

STARTS = ("small random", "Xavier random", "pretrained")
COLORS = {"small random": "#d62728", "Xavier random": "#7f7f7f", "pretrained": "#1f77b4"}


@dataclass
class PretrainingConfig:
    hidden: tuple = (32, 32, 32, 32)  # widths of the sigmoid hidden layers
    samples: int = 600               # training digits (of the 1257 in the training split)
    epochs: int = 60                 # fine-tuning epochs (mini-batch SGD)
    lr: float = 0.5                  # fine-tuning rate eta
    batch_size: int = 32             # mini-batch size, pretraining and fine-tuning
    pretrain_epochs: int = 10        # autoencoder epochs per layer
    pretrain_lr: float = 0.01        # Adam's rate for the autoencoders
    small: float = 0.1               # the small start: Xavier's weights times this
    seed: int = 0                    # seed of the weights and the batches

    RANGES: ClassVar[dict] = {
        "hidden": at_least(1),
        "samples": at_least(20),
        "epochs": at_least(1),
        "lr": POSITIVE,
        "batch_size": at_least(1),
        "pretrain_epochs": at_least(1),
        "pretrain_lr": POSITIVE,
        "small": POSITIVE,
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        require(len(self.hidden) >= 1 and min(self.hidden) >= 1, "hidden", self.hidden,
                "at least one positive width")


@dataclass
class StartRun:
    start: str
    train_loss: np.ndarray        # cross-entropy before fine-tuning and after each epoch
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    first_layer_grad: float       # ||grad_W_1|| / ||grad_W_out|| before fine-tuning


@dataclass
class PretrainingResult:
    config: PretrainingConfig
    runs: list[StartRun]
    reconstruction: list[np.ndarray]   # per layer: the autoencoder's loss per epoch
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, start: str) -> StartRun:
        return next(r for r in self.runs if r.start == start)


def digits(cfg: PretrainingConfig):
    from handgrad.data import load_dataset

    ds = load_dataset("digits", dtype=np.float64)
    x, d = ds.x_train[:cfg.samples], ds.d_train[:cfg.samples].astype(np.intp)
    return x, d, ds.x_val, ds.d_val.astype(np.intp)


def pretrain(cfg: PretrainingConfig, x: np.ndarray, rng) -> tuple[list, list]:
    """Greedy layer-wise: one sigmoid autoencoder per hidden layer, on the codes of the last."""
    encoders, curves, h = [], [], x
    for width in cfg.hidden:
        encoder = Linear(h.shape[1], width, rng=rng, dtype=np.float64)
        auto = Sequential(encoder, Sigmoid(), Linear(width, h.shape[1], rng=rng,
                                                     dtype=np.float64), dtype=np.float64)
        loss = get_loss("half_mse")
        opt = get_optimizer("adam", auto, lr=cfg.pretrain_lr)
        curve = [full_loss(auto, loss, h, h)]
        for _ in range(cfg.pretrain_epochs):
            epoch(auto, loss, opt, h, h, cfg.batch_size, rng)
            curve.append(full_loss(auto, loss, h, h))
        encoders.append((encoder.W.data.copy(), encoder.b.data.copy()))
        curves.append(np.array(curve))
        h = 1.0 / (1.0 + np.exp(-(h @ encoders[-1][0].T + encoders[-1][1])))
    return encoders, curves


def fine_tune(start: str, cfg: PretrainingConfig, data, encoders) -> StartRun:
    x, d, x_val, d_val = data
    sizes = (x.shape[1],) + tuple(cfg.hidden) + (10,)
    model = MLP(sizes, activation="sigmoid", output="identity",
                rng=np.random.default_rng(cfg.seed + 1), dtype=np.float64)
    layers = linear_layers(model)
    if start == "small random":
        for layer in layers:
            layer.W.data *= cfg.small
    elif start == "pretrained":
        for layer, (W, b) in zip(layers, encoders):
            layer.W.data[...] = W
            layer.b.data[...] = b
    loss = get_loss("cross_entropy")
    BatchClosure(model, loss, x, d, rewind=False)()
    ratio = float(np.linalg.norm(layers[0].W.grad) / np.linalg.norm(layers[-1].W.grad))
    opt = get_optimizer("sgd", model, lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed + 2)
    train, val, acc = [], [], []

    def record():
        train.append(full_loss(model, loss, x, d))
        val.append(full_loss(model, loss, x_val, d_val))
        model.eval()
        acc.append(float(np.mean(np.argmax(model.forward(x_val), axis=1) == d_val)))
        model.train()

    record()
    for _ in range(cfg.epochs):
        epoch(model, loss, opt, x, d, cfg.batch_size, rng)
        record()
    return StartRun(start, np.array(train), np.array(val), np.array(acc), ratio)


def run_pretraining(outputs: Outputs | None = None, verbose: bool = True,
                    config: PretrainingConfig | None = None) -> PretrainingResult:
    cfg = config or PretrainingConfig()
    data = digits(cfg)
    encoders, curves = pretrain(cfg, data[0], np.random.default_rng(cfg.seed))
    runs = [fine_tune(start, cfg, data, encoders) for start in STARTS]
    result = PretrainingResult(cfg, runs, curves)
    return conclude(result, _verdict(result), outputs, "pretraining", verbose,
                    plot=lambda png: _plot(result, png))


def _epochs_to(run: StartRun, accuracy: float) -> int | None:
    hit = np.flatnonzero(run.val_accuracy >= accuracy)
    return int(hit[0]) if hit.size else None


def _verdict(r: PretrainingResult) -> str:
    cfg = r.config
    net = "-".join(map(str, (64,) + tuple(cfg.hidden) + (10,)))
    pre, xav, small = r.run("pretrained"), r.run("Xavier random"), r.run("small random")
    target = 0.8
    lines = [f"A {net} sigmoid network on {cfg.samples} 8x8 digits, fine-tuned by SGD (eta = "
             f"{cfg.lr:g}, batch {cfg.batch_size}) for {cfg.epochs} epochs from three starts:",
             f"  start            first/last layer gradient   epochs to {target:.0%} val accuracy"
             f"   final val accuracy"]
    for run in r.runs:
        reach = _epochs_to(run, target)
        lines.append(f"  {run.start:16s} {run.first_layer_grad:24.2g}   "
                     f"{reach if reach is not None else 'not reached':>27}   "
                     f"{run.val_accuracy[-1]:18.3f}")
    lines.append("Pretraining: " + ", ".join(
        f"layer {k + 1} reconstruction {c[0]:.3g} -> {c[-1]:.3g}" for k, c in
        enumerate(r.reconstruction)) + ".")

    def compare(other: StartRun) -> str:
        mine, theirs = _epochs_to(pre, target), _epochs_to(other, target)
        gain = pre.val_accuracy[-1] - other.val_accuracy[-1]
        final = (f"final accuracy {100 * gain:+.1f} points" if abs(gain) > 0.02 else
                 "the same final accuracy (within 2 points)")
        if mine is not None and (theirs is None or theirs > mine + 5):
            speed = (f"in {mine} epochs (the random start never does)" if theirs is None else
                     f"{theirs - mine} epochs sooner")
            return f"against the {other.start} start it reaches {target:.0%} {speed}, {final}"
        return f"against the {other.start} start it is no faster, {final}"

    lines.append(f"Measured, pretraining: {compare(small)}; {compare(xav)}.")
    if abs(pre.val_accuracy[-1] - xav.val_accuracy[-1]) <= 0.02 or \
            xav.val_accuracy[-1] > pre.val_accuracy[-1]:
        mine, theirs = _epochs_to(pre, target), _epochs_to(xav, target)
        sooner = mine is not None and (theirs is None or theirs > mine)
        lines.append("With Xavier's initialisation the random start ends as well: pretraining "
                     + ("shortens the plateau at the start (the gradient reaching the first layers "
                        "of a deep sigmoid network is small) but " if sooner else "")
                     + "finds no better solution; with a suitable initialisation the random "
                     "start gets there too.")
    return "\n".join(lines)


def _plot(r: PretrainingResult, path):
    cfg = r.config
    fig, axes = plotting.figure(1, 3, 17, 5.2, "Greedy layer-wise pretraining (002) against random "
                                               "initialisation, deep sigmoid network")
    ax = axes[0, 0]
    from matplotlib import colormaps

    shades = colormaps["viridis"](np.linspace(0.0, 0.8, len(r.reconstruction)))
    for k, (curve, c) in enumerate(zip(r.reconstruction, shades)):
        ax.semilogy(np.arange(curve.size), curve, marker="o", ms=3, color=c,
                    label=f"layer {k + 1}")
    ax.set_xlabel("autoencoder epoch")
    ax.set_ylabel("reconstruction loss 1/2 ||h' - h||^2")
    ax.set_title("pretraining, one autoencoder per layer")
    ax.legend(loc="upper right")
    ax = axes[0, 1]
    for run in r.runs:
        ax.semilogy(np.arange(run.train_loss.size), run.train_loss, color=COLORS[run.start],
                    lw=2, label=f"{run.start}, training")
        ax.semilogy(np.arange(run.val_loss.size), run.val_loss, color=COLORS[run.start], lw=1.3,
                    ls="--", label=f"{run.start}, validation")
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title("fine-tuning loss")
    ax = axes[0, 2]
    for run in r.runs:
        ax.plot(np.arange(run.val_accuracy.size), run.val_accuracy, color=COLORS[run.start], lw=2,
                label=run.start)
    ax.set_ylim(0, 1)
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("validation accuracy")
    rect = plotting.legend_below(fig, axes[0, 1], ncol=3, height=0.12)
    return plotting.save_png(fig, path, rect)
