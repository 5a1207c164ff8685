"""Parsing ``KEY=VALUE`` options of the command line (``--opt beta1=0.9 --opt nesterov=true``)."""

from __future__ import annotations


def parse_value(text: str):
    """int, float, bool or None when the text is one, else the string itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_pairs(pairs, flag: str) -> dict:
    options = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        options[key.strip().replace("-", "_")] = parse_value(value)
    return options
