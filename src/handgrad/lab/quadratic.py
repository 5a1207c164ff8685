"""``quadratic``: gradient descent on quadratics, the benchmark of 001 ("Convergence for quadratic
surfaces").

1-D:  E = 1/2 a w^2 + b w + c,  w^(k+1) = w^(k) - eta dE/dw = w^(k) - eta (a w^(k) + b).
      The error e_k = w^(k) - w*, w* = -b/a, obeys e_(k+1) = (1 - eta a) e_k, so with
      eta_opt = 1/a (Newton's step, E''^-1):
        eta <  eta_opt            monotone convergence    (0 < 1 - eta a < 1: e keeps its sign)
        eta =  eta_opt            one step                (1 - eta a = 0)
        eta_opt < eta < 2 eta_opt oscillating convergence (-1 < 1 - eta a < 0: e alternates)
        eta =  2 eta_opt          oscillating, no decay   (1 - eta a = -1: e flips at constant size)
        eta >  2 eta_opt          divergence              (|1 - eta a| > 1)
      and |e_k| < tol after ceil(log(tol / |e_0|) / log|1 - eta a|) steps.

2-D:  E = 1/2 w^T A w + b^T w + c with A = R diag(lambda_1, lambda_2) R^T. Along each eigenvector
      the error shrinks by (1 - eta lambda_i) per step, so the stiff axis (lambda_max) sets the
      limit eta < 2 / lambda_max while the flat axis sets the speed. Newton's method
      w <- w - A^-1 grad E reaches w* = -A^-1 b in one step; the axis-rescaled update
      w <- w - eta A^-1 grad E walks the straight line to w* with error factor (1 - eta) on every
      axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (FINITE, Outputs, POSITIVE, at_least, check_config, conclude,
                                 require, rotated_quadratic)


@dataclass
class QuadraticConfig:
    a: float = 2.0                        # 1-D curvature E'' = a (> 0)
    b: float = -4.0                       # 1-D linear coefficient; w* = -b / a
    c: float = 3.0                        # 1-D constant
    w0: float = -1.0                      # 1-D start
    eigenvalues: tuple = (1.0, 4.0)       # 2-D eigenvalues of A
    angle: float = 30.0                   # 2-D rotation of the principal axes, degrees
    minimum: tuple = (0.0, 0.0)           # 2-D w* (b = -A w*)
    start: tuple = (-1.5, 1.5)            # 2-D start
    factors: tuple = (0.5, 1.0, 1.5, 2.2)  # eta / eta_opt for each run
    rescaled_eta: float = 0.5             # eta of the axis-rescaled update w <- w - eta A^-1 grad
    tol: float = 1e-6                     # converged when |e_k| < tol
    max_steps: int = 10000                # give up (no convergence) after this many steps
    plot_steps: int = 25                  # steps drawn in the figure

    RANGES: ClassVar[dict] = {
        "a": POSITIVE,
        "b": FINITE,
        "c": FINITE,
        "w0": FINITE,
        "eigenvalues": POSITIVE,
        "angle": FINITE,
        "minimum": FINITE,
        "start": FINITE,
        "factors": POSITIVE,
        "rescaled_eta": POSITIVE,
        "tol": POSITIVE,
        "max_steps": at_least(1),
        "plot_steps": at_least(1),
    }

    def __post_init__(self):
        check_config(self)
        require(len(self.eigenvalues) == 2 and min(self.eigenvalues) > 0, "eigenvalues",
                self.eigenvalues, "two positive numbers")
        require(len(self.factors) >= 1 and min(self.factors) > 0, "factors", self.factors,
                "positive multiples of eta_opt")
        require(self.w0 != -self.b / self.a, "w0", self.w0, "a start away from w* = -b/a")
        for name in ("minimum", "start"):
            require(len(getattr(self, name)) == 2, name, getattr(self, name),
                    "two numbers (a 2-D point), e.g. -1.5,1.5")


@dataclass
class Run:
    """One gradient-descent run: eta, its regime, the iterates and what was measured."""

    factor: float
    eta: float
    regime: str                  # predicted: monotone, one step, oscillating, divergent
    observed: str                # measured from the signs and sizes of the errors
    steps: int | None            # steps until |e| < tol (None: never)
    predicted_steps: int | None  # from the formula above (1-D) or the slowest axis (2-D)
    path: np.ndarray             # iterates, (k, 1) or (k, 2)
    errors: np.ndarray           # e_k (1-D) or e_k projected on the eigenvectors (2-D)


@dataclass
class QuadraticResult:
    config: QuadraticConfig
    eta_opt_1d: float
    runs_1d: list[Run]
    eta_opt_2d: float            # 1 / lambda_max: the rate that settles the stiff axis in one step
    runs_2d: list[Run]
    newton_path: np.ndarray
    newton_steps: int
    rescaled_path: np.ndarray
    rescaled_steps: int
    verdict: str = ""
    files: list = field(default_factory=list)


NO_DECAY = "oscillating, no decay"   # r = -1: e flips sign at constant size (eta = 2 eta_opt)


def regime(r: float) -> str:
    """The regime of the error factor r = 1 - eta * curvature."""
    if abs(r) < 1e-12:
        return "one step"
    if abs(r + 1) < 1e-12:
        return NO_DECAY
    if 0 < r < 1:
        return "monotone"
    if -1 < r < 0:
        return "oscillating"
    return "divergent"


def observed_regime(errors: np.ndarray, tol: float) -> str:
    """What the error sequence did: its sign pattern while it is above tol, and growth or decay
    (the mean factor per step, so rounding at |r| = 1 is neither growth nor decay)."""
    e = np.asarray(errors, float)
    if e.size >= 2 and abs(e[1]) < tol <= abs(e[0]):
        return "one step"
    alive = e[np.abs(e) >= tol]
    if alive.size < 2:
        return "undetermined (fewer than 2 steps above tol)"
    growth = (abs(alive[-1]) / abs(alive[0])) ** (1.0 / (alive.size - 1))
    signs = np.sign(alive)
    alternating = bool(np.all(signs[1:] == -signs[:-1]))
    if growth > 1 + 1e-6:
        return "divergent"
    if growth > 1 - 1e-6:
        return NO_DECAY if alternating else "stalled"
    if np.all(signs == signs[0]):
        return "monotone"
    if alternating:
        return "oscillating"
    return "mixed"


def predicted_steps(r: float, e0: float, tol: float) -> int | None:
    """Steps until |r^k e0| < tol: the smallest k > log(tol / |e0|) / log|r| (None if |r| >= 1)."""
    if abs(r) < 1e-12:
        return 1
    if abs(r) >= 1:
        return None
    return math.floor(math.log(tol / abs(e0)) / math.log(abs(r))) + 1


def descend_1d(cfg: QuadraticConfig, eta: float) -> tuple[np.ndarray, int | None]:
    """w^(k+1) = w^(k) - eta (a w^(k) + b) until |w - w*| < tol or the step budget runs out."""
    w_star = -cfg.b / cfg.a
    w = cfg.w0
    path = [w]
    steps = None
    for k in range(1, cfg.max_steps + 1):
        w = w - eta * (cfg.a * w + cfg.b)
        path.append(w)
        if abs(w - w_star) < cfg.tol:
            steps = k
            break
        if abs(w - w_star) > 1e6 * abs(cfg.w0 - w_star):
            break
    return np.array(path).reshape(-1, 1), steps


def descend_2d(A, b, start, step, tol, max_steps, w_star):
    """Iterate w <- w - step(grad E) with grad E = A w + b; stop at ||w - w*|| < tol."""
    w = np.asarray(start, float)
    path = [w]
    steps = None
    e0 = np.linalg.norm(w - w_star)
    for k in range(1, max_steps + 1):
        w = w - step(A @ w + b)
        path.append(w)
        err = np.linalg.norm(w - w_star)
        if err < tol:
            steps = k
            break
        if err > 1e6 * e0:
            break
    return np.array(path), steps


def run_quadratic(outputs: Outputs | None = None, verbose: bool = True,
                  config: QuadraticConfig | None = None) -> QuadraticResult:
    cfg = config or QuadraticConfig()
    w_star = -cfg.b / cfg.a
    e0 = cfg.w0 - w_star
    eta_opt = 1.0 / cfg.a

    runs_1d = []
    for factor in cfg.factors:
        eta = factor * eta_opt
        r = 1.0 - eta * cfg.a
        path, steps = descend_1d(cfg, eta)
        errors = path[:, 0] - w_star
        runs_1d.append(Run(factor, eta, regime(r), observed_regime(errors, cfg.tol), steps,
                           predicted_steps(r, e0, cfg.tol), path, errors))

    # 2-D: the same regimes measured against the stiff axis, eta_opt = 1 / lambda_max.
    A = rotated_quadratic(cfg.eigenvalues, cfg.angle)
    lam, vecs = np.linalg.eigh(A)
    w_star2 = np.asarray(cfg.minimum, float)
    b2 = -A @ w_star2
    eta_opt_2d = 1.0 / lam[-1]
    e0_axes = vecs.T @ (np.asarray(cfg.start, float) - w_star2)
    runs_2d = []
    for factor in cfg.factors:
        eta = factor * eta_opt_2d
        path, steps = descend_2d(A, b2, cfg.start, lambda g, eta=eta: eta * g, cfg.tol,
                                 cfg.max_steps, w_star2)
        axes_err = (path - w_star2) @ vecs       # error along (flat, stiff) eigenvectors
        factors = 1.0 - eta * lam
        stiff = regime(factors[-1])
        flat = regime(factors[0])
        observed = f"flat axis {observed_regime(axes_err[:, 0], cfg.tol)}, " \
                   f"stiff axis {observed_regime(axes_err[:, -1], cfg.tol)}"
        # Predicted steps: the last axis to reach tol (||e|| < tol once both are well below it).
        per_axis = [predicted_steps(f, e, cfg.tol) for f, e in zip(factors, e0_axes)]
        predicted = None if any(p is None for p in per_axis) else max(per_axis)
        runs_2d.append(Run(factor, eta, f"flat axis {flat}, stiff axis {stiff}", observed,
                           steps, predicted, path, axes_err))

    A_inv = np.linalg.inv(A)
    newton_path, newton_steps = descend_2d(A, b2, cfg.start, lambda g: A_inv @ g, cfg.tol,
                                           cfg.max_steps, w_star2)
    rescaled_path, rescaled_steps = descend_2d(A, b2, cfg.start,
                                               lambda g: cfg.rescaled_eta * (A_inv @ g),
                                               cfg.tol, cfg.max_steps, w_star2)

    result = QuadraticResult(cfg, eta_opt, runs_1d, eta_opt_2d, runs_2d, newton_path,
                             newton_steps, rescaled_path, rescaled_steps)
    return conclude(result, _verdict(result), outputs, "quadratic", verbose,
                    plot=lambda png: _plot(result, png),
                    animate=lambda gif: _animate(result, gif))


def _steps_text(steps) -> str:
    """A step count from the formula (None: |r| >= 1, it never converges)."""
    return "does not converge" if steps is None else f"{steps} step{'s' if steps != 1 else ''}"


def _outcome(steps, errors: np.ndarray, budget: int) -> str:
    """What a run did, from its errors: converged in N steps, diverged, stayed at the same size,
    or still converging when the step budget ran out."""
    if steps is not None:
        return _steps_text(steps)
    # The slowest axis decides (2-D: the errors along the eigenvectors); an axis that starts at
    # 0 has nothing to say.
    size = np.abs(errors.reshape(len(errors), -1))
    start = size[0] > 0
    growth = float(np.max((size[-1, start] / size[0, start]) ** (1.0 / (len(size) - 1)),
                          initial=0.0))
    if growth > 1 + 1e-6:
        return f"diverges (|e| x{growth:.3g} per step)"
    if growth > 1 - 1e-6:
        return "does not converge (|e| stays the same size)"
    return f"not within --max-steps {budget} (still converging)"


def _straight(path: np.ndarray, w_star: np.ndarray) -> bool:
    """Every iterate on the segment from the start to w*."""
    e = path - w_star
    cross = e[:, 0] * e[0, 1] - e[:, 1] * e[0, 0]
    return bool(np.all(np.abs(cross) <= 1e-9 * np.dot(e[0], e[0])))


def _verdict(res: QuadraticResult) -> str:
    cfg = res.config
    lines = [f"1-D: E = 1/2 ({cfg.a:g}) w^2 + ({cfg.b:g}) w + {cfg.c:g}: eta_opt = 1/a = "
             f"{res.eta_opt_1d:g}, divergence beyond 2 eta_opt = {2 * res.eta_opt_1d:g}."]
    for run in res.runs_1d:
        lines.append(f"  eta = {run.factor:g} eta_opt: {run.observed:11s} -> "
                     f"{_outcome(run.steps, run.errors, cfg.max_steps)} (formula: "
                     f"{_steps_text(run.predicted_steps)})")
    lam = np.linalg.eigvalsh(rotated_quadratic(cfg.eigenvalues, cfg.angle))
    lines.append(f"2-D: eigenvalues {lam[0]:g} and {lam[1]:g} (condition number "
                 f"{lam[1] / lam[0]:g}): the stiff axis allows eta < 2/lambda_max = "
                 f"{2 * res.eta_opt_2d:g}.")
    for run in res.runs_2d:
        lines.append(f"  eta = {run.factor:g}/lambda_max: {run.observed} -> "
                     f"{_outcome(run.steps, run.errors, cfg.max_steps)}")
    w_star, budget = np.asarray(cfg.minimum, float), cfg.max_steps
    vecs = np.linalg.eigh(rotated_quadratic(cfg.eigenvalues, cfg.angle))[1]
    shape = "a straight line" if _straight(res.rescaled_path, w_star) else "a curved path"
    lines.append(f"  Newton (w - A^-1 grad): "
                 f"{_outcome(res.newton_steps, (res.newton_path - w_star) @ vecs, budget)}; "
                 f"axis-rescaled w - {cfg.rescaled_eta:g} A^-1 grad: {shape}, "
                 f"{_outcome(res.rescaled_steps, (res.rescaled_path - w_star) @ vecs, budget)}.")
    return "\n".join(lines)


_REGIME_COLORS = {"monotone": "#2ca02c", "one step": "#1f77b4", "oscillating": "#ff7f0e",
                  NO_DECAY: "#8c564b", "divergent": "#d62728", "mixed": "#9467bd"}


def _plot(res: QuadraticResult, path):
    cfg = res.config
    n = len(cfg.factors)
    fig, axes = plotting.figure(2, n + 1, 3.4 * (n + 1), 7.2,
                                "Gradient descent on quadratics: eta below, at, between and "
                                "above eta_opt and 2 eta_opt")
    w_star = -cfg.b / cfg.a
    span = 1.6 * abs(cfg.w0 - w_star)
    ws = np.linspace(w_star - span, w_star + span, 300)
    E = 0.5 * cfg.a * ws ** 2 + cfg.b * ws + cfg.c
    k = cfg.plot_steps
    for ax, run in zip(axes[0], res.runs_1d):
        color = _REGIME_COLORS.get(run.observed, "k")
        ax.plot(ws, E, color="0.4", lw=1.2)
        w = run.path[:k + 1, 0]
        ax.plot(w, 0.5 * cfg.a * w ** 2 + cfg.b * w + cfg.c, "-o", color=color, ms=3, lw=1)
        ax.plot(w[0], 0.5 * cfg.a * w[0] ** 2 + cfg.b * w[0] + cfg.c, "o", ms=8, mfc="none",
                mec=color)
        ax.axvline(w_star, color="k", ls=":", lw=0.8)
        ax.set_xlim(ws[0], ws[-1])
        ax.set_ylim(E.min() - 0.05 * np.ptp(E), E.max())
        ax.set_title(f"eta = {run.factor:g} eta_opt: {run.observed}\n"
                     f"{_steps_text(run.steps)}")
        ax.set_xlabel("w")
        ax.set_ylabel("E(w)")
    ax = axes[0, n]
    for run in res.runs_1d:
        e = np.abs(run.errors[:k + 1])
        # eta and 2 eta_opt - eta share |1 - eta a|, so their curves coincide: the one below
        # eta_opt is drawn wide and pale underneath, the other thin on top.
        below = run.factor < 1
        ax.semilogy(np.arange(e.size), np.maximum(e, 1e-17), "-", marker=None if below else "o",
                    ms=2.5, lw=6 if below else 1.2, alpha=0.4 if below else 1.0,
                    color=_REGIME_COLORS.get(run.observed, "k"),
                    label=f"{run.factor:g} eta_opt ({run.observed})")
    ax.axhline(cfg.tol, color="k", ls=":", lw=0.8, label="tolerance")
    # Room above the curves for the legend: the divergent curve stays below 1e4 over the steps
    # shown, the legend sits above it.
    ax.set_ylim(1e-17, 1e16)
    ax.set_title("1-D: |e_k| = |1 - eta a|^k |e_0|")
    ax.set_xlabel("step k")
    ax.set_ylabel("|error|")
    ax.legend(loc="upper right", fontsize=7)

    E2, w_star2, reach, (xlim, ylim) = _quadratic_2d(cfg)
    for ax, run in zip(axes[1], res.runs_2d):
        plotting.contours(ax, E2, xlim, ylim, levels=14, n=120)
        stiff = run.observed.split("stiff axis ")[-1]
        inside = np.all(np.abs(run.path - w_star2) < 3 * reach, axis=1)
        shown = run.path[:min(k + 1, int(np.argmin(inside)) + 1 if not inside.all() else k + 1)]
        plotting.path(ax, shown, _REGIME_COLORS.get(stiff, "k"),
                      f"eta = {run.factor:g}/lambda_max")
        ax.plot(*w_star2, "k*", ms=10)
        ax.set_title(f"eta = {run.factor:g}/lambda_max: {_steps_text(run.steps)}\n"
                     f"{run.observed}", fontsize=9)
        ax.set_aspect("equal")
    ax = axes[1, n]
    plotting.contours(ax, E2, xlim, ylim, levels=14, n=120)
    plotting.path(ax, res.rescaled_path[:k + 1], "#d62728",
                  f"w - {cfg.rescaled_eta:g} A^-1 grad: {_steps_text(res.rescaled_steps)}",
                  lw=3.0, ms=4)
    ax.plot(res.newton_path[:, 0], res.newton_path[:, 1], "k--o", ms=4, lw=1.2, zorder=4,
            label=f"Newton: {_steps_text(res.newton_steps)}")
    plotting.path(ax, res.runs_2d[0].path[:k + 1], "#2ca02c",
                  f"GD eta = {cfg.factors[0]:g}/lambda_max (first {k})")
    ax.plot(*w_star2, "k*", ms=10)
    ax.set_title("Newton and w <- w - eta A^-1 grad", fontsize=10)
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return plotting.save_png(fig, path)


def _quadratic_2d(cfg):
    """The 2-D quadratic E(w) = 1/2 (w - w*)^T A (w - w*) as a function of two grids, its
    minimum, and a plotting box around the start and the minimum."""
    A = rotated_quadratic(cfg.eigenvalues, cfg.angle)
    w_star = np.asarray(cfg.minimum, float)

    def E2(u, v):
        du, dv = u - w_star[0], v - w_star[1]
        return 0.5 * (A[0, 0] * du * du + 2 * A[0, 1] * du * dv + A[1, 1] * dv * dv)

    reach = 1.3 * np.max(np.abs(np.asarray(cfg.start) - w_star))
    box = ((w_star[0] - reach, w_star[0] + reach), (w_star[1] - reach, w_star[1] + reach))
    return E2, w_star, reach, box


def _animate(res: QuadraticResult, path):
    cfg = res.config
    n = len(cfg.factors)
    fig, axes = plotting.figure(1, n, 3.2 * n, 3.6, "Gradient descent on a 2-D quadratic")
    E2, w_star2, reach, box = _quadratic_2d(cfg)
    lines = []
    for ax, run in zip(axes[0], res.runs_2d):
        plotting.contours(ax, E2, *box, levels=15, n=80)
        stiff = run.observed.split("stiff axis ")[-1]
        line, = ax.plot([], [], "-o", ms=3, color=_REGIME_COLORS.get(stiff, "k"))
        ax.set_title(f"eta = {run.factor:g}/lambda_max", fontsize=9)
        ax.set_aspect("equal")
        lines.append(line)
    frames = cfg.plot_steps + 1

    def update(i):
        for line, run in zip(lines, res.runs_2d):
            p = run.path[:i + 1]
            line.set_data(p[:, 0], p[:, 1])
        return lines

    fig.tight_layout()
    return plotting.save_gif(fig, update, frames, path, fps=4)
