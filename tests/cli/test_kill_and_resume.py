"""Issue 4, "What it must show" 2: `handgrad train` killed mid-epoch (SIGKILL, and Ctrl-C = SIGINT)
and resumed with --resume ends with weights bit-identical to an uninterrupted run with the same
seed; no partial model or checkpoint file is left behind and the checkpoint always loads."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from handgrad import io
from handgrad.cli.main import main
from handgrad.data.sources import write_body_csv

EPOCHS = 8


def train_args(csv, runs):
    # batch size 1 on 1400 rows: each epoch is long enough to be interrupted inside it
    return ["train", "--data", str(csv), "--hidden", "9", "--batch-size", "1", "--lr", "0.005",
            "--epochs", str(EPOCHS), "--checkpoint-every", "1", "--seed", "3", "--dropout", "0.2",
            "--no-progress", "--runs-dir", str(runs), "--name", "run"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    csv = write_body_csv(root / "body.csv", n=2000)
    assert main(train_args(csv, root / "reference")) == 0  # the uninterrupted run
    return root, csv, load_tensors(root / "reference" / "run" / "model.safetensors")


def load_tensors(path):
    meta, tensors = io.read(path)
    return {k: v for k, v in tensors.items() if k.startswith(("param/", "buffer/"))}


def checkpoint_epoch(path):
    meta, _ = io.read(path, kind="checkpoint")  # raises if the file were partial
    state = meta["extra"]["trainer"]
    return state["epoch"], state["step_in_epoch"]


def wait_for(condition, process, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"training ended before {what}: {out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def start_and_interrupt(csv, runs, sig):
    """Start training in a subprocess; once the checkpoint of epoch 2 is written, wait half an
    epoch and send ``sig`` (in epoch 3, mid-epoch)."""
    ckpt = runs / "run" / "checkpoint.safetensors"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "handgrad.cli.main", *train_args(csv, runs)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(ckpt.exists, process, "the first checkpoint")
    first = time.monotonic()
    first_stat = ckpt.stat().st_ino
    wait_for(lambda: ckpt.stat().st_ino != first_stat, process, "the second checkpoint")
    epoch_seconds = time.monotonic() - first
    time.sleep(epoch_seconds / 2)
    assert process.poll() is None, "training finished before it could be interrupted"
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err, ckpt


def left_overs(run_dir):
    return sorted(p.name for p in run_dir.iterdir() if p.name.endswith(".tmp"))


def resume_and_compare(csv, runs, reference):
    assert main(train_args(csv, runs) + ["--resume"]) == 0
    run_dir = runs / "run"
    assert left_overs(run_dir) == []
    resumed = load_tensors(run_dir / "model.safetensors")
    assert resumed.keys() == reference.keys()
    for key in reference:
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(setup):
    root, csv, reference = setup
    runs = root / "sigkill"
    code, out, err, ckpt = start_and_interrupt(csv, runs, signal.SIGKILL)
    assert code == -signal.SIGKILL
    epoch, _ = checkpoint_epoch(ckpt)  # the last complete checkpoint loads
    assert 2 <= epoch < EPOCHS
    run_dir = runs / "run"
    # nothing at a final name but the intact checkpoint (a kill inside a write can leave only a
    # hidden temporary file, which the resumed run removes)
    assert sorted(p.name for p in run_dir.iterdir()
                  if not p.name.endswith(".tmp") and not p.name.startswith(".handgrad.")) == \
        ["checkpoint.safetensors"]
    resume_and_compare(csv, runs, reference)


def test_ctrl_c_mid_epoch_then_resume_is_bit_identical(setup):
    root, csv, reference = setup
    runs = root / "sigint"
    code, out, err, ckpt = start_and_interrupt(csv, runs, signal.SIGINT)
    assert code == 130, err
    assert "interrupted" in err
    epoch, step = checkpoint_epoch(ckpt)  # Ctrl-C saves where training stood
    assert 2 <= epoch < EPOCHS
    run_dir = runs / "run"
    assert left_overs(run_dir) == []
    assert not (run_dir / "model.safetensors").exists()
    resume_and_compare(csv, runs, reference)


def test_a_kill_inside_a_write_leaves_no_temporary_file_after_resume(setup, tmp_path):
    """What SIGKILL during the checkpoint's write leaves: the old checkpoint and a partial hidden
    temporary file. The resumed run must load the checkpoint and clear the temporary file."""
    root, csv, reference = setup
    runs = tmp_path / "runs"
    args = train_args(csv, runs)
    args[args.index("--epochs") + 1] = "1"
    assert main(args) == 0
    run_dir = runs / "run"
    partial = run_dir / ".checkpoint.safetensors.k1ll3d__.tmp"
    partial.write_bytes((run_dir / "checkpoint.safetensors").read_bytes()[:100])
    args[args.index("--epochs") + 1] = "2"
    assert main(args + ["--resume"]) == 0
    assert left_overs(run_dir) == []
    assert checkpoint_epoch(run_dir / "checkpoint.safetensors") == (2, 0)
