"""Rebuilding modules from their JSON ``config()``: the architecture half of a saved model."""

from __future__ import annotations

from handgrad.nn.activations import get_activation
from handgrad.errors import ModelFileError
from handgrad.nn.module import DEFAULT_DTYPE, Module

_BUILDERS: dict[str, callable] = {}


def register_module(type_name: str):
    """Class decorator: ``build`` turns a config with ``"type": type_name`` into this class,
    calling ``cls.from_config(config, dtype)``."""
    def decorate(cls):
        _BUILDERS[type_name] = cls.from_config
        return cls
    return decorate


def build(config: dict, dtype=DEFAULT_DTYPE) -> Module:
    """A module from its ``config()`` dictionary, with freshly initialised parameters."""
    from handgrad.nn.containers import Sequential
    from handgrad.nn.linear import Linear

    if not isinstance(config, dict) or "type" not in config:
        raise ModelFileError(f"not a module description: {config!r:.80}")
    kind = config["type"]
    options = {k: v for k, v in config.items() if k != "type"}
    if kind == "Sequential":
        return Sequential(*(build(c, dtype) for c in options["layers"]), dtype=dtype)
    if kind == "Linear":
        return Linear(dtype=dtype, **options)
    if kind == "Activation":
        name = options.pop("name")
        return get_activation(name, **options)
    if kind in _BUILDERS:
        return _BUILDERS[kind](options, dtype)
    raise ModelFileError(f"unknown module type {kind!r} in the model description")
