"""The optimizers' test functions, written once: the rotated quadratic, Rosenbrock, Beale and the
saddle, and a module that makes a function E(w) trainable like a network.

A function module's parameters are the point w. ``forward(x)`` ignores x and returns [[E(w)]];
``backward`` adds grad_w E into ``w.grad``; :class:`ValueLoss` hands E through as the "loss", so
every optimizer races on it unchanged (``function_closure(module)``). A function written as
residuals, E = 1/2 ||r(w)||^2, also offers ``least_squares()`` (the residual protocol of
Levenberg-Marquardt, ``handgrad.optim.curvature.LeastSquares``).

Used by the arena (``handgrad.lab.arena``), the lab's trajectories, and the optimizer tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from handgrad.nn.losses import Loss
from handgrad.nn.module import Module, Parameter
from handgrad.train.closure import BatchClosure


# --- the functions ----------------------------------------------------------------------------
def rotated_quadratic(eigenvalues=(1.0, 20.0), angle_deg: float = 30.0) -> np.ndarray:
    """A = R diag(lambda) R^T for E = 1/2 w^T A w: the principal axes are the columns of R."""
    t = np.deg2rad(angle_deg)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return R @ np.diag(np.asarray(eigenvalues, float)) @ R.T


def rosenbrock_residual(u, v):
    """r(u, v) = sqrt(2) (1 - u, 10 (v - u^2)): E = 1/2 ||r||^2 = (1 - u)^2 + 100 (v - u^2)^2,
    minimum 0 at (1, 1)."""
    return math.sqrt(2.0) * (1.0 - u), math.sqrt(2.0) * (10.0 * (v - u * u))


def rosenbrock_jacobian(u) -> np.ndarray:
    """dr/d(u, v) of :func:`rosenbrock_residual`."""
    return math.sqrt(2.0) * np.array([[-1.0, 0.0], [-20.0 * float(u), 10.0]])


@dataclass(frozen=True)
class TestFunction:
    """E(w) on the plane with its analytic gradient, a known minimum (if any) and a view box.
    ``E(u, v)`` takes arrays too (contour plots); ``grad(u, v)`` is a 2-vector."""

    name: str
    title: str
    E: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[float, float], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float] | None
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log_levels: bool = False


def quadratic_function(eigenvalues=(1.0, 20.0), angle_deg: float = 30.0) -> TestFunction:
    A = rotated_quadratic(eigenvalues, angle_deg)

    def E(u, v):
        return 0.5 * (A[0, 0] * u * u + 2 * A[0, 1] * u * v + A[1, 1] * v * v)

    def grad(u, v):
        return A @ np.array([u, v])

    kappa = max(eigenvalues) / min(eigenvalues)
    return TestFunction("quadratic", f"ill-conditioned quadratic (kappa = {kappa:g})", E, grad,
                        start=(-1.6, 1.2), minimum=(0.0, 0.0), xlim=(-2.0, 2.0), ylim=(-2.0, 2.0))


def rosenbrock_function() -> TestFunction:
    def E(u, v):
        r1, r2 = rosenbrock_residual(u, v)
        return 0.5 * (r1 * r1 + r2 * r2)

    def grad(u, v):
        return rosenbrock_jacobian(u).T @ np.array(rosenbrock_residual(u, v))

    return TestFunction("rosenbrock", "Rosenbrock (1 - x)^2 + 100 (y - x^2)^2", E, grad,
                        start=(-1.2, 1.0), minimum=(1.0, 1.0), xlim=(-1.6, 1.6),
                        ylim=(-0.6, 1.8), log_levels=True)


def beale_function() -> TestFunction:
    c = (1.5, 2.25, 2.625)

    def E(u, v):
        return sum((ci - u + u * v ** (i + 1)) ** 2 for i, ci in enumerate(c))

    def grad(u, v):
        gu = gv = 0.0
        for i, ci in enumerate(c):
            r = ci - u + u * v ** (i + 1)
            gu += 2 * r * (v ** (i + 1) - 1)
            gv += 2 * r * u * (i + 1) * v ** i
        return np.array([gu, gv])

    return TestFunction("beale", "Beale's function", E, grad, start=(1.0, 1.4),
                        minimum=(3.0, 0.5), xlim=(-1.0, 4.0), ylim=(-1.5, 2.0), log_levels=True)


def saddle_function() -> TestFunction:
    def E(u, v):
        return u * u - v * v

    def grad(u, v):
        return np.array([2 * u, -2 * v])

    return TestFunction("saddle", "saddle x^2 - y^2", E, grad, start=(-1.5, 1e-3),
                        minimum=None, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0))


TEST_FUNCTIONS = {"quadratic": quadratic_function, "rosenbrock": rosenbrock_function,
                  "beale": beale_function, "saddle": saddle_function}


# --- a function as a module -------------------------------------------------------------------
class _Residuals:
    """E = 1/2 ||r||^2 for Levenberg-Marquardt: k = 1/2 and J = dr/dw at the current w."""

    def __init__(self, module):
        self.module = module

    def scale(self) -> float:
        return 0.5

    def jacobian(self) -> np.ndarray:
        return np.atleast_2d(self.module.jacobian(self.module.w))


class FunctionModule(Module):
    """E(w) as a module whose one parameter is the point w (see the module docstring).

    Subclasses give ``E(w)`` and ``gradient(w)``, or the residuals ``residual(w)`` and
    ``jacobian(w)``, from which E = 1/2 ||r||^2 and grad E = J^T r follow.
    """

    def __init__(self, w0, dtype=np.float64):
        super().__init__()
        self.params["w"] = Parameter(np.array(w0, dtype=dtype), decay=False)
        self.flatten(dtype)

    @property
    def w(self) -> np.ndarray:
        return self.params["w"].data

    def residual(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # abstract: a residual function gives r(w)

    def jacobian(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # abstract: a residual function gives dr/dw

    def E(self, w) -> float:
        r = np.asarray(self.residual(np.asarray(w, float)), float)
        return 0.5 * float(r @ r)

    def gradient(self, w) -> np.ndarray:
        w = np.asarray(w, float)
        return np.atleast_2d(self.jacobian(w)).T @ np.asarray(self.residual(w), float)

    def least_squares(self) -> _Residuals:
        """The residual protocol of Levenberg-Marquardt (for residual functions)."""
        if type(self).residual is FunctionModule.residual:
            raise ValueError(f"optimizer 'lm' (Levenberg-Marquardt) needs residuals; "
                             f"{type(self).__name__} is not written as E = 1/2 ||r(w)||^2")
        return _Residuals(self)

    def forward(self, x):
        return np.array([[self.E(self.w)]], dtype=self.w.dtype)

    def backward(self, grad_y):
        self.params["w"].grad += float(np.sum(grad_y)) * self.gradient(self.w)
        return np.zeros((1, 1), dtype=self.w.dtype)

    def config(self) -> dict:
        return {"type": type(self).__name__, "w": self.w.tolist()}


class Function2D(FunctionModule):
    """A :class:`TestFunction` of the plane as a module, started at its ``start`` (or ``start``)."""

    def __init__(self, fn: TestFunction, start=None):
        self.fn = fn
        super().__init__(fn.start if start is None else start)

    def E(self, w) -> float:
        return float(self.fn.E(float(w[0]), float(w[1])))

    def gradient(self, w) -> np.ndarray:
        return self.fn.grad(float(w[0]), float(w[1]))

    def config(self) -> dict:
        return {"type": "Function2D", "function": self.fn.name}


class Quadratic(FunctionModule):
    """E = 1/2 w^T A w + b^T w - E_min, written as 1/2 ||L^T w + L^-1 b||^2 with A = L L^T (exact
    near the minimum, where the plain form cancels), minimum w* = -A^-1 b."""

    def __init__(self, A, b, w0, dtype=np.float64):
        self.A, self.b = np.asarray(A, float), np.asarray(b, float)
        self.L = np.linalg.cholesky(self.A)
        self.c = np.linalg.solve(self.L, self.b)
        self.minimum = -np.linalg.solve(self.A, self.b)
        super().__init__(w0, dtype)

    def residual(self, w):
        return self.L.T @ w + self.c

    def jacobian(self, w):
        return self.L.T

    def objective(self, w) -> float:
        """The quadratic itself, 1/2 w^T A w + b^T w (without the constant E_min)."""
        w = np.asarray(w, float)
        return 0.5 * w @ self.A @ w + self.b @ w


def quadratic_with_minimum(condition: float = 20.0, angle_deg: float = 30.0, minimum=(1.0, -1.0)):
    """A and b of a 2-D quadratic with eigenvalues (1, condition), axes rotated, whose minimum
    -A^-1 b is ``minimum``."""
    A = rotated_quadratic((1.0, condition), angle_deg)
    return A, -A @ np.asarray(minimum, float)


class Rosenbrock(FunctionModule):
    """Rosenbrock's function (:func:`rosenbrock_residual`), minimum 0 at (1, 1)."""

    minimum = np.array([1.0, 1.0])

    def residual(self, w):
        return np.array(rosenbrock_residual(float(w[0]), float(w[1])))

    def jacobian(self, w):
        return rosenbrock_jacobian(w[0])


class ValueLoss(Loss):
    """The 'loss' of a function module: Div = y itself, grad_y Div = 1."""

    name = "value"

    def forward(self, y, d):
        self.shape = np.shape(y)
        return float(np.sum(y))

    def backward(self):
        return np.ones(self.shape)


def function_closure(module: FunctionModule) -> BatchClosure:
    """The closure an optimizer calls to evaluate E(w) and its gradient on a function module."""
    dummy = np.zeros((1, 1))
    return BatchClosure(module, ValueLoss(), dummy, dummy)


__all__ = ["TEST_FUNCTIONS", "Function2D", "FunctionModule", "Quadratic", "Rosenbrock",
           "TestFunction", "ValueLoss", "beale_function", "function_closure",
           "quadratic_function", "quadratic_with_minimum", "rosenbrock_function",
           "rosenbrock_jacobian", "rosenbrock_residual", "rotated_quadratic", "saddle_function"]
