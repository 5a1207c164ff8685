"""The options of ``handgrad train``: one table of their types and ranges, used for the command
line and for TOML config files alike, and the parsing of ``KEY=VALUE`` pairs
(``--opt beta1=0.9 --opt nesterov=true``).

Each checker takes the option's name as the user wrote it (``--lr``, or ``lr in run.toml``) and
its value, and returns the value in one canonical form (hidden sizes as a list of ints, optimizer
options as a dict) or raises OptionError: ``invalid NAME: VALUE (expected ...)``. Nothing is
truncated or coerced: ``batch_size = 1.5`` and ``batchnorm = "no"`` are refused, not read as 1 and
True.
"""

from __future__ import annotations

from handgrad.errors import OptionError
from handgrad.validate import check_bool, check_choice, check_int, check_option


def parse_value(text: str):
    """int, float, bool or None when the text is one; a list of numbers when it is a comma-
    separated list of them, bare or in brackets (``betas=0.8,0.99``, ``[0.8,0.99]``,
    ``(0.8,0.99)``: the same list a TOML file's ``betas = [0.8, 0.99]`` gives); else the string
    itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    numbers = parse_numbers(text)
    return text if numbers is None else numbers


def parse_number(text: str):
    """int or float, or None when the text is neither."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def parse_numbers(text: str):
    """A number, a list of numbers (comma-separated, optionally in [] or ()), or None."""
    stripped = text.strip()
    bracketed = stripped[:1] + stripped[-1:] in ("[]", "()")
    if not bracketed and "," not in stripped:
        return parse_number(text)
    inner = stripped[1:-1].strip() if bracketed else stripped
    if not inner:
        return [] if bracketed else None
    parts = [parse_number(part) for part in inner.split(",")]
    return None if any(part is None for part in parts) else parts


def parse_pairs(pairs, flag: str) -> dict:
    options = {}
    for pair in pairs or []:
        if not isinstance(pair, str) or "=" not in pair:
            raise OptionError(f"invalid {flag}: {pair!r} (expected KEY=VALUE)")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key.isidentifier():
            raise OptionError(f"invalid {flag}: {pair!r} (expected KEY=VALUE with a name as KEY)")
        options[key] = parse_value(value)
    return options


# --- checkers: (name, value) -> canonical value ---------------------------------------------------
def text(name, value):
    if not isinstance(value, str) or not value.strip():
        raise OptionError(f"invalid {name}: {value!r} (expected a non-empty text)")
    return value


def optional(check):
    return lambda name, value: None if value is None else check(name, value)


def number(low=None, high=None, low_open=False, high_open=False):
    return lambda name, value: check_option(name, value, low, high, low_open, high_open)


def integer(low=None, high=None):
    return lambda name, value: check_int(name, value, low, high)


def choice(*choices):
    return lambda name, value: check_choice(name, value, choices)


def hidden(name, value):
    """Hidden layer sizes: "64,32" (command line), [64, 32] or 64 (TOML), "" or [] for none."""
    sizes = value if isinstance(value, list) else [value]
    if isinstance(value, str):
        sizes = [] if not value.strip() else [p.strip() for p in value.split(",")]
    try:
        return [check_int("size", int(s) if isinstance(s, str) else s, 1) for s in sizes]
    except (OptionError, ValueError):
        raise OptionError(f"invalid {name}: {value!r} (expected positive integer layer sizes, "
                          "e.g. 64,32)") from None


def pairs(name, value):
    """Optimizer or schedule options: ["k=v", ...] (command line) or a TOML table."""
    if isinstance(value, dict):
        for key in value:
            if not key.isidentifier():
                raise OptionError(f"invalid {name}: key {key!r} (expected option names)")
        return {k.replace("-", "_"): v for k, v in value.items()}
    if isinstance(value, list):
        return parse_pairs(value, name)
    raise OptionError(f"invalid {name}: {value!r} (expected KEY=VALUE pairs or a table)")


# The settings of a run: default and checker. ``None`` defaults of optimizer, lr, weight decay,
# loss and output are chosen per task once the data is known (cli/train.py, TASK_DEFAULTS).
SETTINGS = {
    "data": ("digits", text),
    "target": (None, optional(text)),
    "impute": (None, optional(choice("mean", "median", "most_frequent"))),
    "encoding": (None, optional(text)),
    "hidden": ([128], hidden),
    "activation": ("relu", text),
    "output": (None, optional(text)),
    "loss": (None, optional(text)),
    "init": (None, optional(text)),
    "optimizer": (None, optional(text)),
    "lr": (None, optional(number(0.0, low_open=True))),
    "opt": ({}, pairs),
    "schedule": (None, optional(text)),
    "sched": ({}, pairs),
    "batch_size": (32, integer(1)),
    "epochs": (40, integer(1)),
    "seed": (0, integer(0, 2**63 - 1)),
    "dtype": ("float32", choice("float32", "float64")),
    "weight_decay": (None, optional(number(0.0))),
    "l1": (0.0, number(0.0)),
    "l2": (0.0, number(0.0)),
    "dropout": (0.0, number(0.0, 1.0, high_open=True)),
    "batchnorm": (False, check_bool),
    "val_size": (0.1, number(0.0, 1.0, high_open=True)),
    "test_size": (0.2, number(0.0, 1.0, True, True)),
    "tol": (None, optional(number(0.0))),
    "running_tol": (None, optional(number(0.0))),
    "running_lambda": (0.05, number(0.0, 1.0, low_open=True)),
    "patience": (None, optional(integer(1))),
    "checkpoint_every": (1, integer(1)),
    "name": (None, optional(text)),
    "runs_dir": ("runs", text),
    "resume": (False, check_bool),
    "no_progress": (False, check_bool),
    "threads": (None, optional(integer(1))),
    "distributed": (None, optional(choice("mpi"))),
    "sync_batchnorm": (False, check_bool),
}
DEFAULTS = {key: default for key, (default, _) in SETTINGS.items()}


def check_setting(key: str, value, name: str):
    """The canonical value of setting ``key``, or OptionError naming it as ``name``."""
    return SETTINGS[key][1](name, value)
