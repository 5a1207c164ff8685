"""``handgrad lab NAME [options]``: run one experiment of the lecture laboratory.

Each experiment writes NAME.png (and NAME.gif where motion helps) into --out and prints a short
verdict. Its options are the fields of its config dataclass (``handgrad lab NAME --help``); lists
are comma-separated, e.g. ``--factors 0.5,1,1.5,2.2``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import time
from pathlib import Path

from handgrad.lab import EXPERIMENTS, run

_FIELD_COMMENT = re.compile(r"^\s+(\w+)\s*:[^=]*=[^#]*#\s*(.+)$")


def _field_help(config_cls) -> dict[str, str]:
    """The comment after each field of a config dataclass, used as its --help text."""
    try:
        source = inspect.getsource(config_cls)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2).strip() for m in map(_FIELD_COMMENT.match,
                                                           source.splitlines()) if m}


def _parse_list(text: str) -> tuple:
    """'1,2.5,adam' -> (1, 2.5, 'adam'): numbers where they parse, strings otherwise."""
    items = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        for kind in (int, float):
            try:
                items.append(kind(item))
                break
            except ValueError:
                continue
        else:
            items.append(item)
    return tuple(items)


def _add_config_options(parser: argparse.ArgumentParser, config_cls) -> None:
    helps = _field_help(config_cls)
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        text = helps.get(f.name, "")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=f"{text} (default: {default})")
        elif isinstance(default, (tuple, list)):
            shown = ",".join(str(v) for v in default)
            parser.add_argument(flag, dest=f.name, type=_parse_list, default=argparse.SUPPRESS,
                                metavar="A,B,...", help=f"{text} (default: {shown})")
        elif default is None:
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS,
                                help=f"{text} (default: none)")
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=argparse.SUPPRESS,
                                help=f"{text} (default: {default})")


def register(subparsers) -> None:
    listing = "\n".join(f"  {name:24s}{e.summary}" for name, e in EXPERIMENTS.items())
    p = subparsers.add_parser(
        "lab", help="run an experiment of the lecture notes (quadratic, hessian, saddle, ...)",
        description=__doc__, epilog="experiments:\n" + listing,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", metavar="NAME", choices=list(EXPERIMENTS),
                   help="the experiment to run (see the list below)")
    # The experiment's own options are parsed once NAME is known, so that ``handgrad --help``
    # does not import every experiment (and matplotlib).
    p.add_argument("options", nargs=argparse.REMAINDER, help="its options (NAME --help)")
    p.set_defaults(func=_run)


def experiment_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``handgrad lab NAME``'s own options."""
    from handgrad.cli.main import Parser  # its errors are main's one line, as every command's

    experiment = EXPERIMENTS[name]
    parser = Parser(prog=f"handgrad lab {name}", description=experiment.summary)
    parser.add_argument("--out", type=Path, default=Path("lab-output"),
                        help="folder for NAME.png (and NAME.gif) (default: lab-output)")
    # Accepted by every experiment, so scripts can pass it uniformly; only animated ones use it.
    parser.add_argument("--gif", action=argparse.BooleanOptionalAction, default=True,
                        help="also write the animation NAME.gif (default: yes)"
                        if experiment.animated else "(no animation for this experiment)")
    parser.add_argument("--quiet", action="store_true", help="do not print the verdict")
    config_cls, _ = experiment.load()
    _add_config_options(parser, config_cls)
    return parser


def _run(args) -> int:
    parsed = experiment_parser(args.experiment).parse_args(args.options)
    reserved = {"out", "gif", "quiet"}
    options = {k: v for k, v in vars(parsed).items() if k not in reserved}
    start = time.perf_counter()
    result = run(args.experiment, out_dir=parsed.out, gif=getattr(parsed, "gif", False),
                 verbose=not parsed.quiet, **options)
    for path in getattr(result, "files", []):
        print(f"wrote {path}")
    if not parsed.quiet:
        print(f"({time.perf_counter() - start:.1f} s)")
    return 0
