"""`--resume` on a data file changed since the run started (rows added, shuffled) is refused: the
split would differ and rows the first epochs trained on would land in the test split. The
checkpoint keeps the data's identity (paths and SHA-256), as the model file does."""

import numpy as np
import pandas as pd

from cli_helpers import assert_one_line_error, train_run
from handgrad import io
from handgrad.cli.main import main


def write(path, n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                          "label": np.where(x[:, 0] > 0, "yes", "no")})
    frame.to_csv(path, index=False)
    return frame


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if not p.name.startswith(".handgrad.")}


def resume(runs, csv):
    return main(["train", "--no-progress", "--runs-dir", str(runs), "--name", "c", "--data",
                 str(csv), "--resume", "--epochs", "4"])


def test_the_checkpoint_keeps_the_data_identity(tmp_path):
    csv = tmp_path / "cls.csv"
    write(csv, 120)
    run = train_run(tmp_path / "runs", "--data", str(csv), "--epochs", "2", "--name", "c")
    meta = io.load_checkpoint(run / "checkpoint.safetensors")[2]["metadata"]
    model_meta = io.load_model(run / "model.safetensors", with_metadata=True)[1]
    assert meta["data_file"]["paths"] == [str(csv.resolve())]
    assert meta["data_file"] == model_meta["data_file"]


def test_resume_on_changed_data_is_refused_and_nothing_changes(tmp_path, capsys):
    csv = tmp_path / "cls.csv"
    frame = write(csv, 120)
    runs = tmp_path / "runs"
    run = train_run(runs, "--data", str(csv), "--epochs", "2", "--name", "c")
    more = pd.concat([frame, frame.iloc[:30]]).sample(frac=1.0, random_state=3)
    more.to_csv(csv, index=False)  # rows added and shuffled, same name
    before = folder_bytes(run)
    capsys.readouterr()
    code = resume(runs, csv)
    assert_one_line_error(code, capsys.readouterr().err,
                          ["cannot resume", str(csv.resolve()), "changed since the run"])
    assert folder_bytes(run) == before


def test_resume_on_the_same_bytes_continues(tmp_path, capsys):
    csv = tmp_path / "cls.csv"
    frame = write(csv, 120)
    runs = tmp_path / "runs"
    train_run(runs, "--data", str(csv), "--epochs", "2", "--name", "c")
    frame.to_csv(csv, index=False)  # rewritten, same bytes
    assert resume(runs, csv) == 0
