"""`handgrad evaluate`, `predict` and `info` on models trained in the test, and the CLI's errors for
bad input (issue 4)."""

import csv
import gzip
import json

import numpy as np
import pytest

from handgrad import io
from handgrad.cli.main import main
from cli_helpers import run_error, train_run as train
from handgrad.data.preprocessing import Standardizer
from handgrad.data.sources import body_table, read_feature_csv, write_body_csv
from handgrad.train.task import Task


def library_outputs(model_path, x_raw):
    """What the library itself predicts for raw feature rows, from the file's metadata."""
    model, meta = io.load_model(model_path, with_metadata=True)
    scaler = Standardizer.from_state(meta["scaler"])
    y = model.forward(scaler.transform(x_raw).astype(model.dtype))
    return Task(**meta["task"]), y, meta


def evaluate_json(capsys, *args):
    capsys.readouterr()  # drop what came before
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- evaluate -----------------------------------------------------------------------------------
def test_evaluate_on_the_training_csv_reproduces_the_test_metrics(body_run, capsys):
    root, csv_path, run = body_run
    report = evaluate_json(capsys, str(run / "model.safetensors"), str(csv_path))
    saved = json.loads((run / "metrics.json").read_text())["test"]
    assert report["split"] == "test" and report["rows"] == 80
    assert report["confusion_matrix"] == saved["confusion_matrix"]
    for key in ("accuracy", "log_loss", "precision", "recall"):
        assert report[key] == pytest.approx(saved[key]), key


def test_evaluate_all_rows_matches_the_library(body_run, capsys):
    root, csv_path, run = body_run
    report = evaluate_json(capsys, str(run / "model.safetensors"), "body")  # the named set
    assert report["split"] == "all" and report["rows"] == 400
    header, rows = body_table()
    x = np.array([r[1:7] for r in rows], dtype=np.float64)
    task, y, meta = library_outputs(run / "model.safetensors", x)
    truth = np.array([meta["classes"].index(r[7]) for r in rows])
    predicted = task.predict(y)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == truth))
    matrix = np.zeros((2, 2), int)
    np.add.at(matrix, (truth, predicted), 1)
    assert report["confusion_matrix"] == matrix.tolist()


def test_evaluate_prints_a_readable_report(body_run, capsys):
    root, csv_path, run = body_run
    assert main(["evaluate", str(run / "model.safetensors"), str(csv_path)]) == 0
    out = capsys.readouterr().out
    for text in ("test split, 80 rows", "accuracy", "log loss", "precision", "recall",
                 "confusion matrix"):
        assert text in out


def test_evaluate_regression_reports_on_the_original_scale(regression_run, capsys):
    root, path, run = regression_run
    report = evaluate_json(capsys, str(run / "model.safetensors"), str(path))
    saved = json.loads((run / "metrics.json").read_text())["test"]
    assert report["split"] == "test"
    for key in ("mse", "mae", "r2"):
        assert report[key] == pytest.approx(saved[key]), key
    everything = evaluate_json(capsys, str(run / "model.safetensors"), str(path),
                               "--split", "all")
    x = read_feature_csv(path, ["a", "b", "c"])
    d = read_feature_csv(path, ["price"])[:, 0]
    task, y, meta = library_outputs(run / "model.safetensors", x)
    # in float64, whatever the model's dtype: y std + mean in float32 rounds large targets
    values = y[:, 0].astype(np.float64) * meta["target_scale"]["std"] + meta["target_scale"]["mean"]
    assert everything["mse"] == pytest.approx(np.mean((values - d) ** 2))
    assert everything["mae"] == pytest.approx(np.mean(np.abs(values - d)))


def test_evaluate_on_idx_files(tmp_path, capsys):
    """A model trained on the 8x8 digits scores MNIST-format files of the same images."""
    from sklearn.datasets import load_digits

    run = train(tmp_path, "--data", "digits", "--hidden", "16", "--epochs", "2", "--name", "dg")
    digits = load_digits()
    images = digits.images[:300].astype(np.uint8)
    labels = digits.target[:300].astype(np.uint8)
    img, lab = tmp_path / "img-idx3-ubyte.gz", tmp_path / "lab-idx1-ubyte"
    img.write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0, 1, 44, 0, 0, 0, 8, 0, 0, 0, 8]) +
                                  images.tobytes()))
    lab.write_bytes(bytes([0, 0, 8, 1, 0, 0, 1, 44]) + labels.tobytes())
    report = evaluate_json(capsys, str(run / "model.safetensors"), f"idx:{img},{lab}")
    task, y, meta = library_outputs(run / "model.safetensors", digits.data[:300])
    assert report["rows"] == 300
    assert report["accuracy"] == pytest.approx(np.mean(task.predict(y) == digits.target[:300]))


# --- predict ------------------------------------------------------------------------------------
def test_predict_writes_the_librarys_predictions(body_run, tmp_path, capsys):
    root, csv_path, run = body_run
    header, rows = body_table()
    # columns in another order, with the id and without the target: matched by name
    order = ["jawline length", "id", "height", "femur length", "weight", "jawline width",
             "bone density"]
    picked = [[r[header.index(c)] for c in order] for r in rows[:50]]
    new = tmp_path / "new.csv"
    with new.open("w", newline="") as f:
        csv.writer(f).writerows([order, *picked])
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run / "model.safetensors"), str(new), "--out", str(out)]) == 0
    assert "wrote 50 predictions" in capsys.readouterr().out

    with out.open(newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == ["prediction", "p_F", "p_M"]
    x = np.array([r[1:7] for r in rows[:50]], dtype=np.float64)
    task, y, meta = library_outputs(run / "model.safetensors", x)
    p = task.probabilities(y)
    assert [r[0] for r in written[1:]] == [meta["classes"][k] for k in task.predict(y)]
    np.testing.assert_array_equal(np.array([[float(v) for v in r[1:]] for r in written[1:]]), p)
    assert not list(tmp_path.glob(".*.tmp"))


def test_predict_regression_values(regression_run, tmp_path):
    root, path, run = regression_run
    out = tmp_path / "p.csv"
    assert main(["predict", str(run / "model.safetensors"), str(path), "--out", str(out)]) == 0
    with out.open(newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == ["prediction"]
    x = read_feature_csv(path, ["a", "b", "c"])
    task, y, meta = library_outputs(run / "model.safetensors", x)
    # in float64, whatever the model's dtype: y std + mean in float32 rounds large targets
    values = y[:, 0].astype(np.float64) * meta["target_scale"]["std"] + meta["target_scale"]["mean"]
    np.testing.assert_allclose([float(r[0]) for r in written[1:]], values, rtol=1e-12)


# --- bad input ----------------------------------------------------------------------------------
def test_evaluate_and_predict_errors_name_the_problem(body_run, tmp_path, capsys):
    root, csv_path, run = body_run
    model = str(run / "model.safetensors")
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("height,weight,gender\n150,60,F\n170,80,M\n")
    err = run_error(capsys, "evaluate", model, str(lacking))
    assert "lacking.csv: lacks the model's feature column(s) ['bone density'" in err
    err = run_error(capsys, "predict", model, str(lacking), "--out", str(tmp_path / "p.csv"))
    assert "lacks the model's feature column(s) ['bone density'" in err
    assert not (tmp_path / "p.csv").exists()

    header, rows = body_table()
    other = tmp_path / "other.csv"
    with other.open("w", newline="") as f:
        csv.writer(f).writerows([header[1:], *[[*r[1:7], "X"] for r in rows[:5]]])
    err = run_error(capsys, "evaluate", model, str(other))
    assert "label(s) ['X'] are not among the model's classes ['F', 'M']" in err
    err = run_error(capsys, "evaluate", model, str(other), "--target", "sex")
    assert "target column 'sex' not found" in err

    not_a_model = tmp_path / "model.safetensors"
    not_a_model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    for command in (["info"], ["evaluate"], ["predict"]):
        extra = [] if command == ["info"] else [str(csv_path)]
        err = run_error(capsys, *command, str(not_a_model), *extra)
        assert "not a valid handgrad file" in err or "not a handgrad model" in err
    err = run_error(capsys, "info", str(tmp_path / "missing.safetensors"))
    assert "model file not found" in err


@pytest.mark.parametrize("text, message", [
    ("a,b,y\n1,2,x\n3,,z\n", "missing values in column(s) 'b' (1), at line 3"),
    ("a,b,y\n1,2,x\n3,tall,z\n", "column 'b' mixes numbers ('2' at line 2) and text ('tall' at "
                                 "line 3)"),
    ("a,b,y\n" + "1,2,x\n" * 8, "single class ('x')"),
])
def test_train_on_a_bad_csv_is_named(tmp_path, capsys, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    err = run_error(capsys, "train", "--data", str(path), "--epochs", "1", "--no-progress",
                    "--runs-dir", str(tmp_path))
    assert message in err and "bad.csv" in err


def test_train_on_a_csv_without_the_target_column_is_named(tmp_path, capsys):
    path = write_body_csv(tmp_path / "body.csv")
    err = run_error(capsys, "train", "--data", str(path), "--target", "sex", "--epochs", "1",
                    "--no-progress", "--runs-dir", str(tmp_path))
    assert "target column 'sex' not found" in err


def test_two_vs_not_two_with_one_sigmoid_output(tmp_path, capsys):
    """001's first set-up: one sigmoid output, d in {0, 1}, the binary divergence."""
    from sklearn.datasets import load_digits

    run = train(tmp_path, "--data", "digits_2_vs_not_2", "--loss", "bce", "--hidden", "16",
                "--epochs", "3", "--name", "two")
    model, meta = io.load_model(run / "model.safetensors", with_metadata=True)
    layers = model.config()["layers"]
    assert layers[-2]["out_features"] == 1 and layers[-1] == {"type": "Activation",
                                                               "name": "sigmoid"}
    assert meta["classes"] == ["not 2", "2"]
    report = evaluate_json(capsys, str(run / "model.safetensors"), "digits_2_vs_not_2")
    saved = json.loads((run / "metrics.json").read_text())["test"]
    assert report["accuracy"] == pytest.approx(saved["accuracy"]) and report["rows"] == 360

    digits = load_digits()
    new = tmp_path / "pixels.csv"
    with new.open("w", newline="") as f:
        csv.writer(f).writerows([digits.feature_names, *digits.data[:40].tolist()])
    out = tmp_path / "p.csv"
    assert main(["predict", str(run / "model.safetensors"), str(new), "--out", str(out)]) == 0
    with out.open(newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == ["prediction", "p_not 2", "p_2"]
    y = model.forward(Standardizer.from_state(meta["scaler"]).transform(digits.data[:40])
                      .astype(model.dtype))
    assert [r[0] for r in written[1:]] == ["2" if v > 0.5 else "not 2" for v in y[:, 0]]
    np.testing.assert_array_equal([float(r[2]) for r in written[1:]], y[:, 0])
