"""List-valued optimizer options on the command line: `--opt betas=0.8,0.99` (or `[0.8,0.99]`,
`(0.8,0.99)`) is Adam's betas=(beta1, beta2), the same as `--opt beta1=0.8 --opt beta2=0.99` and
as a TOML file's `betas = [0.8, 0.99]` (so --resume accepts it as the run's value)."""

import json

import pytest

from cli_helpers import train_run
from handgrad import io
from handgrad.cli.main import main
from handgrad.cli.options import parse_pairs, parse_value

ADAM = ["--data", "iris", "--hidden", "4", "--optimizer", "adam", "--lr", "0.01"]


@pytest.mark.parametrize("text, value", [
    ("0.8,0.99", [0.8, 0.99]), ("[0.8,0.99]", [0.8, 0.99]), ("(0.8, 0.99)", [0.8, 0.99]),
    (" [ 1 , 2 ] ", [1, 2]), ("[0.5]", [0.5]), ("[]", []),
    ("0.5", 0.5), ("3", 3), ("abs", "abs"), ("a,b", "a,b"), ("0.8,", "0.8,"), ("true", True)])
def test_parse_value(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_betas_pair_parses_as_the_toml_list():
    assert parse_pairs(["betas=0.8,0.99"], "--opt") == {"betas": [0.8, 0.99]}


def weights(run):
    return io.read(run / "model.safetensors")[1]


@pytest.mark.parametrize("form", ["0.8,0.99", "[0.8,0.99]", "(0.8,0.99)"])
def test_betas_on_the_command_line_equal_beta1_and_beta2(tmp_path, form):
    pair = train_run(tmp_path, *ADAM, "--epochs", "2", "--name", "pair", "--opt", f"betas={form}")
    apart = train_run(tmp_path, *ADAM, "--epochs", "2", "--name", "apart", "--opt", "beta1=0.8",
                      "--opt", "beta2=0.99")
    default = train_run(tmp_path, *ADAM, "--epochs", "2", "--name", "default")
    a, b, c = weights(pair), weights(apart), weights(default)
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    assert any((a[k] != c[k]).any() for k in a)  # the betas did reach the optimizer
    settings = json.loads((pair / "metrics.json").read_text())["settings"]
    assert settings["opt"] == {"betas": [0.8, 0.99]}


def test_resume_accepts_the_command_line_form_of_a_toml_list(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text("[opt]\nbetas = [0.8, 0.99]\n")
    train_run(tmp_path, *ADAM, "--epochs", "2", "--name", "t", "--config", str(config))
    capsys.readouterr()
    code = main(["train", "--no-progress", "--runs-dir", str(tmp_path), "--name", "t", "--data",
                 "iris", "--resume", "--epochs", "3", "--opt", "betas=0.8,0.99"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["epochs"] == 3
