"""``trajectories``: the optimizers of the notes racing on 2-D test functions.

Each test function E(w_1, w_2) is wrapped as a :class:`handgrad.lab.common.Function2D` module, so
the very optimizer classes that train networks (``handgrad.optim``) take the steps: plain gradient
descent, momentum and Nesterov's accelerated gradient (001), AdaGrad, RMSProp and Adam (002), Rprop
and QuickProp (001, "Derivative-inspired algorithms") and Newton's method with the exact Hessian
(001, "Minimization by Newton's method"). The functions:

- an ill-conditioned, rotated quadratic: GD must keep eta < 2/lambda_max and then crawls along
  the flat axis; Newton lands in one step;
- Rosenbrock's banana valley (1 - x)^2 + 100 (y - x^2)^2: a curved ravine;
- Beale's function: plateaus and an indefinite Hessian away from the minimum at (3, 1/2);
- the saddle x^2 - y^2: started almost on the ridge, who escapes and how fast.

Each learning rate in ``RATES`` was chosen by a grid search over 1e-4 .. 1 (factors of ~3) as the
best for that optimizer and function in 200 steps; ``lr_scale`` multiplies them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (Function2D, Outputs, POSITIVE, TEST_FUNCTIONS, at_least,
                                 check_config, conclude, function_closure)
from handgrad.errors import unknown_option

# The notes' names -> handgrad.optim's names.
OPTIMIZER_NAMES = {"gd": "sgd", "momentum": "momentum", "nesterov": "nesterov",
                   "adagrad": "adagrad", "rmsprop": "rmsprop", "adam": "adam", "rprop": "rprop",
                   "rprop_backtracking": "rprop_backtracking", "quickprop": "quickprop",
                   "newton": "newton", "lbfgs": "lbfgs"}

RATES = {
    "quadratic": {"gd": 0.05, "momentum": 0.01, "nesterov": 0.03, "adagrad": 1.0,
                  "rmsprop": 0.1, "adam": 0.3, "rprop": 0.1, "rprop_backtracking": 0.1,
                  "quickprop": 0.01, "newton": 1.0, "lbfgs": 1.0},
    "rosenbrock": {"gd": 0.002, "momentum": 0.002, "nesterov": 0.001, "adagrad": 1.0,
                   "rmsprop": 0.1, "adam": 0.3, "rprop": 0.01, "rprop_backtracking": 0.01,
                   "quickprop": 0.01, "newton": 1.0, "lbfgs": 1.0},
    "beale": {"gd": 0.03, "momentum": 0.01, "nesterov": 0.003, "adagrad": 1.0, "rmsprop": 0.1,
              "adam": 0.3, "rprop": 0.3, "rprop_backtracking": 0.3, "quickprop": 0.001,
              "newton": 1.0, "lbfgs": 1.0},
    "saddle": {"gd": 0.05, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.1, "rmsprop": 0.01,
               "adam": 0.05, "rprop": 0.01, "rprop_backtracking": 0.01, "quickprop": 0.01,
               "newton": 1.0, "lbfgs": 1.0},
}

ESCAPE = 1.0       # on the saddle, |w_2| > ESCAPE counts as escaped
OUT_OF_BOUNDS = 50.0


@dataclass
class TrajectoriesConfig:
    functions: tuple = ("quadratic", "rosenbrock", "beale", "saddle")  # test functions to race on
    optimizers: tuple = ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "rprop",
                         "quickprop", "newton")   # the racers
    steps: int = 200                 # optimizer steps per race
    lr_scale: float = 1.0            # multiplies every tuned learning rate
    tol: float = 1e-3                # reached the minimum: ||w - w*|| < tol
    condition: float = 20.0          # the quadratic's lambda_max / lambda_min
    frame_every: int = 8             # animation: one frame per this many steps

    RANGES: ClassVar[dict] = {
        "steps": at_least(1),
        "lr_scale": POSITIVE,
        "tol": POSITIVE,
        "condition": at_least(1),
        "frame_every": at_least(1),
    }

    def __post_init__(self):
        check_config(self)
        for name in self.functions:
            if name not in TEST_FUNCTIONS:
                raise unknown_option("test function", name, TEST_FUNCTIONS)
        for name in self.optimizers:
            if name not in OPTIMIZER_NAMES:
                raise unknown_option("optimizer", name, OPTIMIZER_NAMES)


@dataclass
class Race:
    """One optimizer on one function."""

    function: str
    optimizer: str
    lr: float
    path: np.ndarray               # (steps + 1, 2) iterates (shorter if it left the plane)
    losses: np.ndarray             # E at each iterate
    reached: int | None            # first step within tol of the minimum (or escaped the saddle)
    diverged: bool                 # left the plane (||w|| > 50) or produced NaN, off the saddle


@dataclass
class TrajectoriesResult:
    config: TrajectoriesConfig
    races: list[Race]
    verdict: str = ""
    files: list = field(default_factory=list)

    def race(self, function: str, optimizer: str) -> Race:
        for r in self.races:
            if r.function == function and r.optimizer == optimizer:
                return r
        raise KeyError((function, optimizer))


def make_function(name: str, cfg: TrajectoriesConfig):
    if name == "quadratic":
        return TEST_FUNCTIONS[name](eigenvalues=(1.0, cfg.condition), angle_deg=30.0)
    return TEST_FUNCTIONS[name]()


def race(fn, optimizer: str, lr: float, steps: int, tol: float) -> Race:
    """Run one optimizer from the function's start: opt.step(closure) ``steps`` times."""
    from handgrad.optim import get_optimizer

    module = Function2D(fn)
    closure = function_closure(module)
    opt = get_optimizer(OPTIMIZER_NAMES[optimizer], module, lr=lr)
    path = [module.theta.copy()]
    reached, diverged = None, False
    for k in range(1, steps + 1):
        with np.errstate(all="ignore"):
            opt.step(closure)
        w = module.theta.copy()
        if not np.all(np.isfinite(w)) or np.abs(w).max() > OUT_OF_BOUNDS:
            diverged = fn.minimum is not None
            if np.all(np.isfinite(w)):
                path.append(w)
                if reached is None and _arrived(fn, w, tol):
                    reached = k       # off the saddle in one long stride
            break
        path.append(w)
        if reached is None and _arrived(fn, w, tol):
            reached = k
    path = np.array(path)
    with np.errstate(all="ignore"):
        losses = np.array([fn.E(*p) for p in path])
    return Race(fn.name, optimizer, lr, path, losses, reached, diverged)


def _arrived(fn, w, tol) -> bool:
    if fn.minimum is None:
        return abs(w[1]) > ESCAPE
    return float(np.linalg.norm(w - np.asarray(fn.minimum))) < tol


def run_trajectories(outputs: Outputs | None = None, verbose: bool = True,
                     config: TrajectoriesConfig | None = None) -> TrajectoriesResult:
    cfg = config or TrajectoriesConfig()
    races = []
    for name in cfg.functions:
        fn = make_function(name, cfg)
        for opt in cfg.optimizers:
            races.append(race(fn, opt, RATES[name][opt] * cfg.lr_scale, cfg.steps, cfg.tol))
    result = TrajectoriesResult(cfg, races)
    return conclude(result, _verdict(result), outputs, "trajectories", verbose,
                    plot=lambda png: _plot(result, png),
                    animate=lambda gif: _animate(result, gif))


def _verdict(res: TrajectoriesResult) -> str:
    cfg = res.config
    lines = [f"{len(cfg.optimizers)} optimizers, {cfg.steps} steps each, from the same start:"]
    for name in cfg.functions:
        fn = make_function(name, cfg)
        races = [r for r in res.races if r.function == name]
        done = sorted((r for r in races if r.reached is not None), key=lambda r: r.reached)
        if fn.minimum is None:
            head = "escaped the saddle (|y| > 1)"
        else:
            head = f"reached {tuple(fn.minimum)} within {cfg.tol:g}"
        ranking = ", ".join(f"{r.optimizer} ({r.reached})" for r in done) or "none"
        line = f"  {fn.title}: {head}: {ranking}"
        missing = [r for r in races if r.reached is None]
        if missing:
            parts = []
            for r in missing:
                if r.diverged:
                    parts.append(f"{r.optimizer} diverged")
                else:
                    parts.append(f"{r.optimizer} (E = {r.losses[-1]:.2g})")
            line += "; not there: " + ", ".join(parts)
        lines.append(line)
    if "newton" in cfg.optimizers:
        lines.append("newton is handgrad's modified Newton (fix='abs': every Hessian eigenvalue "
                     "replaced by |lambda|, eta = 1), so it steps away from the saddle; plain "
                     "Newton (fix='none') jumps onto it (see `handgrad lab newton-fails`).")
    return "\n".join(lines)


def _panel(ax, fn, races, upto=None, filled=True):
    plotting.contours(ax, fn.E, fn.xlim, fn.ylim, log_levels=fn.log_levels, n=160, levels=22,
                      filled=filled)
    lines = {}
    for r in races:
        p = r.path if upto is None else r.path[:upto + 1]
        lines[r.optimizer] = plotting.path(ax, p, plotting.COLORS.get(r.optimizer, "k"),
                                           r.optimizer, ms=1.5, lw=1.2)
    if fn.minimum is not None:
        ax.plot(*fn.minimum, "*", color="gold", mec="k", ms=14, zorder=5)
    ax.set_title(fn.title)
    return lines


def _plot(res: TrajectoriesResult, path):
    cfg = res.config
    n = len(cfg.functions)
    fig, axes = plotting.figure(2, n, 4.6 * n, 9.2, "The optimizers of the notes on 2-D test "
                                                    "functions (same start, tuned rates)")
    for j, name in enumerate(cfg.functions):
        fn = make_function(name, cfg)
        races = [r for r in res.races if r.function == name]
        _panel(axes[0, j], fn, races)
        ax = axes[1, j]
        for r in races:
            label = f"{r.optimizer} (eta = {r.lr:g})"
            if fn.minimum is None:
                ax.plot(np.arange(r.losses.size), np.clip(r.losses, -10, 3),
                        color=plotting.COLORS.get(r.optimizer, "k"), label=label)
            else:
                E_min = fn.E(*fn.minimum)
                ax.semilogy(np.arange(r.losses.size),
                            np.clip(r.losses - E_min, 1e-16, 1e6),
                            color=plotting.COLORS.get(r.optimizer, "k"), label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("E(w)" if fn.minimum is None else "E(w) - E(w*)")
        ax.set_title("loss per step" + (" (clipped to [-10, 3])" if fn.minimum is None else ""))
    # One legend for all panels, below them: an optimizer has one colour everywhere, and its
    # rates per panel (left to right) go in its entry.
    from matplotlib.lines import Line2D

    handles = []
    for opt in cfg.optimizers:
        rates = " / ".join(f"{RATES[name][opt] * cfg.lr_scale:g}" for name in cfg.functions)
        label = f"{opt}{' (modified, |lambda|)' if opt == 'newton' else ''}: eta = {rates}"
        handles.append(Line2D([], [], color=plotting.COLORS.get(opt, "k"), lw=2.5, label=label))
    rows = -(-len(handles) // 4)
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=10,
               frameon=False)
    return plotting.save_png(fig, path, rect=(0, 0.035 * rows + 0.01, 1, 1))


def _animate(res: TrajectoriesResult, path):
    cfg = res.config
    n = len(cfg.functions)
    fig, axes = plotting.figure(1, n, 3.3 * n, 3.7, "Optimizers racing")
    panels = []
    for j, name in enumerate(cfg.functions):
        fn = make_function(name, cfg)
        races = [r for r in res.races if r.function == name]
        lines = _panel(axes[0, j], fn, races, upto=0, filled=False)
        panels.append((races, lines))
    axes[0, 0].legend(fontsize=6, loc="lower left")
    frames = cfg.steps // cfg.frame_every + 1

    def update(i):
        k = i * cfg.frame_every
        fig.suptitle(f"Optimizers racing: step {k}", fontsize=13, fontweight="bold")
        for races, lines in panels:
            for r in races:
                p = r.path[:k + 1]
                lines[r.optimizer].set_data(p[:, 0], p[:, 1])
        return []

    fig.tight_layout()
    return plotting.save_gif(fig, update, frames, path, fps=10)
