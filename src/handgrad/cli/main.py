"""Entry point of the ``handgrad`` command.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit code).

A user's mistake (a bad option, a missing or unreadable file, a full disk) ends with one line on
stderr and exit code 2, never a traceback. Any other exception is a bug in handgrad and keeps its
traceback (``HANDGRAD_TRACEBACK=1`` shows one for user errors too).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import linecache
import os
import sys
import warnings
from pathlib import Path

from handgrad.errors import HandgradError

# The subcommand modules, in the order ``handgrad --help`` lists them.
COMMANDS = ("train", "lab", "evaluate", "predict", "info", "arena", "sweep", "playground")


class UsageError(Exception):
    """A command line argparse cannot parse (its message, without the usage block)."""


class Parser(argparse.ArgumentParser):
    """argparse with its errors raised (one line in ``main``) instead of printed with the usage
    text and a SystemExit; subcommand parsers inherit the class."""

    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="handgrad",
        description="Train neural networks whose every gradient is derived by hand (NumPy).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"handgrad.cli.{name}").register(sub)
    return parser


PACKAGE = Path(__file__).resolve().parent.parent


def user_error(err: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug."""
    if isinstance(err, HandgradError):
        return str(err)
    if isinstance(err, OSError):
        return os_error(err)
    if isinstance(err, (ValueError, TypeError)) and raised_by_handgrad(err):
        return str(err)  # a constructor's or validator's check of what the user gave
    if isinstance(err, RuntimeError) and str(err).startswith("Symlink loop from"):
        return f"{err} (a symbolic link that leads back to itself; give the real file)"  # pathlib
    if isinstance(err, MemoryError):
        return "not enough memory for this run (use a smaller model, batch or data set)"
    return None


def raised_by_handgrad(err: BaseException) -> bool:
    """True when a ``raise`` statement in handgrad's own code raised ``err``: a deliberate
    message. A TypeError from a wrong call or a ValueError from inside NumPy is a bug, and keeps
    its traceback."""
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    try:
        Path(filename).resolve().relative_to(PACKAGE)
    except ValueError:
        return False
    return linecache.getline(filename, tb.tb_lineno).strip().startswith("raise")


def os_error(err: OSError) -> str:
    name = err.filename if err.filename is not None else "a file"
    if err.errno == errno.ENOSPC:
        return (f"disk full while writing {name}; nothing was lost (files are replaced only "
                "once written whole): free some space and run again")
    reason = err.strerror or str(err)
    if isinstance(err, IsADirectoryError):
        return f"{name} is a folder, expected a file"
    if isinstance(err, NotADirectoryError):
        return f"{name}: a part of this path is a file, expected a folder"
    if err.filename is None:
        return f"{reason}"
    return f"{reason}: {name}"


def main(argv=None) -> int:
    command = "handgrad"
    try:
        args = build_parser().parse_args(argv)
        command = f"handgrad {args.command}"
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line(command)
            return int(args.func(args) or 0)
    except UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`handgrad info MODEL | head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (HandgradError, OSError, ValueError, TypeError, MemoryError, RuntimeError) as err:
        message = user_error(err)
        if message is None or os.environ.get("HANDGRAD_TRACEBACK"):
            raise
        print(f"{command}: error: {one_line(message)}", file=sys.stderr)
        return 2


def _warning_line(command: str):
    """What the data tells the user (rows dropped, unseen categories) as one line on stderr, not
    Python's warning with a source line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {one_line(str(message))}", file=sys.stderr)
    return show


def one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":
    sys.exit(main())
