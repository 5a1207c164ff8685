"""Data-parallel training under ``mpiexec -n P`` (the MPI library and mpiexec from the mpich
wheel): P = 1 and P = 2 agree, every rank holds the same weights, float32 runs repeat bit for bit,
only rank 0 writes, resume is exact. Each test runs mpi_script.py in fresh MPI processes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from handgrad.distributed import mpi
from handgrad.errors import OptionError

SCRIPT = Path(__file__).with_name("mpi_script.py")
MPIEXEC = Path(sys.executable).with_name("mpiexec")


def train(out: Path, ranks: int, *options) -> list[dict]:
    """Run the script on ``ranks`` processes; per rank: its arrays and its JSON report."""
    command = [str(MPIEXEC), "-n", str(ranks), sys.executable, str(SCRIPT), str(out),
               *map(str, options)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [dict(np.load(out / f"rank{r}.npz"), **json.loads((out / f"rank{r}.json").read_text()))
            for r in range(ranks)]


def history(rank: dict) -> dict:
    """The per-epoch records without the wall-clock times."""
    return {k: v for k, v in rank["history"].items() if k != "time"}


def relative(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(a).max())


@pytest.mark.parametrize("optimizer, options", [
    ("momentum", ()),
    ("adam", ("--lr", 0.01, "--weight-decay", 1e-3)),
    ("lbfgs", ("--lr", 1.0, "--rows", 120, "--batch-size", 120, "--epochs", 10)),
    ("nesterov", ()),
    ("rprop_backtracking", ("--lr", 0.01, "--rows", 120, "--batch-size", 120, "--epochs", 10)),
])
def test_one_and_two_ranks_agree_in_float64(tmp_path, optimizer, options):
    (one,) = train(tmp_path / "p1", 1, "--optimizer", optimizer, *options)
    two = train(tmp_path / "p2", 2, "--optimizer", optimizer, *options)
    assert one["step_count"] == two[0]["step_count"] >= 10
    if "--batch-size" not in options:  # 500 rows in batches of 50, 5 epochs
        assert one["step_count"] == 50
    assert relative(one["theta"], two[0]["theta"]) < 1e-10
    assert not np.array_equal(one["theta"], np.zeros_like(one["theta"]))
    np.testing.assert_allclose(one["history"]["train_loss"], two[0]["history"]["train_loss"],
                               rtol=1e-10)
    assert one["history"]["train_accuracy"] == two[0]["history"]["train_accuracy"]


def test_one_rank_is_the_one_process_run_bit_for_bit(tmp_path):
    (plain,) = train(tmp_path / "plain", 1, "--plain", "--dtype", "float32")
    (one,) = train(tmp_path / "p1", 1, "--dtype", "float32")
    assert np.array_equal(plain["theta"], one["theta"])
    assert history(plain) == history(one)


def test_every_rank_holds_identical_weights_state_and_buffers(tmp_path):
    ranks = train(tmp_path, 2, "--optimizer", "adam", "--lr", 0.01, "--batchnorm",
                  "--dropout", 0.2)
    arrays = [k for k in ranks[0] if k == "theta" or k.startswith(("state_", "buffer_"))]
    assert "state_m" in arrays or any(k.startswith("state_") for k in arrays)
    assert any(k.startswith("buffer_") for k in arrays)
    for key in arrays:
        assert np.array_equal(ranks[0][key], ranks[1][key]), key
    assert history(ranks[0]) == history(ranks[1])


def test_float32_runs_with_the_same_ranks_are_bit_identical(tmp_path):
    first = train(tmp_path / "a", 2, "--dtype", "float32", "--dropout", 0.3)
    second = train(tmp_path / "b", 2, "--dtype", "float32", "--dropout", 0.3)
    assert first[0]["theta"].dtype == np.float32
    assert np.array_equal(first[0]["theta"], second[0]["theta"])
    assert history(first[0]) == history(second[0])


def test_only_rank_zero_writes_the_run_folder(tmp_path):
    ranks = train(tmp_path, 2)
    assert "Checkpoint" in ranks[0]["callbacks"] and "ProgressBar" in ranks[0]["callbacks"]
    assert "Checkpoint" not in ranks[1]["callbacks"] and "ProgressBar" not in ranks[1]["callbacks"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.safetensors"]


def test_resume_continues_exactly_with_dropout_and_batch_norm(tmp_path):
    layers = ("--dropout", 0.2, "--batchnorm", "--optimizer", "adam", "--lr", 0.01)
    straight = train(tmp_path / "straight", 2, *layers, "--epochs", 5)
    train(tmp_path / "cut", 2, *layers, "--epochs", 3)
    resumed = train(tmp_path / "cut", 2, *layers, "--epochs", 5, "--resume")
    for rank in range(2):
        assert np.array_equal(straight[rank]["theta"], resumed[rank]["theta"])
        assert history(straight[rank]) == history(resumed[rank])


def test_dropout_masks_differ_between_ranks_but_not_between_runs(tmp_path):
    # with dropout, two ranks see different masks: the result differs from one process
    (one,) = train(tmp_path / "p1", 1, "--dropout", 0.3)
    two = train(tmp_path / "p2", 2, "--dropout", 0.3)
    assert relative(one["theta"], two[0]["theta"]) > 1e-6


def test_batch_norm_per_rank_by_default_synchronised_on_request(tmp_path):
    layers = ("--batchnorm",)  # momentum: Adam's 1/sqrt(v) magnifies rounding where v is tiny
    (one,) = train(tmp_path / "p1", 1, *layers)
    (plain,) = train(tmp_path / "plain", 1, *layers, "--plain")
    two = train(tmp_path / "p2", 2, *layers)
    (one_sync,) = train(tmp_path / "p1s", 1, *layers, "--sync-bn")
    two_sync = train(tmp_path / "p2s", 2, *layers, "--sync-bn")
    # per rank: each rank normalises its own 25 rows, not the batch's 50
    assert relative(one["theta"], two[0]["theta"]) > 1e-6
    # synchronised: the global batch's statistics, so P = 2 is the one-process run
    assert relative(plain["theta"], one_sync["theta"]) < 1e-10
    assert relative(one_sync["theta"], two_sync[0]["theta"]) < 1e-10
    for key in two_sync[0]:
        if key.startswith("buffer_"):
            assert relative(one_sync[key], two_sync[0][key]) < 1e-10, key
    assert np.array_equal(two_sync[0]["theta"], two_sync[1]["theta"])


def test_levenberg_marquardt_is_refused_with_its_reason():
    from mpi4py import MPI

    from handgrad.nn import MLP
    from handgrad.optim import get_optimizer

    model = MLP([4, 3, 2], rng=0)
    with pytest.raises(OptionError, match="'lm' with --distributed mpi.*Jacobian"):
        mpi.DistributedOptimizer(get_optimizer("lm", model, lr=1.0), MPI.COMM_SELF)


@pytest.mark.parametrize("n, size", [(50, 2), (7, 3), (1, 2), (10, 4)])
def test_shares_cover_the_batch_once(n, size):
    parts = [mpi.share(n, r, size) for r in range(size)]
    rows = [i for p in parts for i in range(p.start, p.stop)]
    assert rows == list(range(n))
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= 1
