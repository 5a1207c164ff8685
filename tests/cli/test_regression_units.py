"""Regression metrics in the target's own units are computed in float64: a float32 model's
standardised output brought back as y std + mean in float32 rounds a target near 1e7 to whole
units, and the printed MSE, metrics.json and `evaluate` then disagree with the predictions."""

import json

import numpy as np
import pandas as pd

from cli_helpers import train_run
from handgrad.cli.main import main


def test_a_large_offset_target_is_reported_in_float64(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3))
    d = 1e7 + x @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(300)
    csv = tmp_path / "big.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": d}).to_csv(csv, index=False)
    run = train_run(tmp_path / "runs", "--data", str(csv), "--epochs", "30", "--name", "big")
    test = json.loads((run / "metrics.json").read_text())["test"]

    out = tmp_path / "pred.csv"
    assert main(["predict", str(run / "model.safetensors"), str(csv), "--out", str(out)]) == 0
    predicted = pd.read_csv(out).iloc[:, -1].to_numpy()
    assert np.abs(predicted - np.round(predicted)).max() > 1e-3  # not rounded to whole units

    capsys.readouterr()
    assert main(["evaluate", str(run / "model.safetensors"), str(csv), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(evaluated["mse"], test["mse"], rtol=1e-6)
    assert test["mse"] < 1.0  # the noise is 0.09; float32 rounding alone adds about 0.3
