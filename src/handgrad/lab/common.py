"""What the experiments share: option handling, output paths, small data sets, 2-D test functions
wrapped as handgrad Modules, and the relative error every check reports.

A 2-D test function is wrapped as a :class:`Function2D` module whose two parameters are the point
w = (w_1, w_2), so the optimizers that train networks race on it unchanged: ``forward`` returns
E(w) as a (1, 1) array, ``backward`` adds the analytic gradient grad_w E into ``w.grad``, and
:class:`ValueLoss` hands that value through as the "loss".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from handgrad.errors import unknown_option
from handgrad.nn.losses import Loss
from handgrad.nn.module import Module, Parameter
from handgrad.train.closure import BatchClosure


# --- options ---------------------------------------------------------------------------------
def make_config(cls, options: dict, experiment: str):
    """``cls(**options)`` with unknown option names reported by name (ValueError, not TypeError)."""
    known = {f.name for f in dataclasses.fields(cls)}
    for name in options:
        if name not in known:
            raise unknown_option(f"option for lab experiment {experiment!r}", name, known)
    return cls(**options)


def require(condition: bool, option: str, value, expected: str) -> None:
    """Constructor-style validation: ValueError naming the option, its value and the expectation."""
    if not condition:
        raise ValueError(f"invalid {option}={value!r}: expected {expected}")


@dataclass
class Outputs:
    """Where an experiment writes: ``<out_dir>/<name>.png`` and, if ``gif``, ``<name>.gif``."""

    out_dir: Path | None
    name: str
    gif: bool = False

    @property
    def png(self) -> Path | None:
        return None if self.out_dir is None else Path(self.out_dir) / f"{self.name}.png"

    @property
    def gif_path(self) -> Path | None:
        return None if (self.out_dir is None or not self.gif) else \
            Path(self.out_dir) / f"{self.name}.gif"


def say(verbose: bool, text: str) -> None:
    if verbose:
        print(text)


# --- comparisons ------------------------------------------------------------------------------
def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a||, ||b||, tiny): the figure every check in the lab reports."""
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / scale)


# --- small data sets -------------------------------------------------------------------------
def sine_regression(n: int = 64, seed: int = 0, noise: float = 0.05):
    """x ~ U(-2, 2), d = sin(1.5 x) + noise: a smooth 1-D regression a small tanh MLP can fit."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2.0, 2.0, size=(n, 1)), axis=0)
    d = np.sin(1.5 * x) + noise * rng.standard_normal((n, 1))
    return x, d


def two_spirals(n: int = 200, seed: int = 0, noise: float = 0.08):
    """Two interleaved half-turn spirals in 2-D with 0/1 labels (a (n, 1) target column)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = np.sqrt(rng.uniform(0.05, 1.0, size=half)) * 1.6 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (1.6 * np.pi)
    x = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * half, 2))
    d = np.concatenate([np.zeros(half), np.ones(half)]).reshape(-1, 1)
    return x, d


# --- 2-D test functions as Modules -----------------------------------------------------------
@dataclass(frozen=True)
class TestFunction:
    """E(w) on the plane with its analytic gradient, a known minimum (if any) and a view box."""

    name: str
    title: str
    E: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[float, float], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float] | None
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log_levels: bool = False


def rotated_quadratic(eigenvalues=(1.0, 20.0), angle_deg: float = 30.0):
    """A = R diag(lambda) R^T for E = 1/2 w^T A w: the principal axes are the columns of R."""
    theta = np.deg2rad(angle_deg)
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return R @ np.diag(np.asarray(eigenvalues, float)) @ R.T


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
        return (1 - u) ** 2 + 100 * (v - u * u) ** 2

    def grad(u, v):
        return np.array([-2 * (1 - u) - 400 * u * (v - u * u), 200 * (v - u * u)])

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


class Function2D(Module):
    """A 2-D test function as a Module with one parameter vector w = (w_1, w_2).

    forward(x) ignores x and returns [[E(w)]]; backward(grad_y) adds grad_y * grad_w E into w.grad
    (accumulating, as every module does) and returns a zero input gradient.
    """

    def __init__(self, fn: TestFunction, start=None):
        super().__init__()
        w0 = np.asarray(fn.start if start is None else start, dtype=np.float64)
        self.fn = fn
        self.params["w"] = Parameter(w0.copy(), decay=False)
        self.flatten(np.float64)

    def forward(self, x):
        u, v = self.params["w"].data
        return np.array([[self.fn.E(u, v)]], dtype=np.float64)

    def backward(self, grad_y):
        self.params["w"].grad += float(np.sum(grad_y)) * self.fn.grad(*self.params["w"].data)
        return np.zeros((1, 1))

    def config(self) -> dict:
        return {"type": "Function2D", "function": self.fn.name}


class ValueLoss(Loss):
    """The 'loss' of a Function2D: Div = y itself, grad_y Div = 1."""

    name = "value"

    def forward(self, y, d):
        self.shape = np.shape(y)
        return float(np.sum(y))

    def backward(self):
        return np.ones(self.shape)


def function_closure(module: Function2D) -> BatchClosure:
    """The closure an optimizer calls to evaluate E(w) and its gradient on a Function2D."""
    dummy = np.zeros((1, 1))
    return BatchClosure(module, ValueLoss(), dummy, dummy)
