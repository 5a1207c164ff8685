"""``newton-fails``: plain Newton's method walks to saddles and maxima (001, "Issues: 1. The
Hessian"); the modified Newton handgrad uses elsewhere does not.

001: "For non-convex functions, the Hessian may not be positive semi-definite, in which case the
algorithm can diverge. Goes away from, rather than towards the minimum. Now requires additional
checks to avoid movement in directions corresponding to -ve Eigenvalues of the Hessian."

The unmodified step w <- w - H^-1 grad E jumps to the critical point of the local quadratic model,
whatever its kind: along a direction of negative curvature that is a maximum of the model, so the
step climbs. ``handgrad.optim.Newton(fix="none")`` takes it; the default ``fix="abs"`` replaces each
eigenvalue lambda of H by |lambda| (Dauphin et al. 2014), so every step descends.

Part 1, a surface: E(u, v) = (u^4/4 - u^2/2) + (v^4/4 - v^2/2), two double wells, with a maximum at
(0, 0), saddles at (+-1, 0) and (0, +-1) and minima at (+-1, +-1). Its Hessian is diag(3u^2 - 1,
3v^2 - 1), negative wherever |u| or |v| < 1/sqrt(3). From a grid of starts, where does each Newton
end? (The map is computed with the formula; sample paths come from the library's optimizer, and the
test checks the two agree.)

Part 2, a small network: a tanh MLP 2-3-1 from random small weights, trained by both Newtons; at the
end the gradient norm and the Hessian's eigenvalues say what each reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (Function2D, Outputs, POSITIVE, TestFunction, at_least,
                                 check_config, conclude, function_closure)
from handgrad.lab.hessian import hessian
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure

FIXES = {"none": "plain Newton (fix='none')", "abs": "modified Newton, |lambda| (fix='abs')"}
KINDS = ("minimum", "saddle", "maximum", "elsewhere")
KIND_COLORS = {"minimum": "#2ca02c", "saddle": "#ff7f0e", "maximum": "#d62728",
               "elsewhere": "#bbbbbb"}


@dataclass
class NewtonFailsConfig:
    grid: int = 40                   # starts per axis on [-1.6, 1.6]^2 (even: none on an axis)
    steps: int = 30                  # Newton steps on the surface
    net_starts: int = 6              # random starts of the network
    net_steps: int = 40              # Newton steps on the network
    init_scale: float = 0.5          # std of the network's random start weights
    samples: int = 60                # the network's training points
    seed: int = 0                    # seed of the data and the network's starts

    RANGES: ClassVar[dict] = {
        "grid": at_least(3),
        "steps": at_least(1),
        "net_starts": at_least(1),
        "net_steps": at_least(1),
        "init_scale": POSITIVE,
        "samples": at_least(4),
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)


# --- the surface ----------------------------------------------------------------------------------
def E(u, v):
    return u ** 4 / 4 - u ** 2 / 2 + v ** 4 / 4 - v ** 2 / 2


def grad_E(u, v):
    return np.array([u ** 3 - u, v ** 3 - v])


SURFACE = TestFunction("double-wells", "(u^4/4 - u^2/2) + (v^4/4 - v^2/2)", E, grad_E,
                       start=(0.3, 0.4), minimum=(1.0, 1.0), xlim=(-1.6, 1.6), ylim=(-1.6, 1.6))


def newton_formula(u, v, fix: str):
    """One step per coordinate (H is diagonal): w <- w - g / h, or w - g / |h| when modified."""
    hu, hv = 3 * u ** 2 - 1, 3 * v ** 2 - 1
    if fix == "abs":
        hu, hv = np.abs(hu), np.abs(hv)
    with np.errstate(divide="ignore", invalid="ignore"):
        return u - (u ** 3 - u) / hu, v - (v ** 3 - v) / hv


def classify(u, v, tol: float = 1e-6) -> np.ndarray:
    """The kind of critical point (u, v) sits on, per point: each coordinate at 0 (a maximum of
    its well) or at +-1 (a minimum)."""
    at_zero = lambda a: np.abs(a) < tol                                 # noqa: E731
    at_one = lambda a: np.abs(np.abs(a) - 1) < tol                      # noqa: E731
    kind = np.full(np.shape(u), "elsewhere", dtype=object)
    kind[at_one(u) & at_one(v)] = "minimum"
    kind[(at_one(u) & at_zero(v)) | (at_zero(u) & at_one(v))] = "saddle"
    kind[at_zero(u) & at_zero(v)] = "maximum"
    return kind


def surface_map(cfg: NewtonFailsConfig, fix: str):
    axis = np.linspace(-1.6, 1.6, cfg.grid)
    U, V = np.meshgrid(axis, axis)
    u, v = U.copy(), V.copy()
    for _ in range(cfg.steps):
        u, v = newton_formula(u, v, fix)
    finite = np.isfinite(u) & np.isfinite(v)
    kind = classify(np.where(finite, u, 9.0), np.where(finite, v, 9.0))
    return axis, kind


def library_path(start, fix: str, steps: int) -> np.ndarray:
    """The path of handgrad's own Newton optimizer from ``start`` on the surface."""
    module = Function2D(SURFACE, start=start)
    opt = get_optimizer("newton", module, lr=1.0, fix=fix, damping=0.0)
    closure = function_closure(module)
    points = [module.theta.copy()]
    for _ in range(steps):
        opt.step(closure)
        points.append(module.theta.copy())
    return np.array(points)


# --- the network ----------------------------------------------------------------------------------
@dataclass
class NetRun:
    fix: str
    start: int
    losses: np.ndarray            # loss before each step
    grad_norm: float              # ||grad E|| at the end
    eigenvalues: np.ndarray       # the Hessian's spectrum at the end, ascending

    @property
    def kind(self) -> str:
        if self.grad_norm > 1e-4:
            return "elsewhere"
        scale = np.abs(self.eigenvalues).max()
        negative = int(np.sum(self.eigenvalues < -1e-6 * scale))
        positive = int(np.sum(self.eigenvalues > 1e-6 * scale))
        return "minimum" if negative == 0 else ("maximum" if positive == 0 else "saddle")

    @property
    def negative(self) -> int:
        return int(np.sum(self.eigenvalues < -1e-6 * np.abs(self.eigenvalues).max()))


def network_runs(cfg: NewtonFailsConfig) -> list[NetRun]:
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((cfg.samples, 2))
    d = (np.tanh(1.5 * x[:, 0] - x[:, 1]) + np.tanh(x[:, 0] + 2.0 * x[:, 1])
         + 0.1 * rng.standard_normal(cfg.samples)).reshape(-1, 1)
    model = MLP((2, 3, 1), activation="tanh", rng=rng, dtype=np.float64)
    closure = BatchClosure(model, get_loss("mse"), x, d)
    starts = cfg.init_scale * rng.standard_normal((cfg.net_starts, model.theta.size))
    runs = []
    for i, theta0 in enumerate(starts):
        for fix in FIXES:
            model.theta[...] = theta0
            # The modified step descends, so a backtracking line search can make it safe; the
            # plain step need not descend, so it runs as the notes write it (eta = 1).
            opt = get_optimizer("newton", model, lr=1.0, fix=fix,
                                line_search="backtracking" if fix == "abs" else "none")
            losses = []
            with np.errstate(all="ignore"):
                for _ in range(cfg.net_steps):
                    losses.append(float(opt.step(closure)))
            closure()
            grad_norm = float(np.linalg.norm(model.grad))
            eigenvalues = np.linalg.eigvalsh(hessian(closure)) if np.isfinite(grad_norm) else \
                np.full(model.theta.size, np.nan)
            runs.append(NetRun(fix, i, np.array(losses), grad_norm, eigenvalues))
    return runs


# --- the experiment -------------------------------------------------------------------------------
@dataclass
class NewtonFailsResult:
    config: NewtonFailsConfig
    axis: np.ndarray
    kinds: dict                   # fix -> (grid, grid) array of the kind each start ends at
    paths: dict                   # (fix, start) -> library path
    net: list[NetRun]
    verdict: str = ""
    files: list = field(default_factory=list)

    def share(self, fix: str, kind: str) -> float:
        return float(np.mean(self.kinds[fix] == kind))

    def net_kinds(self, fix: str) -> list[str]:
        return [run.kind for run in self.net if run.fix == fix]


SAMPLE_STARTS = ((0.3, 0.4), (1.3, 0.2), (-0.45, -1.4), (-1.4, 0.5))


def run_newton_fails(outputs: Outputs | None = None, verbose: bool = True,
                     config: NewtonFailsConfig | None = None) -> NewtonFailsResult:
    cfg = config or NewtonFailsConfig()
    kinds = {}
    for fix in FIXES:
        axis, kinds[fix] = surface_map(cfg, fix)
    paths = {(fix, s): library_path(s, fix, min(cfg.steps, 12)) for fix in FIXES
             for s in SAMPLE_STARTS}
    result = NewtonFailsResult(cfg, axis, kinds, paths, network_runs(cfg))
    return conclude(result, _verdict(result), outputs, "newton-fails", verbose,
                    plot=lambda png: _plot(result, png))


def _count(kinds: list[str]) -> str:
    names = {"minimum": ("minimum", "minima"), "saddle": ("saddle", "saddles"),
             "maximum": ("maximum", "maxima"),
             "elsewhere": ("not yet critical (||grad|| > 1e-4)",) * 2}
    return ", ".join(f"{kinds.count(k)} {names[k][kinds.count(k) != 1]}" for k in KINDS
                     if kinds.count(k))


def _verdict(r: NewtonFailsResult) -> str:
    cfg = r.config
    lines = [f"Surface (u^4/4 - u^2/2) + (v^4/4 - v^2/2): maximum at 0, saddles at (+-1, 0), "
             f"(0, +-1), minima at (+-1, +-1). Where {cfg.grid}x{cfg.grid} starts on [-1.6, 1.6]^2 "
             f"end after {cfg.steps} steps (eta = 1):"]
    for fix, name in FIXES.items():
        shares = ", ".join(f"{k} {r.share(fix, k):.0%}" for k in KINDS)
        lines.append(f"  {name:40s} {shares}")
    to_max = r.kinds["none"] == "maximum"
    if to_max.any():
        U, V = np.meshgrid(r.axis, r.axis)
        reach = float(np.max(np.maximum(np.abs(U), np.abs(V))[to_max]))
        lines.append(
            f"Plain Newton goes to the critical point of its local quadratic model whatever its "
            f"kind: it climbs to the maximum from {r.share('none', 'maximum'):.0%} of the starts, "
            f"some as far out as |u|, |v| = {reach:.2f} (the Newton basin of 0 for u^3 - u is "
            f"|u| < 1/sqrt(5) = 0.447), and ends on a saddle from {r.share('none', 'saddle'):.0%} "
            f"(one coordinate starting in that basin); "
            + ("the modified step ends at neither from any start."
               if r.share("abs", "maximum") == 0 and r.share("abs", "saddle") == 0 else
               f"the modified step ends at the maximum from {r.share('abs', 'maximum'):.0%} and "
               f"on a saddle from {r.share('abs', 'saddle'):.0%} of the starts."))
    plain, modified = r.net_kinds("none"), r.net_kinds("abs")
    loss = lambda fix: np.nanmedian([run.losses[-1] for run in r.net if run.fix == fix])  # noqa
    negatives = [run.negative for run in r.net if run.fix == "none" and run.kind != "minimum"]
    lines.append(
        f"A tanh MLP 2-3-1 from {cfg.net_starts} random starts, {cfg.net_steps} Newton steps: "
        f"plain Newton ends at {_count(plain)} (median loss {loss('none'):.4f}"
        + (f"; up to {max(negatives)} negative Hessian eigenvalues where it stopped" if negatives
           else "") + f"); modified Newton at {_count(modified)} (median loss {loss('abs'):.4f}).")
    lines.append("handgrad's Newton uses fix='abs' unless asked otherwise; `trajectories` and "
                 "`saddle` run that modified Newton.")
    return "\n".join(lines)


def _plot(r: NewtonFailsResult, path):
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    fig, axes = plotting.figure(1, 3, 17, 5.8, "Newton's method on non-convex functions (001, "
                                               "'Issues: 1. The Hessian')")
    cmap = ListedColormap([KIND_COLORS[k] for k in KINDS])
    extent = (r.axis[0], r.axis[-1], r.axis[0], r.axis[-1])
    for ax, fix in zip(axes[0, :2], FIXES):
        codes = np.vectorize(KINDS.index)(r.kinds[fix]).astype(float)
        ax.imshow(codes, origin="lower", extent=extent, cmap=cmap, vmin=-0.5, vmax=3.5,
                  alpha=0.55, interpolation="nearest")
        plotting.contours(ax, E, SURFACE.xlim, SURFACE.ylim, filled=False, levels=15)
        for s in SAMPLE_STARTS:
            p = r.paths[(fix, s)]
            p = p[np.all(np.abs(p) < 3, axis=1)]
            plotting.path(ax, p, "k", None, ms=3, lw=1.2)
        ax.plot([0], [0], "X", color="k", ms=9)
        ax.set_title(f"{FIXES[fix]}:\nwhere each start ends (colour), 4 paths of the optimizer",
                     fontsize=10)
    handles = [Patch(color=KIND_COLORS[k], alpha=0.7, label=k) for k in KINDS]
    ax = axes[0, 2]
    for run in r.net:
        color = "#d62728" if run.fix == "none" else "#2ca02c"
        ax.semilogy(np.arange(run.losses.size), run.losses, color=color, lw=1.3, alpha=0.8,
                    marker="o" if run.kind in ("saddle", "maximum") else None, ms=2.5)
    ax.set_xlabel("Newton step")
    ax.set_ylabel("training MSE")
    ax.set_title(f"a tanh MLP 2-3-1, {r.config.net_starts} starts: plain (red) and modified "
                 f"(green)\ndots: ended at a saddle or maximum", fontsize=10)
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False,
               title=None)
    return plotting.save_png(fig, path, rect=(0, 0.06, 1, 1))
