"""``handgrad arena``: race optimizers on the same problem over several seeds.

Prints, for each optimizer, the epochs needed to reach the problem's criterion (mean, spread,
failures) as a Markdown table, and writes the tables to DIR/arena_tables.md and the loss curves,
one panel per problem, to DIR/arena.png. Every (optimizer, seed) run is a task on Dask
distributed: by default on an embedded local cluster (one single-threaded worker per core), with
--scheduler on a running cluster, with --workers 0 in this process. The tables are the same in
all three but for the time column. Examples:

    handgrad arena --problem encoder,digits --seeds 5
    handgrad arena --optimizers sgd,momentum,rprop,quickprop --problem encoder:8-3-8
    handgrad arena --momentum-grid --problem encoder,quadratic   # beta x effective step
    handgrad arena --workers 0                    # in this process, no Dask
    handgrad arena --scheduler tcp://HOST:8786    # on a running Dask cluster
    handgrad arena --write-tables docs/arena.md   # rerun every <!-- arena: ARGS --> block

--write-tables FILE rewrites, in FILE, the text between each line ``<!-- arena: ARGS -->`` and the
next ``<!-- /arena -->`` with the tables of ``handgrad arena ARGS``; the rest of FILE is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import sys
import time
from pathlib import Path

from handgrad.errors import HandgradError, OptionError, unknown_option

DEFAULT_PROBLEMS = "encoder,digits"
BLOCK = re.compile(r"^<!-- arena: (?P<args>.*?) -->\n(?P<body>.*?)^<!-- /arena -->$",
                   re.S | re.M)


def add_arguments(p) -> None:
    from handgrad.lab.arena import contestants

    p.add_argument("--optimizers", default="all",
                   help=f"comma-separated names (default: all): {', '.join(contestants())}")
    p.add_argument("--problem", default=DEFAULT_PROBLEMS,
                   help="comma-separated: encoder[:N-M-N], xor, parity[:BITS], digits[:HIDDEN], "
                        f"quadratic, rosenbrock (default: {DEFAULT_PROBLEMS})")
    p.add_argument("--seeds", type=int, default=5, help="runs per optimizer, seeds 0..N-1")
    p.add_argument("--epochs", type=int, default=None,
                   help="epoch budget (default: the problem's own)")
    p.add_argument("--lr", action="append", default=[], metavar="NAME=VALUE",
                   help="learning rate of one optimizer, repeatable (default: the problem's)")
    p.add_argument("--momentum-grid", nargs="?", const="momentum", default=None,
                   choices=("momentum", "nesterov"),
                   help="instead of the race: momentum (or nesterov) over beta in {0, 0.5, 0.8, "
                        "0.9} x effective step eta/(1 - beta), epochs per cell")
    p.add_argument("--out", type=Path, default=Path("runs/arena"), help="output directory")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes of the embedded Dask cluster (default: one per core; "
                        "0: run in this process without Dask)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on the Dask cluster of this scheduler (docs/scaling.md)")
    p.add_argument("--write-tables", type=Path, default=None, metavar="FILE",
                   help="rewrite the tables of every '<!-- arena: ARGS -->' block of FILE")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "arena", help="race optimizers on one problem over several seeds",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def parse_rates(pairs) -> dict:
    from handgrad.lab.arena import contestants

    rates = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--lr expects NAME=VALUE, got {pair!r}")
        if name not in contestants():
            raise unknown_option("optimizer", name, contestants())
        try:
            rates[name] = float(value)
        except ValueError:
            raise ValueError(f"--lr {name}: {value!r} is not a number") from None
    return rates


def check_settings(args) -> tuple[list[str], list[str], dict]:
    """(optimizer names, problem specs, rates) of the command line, checked."""
    from handgrad.lab import arena

    names = arena.contestants() if args.optimizers == "all" else \
        [n.strip() for n in args.optimizers.split(",") if n.strip()]
    for name in names:
        arena.contestant(name)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    specs = [p.strip() for p in args.problem.split(",") if p.strip()]
    for spec in specs:
        arena.get_problem(spec)
    return names, specs, parse_rates(args.lr)


@contextlib.contextmanager
def executor(args):
    """``execute(spec, plans, seeds, progress) -> entries``: on Dask (the embedded cluster or
    --scheduler's), or in this process with --workers 0."""
    from handgrad.lab import arena

    if args.workers is not None and args.workers < 0:
        raise OptionError(f"invalid --workers: {args.workers} (expected 0 for this process, or "
                          "a number of worker processes)")
    if args.workers == 0:
        if args.scheduler is not None:
            raise OptionError("invalid --workers: 0 together with --scheduler (expected one of "
                              "them: --workers 0 runs in this process)")
        yield lambda spec, plans, seeds, progress: arena.run_plans(
            arena.get_problem(spec), plans, seeds, progress)
        return
    from handgrad.distributed.arena import run_plans_on_dask
    from handgrad.distributed.sweep import dask_client

    with dask_client(args.scheduler, args.workers) as client:
        yield lambda spec, plans, seeds, progress: run_plans_on_dask(
            spec, plans, seeds, client, progress)


def race(args, execute, echo=True) -> tuple[list, list[str]]:
    """The tables of one command line: ([(problem, entries)], [Markdown table per problem])."""
    from handgrad.lab import arena

    names, specs, rates = check_settings(args)
    results, texts = [], []
    for spec in specs:
        problem = arena.get_problem(spec)
        if args.momentum_grid:
            plans = arena.momentum_plans(problem, max_epochs=args.epochs,
                                         name=args.momentum_grid)
        else:
            plans = [arena.plan(problem, name, rates, args.epochs) for name in names]
        if echo:
            print(f"{problem.name}: {len(plans)} rows x {args.seeds} seeds", file=sys.stderr)

        def progress(entry):
            if echo:
                status = entry.error or \
                    f"{arena.summary(entry)['reached']}/{len(entry.runs)} reached"
                print(f"  {entry.optimizer}: {status}", file=sys.stderr)

        entries = execute(spec, plans, args.seeds, progress)
        text = arena.momentum_table(problem, plans, entries) if args.momentum_grid \
            else arena.table(problem, entries, args.epochs)
        if echo:
            print(text + "\n")
        results.append((problem, entries))
        texts.append(text)
    return results, texts


def run(args) -> int:
    from handgrad.lab import arena

    if args.write_tables is not None:
        return write_tables(args)
    check_settings(args)
    start = time.perf_counter()
    with executor(args) as execute:
        results, texts = race(args, execute)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "handgrad arena " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["arena"] else ""
    tables = args.out / "arena_tables.md"
    tables.write_text((f"`{command}`\n\n" if command else "") + "\n\n".join(texts) + "\n")
    written = [str(tables)]
    if not args.momentum_grid:
        written.append(str(arena.plot(results, args.out / "arena.png")))
    print(f"wrote {' and '.join(written)} ({time.perf_counter() - start:.0f} s)")
    return 0


def block_arguments(text: str, path: Path) -> argparse.Namespace:
    """The arena options of one ``<!-- arena: ARGS -->`` line, parsed as the command line is."""
    parser = argparse.ArgumentParser(prog=f"handgrad arena (block of {path})", add_help=False,
                                     exit_on_error=False)
    add_arguments(parser)
    try:
        args = parser.parse_args(shlex.split(text))
    except (argparse.ArgumentError, ValueError) as err:
        raise OptionError(f"invalid arena block '<!-- arena: {text} -->' in {path}: {err}") \
            from None
    for option in ("write_tables", "workers", "scheduler"):
        if getattr(args, option) is not None:
            raise OptionError(f"invalid arena block '<!-- arena: {text} -->' in {path}: "
                              f"--{option.replace('_', '-')} belongs on the command line, not "
                              "in a block")
    return args


def write_tables(args) -> int:
    """Rewrite the body of every arena block of ``args.write_tables`` from its command."""
    path = args.write_tables
    try:
        text = path.read_text()
    except OSError as err:
        raise HandgradError(f"cannot read --write-tables file {path}: {err.strerror}") from None
    blocks = list(BLOCK.finditer(text))
    if not blocks:
        raise OptionError(f"invalid --write-tables: {path} has no arena block (expected a line "
                          "'<!-- arena: ARGS -->', the tables, then a line '<!-- /arena -->')")
    options = [block_arguments(m["args"], path) for m in blocks]
    for block in options:
        check_settings(block)
    pieces, last = [], 0
    with executor(args) as execute:
        for match, block in zip(blocks, options):
            start = time.perf_counter()
            _, texts = race(block, execute)
            seconds = time.perf_counter() - start
            body = (f"`handgrad arena {match['args']}` ({seconds:.0f} s, written by "
                    f"`handgrad arena --write-tables {path}`)\n\n" + "\n\n".join(texts) + "\n")
            pieces += [text[last:match.start("body")], body]
            last = match.end("body")
    pieces.append(text[last:])
    path.write_text("".join(pieces))
    print(f"wrote {len(blocks)} arena block(s) of {path}")
    return 0
