"""The main job: `handgrad train` with no arguments (issue 2, items 2 and 5)."""

import json

import numpy as np
import pytest

from handgrad import io
from handgrad.cli.main import main


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["train", "--runs-dir", str(runs), "--no-progress"]) == 0
    return runs / "digits"


def test_main_job_reaches_96_percent_and_writes_its_files(default_run):
    for name in ("model.safetensors", "metrics.json", "loss_curve.png", "checkpoint.safetensors"):
        assert (default_run / name).is_file(), name
    metrics = json.loads((default_run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.96
    losses = metrics["history"]["train_loss"]
    assert losses[-1] < 0.2 * losses[0]  # the curve the PNG shows decreases
    assert (default_run / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_job_model_predicts_like_it_reported(default_run):
    from handgrad.data import load_dataset
    from handgrad.train.task import Task

    model, meta = io.load_model(default_run / "model.safetensors", with_metadata=True)
    ds = load_dataset("digits")
    task = Task(**meta["task"])
    accuracy = np.mean(task.predict(model.forward(ds.x_test)) == ds.d_test)
    metrics = json.loads((default_run / "metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["test"]["accuracy"])


def test_same_seed_gives_bit_identical_weights(tmp_path):
    args = ["train", "--data", "iris", "--hidden", "8", "--epochs", "5", "--no-progress"]
    for name in ("a", "b"):
        assert main(args + ["--runs-dir", str(tmp_path), "--name", name]) == 0
    a = io.load_model(tmp_path / "a" / "model.safetensors")
    b = io.load_model(tmp_path / "b" / "model.safetensors")
    assert np.array_equal(a.theta, b.theta)
    assert main(args + ["--runs-dir", str(tmp_path), "--name", "c", "--seed", "1"]) == 0
    c = io.load_model(tmp_path / "c" / "model.safetensors")
    assert not np.array_equal(a.theta, c.theta)


@pytest.mark.parametrize("args, message", [
    (["--activation", "swish"], "unknown activation 'swish'"),
    (["--loss", "huber"], "unknown loss 'huber'"),
    (["--optimizer", "adamax"], "adamax"),
    (["--data", "no_such_set"], "unknown data set 'no_such_set'"),
])
def test_unknown_options_are_named(tmp_path, capsys, args, message):
    code = main(["train", "--runs-dir", str(tmp_path), "--no-progress", "--epochs", "1"] + args)
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("regularizer", [["--dropout", "0.4"], ["--batchnorm"]])
def test_digits_with_dropout_or_batchnorm_reach_98_percent(tmp_path, regularizer):
    """Issue 4: the README's command for the digits with a regularizing layer."""
    args = ["train", "--hidden", "512", *regularizer, "--optimizer", "adam", "--lr", "0.001",
            "--epochs", "80", "--val-size", "0", "--no-progress", "--runs-dir", str(tmp_path)]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "digits" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.98


def test_blas_thread_cap_is_deterministic_and_validated(tmp_path, capsys):
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info()]
    args = ["train", "--data", "wine", "--hidden", "16", "--epochs", "4", "--no-progress",
            "--threads", "1", "--runs-dir", str(tmp_path)]
    for name in ("a", "b"):
        assert main(args + ["--name", name]) == 0
    a = io.load_model(tmp_path / "a" / "model.safetensors")
    b = io.load_model(tmp_path / "b" / "model.safetensors")
    assert np.array_equal(a.theta, b.theta)
    assert [pool["num_threads"] for pool in threadpool_info()] == before  # restored after fit
    assert main(args[:-4] + ["--threads", "0", "--runs-dir", str(tmp_path)]) == 2
    assert "invalid --threads: 0" in capsys.readouterr().err
