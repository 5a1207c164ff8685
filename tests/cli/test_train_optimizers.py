"""Every optimizer and schedule of handgrad.optim is reachable from `handgrad train` by name,
with its options (issue 3)."""

import json

import pytest

from handgrad.cli.main import main
from handgrad.optim import OPTIMIZERS, SCHEDULES

# Options that make each method well posed on a tiny full-batch problem.
EXTRA = {"lm": ["--loss", "mse"], "newton": ["--opt", "line_search=backtracking"]}
SCHEDULE_OPTIONS = {"step": ["--sched", "step_size=1"], "exponential": ["--sched", "beta=0.1"],
                    "plateau": ["--sched", "patience=1"]}


def train(tmp_path, *args):
    base = ["train", "--data", "iris", "--hidden", "4", "--activation", "tanh", "--epochs", "3",
            "--batch-size", "200", "--no-progress", "--runs-dir", str(tmp_path), "--name", "run"]
    code = main(base + list(args))
    metrics = tmp_path / "run" / "metrics.json"
    return code, json.loads(metrics.read_text()) if metrics.exists() else None


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_trains_from_the_cli(tmp_path, name):
    code, metrics = train(tmp_path, "--optimizer", name, "--lr", "0.01", *EXTRA.get(name, []))
    assert code == 0
    assert metrics["settings"]["optimizer"] == name
    assert len(metrics["history"]["train_loss"]) == 3


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_sets_the_learning_rate(tmp_path, name):
    code, metrics = train(tmp_path, "--optimizer", "sgd", "--lr", "0.1", "--schedule", name,
                          *SCHEDULE_OPTIONS.get(name, []))
    assert code == 0
    lrs = metrics["history"]["lr"]
    if name != "plateau":  # plateau lowers eta only after a stagnation
        assert lrs[-1] < lrs[0]


def test_optimizer_options_reach_the_optimizer(tmp_path, capsys):
    code, _ = train(tmp_path, "--optimizer", "rmsprop", "--opt", "centered=true",
                    "--opt", "momentum=0.5")
    assert code == 0
    code, _ = train(tmp_path, "--optimizer", "adam", "--opt", "beta1=1.5")
    assert code == 2
    assert "beta1" in capsys.readouterr().err


def test_unknown_schedule_is_named(tmp_path, capsys):
    code, _ = train(tmp_path, "--schedule", "cosine")
    assert code == 2
    assert "cosine" in capsys.readouterr().err
