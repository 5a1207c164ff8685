"""Binary --loss hinge / squared_hinge output a score whose sign is the class, not a probability:
train, metrics.json and evaluate report accuracy, precision, recall and the confusion matrix,
and no log loss (it was computed from sigmoid(score))."""

import json

import numpy as np
import pytest

from cli_helpers import train_run
from handgrad.cli.main import main
from handgrad.train import Task
from handgrad.train.metrics import classification_report


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_score_outputs_have_no_probabilities(loss):
    task = Task("classification", loss, 2, "identity")
    assert not task.gives_probabilities
    assert task.probabilities(np.array([[2.0], [-1.0]])) is None
    report = classification_report(np.array([1, 0]), np.array([1, 0]), None, 2)
    assert "log_loss" not in report and report["accuracy"] == 1.0


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_train_and_evaluate_report_no_log_loss_for_scores(tmp_path, capsys, loss):
    capsys.readouterr()
    run = train_run(tmp_path, "--data", "breast_cancer", "--loss", loss, "--hidden", "4",
                    "--epochs", "2", "--name", loss)
    out = capsys.readouterr().out
    assert "test accuracy" in out and "log loss" not in out
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert "log_loss" not in test and 0.0 <= test["accuracy"] <= 1.0
    assert main(["evaluate", str(run / "model.safetensors"), "breast_cancer"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "log loss" not in text
    assert main(["evaluate", str(run / "model.safetensors"), "breast_cancer", "--json"]) == 0
    assert "log_loss" not in json.loads(capsys.readouterr().out)


def test_probability_outputs_still_report_log_loss(tmp_path, capsys):
    run = train_run(tmp_path, "--data", "breast_cancer", "--loss", "bce_logits", "--hidden", "4",
                    "--epochs", "2", "--name", "bce")
    assert "log loss" in capsys.readouterr().out
    assert json.loads((run / "metrics.json").read_text())["test"]["log_loss"] > 0
