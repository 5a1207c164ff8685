"""What the experiments share: option handling, output paths, small data sets and the relative
error every check reports. The 2-D test functions and their module form (:class:`Function2D`) live
in :mod:`handgrad.testfunctions` and are re-exported here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handgrad.errors import unknown_option
# The 2-D test functions and their module form have one home; the experiments import them here.
from handgrad.testfunctions import (TEST_FUNCTIONS, Function2D, TestFunction,  # noqa: F401
                                    ValueLoss, beale_function, function_closure,
                                    quadratic_function, rosenbrock_function, rotated_quadratic,
                                    saddle_function)


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


def conclude(result, verdict: str, outputs: Outputs | None, name: str, verbose: bool, plot,
             animate=None):
    """Finish an experiment: attach and print its verdict, then draw what ``outputs`` asks for
    (``plot(png_path)``, and ``animate(gif_path)`` where the experiment has an animation)."""
    result.verdict = verdict
    say(verbose, verdict)
    outputs = outputs or Outputs(None, name)
    if outputs.png is not None:
        result.files.append(plot(outputs.png))
    if animate is not None and outputs.gif_path is not None:
        result.files.append(animate(outputs.gif_path))
    return result


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
