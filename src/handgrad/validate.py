"""Validation at the public boundary, in one style: ``invalid NAME: VALUE (expected ...)``.

Constructors, ``fit``, ``__call__``, the CLI and the file loaders check what a user gives them with
these functions, once; the code inside runs unchecked. Each raises an error of
:mod:`handgrad.errors` whose message names the option or array, the value, and what was expected.
"""

from __future__ import annotations

import inspect
import math
from numbers import Integral, Real

import numpy as np

from handgrad.errors import NonFiniteError, OptionError, ShapeError, unknown_option


def check_option(name: str, value, low=None, high=None, low_open=False, high_open=False,
                 integer=False):
    """A finite number (an integer with ``integer=True``) in [low, high], with open ends as asked.

    Returns it as float (int). Booleans, strings, None, NaN and inf are refused, and so is 2.5 where
    an integer is expected: nothing is truncated or coerced.
    """
    if integer and isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)  # 3.0 from a TOML file or a JSON header is the integer 3
    expected = Integral if integer else Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, expected):
        kind = "an integer" if integer else "a number"
        raise OptionError(f"invalid {name}: {value!r} (expected {kind})")
    if not math.isfinite(value):
        raise OptionError(f"invalid {name}: {value!r} (expected a finite number)")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        lo, hi = "-inf" if low is None else low, "inf" if high is None else high
        raise OptionError(f"invalid {name}: {value!r} (expected a value in {left}{lo}, {hi}{right})")
    return int(value) if integer else float(value)


def check_int(name: str, value, low=None, high=None) -> int:
    """An integer in [low, high] (2.5 and True are refused, not truncated)."""
    return check_option(name, value, low, high, integer=True)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise OptionError(f"invalid {name}: {value!r} (expected True or False)")
    return bool(value)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise OptionError(f"invalid {name}: {value!r} (expected one of: {', '.join(choices)})")
    return value


def option_names(cls, skip=("self", "model")) -> list[str]:
    """The keyword options a constructor accepts (its signature is the single source of truth)."""
    return [p for p in inspect.signature(cls.__init__).parameters if p not in skip]


def check_options(kind: str, name: str, cls, options: dict, skip=("model",)) -> None:
    """OptionError naming any option ``cls`` does not take, with the valid ones."""
    valid = option_names(cls, skip=("self",) + tuple(skip))
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise OptionError(f"unknown option(s) {', '.join(map(repr, unknown))} for {kind} "
                          f"{name!r}; valid options: {', '.join(valid)}")


_BLOCK = 1 << 20  # elements checked at a time: a 1 MiB mask, not one the size of the data set


def all_finite(x: np.ndarray) -> bool:
    """np.isfinite(x).all() without a boolean copy of a large x (MNIST's 47 M entries: 47 MB)."""
    if x.size <= _BLOCK or x.ndim == 0:
        return bool(np.isfinite(x).all())
    # Slices along the first axis are views whatever the memory order (a reshape may copy).
    step = max(1, _BLOCK // max(1, x.size // len(x)))
    return all(np.isfinite(x[i:i + step]).all() for i in range(0, len(x), step))


def check_finite(name: str, x: np.ndarray) -> None:
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        return  # integers and booleans are always finite
    if all_finite(x):
        return
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    raise NonFiniteError(f"{name} contains {bad} NaN or inf value(s)")


def as_float_array(name: str, x, ndim: int | None = 2, dtype=None) -> np.ndarray:
    """A user array: numeric, of the given rank, finite; cast to ``dtype`` if given."""
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "c":
        # Casting to float would silently drop the imaginary part.
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{name} must be {ndim}-D (rows are samples), got shape {arr.shape}")
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    check_finite(name, arr)
    return arr


__all__ = ["all_finite", "as_float_array", "check_bool", "check_choice", "check_finite",
           "check_int", "check_option", "check_options", "option_names", "unknown_option"]
