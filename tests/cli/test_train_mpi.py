"""`mpiexec -n P handgrad train`: the CLI's data-parallel path (issue 16). Rank 0 alone writes the
run folder; P = 2 follows P = 1 in float64 up to the order of the reduction's sums."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

MPIEXEC = Path(sys.executable).with_name("mpiexec")
HANDGRAD = Path(sys.executable).with_name("handgrad")
ARGS = ["train", "--data", "iris", "--epochs", "4", "--dtype", "float64", "--no-progress"]


def train(ranks: int, runs_dir: Path, *extra):
    return subprocess.run([str(MPIEXEC), "-n", str(ranks), str(HANDGRAD), *ARGS, "--runs-dir",
                           str(runs_dir), *extra], capture_output=True, text=True, timeout=300)


def test_two_ranks_follow_one_process_and_only_rank_0_writes(tmp_path):
    one, two = train(1, tmp_path / "one"), train(2, tmp_path / "two")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("wrote ") == 1  # rank 1 prints nothing
    files = sorted(p.name for p in (tmp_path / "two" / "iris").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "one" / "iris").iterdir())
    assert not [p for p in (tmp_path / "two" / "iris").iterdir() if p.name.endswith(".tmp")]
    a, b = (json.loads((tmp_path / run / "iris" / "metrics.json").read_text())
            for run in ("one", "two"))
    np.testing.assert_allclose(b["history"]["train_loss"], a["history"]["train_loss"],
                               rtol=1e-10)
    assert b["test"]["accuracy"] == a["test"]["accuracy"]


def test_a_refused_optimizer_ends_every_rank_with_one_message(tmp_path):
    result = train(2, tmp_path, "--optimizer", "lm")
    assert result.returncode == 2
    assert "invalid optimizer: 'lm' with --distributed mpi" in result.stderr
    assert not (tmp_path / "iris" / "model.safetensors").exists()


def test_sync_batchnorm_without_mpi_is_refused(tmp_path, capsys):
    from cli_helpers import run_error

    err = run_error(capsys, *ARGS, "--runs-dir", str(tmp_path), "--sync-batchnorm")
    assert "invalid --sync-batchnorm" in err


def test_a_data_parallel_digits_run_matches_one_process(tmp_path):
    """Issue 16: the final accuracy of a data-parallel digits run matches one process (float32;
    the global batch is the same, so only the all-reduce's rounding differs)."""
    runs = []
    for ranks in (1, 2):
        result = subprocess.run([str(MPIEXEC), "-n", str(ranks), str(HANDGRAD), "train", "--data",
                                 "digits", "--epochs", "10", "--no-progress", "--runs-dir",
                                 str(tmp_path / str(ranks))],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        runs.append(json.loads((tmp_path / str(ranks) / "digits" / "metrics.json").read_text()))
    one, two = (run["test"] for run in runs)
    assert one["accuracy"] > 0.9
    assert abs(two["accuracy"] - one["accuracy"]) <= 1 / 180  # two of the 360 test digits, at most
    np.testing.assert_allclose(two["log_loss"], one["log_loss"], rtol=1e-3)
