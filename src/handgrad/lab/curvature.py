"""``hessian``: the curvature of a trained MLP's loss and the largest learning rate it allows.

Near a minimum theta* the loss is the quadratic E(theta) ~ E* + 1/2 (theta - theta*)^T H
(theta - theta*), so gradient descent with a constant rate eta multiplies the error along the
eigenvector of eigenvalue lambda_i by (1 - eta lambda_i) each step (001, "For functions of
multivariate inputs"). Hence

    eta_opt = 1 / lambda_max      (the stiffest direction settles in one step)
    eta < 2 / lambda_max          (every direction converges; beyond it the stiffest diverges)

and the spread of the rates, lambda_max / lambda_min, is the condition number that makes plain GD
slow. This experiment trains a small tanh MLP on a regression task to a minimum (L-BFGS on backprop
gradients), computes H exactly from backprop (``handgrad.lab.hessian``: the full matrix for small
models, the extreme eigenvalues by Lanczos on Hessian-vector products otherwise), then runs
full-batch GD from a tiny perturbation of theta* for a sweep of constant rates and measures where
the loss starts to grow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (NONNEGATIVE, Outputs, POSITIVE, Span, at_least, check_config,
                                 conclude, require, sine_regression)
from handgrad.lab.hessian import extreme_eigenvalues, hessian, train_to_minimum
from handgrad.nn import MLP, get_loss
from handgrad.train.closure import BatchClosure
from handgrad.optim import Penalty


@dataclass
class CurvatureConfig:
    sizes: tuple = (1, 8, 1)         # MLP widths (1 input, 1 output: the sine regression)
    activation: str = "tanh"         # a smooth activation, so H is defined everywhere
    l2: float = 1e-3                 # L2 penalty l2/2 ||W||^2 (weights): keeps minima isolated
    samples: int = 64                # training points
    method: str = "auto"             # full Hessian, lanczos (extreme eigenvalues only), or auto
    full_up_to: int = 400            # auto: the full Hessian up to this many parameters
    sweep_from: float = 0.4          # the sweep of constant rates, as multiples of 2/lambda_max
    sweep_to: float = 1.5
    sweep_points: int = 21
    steps: int = 1000                # GD steps per rate
    perturbation: float = 1e-4       # ||theta_0 - theta*||, a random direction
    growth: float = 100.0            # diverged: E - E* grows to this multiple of its start
    bisections: int = 12             # refine the measured threshold between sweep points
    seed: int = 0                    # seed of the data, the weights and the perturbation

    RANGES: ClassVar[dict] = {
        "sizes": at_least(1),
        "l2": NONNEGATIVE,
        "samples": at_least(2),
        "full_up_to": at_least(1),
        "sweep_from": POSITIVE,
        "sweep_to": POSITIVE,
        "sweep_points": at_least(3),
        "steps": at_least(10),
        "perturbation": POSITIVE,
        "growth": Span(1, low_open=True),
        "bisections": at_least(0),
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        require(len(self.sizes) >= 2 and self.sizes[0] == 1 and self.sizes[-1] == 1, "sizes",
                self.sizes, "widths starting and ending with 1, e.g. 1,12,1")
        require(self.method in ("auto", "full", "lanczos"), "method", self.method,
                "auto, full or lanczos")
        require(0 < self.sweep_from < 1 < self.sweep_to, "sweep_from/sweep_to",
                (self.sweep_from, self.sweep_to), "0 < from < 1 < to")


@dataclass
class CurvatureResult:
    config: CurvatureConfig
    parameters: int
    train_loss: float
    grad_norm: float                 # ||grad E(theta*)||
    eigenvalues: np.ndarray | None   # the full spectrum (method full), ascending
    lambda_max: float
    lambda_min: float
    lanczos_products: int            # H v products Lanczos used
    condition_number: float          # lambda_max / |lambda_min|
    eta_opt: float                   # 1 / lambda_max
    eta_limit: float                 # 2 / lambda_max, the predicted divergence threshold
    etas: np.ndarray                 # the sweep
    growth: np.ndarray               # max_k (E_k - E*) / (E_0 - E*) for each eta
    diverged: np.ndarray             # growth >= config.growth
    curves: dict                     # eta -> excess loss E_k - E* per step (a few of them)
    measured_limit: float            # the smallest diverging rate, refined by bisection
    flat_directions: int = 0         # eigenvalues below 1e-6 lambda_max in size (full method)
    lambda_max_exact: float = np.nan  # lambda_max by Lanczos on exact (R-operator) H v products
    verdict: str = ""
    files: list = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """measured / predicted divergence threshold."""
        return self.measured_limit / self.eta_limit


def _gd_growth(closure, theta_start, eta, steps, E_star, limit, keep=False):
    """Full-batch GD theta <- theta - eta grad E for ``steps`` steps from theta_start.

    Returns max_k (E_k - E*) / (E_0 - E*) (stopping early once it passes ``limit``) and, if
    ``keep``, the excess losses E_k - E*.
    """
    model = closure.model
    model.theta[:] = theta_start
    E0 = closure() - E_star
    curve = [E0]
    worst = 1.0
    for _ in range(steps):
        model.theta -= eta * model.grad
        excess = closure() - E_star
        curve.append(excess)
        if not np.isfinite(excess):
            worst = np.inf
            break
        worst = max(worst, excess / E0)
        if worst >= limit and not keep:
            break
        if keep and worst >= 1e8:
            break
    return worst, np.array(curve)


def run_curvature(outputs: Outputs | None = None, verbose: bool = True,
                  config: CurvatureConfig | None = None) -> CurvatureResult:
    cfg = config or CurvatureConfig()
    x, d = sine_regression(cfg.samples, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = MLP(cfg.sizes, activation=cfg.activation, rng=rng, dtype=np.float64)
    # Without the penalty a tanh MLP's loss keeps decreasing as saturated weights grow without
    # bound, so there is no minimum to analyse; with it the minimiser is finite (004: the loss
    # with a regulariser term).
    penalty = Penalty(model.decay_mask(), l2=cfg.l2) if cfg.l2 else None
    closure = BatchClosure(model, get_loss("mse"), x, d, penalty=penalty)
    fit = train_to_minimum(closure, max_iter=4000)
    theta_star = model.theta.copy()
    E_star = closure()
    P = theta_star.size

    use_full = cfg.method == "full" or (cfg.method == "auto" and P <= cfg.full_up_to)
    eig = extreme_eigenvalues(closure, smallest=not use_full)
    spectrum = None
    if use_full:
        spectrum = np.linalg.eigvalsh(hessian(closure))
        lam_max = float(spectrum[-1])
        # Near-zero eigenvalues are flat directions (a hidden unit the penalty switched off, the
        # symmetries of the network); the conditioning that slows GD is that of the rest.
        curved = spectrum[np.abs(spectrum) > 1e-6 * lam_max]
        lam_min = float(curved.min()) if curved.size else float(spectrum[0])
        flat = int(spectrum.size - curved.size)
    else:
        lam_max, lam_min, flat = eig.lambda_max, eig.lambda_min, 0
    eta_limit = 2.0 / lam_max
    # The same lambda_max from exact Hessian-vector products (the R-operator), as a cross-check.
    try:
        exact = extreme_eigenvalues(closure, smallest=False, method="exact").lambda_max
    except ValueError:      # an activation the R-operator does not cover
        exact = np.nan

    direction = rng.standard_normal(P)
    theta_start = theta_star + cfg.perturbation * direction / np.linalg.norm(direction)
    etas = eta_limit * np.linspace(cfg.sweep_from, cfg.sweep_to, cfg.sweep_points)
    # Growth is followed up to 1e8 (not just the threshold) so the figure shows how fast it goes.
    growth = np.array([_gd_growth(closure, theta_start, eta, cfg.steps, E_star, 1e8)[0]
                       for eta in etas])
    diverged = growth >= cfg.growth
    measured = _threshold(closure, theta_start, etas, diverged, cfg, E_star)
    shown = [0.5, 0.9, 0.99, 1.01, 1.1, 1.5]
    curves = {f: _gd_growth(closure, theta_start, f * eta_limit, min(cfg.steps, 400), E_star,
                            cfg.growth, keep=True)[1] for f in shown}
    model.theta[:] = theta_star

    result = CurvatureResult(
        cfg, P, float(E_star), fit["grad_norm"], spectrum, lam_max, lam_min, eig.products,
        float(lam_max / abs(lam_min)) if lam_min else np.inf, 1.0 / lam_max, eta_limit, etas,
        growth, diverged, curves, measured, flat, exact)
    return conclude(result, _verdict(result, eig), outputs, "hessian", verbose,
                    plot=lambda png: _plot(result, model, x, d, theta_star, png))


def _threshold(closure, theta_start, etas, diverged, cfg, E_star) -> float:
    """The smallest diverging rate: the first diverging sweep point, refined by bisection against
    the stable point before it."""
    if not diverged.any():
        return np.inf
    first = int(np.argmax(diverged))
    if first == 0:
        return float(etas[0])
    lo, hi = float(etas[first - 1]), float(etas[first])
    for _ in range(cfg.bisections):
        mid = 0.5 * (lo + hi)
        if _gd_growth(closure, theta_start, mid, cfg.steps, E_star, cfg.growth)[0] >= cfg.growth:
            hi = mid
        else:
            lo = mid
    return hi


def _verdict(r: CurvatureResult, eig) -> str:
    cfg = r.config
    how = "full Hessian from backprop" if r.eigenvalues is not None else \
        "Lanczos on Hessian-vector products"
    lines = [
        f"MLP {'-'.join(map(str, cfg.sizes))} ({cfg.activation}, MSE + {cfg.l2:g}/2 ||W||^2, "
        f"{r.parameters} parameters) "
        f"trained to E* = {r.train_loss:.4g} (||grad|| = {r.grad_norm:.1e}).",
        f"Hessian ({how}): lambda_max = {r.lambda_max:.4g}, smallest curved lambda = "
        f"{r.lambda_min:.3g}, condition number {r.condition_number:.3g}"
        + (f" ({r.flat_directions} flat directions, |lambda| < 1e-6 lambda_max, left out)"
           if r.flat_directions else "")
        + f"; Lanczos alone gives lambda_max = {eig.lambda_max:.4g} from {eig.products} H v "
        f"products" + (f" (exact R-operator products: {r.lambda_max_exact:.6g})."
                       if np.isfinite(r.lambda_max_exact) else "."),
        f"eta_opt = 1/lambda_max = {r.eta_opt:.4g}; predicted largest stable rate 2/lambda_max = "
        f"{r.eta_limit:.4g}.",
        f"Constant-rate GD from theta* + small noise: the loss "
        + (f"first grows {cfg.growth:g}-fold at eta = {r.measured_limit:.4g}, "
           f"{r.ratio:.3f} x the prediction"
           + (" - the quadratic analysis holds." if abs(r.ratio - 1) < 0.1 else
              " - NOT within 10% of the prediction.")
           if np.isfinite(r.measured_limit) else "never diverged in the sweep."),
    ]
    return "\n".join(lines)


def _plot(r: CurvatureResult, model, x, d, theta_star, path):
    cfg = r.config
    fig, axes = plotting.figure(2, 2, 12.5, 9.0, "The Hessian of a trained MLP and the largest "
                                                 "stable learning rate 2/lambda_max")
    ax = axes[0, 0]
    if r.eigenvalues is not None:
        lam = r.eigenvalues[::-1]
        ax.plot(np.arange(1, lam.size + 1), lam, "o-", ms=3, color="#1f77b4",
                label="eigenvalues of H (full, from backprop)")
        linthresh = max(1e-6, 1e-6 * r.lambda_max)
        ax.set_yscale("symlog", linthresh=linthresh)
        # Decade ticks from ten times the linear threshold up, and 0: a tick at the threshold
        # itself would print on top of the 0.
        low, high = int(np.floor(np.log10(linthresh))) + 1, int(np.ceil(np.log10(r.lambda_max)))
        negative = lam.min() < -linthresh
        ticks = [0.0] + [10.0 ** k for k in range(low, high + 1, 2 if high - low > 8 else 1)]
        if negative:
            ticks = [-10.0 ** k for k in range(low, int(np.ceil(np.log10(-lam.min()))) + 1)] + \
                ticks
        ax.set_yticks(ticks)
    ax.axhline(r.lambda_max, color="#d62728", ls="--", lw=1,
               label=f"lambda_max = {r.lambda_max:.3g} (Lanczos agrees)")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("index (descending)")
    ax.set_ylabel("lambda")
    ax.set_title(f"spectrum of H: condition number {r.condition_number:.2g}")
    ax.legend(loc="lower left")

    ax = axes[0, 1]
    stable = iter(["#08306b", "#2171b5", "#6baed6"])
    unstable = iter(["#fc9272", "#ef3b2c", "#a50f15"])
    for f, curve in r.curves.items():
        color = next(stable if f < 1 else unstable, "k")
        ax.semilogy(np.maximum(curve, 1e-300), color=color, lw=1.4,
                    label=f"eta = {f:g} x 2/lambda_max")
    ax.set_xlabel("GD step")
    ax.set_ylabel("E - E*")
    ax.set_title("excess loss from a perturbed minimum")
    ax.legend(loc="upper center", fontsize=8)

    ax = axes[1, 0]
    rel = r.etas / r.eta_limit
    ax.semilogy(rel[~r.diverged], np.minimum(r.growth[~r.diverged], 1e8), "o", color="#2ca02c",
                label="converges")
    ax.semilogy(rel[r.diverged], np.minimum(r.growth[r.diverged], 1e8), "x", color="#d62728",
                ms=8, label="diverges (capped at 1e8)")
    ax.axvline(1.0, color="k", ls="--", label="predicted 2/lambda_max")
    if np.isfinite(r.measured_limit):
        ax.axvline(r.ratio, color="#d62728", ls=":", lw=2,
                   label=f"measured: {r.ratio:.3f} x prediction")
    ax.axvline(0.5, color="#1f77b4", ls="-.", lw=1, label="eta_opt = 1/lambda_max")
    ax.axhline(cfg.growth, color="0.5", lw=0.8, label=f"divergence: {cfg.growth:g}-fold growth")
    ax.set_xlabel("eta / (2 / lambda_max)")
    ax.set_ylabel("max (E - E*) / (E_0 - E*)")
    ax.set_title(f"sweep of constant rates ({cfg.steps} GD steps each)")
    ax.legend(loc="center right", fontsize=8)

    ax = axes[1, 1]
    model.theta[:] = theta_star
    grid = np.linspace(x.min(), x.max(), 200).reshape(-1, 1)
    ax.plot(x[:, 0], d[:, 0], "o", ms=3, color="0.4", label="training data")
    ax.plot(grid[:, 0], model.forward(grid)[:, 0], color="#1f77b4", lw=2,
            label=f"trained MLP (E* = {r.train_loss:.2g})")
    ax.set_xlabel("x")
    ax.set_ylabel("d")
    ax.set_title("the regression problem")
    ax.legend(loc="upper left")
    return plotting.save_png(fig, path)
