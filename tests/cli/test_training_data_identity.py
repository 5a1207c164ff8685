"""`evaluate` and `predict --write-example` find the training split in the training data only,
recognised by content (the model file keeps the file's digest and absolute path): not a file of
the same name elsewhere, not the file changed since, and wherever the command runs from."""

import json

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run_error, train_run
from handgrad.cli.main import main
from handgrad.errors import ModelFileError


def write_classes(path, seed=0, n=300):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    label = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "yes", "no")
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": label}).to_csv(path, index=False)
    return path


@pytest.fixture()
def trained(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    write_classes(home / "cls.csv")
    monkeypatch.chdir(home)  # the path is typed relative to where training runs
    run = train_run(tmp_path / "runs", "--data", "cls.csv", "--epochs", "5", "--name", "c")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return home, run, json.loads((run / "metrics.json").read_text())["test"]


def evaluate(capsys, model, data, *extra):
    capsys.readouterr()
    assert main(["evaluate", str(model), str(data), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_training_file_from_another_folder_scores_the_test_split(trained, capsys):
    home, run, test = trained
    report = evaluate(capsys, run / "model.safetensors", home / "cls.csv")
    assert report["split"] == "test" and report["rows"] == 60
    assert report["accuracy"] == test["accuracy"]


def test_another_file_of_the_same_name_is_not_split_as_the_training_data(trained, capsys, tmp_path):
    home, run, _ = trained
    other = tmp_path / "elsewhere" / "cls.csv"
    frame = pd.read_csv(home / "cls.csv")
    frame.sample(frac=1.0, random_state=1).to_csv(other, index=False)  # same rows, shuffled
    report = evaluate(capsys, run / "model.safetensors", "cls.csv")
    assert report["split"] == "all" and report["rows"] == 300
    err = run_error(capsys, "evaluate", str(run / "model.safetensors"), "cls.csv", "--split", "test")
    assert "cls.csv is not the data" in err and "checked by content" in err and "--split all" in err


def test_write_example_reads_the_training_file_and_refuses_it_changed(trained, capsys, tmp_path):
    home, run, _ = trained
    out = tmp_path / "elsewhere" / "ex.csv"
    assert main(["predict", str(run / "model.safetensors"), "--write-example", str(out)]) == 0
    example = pd.read_csv(out)
    original = pd.read_csv(home / "cls.csv")
    assert len(example) == 60
    merged = example.merge(original, on=["a", "b", "c"])
    assert len(merged) == 60  # every example row is a row of the training file

    write_classes(home / "cls.csv", seed=5)  # the file changes after training
    err = run_error(capsys, "predict", str(run / "model.safetensors"), "--write-example",
                    str(tmp_path / "ex2.csv"))
    assert "is not the data" in err and "checked by content" in err


@pytest.mark.parametrize("record, message", [
    ({"paths": ["/x.csv"]}, "exactly paths and sha256"),
    ({"paths": [], "sha256": "0" * 64}, "one or two non-empty strings"),
    ({"paths": ["/x.csv"], "sha256": "xyz"}, "64 lowercase hex digits"),
    ("cls.csv", "exactly paths and sha256"),
])
def test_a_malformed_data_file_record_is_refused_on_load(trained, tmp_path, record, message):
    from handgrad import io

    _, run, _ = trained
    model, meta = io.load_model(run / "model.safetensors", with_metadata=True)
    meta["data_file"] = record
    bad = tmp_path / "bad.safetensors"
    io.save_model(bad, model, metadata=meta)
    with pytest.raises(ModelFileError, match=message):
        io.load_model(bad, with_metadata=True)
