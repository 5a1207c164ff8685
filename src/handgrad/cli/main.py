"""Entry point of the ``handgrad`` command.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from handgrad.errors import HandgradError

# The subcommand modules, in the order ``handgrad --help`` lists them.
COMMANDS = ("train", "lab", "evaluate", "predict", "info", "arena")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handgrad",
        description="Train neural networks whose every gradient is derived by hand (NumPy).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"handgrad.cli.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (HandgradError, ValueError, TypeError, FileNotFoundError, IndexError) as err:
        print(f"handgrad {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"handgrad {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
