"""A refused `handgrad train` never touches the finished run in its folder: everything training
would refuse after its first steps (the optimizer against the loss, batch norm on batches of one,
early stopping without a validation split) is refused before the folder is cleared, in the
command line's words."""

import pytest

from cli_helpers import assert_one_line_error
from handgrad.cli.main import main

BASE = ["train", "--data", "iris", "--hidden", "4", "--no-progress"]


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if not p.name.startswith(".handgrad.")}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("refused")
    assert main([*BASE, "--epochs", "2", "--runs-dir", str(root), "--name", "o2"]) == 0
    return root


REFUSED = [
    (["--optimizer", "lm"], ["--optimizer lm", "--loss cross_entropy", "squared-error"]),
    (["--batchnorm", "--batch-size", "1"], ["--batch-size 1", "--batchnorm"]),
    (["--val-size", "0", "--patience", "2"], ["--patience 2", "--val-size 0"]),
]


@pytest.mark.parametrize("args, needles", REFUSED, ids=[" ".join(c[0]) for c in REFUSED])
def test_a_refused_run_leaves_the_finished_run_byte_for_byte(finished, capsys, args, needles):
    folder = finished / "o2"
    before = folder_bytes(folder)
    assert {"model.safetensors", "metrics.json", "checkpoint.safetensors"} <= set(before)
    capsys.readouterr()
    code = main([*BASE, "--epochs", "2", "--runs-dir", str(finished), "--name", "o2", *args])
    assert_one_line_error(code, capsys.readouterr().err, needles)
    assert folder_bytes(folder) == before


def test_after_a_refused_early_stopping_run_a_plain_run_starts_afresh(finished, capsys):
    """The refused run used to leave a lone checkpoint, and the next run was refused as an
    unfinished one."""
    argv = [*BASE, "--epochs", "1", "--runs-dir", str(finished), "--name", "fresh"]
    assert main([*argv, "--val-size", "0", "--patience", "2"]) == 2
    assert not (finished / "fresh" / "checkpoint.safetensors").exists()
    assert main(argv) == 0
    assert (finished / "fresh" / "model.safetensors").is_file()
