"""``saddle``: a network started at a saddle point of its loss, and which optimizers escape it.

001 ("The Loss Surface"): a saddle point is where "the slope is zero; the surface increases in some
directions but decreases in others: some of the eigenvalues of the Hessian are positive, others are
negative", and "gradient descent algorithms often get 'stuck' in saddle points".

Two such points of a tanh MLP 2-H-1, on data whose target needs two hidden units
(d = tanh(1.5 x_1 - x_2) + tanh(x_1 + 2 x_2) + noise):

``start="zero"``: every weight and hidden bias zero and the output bias at the mean target: the
hidden units output 0, so no gradient reaches the first layer through the zero output weights,
and the output weights see zero hidden activity. Its Hessian has the block form [[0, C], [C^T, 0]]
(first-layer weights against output weights, C driven by the input-target correlation) plus the
output bias' curvature, so its eigenvalues come in pairs +-sigma_i: a strict saddle.

``start="symmetric"``: the best network with ONE hidden unit, copied into all H units with output
weights v/H (the same function). Copies of a unit receive identical gradients, so this point is
critical for the H-unit loss too, and when the target needs more than one unit, splitting the copies
lowers the loss: a saddle (Fukumizu & Amari 2000, "Local minima and plateaus in hierarchical
structures of multilayer perceptrons").

From the exact point the gradient is zero (up to rounding) and GD does not move at all; from
a tiny perturbation, gradient descent grows the component along a negative-curvature eigenvector
by (1 + eta |lambda_min|) per step, while methods that normalise the gradient (Rprop, AdaGrad,
RMSProp, Adam) take full-size steps from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (FRACTION, NONNEGATIVE, Outputs, POSITIVE, at_least, check_config,
                                 conclude, require)
from handgrad.lab.hessian import hessian, train_to_minimum
from handgrad.nn import MLP, get_loss
from handgrad.errors import unknown_option
from handgrad.train.closure import BatchClosure

# Each optimizer at its customary rate: eta = 0.1 for GD (and momentum's eta / (1 - beta) = 0.1),
# PyTorch's defaults for the adaptive methods, Rprop's Delta_0 = 0.01, Newton's eta = 1.
RATES = {"gd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001,
         "adam": 0.001, "rprop": 0.01, "quickprop": 0.01, "newton": 1.0}
STUCK = 1e-6      # moved less than this from the exact saddle in 5 steps: stuck
OPTIMIZER_NAMES = {"gd": "sgd", "momentum": "momentum", "nesterov": "nesterov",
                   "adagrad": "adagrad", "rmsprop": "rmsprop", "adam": "adam", "rprop": "rprop",
                   "quickprop": "quickprop", "newton": "newton"}


@dataclass
class SaddleConfig:
    start: str = "zero"              # the saddle: zero (all-zero weights) or symmetric (copies)
    hidden: int = 4                  # hidden tanh units of the 2-H-1 network
    samples: int = 100               # training points
    optimizers: tuple = ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "rprop",
                         "newton")   # who tries to escape
    steps: int = 300                 # steps per optimizer
    perturbation: float = 1e-4       # ||theta_0 - theta_saddle||, the same random direction for all
    escape: float = 0.9              # escaped once the loss falls below this fraction of E_saddle
    lr_scale: float = 1.0            # multiplies every rate
    seed: int = 0                    # seed of the data and the perturbation

    RANGES: ClassVar[dict] = {
        "hidden": at_least(1),
        "samples": at_least(2),
        "steps": at_least(1),
        "perturbation": NONNEGATIVE,
        "escape": FRACTION,
        "lr_scale": POSITIVE,
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        require(self.start in ("zero", "symmetric"), "start", self.start, "zero or symmetric")
        require(self.hidden >= 1 if self.start == "zero" else self.hidden >= 2, "hidden",
                self.hidden, "at least 1 (zero) or 2 (symmetric)")
        for name in self.optimizers:
            if name not in OPTIMIZER_NAMES:
                raise unknown_option("optimizer", name, OPTIMIZER_NAMES)


@dataclass
class Escape:
    optimizer: str
    lr: float
    losses: np.ndarray            # loss before each step
    thetas: np.ndarray            # iterates
    escaped_at: int | None        # first step whose loss < escape * E_saddle
    moved_from_exact: float       # max |theta - theta_saddle| after 5 steps from the exact saddle


@dataclass
class SaddleResult:
    config: SaddleConfig
    E_saddle: float
    grad_norm: float              # ||grad E|| at the saddle (0 up to rounding)
    eigenvalues: np.ndarray       # Hessian spectrum at the saddle, ascending
    runs: list[Escape]
    gd_growth_predicted: float    # 1 + eta |lambda_min| for GD
    gd_growth_measured: float     # per-step growth of GD's negative-curvature component
    verdict: str = ""
    files: list = field(default_factory=list)

    def run(self, optimizer: str) -> Escape:
        for r in self.runs:
            if r.optimizer == optimizer:
                return r
        raise KeyError(optimizer)


def saddle_problem(cfg: SaddleConfig):
    """The data and a 2-H-1 tanh MLP placed on the saddle ``cfg.start``."""
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((cfg.samples, 2))
    d = (np.tanh(1.5 * x[:, 0] - x[:, 1]) + np.tanh(x[:, 0] + 2.0 * x[:, 1])
         + 0.1 * rng.standard_normal(cfg.samples)).reshape(-1, 1)
    model = MLP((2, cfg.hidden, 1), activation="tanh", rng=rng, dtype=np.float64)
    first, output = model.layers[0], model.layers[-1]
    if cfg.start == "zero":
        model.theta[:] = 0.0
        output.b.data[:] = d.mean()   # the output bias at its optimum for zero hidden units
    else:
        one = MLP((2, 1, 1), activation="tanh", rng=rng, dtype=np.float64)
        train_to_minimum(BatchClosure(one, get_loss("mse"), x, d))
        first.W.data[:] = one.layers[0].W.data          # every hidden unit a copy of the one
        first.b.data[:] = one.layers[0].b.data
        output.W.data[:] = one.layers[-1].W.data / cfg.hidden
        output.b.data[:] = one.layers[-1].b.data
    return model, x, d, rng


def _run(name, model, closure, theta0, lr, steps):
    from handgrad.optim import get_optimizer

    model.theta[:] = theta0
    opt = get_optimizer(OPTIMIZER_NAMES[name], model, lr=lr)
    losses, thetas = [], [model.theta.copy()]
    for _ in range(steps):
        with np.errstate(all="ignore"):
            value = opt.step(closure)
        losses.append(value)
        thetas.append(model.theta.copy())
        if not np.isfinite(value) or not np.all(np.isfinite(model.theta)):
            break
    return np.array(losses), np.array(thetas)


def run_saddle(outputs: Outputs | None = None, verbose: bool = True,
               config: SaddleConfig | None = None) -> SaddleResult:
    cfg = config or SaddleConfig()
    model, x, d, rng = saddle_problem(cfg)
    closure = BatchClosure(model, get_loss("mse"), x, d)
    theta_s = model.theta.copy()
    E_s = closure()
    grad_norm = float(np.linalg.norm(model.grad))
    H = hessian(closure)
    lam, V = np.linalg.eigh(H)

    noise = np.random.default_rng(cfg.seed + 1).standard_normal(theta_s.size)
    theta0 = theta_s + cfg.perturbation * noise / np.linalg.norm(noise)
    runs = []
    for name in cfg.optimizers:
        lr = RATES[name] * cfg.lr_scale
        stuck = _run(name, model, closure, theta_s, lr, 5)[1]
        moved = float(np.abs(stuck[-1] - theta_s).max())
        losses, thetas = _run(name, model, closure, theta0, lr, cfg.steps)
        below = np.flatnonzero(losses < cfg.escape * E_s)
        runs.append(Escape(name, lr, losses, thetas, int(below[0]) + 1 if below.size else None,
                           moved))
    model.theta[:] = theta_s

    # GD's escape rate: the component in the negative-curvature eigenspace, first 20 steps.
    negative = V[:, lam < -1e-8 * abs(lam).max()]
    eta_gd = RATES["gd"] * cfg.lr_scale
    predicted = 1.0 + eta_gd * abs(lam[0])
    measured = np.nan
    if "gd" in cfg.optimizers and negative.shape[1] and cfg.perturbation > 0:
        gd_thetas = next(e for e in runs if e.optimizer == "gd").thetas[:21]
        comp = np.linalg.norm((gd_thetas - theta_s) @ negative, axis=1)
        measured = float((comp[-1] / comp[0]) ** (1.0 / (comp.size - 1)))

    result = SaddleResult(cfg, E_s, grad_norm, lam, runs, predicted, measured)
    return conclude(result, _verdict(result), outputs, "saddle", verbose,
                    plot=lambda png: _plot(result, model, closure, theta_s, lam, V, png))


def _verdict(r: SaddleResult) -> str:
    cfg = r.config
    lam = r.eigenvalues
    tol = 1e-8 * abs(lam).max()
    n_neg, n_pos = int((lam < -tol).sum()), int((lam > tol).sum())
    stuck = [e.optimizer for e in r.runs if e.moved_from_exact < STUCK]
    moved = [e for e in r.runs if e.moved_from_exact >= STUCK]
    order = sorted((e for e in r.runs if e.escaped_at is not None and not _erratic(e, r)),
                   key=lambda e: e.escaped_at)
    erratic = [e for e in r.runs if _erratic(e, r)]
    where = ("the all-zero network (2-{h}-1 tanh, output bias = mean target)" if cfg.start ==
             "zero" else "the symmetric point (2-{h}-1 tanh, every hidden unit a copy of the best "
             "single unit)").format(h=cfg.hidden)
    lines = [
        f"At {where}: "
        f"E = {r.E_saddle:.4g}, ||grad E|| = {r.grad_norm:.1e}; the Hessian has {n_neg} negative, "
        f"{n_pos} positive and {lam.size - n_neg - n_pos} zero eigenvalues "
        f"(from {lam[0]:.3g} to {lam[-1]:.3g}): " + (
            "a saddle point." if n_neg and n_pos else
            "NOT a saddle point (no negative curvature): a minimum or a flat region."
            if not n_neg else "NOT a saddle point (no positive curvature): a maximum."),
        f"From the exact saddle (||grad E|| = {r.grad_norm:.0e}), 5 steps move "
        f"{', '.join(stuck) or 'no optimizer'} by less than {STUCK:g}: stuck"
        + "".join(f"; {', '.join(f'{e.optimizer} ({e.moved_from_exact:.2g})' for e in group)} "
                  f"move anyway, {why}" for group, why in (
                      ([e for e in moved if e.optimizer in NORMALISING],
                       "because they normalise even so tiny a gradient"),
                      ([e for e in moved if e.optimizer not in NORMALISING],
                       "the rate times the tiny gradient not being tiny")) if group)
        + ".",
        f"From a perturbation of size {cfg.perturbation:g}, escaped (loss below "
        f"{cfg.escape:g} E_saddle) and stayed below E_saddle: "
        + (", ".join(f"{e.optimizer} after {e.escaped_at} steps" for e in order) or "none") + ".",
    ]
    for e in erratic:
        dist = np.linalg.norm(e.thetas - e.thetas[0], axis=1)
        lines.append(
            f"{e.optimizer} first dropped below the line after {e.escaped_at} steps but did not "
            f"stay: its loss then jumped as high as {np.nanmax(e.losses[e.escaped_at:]):.3g} "
            f"({np.nanmax(e.losses[e.escaped_at:]) / r.E_saddle:.0f} x E_saddle) and its weights "
            f"went {np.nanmax(dist):.3g} away from the saddle; it ends at E = {e.losses[-1]:.3g}. "
            "Not a clean escape: an erratic walk through a region where the Hessian is "
            "indefinite" + (" (handgrad's Newton is the modified one, fix='abs': |lambda| for "
                            "every eigenvalue, eta = 1, no line search)" if e.optimizer ==
                            "newton" else "") + ".")
    if "newton" in cfg.optimizers and not any(e.optimizer == "newton" for e in erratic):
        lines.append("newton is handgrad's modified Newton (fix='abs': |lambda| for every "
                     "eigenvalue), which steps away from a saddle; plain Newton would step to it "
                     "(see `handgrad lab newton-fails`).")
    never = [e for e in r.runs if e.escaped_at is None]
    if never:
        lines.append(f"Not below the escape line after {cfg.steps} steps: " + ", ".join(
            f"{e.optimizer} (E = {e.losses[-1]:.3g}, "
            f"{np.linalg.norm(e.thetas[-1] - e.thetas[0]):.2g} away from its start)"
            if np.isfinite(e.losses[-1]) and np.all(np.isfinite(e.thetas[-1])) else
            f"{e.optimizer} (diverged: its loss or weights overflowed)"
            for e in never) + ".")
    if np.isfinite(r.gd_growth_measured):
        lines.append(f"GD grows its negative-curvature component by {r.gd_growth_measured:.4f} "
                     f"per step; the Hessian predicts 1 + eta |lambda_min| = "
                     f"{r.gd_growth_predicted:.4f}." + _normalisers_vs_gd(r, order))
    return "\n".join(lines)


NORMALISING = ("rprop", "adagrad", "rmsprop", "adam")


def _normalisers_vs_gd(r: SaddleResult, order: list) -> str:
    """Whether the methods that normalise the gradient left sooner than GD, as measured."""
    gd = next((e for e in order if e.optimizer == "gd"), None)
    ran = [e for e in r.runs if e.optimizer in NORMALISING]
    if not ran:
        return ""
    sooner = [e.optimizer for e in order if e.optimizer in NORMALISING
              and (gd is None or e.escaped_at < gd.escaped_at)]
    if not sooner:
        return (" No normalising method (Rprop, AdaGrad, RMSProp, Adam) left sooner than GD "
                "here.")
    return (f" {', '.join(sooner)}, which normalise the gradient, ignore how small it is and "
            f"leave sooner than GD" + ("" if gd is not None else " (which did not escape)") + ".")


def _erratic(e: Escape, r: SaddleResult) -> bool:
    """Escaped, then climbed back above the saddle's loss (or diverged)."""
    if e.escaped_at is None:
        return False
    after = e.losses[e.escaped_at:]
    return bool(after.size and (not np.all(np.isfinite(after)) or after.max() > r.E_saddle))


def _plot(r: SaddleResult, model, closure, theta_s, lam, V, path):
    cfg = r.config
    fig, axes = plotting.figure(2, 2, 13, 9.6, "A network started at a saddle point of its loss ("
                                + ("all-zero weights)" if cfg.start == "zero" else
                                   "all hidden units equal)"))
    ax = axes[0, 0]
    tol = 1e-8 * abs(lam).max()
    colors = np.where(lam < -tol, "#d62728", np.where(lam > tol, "#1f77b4", "0.6"))
    ax.bar(np.arange(lam.size), lam, color=colors)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("lambda")
    ax.set_title("Hessian at the saddle: mixed signs (red < 0 < blue)")

    ax = axes[0, 1]
    for e in r.runs:
        ax.plot(np.arange(1, e.losses.size + 1), e.losses,
                label=f"{e.optimizer} (eta={e.lr:g})" + (
                    f", erratic: peaks at {np.nanmax(e.losses):.3g}" if _erratic(e, r) else ""),
                color=plotting.COLORS.get(e.optimizer, "k"))
    ax.axhline(r.E_saddle, color="k", ls=":", lw=1, label="E at the saddle")
    ax.axhline(cfg.escape * r.E_saddle, color="0.5", ls="--", lw=0.8, label="escape line")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.3 * r.E_saddle)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title(f"escaping from a perturbation of {cfg.perturbation:g}")
    ax.legend(fontsize=7, loc="lower left")

    ax = axes[1, 0]
    for e in r.runs:
        dist = np.linalg.norm(e.thetas - theta_s, axis=1)
        ax.semilogy(np.arange(dist.size), np.maximum(dist, 1e-300),
                    color=plotting.COLORS.get(e.optimizer, "k"), label=e.optimizer)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("step")
    ax.set_ylabel("||theta - theta_saddle||")
    ax.set_title("distance from the saddle")
    ax.legend(fontsize=7, loc="lower right")

    # The loss on the plane of a negative- and a positive-curvature eigenvector, the negative one
    # chosen inside its eigenspace along GD's escape direction.
    ax = axes[1, 1]
    negative = V[:, lam < -tol]
    gd = next((e for e in r.runs if e.optimizer == "gd"), r.runs[0])
    u = negative @ (negative.T @ (gd.thetas[-1] - theta_s))
    u = u / np.linalg.norm(u) if np.linalg.norm(u) > 0 else negative[:, 0]
    positive = V[:, lam > tol]
    v = positive[:, positive.shape[1] // 2] if positive.shape[1] else V[:, -1]
    v = v - (v @ u) * u
    v /= np.linalg.norm(v)
    a = np.linspace(-2.5, 2.5, 61)
    A, B = np.meshgrid(a, a)
    Z = np.empty_like(A)
    for idx in np.ndindex(A.shape):
        model.theta[:] = theta_s + A[idx] * u + B[idx] * v
        Z[idx] = closure(backward=False)
    model.theta[:] = theta_s
    cs = ax.contourf(A, B, Z, levels=25, cmap="viridis", alpha=0.8)
    ax.contour(A, B, Z, levels=25, colors="k", linewidths=0.3, alpha=0.5)
    fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.04, label="loss")
    for e in r.runs:
        p = (e.thetas - theta_s) @ np.stack([u, v], axis=1)
        ax.plot(p[:, 0], p[:, 1], color=plotting.COLORS.get(e.optimizer, "k"), lw=1.3)
    ax.plot(0, 0, "wX", ms=10, mec="k", label="saddle")
    ax.set_xlim(a[0], a[-1])
    ax.set_ylim(a[0], a[-1])
    ax.set_xlabel("negative-curvature direction")
    ax.set_ylabel("positive-curvature direction")
    ax.set_title("loss around the saddle, paths projected")
    ax.legend(loc="upper right", fontsize=7)
    return plotting.save_png(fig, path)
