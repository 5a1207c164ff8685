"""``handgrad arena``: race optimizers on the same problem over several seeds.

Prints, for each optimizer, the epochs needed to reach the problem's criterion (mean, spread,
failures) as a Markdown table, and writes the tables to DIR/arena_tables.md and the loss curves,
one panel per problem, to DIR/arena.png. Example:

    handgrad arena --problem encoder,digits --seeds 5
    handgrad arena --optimizers sgd,momentum,rprop,quickprop --problem encoder:8-3-8
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
    problems = [arena.get_problem(p.strip()) for p in args.problem.split(",") if p.strip()]
    results, texts = [], []
    start = time.perf_counter()
    for problem in problems:
        print(f"{problem.name}: {len(names)} optimizers x {args.seeds} seeds", file=sys.stderr)

        def progress(entry):
            status = entry.error or f"{arena.summary(entry)['reached']}/{len(entry.runs)} reached"
            print(f"  {entry.optimizer}: {status}", file=sys.stderr)

        entries = arena.run_arena(problem, names, args.seeds, rates, args.epochs, progress)
        text = arena.table(problem, entries, args.epochs)
        print(text + "\n")
        results.append((problem, entries))
        texts.append(text)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "handgrad arena " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["arena"] else ""
    report = args.out / "arena_tables.md"
    report.write_text((f"`{command}`\n\n" if command else "") + "\n\n".join(texts) + "\n")
    png = arena.plot(results, args.out / "arena.png")
    print(f"wrote {report} and {png} ({time.perf_counter() - start:.0f} s)")
    return 0
