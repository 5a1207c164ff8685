"""Rebuilding modules from their JSON ``config()``: the architecture half of a saved model.

Every module type registers itself (``@register_module("Linear")``) with a ``from_config``
classmethod; :func:`build` looks the type up and knows no type itself, so this file imports none of
them (``handgrad.nn``'s ``__init__`` imports every module file, which registers it).
"""

from __future__ import annotations

from handgrad.errors import HandgradError, ModelFileError
from handgrad.nn.module import DEFAULT_DTYPE, Module

MAX_DEPTH = 64  # containers nested deeper than this are refused: no real model is, a crafted file may be

_BUILDERS: dict[str, callable] = {}


def register_module(type_name: str):
    """Class decorator: ``build`` turns a config with ``"type": type_name`` into this class,
    calling ``cls.from_config(options, dtype)`` with the config's other entries."""
    def decorate(cls):
        _BUILDERS[type_name] = cls.from_config
        return cls
    return decorate


def build(config: dict, dtype=DEFAULT_DTYPE) -> Module:
    """A module from its ``config()`` dictionary, with freshly initialised parameters."""
    depth = nesting_depth(config)
    if depth > MAX_DEPTH:
        raise ModelFileError(f"the model description nests containers {depth} deep (at most "
                             f"{MAX_DEPTH} are accepted)")
    return build_module(config, dtype)


def build_module(config: dict, dtype=DEFAULT_DTYPE) -> Module:
    """:func:`build` without the depth check (containers call it for their layers)."""
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ModelFileError(f"not a module description: {config!r:.80}")
    kind = config["type"]
    if kind not in _BUILDERS:
        raise ModelFileError(f"unknown module type {kind!r} in the model description (known: "
                             f"{', '.join(sorted(_BUILDERS))})")
    options = {k: v for k, v in config.items() if k != "type"}
    try:
        return _BUILDERS[kind](options, dtype)
    except ModelFileError:
        raise
    except (HandgradError, TypeError, ValueError, KeyError) as err:
        # a wrong or missing option in a file: name the module and what was wrong with it
        raise ModelFileError(f"invalid {kind} in the model description: "
                             f"{type(err).__name__}: {err}") from None


def nesting_depth(config) -> int:
    """How deep containers nest in a config (without recursion: a crafted file may nest 10^5)."""
    deepest, stack = 0, [(config, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        layers = node.get("layers") if isinstance(node, dict) else None
        if isinstance(layers, list):
            stack.extend((child, depth + 1) for child in layers)
    return deepest
