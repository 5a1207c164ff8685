"""``handgrad arena``: race optimizers on the same problem over several seeds.

Prints, for each optimizer, the epochs needed to reach the problem's criterion (mean, spread,
failures) as a Markdown table, and writes the tables to DIR/arena_tables.md and the loss curves,
one panel per problem, to DIR/arena.png. Example:

    handgrad arena --problem encoder,digits --seeds 5
    handgrad arena --optimizers sgd,momentum,rprop,quickprop --problem encoder:8-3-8
    handgrad arena --workers 2                    # every (optimizer, seed) run a Dask task
    handgrad arena --scheduler tcp://HOST:8786    # on a running Dask cluster
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from handgrad.errors import unknown_option
from handgrad.optim import OPTIMIZERS

DEFAULT_PROBLEMS = "encoder,digits"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "arena", help="race optimizers on one problem over several seeds",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--optimizers", default="all",
                   help=f"comma-separated names (default: all): {', '.join(OPTIMIZERS)}")
    p.add_argument("--problem", default=DEFAULT_PROBLEMS,
                   help="comma-separated: encoder[:N-M-N], xor, parity[:BITS], digits[:HIDDEN], "
                        f"quadratic, rosenbrock (default: {DEFAULT_PROBLEMS})")
    p.add_argument("--seeds", type=int, default=5, help="runs per optimizer, seeds 0..N-1")
    p.add_argument("--epochs", type=int, default=None,
                   help="epoch budget (default: the problem's own)")
    p.add_argument("--lr", action="append", default=[], metavar="NAME=VALUE",
                   help="learning rate of one optimizer, repeatable (default: the problem's)")
    p.add_argument("--out", type=Path, default=Path("runs/arena"), help="output directory")
    p.add_argument("--workers", type=int, default=None,
                   help="run on an embedded Dask cluster of this many single-threaded workers")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on the Dask cluster of this scheduler (docs/scaling.md)")
    p.set_defaults(func=run)


def parse_rates(pairs) -> dict:
    rates = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--lr expects NAME=VALUE, got {pair!r}")
        if name not in OPTIMIZERS:
            raise unknown_option("optimizer", name, OPTIMIZERS)
        try:
            rates[name] = float(value)
        except ValueError:
            raise ValueError(f"--lr {name}: {value!r} is not a number") from None
    return rates


def run(args) -> int:
    from handgrad.lab import arena

    names = list(OPTIMIZERS) if args.optimizers == "all" else \
        [n.strip() for n in args.optimizers.split(",") if n.strip()]
    for name in names:
        if name not in OPTIMIZERS:
            raise unknown_option("optimizer", name, OPTIMIZERS)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    rates = parse_rates(args.lr)
    specs = [p.strip() for p in args.problem.split(",") if p.strip()]
    problems = [arena.get_problem(spec) for spec in specs]
    if args.scheduler is None and args.workers is None:
        def race(i, progress):
            return arena.run_arena(problems[i], names, args.seeds, rates, args.epochs, progress)
        return report(args, names, problems, race)
    from handgrad.distributed.arena import run_arena_on_dask
    from handgrad.distributed.sweep import dask_client

    with dask_client(args.scheduler, args.workers) as client:
        def race(i, progress):  # the problem travels as its spec; each worker rebuilds it
            return run_arena_on_dask(specs[i], names, args.seeds, rates, args.epochs,
                                     client=client, progress=progress)
        return report(args, names, problems, race)


def report(args, names, problems, race) -> int:
    """Race the optimizers on each problem (``race(index, progress)``); print and write the
    tables and the plot."""
    from handgrad.lab import arena

    results, texts = [], []
    start = time.perf_counter()
    for index, problem in enumerate(problems):
        print(f"{problem.name}: {len(names)} optimizers x {args.seeds} seeds", file=sys.stderr)

        def progress(entry):
            status = entry.error or f"{arena.summary(entry)['reached']}/{len(entry.runs)} reached"
            print(f"  {entry.optimizer}: {status}", file=sys.stderr)

        entries = race(index, progress=progress)
        text = arena.table(problem, entries, args.epochs)
        print(text + "\n")
        results.append((problem, entries))
        texts.append(text)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "handgrad arena " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["arena"] else ""
    tables = args.out / "arena_tables.md"
    tables.write_text((f"`{command}`\n\n" if command else "") + "\n\n".join(texts) + "\n")
    png = arena.plot(results, args.out / "arena.png")
    print(f"wrote {tables} and {png} ({time.perf_counter() - start:.0f} s)")
    return 0
