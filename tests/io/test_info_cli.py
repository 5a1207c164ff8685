"""`handgrad info` on a model and a checkpoint trained in the test."""

import json
import re

from cli_helpers import run_error
from handgrad import io
from handgrad.cli.main import main


def test_info_describes_model_and_checkpoint(body_run, capsys):
    root, csv_path, run = body_run
    assert main(["info", str(run / "model.safetensors")]) == 0
    out = capsys.readouterr().out
    model = io.load_model(run / "model.safetensors")
    saved = json.loads((run / "metrics.json").read_text())["test"]
    for text in ("handgrad model", f"parameters: {model.num_parameters}", "Linear(6 -> 9",
                 "Linear(9 -> 2", "task: classification, loss cross_entropy",
                 "classes (2): F, M", "features (6): height, weight", "target: gender",
                 "fitted on the training split", "test metrics",
                 f"accuracy {saved['accuracy']:.4f}"):
        assert text in out, text
    assert re.search(r"hidden=\[?9\]?", out)
    assert main(["info", str(run / "checkpoint.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "handgrad checkpoint" in out and "training state: 4 epochs done" in out


def test_printable_escapes_control_and_format_characters():
    from handgrad.cli.info import printable
    assert printable("a\x1b[2Jb\x07c\u202ed\x9be\nf") == "a\\x1b[2Jb\\x07c\\u202ed\\x9be\nf"
    assert printable("Adélie, 企鹅") == "Adélie, 企鹅"
