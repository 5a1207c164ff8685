"""Saved models reload bit-identically; bad or malicious files are refused without running code."""

import os
import pickle

import numpy as np
import pytest

from handgrad import io
from handgrad.nn import MLP, ModelFileError, Sequential, Linear, Softmax, Tanh


def _model(dtype=np.float32):
    return MLP([5, 7, 4, 3], activation="tanh", output="softmax", rng=3, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saved_model_reloads_bit_identically(tmp_path, dtype):
    model = _model(dtype)
    path = io.save_model(tmp_path / "m.safetensors", model, {"note": "hello", "w": np.arange(3.0)})
    loaded, meta = io.load_model(path, with_metadata=True)
    assert loaded.config() == model.config()
    assert loaded.theta.dtype == model.theta.dtype
    assert np.array_equal(loaded.theta, model.theta)
    x = np.random.default_rng(0).normal(size=(9, 5)).astype(dtype)
    assert np.array_equal(loaded.forward(x), model.forward(x))
    assert meta["note"] == "hello" and np.array_equal(meta["w"], np.arange(3.0))


def test_loaded_parameters_are_views_of_theta(tmp_path):
    loaded = io.load_model(io.save_model(tmp_path / "m.safetensors", _model()))
    loaded.theta[0] = 123.0
    assert loaded.parameters()[0].data.ravel()[0] == 123.0


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        io.load_model(tmp_path / "nope.safetensors")


def test_truncated_file(tmp_path):
    path = io.save_model(tmp_path / "m.safetensors", _model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        io.load_model(path)


def test_wrong_format_file(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_text("this is not a model")
    with pytest.raises(ModelFileError):
        io.load_model(path)


class _Exploit:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("wrap", ["raw", "npz"])
def test_a_file_made_to_execute_code_on_load_does_not(tmp_path, wrap):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.safetensors"
    payload = pickle.dumps(_Exploit(marker))
    if wrap == "raw":
        path.write_bytes(payload)
    else:  # an npz holding a pickled object array, renamed to look like a model
        np.savez(tmp_path / "evil.npz", theta=np.array([_Exploit(marker)], dtype=object))
        os.replace(tmp_path / "evil.npz", path)
    with pytest.raises(ModelFileError):
        io.load_model(path)
    assert not os.path.exists(marker)


def test_checkpoint_is_not_accepted_as_model_kind(tmp_path):
    path = tmp_path / "c.safetensors"
    io.atomic_write_bytes(path, io.dump(_model(), {"trainer": {}}, kind="checkpoint"))
    with pytest.raises(ModelFileError, match="expected a model"):
        io.read(path, kind="model")


def test_different_architecture_is_refused(tmp_path):
    path = io.save_model(tmp_path / "m.safetensors", _model())
    _, tensors = io.read(path)
    other = Sequential(Linear(5, 8, rng=0), Tanh(), Linear(8, 3, rng=0), Softmax())
    with pytest.raises(ModelFileError, match="different architecture"):
        io.restore_weights(other, tensors)


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    path = io.atomic_write_text(tmp_path / "f.txt", "old")

    with pytest.raises(TypeError):
        io.atomic_write_bytes(path, 12345)  # not bytes: the write fails midway
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def _meta():
    return {"task": {"kind": "classification", "loss": "cross_entropy", "n_classes": 3,
                     "output": "identity"},
            "classes": ["x", "y", "z"], "feature_names": list("abcde"),
            "scaler": {"mean": np.zeros(5), "std": np.ones(5)}}


@pytest.mark.parametrize("change, message", [
    ({"classes": ["a"]}, "3 classes but 1 class names"),
    ({"task": {"kind": "clasification", "loss": "cross_entropy", "n_classes": 3}},
     "neither classification nor regression"),
    ({"task": {"kind": "classification", "loss": "huber", "n_classes": 3}}, "task loss 'huber'"),
    ({"task": {"kind": "classification", "loss": "cross_entropy", "n_classes": 4},
      "classes": list("wxyz")}, "needs 4 output"),
    ({"feature_names": ["a", "b"]}, "2 feature names for a network with 5 inputs"),
    ({"scaler": {"mean": np.zeros(5), "std": np.array([1, 1, 0, 1, 1.0])}}, "std holds values <= 0"),
    ({"scaler": {"mean": np.full(5, np.nan), "std": np.ones(5)}}, "NaN"),
    ({"target_scale": {"mean": 1.0, "std": float("inf")}}, "target_scale std"),
])
def test_metadata_predict_relies_on_is_checked_against_the_network(tmp_path, change, message):
    path = io.save_model(tmp_path / "m.safetensors", _model(), {**_meta(), **change})
    with pytest.raises(ModelFileError, match=message) as caught:
        io.load_model(path, with_metadata=True)
    assert str(caught.value).startswith(f"{path}: metadata: ")
    assert io.load_model(io.save_model(tmp_path / "ok.safetensors", _model(), _meta()))


def test_non_finite_weights_are_refused_and_named(tmp_path):
    model = _model()
    model.theta[3] = np.nan
    path = io.save_model(tmp_path / "m.safetensors", model)
    with pytest.raises(ModelFileError, match=r"param/0\.W holds NaN"):
        io.load_model(path)


def test_a_huge_declared_architecture_is_refused_from_the_header(tmp_path):
    """The 6 kB file of the issue whose architecture says Linear(20000, 20000)."""
    import json
    path = io.save_model(tmp_path / "m.safetensors", _model())
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["handgrad"])
    meta["architecture"] = {"type": "Linear", "in_features": 20000, "out_features": 20000}
    header["__metadata__"]["handgrad"] = json.dumps(meta)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + n:])
    with pytest.raises(ModelFileError, match=r"lacks param/W, which its architecture declares"):
        io.load_model(path)
