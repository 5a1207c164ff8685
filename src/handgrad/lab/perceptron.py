"""``perceptron-vs-backprop``: "Backprop fails to separate where perceptron succeeds" (001; Brady,
Raghavan & Slawny 1989, "Back propagation fails to separate where perceptrons succeed").

Three points, (1, 0) and (0, 1) in class 1 and (-1, 0) in class 0. With targets 1 - eps and eps
and u = sigma^-1(1 - eps), the equations w_x + b = u, w_y + b = u, -w_x + b = -u have the unique
solution w_x = w_y = u, b = 0: the minimum of the L2 divergence for a sigmoid unit, and a
separator. Then a fourth, far "spoiler" (0, -t) of class 1 arrives. The set is still linearly
separable (e.g. x = -1/2), and the perceptron rule (w <- w + s x on every mistake) finds a
separator. Backprop continuing from the three-point solution does not: the spoiler's contribution
to the gradient,

    d div_4 / d w_y = 2 (1 - eps - sigma(-w_y t + b)) sigma'(-w_y t + b) t,

vanishes exponentially in t because sigma' does, so the three-point minimum stays a broad local
minimum of the four-point loss and the spoiler stays misclassified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from handgrad.lab import plotting
from handgrad.lab.common import Outputs, require, say
from handgrad.nn import Linear, Sequential, Sigmoid, get_loss
from handgrad.train.closure import BatchClosure

POINTS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
CLASSES = np.array([1.0, 1.0, 0.0])


@dataclass
class PerceptronConfig:
    t: float = 10.0              # the spoiler sits at (0, -t)
    eps: float = 0.01            # targets 1 - eps and eps (u = sigma^-1(1 - eps))
    eta: float = 5.0             # backprop learning rate (full-batch gradient descent)
    epochs: int = 20000          # gradient steps before and again after the spoiler arrives
    init_scale: float = 0.1      # backprop's initial weights ~ N(0, init_scale^2)
    seed: int = 0                # seed of the initial weights

    def __post_init__(self):
        require(self.t > 0, "t", self.t, "a positive distance")
        require(0 < self.eps < 0.5, "eps", self.eps, "a number in (0, 0.5)")
        require(self.eta > 0, "eta", self.eta, "a positive learning rate")
        require(self.epochs >= 1, "epochs", self.epochs, "at least 1")


@dataclass
class PerceptronResult:
    config: PerceptronConfig
    points: np.ndarray               # the four points (spoiler last)
    classes: np.ndarray              # 1 or 0
    perceptron_3: np.ndarray         # (w_x, w_y, b) after the three points
    perceptron_4: np.ndarray         # after the spoiler
    perceptron_updates: int          # mistakes corrected on the four points
    perceptron_separates: bool
    backprop_3: np.ndarray           # the three-point L2 minimum
    backprop_4: np.ndarray           # after training on four points from there
    backprop_scratch: np.ndarray     # four points from small random weights (for comparison)
    backprop_errors: list            # indices of the points backprop_4 misclassifies
    spoiler_misclassified: bool
    scratch_separates: bool
    u: float                         # sigma^-1(1 - eps), the notes' solution w_x = w_y = u, b = 0
    grad_norms: np.ndarray           # (epochs, 4): each point's ||grad div_i|| while training on 4
    spoiler_gradient_vs_t: np.ndarray  # (n, 2): t and ||grad div_4|| at the three-point solution
    verdict: str = ""
    files: list = field(default_factory=list)


def augmented(x: np.ndarray) -> np.ndarray:
    """(x, y) -> (x, y, 1): the bias as a weight on a constant input (001)."""
    return np.hstack([x, np.ones((x.shape[0], 1))])


def perceptron(x, classes, w, max_epochs: int = 100000) -> tuple[np.ndarray, int]:
    """Rosenblatt's rule on augmented inputs: for each misclassified point, w <- w + s x~ with
    s = +1 for class 1 and -1 for class 0; stop after an epoch without mistakes."""
    xa, s = augmented(x), np.where(classes > 0.5, 1.0, -1.0)
    w = np.array(w, float)
    updates = 0
    for _ in range(max_epochs):
        mistakes = 0
        for xi, si in zip(xa, s):
            if si * (w @ xi) <= 0:
                w += si * xi
                mistakes += 1
        updates += mistakes
        if mistakes == 0:
            break
    return w, updates


def sigmoid_unit(theta: np.ndarray) -> Sequential:
    """y = sigma(w_x x + w_y y + b) as a handgrad network (float64), theta = (w_x, w_y, b)."""
    unit = Sequential(Linear(2, 1, dtype=np.float64), Sigmoid(), dtype=np.float64)
    unit.theta[:] = theta
    return unit


def train_backprop(x, classes, theta, cfg: PerceptronConfig, record: bool = False):
    """Full-batch gradient descent on Div = sum_i (y_i - d_i)^2 with d = 1 - eps or eps.

    Returns the final (w_x, w_y, b) and, if ``record``, each point's gradient norm at every step.
    """
    d = np.where(classes > 0.5, 1.0 - cfg.eps, cfg.eps).reshape(-1, 1)
    unit = sigmoid_unit(theta)
    closure = BatchClosure(unit, get_loss("mse", reduction="sum"), x, d)
    norms = np.zeros((cfg.epochs, len(x))) if record else None
    for k in range(cfg.epochs):
        closure()
        if record:
            norms[k] = per_point_gradient_norms(unit.theta, x, d)
        unit.theta -= cfg.eta * unit.grad
    return unit.theta.copy(), norms


def per_point_gradient_norms(theta, x, d) -> np.ndarray:
    """||grad_theta (y_i - d_i)^2|| for each point: 2 (y - d) sigma'(z) (x, y, 1)."""
    xa = augmented(x)
    y = expit(xa @ theta)
    coeff = 2.0 * (y - d.ravel()) * y * (1.0 - y)
    return np.abs(coeff) * np.linalg.norm(xa, axis=1)


def classify(theta, x) -> np.ndarray:
    return (augmented(x) @ theta > 0).astype(float)


def run_perceptron(outputs: Outputs | None = None, verbose: bool = True,
                   config: PerceptronConfig | None = None) -> PerceptronResult:
    cfg = config or PerceptronConfig()
    spoiler = np.array([[0.0, -cfg.t]])
    x4 = np.vstack([POINTS, spoiler])
    c4 = np.append(CLASSES, 1.0)

    p3, _ = perceptron(POINTS, CLASSES, np.zeros(3))
    p4, updates = perceptron(x4, c4, p3)

    theta0 = np.random.default_rng(cfg.seed).normal(0.0, cfg.init_scale, 3)
    b3, _ = train_backprop(POINTS, CLASSES, theta0, cfg)
    b4, norms = train_backprop(x4, c4, b3, cfg, record=True)
    scratch, _ = train_backprop(x4, c4, theta0, cfg)

    wrong = [int(i) for i in np.flatnonzero(classify(b4, x4) != c4)]
    u = float(np.log((1 - cfg.eps) / cfg.eps))
    ts = np.logspace(-1, np.log10(max(cfg.t, 1.0) * 3), 60)
    d4 = np.array([1.0 - cfg.eps])
    spoiler_grad = np.array([[t, per_point_gradient_norms(b3, np.array([[0.0, -t]]), d4)[0]]
                             for t in ts])

    result = PerceptronResult(
        cfg, x4, c4, p3, p4, updates, bool(np.all(classify(p4, x4) == c4)), b3, b4, scratch,
        wrong, 3 in wrong, bool(np.all(classify(scratch, x4) == c4)), u, norms, spoiler_grad)
    result.verdict = _verdict(result)
    say(verbose, result.verdict)
    outputs = outputs or Outputs(None, "perceptron-vs-backprop")
    if outputs.png is not None:
        result.files.append(_plot(result, outputs.png))
    return result


def _line(theta) -> str:
    return f"{theta[0]:+.3g} x {theta[1]:+.3g} y {theta[2]:+.3g} = 0"


def _verdict(r: PerceptronResult) -> str:
    cfg = r.config
    last = r.grad_norms[-1]
    y_spoiler = float(expit(augmented(r.points[3:]) @ r.backprop_4)[0])
    lines = [
        f"Three points: the perceptron separates them with {_line(r.perceptron_3)}; backprop "
        f"(sigmoid, L2) reaches w_x = {r.backprop_3[0]:.3f}, w_y = {r.backprop_3[1]:.3f}, "
        f"b = {r.backprop_3[2]:.3f} (the notes' w_x = w_y = u = {r.u:.3f}, b = 0).",
        f"Spoiler at (0, -{cfg.t:g}): the perceptron "
        f"{'separates all four points' if r.perceptron_separates else 'FAILS to separate'} "
        f"after {r.perceptron_updates} more updates ({_line(r.perceptron_4)}).",
        (f"Backprop, continuing for {cfg.epochs} steps, misclassifies the spoiler "
         f"(misclassified points: {r.backprop_errors}): the spoiler's gradient is "
         f"{last[3]:.1e}, while it sits at y = {y_spoiler:.2g} instead of {1 - cfg.eps:g}; "
         f"sigma' kills it, so the three-point minimum stays a local minimum."
         if r.spoiler_misclassified else
         f"Backprop, continuing for {cfg.epochs} steps, classifies the spoiler too "
         f"(misclassified points: {r.backprop_errors or 'none'}): at t = {cfg.t:g} the "
         f"spoiler's gradient (first {r.grad_norms[0, 3]:.1e}) is not negligible, so training "
         f"moves on to a separator; move it further away to see backprop fail."),
        f"(From small random weights instead, the spoiler's gradient is large early on and "
        f"backprop "
        f"{'does separate' if r.scratch_separates else 'does not separate'} the four points: the "
        f"failure is about where training stands when the spoiler arrives.)",
    ]
    return "\n".join(lines)


def _decision_line(ax, theta, box, color, label, ls="-"):
    u = np.linspace(*box[0], 200)
    v = np.linspace(*box[1], 400)
    U, V = np.meshgrid(u, v)
    Z = theta[0] * U + theta[1] * V + theta[2]
    ax.contour(U, V, Z, levels=[0.0], colors=[color], linestyles=[ls], linewidths=2)
    ax.plot([], [], color=color, ls=ls, lw=2, label=label)


def _plot(r: PerceptronResult, path):
    cfg = r.config
    fig, axes = plotting.figure(1, 3, 16, 5.4, "Backprop fails to separate where the perceptron "
                                                "succeeds (Brady, Raghavan & Slawny 1989)")
    ax = axes[0, 0]
    box = ((-3.0, 3.0), (-cfg.t - 1.5, 2.5))
    u = np.linspace(*box[0], 200)
    v = np.linspace(*box[1], 400)
    U, V = np.meshgrid(u, v)
    ax.contourf(U, V, r.perceptron_4[0] * U + r.perceptron_4[1] * V + r.perceptron_4[2],
                levels=[-1e9, 0, 1e9], colors=["#fde0dd", "#deebf7"], alpha=0.8)
    _decision_line(ax, r.perceptron_4, box, "#1f77b4", "perceptron (4 points)")
    _decision_line(ax, r.backprop_4, box, "#d62728", "backprop (4 points, from the 3-point "
                                                      "solution)")
    _decision_line(ax, r.backprop_3, box, "#d62728", "backprop (3 points)", ls=":")
    for (px, py), c, i in zip(r.points, r.classes, range(4)):
        ax.plot(px, py, "o" if c > 0.5 else "s", ms=10 if i < 3 else 13,
                color="#1f77b4" if c > 0.5 else "#d62728", mec="k", zorder=5)
    ax.annotate("spoiler (class 1)", r.points[3], xytext=(-2.8, -cfg.t + 2.0),
                arrowprops=dict(arrowstyle="->"), fontsize=9)
    ax.plot([], [], "o", color="#1f77b4", mec="k", label="class 1")
    ax.plot([], [], "s", color="#d62728", mec="k", label="class 0")
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("decision lines (shaded: the perceptron's classes)")
    ax.legend(loc="center right", fontsize=7)

    ax = axes[0, 1]
    names = ["(1, 0)", "(0, 1)", "(-1, 0)", f"spoiler (0, -{cfg.t:g})"]
    colors = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"]
    steps = np.arange(1, r.grad_norms.shape[0] + 1)
    for i in range(4):
        ax.loglog(steps, np.maximum(r.grad_norms[:, i], 1e-300), color=colors[i], label=names[i],
                  lw=2 if i == 3 else 1.2)
    ax.set_xlabel("gradient step after the spoiler arrives")
    ax.set_ylabel("||grad_theta div_i||")
    ax.set_title("each point's gradient contribution (backprop)")
    ax.legend(loc="best")

    ax = axes[0, 2]
    ax.semilogy(r.spoiler_gradient_vs_t[:, 0], np.maximum(r.spoiler_gradient_vs_t[:, 1], 1e-300),
                color="#d62728", lw=2)
    ax.axvline(cfg.t, color="k", ls=":", label=f"t = {cfg.t:g}")
    ax.set_xlabel("t (the spoiler at (0, -t))")
    ax.set_ylabel("||grad div_4|| at the 3-point solution")
    ax.set_title("sigma'(-w_y t + b) t -> 0 exponentially in t")
    ax.legend()
    return plotting.save_png(fig, path)
