"""``explain``: one forward and one backward pass of a tiny network, printed step by step in the
notation of 001 ("Vector formulation", "The Backward Pass"), every gradient checked by central
finite differences as it is printed.

Forward, y_0 = x, for k = 1..N:        z_k = W_k y_(k-1) + b_k,     y_k = f_k(z_k)
Backward, from grad_(y_N) Div:          grad_(z_k) Div     = grad_(y_k) Div J_(y_k)(z_k)
                                        grad_(y_(k-1)) Div = grad_(z_k) Div W_k
                                        grad_(W_k) Div     = y_(k-1) grad_(z_k) Div
                                        grad_(b_k) Div     = grad_(z_k) Div

Gradients are row vectors, as in the notes. handgrad stores W_k as (out, in), the shape of the
notes' W_k in z_k = W_k y_(k-1) + b_k; the notes' grad_(W_k) Div = y_(k-1) grad_(z_k) Div is the
(in, out) outer product, so the (out, in) array printed and checked is its transpose.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.check import TensorCheck, central_differences
from handgrad.lab import plotting, scalar_backprop
from handgrad.lab.common import Outputs, Span, at_least, check_config, require, say
from handgrad.nn import MLP, Linear, get_loss
from handgrad.nn.activations import Activation, Identity
from handgrad.train.task import TASK_LOSSES, canonical_output, output_problem


AGREE = 1e-4   # backprop and central differences agree: relative error below this


@dataclass
class ExplainConfig:
    sizes: tuple = (3, 4, 3)     # layer widths D_0, D_1, ..., D_N
    activation: str = "tanh"     # hidden activation f_k
    output: str = "softmax"      # output activation f_N (identity, sigmoid, softmax, ...)
    loss: str = "kl"             # divergence Div(Y, d): kl, half_mse, mse, bce, cross_entropy ...
    seed: int = 0                # seed of the weights, the input x and the target d
    eps: float = 1e-6            # finite-difference step
    precision: int = 4           # digits printed
    scalar: bool = False         # also every weight's derivative in 001's scalar notation

    RANGES: ClassVar[dict] = {
        "sizes": at_least(1),
        "seed": at_least(0),
        "eps": Span(0, 1e-2, low_open=True),
        "precision": Span(1, 17),
    }

    def __post_init__(self):
        check_config(self)
        require(len(self.sizes) >= 2 and min(self.sizes) >= 1, "sizes", self.sizes,
                "at least two positive widths, e.g. 3,4,2")
        self._check_pairing()
        if self.scalar:
            require(self.loss in scalar_backprop.LOSSES, "loss", self.loss,
                    f"one of {', '.join(scalar_backprop.LOSSES)} with --scalar")
            for name, f in (("activation", self.activation), ("output", self.output)):
                require(f in scalar_backprop.SCALAR or f in scalar_backprop.VECTOR, name, f,
                        "one of " + ", ".join(list(scalar_backprop.SCALAR) +
                                              list(scalar_backprop.VECTOR)) + " with --scalar")

    def _check_pairing(self) -> None:
        """The classification losses take the outputs their formulas assume (train.task.OUTPUTS,
        as `handgrad train` checks them): kl on relu outputs, or cross-entropy after a softmax
        (a second softmax), would print a pass that is not the notes' divergence."""
        if self.loss not in TASK_LOSSES["classification"] or self.loss in TASK_LOSSES["regression"]:
            return  # the L2 losses take any output: the target is drawn to suit it
        width = self.sizes[-1]
        problem = output_problem("classification", self.loss, canonical_output(self.output),
                                 2 if width == 1 else width)
        require(problem is None, "output", self.output,
                f"{(problem or '').removeprefix('expected ')} (with --loss {self.loss})")


@dataclass
class Step:
    """One printed quantity: its notation, the formula that produced it and its FD check."""

    name: str
    formula: str
    value: np.ndarray
    numeric: np.ndarray | None = None

    @property
    def error(self) -> float | None:
        if self.numeric is None:
            return None
        return TensorCheck(self.name, np.asarray(self.value, float), self.numeric).error


@dataclass
class ExplainResult:
    config: ExplainConfig
    forward: list[Step]
    backward: list[Step]
    loss: float
    worst_error: float
    text: str
    verdict: str = ""
    files: list = field(default_factory=list)
    scalar_error: float | None = None     # --scalar: max |scalar - vector| over every weight


def _layers(model):
    """(Linear, activation) pairs: the k-th layer of the notes, z_k then y_k = f_k(z_k)."""
    modules = model.layers
    pairs = []
    for i, m in enumerate(modules):
        if isinstance(m, Linear):
            nxt = modules[i + 1] if i + 1 < len(modules) else None
            pairs.append((i, m, nxt if isinstance(nxt, Activation) else Identity()))
    return pairs


def _target(cfg: ExplainConfig, width: int, rng) -> np.ndarray:
    """A target that suits the loss: a probability row for kl, 0/1 for bce, class 1-hot for ce."""
    if cfg.loss in ("kl", "cross_entropy", "nll"):
        d = np.zeros((1, width))
        d[0, rng.integers(width)] = 1.0
        return d
    if cfg.loss in ("bce", "bce_logits"):
        return rng.integers(0, 2, size=(1, width)).astype(float)
    if cfg.loss in ("hinge", "squared_hinge"):
        return rng.choice([-1.0, 1.0], size=(1, width))
    return rng.standard_normal((1, width))


def run_explain(outputs: Outputs | None = None, verbose: bool = True,
                config: ExplainConfig | None = None) -> ExplainResult:
    cfg = config or ExplainConfig()
    rng = np.random.default_rng(cfg.seed)
    model = MLP(cfg.sizes, activation=cfg.activation, output=cfg.output, rng=rng,
                dtype=np.float64)
    loss = get_loss(cfg.loss)
    x = rng.standard_normal((1, cfg.sizes[0]))
    d = _target(cfg, cfg.sizes[-1], rng)
    modules = model.layers
    pairs = _layers(model)
    N = len(pairs)

    # --- forward, keeping every z_k and y_k ---------------------------------------------------
    forward = [Step("y_0", "x", x.copy())]
    ys, zs = [x], []
    for k, (i, linear, act) in enumerate(pairs, start=1):
        z = linear.forward(ys[-1])
        y = act.forward(z)
        zs.append(z.copy())
        ys.append(y.copy())
        forward.append(Step(f"z_{k}", f"W_{k} y_{k - 1} + b_{k}", z.copy()))
        forward.append(Step(f"y_{k}", f"{act.name or 'identity'}(z_{k})", y.copy()))
    value = loss(ys[-1], d)

    # --- backward, in the order of the notes' recursion ---------------------------------------
    model.zero_grad()
    backward = []
    grad_y = loss.backward()
    backward.append(Step(f"grad_y_{N} Div", f"dDiv/dy_{N} ({loss.name})", grad_y.copy()))
    for k in range(N, 0, -1):
        i, linear, act = pairs[k - 1]
        # Row i of J_y(z) is e_i^T J = backward(e_i): the Jacobian, (outputs, inputs) of f_k,
        # one sample row at a time (as the forward pass saw it).
        J = np.vstack([act.backward(e[None, :]) for e in np.eye(ys[k].shape[1])])
        backward.append(Step(f"J_y_{k}(z_{k})", "dy_i/dz_j " + _jacobian_kind(J, act), J))
        grad_z = act.backward(grad_y)
        backward.append(Step(f"grad_z_{k} Div", f"grad_y_{k} Div J_y_{k}(z_{k})", grad_z.copy()))
        grad_y_prev = linear.backward(grad_z)
        backward.append(Step(f"grad_W_{k} Div", f"(y_{k - 1} grad_z_{k} Div)^T, stored (out, in)"
                             " like W", linear.W.grad.copy()))
        backward.append(Step(f"grad_b_{k} Div", f"grad_z_{k} Div", linear.b.grad.copy()))
        backward.append(Step(f"grad_y_{k - 1} Div", f"grad_z_{k} Div W_{k}" +
                             ("  (w.r.t. the input x)" if k == 1 else ""), grad_y_prev.copy()))
        grad_y = grad_y_prev

    _finite_differences(cfg, modules, pairs, loss, x, d, ys, zs, backward)
    worst = max(s.error for s in backward if s.error is not None)
    text = _format(cfg, model, forward, backward, value)
    checked = sum(s.error is not None for s in backward)
    verdict = (f"All {checked} backward quantities agree with central differences (eps = "
               f"{cfg.eps:g}); worst relative error {worst:.1e}." if worst < AGREE else
               f"NOT all {checked} backward quantities agree with central differences (eps = "
               f"{cfg.eps:g}): worst relative error {worst:.1e}, above {AGREE:g}; a step far "
               "from 1e-6 (truncation or rounding error) is the usual cause.")
    scalar_error = None
    if cfg.scalar:
        scalar_text, scalar_error = _scalar(cfg, model, x, d)
        text += "\n\n" + scalar_text
        verdict += (f" The scalar loops of 001 give every weight's derivative within "
                    f"{scalar_error:.1e} (absolute) of the vector form.")
    result = ExplainResult(cfg, forward, backward, value, worst, text, verdict,
                           scalar_error=scalar_error)
    say(verbose, text + "\n" + verdict)
    outputs = outputs or Outputs(None, "explain")
    if outputs.png is not None:
        result.files.append(_plot(result, pairs, outputs.png))
    return result


def _scalar(cfg: ExplainConfig, model, x, d) -> tuple[str, float]:
    """Every weight's derivative by 001's scalar loops, next to the vector form's value."""
    w, f = scalar_backprop.weights_from_model(model)
    y, z = scalar_backprop.forward(w, list(x[0]), f)
    dw, dy, dz = scalar_backprop.backward(w, y, z, f, cfg.loss, list(d[0]))
    linears = [m for m in model.layers if isinstance(m, Linear)]
    p = cfg.precision
    lines = ["SCALAR FORMULATION (001): w_ij^(k) joins unit i of layer k-1 to unit j of layer k; "
             "i = 0 is the bias (y_0^(k-1) = 1).",
             "  dDiv/dy_i^(k) = sum_j w_ij^(k+1) dDiv/dz_j^(k+1);  dDiv/dz_i^(k) = dDiv/dy_i^(k) "
             "f_k'(z_i^(k));  dDiv/dw_ij^(k) = y_i^(k-1) dDiv/dz_j^(k)"]
    worst = 0.0
    for k in range(len(w) - 1, 0, -1):
        lines.append(f"  layer {k} ({f[k]}): " + ", ".join(
            f"dDiv/dz_{j}^({k}) = {dz[k][j]:.{p}f}" for j in range(1, len(dz[k]))))
        W_grad, b_grad = linears[k - 1].W.grad, linears[k - 1].b.grad
        for i in range(len(w[k])):
            for j in range(1, len(w[k][i])):
                vector = b_grad[j - 1] if i == 0 else W_grad[j - 1, i - 1]
                worst = max(worst, abs(dw[k][i][j] - vector))
                lines.append(
                    f"    dDiv/dw_{i},{j}^({k}) = y_{i}^({k - 1}) dDiv/dz_{j}^({k}) = "
                    f"{y[k - 1][i]:{p + 4}.{p}f} x {dz[k][j]:{p + 4}.{p}f} = "
                    f"{dw[k][i][j]:{p + 4}.{p}f}   (vector form: {vector:.{p}f}"
                    + (", the bias b_" + str(j) if i == 0 else "") + ")")
    return "\n".join(lines), worst


def _jacobian_kind(J: np.ndarray, act) -> str:
    """The notes' three cases: diagonal (scalar activation), a 1 at each group's argmax (the
    subgradient of max), full (vector activation)."""
    if J.shape[0] == J.shape[1] and np.allclose(J, np.diag(np.diag(J))):
        return "(diagonal: scalar activation)"
    if act.name == "maxout":
        return "(a 1 at each group's max: the subgradient of max)"
    return "(full: vector activation)"


def _finite_differences(cfg, modules, pairs, loss, x, d, ys, zs, backward) -> None:
    """Fill each backward step's ``numeric`` by central differences of the loss (or of f_k for the
    Jacobian), perturbing the very array the step is the gradient of."""
    eps = cfg.eps

    def rest(start: int, value: np.ndarray) -> float:
        """Div after running modules[start:] on ``value``."""
        for m in modules[start:]:
            value = m.forward(value)
        return float(loss(value, d))

    by_name = {s.name: s for s in backward}
    N = len(pairs)
    y_N = ys[-1].copy()
    by_name[f"grad_y_{N} Div"].numeric = central_differences(lambda: loss(y_N, d), y_N,
                                                             eps)
    for k in range(N, 0, -1):
        i, linear, act = pairs[k - 1]
        after_act = i + 2 if i + 1 < len(modules) and modules[i + 1] is act else i + 1
        z = zs[k - 1].copy()
        probe = copy.deepcopy(act)
        J = np.zeros((ys[k].shape[1], z.shape[1]))
        for j in range(z.shape[1]):
            zp, zm = z.copy(), z.copy()
            zp[0, j] += eps
            zm[0, j] -= eps
            J[:, j] = (probe.forward(zp) - probe.forward(zm))[0] / (2 * eps)
        by_name[f"J_y_{k}(z_{k})"].numeric = J
        by_name[f"grad_z_{k} Div"].numeric = central_differences(
            lambda: rest(after_act, probe.forward(z)), z, eps)
        by_name[f"grad_W_{k} Div"].numeric = central_differences(
            lambda: rest(0, x), linear.W.data, eps)
        by_name[f"grad_b_{k} Div"].numeric = central_differences(
            lambda: rest(0, x), linear.b.data, eps)
        y_prev = ys[k - 1].copy()
        by_name[f"grad_y_{k - 1} Div"].numeric = central_differences(
            lambda: rest(i, y_prev), y_prev, eps)


def _fmt(a: np.ndarray, precision: int, indent: int) -> str:
    body = np.array2string(np.asarray(a, float) + 0.0, precision=precision, suppress_small=True,
                           max_line_width=100, floatmode="fixed")
    return body.replace("\n", "\n" + " " * indent)


def _format(cfg, model, forward, backward, value) -> str:
    p = cfg.precision
    lines = [f"Network {' -> '.join(map(str, cfg.sizes))}, hidden {cfg.activation}, output "
             f"{cfg.output}, divergence {cfg.loss}; one sample (row vectors, as in the notes).",
             "", "FORWARD PASS  y_0 = x;  z_k = W_k y_(k-1) + b_k;  y_k = f_k(z_k)"]
    weights = {f"z_{k}": (m.W.data, m.b.data) for k, m in enumerate(
        [m for m in model.layers if isinstance(m, Linear)], start=1)}
    for s in forward:
        if s.name in weights:
            W, b = weights[s.name]
            k = s.name[2:]
            lines.append(f"  W_{k} {W.shape} = {_fmt(W, p, 14)}")
            lines.append(f"  b_{k} {b.shape} = {_fmt(b, p, 14)}")
        lines.append(f"  {s.name} = {s.formula}   shape {s.value.shape}")
        lines.append(f"      = {_fmt(s.value, p, 8)}")
    lines += [f"  Div = {value:.{p + 2}g}", "",
              "BACKWARD PASS  grad_z_k Div = grad_y_k Div J_y_k(z_k);  grad_y_(k-1) Div = "
              "grad_z_k Div W_k;", "               grad_W_k Div = y_(k-1) grad_z_k Div;  "
              "grad_b_k Div = grad_z_k Div", ""]
    for s in backward:
        check = "" if s.error is None else \
            f"   [finite differences: rel. error {s.error:.1e} {'ok' if s.error < 1e-6 else 'BAD'}]"
        lines.append(f"  {s.name} = {s.formula}   shape {s.value.shape}{check}")
        lines.append(f"      = {_fmt(s.value, p, 8)}")
    return "\n".join(lines)


def _plot(result: ExplainResult, pairs, path):
    N = len(pairs)
    fig, axes = plotting.figure(2, N + 1, 4.2 * (N + 1), 7.4,
                                "explain: one backward pass, every gradient checked by finite "
                                "differences")
    by_name = {s.name: s for s in result.backward}
    for k in range(1, N + 1):
        for row, (name, title) in enumerate(((f"grad_W_{k} Div", f"grad_W_{k} Div (out, in)"),
                                             (f"J_y_{k}(z_{k})", f"J_y_{k}(z_{k}) = dy_i / dz_j"))):
            ax = axes[row, k - 1]
            value = by_name[name].value
            lim = max(float(np.abs(value).max()), 1e-12)
            im = ax.imshow(value, cmap="RdBu_r", vmin=-lim, vmax=lim)
            if value.size <= 64:
                for (r, c), v in np.ndenumerate(value):
                    ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(v) > 0.6 * lim else "black")
            ax.set_title(title)
            ax.set_xticks(range(value.shape[1]))
            ax.set_yticks(range(value.shape[0]))
            ax.set_xlabel("j (input)" if row == 0 else "j (z_j)")
            ax.set_ylabel("i (output)" if row == 0 else "i (y_i)")
            ax.grid(False)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax = axes[0, N]
    checked = [s for s in result.backward if s.error is not None]
    errors = [max(s.error, 1e-17) for s in checked]
    ax.barh(range(len(checked)), errors, color="#2ca02c")
    ax.set_xscale("log")
    ax.axvline(1e-6, color="#d62728", ls="--", label="tolerance 1e-6")
    ax.set_yticks(range(len(checked)), [s.name for s in checked], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("relative error vs central differences")
    ax.set_title("every gradient, checked")
    ax.legend(loc="lower right")
    ax = axes[1, N]
    ax.axis("off")
    cfg = result.config
    ax.text(0.0, 1.0, "\n".join([
        f"network {' -> '.join(map(str, cfg.sizes))}",
        f"hidden {cfg.activation}, output {cfg.output}",
        f"divergence {cfg.loss}, Div = {result.loss:.4g}", "",
        "grad_z_k Div = grad_y_k Div J_y_k(z_k)",
        "grad_y_(k-1) Div = grad_z_k Div W_k",
        "grad_W_k Div = y_(k-1) grad_z_k Div",
        "grad_b_k Div = grad_z_k Div", "",
        f"worst relative error: {result.worst_error:.1e}"]),
        va="top", family="monospace", fontsize=9, transform=ax.transAxes)
    return plotting.save_png(fig, path)
