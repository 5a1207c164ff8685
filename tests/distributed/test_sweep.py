"""`handgrad sweep` on Dask: the store, resume, identical numbers on 1 and 2 workers and on a
separately started cluster, a worker killed mid-sweep, failed trials, successive halving."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handgrad.cli import sweep as sweep_cli
from handgrad.distributed import sweep
from handgrad.distributed.space import parse_space, trial_key
from handgrad.distributed.store import open_store
from handgrad.errors import OptionError

# tiny trials: iris, a few epochs (a trial is well under a second)
SPACE = {"data": "iris", "epochs": 3, "hidden": "8", "batch_size": 16,
         "optimizer": ["sgd", "adam"], "lr": [0.01, 0.1], "seed": [0, 1]}


def run_cli(*argv) -> int:
    parser = argparse.ArgumentParser()
    sweep_cli.register(parser.add_subparsers())
    args = parser.parse_args(["sweep", *map(str, argv)])
    return args.func(args)


def write_space(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def sweep_rows(space_dict, out: Path, **client_options) -> dict:
    space = parse_space(space_dict)
    store = open_store(out / "results.jsonl")
    with sweep.dask_client(**client_options) as client:
        rows = sweep.run_sweep(space, out, client, store, echo=lambda line: None)
    return {r["key"]: r for r in rows}


def numbers(row) -> tuple:
    return row["status"], row.get("history", {}).get("train_loss"), \
        row.get("history", {}).get("val_loss"), row.get("test")


def test_cli_sweep_writes_store_table_plot_and_resumes(tmp_path, capsys):
    space = write_space(tmp_path / "space.toml", """
data = "iris"
epochs = 2
hidden = "8"
optimizer = ["sgd", "adam"]
lr = [0.05, 0.1]
""")
    out = tmp_path / "out"
    assert run_cli(space, "--out", out, "--workers", "2") == 0
    rows = open_store(out / "results.jsonl").rows()
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    row = rows[0]
    assert set(row) >= {"key", "settings", "seed", "history", "test", "seconds", "worker"}
    assert len(row["history"]["train_loss"]) == 2 and "accuracy" in row["test"]
    assert (out / "table.md").read_text().count("\n| ") == 4
    assert (out / "sweep.png").stat().st_size > 1000
    capsys.readouterr()
    assert run_cli(space, "--out", out, "--workers", "1") == 0
    assert "4 of 4 trial(s) already in the store: skipped" in capsys.readouterr().out
    assert len(open_store(out / "results.jsonl").rows()) == 4


def test_sqlite_store_resumes_a_partial_sweep(tmp_path):
    space = parse_space(dict(SPACE, seed=0))
    done = space.trials()[0]
    store = open_store(tmp_path / "r.sqlite")
    store.add({"key": trial_key(done), "status": "ok", "settings": done, "marker": 1})
    with sweep.dask_client(workers=1) as client:
        rows = sweep.run_sweep(space, tmp_path, client, store, echo=lambda line: None)
    store.close()
    assert len(rows) == 4 and sum(r.get("marker", 0) for r in rows) == 1
    assert len(open_store(tmp_path / "r.sqlite").rows()) == 4


@pytest.fixture(scope="module")
def two_worker_rows(tmp_path_factory):
    return sweep_rows(SPACE, tmp_path_factory.mktemp("two"), workers=2)


def test_one_and_two_workers_give_identical_metrics(tmp_path, two_worker_rows):
    one = sweep_rows(SPACE, tmp_path, workers=1)
    assert len(one) == 8 and set(one) == set(two_worker_rows)
    assert len({r["worker"] for r in two_worker_rows.values()}) == 2  # both workers ran trials
    for key, row in one.items():
        assert row["status"] == "ok"
        assert numbers(row) == numbers(two_worker_rows[key])
    # the trials differ from one another: identity is not trivial
    assert len({json.dumps(numbers(r)) for r in one.values()}) == 8


def test_separately_started_cluster_gives_the_same_metrics(tmp_path, two_worker_rows):
    dask = Path(sys.executable).with_name("dask")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", file], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(300):
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                                    "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for _ in range(2)]
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        rows = sweep_rows(SPACE, tmp_path / "out", scheduler=address)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    assert set(rows) == set(two_worker_rows)
    for key, row in rows.items():
        assert numbers(row) == numbers(two_worker_rows[key])


def test_worker_killed_mid_sweep_every_trial_once(tmp_path):
    space = parse_space(dict(SPACE, data="digits", hidden="32", epochs=3))
    store = open_store(tmp_path / "results.jsonl")
    killed = []
    with sweep.dask_client(workers=2) as client:
        pids = client.run(os.getpid)

        def echo(line):
            if not killed:  # one trial done: the other worker is inside one, kill it
                running = client.processing()
                victim = next(a for a, tasks in running.items() if tasks)
                os.kill(pids[victim], signal.SIGKILL)
                killed.append(victim)
        rows = sweep.run_sweep(space, tmp_path, client, store, echo=echo)
    assert killed
    keys = [r["key"] for r in rows]
    assert sorted(keys) == sorted(trial_key(s) for s in space.trials())  # each exactly once
    assert {r["status"] for r in rows} == {"ok"}


def test_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    """What only training finds (a divergence; an optimizer that does not fit the loss) fails
    its trial, recorded with the message; values out of range never get this far (below)."""
    space = dict(SPACE, seed=0, optimizer=["sgd", "lm"], lr=[0.1, 1e30])
    rows = sweep_rows(space, tmp_path, workers=2)
    by = {(r["settings"]["optimizer"], r["settings"]["lr"]): r for r in rows.values()}
    assert by["sgd", 0.1]["status"] == "ok"
    assert by["sgd", 1e30]["status"] == "failed" and "diverged" in by["sgd", 1e30]["error"]
    assert by["lm", 0.1]["status"] == "failed" and "squared-error" in by["lm", 0.1]["error"]
    text = sweep.table(list(rows.values()), parse_space(space))
    assert "1 trial(s) ok, 3 failed" in text


def test_successive_halving_keeps_the_best_and_continues_exactly(tmp_path):
    space = dict(SPACE, epochs=4, seed=0, optimizer="sgd", lr=[0.003, 0.01, 0.03, 0.1],
                 sweep={"halving": True, "min_epochs": 1, "eta": 2, "metric": "val_loss"})
    rows = sweep_rows(space, tmp_path / "halving", workers=2)
    budgets = sorted(r["budget"] for r in rows.values())
    assert budgets == [1, 1, 1, 1, 2, 2, 4]
    at1 = {r["settings"]["lr"]: r["history"]["val_loss"][-1] for r in rows.values()
           if r["budget"] == 1}
    best2 = sorted(at1, key=at1.get)[:2]
    assert sorted(r["settings"]["lr"] for r in rows.values() if r["budget"] == 2) == sorted(best2)
    final = next(r for r in rows.values() if r["budget"] == 4)
    # continued from its checkpoint: the same numbers as 4 epochs in one go
    straight = sweep_rows(dict(space, lr=final["settings"]["lr"], sweep={}, optimizer=["sgd"]),
                          tmp_path / "straight", workers=1)
    (one,) = straight.values()
    assert numbers(one) == numbers(final)


@pytest.mark.parametrize("space, message", [
    ({"data": "iris"}, "nothing is swept"),
    ({"lr": [0.1], "nonsense": 1}, "unknown option 'nonsense'"),
    ({"lr": [0.1], "runs_dir": "x"}, "runs_dir is set by the sweep"),
    ({"lr": {"log_uniform": [0, 1]}}, "0 < low"),
    ({"lr": {"normal": [0, 1]}}, "invalid distribution for lr"),
    ({"lr": [0.1], "sweep": {"eta": 1}}, "invalid sweep.eta: 1"),
    ({"lr": [0.1], "sweep": {"bogus": 1}}, "unknown [sweep] key(s) ['bogus']"),
    ({"epochs": [1, 2], "sweep": {"halving": True}}, "with halving the epochs are the budget"),
])
def test_space_errors_name_the_option(space, message):
    with pytest.raises(OptionError) as err:
        parse_space(space)
    assert message in str(err.value)


def test_bad_train_option_is_refused_before_any_trial(tmp_path):
    space = parse_space({"data": "iris", "batch_size": ["many", 2]})
    store = open_store(tmp_path / "r.jsonl")
    with pytest.raises(OptionError, match="batch.size"):
        sweep.run_sweep(space, tmp_path, client=None, store=store)
    assert store.rows() == []


@pytest.mark.parametrize("option, values, named", [
    ("lr", [0.1, -1.0], "invalid --lr: -1.0"),
    ("hidden", ["8", "0"], "--hidden"),
    ("val_size", [0.1, 1.5], "--val-size"),
])
def test_a_value_out_of_range_is_refused_before_any_trial(tmp_path, option, values, named):
    """Checked as `handgrad train` checks it, not submitted to fail later as a trial."""
    space = parse_space({"data": "iris", option: values})
    store = open_store(tmp_path / "r.jsonl")
    with pytest.raises(OptionError) as err:
        sweep.run_sweep(space, tmp_path, client=None, store=store)
    assert named in str(err.value) and "not a valid `handgrad train` command" in str(err.value)
    assert store.rows() == []


def test_an_option_under_the_sweep_header_is_named_as_misplaced():
    with pytest.raises(OptionError, match=r"\['lr'\] are `handgrad train` options: put them above"):
        parse_space({"sweep": {"samples": 2, "lr": [0.1]}, "seed": [0, 1]})


def test_the_documented_space_parses():
    """docs/scaling.md's example space is valid TOML and a valid space, as written."""
    import tomllib

    doc = (Path(__file__).parents[2] / "docs" / "scaling.md").read_text()
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    space = parse_space(tomllib.loads(block))
    assert space.halving and "optimizer" in space.swept and space.trials()


def test_random_draws_are_reproducible_and_in_range():
    space = parse_space({"optimizer": ["sgd", "adam"],
                         "lr": {"log_uniform": [1e-3, 1e-1]}, "hidden": {"choice": ["8", "16"]},
                         "epochs": {"int_uniform": [2, 5]}, "sweep": {"samples": 5, "seed": 3}})
    trials = space.trials()
    assert len(trials) == 10 and trials == space.trials()
    assert all(1e-3 <= t["lr"] <= 1e-1 and 2 <= t["epochs"] <= 5 for t in trials)
    assert len({t["lr"] for t in trials}) == 10
    assert {t["hidden"] for t in trials} == {"8", "16"}


def test_ctrl_c_stops_the_sweep_and_the_rerun_skips_the_finished_trials(tmp_path):
    space = write_space(tmp_path / "space.toml", """
data = "iris"
epochs = 3
hidden = "8"
optimizer = ["sgd", "adam"]
lr = [0.01, 0.03, 0.1]
seed = [0, 1]
""")
    out, store = tmp_path / "out", tmp_path / "out" / "results.jsonl"
    command = [sys.executable, str(Path(__file__).with_name("sweep_cli.py")), str(space),
               "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (store.exists() and store.read_text().count("\n") >= 1):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted:" in stdout
    kept = len(open_store(store).rows())
    assert 1 <= kept < 12
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{kept} of 12 trial(s) already in the store: skipped" in done.stdout
    keys = [r["key"] for r in open_store(store).rows()]
    assert len(keys) == len(set(keys)) == 12
    assert (out / "table.md").exists() and (out / "sweep.png").exists()


def test_unreachable_scheduler_is_named():
    from handgrad.errors import HandgradError

    with pytest.raises(HandgradError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with sweep.dask_client("tcp://127.0.0.1:9", timeout="2s"):
            pass
