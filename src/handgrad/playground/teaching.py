"""The three teaching views: explain this step, curvature, and the optimizers' race.

- :func:`explain`: one forward and one backward pass of the session's current network on its
  current mini-batch, written as the lab's explain trace writes it (001, "Vector formulation",
  "The Backward Pass"; ``handgrad.lab.explain``), with batch norm and dropout as the extra
  modules they are, and every weight and bias gradient checked by central differences. The
  session's weights, gradient, running statistics and dropout streams are put back afterwards.
- :func:`curvature`: the top eigenvalues of the Hessian of the training loss at the current
  weights (``handgrad.lab.hessian``), eta_opt = 1/lambda_max and the stability limit 2/lambda_max
  of gradient descent (001, "Issues: 1. The Hessian") against the current learning rate.
- :func:`race`: the lab's optimizer trajectories on a 2-D test function
  (``handgrad.lab.trajectories``), returned as paths over a contour map for the page to animate.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from handgrad.check import TensorCheck, central_differences
from handgrad.errors import OptionError
from handgrad.lab.common import Outputs
from handgrad.lab.hessian import extreme_eigenvalues, hessian
from handgrad.lab.trajectories import (OPTIMIZER_NAMES, TrajectoriesConfig, make_function,
                                       run_trajectories)
from handgrad.nn import BatchNorm1d, Dropout, Linear
from handgrad.nn.activations import Activation
from handgrad.train.closure import BatchClosure
from handgrad.validate import check_int

ROWS_SHOWN = 3            # batch rows printed per array
FD_EPS = 1e-6
FD_TOL = 1e-5            # agreement expected of central differences in float64
FULL_HESSIAN_MAX = 300    # parameters up to which the whole spectrum is computed
TOP = 5                   # eigenvalues shown
CONTOUR = 72              # the race's contour map is CONTOUR x CONTOUR


@contextmanager
def untouched(model):
    """The block may run the model; its parameters, gradient, running statistics and random
    streams are as before afterwards (a view must not change the training it shows)."""
    snap = model.snapshot(params=True)
    grad = model.grad.copy()
    try:
        yield snap
    finally:
        model.restore(snap)
        model.grad[...] = grad


def _fmt(a: np.ndarray, batch: bool = True) -> str:
    """An array as the trace prints it; of a batch (rows are samples) the first rows only."""
    a = np.asarray(a, np.float64)
    shown = a[:ROWS_SHOWN] if batch and a.ndim == 2 else a
    body = np.array2string(shown + 0.0, max_line_width=96,
                           formatter={"float_kind": lambda v: f"{v: .4g}"})
    body = body.replace("\n", "\n        ")
    if batch and a.ndim == 2 and a.shape[0] > ROWS_SHOWN:
        body += f"\n        ... ({a.shape[0] - ROWS_SHOWN} more rows of the batch)"
    return body


def _names(model, n_hidden: int):
    """For each module: (layer k, kind) with kind z (Linear), zhat (batch norm), y (activation)
    or ydrop (dropout)."""
    k, out = 0, []
    for m in model.layers:
        if isinstance(m, Linear):
            k += 1
            out.append((k, "z"))
        elif isinstance(m, BatchNorm1d):
            out.append((k, "zhat"))
        elif isinstance(m, Dropout):
            out.append((k, "ydrop"))
        else:
            out.append((k, "y"))
    return out


def _forward_line(m, k, kind, has_bn) -> tuple[str, str]:
    if kind == "z":
        return f"z_{k}", f"W_{k} y_{k - 1} + b_{k}"
    if kind == "zhat":
        return f"zhat_{k}", f"gamma_{k} (z_{k} - mu_B) / sqrt(sigma_B^2 + eps) + beta_{k}"
    if kind == "ydrop":
        return f"y_{k}", f"m_{k} * y_{k} / (1 - {m.p:g})   (dropout mask m_{k})"
    z = f"zhat_{k}" if has_bn else f"z_{k}"
    return f"y_{k}", f"{m.name or 'identity'}({z})"


def explain(session) -> dict:
    """One forward/backward pass of the current network on the current batch, as text."""
    model, loss, c = session.model, session.loss, session.config
    idx = session.last_batch
    if idx is None:
        idx = np.arange(min(len(session.x_train), c.batch_size or len(session.x_train)))
    x, d = session.x_train[idx], session.targets_train[idx]
    names = _names(model, len(c.hidden))
    N = sum(kind == "z" for _, kind in names)
    bn_layers = {k for k, kind in names if kind == "zhat"}
    lines = [f"Network {' -> '.join(map(str, c.sizes))}, hidden {c.activation}, head {c.head} "
             f"(loss {loss.name}); the current batch of {len(x)} samples, rows are samples "
             f"(first {ROWS_SHOWN} shown).", "",
             "FORWARD PASS  y_0 = x;  z_k = W_k y_(k-1) + b_k;  y_k = f_k(z_k)",
             f"  y_0 = x   shape {x.shape}", f"      = {_fmt(x)}"]
    with untouched(model) as snap:
        model.zero_grad()
        y = x
        for m, (k, kind) in zip(model.layers, names):
            if isinstance(m, Linear):
                lines.append(f"  W_{k} {m.W.shape} = {_fmt(m.W.data, batch=False)}")
                lines.append(f"  b_{k} {m.b.shape} = {_fmt(m.b.data, batch=False)}")
            y = m.forward(y)
            name, formula = _forward_line(m, k, kind, k in bn_layers)
            lines += [f"  {name} = {formula}   shape {y.shape}", f"      = {_fmt(y)}"]
        value = float(loss(y, d))
        lines += [f"  Div = {loss.name}(y_{N}, d) = {value:.6g}   (mean over the batch)", "",
                  "BACKWARD PASS  grad_z_k Div = grad_y_k Div J_y_k(z_k);  grad_y_(k-1) Div = "
                  "grad_z_k Div W_k;", "               grad_W_k Div = y_(k-1) grad_z_k Div;  "
                  "grad_b_k Div = grad_z_k Div (summed over the batch)", ""]
        grad = loss.backward()
        lines += [f"  grad_y_{N} Div = dDiv/dy_{N}   shape {grad.shape}", f"      = {_fmt(grad)}"]
        analytic = {}
        for m, (k, kind) in reversed(list(zip(model.layers, names))):
            grad = m.backward(grad)
            if kind == "y":
                z = f"zhat_{k}" if k in bn_layers else f"z_{k}"
                lines += [f"  grad_{z} Div = grad_y_{k} Div J_y_{k}({z})   (diagonal: "
                          f"{m.name or 'identity'} is a scalar activation)", f"      = {_fmt(grad)}"]
            elif kind == "ydrop":
                lines += [f"  grad_y_{k} Div <- grad_y_{k} Div * m_{k} / (1 - {m.p:g})   (the "
                          "forward's mask)", f"      = {_fmt(grad)}"]
            elif kind == "zhat":
                lines += [f"  grad_z_{k} Div = batch norm's backward of grad_zhat_{k} Div",
                          f"      = {_fmt(grad)}"]
            else:
                analytic[k] = (m, m.W.grad.copy(), m.b.grad.copy())
                lines += [f"  grad_W_{k} Div = (y_{k - 1}^T grad_z_{k} Div)^T, stored (out, in) "
                          f"like W   shape {m.W.shape}", f"      = {_fmt(m.W.grad, batch=False)}",
                          f"  grad_b_{k} Div = sum over the batch of grad_z_{k} Div",
                          f"      = {_fmt(m.b.grad, batch=False)}"]
                if grad is not None and k > 1:
                    lines += [f"  grad_y_{k - 1} Div = grad_z_{k} Div W_{k}", f"      = {_fmt(grad)}"]
        # Central differences of the same objective: streams and statistics rewound each time.
        model.restore(snap)
        closure = BatchClosure(model, loss, x, d)
        checks = []
        for k, (m, gW, gb) in sorted(analytic.items()):
            for name, param, g in ((f"grad_W_{k} Div", m.W, gW), (f"grad_b_{k} Div", m.b, gb)):
                numeric = central_differences(lambda: closure(backward=False), param.data, FD_EPS)
                checks.append(TensorCheck(name, g, numeric))
    # Relative to the largest gradient entry of the network: a bias in front of batch norm has a
    # zero gradient, whose own relative error would compare rounding noise with rounding noise.
    scale = max(max(float(np.abs(ch.analytic).max()), float(np.abs(ch.numeric).max()))
                for ch in checks) or 1.0
    errors = [(ch.name, ch.abs_error / scale) for ch in checks]
    worst = max(e for _, e in errors)
    lines += ["", f"FINITE-DIFFERENCE CHECK (central differences of Div, eps = {FD_EPS:g}; "
              "errors relative to the largest gradient entry)"]
    lines += [f"  {name}: {e:.1e} {'ok' if e < FD_TOL else 'BAD'}" for name, e in errors]
    verdict = (f"All {len(checks)} weight and bias gradients agree with central differences; "
               f"worst relative error {worst:.1e}." if worst < FD_TOL else
               f"A gradient disagrees with central differences (worst relative error "
               f"{worst:.1e}): near a kink of relu/hard tanh the difference quotient straddles "
               "it; otherwise this is a bug.")
    return {"type": "explain", "text": "\n".join(lines), "verdict": verdict,
            "worst_error": worst, "loss": value}


def curvature(session) -> dict:
    """Top Hessian eigenvalues of the training loss and the learning rates they imply."""
    model, c = session.model, session.config
    P = model.num_parameters
    closure = BatchClosure(model, session.loss, session.x_train, session.targets_train)
    dropout = c.dropout > 0
    with untouched(model):
        if dropout:
            model.eval()  # the loss without dropout's noise: one function of W to differentiate
        try:
            if P <= FULL_HESSIAN_MAX:
                values = np.linalg.eigvalsh(hessian(closure))[::-1]
                top, lam_min, method = values[:TOP], float(values[-1]), "full Hessian"
            else:
                ends = extreme_eigenvalues(closure, smallest=True)
                top, lam_min = np.array([ends.lambda_max]), ends.lambda_min
                method = f"Lanczos, {ends.products} Hessian-vector products"
        finally:
            model.train()
    lam_max, lr = float(top[0]), float(session.optimizer.lr)
    out = {"type": "curvature", "eigenvalues": [float(v) for v in top], "lambda_min": lam_min,
           "lambda_max": lam_max, "parameters": P, "method": method, "lr": lr,
           "optimizer": c.optimizer, "eta_opt": None, "eta_max": None}
    where = ("the training loss over the whole training set" +
             (" with dropout off" if dropout else "") + " (the L1/L2 terms not included)")
    if lam_max <= 0:
        out["verdict"] = (f"lambda_max = {lam_max:.3g} <= 0 for {where}: no direction curves up, "
                          "so eta_opt = 1/lambda_max is not defined here.")
        return out
    eta_opt, eta_max = 1.0 / lam_max, 2.0 / lam_max
    out.update(eta_opt=eta_opt, eta_max=eta_max)
    if lr < eta_opt:
        regime = "below eta_opt: gradient descent approaches along the top direction without " \
                 "overshooting"
    elif lr < eta_max:
        regime = "between eta_opt and 2 eta_opt: gradient descent oscillates along the top " \
                 "direction but converges"
    else:
        regime = "above 2 eta_opt: gradient descent diverges along the top eigenvector"
    note = "" if c.optimizer in ("sgd", "momentum", "nesterov") else \
        f" ({c.optimizer} rescales its steps, so these bounds are those of plain GD)"
    out["verdict"] = (f"Hessian of {where}, {P} parameters ({method}): lambda_max = "
                      f"{lam_max:.4g}, eta_opt = 1/lambda_max = {eta_opt:.4g}, 2/lambda_max = "
                      f"{eta_max:.4g}. The current eta = {lr:.4g} is {regime}{note}.")
    return out


def race(message: dict) -> dict:
    """The lab's optimizers raced on one 2-D test function: paths and a contour map."""
    function = message.get("function", "rosenbrock")
    optimizers = message.get("optimizers", list(TrajectoriesConfig.optimizers))
    if not isinstance(optimizers, list) or not optimizers:
        raise OptionError(f"invalid optimizers: {optimizers!r} (expected a non-empty list of: "
                          f"{', '.join(OPTIMIZER_NAMES)})")
    steps = check_int("steps", message.get("steps", 200), 1, 2000)
    if not isinstance(function, str):
        raise OptionError(f"invalid function: {function!r} (expected a test function's name)")
    cfg = TrajectoriesConfig(functions=(function,), optimizers=tuple(optimizers), steps=steps)
    result = run_trajectories(outputs=Outputs(None, "trajectories"), verbose=False, config=cfg)
    fn = make_function(function, cfg)
    xs = np.linspace(*fn.xlim, CONTOUR)
    ys = np.linspace(*fn.ylim, CONTOUR)[::-1]          # top row first, as a canvas draws
    X, Y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        E = fn.E(X, Y)
    E = np.log10(E - np.nanmin(E) + 1e-3) if fn.log_levels else E
    return {"type": "race", "function": function, "title": fn.title,
            "xlim": list(fn.xlim), "ylim": list(fn.ylim), "size": CONTOUR,
            "contour": [round(float(v), 4) for v in E.ravel()],
            "minimum": None if fn.minimum is None else list(map(float, fn.minimum)),
            "racers": [{"optimizer": r.optimizer, "lr": r.lr, "reached": r.reached,
                        "diverged": r.diverged, "path": np.round(r.path, 4).tolist()}
                       for r in result.races],
            "verdict": result.verdict}
