"""``handgrad sweep SPACE.toml``: many ``handgrad train`` runs as tasks on Dask distributed.

With no --scheduler the trials run on an embedded local cluster (one single-threaded worker per
core); with --scheduler tcp://HOST:PORT on a running one (`dask scheduler`, `dask worker
tcp://HOST:PORT --nthreads 1` on each machine). Results stream into the store as trials finish;
running the same command again skips the trials already there (resume after Ctrl-C). At the end:
OUT/table.md (best trials) and OUT/sweep.png (the metric against each swept option).

Example space (docs/scaling.md has the whole format):

    data = "digits"
    epochs = 10
    optimizer = ["sgd", "momentum", "adam", "rmsprop"]
    lr = [0.01, 0.03, 0.1]
    seed = [0, 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="a hyperparameter sweep of `handgrad train` runs on Dask",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("space", type=Path, help="the search space (TOML)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: runs/sweep-<SPACE's name>)")
    p.add_argument("--store", type=Path, default=None,
                   help="results file, .jsonl or .sqlite (default: OUT/results.jsonl)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="a running Dask scheduler (default: an embedded local cluster)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes of the embedded cluster (default: one per core)")
    p.add_argument("--top", type=int, default=10, help="rows of the table (default: 10)")
    p.set_defaults(func=run)


def run(args) -> int:
    from handgrad.distributed import space as spaces, store as stores, sweep
    from handgrad.validate import check_int

    check_int("top", args.top, 1)
    space = spaces.load_space(args.space)
    out = args.out or Path("runs") / f"sweep-{args.space.stem}"
    store = stores.open_store(args.store or out / "results.jsonl")
    try:
        n = len(space.trials())
        print(f"sweep {args.space}: {n} trial(s) over {', '.join(space.swept)}"
              f"{' with successive halving' if space.halving else ''}; store {store.path}",
              flush=True)
        with sweep.dask_client(args.scheduler, args.workers) as client:
            print(f"cluster: {client.scheduler.address}, "
                  f"{len(client.scheduler_info()['workers'])} worker(s)", flush=True)
            rows = sweep.run_sweep(space, out, client, store,
                                   echo=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print(f"interrupted: {len(store.rows())} row(s) in {store.path}; run the same command to "
              f"resume (finished trials are skipped)", flush=True)
        raise
    finally:
        store.close()
    text = sweep.table(rows, space, args.top)
    (out / "table.md").parent.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text)
    sweep.plot(rows, space, out / "sweep.png")
    print(text + f"wrote {out / 'table.md'}, {out / 'sweep.png'}")
    return 0  # failed trials are results too: they are in the store and the table
