"""Property tests of the model-file loader: random bytes, random byte mutations of a valid file and
random JSON put anywhere in its header always give a ModelFileError or a valid model, never
another exception."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crafted_files
from handgrad import io
from handgrad.errors import ModelFileError
from handgrad.nn import Module

SETTINGS = dict(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("properties")
    base = crafted_files.write_base(folder / "base")
    return folder, base["model"].read_bytes(), base["checkpoint"].read_bytes()


def load_or_refuse(path):
    """Loads ``path``; returns the model, or None when it was refused with a ModelFileError naming
    the file. Any other exception fails the test."""
    try:
        model, meta = io.load_model(path, with_metadata=True)
    except ModelFileError as err:
        assert str(path) in str(err)
        return None
    assert isinstance(model, Module) and isinstance(meta, dict)
    y = model(np.zeros((2, 4), dtype=model.dtype))
    assert y.shape == (2, 3)
    return model


@settings(max_examples=150, **SETTINGS)
@given(data=st.binary(max_size=400))
def test_random_bytes_are_refused(files, data):
    folder, _, _ = files
    path = folder / "random.safetensors"
    path.write_bytes(data)
    assert load_or_refuse(path) is None


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_mutated_files_load_or_are_refused(files, data):
    folder, valid, _ = files
    blob = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(blob) - 1, 0)), label="at")
        if kind == "flip" and blob:
            blob[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and blob:
            blob[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del blob[at:]
        elif kind == "insert":
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del blob[at:at + data.draw(st.integers(1, 16))]
    path = folder / "mutated.safetensors"
    path.write_bytes(bytes(blob))
    load_or_refuse(path)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


def _nodes(value, path=()):
    """Every position in a JSON value, as a path of keys/indices."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))


def _replace(value, path, new):
    if not path:
        return new
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_any_json_anywhere_in_the_header_loads_or_is_refused(files, data):
    folder, valid, _ = files
    header, body = crafted_files.split_file(valid)
    meta = crafted_files.handgrad_header(header)
    where = data.draw(st.sampled_from(list(_nodes(meta))), label="where")
    meta = _replace(meta, where, data.draw(JSON, label="value"))
    path = folder / "json.safetensors"
    path.write_bytes(crafted_files.join_file(
        crafted_files.with_handgrad_header(header, json.dumps(meta)), body))
    load_or_refuse(path)


@settings(max_examples=200, **SETTINGS)
@given(st.data())
def test_any_json_anywhere_in_a_checkpoint_loads_or_is_refused(files, data):
    folder, _, valid = files
    header, body = crafted_files.split_file(valid)
    meta = crafted_files.handgrad_header(header)
    where = data.draw(st.sampled_from(list(_nodes(meta))), label="where")
    meta = _replace(meta, where, data.draw(JSON, label="value"))
    path = folder / "checkpoint.safetensors"
    path.write_bytes(crafted_files.join_file(
        crafted_files.with_handgrad_header(header, json.dumps(meta)), body))
    try:
        _, tensors, state = io.load_checkpoint(path)
    except ModelFileError as err:
        assert str(path) in str(err)
        return
    assert isinstance(state["trainer"], dict) and isinstance(state.get("metadata", {}), dict)
    assert all(isinstance(t, np.ndarray) for t in tensors.values())
