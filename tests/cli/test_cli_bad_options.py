"""Issue 13, the CLI's share of the bad-input suite: `handgrad train` options, TOML config files
and --resume.

Every row goes through `handgrad.cli.main.main([...])` and expects exit code 2, exactly one line on
stderr that names the option (or the file and key), and no traceback. Rows marked OK must train.
"""

import json

import pytest

from cli_helpers import assert_one_line_error
from handgrad.cli.main import main

BASE = ["train", "--data", "iris", "--hidden", "4", "--epochs", "1", "--no-progress"]


def run(capsys, argv):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


OPTION_CASES = [
    # argparse level: the type of the value
    (["--epochs", "abc"], ["--epochs", "abc"]),
    (["--epochs", "1.5"], ["--epochs", "1.5"]),
    (["--batch-size", "x"], ["--batch-size"]),
    (["--lr", "fast"], ["--lr", "fast"]),
    (["--threads", "1.5"], ["--threads"]),
    (["--dtype", "float16"], ["--dtype", "float16"]),
    (["--no-such-flag"], ["--no-such-flag"]),
    (["--epochs"], ["--epochs"]),
    # values out of range
    (["--epochs", "0"], ["invalid --epochs: 0"]),
    (["--epochs", "-3"], ["invalid --epochs: -3"]),
    (["--batch-size", "0"], ["invalid --batch-size: 0"]),
    (["--batch-size", "-5"], ["invalid --batch-size: -5"]),
    (["--lr", "0"], ["invalid --lr: 0.0"]),
    (["--lr", "-1"], ["invalid --lr: -1.0"]),
    (["--lr", "nan"], ["invalid --lr: nan"]),
    (["--lr", "inf"], ["invalid --lr: inf"]),
    (["--l2", "nan"], ["invalid --l2: nan"]),
    (["--l2", "-1"], ["invalid --l2: -1.0"]),
    (["--l1", "-0.1"], ["invalid --l1: -0.1"]),
    (["--l1", "inf"], ["invalid --l1: inf"]),
    (["--weight-decay", "-1"], ["invalid --weight-decay: -1.0"]),
    (["--weight-decay", "nan"], ["invalid --weight-decay: nan"]),
    (["--dropout", "1"], ["invalid --dropout: 1.0"]),
    (["--dropout", "-0.1"], ["invalid --dropout: -0.1"]),
    (["--dropout", "nan"], ["invalid --dropout: nan"]),
    (["--val-size", "1"], ["invalid --val-size: 1.0"]),
    (["--val-size", "-0.1"], ["invalid --val-size: -0.1"]),
    (["--test-size", "0"], ["invalid --test-size: 0.0"]),
    (["--test-size", "1"], ["invalid --test-size: 1.0"]),
    (["--tol", "-1"], ["invalid --tol: -1.0"]),
    (["--tol", "nan"], ["invalid --tol: nan"]),
    (["--running-tol", "-1"], ["invalid --running-tol: -1.0"]),
    (["--running-tol", "inf"], ["invalid --running-tol: inf"]),
    (["--running-lambda", "0"], ["invalid --running-lambda: 0.0", "(0.0, 1.0]"]),
    (["--running-lambda", "1.5"], ["invalid --running-lambda: 1.5"]),
    (["--patience", "0"], ["invalid --patience: 0"]),
    (["--checkpoint-every", "0"], ["invalid --checkpoint-every: 0"]),
    (["--threads", "0"], ["invalid --threads: 0"]),
    (["--seed", "-1"], ["invalid --seed: -1"]),
    (["--hidden", "abc"], ["invalid --hidden: 'abc'"]),
    (["--hidden", "4,x"], ["invalid --hidden: '4,x'"]),
    (["--hidden", "0"], ["invalid --hidden: '0'"]),
    (["--hidden", "-3"], ["invalid --hidden: '-3'"]),
    (["--hidden", "4,,5"], ["invalid --hidden: '4,,5'"]),
    (["--hidden", "1.5"], ["invalid --hidden: '1.5'"]),
    (["--hidden", "100000000"], ["--hidden", "GiB", "this machine has"]),
    (["--hidden", "200000,200000"], ["--hidden", "GiB"]),
    (["--name", ".."], ["invalid --name: '..'"]),
    (["--name", "a/../../escape"], ["invalid --name: 'a/../../escape'"]),
    (["--name", "/tmp/abs"], ["invalid --name: '/tmp/abs'"]),
    (["--name", ""], ["invalid --name: ''"]),
    (["--data", ""], ["invalid --data: ''"]),
    (["--impute", "avg"], ["invalid --impute: 'avg'"]),
    # names the library does not know
    (["--activation", "swish"], ["swish"]),
    (["--loss", "huber"], ["unknown loss 'huber'"]),
    (["--optimizer", "adamax"], ["adamax"]),
    (["--schedule", "cosine"], ["cosine"]),
    (["--init", "bogus_init"], ["bogus_init"]),
    (["--output", "bogus_out"], ["bogus_out"]),
    (["--data", "no_such_set"], ["no_such_set"]),
    # optimizer and schedule options
    (["--opt", "beta1"], ["invalid --opt: 'beta1'"]),
    (["--opt", "=3"], ["invalid --opt: '=3'"]),
    (["--optimizer", "adam", "--opt", "beta1=1.5"], ["beta1"]),
    (["--opt", "bogus=1"], ["bogus"]),
    (["--opt", "lr=0.1"], ["--opt lr=0.1", "--lr"]),
    (["--opt", "l2=0.1", "--l2", "0.2"], ["--opt l2=0.1", "--l2"]),
    (["--weight-decay", "0.1", "--l2", "0.1"], ["l2", "weight_decay"]),
    (["--schedule", "step", "--sched", "nope=1"], ["nope"]),
    (["--schedule", "step", "--sched", "step_size"], ["invalid --sched: 'step_size'"]),
    # schedule options without a schedule were ignored (lr constant, no warning)
    (["--sched", "beta=0.5"], ["invalid --sched: beta=0.5", "without --schedule"]),
    (["--optimizer", "adam", "--sched", "beta=0.5", "--sched", "x=1"], ["--sched", "--schedule"]),
    # a loss that does not fit the target
    (["--data", "diabetes", "--loss", "cross_entropy"], ["--loss", "cross_entropy", "regression"]),
    (["--data", "diabetes", "--loss", "bce"], ["--loss", "bce", "regression"]),
    (["--data", "diabetes", "--loss", "hinge"], ["--loss", "hinge"]),
    (["--data", "diabetes", "--loss", "nll"], ["--loss", "nll"]),
    (["--loss", "msle"], ["--loss", "msle", "classification"]),
    (["--loss", "hinge"], ["hinge", "3 classes"]),
    (["--loss", "bce"], ["bce", "3 classes"]),
    # a target column with a bundled set
    (["--target", "foo"], ["foo"]),
]


@pytest.mark.parametrize("args, needles", OPTION_CASES, ids=[" ".join(c[0]) for c in OPTION_CASES])
def test_bad_option_is_one_line_naming_it(tmp_path, capsys, args, needles):
    code, out, err = run(capsys, BASE + ["--runs-dir", tmp_path] + args)
    assert_one_line_error(code, err, needles)
    assert not (tmp_path / "iris" / "model.safetensors").exists()


def test_no_subcommand_and_unknown_subcommand(capsys):
    for argv, needle in [([], "required"), (["trian"], "trian")]:
        code, out, err = run(capsys, argv)
        assert_one_line_error(code, err, [needle])


FILE_CASES = [
    # (what --data, --runs-dir or --config points at, needles)
    ("folder as --data", ["data"]),
    ("missing --data", ["missing.csv"]),
    ("file as --runs-dir", ["--runs-dir"]),
    ("missing --config", ["--config", "missing.toml"]),
    ("folder as --config", ["--config", "a folder"]),
]


@pytest.mark.parametrize("case, needles", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_paths_are_one_line(tmp_path, capsys, case, needles):
    folder = tmp_path / "data"
    folder.mkdir()
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    extra = {"folder as --data": ["--data", folder, "--runs-dir", tmp_path / "r"],
             "missing --data": ["--data", tmp_path / "missing.csv", "--runs-dir", tmp_path / "r"],
             "file as --runs-dir": ["--runs-dir", a_file],
             "missing --config": ["--config", tmp_path / "missing.toml"],
             "folder as --config": ["--config", folder]}[case]
    code, out, err = run(capsys, BASE + extra)
    assert_one_line_error(code, err, needles)


TOML_CASES = [
    # (the file's text, needles besides the file name)
    ("batch_size = 1.5", ["batch_size", "1.5", "integer"]),
    ('batch_size = "32"', ["batch_size", "'32'"]),
    ("batch_size = true", ["batch_size", "True"]),
    ("batch_size = 0", ["batch_size", "0"]),
    ('batchnorm = "no"', ["batchnorm", "'no'", "True or False"]),
    ("batchnorm = 1", ["batchnorm", "1"]),
    ('epochs = "10"', ["epochs", "'10'"]),
    ("epochs = 0", ["epochs", "0"]),
    ("epochs = -1", ["epochs", "-1"]),
    ("epochs = 2.5", ["epochs", "2.5"]),
    ('lr = "fast"', ["lr", "'fast'"]),
    ("lr = -0.1", ["lr", "-0.1"]),
    ("lr = nan", ["lr", "nan"]),
    ("lr = inf", ["lr", "inf"]),
    ("lr = 0", ["lr", "0"]),
    ('hidden = "abc"', ["hidden", "'abc'"]),
    ("hidden = [0]", ["invalid hidden in", "[0]"]),
    ("hidden = [4, 2.5]", ["invalid hidden in", "[4, 2.5]"]),
    ('hidden = ["a"]', ["invalid hidden in", "['a']"]),
    ("hidden = true", ["invalid hidden in", "True"]),
    ("hidden = -4", ["invalid hidden in", "-4"]),
    ("dropout = 1.5", ["dropout", "1.5"]),
    ('dropout = "0.1"', ["dropout", "'0.1'"]),
    ("data = 5", ["data", "5"]),
    ('data = ""', ["data", "''"]),
    ("seed = -1", ["seed", "-1"]),
    ("seed = 1.5", ["seed", "1.5"]),
    ('dtype = "float16"', ["dtype", "float16"]),
    ("dtype = 32", ["dtype", "32"]),
    ("opt = 5", ["opt", "5"]),
    ('opt = "beta1=0.9"', ["opt", "beta1=0.9"]),
    ('opt = ["beta1"]', ["opt", "'beta1'"]),
    ("sched = 3", ["sched", "3"]),
    ("[sched]\nbeta = 0.5", ["invalid sched in", "beta=0.5", "without schedule"]),
    ("val_size = 2", ["val_size", "2"]),
    ("test_size = 0", ["test_size", "0"]),
    ('tol = "small"', ["tol", "'small'"]),
    ("running_lambda = 0", ["running_lambda", "0"]),
    ("patience = 0", ["patience", "0"]),
    ("patience = 2.5", ["patience", "2.5"]),
    ("threads = 0", ["threads", "0"]),
    ('resume = "yes"', ["resume", "'yes'"]),
    ("no_progress = 1", ["no_progress", "1"]),
    ("name = 3", ["name", "3"]),
    ("runs_dir = []", ["runs_dir", "[]"]),
    ('l2 = "0.1"', ["l2", "'0.1'"]),
    ("weight_decay = -1", ["weight_decay", "-1"]),
    ("checkpoint_every = 0", ["checkpoint_every", "0"]),
    ("target = 3", ["target", "3"]),
    ("activation = 3", ["activation", "3"]),
    ('impute = "avg"', ["impute", "'avg'"]),
    ("learning_rate = 0.1", ["unknown config key", "learning_rate"]),
    ("epochs = = 3", ["not valid TOML"]),
    ("[section\nx = 1", ["not valid TOML"]),
]


@pytest.mark.parametrize("text, needles", TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_bad_config_value_names_the_file_and_key(tmp_path, capsys, text, needles):
    config = tmp_path / "run.toml"
    config.write_text(text + "\n")
    code, out, err = run(capsys, BASE + ["--runs-dir", tmp_path, "--config", config])
    assert_one_line_error(code, err, ["run.toml", *needles])


@pytest.mark.parametrize("data", [b"epochs = 1\nname = \"caf\xe9\"\n", b"\x00\x01\x02\xff\xfe"],
                         ids=["latin-1", "binary"])
def test_config_not_utf8_names_the_file(tmp_path, capsys, data):
    config = tmp_path / "run.toml"
    config.write_bytes(data)
    code, out, err = run(capsys, BASE + ["--runs-dir", tmp_path, "--config", config])
    assert_one_line_error(code, err, ["run.toml", "UTF-8"])


OK_CONFIGS = [
    ("epochs = 2.0\nhidden = 5", lambda m: m["epochs"] == 2 and m["settings"]["hidden"] == [5]),
    ('hidden = "5,3"\nbatchnorm = true', lambda m: m["settings"]["hidden"] == [5, 3]
     and m["settings"]["batchnorm"] is True),
    ("[opt]\nbeta = 0.5", lambda m: m["settings"]["optimizer"] == "momentum"),
    ('hidden = ""\nbatch_size = 200', lambda m: m["settings"]["hidden"] == []),
    ('schedule = "exponential"\n[sched]\nbeta = 0.5',
     lambda m: m["history"]["lr"][1] < m["history"]["lr"][0]),
]


@pytest.mark.parametrize("text, check", OK_CONFIGS, ids=[c[0] for c in OK_CONFIGS])
def test_good_configs_train_as_written(tmp_path, capsys, text, check):
    config = tmp_path / "run.toml"
    config.write_text(text + "\n")
    argv = ["train", "--data", "iris", "--no-progress", "--runs-dir", tmp_path, "--config", config]
    code, out, err = run(capsys, argv)
    assert code == 0, err
    assert check(json.loads((tmp_path / "iris" / "metrics.json").read_text()))


# --- --resume: the checkpoint's settings, conflicts refused before anything is written ---------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    argv = ["train", "--data", "iris", "--hidden", "4", "--epochs", "2", "--lr", "0.05",
            "--optimizer", "rmsprop", "--no-progress", "--runs-dir", str(root), "--name", "base"]
    assert main(argv) == 0
    return root


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if not p.name.startswith(".handgrad.")}


RESUME_CONFLICTS = [
    (["--lr", "0.5"], ["--lr 0.5", "(the run has 0.05)"]),
    (["--seed", "7"], ["--seed 7", "(the run has 0)"]),
    (["--val-size", "0.2"], ["--val-size 0.2", "(the run has 0.1)"]),
    (["--test-size", "0.3"], ["--test-size 0.3"]),
    (["--optimizer", "momentum"], ["--optimizer 'momentum'", "'rmsprop'"]),
    (["--hidden", "8"], ["--hidden 8", "(the run has 4)"]),
    (["--data", "wine"], ["--data 'wine'", "'iris'"]),
    (["--dropout", "0.2"], ["--dropout 0.2"]),
    (["--batchnorm"], ["--batchnorm True"]),
    (["--batch-size", "16"], ["--batch-size 16", "(the run has 32)"]),
    (["--activation", "tanh"], ["--activation 'tanh'"]),
    (["--loss", "mse"], ["--loss 'mse'", "'cross_entropy'"]),
    (["--l2", "0.01"], ["--l2 0.01"]),
    (["--dtype", "float64"], ["--dtype 'float64'"]),
    (["--opt", "alpha=0.9"], ["--opt alpha=0.9"]),
    (["--lr", "0.5", "--seed", "7"], ["--lr 0.5", "--seed 7"]),
]


@pytest.mark.parametrize("args, needles", RESUME_CONFLICTS, ids=[" ".join(c[0]) for c in
                                                                   RESUME_CONFLICTS])
def test_resume_with_conflicting_options_is_refused_before_writing(finished_run, capsys, args,
                                                                   needles):
    folder = finished_run / "base"
    before = folder_bytes(folder)
    argv = ["train", "--no-progress", "--runs-dir", finished_run, "--name", "base", "--resume",
            "--epochs", "3", *args]
    code, out, err = run(capsys, argv)
    assert_one_line_error(code, err, ["with --resume", "checkpoint.safetensors", *needles])
    assert folder_bytes(folder) == before  # not a byte changed


def test_resume_in_a_toml_file_conflict_names_the_file(finished_run, tmp_path, capsys):
    config = tmp_path / "more.toml"
    config.write_text("epochs = 3\nseed = 9\n")
    before = folder_bytes(finished_run / "base")
    argv = ["train", "--config", config, "--no-progress", "--runs-dir", finished_run, "--name",
            "base", "--resume"]
    code, out, err = run(capsys, argv)
    assert_one_line_error(code, err, ["seed in", "more.toml", "9"])
    assert folder_bytes(finished_run / "base") == before


def test_resume_with_fewer_epochs_than_trained_is_refused(finished_run, capsys):
    before = folder_bytes(finished_run / "base")
    argv = ["train", "--no-progress", "--runs-dir", finished_run, "--name", "base", "--resume",
            "--epochs", "1"]
    code, out, err = run(capsys, argv)
    assert_one_line_error(code, err, ["invalid --epochs with --resume: 1", "trained 2 epochs"])
    assert folder_bytes(finished_run / "base") == before


def test_an_empty_history_plots_without_error(tmp_path):
    from handgrad.train import plots

    path = plots.plot_history({}, tmp_path / "empty.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
