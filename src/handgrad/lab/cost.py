"""``cost``: why cross-entropy learns fast where the quadratic cost crawls (003, section 3.2).

One sigmoid neuron a = sigma(z), z = w x + b, one input x = 1 and target y = 0, trained by gradient
descent. 003, eq. (16) and (26): the error at the output is

    quadratic      C = 1/2 (a - y)^2                          delta = (a - y) sigma'(z)
    cross-entropy  C = -[y ln a + (1 - y) ln(1 - a)]          delta = a - y

and dC/dw = delta x, dC/db = delta. Started badly wrong (w = b = 2: a = 0.98 for y = 0) the neuron
sits where sigma'(z) = a (1 - a) is about 0.02, so under the quadratic cost its gradient is fifty
times smaller than its error and it learns slowly at first, "when we should expect it to learn
fastest"; under cross-entropy sigma' cancels and it learns at the rate of its error. Started mildly
wrong (w = 0.6, b = 0.9) the gap is much smaller: what is left is sigma' <= 1/4, which always
scales the quadratic cost's delta down. Both runs use handgrad's own losses (``half_mse`` and
``bce``) and SGD; delta is checked against the two formulas along the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (FINITE, FRACTION, Outputs, POSITIVE, PROBABILITY, at_least,
                                 check_config, conclude, require)
from handgrad.nn import Linear, Sequential, Sigmoid, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure

COSTS = {"quadratic": "half_mse", "cross-entropy": "bce"}
COLORS = {"quadratic": "#d62728", "cross-entropy": "#1f77b4"}


@dataclass
class CostConfig:
    w0: float = 2.0                  # the bad start: initial weight
    b0: float = 2.0                  # the bad start: initial bias (a = sigma(w0 + b0) for x = 1)
    mild_w0: float = 0.6             # the mild start, for comparison
    mild_b0: float = 0.9             # its bias
    target: float = 0.0              # the desired output y
    lr: float = 0.15                 # the rate eta (003 / Nielsen's example)
    epochs: int = 300                # gradient steps
    tol: float = 0.5                 # "learned": |a - y| below this (0.5: on the right side)

    RANGES: ClassVar[dict] = {
        "w0": FINITE,
        "b0": FINITE,
        "mild_w0": FINITE,
        "mild_b0": FINITE,
        "target": PROBABILITY,
        "lr": POSITIVE,
        "epochs": at_least(1),
        "tol": FRACTION,
    }

    def __post_init__(self):
        check_config(self)


@dataclass
class NeuronRun:
    cost: str                     # quadratic or cross-entropy
    start: str                    # bad or mild
    a: np.ndarray                 # the output before each step (epochs + 1 values)
    loss: np.ndarray              # C before each step
    delta: np.ndarray             # dC/dz before each step (from backprop)
    delta_formula: np.ndarray     # the same from 003's formula
    epochs_to_tol: int | None     # first epoch with |a - y| < tol


@dataclass
class CostResult:
    config: CostConfig
    runs: list[NeuronRun]
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, cost: str, start: str = "bad") -> NeuronRun:
        return next(r for r in self.runs if r.cost == cost and r.start == start)

    def slowdown(self, start: str = "bad") -> float:
        """Epochs the quadratic cost needs over those cross-entropy needs to reach |a - y| < tol."""
        q, c = self.run("quadratic", start), self.run("cross-entropy", start)
        q_epochs = q.epochs_to_tol if q.epochs_to_tol is not None else np.inf
        return q_epochs / max(c.epochs_to_tol or 1, 1)


def delta_formula(cost: str, a: float, y: float) -> float:
    """003 eq. (16) with sigma'(z) = a (1 - a), and eq. (26)."""
    return (a - y) * a * (1 - a) if cost == "quadratic" else a - y


def train_neuron(cost: str, start: str, w0: float, b0: float, cfg: CostConfig) -> NeuronRun:
    neuron = Sequential(Linear(1, 1, dtype=np.float64), Sigmoid(), dtype=np.float64)
    neuron.theta[...] = (w0, b0)                       # theta = (w, b)
    x, y = np.ones((1, 1)), np.full((1, 1), cfg.target)
    loss = get_loss(COSTS[cost])
    opt = get_optimizer("sgd", neuron, lr=cfg.lr)
    closure = BatchClosure(neuron, loss, x, y, rewind=False)
    a, values, delta, formula = [], [], [], []
    for _ in range(cfg.epochs + 1):
        values.append(closure())
        a.append(float(closure.y[0, 0]))
        delta.append(float(neuron.grad[1]))            # dC/db = delta
        formula.append(delta_formula(cost, a[-1], cfg.target))
        opt.step()                                     # W <- W - eta grad, with this grad
    a = np.array(a)
    reached = np.flatnonzero(np.abs(a - cfg.target) < cfg.tol)
    return NeuronRun(cost, start, a, np.array(values), np.array(delta), np.array(formula),
                     int(reached[0]) if reached.size else None)


def run_cost(outputs: Outputs | None = None, verbose: bool = True,
             config: CostConfig | None = None) -> CostResult:
    cfg = config or CostConfig()
    runs = [train_neuron(cost, start, w, b, cfg) for start, w, b in
            (("bad", cfg.w0, cfg.b0), ("mild", cfg.mild_w0, cfg.mild_b0)) for cost in COSTS]
    result = CostResult(cfg, runs)
    return conclude(result, _verdict(result), outputs, "cost", verbose,
                    plot=lambda png: _plot(result, png))


def _epochs(run: NeuronRun, cfg: CostConfig) -> str:
    return (f"{run.epochs_to_tol} epochs" if run.epochs_to_tol is not None
            else f"not within {cfg.epochs} epochs")


def _times(ratio: float) -> str:
    """A slowdown q/c in words: slower, faster, as fast, or never finishing."""
    if not np.isfinite(ratio):
        return "too slowly to finish"
    if ratio > 1.05:
        return f"{ratio:.1f} times slower"
    if ratio < 1 / 1.05:
        return f"{1 / ratio:.1f} times faster" if ratio > 0 else "faster"
    return "as fast"


def _verdict(r: CostResult) -> str:
    cfg = r.config
    q, c = r.run("quadratic"), r.run("cross-entropy")
    qm, cm = r.run("quadratic", "mild"), r.run("cross-entropy", "mild")
    s0 = q.a[0] * (1 - q.a[0])
    error0, mild0 = abs(q.a[0] - cfg.target), abs(qm.a[0] - cfg.target)
    slow, slow_mild = r.slowdown(), r.slowdown("mild")
    wrong = (f"wrong by |a - y| = {error0:.3f}" if error0 >= cfg.tol else
             f"already within {cfg.tol:g} of y (|a - y| = {error0:.3f}): nothing to unlearn")
    lines = [
        f"A sigmoid neuron started at a = {q.a[0]:.3f} for y = {cfg.target:g} (w = {cfg.w0:g}, "
        f"b = {cfg.b0:g}), {wrong}; eta = {cfg.lr:g}. Epochs until |a - y| < {cfg.tol:g}:",
        f"  quadratic cost   {_epochs(q, cfg):>22s}   first delta = (a - y) sigma'(z) = "
        f"{q.delta[0]:.4f}",
        f"  cross-entropy    {_epochs(c, cfg):>22s}   first delta = a - y = {c.delta[0]:.4f}"]
    if error0 >= cfg.tol:
        lines.append(
            f"At the start sigma'(z) = a (1 - a) = {s0:.4f}: the quadratic cost's gradient is "
            f"{1 / s0:.0f} times smaller than its error, and it learns {_times(slow)}; "
            "cross-entropy's delta = a - y has no sigma' and is largest when the neuron is most "
            "wrong (003, eq. 26).")
    if mild0 >= cfg.tol:
        plateau = (": the saturated start adds the long plateau" if slow > 1.05 * slow_mild
                   else "; the bad start adds no further slowdown here")
        lines.append(
            f"Started at a = {qm.a[0]:.3f} (|a - y| = {mild0:.3f}) they need {_epochs(qm, cfg)} "
            f"and {_epochs(cm, cfg)}: the quadratic cost learns {_times(slow_mild)} (sigma' <= "
            f"1/4 always scales its delta down){plateau if error0 >= cfg.tol else ''}.")
    else:
        lines.append(f"The mild start a = {qm.a[0]:.3f} is already within {cfg.tol:g} of y.")
    return "\n".join(lines)


def _plot(r: CostResult, path):
    cfg = r.config
    fig, axes = plotting.figure(1, 3, 17, 5.2, "Quadratic cost vs cross-entropy (003): a sigmoid "
                                               "neuron started badly wrong")
    epochs = np.arange(cfg.epochs + 1)
    for ax, what, ylabel in ((axes[0, 0], "loss", "cost C (each run its own cost)"),
                             (axes[0, 1], "a", "output a (target y = %g)" % cfg.target),
                             (axes[0, 2], "delta", "|delta| = |dC/dz|")):
        for run in r.runs:
            values = getattr(run, what)
            style = dict(color=COLORS[run.cost], lw=2.0 if run.start == "bad" else 1.4,
                         ls="-" if run.start == "bad" else "--",
                         label=f"{run.cost}, {run.start} start (a_0 = {run.a[0]:.2f})")
            if what == "delta":
                ax.semilogy(epochs, np.abs(values), **style)
            else:
                ax.plot(epochs, values, **style)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
    axes[0, 0].set_title("the cost per epoch")
    axes[0, 1].axhspan(max(0.0, cfg.target - cfg.tol), min(1.0, cfg.target + cfg.tol), color="k",
                       alpha=0.07)
    axes[0, 1].set_title(f"the output; shaded: |a - y| < {cfg.tol:g}")
    axes[0, 2].set_title("the error at the output: sigma' makes it small")
    rect = plotting.legend_below(fig, axes[0, 0])
    return plotting.save_png(fig, path, rect)
