"""A sweep's search space: a TOML file of ``handgrad train`` options.

    [sweep]                      # how to search (all optional)
    samples = 8                  # random draws per grid point (needed when a distribution is given)
    seed = 0                     # seed of the random draws
    metric = "val_accuracy"      # what ranks trials: a history key (last epoch) or test_<metric>
    mode = "max"                 # max or min (default: min for losses and errors, max otherwise)
    halving = true               # successive halving over epochs
    min_epochs = 2               # the first rung's budget
    eta = 2                      # each rung keeps 1/eta of the trials for eta times the epochs

    data = "digits"              # a scalar: the same in every trial
    epochs = 10
    optimizer = ["sgd", "adam"]  # a list: one value per grid point
    seed = [0, 1]
    lr = { log_uniform = [1e-3, 1e-1] }   # a distribution: drawn per trial
    opt = { momentum = 0.9 }     # --opt KEY=VALUE pairs (a list of such tables: a grid)

Lists make the Cartesian product (scikit-learn's ParameterGrid); distributions are drawn
``samples`` times for every grid point (Ray Tune's ``num_samples`` with grid search). The
distributions: ``uniform = [a, b]``, ``log_uniform = [a, b]`` (0 < a), ``int_uniform = [a, b]``
(both ends included) and ``choice = [v1, v2, ...]``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handgrad.errors import OptionError

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
SWEEP_KEYS = ("samples", "seed", "metric", "mode", "halving", "min_epochs", "eta")
# set by the sweep for every trial: a space may not choose them
RESERVED = ("config", "runs_dir", "name", "resume", "no_progress", "distributed")


@dataclass
class Space:
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    distributions: dict = field(default_factory=dict)
    samples: int = 1
    seed: int = 0
    metric: str = "val_accuracy"
    mode: str | None = None
    halving: bool = False
    min_epochs: int = 1
    eta: int = 2
    source: str = "space"

    @property
    def swept(self) -> list[str]:
        return [*self.grid, *self.distributions]

    def trials(self) -> list[dict]:
        """Every trial's settings, in a fixed order (the same on every run of the file)."""
        rng = np.random.default_rng(self.seed)
        names = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[n] for n in names)):
            for _ in range(self.samples):
                settings = dict(self.fixed)
                settings.update(zip(names, values))
                for key, (kind, args) in self.distributions.items():
                    settings[key] = draw(rng, kind, args)
                out.append(settings)
        return out

    def budgets(self) -> list[int]:
        """Successive halving's epoch budgets: min_epochs * eta^r below epochs, then epochs."""
        epochs = int(self.fixed["epochs"])
        rungs = []
        b = self.min_epochs
        while b < epochs:
            rungs.append(b)
            b *= self.eta
        return rungs + [epochs]

    def better(self) -> str:
        if self.mode is not None:
            return self.mode
        lower = any(w in self.metric for w in ("loss", "mse", "mae", "error"))
        return "min" if lower else "max"


def draw(rng, kind: str, args):
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    if kind == "int_uniform":
        return int(rng.integers(args[0], args[1], endpoint=True))
    return args[int(rng.integers(len(args)))]


def trial_key(settings: dict) -> str:
    """A short name for a trial, the same wherever and whenever its settings are hashed."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_space(path) -> Space:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"search space file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise OptionError(f"{path}: not valid TOML: {err}") from None
    return parse_space(raw, str(path))


def parse_space(raw: dict, source: str = "space") -> Space:
    from handgrad.cli.train import DEFAULTS

    raw = dict(raw)
    space = Space(source=source)
    _sweep_settings(space, raw.pop("sweep", {}), source)
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in RESERVED:
            raise OptionError(f"{source}: {key} is set by the sweep for each trial; remove it")
        if name not in DEFAULTS:
            raise OptionError(f"{source}: unknown option {key!r} (expected a `handgrad train` "
                              f"option: {', '.join(sorted(set(DEFAULTS) - set(RESERVED)))}, "
                              f"or the [sweep] table)")
        _add_option(space, name, value, source)
    if not (space.grid or space.distributions):
        raise OptionError(f"{source}: nothing is swept (give an option a list of values or a "
                          f"distribution such as {{ log_uniform = [1e-3, 1e-1] }})")
    if space.halving:
        if "epochs" in space.swept:
            raise OptionError(f"{source}: with halving the epochs are the budget; give epochs "
                              f"as one number (the last rung's), not a list")
        space.fixed.setdefault("epochs", DEFAULTS["epochs"])
    return space


def _sweep_settings(space: Space, table, source: str) -> None:
    if not isinstance(table, dict):
        raise OptionError(f"{source}: [sweep] must be a table, got {table!r}")
    unknown = sorted(set(table) - set(SWEEP_KEYS))
    if unknown:
        # TOML puts every key after a [sweep] header into that table: options belong above it
        from handgrad.cli.train import DEFAULTS

        misplaced = [k for k in unknown if k.replace("-", "_") in DEFAULTS]
        hint = (f"; {misplaced} are `handgrad train` options: put them above the [sweep] header "
                f"(TOML puts every key after a header into that table)" if misplaced else "")
        raise OptionError(f"{source}: unknown [sweep] key(s) {unknown} "
                          f"(expected: {', '.join(SWEEP_KEYS)}){hint}")
    for key in ("samples", "seed", "min_epochs", "eta"):
        if key in table:
            value = table[key]
            low = 0 if key == "seed" else (2 if key == "eta" else 1)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise OptionError(f"invalid sweep.{key}: {value!r} (expected an integer >= {low})")
            setattr(space, key, value)
    if "metric" in table:
        if not isinstance(table["metric"], str) or not table["metric"]:
            raise OptionError(f"invalid sweep.metric: {table['metric']!r} (expected a name such "
                              f"as val_accuracy, val_loss, test_accuracy)")
        space.metric = table["metric"]
    if "mode" in table:
        if table["mode"] not in ("min", "max"):
            raise OptionError(f"invalid sweep.mode: {table['mode']!r} (expected min or max)")
        space.mode = table["mode"]
    if "halving" in table:
        if not isinstance(table["halving"], bool):
            raise OptionError(f"invalid sweep.halving: {table['halving']!r} (expected true or "
                              f"false)")
        space.halving = table["halving"]


def _add_option(space: Space, name: str, value, source: str) -> None:
    if isinstance(value, list):
        if not value:
            raise OptionError(f"{source}: {name} = [] has no values to sweep")
        space.grid[name] = value
    elif isinstance(value, dict) and name not in ("opt", "sched"):
        space.distributions[name] = _distribution(name, value, source)
    elif isinstance(value, dict) and set(value) & set(DISTRIBUTIONS) and len(value) == 1:
        space.distributions[name] = _distribution(name, value, source)
    else:
        space.fixed[name] = value


def _distribution(name: str, table: dict, source: str):
    if len(table) != 1 or next(iter(table)) not in DISTRIBUTIONS:
        raise OptionError(f"{source}: invalid distribution for {name}: {table!r} (expected one of "
                          f"{', '.join(f'{{ {d} = [...] }}' for d in DISTRIBUTIONS)})")
    kind, args = next(iter(table.items()))
    if not isinstance(args, list) or not args:
        raise OptionError(f"{source}: {name}: {kind} needs a list, got {args!r}")
    if kind != "choice":
        numeric = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
        if len(args) != 2 or not numeric or not args[0] < args[1]:
            raise OptionError(f"{source}: {name}: {kind} needs [low, high] with low < high, "
                              f"got {args!r}")
        if kind == "log_uniform" and args[0] <= 0:
            raise OptionError(f"{source}: {name}: log_uniform needs 0 < low, got {args!r}")
        if kind == "int_uniform" and not all(isinstance(a, int) for a in args):
            raise OptionError(f"{source}: {name}: int_uniform needs integers, got {args!r}")
    return kind, args


def train_argv(settings: dict) -> list[str]:
    """The ``handgrad train`` arguments for one trial's settings."""
    argv = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif name in ("opt", "sched"):
            pairs = value.items() if isinstance(value, dict) else \
                (p.split("=", 1) for p in ([value] if isinstance(value, str) else value))
            for k, v in pairs:
                argv += [flag, f"{k}={v}"]
        elif name == "hidden" and isinstance(value, (list, tuple)):
            argv += [flag, ",".join(str(h) for h in value)]
        else:
            argv += [flag, str(value)]
    return argv
