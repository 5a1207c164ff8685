"""What the experiments share: option handling, output paths, small data sets and the relative
error every check reports. The 2-D test functions and their module form (:class:`Function2D`) live
in :mod:`handgrad.testfunctions` and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handgrad.errors import OptionError, unknown_option
# The 2-D test functions and their module form have one home; the experiments import them here.
from handgrad.testfunctions import (TEST_FUNCTIONS, Function2D, TestFunction,  # noqa: F401
                                    ValueLoss, beale_function, function_closure,
                                    quadratic_function, rosenbrock_function, rotated_quadratic,
                                    saddle_function)


# --- options ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    """The values a numeric option accepts: a finite number in [low, high] (open ends as asked),
    an integer where the option's default is one, and not 0 with ``nonzero``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nonzero: bool = False

    def holds(self, v) -> bool:
        return (math.isfinite(v)
                and (self.low is None or (v > self.low if self.low_open else v >= self.low))
                and (self.high is None or (v < self.high if self.high_open else v <= self.high))
                and not (self.nonzero and v == 0))

    def describe(self, integer: bool) -> str:
        kind = "an integer" if integer else "a finite number"
        lo = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = None if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        if lo and hi:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"{kind} in {left}{self.low:g}, {self.high:g}{right}"
        else:
            text = " ".join(t for t in (kind, lo or hi) if t)
        return text + (", not 0" if self.nonzero else "")


FINITE = Span()                                   # what an option without a declared span gets
POSITIVE = Span(0, low_open=True)
NONNEGATIVE = Span(0)
NONZERO = Span(nonzero=True)
FRACTION = Span(0, 1, low_open=True, high_open=True)
PROBABILITY = Span(0, 1)


def at_least(n: float) -> Span:
    return Span(n)


def _numeric(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def check_ranges(cls, values: dict) -> None:
    """Every numeric option (and every number in a list option) of config ``cls`` within its span
    in ``cls.RANGES`` (finite if it declares none): OptionError naming the option otherwise.

    Whether an option is numeric, and an integer, follows its default value."""
    spans = getattr(cls, "RANGES", {})
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        value = values.get(f.name, default)
        many = isinstance(default, (tuple, list))
        samples = list(default) if many else [default]
        if not samples or not all(_numeric(v) for v in samples):
            continue
        integer = all(isinstance(v, (int, np.integer)) for v in samples)
        span = spans.get(f.name, FINITE)
        items = list(value) if many and isinstance(value, (tuple, list)) else [value]
        ok = (not many or isinstance(value, (tuple, list))) and len(items) >= 1 and all(
            _numeric(v) and span.holds(v) and (not integer or float(v).is_integer())
            for v in items)
        if not ok:
            flag = "--" + f.name.replace("_", "-")
            expected = span.describe(integer)
            if many:
                expected = "a comma-separated list of numbers, each " + expected
            shown = ",".join(f"{v:g}" if _numeric(v) else repr(v) for v in items) if many \
                else (f"{value:g}" if _numeric(value) else repr(value))
            raise OptionError(f"invalid {f.name} ({flag}): {shown} (expected {expected})")


def check_config(config) -> None:
    """:func:`check_ranges` on a config instance: the first line of every config's
    ``__post_init__``, so a config built directly is checked as ``make_config`` checks it."""
    check_ranges(type(config), vars(config))


def make_config(cls, options: dict, experiment: str):
    """``cls(**options)`` with unknown option names reported by name (ValueError, not TypeError)
    and every numeric option checked against the config's declared spans first."""
    known = {f.name for f in dataclasses.fields(cls)}
    for name in options:
        if name not in known:
            raise unknown_option(f"option for lab experiment {experiment!r}", name, known)
    check_ranges(cls, options)
    return cls(**options)


def require(condition: bool, option: str, value, expected: str) -> None:
    """A condition between options (one option's span is declared in its config's ``RANGES``):
    OptionError naming the option (and its flag), its value and the expectation."""
    if not condition:
        flag = "--" + option.replace("_", "-")
        raise OptionError(f"invalid {option} ({flag}): {value!r} (expected {expected})")


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
