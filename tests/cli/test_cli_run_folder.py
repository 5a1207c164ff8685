"""Issue 13: one run per folder (a lock, a clear refusal for the second run, the first unharmed),
a full disk (a clear message, nothing lost), what --resume continues with, and where a diverged
run can continue from."""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from handgrad import io
from handgrad.cli.main import main
from handgrad.cli.train import last_good
from handgrad.data.sources import write_body_csv
from handgrad.errors import DivergenceError
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train import Callback, Checkpoint, Task, Trainer, resume

EPOCHS = 4


def run(capsys, argv):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def checkpoint_epoch(path):
    return io.load_checkpoint(path)[2]["trainer"]["epoch"]


@pytest.fixture(scope="module")
def body_csv(tmp_path_factory):
    return write_body_csv(tmp_path_factory.mktemp("body") / "body.csv", n=2000)


def test_a_second_run_in_a_folder_in_use_is_refused_and_the_first_is_unharmed(body_csv, tmp_path,
                                                                               capsys):
    args = ["train", "--data", str(body_csv), "--hidden", "9", "--batch-size", "2",
            "--epochs", str(EPOCHS), "--no-progress", "--runs-dir", str(tmp_path), "--name", "run"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    first = subprocess.Popen([sys.executable, "-m", "handgrad.cli.main", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    owner = tmp_path / "run" / ".handgrad.owner"
    deadline = time.monotonic() + 120
    while not owner.exists():  # the first run holds the lock once it has written its owner line
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run never took the folder"
        time.sleep(0.01)
    for extra in ([], ["--resume"], ["--overwrite"]):
        code, out, err = run(capsys, args + extra)
        line = one_line(err)
        assert code == 2
        assert "in use by another run" in line and str(tmp_path / "run") in line, line
        assert f"process {first.pid}" in line, line
    assert first.poll() is None, "the refused runs must not stop the first"
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    run_dir = tmp_path / "run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == EPOCHS
    assert checkpoint_epoch(run_dir / "checkpoint.safetensors") == EPOCHS
    io.load_model(run_dir / "model.safetensors")
    assert not list(run_dir.glob(".*.tmp"))
    assert not owner.exists()  # released: the folder is free again
    code, out, err = run(capsys, args + ["--resume", "--epochs", str(EPOCHS + 1)])
    assert code == 0, err


def test_disk_full_is_one_line_and_loses_nothing(tmp_path, capsys, monkeypatch):
    args = ["train", "--data", "iris", "--hidden", "4", "--epochs", "3", "--no-progress",
            "--runs-dir", tmp_path, "--name", "full"]
    real_write_all = io._write_all
    calls = []

    def disk_full_on_second_write(fd, data):
        calls.append(len(data))
        if len(calls) == 2:  # the checkpoint after epoch 2
            raise OSError(28, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(io, "_write_all", disk_full_on_second_write)
    code, out, err = run(capsys, args)
    line = one_line(err)
    assert code == 2
    assert "disk is full" in line and "checkpoint.safetensors" in line, line
    run_dir = tmp_path / "full"
    assert checkpoint_epoch(run_dir / "checkpoint.safetensors") == 1  # the last one written whole
    assert not list(run_dir.glob(".*.tmp"))
    monkeypatch.setattr(io, "_write_all", real_write_all)
    code, out, err = run(capsys, args + ["--resume"])  # space again: continue where it stood
    assert code == 0, err
    assert checkpoint_epoch(run_dir / "checkpoint.safetensors") == 3


def test_resume_takes_the_stored_settings_and_says_so(tmp_path, capsys):
    """The README's rmsprop example, then a bare --resume (it failed with "state_dict is for
    optimizer 'rmsprop', not 'momentum'")."""
    base = ["train", "--data", "iris", "--no-progress", "--runs-dir", tmp_path]
    code, out, err = run(capsys, base + ["--optimizer", "rmsprop", "--lr", "0.01",
                                         "--hidden", "6", "--epochs", "2", "--seed", "3"])
    assert code == 0, err
    code, out, err = run(capsys, ["train", "--data", "iris", "--runs-dir", tmp_path, "--resume",
                                  "--epochs", "4"])
    assert code == 0, err
    assert "stored settings" in out and "resumed at epoch 2" in out
    metrics = json.loads((tmp_path / "iris" / "metrics.json").read_text())
    assert metrics["settings"]["optimizer"] == "rmsprop" and metrics["settings"]["lr"] == 0.01
    assert metrics["settings"]["hidden"] == [6] and metrics["settings"]["seed"] == 3
    assert metrics["history"]["lr"] == [0.01] * 4
    assert metrics["epochs"] == 4
    # options equal to the stored ones, and the ones that may change, are accepted
    code, out, err = run(capsys, base + ["--resume", "--lr", "0.01", "--optimizer", "rmsprop",
                                         "--epochs", "5", "--threads", "1", "--checkpoint-every",
                                         "2"])
    assert code == 0, err


def test_resumed_run_equals_one_trained_straight(tmp_path, capsys):
    base = ["train", "--data", "wine", "--hidden", "5", "--no-progress", "--runs-dir", tmp_path,
            "--seed", "4", "--dropout", "0.1"]
    assert run(capsys, base + ["--name", "straight", "--epochs", "4"])[0] == 0
    assert run(capsys, base + ["--name", "split", "--epochs", "2"])[0] == 0
    assert run(capsys, ["train", "--runs-dir", tmp_path, "--name", "split", "--resume",
                        "--epochs", "4", "--data", "wine"])[0] == 0
    a = io.load_model(tmp_path / "straight" / "model.safetensors")
    b = io.load_model(tmp_path / "split" / "model.safetensors")
    np.testing.assert_array_equal(a.theta, b.theta)


def test_a_fresh_run_never_mixes_with_an_earlier_one(tmp_path, capsys):
    base = ["train", "--data", "iris", "--no-progress", "--runs-dir", tmp_path, "--name", "x"]
    assert run(capsys, base + ["--hidden", "4", "--epochs", "2"])[0] == 0
    run_dir = tmp_path / "x"
    (run_dir / "model.safetensors").unlink()  # as after a kill: a checkpoint, no model
    before = (run_dir / "checkpoint.safetensors").read_bytes()
    code, out, err = run(capsys, base + ["--hidden", "8", "--epochs", "1"])
    line = one_line(err)
    assert code == 2 and "unfinished run" in line and "--resume" in line and "--overwrite" in line
    assert (run_dir / "checkpoint.safetensors").read_bytes() == before
    code, out, err = run(capsys, base + ["--hidden", "8", "--epochs", "1", "--overwrite"])
    assert code == 0, err
    model = io.load_model(run_dir / "model.safetensors")
    _, tensors, state = io.load_checkpoint(run_dir / "checkpoint.safetensors")
    assert state["metadata"]["settings"]["hidden"] == [8]
    np.testing.assert_array_equal(tensors["param/0.W"], model.named_parameters().__next__()[1].data)
    # a finished run is replaced by the next fresh run, and says so
    code, out, err = run(capsys, base + ["--hidden", "3", "--epochs", "1"])
    assert code == 0 and "replacing the earlier run" in out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the huge learning rate overflows on purpose
def test_divergence_names_the_real_last_checkpoint(tmp_path, capsys):
    fresh = ["train", "--data", "iris", "--hidden", "8", "--epochs", "3", "--optimizer", "sgd",
             "--no-progress", "--runs-dir", tmp_path]
    code, out, err = run(capsys, fresh + ["--name", "a", "--lr", "1e6"])
    assert code == 1
    assert "No checkpoint was written" in out and "does not exist" in out
    assert not (tmp_path / "a" / "checkpoint.safetensors").exists()
    # a config file may not change lr on resume either
    code, out, err = run(capsys, fresh + ["--name", "c", "--lr", "0.01", "--epochs", "1"])
    assert code == 0
    hack = tmp_path / "hack.toml"
    hack.write_text("lr = 1e6\nepochs = 3\n")
    code, out, err = run(capsys, ["train", "--runs-dir", tmp_path, "--name", "c", "--resume",
                                  "--data", "iris", "--config", hack])
    assert code == 2 and re.search(r"lr in .*hack\.toml 1000000.0 \(the run has 0.01\)", err), err
    # a run that diverges after its first checkpoint names that one, with its epoch; so does a
    # resumed run that diverges before writing a checkpoint of its own
    path = tmp_path / "b" / "checkpoint.safetensors"
    trainer = diverging_trainer(path, epochs=4, blow_up_after=2)
    with pytest.raises(DivergenceError):
        trainer.fit(*blobs())
    assert last_good(trainer, path).startswith(f"The last good checkpoint is {path} (epoch 2);")
    again = diverging_trainer(path, epochs=4, blow_up_after=0)
    resume(again, path)
    with pytest.raises(DivergenceError):
        again.fit(*blobs())
    assert f"{path} (epoch 2)" in last_good(again, path)
    assert checkpoint_epoch(path) == 2


class BlowUp(Callback):
    def __init__(self, after):
        self.after = after

    def on_train_begin(self, trainer):
        if self.after == 0:
            trainer.optimizer.lr = 1e300

    def on_epoch_end(self, trainer, record):
        if trainer.epoch == self.after:
            trainer.optimizer.lr = 1e300


def blobs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    return x, (x[:, 0] > 0).astype(np.int64)


def diverging_trainer(path, epochs, blow_up_after):
    model = MLP([3, 6, 2], rng=1, dtype=np.float64)
    return Trainer(model, get_loss("cross_entropy"), get_optimizer("sgd", model, lr=0.1),
                   task=Task("classification", "cross_entropy", 2), batch_size=10, epochs=epochs,
                   callbacks=[Checkpoint(path), BlowUp(blow_up_after)])


def test_diabetes_trains_with_the_regression_defaults(tmp_path, capsys):
    """`handgrad train --data diabetes` diverged with the classification defaults; now the target
    is standardised, the metrics are in its own units, and the test R^2 is that of a fitted
    model (linear regression on this split: 0.33)."""
    code, out, err = run(capsys, ["train", "--data", "diabetes", "--no-progress",
                                  "--runs-dir", tmp_path])
    assert code == 0, err
    metrics = json.loads((tmp_path / "diabetes" / "metrics.json").read_text())
    assert metrics["settings"]["optimizer"] == "adam" and metrics["settings"]["loss"] == "mse"
    assert metrics["test"]["r2"] > 0.3
    # MSE in the target's units (disease progression, variance ~6000), not standardised (~1)
    assert metrics["test"]["mse"] > 1000


def test_import_optim_does_not_load_progress_bars_files_or_plots():
    code = ("import sys, handgrad.optim, handgrad.train.closure; "
            "print(sorted(m for m in ('tqdm', 'safetensors', 'matplotlib', 'handgrad.io') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
