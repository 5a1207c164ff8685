"""The errors handgrad raises at its public boundary, with messages that name the problem."""

from __future__ import annotations

import numpy as np

from handgrad.nn import kernels


class HandgradError(Exception):
    """Base of handgrad's own errors."""


class ShapeError(HandgradError, ValueError):
    """An array whose shape does not fit where it is used."""


class NonFiniteError(HandgradError, ValueError):
    """NaN or inf where finite numbers are required."""


class DivergenceError(HandgradError, FloatingPointError):
    """Training produced a non-finite loss or parameters."""


class ModelFileError(HandgradError, ValueError):
    """A model or checkpoint file that is missing, truncated or of the wrong format."""


def unknown_option(kind: str, name, known) -> ValueError:
    choices = ", ".join(sorted(known))
    return ValueError(f"unknown {kind} {name!r}; expected one of: {choices}")


_BLOCK = 1 << 20  # elements checked at a time: a 4 MiB mask, not one the size of the data set


def _all_finite(x: np.ndarray) -> bool:
    """np.isfinite(x).all() without a boolean copy of a large x (MNIST's 47 M entries: 47 MB)."""
    finite = kernels.all_finite(x)
    if finite is not None:
        return finite
    if x.size <= _BLOCK or x.ndim == 0:
        return bool(np.isfinite(x).all())
    # Slices along the first axis are views whatever the memory order (a reshape may copy).
    step = max(1, _BLOCK // (x.size // len(x)))
    return all(np.isfinite(x[i:i + step]).all() for i in range(0, len(x), step))


def check_finite(name: str, x: np.ndarray) -> None:
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        return  # integers and booleans are always finite
    if _all_finite(x):
        return
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    raise NonFiniteError(f"{name} contains {bad} NaN or inf value(s)")


def as_float_array(name: str, x, ndim: int | None = 2, dtype=None) -> np.ndarray:
    """Validate a user array: numeric, of the given rank, finite; cast to ``dtype`` if given."""
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
