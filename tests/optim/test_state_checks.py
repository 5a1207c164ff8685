"""A checkpoint's optimizer state is checked as the constructor checks its options, and an
optimizer whose model replaced its parameter vector refuses to step instead of moving nothing."""

import numpy as np
import pytest

from handgrad.errors import HandgradError, NonFiniteError, OptionError, ShapeError
from handgrad.nn import MLP, get_loss
from handgrad.optim import OPTIMIZERS, get_optimizer
from handgrad.train.closure import BatchClosure


def setup(name="adam", dtype=np.float64, **options):
    rng = np.random.default_rng(0)
    model = MLP([3, 4, 2], activation="tanh", rng=rng, dtype=dtype)
    x, d = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    opt = get_optimizer(name, model, **options)
    closure = BatchClosure(model, get_loss("mse"), x.astype(dtype), d.astype(dtype))
    opt.step(closure)
    return model, opt, closure


def edited(state, path, value):
    """A copy of a state_dict with state[path[0]][path[1]]... set to value."""
    state = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
    *outer, last = path
    target = state
    for key in outer:
        target = target[key]
    target[last] = value
    return state


BAD_STATES = [
    # (optimizer, path into the state_dict, value, error, message)
    ("adam", ("hyperparameters", "lr"), -5.0, OptionError, "'hyperparameters': invalid lr: -5"),
    ("adam", ("hyperparameters", "lr"), "fast", OptionError, "invalid lr: 'fast'"),
    ("adam", ("hyperparameters", "beta1"), 1.0, OptionError, "invalid beta1: 1.0"),
    ("adam", ("hyperparameters", "eps"), float("nan"), OptionError, "invalid eps"),
    ("adam", ("hyperparameters", "amsgrad"), "yes", OptionError, "invalid amsgrad"),
    ("adam", ("hyperparameters", "step"), None, OptionError, "unknown key\\(s\\) 'step'"),
    ("adam", ("hyperparameters", "theta"), [0.0], OptionError, "unknown key\\(s\\) 'theta'"),
    ("adam", ("hyperparameters", "exp_avg"), [0.0], OptionError, "unknown key"),
    ("sgd", ("hyperparameters", "nesterov"), True, OptionError, "invalid nesterov"),
    ("sgd", ("hyperparameters", "l2"), 0.1, OptionError, None),   # with weight_decay below
    ("newton", ("hyperparameters", "fix"), "magic", OptionError, "invalid fix: 'magic'"),
    ("adam", ("hyperparameters",), [1, 2], OptionError, "expected a mapping"),
    ("adam", ("state", "exp_avg"), np.zeros(3), ShapeError, "'state.exp_avg': shape \\(3,\\)"),
    ("adam", ("state", "exp_avg"), None, OptionError, "'state.exp_avg': dtype object"),
    ("adam", ("state", "exp_avg_sq"), "abc", OptionError, "'state.exp_avg_sq'"),
    ("adam", ("state", "exp_avg"), "nan", NonFiniteError, "'state.exp_avg' contains"),
    ("rprop", ("state", "step_size"), "inf", NonFiniteError, "'state.step_size'"),
    ("adam", ("step_count",), -1, OptionError, "'step_count': -1"),
    ("adam", ("step_count",), 2.5, OptionError, "'step_count': 2.5"),
    ("adam", ("name",), "sgd", OptionError, "state_dict is for optimizer 'sgd', not 'adam'"),
    ("lm", ("extra", "mu"), -5.0, OptionError, "'extra.mu': -5.0"),
    ("lm", ("extra", "mu"), "big", OptionError, "'extra.mu': 'big'"),
    ("cg", ("extra", "since_restart"), -1, OptionError, "'extra.since_restart'"),
    ("lbfgs", ("extra", "prev_value"), float("nan"), OptionError, "'extra.prev_value'"),
    ("newton", ("extra", "last_negative"), 1.5, OptionError, "'extra.last_negative'"),
    ("adam", ("extra",), [1], OptionError, "'extra': \\[1\\]"),
]


@pytest.mark.parametrize("name, path, value, error, message", BAD_STATES,
                         ids=[f"{c[0]}-{'.'.join(c[1])}-{c[2]!r}" for c in BAD_STATES])
def test_a_bad_checkpoint_is_refused_and_changes_nothing(name, path, value, error, message):
    options = {"weight_decay": 0.1} if path == ("hyperparameters", "l2") else {}
    model, opt, _ = setup(name, **options)
    good = opt.state_dict()
    if isinstance(value, str) and value in ("nan", "inf"):
        arr = np.array(good["state"][path[1]], copy=True)
        arr.flat[0] = float(value)
        value = arr
    before = {k: getattr(opt, k) for k in good["hyperparameters"]}
    arrays = {k: getattr(opt, k).copy() for k in opt.state_names}
    theta = model.theta.copy()
    with pytest.raises(error, match=message):
        opt.load_state_dict(edited(good, path, value))
    assert {k: getattr(opt, k) for k in good["hyperparameters"]} == before
    for k, v in arrays.items():
        np.testing.assert_array_equal(getattr(opt, k), v)
    np.testing.assert_array_equal(model.theta, theta)
    assert callable(opt.step) and opt.theta is model.theta


def test_non_finite_state_names_the_key():
    _, opt, _ = setup("adam")
    state = opt.state_dict()
    state["state"]["exp_avg"] = np.full_like(state["state"]["exp_avg"], np.nan)
    with pytest.raises(NonFiniteError, match="'state.exp_avg' contains"):
        opt.load_state_dict(state)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_loads_its_own_state_after_a_step(name):
    options = {"lr": 0.01} if name in ("sgd", "momentum", "nesterov") else {}
    model, opt, closure = setup(name, **options)
    state = opt.state_dict()
    twin = get_optimizer(name, model, **options)
    twin.load_state_dict(state)
    assert twin.hyperparameters() == opt.hyperparameters()
    assert twin.step_count == opt.step_count


def test_an_older_checkpoint_without_l2_keeps_the_default():
    _, opt, _ = setup("sgd", lr=0.1, weight_decay=0.01)
    state = opt.state_dict()
    del state["hyperparameters"]["l2"]
    opt.load_state_dict(state)
    assert opt.l2 == 0.0 and opt.weight_decay == 0.01


@pytest.mark.parametrize("name", ["sgd", "adam", "nesterov", "lbfgs", "rprop"])
def test_a_model_cast_after_the_optimizer_was_built_is_refused(name):
    model, opt, closure = setup(name, dtype=np.float32)
    model.to(np.float64)
    closure = BatchClosure(model, closure.loss, closure.x.astype(np.float64),
                           closure.d.astype(np.float64))
    before = model.theta.copy()
    with pytest.raises(HandgradError, match="previous parameter vector.*build the optimizer"):
        opt.step(closure)
    np.testing.assert_array_equal(model.theta, before)


def test_a_cast_to_the_same_dtype_keeps_the_optimizer_working():
    model, opt, closure = setup("sgd", lr=0.1)
    model.to(np.float64)
    before = model.theta.copy()
    opt.step(closure)
    assert not np.array_equal(model.theta, before)
