"""`handgrad train` options from TOML files and --resume."""

import json

from cli_helpers import run_error
from handgrad import io
from handgrad.cli.main import main


def test_unknown_config_key_is_named(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('data = "iris"\nepochs = 1\nlearning_rate = 0.1\n')
    err = run_error(capsys, "train", "--config", str(config), "--runs-dir", str(tmp_path),
                    "--no-progress")
    assert "unknown config key(s) ['learning_rate']" in err
    assert "run.toml" in err and "lr" in err  # names the file and lists the known keys


def test_config_file_options_are_used(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('data = "iris"\nepochs = 2\nhidden = [5]\nname = "cfg"\n')
    assert main(["train", "--config", str(config), "--runs-dir", str(tmp_path),
                 "--no-progress"]) == 0
    model = io.load_model(tmp_path / "cfg" / "model.safetensors")
    assert model.config()["layers"][0]["out_features"] == 5
    summary = json.loads((tmp_path / "cfg" / "metrics.json").read_text())
    assert summary["epochs"] == 2


def test_resume_with_a_different_architecture_is_refused(tmp_path, capsys):
    args = ["train", "--data", "iris", "--epochs", "1", "--no-progress", "--runs-dir",
            str(tmp_path), "--name", "arch"]
    assert main(args + ["--hidden", "4"]) == 0
    checkpoint = tmp_path / "arch" / "checkpoint.safetensors"
    before = checkpoint.read_bytes()
    err = run_error(capsys, *args, "--hidden", "5", "--epochs", "2", "--resume")
    assert "--hidden 5 (the run has 4)" in err and "checkpoint.safetensors" in err
    assert checkpoint.read_bytes() == before  # nothing lost


def test_resume_without_a_checkpoint_is_named(tmp_path, capsys):
    err = run_error(capsys, "train", "--data", "iris", "--epochs", "1", "--no-progress",
                    "--runs-dir", str(tmp_path), "--name", "none", "--resume")
    assert "not found" in err and "checkpoint.safetensors" in err
    assert not (tmp_path / "none").exists()  # nothing made for a run that cannot start
