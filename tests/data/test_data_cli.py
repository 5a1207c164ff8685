"""Issue 13, the data share of the CLI's bad-input suite and real data as users bring it:
`handgrad train/evaluate/predict` on awkward files, the Palmer-penguins-like flow with --impute,
`predict --write-example`, and the CSVs predict writes.

Error rows go through `handgrad.cli.main.main([...])` and expect exit code 2 and one line on
stderr, without a traceback, that names the file / option / column.
"""

import csv
import json
import warnings

import numpy as np
import pytest

from handgrad import io
from cli_helpers import assert_one_line_error, train_run
from handgrad.cli.main import main
from handgrad.data import DataWarning

SPECIES = ("Adelie", "Chinstrap", "Gentoo")
COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
           "body_mass_g", "sex", "year"]


def penguins_rows(n=150, seed=1):
    """The Palmer penguins' quirks: species first (the target, named with --target), text columns
    (island, sex), NA in the measurements and in sex, an integer year."""
    rng = np.random.default_rng(seed)
    means = {"Adelie": (38.8, 18.3, 190, 3700), "Chinstrap": (48.8, 18.4, 196, 3730),
             "Gentoo": (47.5, 15.0, 217, 5076)}
    islands = {"Adelie": ["Torgersen", "Biscoe", "Dream"], "Chinstrap": ["Dream"],
               "Gentoo": ["Biscoe"]}
    rows = []
    for i in range(n):
        s = SPECIES[i % 3]
        m = means[s]
        rows.append([s, islands[s][i % len(islands[s])], f"{m[0] + rng.normal(0, 2.5):.1f}",
                     f"{m[1] + rng.normal(0, 1.0):.1f}", str(int(m[2] + rng.normal(0, 6))),
                     str(int(m[3] + rng.normal(0, 300))), ("male", "female")[i % 2],
                     str(2007 + i % 3)])
    for i in (3, 40):
        rows[i][2:7] = ["NA"] * 5
    for i in (8, 9, 10, 77):
        rows[i][6] = "NA"
    return rows


def write_csv(path, header, rows, **kwargs):
    with path.open("w", newline="", encoding=kwargs.pop("encoding", "utf-8")) as f:
        writer = csv.writer(f, **kwargs)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.reader(f))


def run(capsys, *argv):
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    root = tmp_path_factory.mktemp("penguins")
    data = write_csv(root / "penguins.csv", COLUMNS, penguins_rows())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        run = train_run(root, "--data", str(data), "--target", "species", "--impute", "median",
                        "--hidden", "16", "--epochs", "30", "--name", "pg")
    return root, data, run / "model.safetensors"


# --- the penguins flow -------------------------------------------------------------------------
def test_penguins_train_evaluate_predict(penguins, tmp_path, capsys):
    root, data, model = penguins
    _, meta = io.load_model(model, with_metadata=True)
    assert meta["classes"] == list(SPECIES)
    assert meta["preprocessing"]["impute"] == "median"
    assert meta["preprocessing"]["categorical"] == [["island", ["Biscoe", "Dream", "Torgersen"]],
                                                    ["sex", ["female", "male"]]]
    assert meta["input_names"][-5:] == ["island=Biscoe", "island=Dream", "island=Torgersen",
                                        "sex=female", "sex=male"]
    saved = json.loads((model.parent / "metrics.json").read_text())["test"]
    assert saved["accuracy"] > 0.9  # the species separate well on these measurements

    code, out, err = run(capsys, "evaluate", model, data, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["split"] == "test" and report["accuracy"] == pytest.approx(saved["accuracy"])

    rows_csv = tmp_path / "rows.csv"
    code, out, err = run(capsys, "predict", model, "--write-example", rows_csv)
    assert code == 0, err
    written = read_csv(rows_csv)
    assert written[0] == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
                          "year", "island", "sex"]
    assert len(written) == 1 + report["rows"]

    out_csv = tmp_path / "p.csv"
    code, out, err = run(capsys, "predict", model, rows_csv, "--out", out_csv)
    assert code == 0, err
    predicted = read_csv(out_csv)
    assert predicted[0] == ["prediction", "p_Adelie", "p_Chinstrap", "p_Gentoo"]
    from handgrad.cli.evaluate import SavedModel
    from handgrad.data.columns import read_features

    saved_model = SavedModel(model)  # the library, from the model file's own preprocessing
    y = saved_model.outputs(read_features(rows_csv, saved_model.preprocessor.numeric_names,
                                          saved_model.categorical))
    p = saved_model.task.probabilities(y)
    np.testing.assert_array_equal([[float(v) for v in r[1:]] for r in predicted[1:]], p)
    assert [r[0] for r in predicted[1:]] == [SPECIES[k] for k in p.argmax(axis=1)]
    accuracy = np.mean([r[0] == t for r, t in zip(predicted[1:], _test_species(data, model))])
    assert accuracy == pytest.approx(saved["accuracy"])


def _test_species(data, model):
    from handgrad.cli.evaluate import SavedModel, read_data, select_rows

    saved = SavedModel(model)
    frame, d, *_ = read_data(saved, str(data), None)
    _, d_test = select_rows(saved, saved.frame(frame), saved.class_indices(
        [SPECIES[k] for k in d], "x"), "test", str(data), saved.classes)
    return [SPECIES[k] for k in d_test]


def test_penguins_new_rows_with_na_and_an_unseen_island(penguins, tmp_path, capsys):
    root, data, model = penguins
    new = write_csv(tmp_path / "new.csv", ["sex", "island", "year", "body_mass_g",
                                           "flipper_length_mm", "bill_depth_mm", "bill_length_mm",
                                           "id"],
                    [["NA", "Atlantis", "2008", "5000", "216", "15.1", "47.0", "p1"],
                     ["male", "Dream", "2009", "NA", "196", "18.3", "49.0", "p2"]])
    capsys.readouterr()
    code = main(["predict", str(model), str(new), "--out", str(tmp_path / "p.csv")])
    assert code == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("handgrad predict: warning: ")
    assert ("new.csv: column 'island' holds 1 value(s) never seen in training ('Atlantis' at "
            "line 2)") in warning[0]
    predicted = read_csv(tmp_path / "p.csv")
    assert [r[0] for r in predicted[1:]] == ["Gentoo", "Chinstrap"]


def test_penguins_without_impute_names_the_missing_cells(penguins, tmp_path, capsys):
    root, data, model = penguins
    code, out, err = run(capsys, "train", "--data", data, "--target", "species", "--epochs", "1",
                         "--no-progress", "--runs-dir", tmp_path)
    assert_one_line_error(code, err, ["penguins.csv: missing values in column(s)",
                                      "'sex' (6)", "lines 5, 10, 11, 12, 42", "--impute"])


def test_na_target_rows_are_dropped_with_a_warning(penguins, tmp_path, capsys):
    root, data, model = penguins
    capsys.readouterr()
    code = main(["train", "--data", str(data), "--target", "sex", "--impute", "mean",
                 "--epochs", "1", "--no-progress", "--runs-dir", str(tmp_path)])
    assert code == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("handgrad train: warning: ")
    assert warning[0].endswith("penguins.csv: dropped 6 row(s) whose target 'sex' is missing "
                               "(lines 5, 10, 11, 12, 42 and 1 more)")
    _, meta = io.load_model(tmp_path / "penguins_csv" / "model.safetensors", with_metadata=True)
    assert meta["classes"] == ["female", "male"]  # NA is not a class


# --- the README's predict example ----------------------------------------------------------------
def test_readme_predict_example_works_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--epochs", "1", "--hidden", "16", "--no-progress")
    assert code == 0, err
    code, out, err = run(capsys, "predict", "runs/digits/model.safetensors", "--write-example",
                         "new_rows.csv")
    assert code == 0, err
    header = read_csv(tmp_path / "new_rows.csv")[0]
    assert header[:2] == ["pixel_0_0", "pixel_0_1"] and len(header) == 64
    code, out, err = run(capsys, "predict", "runs/digits/model.safetensors", "new_rows.csv",
                         "--out", "predictions.csv")
    assert code == 0, err
    predicted = read_csv(tmp_path / "predictions.csv")
    assert predicted[0] == ["prediction"] + [f"p_{k}" for k in range(10)]
    assert len(predicted) == 1 + 360
    probabilities = np.array([[float(v) for v in r[1:]] for r in predicted[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    report = json.loads((tmp_path / "runs" / "digits" / "metrics.json").read_text())["test"]
    from sklearn.datasets import load_digits
    from handgrad.data.datasets import split
    digits = load_digits()
    _, _, (x_test, d_test) = split(digits.data, digits.target, "classification", 0.2, 0.1, 0)
    rows = np.array([[float(v) for v in r] for r in read_csv(tmp_path / "new_rows.csv")[1:]])
    np.testing.assert_array_equal(rows, x_test)  # the test split's raw pixels
    accuracy = np.mean([int(r[0]) == t for r, t in zip(predicted[1:], d_test)])
    assert accuracy == pytest.approx(report["accuracy"])


# --- what predict writes --------------------------------------------------------------------------
def _class_csv(tmp_path, labels):
    rng = np.random.default_rng(3)
    rows = []
    for i in range(60):
        k = i % len(labels)
        rows.append([f"{k + rng.normal(0, 0.2):.3f}", f"{rng.normal():.3f}", labels[k]])
    return write_csv(tmp_path / "c.csv", ["a", "b", "label"], rows)


def test_class_names_with_commas_quotes_and_newlines_round_trip(tmp_path, capsys):
    labels = ['a, "quoted"', "line\nbreak", "=cmd|x"]
    data = _class_csv(tmp_path, labels)
    model = train_run(tmp_path, "--data", str(data), "--hidden", "8", "--epochs", "20",
                      "--name", "q") / "model.safetensors"
    code, out, err = run(capsys, "predict", model, data, "--out", tmp_path / "p.csv")
    assert code == 0, err
    predicted = read_csv(tmp_path / "p.csv")
    assert predicted[0] == ["prediction"] + [f"p_{c}" for c in sorted(labels)]
    assert {r[0] for r in predicted[1:]} <= set(labels)
    assert all(len(r) == 4 for r in predicted)


@pytest.mark.parametrize("loss, header", [
    ("hinge", ["prediction", "score"]),
    ("mae", ["prediction", "score_x", "score_z"]),
    ("mse", ["prediction", "p_x", "p_z"]),  # a sigmoid output (mse's), normalised per row
    ("bce", ["prediction", "p_x", "p_z"]),
    ("bce_logits", ["prediction", "p_x", "p_z"]),
    ("kl", ["prediction", "p_x", "p_z"]),
    ("nll", ["prediction", "p_x", "p_z"]),
])
def test_probability_columns_only_for_probability_outputs(tmp_path, capsys, loss, header):
    data = _class_csv(tmp_path, ["x", "z"])
    model = train_run(tmp_path, "--data", str(data), "--hidden", "4", "--epochs", "2",
                      "--loss", loss, "--name", loss) / "model.safetensors"
    code, out, err = run(capsys, "predict", model, data, "--out", tmp_path / "p.csv")
    assert code == 0, err
    predicted = read_csv(tmp_path / "p.csv")
    assert predicted[0] == header
    if header[1].startswith("p_"):
        p = np.array([[float(v) for v in r[1:]] for r in predicted[1:]])
        assert (p >= 0).all() and np.allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_model_files_written_before_preprocessing_metadata_still_predict(tmp_path, capsys):
    data = _class_csv(tmp_path, ["x", "z"])
    model_path = train_run(tmp_path, "--data", str(data), "--hidden", "4", "--epochs", "2",
                           "--name", "old") / "model.safetensors"
    model, meta = io.load_model(model_path, with_metadata=True)
    code, out, err = run(capsys, "predict", model_path, data, "--out", tmp_path / "new.csv")
    assert code == 0, err
    old_meta = {k: v for k, v in meta.items() if k not in ("preprocessing", "input_names")}
    io.save_model(tmp_path / "old.safetensors", model, old_meta)
    code, out, err = run(capsys, "predict", tmp_path / "old.safetensors", data, "--out",
                         tmp_path / "old.csv")
    assert code == 0, err
    assert read_csv(tmp_path / "old.csv") == read_csv(tmp_path / "new.csv")


def test_regression_metrics_and_predictions_in_the_targets_units(tmp_path, capsys):
    """`handgrad train --data diabetes` trains with its defaults (the target standardised for
    training) and reports in the target's units (disease progression, about 25..346)."""
    run_dir = train_run(tmp_path, "--data", "diabetes", "--name", "diab")
    report = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert report["r2"] > 0.2  # it trains (the default once diverged at epoch 1)
    assert 1000 < report["mse"] < 6000  # squared units of the target, not of its z-scores
    _, meta = io.load_model(run_dir / "model.safetensors", with_metadata=True)
    assert 140 < meta["target_scale"]["mean"] < 160 and 70 < meta["target_scale"]["std"] < 85
    rows = tmp_path / "rows.csv"
    code, out, err = run(capsys, "predict", run_dir / "model.safetensors", "--write-example", rows)
    assert code == 0, err
    code, out, err = run(capsys, "predict", run_dir / "model.safetensors", rows, "--out",
                         tmp_path / "p.csv")
    assert code == 0, err
    values = np.array([float(r[0]) for r in read_csv(tmp_path / "p.csv")[1:]])
    assert len(values) == 89 and 50 < values.mean() < 250


# --- bad input through the CLI -------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A trained classifier on a CSV and a folder of bad files."""
    root = tmp_path_factory.mktemp("small")
    data = write_csv(root / "good.csv", ["a", "b", "label"],
                     [[i, (i * 7) % 5, "xz"[i % 2]] for i in range(40)])
    model = train_run(root, "--data", str(data), "--hidden", "4", "--epochs", "2", "--name", "s")
    files = {
        "dups.csv": "a,b,a,label\n1,2,3,x\n",
        "empty_names.csv": ",,label\n1,2,x\n",
        "text.csv": "a,b,label\n1,tall,x\n2,3,z\n",
        "words.csv": "a,b,label\n1,p,x\n2,q,z\n",
        "missing.csv": "a,b,label\n1,,x\n2,3,z\n",
        "lacking.csv": "a,label\n1,x\n",
        "unknown_label.csv": "a,b,label\n1,2,w\n2,3,x\n",
        "short.csv": "a,b,label\n1,2,x\n3,4\n5,6,z\n",
        "header_only.csv": "a,b,label\n",
        "empty.csv": "",
        "numbers_header.csv": "1,2,3\n4,5,6\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "latin.csv").write_bytes("a,b,label\n1,2,caf\xe9\n".encode("latin-1"))
    (root / "binary.csv").write_bytes(b"\x00\x01\x02\x03\x04")
    (root / "folder").mkdir()
    return root, data, model / "model.safetensors"


BAD = [
    # (argv after the command with {root} paths, words the one-line message has)
    (["evaluate", "{model}", "{root}/nope.csv"], ["data file not found", "nope.csv"]),
    (["evaluate", "{model}", "{root}/folder"], ["folder is a directory"]),
    (["evaluate", "{model}", "{root}/dups.csv"], ["dups.csv", "['a'] appear more than once"]),
    (["evaluate", "{model}", "{root}/empty_names.csv"], ["empty_names.csv", "no name"]),
    (["evaluate", "{model}", "{root}/text.csv"], ["text.csv", "column 'b' mixes numbers"]),
    (["evaluate", "{model}", "{root}/words.csv"], ["words.csv", "column 'b' must be numeric",
                                                   "'p' at line 2"]),
    (["evaluate", "{model}", "{root}/missing.csv"], ["missing.csv", "'b' (1)", "line 2"]),
    (["evaluate", "{model}", "{root}/lacking.csv"], ["lacking.csv", "lacks the model's feature "
                                                     "column(s) ['b']"]),
    (["evaluate", "{model}", "{root}/unknown_label.csv"], ["unknown_label.csv", "['w']",
                                                           "not among the model's classes"]),
    (["evaluate", "{model}", "{root}/short.csv"], ["short.csv", "line 3 has 2 fields"]),
    (["evaluate", "{model}", "{root}/header_only.csv"], ["header_only.csv", "data row"]),
    (["evaluate", "{model}", "{root}/empty.csv"], ["empty.csv", "is empty"]),
    (["evaluate", "{model}", "{root}/numbers_header.csv"], ["numbers_header.csv",
                                                            "no header row"]),
    (["evaluate", "{model}", "{root}/latin.csv"], ["latin.csv", "byte 0xe9", "--encoding"]),
    (["evaluate", "{model}", "{root}/binary.csv"], ["binary.csv", "binary data"]),
    (["evaluate", "{model}", "{data}", "--encoding", "klingon"], ["invalid encoding: 'klingon'"]),
    (["evaluate", "{model}", "{data}", "--target", "nope"], ["target column 'nope' not found"]),
    (["evaluate", "{model}", "iris"], ["iris", "lacks the model's feature column(s)"]),
    (["evaluate", "{model}", "no_such_set"], ["unknown data set 'no_such_set'"]),
    (["evaluate", "{model}", "{data}", "--split", "sideways"], ["--split", "sideways"]),
    (["predict", "{model}", "{root}/nope.csv", "--out", "{root}/p.csv"], ["data file not found"]),
    (["predict", "{model}", "{root}/folder", "--out", "{root}/p.csv"], ["is a directory"]),
    (["predict", "{model}", "{root}/dups.csv", "--out", "{root}/p.csv"], ["dups.csv", "['a']"]),
    (["predict", "{model}", "{root}/words.csv", "--out", "{root}/p.csv"],
     ["words.csv", "column 'b' must be numeric"]),
    (["predict", "{model}", "{root}/missing.csv", "--out", "{root}/p.csv"],
     ["missing.csv", "'b' (1)", "line 2"]),
    (["predict", "{model}", "{root}/lacking.csv", "--out", "{root}/p.csv"],
     ["lacking.csv", "lacks the model's feature column(s) ['b']"]),
    (["predict", "{model}", "{root}/latin.csv", "--out", "{root}/p.csv"],
     ["latin.csv", "--encoding latin-1"]),
    (["predict", "{model}", "{root}/binary.csv", "--out", "{root}/p.csv"], ["binary data"]),
    (["predict", "{model}", "{root}/empty.csv", "--out", "{root}/p.csv"], ["is empty"]),
    (["predict", "{model}", "{data}", "--out", "{root}/folder"], ["invalid --out", "folder"]),
    (["predict", "{model}", "{data}", "--out", "{data}"], ["invalid --out",
                                                           "overwrite the input"]),
    (["predict", "{model}", "{data}", "--out", "{model}"], ["invalid --out", "overwrite"]),
    (["predict", "{model}"], ["invalid input", "--write-example"]),
    (["predict", "{model}", "{data}", "--write-example", "{root}/x.csv"],
     ["--write-example", "without INPUT"]),
    (["predict", "{model}", "--write-example", "{root}/folder"], ["invalid --write-example"]),
    (["predict", "{model}", "{data}", "--encoding", "nope", "--out", "{root}/p.csv"],
     ["invalid encoding: 'nope'"]),
    (["predict", "{root}/nope.safetensors", "{data}", "--out", "{root}/p.csv"],
     ["nope.safetensors"]),
    (["predict", "{data}", "{data}", "--out", "{root}/p.csv"], ["good.csv"]),
    (["train", "--data", "{root}/dups.csv", "--epochs", "1", "--runs-dir", "{root}/runs"],
     ["dups.csv", "['a'] appear more than once"]),
    (["train", "--data", "{root}/empty_names.csv", "--epochs", "1", "--runs-dir", "{root}/runs"],
     ["empty_names.csv", "[1, 2] of the header have no name"]),
    (["train", "--data", "{root}/latin.csv", "--epochs", "1", "--runs-dir", "{root}/runs"],
     ["latin.csv", "--encoding latin-1"]),
    (["train", "--data", "{root}/folder", "--epochs", "1", "--runs-dir", "{root}/runs"],
     ["folder is a directory"]),
    (["train", "--data", "{root}/numbers_header.csv", "--epochs", "1", "--runs-dir",
      "{root}/runs"], ["no header row"]),
    (["train", "--data", "{root}/binary.csv", "--epochs", "1", "--runs-dir", "{root}/runs"],
     ["binary data"]),
    (["train", "--data", "iris", "--target", "foo", "--epochs", "1", "--runs-dir",
      "{root}/runs"], ["target", "'foo'", "iris has a fixed target"]),
    (["train", "--data", "{data}", "--impute", "avg", "--epochs", "1", "--runs-dir",
      "{root}/runs"], ["impute", "avg"]),
    (["train", "--data", "{data}", "--encoding", "klingon", "--epochs", "1", "--runs-dir",
      "{root}/runs"], ["encoding", "klingon"]),
    (["train", "--data", "{data}", "--target", "zz", "--epochs", "1", "--runs-dir",
      "{root}/runs"], ["target column 'zz' not found"]),
    (["train", "--data", "{root}/latin.csv", "--encoding", "utf-16", "--epochs", "1",
      "--runs-dir", "{root}/runs"], ["latin.csv", "not utf-16 text", "--encoding"]),
]


@pytest.mark.parametrize("argv, needles", BAD, ids=[" ".join(a[:1] + a[2:4]) for a, _ in BAD])
def test_bad_data_through_the_cli_is_one_named_line(small, capsys, argv, needles):
    root, data, model = small
    argv = [a.format(root=root, data=data, model=model) for a in argv]
    if argv[0] == "train":
        argv.append("--no-progress")
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err, needles)


def test_bad_model_files_are_named(small, tmp_path, capsys):
    root, data, model_path = small
    model, meta = io.load_model(model_path, with_metadata=True)
    cases = []
    nan = io.load_model(model_path)
    nan.theta[:] = np.nan
    io.save_model(tmp_path / "nan.safetensors", nan, meta)
    cases.append(("nan.safetensors", ["nan.safetensors"]))
    io.save_model(tmp_path / "one_class.safetensors", model, {**meta, "classes": ["x"]})
    cases.append(("one_class.safetensors", ["one_class.safetensors"]))
    task = {**meta["task"], "loss": "frobnicate"}
    io.save_model(tmp_path / "bad_task.safetensors", model, {**meta, "task": task})
    cases.append(("bad_task.safetensors", ["bad_task.safetensors"]))
    prep = {**meta["preprocessing"], "numeric": 5}
    io.save_model(tmp_path / "bad_prep.safetensors", model, {**meta, "preprocessing": prep})
    cases.append(("bad_prep.safetensors", ["bad_prep.safetensors"]))
    no_settings = {k: v for k, v in meta.items() if k != "settings"}
    io.save_model(tmp_path / "no_settings.safetensors", model, no_settings)
    for name, needles in cases:
        for command in (["predict", str(tmp_path / name), str(data), "--out",
                         str(tmp_path / "p.csv")],
                        ["evaluate", str(tmp_path / name), str(data)]):
            code, out, err = run(capsys, *command)
            assert_one_line_error(code, err, needles)
    assert not (tmp_path / "p.csv").exists()
    code, out, err = run(capsys, "predict", tmp_path / "no_settings.safetensors",
                         "--write-example", tmp_path / "x.csv")
    assert_one_line_error(code, err, ["no_settings.safetensors", "does not record its training "
                                                                 "data"])
    code, out, err = run(capsys, "evaluate", tmp_path / "no_settings.safetensors", data,
                         "--split", "test")
    assert_one_line_error(code, err, ["no_settings.safetensors", "--split all"])


def test_write_example_when_the_training_file_is_gone(tmp_path, capsys):
    data = write_csv(tmp_path / "gone.csv", ["a", "b", "label"],
                     [[i, i % 3, "xz"[i % 2]] for i in range(30)])
    model = train_run(tmp_path, "--data", str(data), "--hidden", "2", "--epochs", "1",
                      "--name", "g") / "model.safetensors"
    data.unlink()
    code, out, err = run(capsys, "predict", model, "--write-example", tmp_path / "rows.csv")
    assert_one_line_error(code, err, ["training data", "gone.csv", "cannot be read",
                                      "data file not found"])


def test_evaluate_reads_a_semicolon_latin1_copy_like_the_original(small, tmp_path, capsys):
    root, data, model = small
    text = data.read_text().replace(",", ";")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(text.encode("latin-1"))
    code, out, err = run(capsys, "evaluate", model, data, "--split", "all", "--json")
    assert code == 0, err
    original = json.loads(out)
    code, out, err = run(capsys, "evaluate", model, copy, "--encoding", "latin-1", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["rows"] == original["rows"] == 40
    assert again["accuracy"] == original["accuracy"]


def test_evaluate_mnist1d_scores_the_papers_test_split(tmp_path, capsys):
    """mnist1d's test split is its last 1000 signals (the paper's); evaluate's --split auto once
    drew a random split instead, so its figures were not the run's."""
    run_dir = train_run(tmp_path, "--data", "mnist1d", "--hidden", "8", "--epochs", "1",
                        "--name", "m1d")
    code, out, err = run(capsys, "evaluate", run_dir / "model.safetensors", "mnist1d", "--json")
    assert code == 0, err
    report = json.loads(out)
    saved = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert report["rows"] == 1000 and report["confusion_matrix"] == saved["confusion_matrix"]
