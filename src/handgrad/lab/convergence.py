"""``convergence-rates``: linear convergence on a strongly convex quadratic against the sublinear
O(1/k) rate on convex functions that are not strongly convex (001, "Convergence and convergence
rate", "Convergence Problems").

001 defines the rate R = |f(x^(k+1)) - f(x*)| / |f(x^(k)) - f(x*)|; R constant is *linear*
convergence, |f(x^(k)) - f(x*)| = c^k |f(x^(0)) - f(x*)|, a straight line on a log scale against k.

Strongly convex: E = 1/2 sum_i lambda_i w_i^2 under plain gradient descent w <- w - eta grad E.
Each axis is its own 1-D quadratic, w_i^(k+1) = (1 - eta lambda_i) w_i^(k): the measured per-axis
ratio |w_i^(k+1)| / |w_i^(k)| is |1 - eta lambda_i|, and E - E* tends to R = max_i (1 - eta
lambda_i)^2 per step.

Convex but not strongly convex (the second derivative has no positive lower bound), for which 001
gives |f(w^(k)) - f(w*)| <= |w^(0) - w*|^2 / (2 eta k): O(1/epsilon) steps to within epsilon.

    quartic    f(w) = w^4: f'' = 12 w^2 vanishes at the minimum; w_k ~ (8 eta k)^(-1/2), f ~ k^-2
    logistic   f(w) = ln(1 + e^-w), the loss of one correctly classified point: f* = 0 is reached
               only as w -> infinity; w_k ~ ln(eta k), f ~ 1 / (eta k): exactly the O(1/k) rate

On a log-log scale these are straight lines of slope -2 and -1: sublinear, every further digit of
accuracy costs ten (or three) times more steps, where the quadratic pays a fixed number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (NONZERO, Outputs, POSITIVE, at_least, check_config, conclude,
                                 require)

COLORS = {"quadratic": "#1f77b4", "quartic": "#d62728", "logistic": "#2ca02c"}


@dataclass
class ConvergenceConfig:
    eigenvalues: tuple = (1.0, 10.0)  # lambda_i of the strongly convex quadratic
    eta: float = 0.15                # its rate (< 2 / lambda_max for convergence)
    steps: int = 120                 # gradient steps on the quadratic
    convex_eta: float = 0.05         # the rate on the convex functions (<= 1 / L in the region)
    convex_steps: int = 20000        # gradient steps on the convex functions
    w0: float = 1.0                  # every coordinate's start

    RANGES: ClassVar[dict] = {
        "eigenvalues": POSITIVE,
        "eta": POSITIVE,
        "steps": at_least(10),
        "convex_eta": POSITIVE,
        "convex_steps": at_least(100),
        "w0": NONZERO,
    }

    def __post_init__(self):
        check_config(self)
        require(len(self.eigenvalues) >= 1 and min(self.eigenvalues) > 0, "eigenvalues",
                self.eigenvalues, "positive curvatures (strongly convex)")
        require(0 < self.eta < 2 / max(self.eigenvalues), "eta", self.eta,
                f"a rate in (0, 2 / lambda_max) = (0, {2 / max(self.eigenvalues):g})")
        require(0 < self.convex_eta <= 1 / (12 * self.w0 ** 2), "convex_eta", self.convex_eta,
                f"a rate in (0, 1/L], L = 12 w0^2 = {12 * self.w0 ** 2:g} (w^4's largest "
                "curvature on [-w0, w0])")


@dataclass
class RateRun:
    name: str
    error: np.ndarray             # f(w^(k)) - f*, k = 0..steps
    slope: float                  # fitted: log10 error per step (quadratic) or per decade of k
    rate: float                   # quadratic: fitted R = 10^slope; convex: the log-log exponent


@dataclass
class ConvergenceResult:
    config: ConvergenceConfig
    quadratic: RateRun
    axis_ratio: np.ndarray        # measured |w_i^(k+1)| / |w_i^(k)| per axis
    axis_formula: np.ndarray      # |1 - eta lambda_i|
    convex: list[RateRun]
    bound: np.ndarray             # 001's |w0 - w*|^2 / (2 eta k) for the quartic, k >= 1
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, name: str) -> RateRun:
        return self.quadratic if name == "quadratic" else next(
            r for r in self.convex if r.name == name)


def gradient_descent(grad, w0, eta: float, steps: int) -> np.ndarray:
    """w^(k+1) = w^(k) - eta grad f(w^(k)) (001); returns w^(0..steps)."""
    w = np.array(w0, dtype=np.float64)
    path = [w.copy()]
    for _ in range(steps):
        w = w - eta * grad(w)
        path.append(w.copy())
    return np.array(path)


def quadratic_run(cfg: ConvergenceConfig):
    lam = np.asarray(cfg.eigenvalues, dtype=np.float64)
    w = gradient_descent(lambda w: lam * w, np.full(lam.size, cfg.w0), cfg.eta, cfg.steps)
    error = 0.5 * np.sum(lam * w ** 2, axis=1)                     # E* = 0 at w* = 0
    # Fit the second half of the run before rounding takes over (errors above 1e-13 of the
    # start), where the slowest axis alone sets the rate.
    k = np.arange(error.size)
    keep = np.flatnonzero(error > 1e-13 * error[0])
    keep = keep[keep.size // 2:]
    slope = np.polyfit(k[keep], np.log10(error[keep]), 1)[0]
    ratio = np.abs(w[1:6] / w[:5]).mean(axis=0)
    return RateRun("quadratic", error, slope, 10 ** slope), ratio, np.abs(1 - cfg.eta * lam)


def convex_run(name: str, cfg: ConvergenceConfig) -> RateRun:
    if name == "quartic":
        f, grad = (lambda w: w ** 4), (lambda w: 4 * w ** 3)
    else:
        f, grad = (lambda w: np.logaddexp(0.0, -w)), (lambda w: -1.0 / (1.0 + np.exp(w)))
    w = gradient_descent(grad, cfg.w0, cfg.convex_eta, cfg.convex_steps)
    error = f(w)                                                   # f* = 0 for both
    k = np.arange(error.size)
    tail = k >= cfg.convex_steps // 10                              # past the transient
    slope = np.polyfit(np.log10(k[tail]), np.log10(error[tail]), 1)[0]
    return RateRun(name, error, slope, slope)


def run_convergence(outputs: Outputs | None = None, verbose: bool = True,
                    config: ConvergenceConfig | None = None) -> ConvergenceResult:
    cfg = config or ConvergenceConfig()
    quadratic, ratio, formula = quadratic_run(cfg)
    convex = [convex_run(name, cfg) for name in ("quartic", "logistic")]
    k = np.arange(1, cfg.convex_steps + 1)
    bound = cfg.w0 ** 2 / (2 * cfg.convex_eta * k)
    result = ConvergenceResult(cfg, quadratic, ratio, formula, convex, bound)
    return conclude(result, _verdict(result), outputs, "convergence-rates", verbose,
                    plot=lambda png: _plot(result, png))


def _per_digit(slope: float) -> str:
    """error ~ k^slope: one more digit takes 10^(1/|slope|) times the steps."""
    if not slope < 0:
        return "no further digit at this slope"
    factor = 10 ** (1 / -slope)
    return "ten times the steps" if abs(factor - 10) < 0.5 else f"{factor:.3g} times the steps"


def _steps_per_digit(rate: float) -> float:
    return -1.0 / np.log10(rate)


def _verdict(r: ConvergenceResult) -> str:
    cfg, q = r.config, r.quadratic
    axes = ", ".join(f"lambda = {lam:g}: {m:.4f} (|1 - eta lambda| = {f:.4f})"
                     for lam, m, f in zip(cfg.eigenvalues, r.axis_ratio, r.axis_formula))
    predicted = float(np.max(r.axis_formula) ** 2)
    quart, logi = r.run("quartic"), r.run("logistic")
    within = bool(np.all(quart.error[1:] <= r.bound))
    return "\n".join([
        f"Strongly convex quadratic, eta = {cfg.eta:g}: linear convergence. Per axis "
        f"|w_i^(k+1)| / |w_i^(k)| = {axes}.",
        f"  E - E* falls by the fitted R = {q.rate:.4f} per step (predicted max_i (1 - eta "
        f"lambda_i)^2 = {predicted:.4f}): a fixed {_steps_per_digit(q.rate):.1f} steps per digit, "
        f"{q.error[-1]:.1e} after {cfg.steps} steps.",
        f"Convex, not strongly convex, eta = {cfg.convex_eta:g}: sublinear, straight lines on a "
        f"log-log scale.",
        f"  w^4 (f'' = 0 at the minimum): error ~ k^{quart.rate:.2f} (theory -2), "
        f"{quart.error[-1]:.1e} after {cfg.convex_steps} steps ({_per_digit(quart.rate)} per "
        f"digit); "
        + ("inside" if within else "NOT inside") + " 001's bound |w0 - w*|^2 / (2 eta k).",
        f"  ln(1 + e^-w) (minimum at infinity): error ~ k^{logi.rate:.2f} (theory -1, the O(1/k) "
        f"rate), {logi.error[-1]:.1e} after {cfg.convex_steps} steps: "
        f"{_per_digit(logi.rate)} for each further digit.",
    ])


def _plot(r: ConvergenceResult, path):
    cfg = r.config
    fig, axes = plotting.figure(1, 3, 17, 5.2, "Convergence rates (001): linear on a strongly "
                                               "convex quadratic, O(1/k) on a convex function")
    ax = axes[0, 0]
    k = np.arange(r.quadratic.error.size)
    ax.semilogy(k, r.quadratic.error, color=COLORS["quadratic"], lw=2,
                label=f"quadratic: fitted R = {r.quadratic.rate:.3f}")
    for run in r.convex:
        ax.semilogy(k, run.error[:k.size], color=COLORS[run.name], lw=2, label=run.name)
    ax.set_xlabel("iteration k")
    ax.set_ylabel("f(w^(k)) - f*")
    ax.set_title("log error against k: linear = a straight line")
    ax.legend(loc="lower left")
    ax = axes[0, 1]
    kk = np.arange(1, r.convex[0].error.size)
    for run in r.convex:
        ax.loglog(kk, run.error[1:], color=COLORS[run.name], lw=2,
                  label=f"{run.name}: fitted slope {run.slope:.2f}")
    ax.loglog(kk, r.bound, color="k", ls="--", lw=1,
              label="001's bound for w^4: |w0 - w*|^2 / (2 eta k)")
    ax.loglog(k[1:], r.quadratic.error[1:], color=COLORS["quadratic"], lw=2, label="quadratic")
    ax.set_ylim(max(1e-12, min(run.error[-1] for run in r.convex) / 10), None)
    ax.set_xlabel("iteration k")
    ax.set_ylabel("f(w^(k)) - f*")
    ax.set_title("log error against log k: O(1/k) = slope -1")
    ax.legend(loc="lower left")
    ax = axes[0, 2]
    lam = np.asarray(cfg.eigenvalues, dtype=np.float64)
    w = gradient_descent(lambda w: lam * w, np.full(lam.size, cfg.w0), cfg.eta, 40)
    for i, (l, f) in enumerate(zip(lam, r.axis_formula)):
        ax.semilogy(np.arange(w.shape[0]), np.abs(w[:, i]), marker="o", ms=3, lw=1.5,
                    label=f"lambda = {l:g}: |1 - eta lambda| = {f:.3f}")
    ax.set_xlabel("iteration k")
    ax.set_ylabel("|w_i^(k) - w_i*|")
    ax.set_title(f"the quadratic, axis by axis (eta = {cfg.eta:g})")
    ax.legend(loc="lower left")
    return plotting.save_png(fig, path)
