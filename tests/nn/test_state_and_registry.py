"""Module state a user can rely on: buffers and random streams saved and put back by one snapshot,
parameters that stay views into theta whatever is assigned, re-flattening that an optimizer can
detect, and a registry that rebuilds every module type and refuses crafted descriptions."""

import json

import numpy as np
import pytest

from handgrad.errors import ModelFileError, ShapeError
from handgrad.nn import MLP, BatchNorm1d, Dropout, Linear, Sequential, Snapshot, build, get_loss
from handgrad.nn.registry import MAX_DEPTH
from handgrad.train.closure import BatchClosure


def _model():
    return MLP([4, 6, 6, 3], rng=0, dtype=np.float64, batchnorm=True, dropout=0.3)


def test_a_snapshot_puts_back_buffers_streams_and_optionally_theta(rng):
    model = _model()
    x = rng.normal(size=(8, 4))
    model(x)  # move the running statistics and the streams off their start
    snap = model.snapshot(params=True)
    assert isinstance(snap, Snapshot)
    assert sorted(snap.buffers) == ["1.running_mean", "1.running_var", "5.running_mean",
                                    "5.running_var"]
    assert sorted(snap.rng_states) == ["3", "7"]
    json.dumps(snap.rng_states)  # plain data: a checkpoint can store it
    y_first = model(x)
    running = model.layers[1].running_mean  # the array a caller may hold
    model.theta += 1.0
    model(x)
    model.restore(snap)
    assert model.layers[1].running_mean is running  # restored in place
    np.testing.assert_array_equal(model(x), y_first)  # same masks, same statistics, same theta
    model.restore(snap)  # restorable any number of times
    np.testing.assert_array_equal(model(x), y_first)


def test_a_snapshot_without_params_leaves_theta_alone(rng):
    model = _model()
    snap = model.snapshot()
    assert snap.theta is None
    model.theta[...] = 0.5
    model.restore(snap)
    assert (model.theta == 0.5).all()


def test_a_snapshot_of_another_architecture_is_refused_before_writing(rng):
    model, other = _model(), MLP([4, 6, 3], rng=0, dtype=np.float64, batchnorm=True)
    before = {k: v.copy() for k, v in model.named_buffers()}
    model(rng.normal(size=(5, 4)))
    changed = {k: v.copy() for k, v in model.named_buffers()}
    with pytest.raises(ValueError, match="snapshot's buffers do not match"):
        model.restore(other.snapshot())
    for name, value in model.named_buffers():
        np.testing.assert_array_equal(value, changed[name])
    assert any(not np.array_equal(before[k], changed[k]) for k in before)


def test_the_closure_rewinds_through_the_snapshot(rng):
    model = _model()
    x, d = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    closure = BatchClosure(model, get_loss("cross_entropy"), x, d)
    first, grad = closure(), model.grad.copy()
    assert closure() == first  # the same masks and statistics: one objective
    np.testing.assert_array_equal(model.grad, grad)


def test_assigning_to_parameter_data_writes_into_theta():
    """issue 14 item 7: lin.W.data = ... used to rebind the view, detaching W from theta."""
    model = Sequential(Linear(2, 3, rng=0), Linear(3, 1, rng=1))
    W = model.layers[0].W
    W.data = np.ones((3, 2))
    assert np.shares_memory(W.data, model.theta)
    assert (model.theta[:6] == 1.0).all() and W.data.dtype == np.float32
    model.theta[:6] -= 0.25  # what an optimizer step does
    assert (W.data == 0.75).all()
    W.grad = np.full((3, 2), 2.0)
    assert (model.grad[:6] == 2.0).all()
    with pytest.raises(ShapeError, match=r"0.W.data has shape \(3, 2\); got an array of shape "
                                         r"\(2, 3\)"):
        W.data = np.ones((2, 3))
    with pytest.raises(TypeError, match="takes real numbers"):
        W.data = np.full((3, 2), "a")
    W.grad += 1.0  # in-place arithmetic still works and stays in the vector
    assert (model.grad[:6] == 3.0).all()


def test_re_flattening_replaces_theta_and_the_same_dtype_keeps_it():
    model = MLP([3, 4, 2], rng=0)
    theta, version = model.theta, model.theta_version
    assert model.to(np.float32) is model and model.theta is theta
    model.to(np.float64)
    assert model.theta is not theta and model.theta_version == version + 1
    assert model.theta.dtype == np.float64 and model.layers[0].W.data.base is not None


def test_build_rebuilds_every_module_type():
    model = Sequential(Linear(4, 6, rng=0), BatchNorm1d(6), MLP([6, 5, 3], activation="tanh"),
                       Dropout(0.2, rng=3))
    rebuilt = build(json.loads(json.dumps(model.config())))
    assert rebuilt.config() == model.config()


def _nested(depth):
    config = {"type": "Linear", "in_features": 2, "out_features": 2}
    for _ in range(depth):
        config = {"type": "Sequential", "layers": [config]}
    return config


def test_build_refuses_deep_nesting_without_recursion_error():
    assert build(_nested(MAX_DEPTH - 1)).layers  # deep but allowed
    with pytest.raises(ModelFileError, match="nests containers 901 deep"):
        build(_nested(900))
    with pytest.raises(ModelFileError, match="nests containers"):
        build(_nested(100_000))


@pytest.mark.parametrize("config, pattern", [
    ({"type": "Linear", "in_features": 2.5, "out_features": 3},
     r"invalid Linear in the model description: .*in_features: 2\.5"),
    ({"type": "Linear", "in_features": 2, "out_features": 3, "colour": "red"},
     r"invalid Linear in the model description: .*colour"),
    ({"type": "Linear", "in_features": 2}, r"invalid Linear in the model description"),
    ({"type": "Sequential", "layers": "abc"}, r"Sequential layers must be a list"),
    ({"type": "Sequential", "layers": [{"type": "Linear", "in_features": 2, "out_features": 3},
                                       {"type": "Linear", "in_features": 4, "out_features": 1}]},
     r"expects 4 input features, but the layer before it gives 3"),
    ({"type": "Activation", "name": "relux"}, r"unknown activation 'relux'"),
    ({"type": "Conv2d"}, r"unknown module type 'Conv2d'"),
    ({"layers": []}, r"not a module description"),
    ([1, 2], r"not a module description"),
])
def test_build_turns_bad_descriptions_into_model_file_errors(config, pattern):
    with pytest.raises(ModelFileError, match=pattern):
        build(config)


def test_a_deep_copy_owns_its_vectors_and_its_parameters_stay_views_of_them(rng):
    import copy
    model = MLP([3, 4, 2], rng=0, batchnorm=True)
    model.grad[...] = rng.normal(size=model.grad.size)
    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(twin.theta, model.theta)
    np.testing.assert_array_equal(twin.grad, model.grad)
    W = twin.layers[0].W
    assert np.shares_memory(W.data, twin.theta) and not np.shares_memory(W.data, model.theta)
    twin.theta -= 1.0  # an optimizer on the copy moves the copy's layers, not the original's
    np.testing.assert_array_equal(W.data, model.layers[0].W.data - 1.0)
