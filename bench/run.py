"""The benchmark suite: ``python -m bench.run [--quick]`` (``make bench`` / ``make bench-quick``).

1. measures the machine's limits (peak float32 GEMM rate, memory bandwidth) in a fresh process;
2. runs every workload for every implementation, each in its own fresh process, implementations
   alternating within a round and their order rotated between rounds;
3. runs the scaling sweeps and a profile of one handgrad step of workloads 1 and 2;
4. measures the limits again (the better of the two is kept: a busy machine only lowers them);
5. writes BENCHMARKS.md, its plots, and the raw results as JSON.

``--quick`` shrinks everything to a smoke test (seconds, one round, one single-threaded process
per implementation, the limits measured once) and writes to runs/bench-quick/ unless told
otherwise; it asserts nothing about speed. Exit status 1 if any worker failed (the report is written all the same).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench.report import Report
from bench.workloads import W1_SIZES, sweeps, workloads

REPO = Path(__file__).resolve().parents[1]
WORKER_TIMEOUT = 900
CRITERIA_EXTRA_ROUNDS = 4  # workloads 1 and 2 run rounds + 4 times (about 3 min more)


def run_child(args: list[str], env: dict | None = None, timeout: float = WORKER_TIMEOUT) -> dict:
    """Run ``python <args>`` from the repository root; its last stdout line is JSON."""
    try:
        proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def run_worker(impl: str, workloads_: list[dict], env: dict | None = None) -> list[dict]:
    task = json.dumps({"impl": impl, "workloads": workloads_})
    result = run_child(["-m", "bench.worker", task], env=env)
    if "error" in result:
        return [result] * len(workloads_)
    return result["results"]


def _digits_cache(folder: Path) -> Path:
    """The digits as an .npz, written once, so that workers need not import scikit-learn."""
    from bench.workloads import digits

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digits.npz"
    if not path.exists():
        x, labels = digits()
        np.savez(path, x=x, labels=labels)
    return path


def rotated(items: list, k: int) -> list:
    k %= len(items)
    return items[k:] + items[:k]


def round_order(impls: list[str], k: int) -> list[str]:
    """Round k's order: rotated, so that each implementation takes each position in turn (the
    cyclic order stays: rotation changes who starts, not who follows whom), and handgrad and
    PyTorch, whose ratio is the tightest criterion, always run back to back (handgrad first in even
    rounds, PyTorch in odd ones): the machine's slow episodes, a few seconds to minutes long, then
    tend to fall on both of a pair or on neither."""
    paired = "handgrad" in impls and "torch" in impls
    units = [["handgrad", "torch"] if paired and name == "handgrad" else [name]
             for name in impls if not (paired and name == "torch")]
    return [name for unit in rotated(units, k) for name in (unit if k % 2 == 0 else unit[::-1])]


def available_impls(impls: list[str]) -> list[str]:
    """handgrad's Trainer is timed too once the library has it."""
    try:
        from handgrad.train import Trainer  # noqa: F401
    except ImportError:
        return impls
    return impls + ["handgrad-trainer"] if "handgrad" in impls else impls


def log(message: str) -> None:
    print(f"[bench {datetime.now(timezone.utc):%H:%M:%S}] {message}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny workloads, 1 round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the report (default BENCHMARKS.md; quick: runs/bench-quick/)")
    parser.add_argument("--budget", type=float, default=13.0, metavar="MINUTES",
                        help="start no new measurement after this long (default 13; the run "
                             "then profiles, re-measures the limits and writes what it has)")
    parser.add_argument("--report-only", type=Path, default=None, metavar="RESULTS_JSON",
                        help="re-write the report from a results file, measuring nothing")
    parser.add_argument("--only", default=None,
                        help="comma-separated workload/sweep names to run (default: all)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    md_path = args.out or (REPO / "runs" / "bench-quick" / "BENCHMARKS.md" if quick
                           else REPO / "BENCHMARKS.md")
    md_path = md_path.resolve()
    md_path.parent.mkdir(parents=True, exist_ok=True)
    figures = md_path.parent / "bench-figures" if quick else REPO / "bench" / "figures"
    if args.report_only:
        Report(json.loads(args.report_only.read_text()), figures, md_path).write()
        log(f"wrote {md_path} from {args.report_only}")
        return 0
    json_path = (md_path.with_suffix(".json") if quick
                 else REPO / "bench" / "results" / "latest.json")
    only = set(args.only.split(",")) if args.only else None
    chosen = [w for w in workloads(quick) if only is None or w["name"] in only]
    chosen_sweeps = [s for s in sweeps(quick) if only is None or s["name"] in only]
    for w in chosen:
        w["impls"] = available_impls(w["impls"]) if w["kind"] == "train" else w["impls"]
    # The full run leaves the environment as it is (threads included). The smoke test runs its
    # workers single-threaded: on a busy machine spinning BLAS/OpenMP threads make it crawl.
    env = None
    if quick:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

    started = time.perf_counter()
    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    log(f"machine limits ({'quick' if quick else 'full'} run, {rounds} round(s))")
    first = run_child(["-m", "bench.machine"] + (["--quick"] if quick else []), env=env)
    if "error" in first:
        raise SystemExit(f"bench.machine failed: {first['error']}")
    cache = _digits_cache(md_path.parent if quick else REPO / "runs" / "bench-cache")
    for w in chosen:
        if w.get("data") == "digits":
            w["cache"] = str(cache)

    profiles_wanted = [dict(w, kind="profile", steps=3 if quick else (40 if w["batch"] > 64 else 400))
                       for w in chosen if w["name"] in ("mnist_mlp", "digits")]
    runs = {w["name"]: {} for w in chosen}
    sweep_runs = {s["name"]: {} for s in chosen_sweeps}
    profiles = {}
    skipped: list[str] = []
    impls = list(dict.fromkeys(i for w in chosen + chosen_sweeps for i in w["impls"]))
    for r in range(rounds if quick else rounds + CRITERIA_EXTRA_ROUNDS):
        if quick:  # one process per implementation runs all its workloads
            for impl in rotated(impls, r):
                mine = [w for w in chosen + chosen_sweeps if impl in w["impls"]]
                if impl == "handgrad":
                    mine += profiles_wanted
                log(f"round {r + 1}: {impl} on {len(mine)} workloads")
                for w, result in zip(mine, run_worker(impl, mine, env)):
                    if w["kind"] == "profile":
                        profiles[w["name"]] = result
                        continue
                    target = sweep_runs if w["kind"] == "sweep" else runs
                    target[w["name"]].setdefault(impl, []).append(result)
            continue
        # The sweeps' points are many and their ranges small: two rounds of them are enough. The
        # two workloads issue 6's criteria are judged on get extra rounds: their medians decide.
        this_round = [w for w in chosen if r < rounds or w.get("criteria")]
        for w in this_round + (chosen_sweeps if r < 2 else []):
            target = sweep_runs if w["kind"] == "sweep" else runs
            for impl in round_order(w["impls"], r):
                if time.perf_counter() - started > 60 * args.budget:
                    skipped.append(f"round {r + 1} {w['name']} {impl}")
                    continue
                result = run_worker(impl, [w], env)[0]
                target[w["name"]].setdefault(impl, []).append(result)
                shown = result.get("error") or _brief(result)
                log(f"round {r + 1} {w['name']:12s} {impl:17s} {shown}")

    if not quick:
        for prof in profiles_wanted:
            profiles[prof["name"]] = run_worker("handgrad", [prof], env)[0]
            log(f"profile {prof['name']}: {profiles[prof['name']].get('error', 'done')}")

    last = first if quick else run_child(["-m", "bench.machine"], env=env)
    limits = dict(first["limits"])
    if "error" not in last:
        for key in ("gemm_flops", "bandwidth"):
            limits[key] = max(first["limits"][key], last["limits"][key])
    results = {"quick": quick, "rounds": rounds,
               "criteria_rounds": rounds if quick else rounds + CRITERIA_EXTRA_ROUNDS,
               "started": stamp,
               "elapsed": time.perf_counter() - started, "machine": first["machine"],
               "limits": limits, "limits_runs": [first["limits"], last.get("limits")],
               "load_average": [first["machine"]["load_average"],
                                last.get("machine", {}).get("load_average")],
               "workloads": chosen, "sweeps": chosen_sweeps, "runs": runs,
               "sweep_runs": sweep_runs, "profiles": profiles, "w1_sizes": W1_SIZES,
               "skipped": skipped, "budget_minutes": args.budget}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    Report(results, figures, md_path).write()
    log(f"wrote {md_path} and {json_path} in {results['elapsed'] / 60:.1f} min")
    if skipped:
        log(f"time budget reached: {len(skipped)} measurement(s) not started")
    failed = [w for by_impl in list(runs.values()) + list(sweep_runs.values())
              for rs in by_impl.values() for w in rs if "error" in w]
    failed += [p for p in profiles.values() if "error" in p]
    if failed:
        log(f"{len(failed)} measurement(s) failed; see the report's Failures section")
        return 1
    return 0


def _brief(result: dict) -> str:
    values = result["values"]
    if isinstance(values, dict):
        return ", ".join(f"{k}={v * 1e3:.2f}ms" for k, v in values.items())
    return f"{np.median(values):.4f} {result['unit']}, maxrss {result.get('maxrss_mib', 0):.0f} MiB"


if __name__ == "__main__":
    sys.exit(main())
