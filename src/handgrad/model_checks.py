"""What a model file declares, checked before anything is built from it.

:func:`declared_tensors` walks the architecture (``Module.config()`` JSON) and lists the parameters
and buffers it would create, with their shapes, without creating them: the loader compares them with
the stored tensors and the memory they need with what the machine has, so a 6 kB file that declares
``Linear(20000, 20000)`` is refused in microseconds instead of after allocating gigabytes.
It also follows the width from layer to layer, so the input and output widths are known to
:func:`check_metadata`, which checks what ``predict`` and ``evaluate`` are handed (task, classes,
feature names, standardisation) against them.

Every function raises :class:`ValueError` with what is wrong; the loader adds the file's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NUMBER = (int, float)


@dataclass
class Declared:
    """The tensors an architecture creates (name -> shape) and the widths it maps between."""

    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    buffers: dict[str, tuple[int, ...]] = field(default_factory=dict)
    non_negative: set[str] = field(default_factory=set)   # buffers that must be >= 0 (variances)
    n_in: int | None = None
    n_out: int | None = None

    @property
    def n_values(self) -> int:
        return sum(math.prod(s) for s in (*self.params.values(), *self.buffers.values()))


def _int(value, name: str, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r:.40}")
    return value


def _bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r:.40}")
    return value


def _number(value, name: str, low: float, high: float = math.inf, low_open=False) -> float:
    ok = isinstance(value, NUMBER) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be a finite number {bound}"
                         f"{f' and <= {high}' if high < math.inf else ''}, got {value!r:.40}")
    return float(value)


def _keys(config: dict, kind: str, allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(config) - allowed - {"type"})
    if unknown:
        raise ValueError(f"{kind} has unknown option(s) {unknown}")
    missing = sorted(required - set(config))
    if missing:
        raise ValueError(f"{kind} lacks the option(s) {missing}")


def declared_tensors(architecture) -> Declared:
    declared = Declared()
    width = _walk(architecture, "", declared, None, depth=0)
    declared.n_out = width
    return declared


MAX_NESTING = 32


class _Located(ValueError):
    """An error already prefixed with the module it is about (containers pass it on as it is)."""


def _walk(config, prefix: str, declared: Declared, width, depth: int):
    """Add the tensors of module ``config`` (path ``prefix``) and return its output width."""
    where = f"layer {prefix.rstrip('.')}" if prefix else "the model"
    if depth > MAX_NESTING:
        raise _Located(f"{where}: containers nest more than {MAX_NESTING} deep")
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise _Located(f"{where}: not a module description (an object with a \"type\")")
    kind = config["type"]
    walker = _WALKERS.get(kind)
    if walker is None:
        raise _Located(f"{where}: unknown module type {kind!r:.40} (known: "
                       f"{', '.join(sorted(_WALKERS))})")
    try:
        return walker(config, prefix, declared, width, depth)
    except _Located:
        raise
    except ValueError as err:
        raise _Located(f"{where} ({kind}): {err}") from None


def _takes(declared: Declared, width, n: int, what: str):
    if declared.n_in is None:
        declared.n_in = n
    if width is not None and width != n:
        raise ValueError(f"{what} takes {n} inputs but the layer before gives {width}")
    return n


def _sequential(config, prefix, declared, width, depth):
    _keys(config, "Sequential", {"layers"}, {"layers"})
    layers = config["layers"]
    if not isinstance(layers, list):
        raise ValueError(f"layers must be a list, got {type(layers).__name__}")
    for i, layer in enumerate(layers):
        width = _walk(layer, f"{prefix}{i}.", declared, width, depth + 1)
    return width


def _linear(config, prefix, declared, width, depth):
    from handgrad.nn.init import INITIALIZERS
    _keys(config, "Linear", {"in_features", "out_features", "bias", "init", "bias_init"},
          {"in_features", "out_features"})
    n_in = _int(config["in_features"], "in_features")
    n_out = _int(config["out_features"], "out_features")
    for option in ("init", "bias_init"):
        if option in config and (not isinstance(config[option], str)
                                 or config[option] not in INITIALIZERS):
            raise ValueError(f"{option} {config[option]!r:.40} is not one of "
                             f"{', '.join(sorted(INITIALIZERS))}")
    _takes(declared, width, n_in, f"Linear({n_in}, {n_out})")
    declared.params[f"{prefix}W"] = (n_out, n_in)
    if _bool(config.get("bias", True), "bias"):
        declared.params[f"{prefix}b"] = (n_out,)
    return n_out


def _batchnorm(config, prefix, declared, width, depth):
    _keys(config, "BatchNorm1d", {"num_features", "eps", "momentum", "affine"}, {"num_features"})
    n = _int(config["num_features"], "num_features")
    _number(config.get("eps", 1e-5), "eps", 0.0, low_open=True)
    _number(config.get("momentum", 0.1), "momentum", 0.0, 1.0)
    _takes(declared, width, n, f"BatchNorm1d({n})")
    if _bool(config.get("affine", True), "affine"):
        declared.params[f"{prefix}gamma"] = (n,)
        declared.params[f"{prefix}beta"] = (n,)
    declared.buffers[f"{prefix}running_mean"] = (n,)
    declared.buffers[f"{prefix}running_var"] = (n,)
    declared.non_negative.add(f"{prefix}running_var")
    return n


def _activation(config, prefix, declared, width, depth):
    from handgrad.errors import HandgradError
    from handgrad.nn.activations import get_activation
    options = {k: v for k, v in config.items() if k not in ("type", "name")}
    name = config.get("name")
    if not isinstance(name, str):
        raise ValueError(f"the activation name must be a string, got {name!r:.40}")
    for key, value in options.items():
        if not isinstance(value, NUMBER) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"activation option {key} must be a finite number, got {value!r:.40}")
    try:  # an activation holds no tensors: building one allocates nothing
        activation = get_activation(name, **options)
    except (HandgradError, TypeError, ValueError) as err:
        raise ValueError(str(err)) from None
    pool = getattr(activation, "pool", 1)
    if width is not None and pool > 1:
        if width % pool:
            raise ValueError(f"maxout with pool {pool} needs a width divisible by it, got {width}")
        return width // pool
    return width


def _dropout(config, prefix, declared, width, depth):
    _keys(config, "Dropout", {"p", "seed"}, {"p"})
    _number(config["p"], "p", 0.0, 1.0)
    if config["p"] >= 1.0:
        raise ValueError(f"p must be below 1, got {config['p']}")
    seed = config.get("seed")
    if seed is not None:
        _int(seed, "seed", low=0)
    return width


_WALKERS = {"Sequential": _sequential, "Linear": _linear, "BatchNorm1d": _batchnorm,
            "Activation": _activation, "Dropout": _dropout}


# --- the metadata predict and evaluate use ------------------------------------------------------
def check_metadata(meta: dict, declared: Declared) -> None:
    """The entries of a model's metadata that predict, evaluate and info read, checked against the
    network's widths. Other entries (an estimator's, a user's) pass as they are."""
    if not isinstance(meta, dict):
        raise ValueError(f"the metadata must be an object, got {type(meta).__name__}")
    for key in ("target_name", "data"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise ValueError(f"{key} must be a string, got {meta[key]!r:.40}")
    if meta.get("settings") is not None and not isinstance(meta["settings"], dict):
        raise ValueError(f"settings must be an object, got {type(meta['settings']).__name__}")
    classes = _names(meta.get("classes", []), "classes")
    if "task" in meta:
        _check_task(meta["task"], classes, declared.n_out)
    elif classes and declared.n_out is not None and len(classes) not in (declared.n_out, 2):
        raise ValueError(f"{len(classes)} classes for a model with {declared.n_out} outputs")
    n_numeric = _check_inputs(meta, declared.n_in)
    if meta.get("scaler") is not None:
        _check_scaler(meta["scaler"], n_numeric)
    if meta.get("target_scale") is not None:
        _check_target_scale(meta["target_scale"], declared.n_out)
    if meta.get("data_file") is not None:
        _check_data_file(meta["data_file"])


def _check_data_file(record) -> None:
    """{"paths": [str, ...], "sha256": 64 hex digits}: the training data's identity."""
    if not isinstance(record, dict) or set(record) != {"paths", "sha256"}:
        raise ValueError("data_file must be an object with exactly paths and sha256")
    paths, digest = record["paths"], record["sha256"]
    if not (isinstance(paths, list) and 1 <= len(paths) <= 2 and
            all(isinstance(p, str) and p for p in paths)):
        raise ValueError("data_file paths must be one or two non-empty strings")
    if not (isinstance(digest, str) and len(digest) == 64 and
            all(c in "0123456789abcdef" for c in digest)):
        raise ValueError("data_file sha256 must be 64 lowercase hex digits")


def _names(values, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{what} must be a list of strings, got {values!r:.60}")
    if len(set(values)) != len(values):
        twice = sorted({v for v in values if values.count(v) > 1})
        raise ValueError(f"{what} name(s) {twice[:5]!r:.80} appear more than once")
    return values


def _check_task(task, classes: list[str], n_out) -> None:
    from handgrad.errors import HandgradError
    from handgrad.nn.activations import ACTIVATIONS
    from handgrad.nn.losses import LOSSES
    from handgrad.train.task import Task
    if not isinstance(task, dict) or set(task) - {"kind", "loss", "n_classes", "output"}:
        raise ValueError(f"task must be an object with kind, loss, n_classes, output; got "
                         f"{task!r:.80}")
    kind, loss = task.get("kind"), task.get("loss")
    if kind not in ("classification", "regression"):
        raise ValueError(f"task kind {kind!r:.40} is neither classification nor regression")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"task loss {loss!r:.40} is not one of {', '.join(sorted(LOSSES))}")
    output = task.get("output", "identity")
    if not isinstance(output, str) or output not in ACTIVATIONS:
        raise ValueError(f"task output {output!r:.40} is not an activation name")
    n_classes = task.get("n_classes", 0)
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 0:
        raise ValueError(f"task n_classes must be a non-negative integer, got {n_classes!r:.40}")
    try:
        task = Task(kind, loss, n_classes, output)
    except (HandgradError, TypeError, ValueError) as err:
        raise ValueError(f"task {err}") from None
    if kind == "classification":
        if n_classes < 2:
            raise ValueError(f"a classifier needs n_classes >= 2, got {n_classes}")
        if len(classes) != n_classes:
            raise ValueError(f"the task has {n_classes} classes but {len(classes)} class names "
                             f"are stored")
    elif classes:
        raise ValueError(f"a regression model with {len(classes)} class names")
    if n_out is not None and kind == "classification" and task.n_outputs != n_out:
        raise ValueError(f"the task ({n_classes} classes, loss {loss}) needs {task.n_outputs} "
                         f"output(s) but the network has {n_out}")


def _check_inputs(meta: dict, n_in) -> int | None:
    """Feature names (and one-hot preprocessing) against the input width; returns the number of
    numeric inputs the scaler covers."""
    features = _names(meta.get("feature_names", []), "feature_names")
    prep = meta.get("preprocessing")
    if prep is None:
        if features and n_in is not None and len(features) != n_in:
            raise ValueError(f"{len(features)} feature names for a network with {n_in} inputs")
        return n_in
    if not isinstance(prep, dict):
        raise ValueError(f"preprocessing must be an object, got {type(prep).__name__}")
    numeric = _names(prep.get("numeric", []), "preprocessing numeric")
    blocks = prep.get("categorical", [])
    if not isinstance(blocks, list) or not all(
            isinstance(b, list) and len(b) == 2 and isinstance(b[0], str) for b in blocks):
        raise ValueError("preprocessing categorical must be a list of [column, [category, ...]]")
    for name, categories in blocks:
        _names(categories, f"the categories of {name}")
    width = len(numeric) + sum(len(c) for _, c in blocks)
    if n_in is not None and width != n_in:
        raise ValueError(f"the preprocessing makes {width} inputs, the network takes {n_in}")
    raw = numeric + [name for name, _ in blocks]
    if features and sorted(features) != sorted(raw):
        raise ValueError("feature_names differ from the preprocessing's columns")
    if "input_names" in meta:
        inputs = _names(meta["input_names"], "input_names")
        if n_in is not None and len(inputs) != n_in:
            raise ValueError(f"{len(inputs)} input names for a network with {n_in} inputs")
    if prep.get("impute") not in (None, "mean", "median", "most_frequent"):
        raise ValueError(f"preprocessing impute {prep.get('impute')!r:.40} is unknown")
    if prep.get("fill_numeric") is not None:
        _finite_vector(prep["fill_numeric"], "preprocessing fill_numeric", len(numeric))
    if prep.get("fill_categorical") is not None:
        fills = _names_any(prep["fill_categorical"], "preprocessing fill_categorical")
        if len(fills) != len(blocks):
            raise ValueError(f"{len(fills)} categorical fill values for {len(blocks)} columns")
    return len(numeric)


def _names_any(values, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{what} must be a list of strings")
    return values


def _finite_vector(values, what: str, n) -> np.ndarray:
    if isinstance(values, np.ndarray):
        array = values
    elif isinstance(values, list) and all(isinstance(v, NUMBER) and not isinstance(v, bool)
                                          for v in values):
        array = np.asarray(values, dtype=np.float64)
    else:
        raise ValueError(f"{what} must be a list of numbers, got {values!r:.60}")
    if array.ndim != 1 or array.dtype.kind not in "fiu" or (n is not None and len(array) != n):
        raise ValueError(f"{what} must hold {n} numbers, got shape {array.shape} of "
                         f"{array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return array


def _check_scaler(scaler, n) -> None:
    if not isinstance(scaler, dict) or set(scaler) != {"mean", "std"}:
        raise ValueError("scaler must be an object with exactly mean and std")
    _finite_vector(scaler["mean"], "scaler mean", n)
    std = _finite_vector(scaler["std"], "scaler std", n)
    if np.any(std <= 0):
        raise ValueError("scaler std holds values <= 0 (every input would be divided by them)")


def _check_target_scale(scale, n_out) -> None:
    if not isinstance(scale, dict) or set(scale) != {"mean", "std"}:
        raise ValueError("target_scale must be an object with exactly mean and std")
    values = {}
    for key in ("mean", "std"):
        value = scale[key]
        if isinstance(value, NUMBER) and not isinstance(value, bool):
            values[key] = np.asarray([value], dtype=np.float64)
        else:
            values[key] = _finite_vector(value, f"target_scale {key}", n_out)
        if not np.all(np.isfinite(values[key])):
            raise ValueError(f"target_scale {key} is not finite")
    if np.any(values["std"] <= 0):
        raise ValueError("target_scale std must be > 0")
