"""Resuming from a state_dict gives bit-identical results to an uninterrupted run, for every
optimizer and schedule; state_dicts hold only arrays and plain values (no pickle needed)."""

import json

import numpy as np
import pytest

from handgrad.nn import MLP, get_loss
from handgrad.optim import OPTIMIZERS, SCHEDULES, get_optimizer, get_schedule
from handgrad.train.closure import BatchClosure

OPTIONS = {  # options that exercise every state buffer
    "sgd": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, l1=0.001),
    "momentum": dict(lr=0.1, beta=0.9),
    "nesterov": dict(lr=0.1, beta=0.9),
    "adagrad": dict(lr=0.1, lr_decay=0.01),
    "rmsprop": dict(lr=0.01, momentum=0.9, centered=True),
    "adam": dict(lr=0.01, amsgrad=True),
    "adamw": dict(lr=0.01),
    "newton": dict(line_search="backtracking"),
}
SCHEDULE_OPTIONS = {"exponential": dict(beta=0.2), "step": dict(step_size=2, gamma=0.5),
                    "plateau": dict(alpha=0.5, patience=1)}


def serialisable_copy(state):
    """What a checkpoint does: arrays apart (as safetensors would), the rest through JSON."""
    arrays = {}

    def split(obj, path):
        if isinstance(obj, np.ndarray):
            arrays[path] = obj.copy()
            return {"__array__": path}
        if isinstance(obj, dict):
            assert all(isinstance(k, str) for k in obj)
            return {k: split(v, f"{path}.{k}") for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [split(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        assert obj is None or type(obj) in (int, float, bool, str), (path, type(obj))
        return obj

    def join(obj):
        if isinstance(obj, dict):
            if set(obj) == {"__array__"}:
                return arrays[obj["__array__"]]
            return {k: join(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [join(v) for v in obj]
        return obj

    return join(json.loads(json.dumps(split(state, "state"))))


def make(seed=0):
    rng = np.random.default_rng(seed)
    model = MLP([3, 4, 2], activation="tanh", rng=rng, dtype=np.float64)
    x, d = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    return model, x, d


def train(model, opt, x, d, steps, start=0, sched=None):
    loss = get_loss("half_mse")
    for k in range(start, start + steps):
        idx = np.arange(12) if opt.full_batch else np.arange(12)[(k % 3) * 4:(k % 3) * 4 + 4]
        closure = BatchClosure(model, loss, x[idx], d[idx])
        value = opt.step(closure)
        if sched is not None:
            sched.step(value)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resume_is_bit_identical(name):
    options = OPTIONS.get(name, {})
    model, x, d = make()
    opt = get_optimizer(name, model, **options)
    train(model, opt, x, d, 6)
    saved_theta = model.theta.copy()
    saved = serialisable_copy(opt.state_dict())
    train(model, opt, x, d, 6, start=6)
    straight = model.theta.copy()

    resumed_model, _, _ = make()
    resumed_model.theta[...] = saved_theta
    resumed = get_optimizer(name, resumed_model, **options)
    resumed.load_state_dict(saved)
    train(resumed_model, resumed, x, d, 6, start=6)
    np.testing.assert_array_equal(resumed_model.theta, straight)
    assert not np.array_equal(saved_theta, straight)        # the resumed part did move


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_resume_is_bit_identical(name):
    options = SCHEDULE_OPTIONS.get(name, {})
    model, x, d = make()
    opt = get_optimizer("sgd", model, lr=0.5)
    sched = get_schedule(name, opt, **options)
    train(model, opt, x, d, 5, sched=sched)
    saved_theta = model.theta.copy()
    saved_opt = serialisable_copy(opt.state_dict())
    saved_sched = serialisable_copy(sched.state_dict())
    train(model, opt, x, d, 5, start=5, sched=sched)
    straight, straight_lr = model.theta.copy(), opt.lr

    model2, _, _ = make()
    model2.theta[...] = saved_theta
    opt2 = get_optimizer("sgd", model2, lr=0.5)
    sched2 = get_schedule(name, opt2, **options)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    train(model2, opt2, x, d, 5, start=5, sched=sched2)
    np.testing.assert_array_equal(model2.theta, straight)
    assert opt2.lr == straight_lr
    assert straight_lr != 0.5 or name == "plateau"


def test_state_dict_of_another_optimizer_is_refused():
    model, _, _ = make()
    state = get_optimizer("adam", model).state_dict()
    with pytest.raises(ValueError, match="adam"):
        get_optimizer("rmsprop", model).load_state_dict(state)
