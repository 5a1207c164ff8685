"""The errors handgrad raises at its public boundary.

Every message names the thing at fault (the option, the file, the column, the array) and, where it
is not obvious, what to do. Each error is also a built-in type (ValueError, TypeError, OSError...),
so code that catches those keeps working.
"""

from __future__ import annotations


class HandgradError(Exception):
    """Base of handgrad's own errors."""


class OptionError(HandgradError, ValueError):
    """An option (a constructor argument, a CLI flag, a config key) with an unusable value."""


class ShapeError(HandgradError, ValueError):
    """An array whose shape does not fit where it is used."""


class NonFiniteError(HandgradError, ValueError):
    """NaN or inf where finite numbers are required."""


class DataError(HandgradError, ValueError):
    """A data file or data set that cannot be used as it is (names the file, column or rows)."""


class DivergenceError(HandgradError, FloatingPointError):
    """Training produced a non-finite loss or parameters."""


class ModelFileError(HandgradError, ValueError):
    """A model or checkpoint file that is missing, truncated or of the wrong format."""


class RunFolderError(HandgradError, RuntimeError):
    """A run folder that cannot be used: another run holds it, or its files conflict."""


def unknown_option(kind: str, name, known) -> OptionError:
    choices = ", ".join(sorted(known))
    return OptionError(f"unknown {kind} {name!r}; expected one of: {choices}")


__all__ = ["DataError", "DivergenceError", "HandgradError", "ModelFileError", "NonFiniteError",
           "OptionError", "RunFolderError", "ShapeError", "unknown_option"]
