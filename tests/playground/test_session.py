"""The playground's set-up checks, its training session and the teaching views, without a server."""

import base64

import numpy as np
import pytest

from handgrad.errors import OptionError
from handgrad.lab.hessian import hessian_from_loss_values
from handgrad.optim import OPTIMIZERS, SCHEDULES, option_names
from handgrad.playground import datasets, teaching
from handgrad.playground import session as session_module
from handgrad.playground.config import SHARED_OPTIONS, catalogue, parse
from handgrad.playground.session import GRID, Session, probability_of_class_1
from handgrad.train.closure import BatchClosure

XOR = {"dataset": "xor", "hidden": [4], "activation": "tanh", "optimizer": "adam", "lr": 0.03}


@pytest.mark.parametrize("raw, message", [
    ({"lr": -1}, "invalid lr: -1"),
    ({"lr": "fast"}, "invalid lr: 'fast'"),
    ({"hidden": [10000]}, "invalid width of hidden layer 1: 10000"),
    ({"hidden": [4] * 7}, "at most 6 layer widths"),
    ({"hidden": "4"}, "invalid hidden"),
    ({"dataset": "mnist"}, "invalid dataset: 'mnist'"),
    ({"activation": "softmax"}, "invalid activation: 'softmax'"),
    ({"dataset": "regression", "head": "sigmoid_bce"}, "invalid head: 'sigmoid_bce'"),
    ({"noise": 2}, "invalid noise: 2"),
    ({"points": 10}, "invalid points: 10"),
    ({"batch_size": 500}, "invalid batch_size: 500"),
    ({"batch_size": 1, "batchnorm": True}, "batch norm"),
    ({"dropout": 1.0}, "invalid dropout"),
    ({"optimizer": "sgdd"}, "invalid optimizer: 'sgdd'"),
    ({"options": {"lr": 0.1}}, "set by the page's own controls"),
    ({"options": [1]}, "invalid options"),
    ({"schedule": "cosine"}, "invalid schedule: 'cosine'"),
    ({"colour": "red"}, "unknown setting(s) 'colour'"),
    ([1, 2], "invalid config"),
])
def test_bad_set_ups_are_named(raw, message):
    with pytest.raises(OptionError, match=None) as err:
        parse(raw)
    assert message in str(err.value)


def test_optimizer_and_schedule_options_are_refused_by_their_own_classes():
    for raw, message in (({"optimizer": "adam", "options": {"beta1": 2.0}}, "beta1"),
                         ({"optimizer": "sgd", "options": {"beta": 0.9}}, "'beta'"),
                         ({"schedule": "step", "schedule_options": {"gamma": 5}}, "gamma")):
        with pytest.raises((OptionError, ValueError)) as err:
            Session(parse(raw))
        assert message in str(err.value)


def test_the_catalogue_offers_every_optimizer_and_schedule_with_every_option():
    cat = catalogue()
    assert set(cat["optimizers"]) == set(OPTIMIZERS)
    assert set(cat["schedules"]) == set(SCHEDULES)
    for name, cls in OPTIMIZERS.items():
        offered = [o["name"] for o in cat["optimizers"][name]["options"]]
        assert offered == [o for o in option_names(cls) if o not in SHARED_OPTIONS]
        assert cat["optimizers"][name]["doc"].strip()
    described = [o for entry in cat["optimizers"].values() for o in entry["options"]]
    assert sum(bool(o["meaning"]) for o in described) >= 0.9 * len(described)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_trains_or_says_why_not(name):
    session = Session(parse({**XOR, "optimizer": name, "lr": 0.01, "points": 60}))
    if name == "lm":  # a method whose loss does not suit the head names both
        with pytest.raises(ValueError, match="squared-error loss"):
            session.train_epoch()
        session = Session(parse({**XOR, "optimizer": name, "lr": 0.01, "points": 60,
                                 "head": "tanh_mse"}))
    before = session.model.theta.copy()
    session.train_epoch()
    assert session.epoch == 1 and np.isfinite(session.history["train"][-1])
    assert not np.array_equal(before, session.model.theta)


def test_xor_is_learned_by_a_2_4_1_tanh_network_with_adam():
    session = Session(parse(XOR))
    while session.epoch < 400 and session.history["test"][-1] >= 0.1:
        session.train_epoch()
    assert session.history["test"][-1] < 0.1
    assert session.frame()["accuracy"]["test"] > 0.95


def test_same_seed_same_run():
    a, b = Session(parse(XOR)), Session(parse(XOR))
    for _ in range(5):
        a.train_epoch()
        b.train_epoch()
    assert a.history == b.history
    np.testing.assert_array_equal(a.model.theta, b.model.theta)


def test_changes_rebuild_only_what_they_touch():
    session = Session(parse(XOR))
    for _ in range(3):
        session.train_epoch()
    model, opt, theta = session.model, session.optimizer, session.model.theta.copy()
    session.apply(parse({**XOR, "lr": 0.1}))                       # lr only: same optimizer
    assert session.optimizer is opt and opt.lr == 0.1 and session.epoch == 3
    notices = session.apply(parse({**XOR, "lr": 0.1, "optimizer": "momentum"}))
    assert session.model is model and session.optimizer is not opt   # weights kept
    np.testing.assert_array_equal(session.model.theta, theta)
    assert "starts from the current weights" in notices[0]
    session.apply(parse({**XOR, "hidden": [3]}))                   # a new network
    assert session.config.sizes == [2, 3, 1] and session.epoch == 0


def test_a_refused_set_up_leaves_the_session_as_it_was():
    session = Session(parse(XOR))
    session.train_epoch()
    state = (session.model, session.optimizer, session.config, session.model.theta.copy())
    with pytest.raises((OptionError, ValueError), match="gamma"):
        session.apply(parse({**XOR, "optimizer": "rmsprop", "options": {"alpha": 0.9},
                             "schedule": "step", "schedule_options": {"gamma": 5}}))
    with pytest.raises((OptionError, ValueError), match="beta1"):
        session.apply(parse({**XOR, "options": {"beta1": 2.0}}))
    assert (session.model, session.optimizer, session.config) == state[:3]
    np.testing.assert_array_equal(session.model.theta, state[3])


def test_history_stays_bounded(monkeypatch):
    monkeypatch.setattr(session_module, "HISTORY", 40)
    session = Session(parse({**XOR, "points": 20, "batch_size": 0, "optimizer": "sgd"}))
    for _ in range(300):
        session.train_epoch()
    h = session.history
    assert len(h["epoch"]) < 40 and h["epoch"] == sorted(h["epoch"])
    assert h["epoch"][-1] > 280 and len(h["train"]) == len(h["epoch"]) == len(h["grad"])
    assert session.stride > 1 and all(e % session.stride == 0 for e in h["epoch"][1:])


def test_the_heat_map_is_the_network_output_on_the_grid():
    session = Session(parse(XOR))
    session.train_epoch()
    frame = session.frame()
    sent = np.frombuffer(base64.b64decode(frame["output"]), np.uint8) / 255.0
    e = datasets.EXTENT
    axis = e - (np.arange(GRID) + 0.5) * 2 * e / GRID
    row, col = 5, 33                      # y = axis[row] (top rows first), x = -axis[col]
    session.model.eval()
    p = probability_of_class_1(XOR.get("head", "sigmoid_bce"),
                               session.model(np.array([[-axis[col], axis[row]]])))
    assert abs(sent[row * GRID + col] - p[0]) <= 0.5 / 255 + 1e-12
    assert len(frame["neurons"]) == 1 and len(frame["neurons"][0]) == 4


def test_explain_checks_its_gradients_and_leaves_the_session_untouched():
    session = Session(parse({**XOR, "dropout": 0.2, "batchnorm": True}))
    session.train_epoch()
    snap = session.model.snapshot(params=True)
    grad = session.model.grad.copy()
    result = teaching.explain(session)
    assert "agree with central differences" in result["verdict"]
    assert "zhat_1 = gamma_1 (z_1 - mu_B)" in result["text"] and "m_1 *" in result["text"]
    np.testing.assert_array_equal(session.model.theta, snap.theta)
    np.testing.assert_array_equal(session.model.grad, grad)
    after = session.model.snapshot()
    for name, value in snap.buffers.items():
        np.testing.assert_array_equal(after.buffers[name], value)
    assert after.rng_states == snap.rng_states


def test_curvature_matches_the_hessian_of_loss_values():
    session = Session(parse({**XOR, "points": 40, "optimizer": "sgd", "lr": 0.5}))
    for _ in range(5):
        session.train_epoch()
    result = teaching.curvature(session)
    closure = BatchClosure(session.model, session.loss, session.x_train, session.targets_train)
    expected = np.linalg.eigvalsh(hessian_from_loss_values(closure))[-1]
    assert result["lambda_max"] == pytest.approx(expected, rel=1e-4)
    assert result["eta_opt"] == 1.0 / result["lambda_max"]
    assert result["eta_max"] == 2.0 / result["lambda_max"]
    assert result["lr"] == 0.5 and "0.5" in result["verdict"]


def test_race_runs_the_labs_optimizers_from_the_functions_start():
    result = teaching.race({"function": "rosenbrock", "optimizers": ["gd", "newton"],
                            "steps": 30})
    assert [r["optimizer"] for r in result["racers"]] == ["gd", "newton"]
    assert result["racers"][1]["reached"] is not None          # Newton lands quickly
    assert result["racers"][0]["path"][0] == result["racers"][1]["path"][0]
    assert len(result["contour"]) == result["size"] ** 2
    with pytest.raises(OptionError, match="steps"):
        teaching.race({"function": "rosenbrock", "steps": 0})


def test_l1_and_l2_reach_the_optimizer_and_shrink_the_weights():
    plain = Session(parse({**XOR, "optimizer": "sgd", "lr": 0.3}))
    l2 = Session(parse({**XOR, "optimizer": "sgd", "lr": 0.3, "l2": 0.05}))
    l1 = Session(parse({**XOR, "optimizer": "sgd", "lr": 0.3, "l1": 0.01}))
    for session in (plain, l2, l1):
        for _ in range(30):
            session.train_epoch()
    weights = lambda s: np.concatenate([m.W.data.ravel() for m in s.model.layers
                                        if hasattr(m, "W")])
    assert np.linalg.norm(weights(l2)) < np.linalg.norm(weights(plain))
    assert np.abs(weights(l1)).sum() < np.abs(weights(plain)).sum()


def test_a_full_batch_method_on_mini_batches_gets_a_notice():
    session = Session(parse(XOR))
    notices = session.apply(parse({**XOR, "optimizer": "rprop"}))
    assert any("full-batch method" in n for n in notices)
    assert not any("full-batch" in n for n in session.apply(parse({**XOR, "optimizer": "rprop",
                                                                    "batch_size": 0})))
