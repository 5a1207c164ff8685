"""Gradient checking: hand-derived backward passes against central finite differences (float64).

Every entry of a gradient is estimated from the scalar objective s by the central difference

    n_i = (s(theta + eps e_i) - s(theta - eps e_i)) / (2 eps)

whose error is O(eps^2) from truncation plus about u |s| / eps from rounding (u = 2^-53 in float64).
With eps = 1e-6 that is about 1e-10 |s|, far below the default tolerance 1e-6; in float32 (u = 2^-24)
the rounding term alone is about 0.1 |s|, so checks run in float64 only.

What is checked, and against which objective:

- :func:`gradcheck` (a module, a layer or a whole network): s = sum(G * f(x)) with G a random upstream
  gradient. Then grad_x s = G J_f(x), exactly what ``module.backward(G)`` returns (001, "Vector
  formulation"), and grad_theta s is what backward adds into ``param.grad``. G is random, never all
  ones: with all ones the true input gradient of softmax is zero, so a wrong backward would pass.
- :func:`gradcheck_loss`: s = Div(y, d), against ``loss.backward()`` (the gradient w.r.t. y).
- :func:`gradcheck_model`: s = Div(model(x), d) end to end, w.r.t. every parameter and the input.

The error of one tensor (analytic a, numeric n, same shape) is the relative max-norm error

    err = max_i |a_i - n_i| / max(max_i |a_i|, max_i |n_i|, tiny),    tiny = 1e-12

so it is scale free, an entry that is zero in both counts as agreement, and a tensor passes when
err <= tol (default 1e-6). A non-finite analytic or numeric value gives err = inf.

Determinism. The objective must be a function of x and theta alone: the module's forward has to give
the same output every time it sees the same input. Modules with randomness (dropout) are checked
either in eval mode (``model.eval()``) or with the same mask each time, by passing ``before_forward``,
a callable run before every forward evaluation (e.g. one that reseeds the module's generator). Batch
norm in training mode is deterministic (batch statistics) and is checked as it is. Buffers (its
running statistics) and random streams are restored when the check ends (``Module.snapshot``). The
check evaluates the forward twice at the starting point and raises ``ValueError`` if the two
outputs differ.

Side effects: parameters are perturbed in place and restored bit for bit; afterwards each
``param.grad`` holds the analytic gradient at the starting point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from handgrad.nn.module import Module

TINY = 1e-12
DEFAULT_EPS = 1e-6
DEFAULT_TOL = 1e-6


@dataclass
class TensorCheck:
    """Analytic and numeric gradient of one tensor (the input or a parameter, by name)."""

    name: str
    analytic: np.ndarray
    numeric: np.ndarray

    @property
    def abs_error(self) -> float:
        """max_i |a_i - n_i|."""
        if self.analytic.size == 0:
            return 0.0
        return float(np.max(np.abs(self.analytic - self.numeric)))

    @property
    def error(self) -> float:
        """max_i |a_i - n_i| / max(max_i |a_i|, max_i |n_i|, tiny); inf if anything is non-finite."""
        if self.analytic.size == 0:
            return 0.0
        if not (np.isfinite(self.analytic).all() and np.isfinite(self.numeric).all()):
            return float("inf")
        scale = max(float(np.max(np.abs(self.analytic))), float(np.max(np.abs(self.numeric))), TINY)
        return self.abs_error / scale

    @property
    def elementwise_error(self) -> np.ndarray:
        """|a_i - n_i| / max(|a_i|, |n_i|, tiny) entry by entry, to locate a disagreement (a kink,
        one wrong row). Not the pass criterion: entries far below the tensor's scale are dominated
        by rounding (about 1e-10 |s| absolute), so their relative error is large even when right."""
        a, n = self.analytic, self.numeric
        return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), TINY)


@dataclass
class GradcheckReport:
    """Per-tensor errors of a gradient check, the worst of them and whether all pass at ``tol``."""

    checks: list[TensorCheck] = field(default_factory=list)
    eps: float = DEFAULT_EPS
    tol: float = DEFAULT_TOL

    @property
    def errors(self) -> dict[str, float]:
        """Relative error of every checked tensor, by name."""
        return {c.name: c.error for c in self.checks}

    @property
    def worst(self) -> tuple[str, float]:
        """(name, relative error) of the tensor that agrees least."""
        if not self.checks:
            return "", 0.0
        worst = max(self.checks, key=lambda c: c.error)
        return worst.name, worst.error

    @property
    def passed(self) -> bool:
        return self.worst[1] <= self.tol

    def __getitem__(self, name: str) -> TensorCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no tensor {name!r} in this gradcheck; checked: {list(self.errors)}")

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"gradcheck, central differences eps={self.eps:g}, tol={self.tol:g}: {verdict}",
                 f"{'tensor':<16} {'shape':<12} {'max|analytic|':>14} {'max|a - n|':>11} "
                 f"{'rel. error':>11}"]
        for c in self.checks:
            biggest = float(np.max(np.abs(c.analytic))) if c.analytic.size else 0.0
            flag = "" if c.error <= self.tol else "  <-- fails"
            lines.append(f"{c.name:<16} {str(c.analytic.shape):<12} {biggest:>14.3e} "
                         f"{c.abs_error:>11.2e} {c.error:>11.2e}{flag}")
        name, value = self.worst
        lines.append(f"worst: {name} ({value:.2e})")
        return "\n".join(lines)


# --- the public checks -----------------------------------------------------------------------

def gradcheck(module: Module, x, grad_y=None, eps: float = DEFAULT_EPS, rng=0,
              tol: float = DEFAULT_TOL, before_forward: Callable[[], None] | None = None,
              wrt_input: bool = True) -> GradcheckReport:
    """Check ``module.backward`` against finite differences of s = sum(grad_y * module.forward(x)).

    module          a float64 Module (layer, activation, container); ``model.to(np.float64)`` first
    x               input batch (rows are samples); a float64 copy is perturbed, x is not changed
    grad_y          upstream gradient, shape of the output; default: standard normal from ``rng``
    eps, tol        finite-difference step and pass threshold for the relative error
    before_forward  called before every forward evaluation (reseed dropout, for example)
    wrt_input       also check the gradient w.r.t. x (named ``input x``)
    """
    _require_float64(module)
    x = module.check_input(_float64_copy(x))
    hook = before_forward or (lambda: None)

    def output() -> np.ndarray:
        hook()
        return module.forward(x)

    with _restored_state(module):
        y = output()
        if grad_y is None:
            grad_y = np.random.default_rng(rng).standard_normal(y.shape)
        _require_float64_output(y)
        grad_y = np.asarray(grad_y, dtype=np.float64)
        if grad_y.shape != y.shape:
            raise ValueError(f"gradcheck: grad_y has shape {grad_y.shape} but the module's output "
                             f"has shape {y.shape}")
        _require_deterministic(y, output())

        module.zero_grad()
        output()
        grad_x = module.backward(grad_y.copy())
        analytic = _analytic_params(module)
        if wrt_input:
            analytic = {"input x": np.array(grad_x, dtype=np.float64), **analytic}

        def objective() -> float:
            return float(np.sum(grad_y * output()))

        targets = _targets(module, x if wrt_input else None)
        return _compare(objective, analytic, targets, eps, tol)


def gradcheck_loss(loss, y, d, eps: float = DEFAULT_EPS, tol: float = DEFAULT_TOL) -> GradcheckReport:
    """Check ``loss.backward()`` (grad_y Div) against finite differences of Div(y, d) in y.

    The tensor is named ``prediction y``. Keep y away from the loss's kinks (MAE at y = d, hinge at
    d y = 1): there the derivative does not exist and the two sides legitimately disagree.
    """
    y = _float64_copy(y)
    loss(y, d)
    analytic = {"prediction y": np.array(loss.backward(), dtype=np.float64)}
    return _compare(lambda: float(loss(y, d)), analytic, [("prediction y", y)], eps, tol)


def gradcheck_model(model: Module, loss, x, d, eps: float = DEFAULT_EPS, tol: float = DEFAULT_TOL,
                    before_forward: Callable[[], None] | None = None,
                    wrt_input: bool = True) -> GradcheckReport:
    """Check a model and its loss end to end: s = Div(model(x), d), w.r.t. every parameter of the
    model and (``wrt_input``) the input x, the gradient backpropagation returns as ``model.backward``'s
    result. The model must be float64; ``before_forward`` as in :func:`gradcheck`."""
    _require_float64(model)
    x = model.check_input(_float64_copy(x))
    hook = before_forward or (lambda: None)

    def objective() -> float:
        hook()
        return float(loss(model.forward(x), d))

    with _restored_state(model):
        hook()
        first = model.forward(x)
        _require_float64_output(first)
        hook()
        _require_deterministic(first, model.forward(x))

        model.zero_grad()
        objective()
        grad_x = model.backward(loss.backward())
        analytic = _analytic_params(model)
        if wrt_input:
            analytic = {"input x": np.array(grad_x, dtype=np.float64), **analytic}
        return _compare(objective, analytic, _targets(model, x if wrt_input else None), eps, tol)


# --- the machinery ----------------------------------------------------------------------------

def central_differences(objective: Callable[[], float], array: np.ndarray, eps: float) -> np.ndarray:
    """(s(a + eps e_i) - s(a - eps e_i)) / (2 eps) for every entry i of ``array``, which the
    objective reads and which is perturbed in place and restored exactly."""
    numeric = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)  # a view, so writes reach the array the objective reads
    if array.size and not np.shares_memory(flat, array):
        raise ValueError("central_differences needs a contiguous array to perturb in place")
    out = numeric.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        s_plus = objective()
        flat[i] = original - eps
        s_minus = objective()
        flat[i] = original
        out[i] = (s_plus - s_minus) / (2.0 * eps)
    return numeric


def _compare(objective, analytic: dict[str, np.ndarray], targets: Iterable[tuple[str, np.ndarray]],
             eps: float, tol: float) -> GradcheckReport:
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps}")
    targets = list(targets)
    if not targets:
        raise ValueError("gradcheck: nothing to check (no parameters and wrt_input=False)")
    checks = [TensorCheck(name, analytic[name], central_differences(objective, array, eps))
              for name, array in targets]
    return GradcheckReport(checks, eps=eps, tol=tol)


def _targets(module: Module, x: np.ndarray | None) -> list[tuple[str, np.ndarray]]:
    named = [(name, p.data) for name, p in module.named_parameters()]
    return ([("input x", x)] if x is not None else []) + named


def _analytic_params(module: Module) -> dict[str, np.ndarray]:
    return {name: np.array(p.grad, dtype=np.float64) for name, p in module.named_parameters()}


def _require_float64(module: Module) -> None:
    if module.parameters() and module.dtype != np.float64:
        raise TypeError(f"gradcheck needs a float64 model, got {module.dtype}: call "
                        "model.to(np.float64) first (in float32, rounding swamps finite differences)")


def _require_float64_output(y: np.ndarray) -> None:
    if np.asarray(y).dtype != np.float64:
        raise TypeError(f"gradcheck: the module's output is {np.asarray(y).dtype}, not float64; "
                        "something in it computes in lower precision")


def _float64_copy(x) -> np.ndarray:
    arr = np.array(x, dtype=np.float64)  # always a fresh, contiguous copy
    if not np.isfinite(arr).all():
        raise ValueError("gradcheck: the point to check at contains NaN or inf")
    return arr


def _require_deterministic(first: np.ndarray, second: np.ndarray) -> None:
    if not np.array_equal(first, second):
        raise ValueError("gradcheck: the module's forward is not deterministic (two evaluations at "
                         "the same point differ); call model.eval() or pass before_forward= a "
                         "callable that reseeds its randomness (the same dropout mask each time)")


class _restored_state:
    """Context manager: every module's buffers (batch norm's running statistics) and random streams
    as they were (Module.snapshot / restore)."""

    def __init__(self, module: Module):
        self.module, self.saved = module, module.snapshot()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.module.restore(self.saved)
        return False
