"""Invalid options raise clear errors naming the option, the value and what was expected."""

import numpy as np
import pytest

from handgrad.nn import MLP, Linear, get_loss
from handgrad.optim import (OPTIMIZERS, SCHEDULES, get_optimizer, get_schedule, option_names)
from handgrad.train.closure import BatchClosure


@pytest.fixture
def model():
    return MLP([3, 4, 2], activation="tanh", rng=0, dtype=np.float64)


BAD_OPTIMIZER_OPTIONS = [
    ("sgd", dict(lr=-0.1), "invalid lr: -0.1"),
    ("sgd", dict(lr=float("nan")), "invalid lr"),
    ("sgd", dict(lr="fast"), "invalid lr: 'fast'"),
    ("sgd", dict(momentum=1.0), r"invalid momentum: 1.0 \(expected a value in \[0.0, 1.0\)\)"),
    ("sgd", dict(momentum=-0.1), "invalid momentum"),
    ("sgd", dict(nesterov=True), "invalid nesterov: True \\(expected momentum > 0"),
    ("sgd", dict(nesterov=True, momentum=0.9, dampening=0.1), "dampening = 0"),
    ("sgd", dict(nesterov="yes"), "invalid nesterov"),
    ("sgd", dict(weight_decay=-1.0), "invalid weight_decay"),
    ("sgd", dict(l1=-1e-3), "invalid l1"),
    ("momentum", dict(beta=1.0), "invalid beta: 1.0"),
    ("nesterov", dict(beta=-0.5), "invalid beta: -0.5"),
    ("adam", dict(beta1=1.0), "invalid beta1"),
    ("adam", dict(beta2=1.5), "invalid beta2"),
    ("adam", dict(eps=-1e-8), "invalid eps"),
    ("adam", dict(betas=(0.9, 0.99), beta1=0.9), "invalid betas: .* together with beta1"),
    ("adam", dict(betas=0.9), r"invalid betas: 0.9 \(expected a pair"),
    ("adam", dict(betas=(0.9, 1.0)), "invalid beta2: 1.0"),
    ("sgd", dict(l2=0.1, weight_decay=0.1), "invalid l2: 0.1 together with weight_decay"),
    ("sgd", dict(l2=-0.1), "invalid l2"),
    ("adamw", dict(beta1=-0.1), "invalid beta1"),
    ("rmsprop", dict(alpha=1.0), "invalid alpha"),
    ("rmsprop", dict(centered=1), "invalid centered"),
    ("adagrad", dict(lr_decay=-1.0), "invalid lr_decay"),
    ("rprop", dict(eta_plus=0.9), "invalid eta_plus"),
    ("rprop", dict(eta_minus=1.0), "invalid eta_minus"),
    ("rprop", dict(lr=0.0), "initial step size must be > 0"),
    ("rprop_backtracking", dict(step_min=1.0, step_max=0.5), "invalid step_max"),
    ("quickprop", dict(mu=0.0), "invalid mu"),
    ("newton", dict(fix="clip"), "invalid fix: 'clip'"),
    ("newton", dict(max_params=10), "limited to max_params=10"),
    ("lbfgs", dict(history_size=0), "invalid history_size"),
    ("lbfgs", dict(line_search="armijo"), "invalid line_search"),
    ("lbfgs", dict(c1=0.5, c2=0.4), "invalid c2"),
    ("bfgs", dict(line_search="armijo"), "invalid line_search"),
    ("bfgs", dict(c1=0.5, c2=0.4), "invalid c2"),
    ("bfgs", dict(max_params=10), "limited to max_params=10"),
    ("cg", dict(beta_rule="hs"), "invalid beta_rule"),
    ("lm", dict(mu=0.0), "invalid mu"),
    ("lm", dict(max_tries=1.5), "invalid max_tries"),
]


@pytest.mark.parametrize("name, options, message", BAD_OPTIMIZER_OPTIONS,
                         ids=[f"{n}-{'-'.join(o)}" for n, o, _ in BAD_OPTIMIZER_OPTIONS])
def test_bad_optimizer_option_values(model, name, options, message):
    with pytest.raises(ValueError, match=message):
        get_optimizer(name, model, **options)


def test_unknown_optimizer_lists_the_valid_ones(model):
    with pytest.raises(ValueError) as err:
        get_optimizer("adamax", model)
    assert "'adamax'" in str(err.value)
    for name in OPTIMIZERS:
        assert name in str(err.value)


def test_unknown_option_name_lists_the_valid_ones(model):
    with pytest.raises(ValueError) as err:
        get_optimizer("adam", model, momentum=0.9, lr=0.01)
    text = str(err.value)
    assert "'momentum'" in text and "'adam'" in text
    for option in option_names(OPTIMIZERS["adam"]):
        assert option in text


def test_adam_takes_torchs_betas(model):
    for name in ("adam", "adamw"):
        opt = get_optimizer(name, model, betas=(0.8, 0.99))
        assert (opt.beta1, opt.beta2) == (0.8, 0.99)
        opt = get_optimizer(name, model, beta1=0.7)
        assert (opt.beta1, opt.beta2) == (0.7, 0.999)


def test_adamw_takes_a_coupled_l2_beside_its_decoupled_decay(model):
    opt = get_optimizer("adamw", model, l2=0.1, weight_decay=0.05)
    assert opt.regularizer.l2 == 0.1 and opt.weight_decay == 0.05


def test_every_optimizer_takes_the_common_options(model):
    for name, cls in OPTIMIZERS.items():
        assert {"lr", "weight_decay", "l2", "l1", "decay_biases"} <= set(option_names(cls)), name
        assert set(cls.hyper_names) <= set(option_names(cls)), name
        opt = get_optimizer(name, model, lr=0.5)
        assert opt.lr == 0.5


def test_unknown_schedule_and_schedule_options(model):
    opt = get_optimizer("sgd", model, lr=0.1)
    with pytest.raises(ValueError, match="unknown schedule 'cosine'.*exponential"):
        get_schedule("cosine", opt)
    with pytest.raises(ValueError, match="unknown option.*'gamma'.*'exponential'.*beta"):
        get_schedule("exponential", opt, gamma=0.9)
    for name, options, message in [("exponential", dict(beta=0.0), "invalid beta"),
                                   ("step", dict(step_size=0), "invalid step_size"),
                                   ("step", dict(gamma=1.5), "invalid gamma"),
                                   ("plateau", dict(alpha=1.0), "invalid alpha"),
                                   ("plateau", dict(patience=-1), "invalid patience"),
                                   ("plateau", dict(threshold_mode="max"), "threshold_mode")]:
        with pytest.raises(ValueError, match=message):
            get_schedule(name, opt, **options)
    assert set(SCHEDULES) == {"inverse", "inverse_square", "exponential", "step", "plateau"}


def test_plateau_needs_the_validation_loss(model):
    sched = get_schedule("plateau", get_optimizer("sgd", model, lr=0.1))
    with pytest.raises(ValueError, match="needs the validation loss"):
        sched.step()
    with pytest.raises(ValueError, match="non-finite"):
        sched.step(float("nan"))


@pytest.mark.parametrize("name", [n for n, c in OPTIMIZERS.items() if c.needs_closure])
def test_closure_methods_refuse_to_step_without_one(model, name):
    opt = get_optimizer(name, model)
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step()


def test_lm_needs_a_squared_error_loss():
    model = MLP([3, 4, 2], rng=0, dtype=np.float64)
    x, d = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    opt = get_optimizer("lm", model)
    with pytest.raises(ValueError, match="squared-error loss.*'cross_entropy'"):
        opt.step(BatchClosure(model, get_loss("cross_entropy"), x, d))


def test_an_unflattened_model_is_refused():
    layer = Linear(2, 2)
    layer.theta = layer.grad = None
    with pytest.raises(ValueError, match="flattened model"):
        get_optimizer("sgd", layer)


def test_every_docstring_names_each_option_it_takes():
    """Each option is tied to the notes' symbol in the optimizer's docstring (or, for the options
    every optimizer shares, in the base module's)."""
    import sys

    import handgrad.optim.base as base
    for name, cls in OPTIMIZERS.items():
        text = "".join(c.__doc__ or "" for c in cls.__mro__) + sys.modules[cls.__module__].__doc__
        text += base.__doc__
        missing = [o for o in option_names(cls) if f"``{o}``" not in text]
        assert not missing, f"{name}: {missing}"
