"""Issue 13, the Python API's share of the bad-input suite: Trainer, Task, fit, evaluate and resume.

Each row is one input and its outcome class: "ok" (it works, and the result is checked), or an
error of a named type whose message names the option (or file) at fault. Nothing is truncated,
coerced or silently ignored.
"""

import json

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from handgrad import io
from handgrad.errors import DataError, ModelFileError, NonFiniteError, OptionError, ShapeError
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train import Checkpoint, EarlyStopping, Task, Trainer, resume
from handgrad.optim import Penalty

OK = "ok"


def blobs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    d = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, d


def make(**overrides):
    model = MLP([4, 6, 3], rng=0, dtype=np.float64)
    parts = dict(model=model, loss=get_loss("cross_entropy"),
                 optimizer=get_optimizer("sgd", model, lr=0.1),
                 task=Task("classification", "cross_entropy", 3))
    options = dict(batch_size=8, epochs=2, seed=0)
    for key, value in overrides.items():
        if key in parts:
            parts[key] = value(model) if callable(value) and key == "optimizer" else value
        else:
            options[key] = value
    return Trainer(parts.pop("model"), parts.pop("loss"), parts.pop("optimizer"), **parts,
                   **options)


def other_model_optimizer(model):
    other = MLP([4, 6, 3], rng=1, dtype=np.float64)
    return get_optimizer("sgd", other, lr=0.1)


TRAINER_CASES = [
    # (options, outcome, what the message must name)
    (dict(epochs=1.5), OptionError, "epochs"),
    (dict(epochs=float("inf")), OptionError, "epochs"),
    (dict(epochs=float("nan")), OptionError, "epochs"),
    (dict(epochs=-1), OptionError, "epochs"),
    (dict(epochs="3"), OptionError, "epochs"),
    (dict(epochs=True), OptionError, "epochs"),
    (dict(epochs=None), OptionError, "epochs"),
    (dict(epochs=3.0), OK, None),
    (dict(batch_size=2.5), OptionError, "batch_size"),
    (dict(batch_size=0), OptionError, "batch_size"),
    (dict(batch_size=-4), OptionError, "batch_size"),
    (dict(batch_size="32"), OptionError, "batch_size"),
    (dict(batch_size=True), OptionError, "batch_size"),
    (dict(batch_size=float("nan")), OptionError, "batch_size"),
    (dict(batch_size=np.int64(8)), OK, None),
    (dict(seed=-1), OptionError, "seed"),
    (dict(seed=1.5), OptionError, "seed"),
    (dict(seed="0"), OptionError, "seed"),
    (dict(shuffle="yes"), OptionError, "shuffle"),
    (dict(shuffle=1), OptionError, "shuffle"),
    (dict(tol=-1.0), OptionError, "tol"),
    (dict(tol=float("nan")), OptionError, "tol"),
    (dict(tol="small"), OptionError, "tol"),
    (dict(running_lambda=0.0), OptionError, "running_lambda"),
    (dict(running_lambda=1.5), OptionError, "running_lambda"),
    (dict(running_lambda=float("nan")), OptionError, "running_lambda"),
    (dict(threads=0), OptionError, "threads"),
    (dict(threads=1.5), OptionError, "threads"),
    (dict(threads=True), OptionError, "threads"),
    (dict(model="mlp"), OptionError, "model"),
    (dict(loss="cross_entropy"), OptionError, "loss"),
    (dict(optimizer=None), OptionError, "optimizer"),
    (dict(optimizer="adam"), OptionError, "optimizer"),
    (dict(optimizer=other_model_optimizer), OptionError, "another model"),
    (dict(task="classification"), OptionError, "task"),
    (dict(task=Task("classification", "mse", 3)), OptionError, "task"),
    (dict(loss=get_loss("nll")), OptionError, "task"),
    (dict(penalty=Penalty(None, l2=0.1)), OptionError, "l2"),
]


@pytest.mark.parametrize("options, outcome, needle", TRAINER_CASES,
                         ids=[repr(c[0])[:40] for c in TRAINER_CASES])
def test_trainer_options(options, outcome, needle):
    if outcome is OK:
        trainer = make(**options)
        x, d = blobs()
        history = trainer.fit(x, d)
        assert len(history["train_loss"]) == trainer.epochs
        assert isinstance(trainer.epochs, int) and isinstance(trainer.batch_size, int)
        return
    with pytest.raises(outcome) as caught:
        make(**options)
    assert needle in str(caught.value)


TASK_CASES = [
    (("clasification", "cross_entropy", 3), OptionError, "clasification"),
    (("Classification", "cross_entropy", 3), OptionError, "task kind"),
    ((3, "mse"), OptionError, "task kind"),
    (("regression", "cross_entropy"), OptionError, "cross_entropy"),
    (("regression", "bce"), OptionError, "bce"),
    (("regression", "nll"), OptionError, "nll"),
    (("regression", "hinge"), OptionError, "hinge"),
    (("regression", "kl"), OptionError, "kl"),
    (("classification", "msle", 3), OptionError, "msle"),
    (("classification", "hinge", 3), OptionError, "hinge"),
    (("classification", "bce", 3), OptionError, "bce"),
    (("classification", "bce_logits", 4), OptionError, "bce_logits"),
    (("classification", "cross_entropy", 1), OptionError, "n_classes"),
    (("classification", "cross_entropy", 0), OptionError, "n_classes"),
    (("classification", "cross_entropy", 2.5), OptionError, "n_classes"),
    (("classification", "cross_entropy", "3"), OptionError, "n_classes"),
    (("regression", "mse", 3), OptionError, "n_classes"),
    (("classification", "nope", 3), OptionError, "nope"),
    (("classification", None, 3), OptionError, "loss"),
    (("classification", "cross_entropy", 3, 3), OptionError, "output"),
    (("classification", "cross_entropy", 3, "softmax"), OptionError, "output"),
    (("classification", "kl", 3, "sigmoid"), OptionError, "output"),
    (("classification", "cross_entropy", 3, None), OK, None),  # None: the pairing output
    (("classification", "hinge", 2), OK, None),
    (("regression", "msle"), OK, None),
    (("classification", "mse", 3, "softmax"), OK, None),
]


@pytest.mark.parametrize("args, outcome, needle", TASK_CASES, ids=[repr(c[0]) for c in TASK_CASES])
def test_task_kinds_and_losses(args, outcome, needle):
    if outcome is OK:
        task = Task(*args)
        assert task.kind == args[0] and task.loss == args[1]
        return
    with pytest.raises(outcome) as caught:
        Task(*args)
    assert needle in str(caught.value)


def fit_data(kind):
    x, d = blobs()
    x_val, d_val = blobs(20, seed=1)
    return {"x": x, "d": d, "x_val": x_val, "d_val": d_val}


def mutate(name, value):
    return lambda data: {**data, name: value(data) if callable(value) else value}


FIT_CASES = [
    (mutate("d_val", None), OptionError, "d_val"),
    (mutate("x_val", None), OptionError, "x_val"),
    (mutate("d", None), OptionError, "training targets"),
    (mutate("d", lambda a: a["d"] + 0.7), DataError, "whole numbers"),
    (mutate("d", lambda a: a["d"] - 1), DataError, "outside 0..2"),
    (mutate("d", lambda a: a["d"] + 1), DataError, "outside 0..2"),
    (mutate("d", lambda a: np.where(a["d"] == 1, np.nan, a["d"])), NonFiniteError, "targets"),
    (mutate("d", lambda a: a["d"].astype(str)), DataError, "dtype"),
    (mutate("d", lambda a: np.eye(3)[a["d"]]), DataError, "1-D"),
    (mutate("d", lambda a: a["d"][:-1]), ShapeError, "targets"),
    (mutate("d", 1), ShapeError, "targets"),
    (mutate("d_val", lambda a: a["d_val"] + 0.5), DataError, "validation targets"),
    (mutate("x", lambda a: a["x"][:, :3]), ShapeError, "3 features"),
    (mutate("x", lambda a: a["x"][:, 0]), ShapeError, "training input x"),
    (mutate("x", lambda a: np.where(a["x"] > 2, np.inf, a["x"])), NonFiniteError, "input x"),
    (mutate("x", lambda a: a["x"] + 1j), TypeError, "complex"),
    (mutate("x", lambda a: a["x"].astype(str)), TypeError, "numeric"),
    (mutate("x", lambda a: a["x"][:0]), ShapeError, "targets"),
    (mutate("x_val", lambda a: a["x_val"][:, :2]), ShapeError, "validation input x"),
    (mutate("d", lambda a: a["d"].astype(np.float64)), OK, None),  # 0.0, 1.0, 2.0 are labels
    (mutate("d", lambda a: a["d"].astype(np.uint8)), OK, None),
]


@pytest.mark.parametrize("change, outcome, needle", FIT_CASES, ids=range(len(FIT_CASES)))
def test_fit_inputs(change, outcome, needle):
    data = change(fit_data("classification"))
    trainer = make()
    before = trainer.model.theta.copy()
    if outcome is OK:
        trainer.fit(data["x"], data["d"], data["x_val"], data["d_val"])
        assert not np.array_equal(trainer.model.theta, before)
        return
    with pytest.raises(outcome) as caught:
        trainer.fit(data["x"], data["d"], data["x_val"], data["d_val"])
    assert needle in str(caught.value)
    np.testing.assert_array_equal(trainer.model.theta, before)  # refused before any step


def test_float_labels_are_not_truncated_for_mse_either():
    model = MLP([4, 6, 3], rng=0, dtype=np.float64)
    trainer = Trainer(model, get_loss("mse"), get_optimizer("sgd", model, lr=0.1),
                      task=Task("classification", "mse", 3, "softmax"), epochs=1)
    x, d = blobs()
    with pytest.raises(DataError, match="whole numbers"):
        trainer.fit(x, d + 0.7)


EVALUATE_CASES = [
    (lambda x, d: (x, d + 0.7), DataError, "evaluation targets"),
    (lambda x, d: (x[:, :2], d), ShapeError, "evaluation input x"),
    (lambda x, d: (x, None), OptionError, "evaluation targets"),
    (lambda x, d: (x[:0], d[:0]), ShapeError, "empty"),
    (lambda x, d: (x, d), OK, None),
]


@pytest.mark.parametrize("change, outcome, needle", EVALUATE_CASES,
                         ids=range(len(EVALUATE_CASES)))
def test_evaluate_inputs(change, outcome, needle):
    trainer = make()
    x, d = change(*blobs())
    if outcome is OK:
        result = trainer.evaluate(x, d)
        assert 0.0 <= result["accuracy"] <= 1.0 and np.isfinite(result["loss"])
        return
    with pytest.raises(outcome) as caught:
        trainer.evaluate(x, d)
    assert needle in str(caught.value)


def test_regression_targets_are_checked():
    model = MLP([4, 5, 1], rng=0, dtype=np.float64)
    trainer = Trainer(model, get_loss("mse"), get_optimizer("sgd", model, lr=0.01),
                      task=Task("regression", "mse"), epochs=1)
    x, _ = blobs()
    with pytest.raises(NonFiniteError, match="training targets"):
        trainer.fit(x, np.full(len(x), np.inf))
    with pytest.raises(TypeError, match="training targets"):
        trainer.fit(x, np.array(["a"] * len(x)))


def test_early_stopping_options_are_checked():
    for options, needle in [(dict(patience=0), "patience"), (dict(patience=1.5), "patience"),
                            (dict(min_delta=-1.0), "min_delta"), (dict(monitor=3), "monitor"),
                            (dict(restore_best="yes"), "restore_best")]:
        with pytest.raises(OptionError, match=needle):
            EarlyStopping(**options)
    with pytest.raises(OptionError, match="checkpoint every"):
        Checkpoint("c.safetensors", every=0)


# --- resume: a checkpoint's state is checked before it is used --------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.safetensors"
    trainer = make(callbacks=[Checkpoint(path)])
    trainer.fit(*blobs())
    return path


def rewrite(source, target, change):
    """A copy of a checkpoint with its JSON header changed by ``change(header)``."""
    data = source.read_bytes()
    tensors = st_load(data)
    n = int.from_bytes(data[:8], "little")
    header = json.loads(json.loads(data[8:8 + n])["__metadata__"]["handgrad"])
    change(header)
    target.write_bytes(st_save(tensors, metadata={"handgrad": json.dumps(header)}))
    return target


def set_state(key, value):
    def change(header):
        header["extra"]["trainer"][key] = value
    return change


def set_hyper(key, value):
    def change(header):
        header["extra"]["trainer"]["optimizer"]["hyperparameters"][key] = value
    return change


def drop(key):
    return lambda header: header["extra"]["trainer"].pop(key)


RESUME_CASES = [
    (set_state("epoch", -100), "epoch"),
    (set_state("epoch", 1.5), "epoch"),
    (set_state("epoch", "2"), "epoch"),
    (set_state("epoch", 5), "epoch"),  # five epochs with a history of two
    (set_state("step_in_epoch", -1), "step_in_epoch"),
    (set_state("global_step", None), "global_step"),
    (set_state("global_step", -3), "global_step"),
    (set_state("running_loss", "low"), "running_loss"),
    (set_state("history", [1, 2]), "history"),
    (drop("rng"), "rng"),
    (drop("optimizer"), "optimizer"),
    (set_hyper("lr", -5), "lr"),
    (set_hyper("lr", None), "lr"),
]


@pytest.mark.parametrize("change, needle", RESUME_CASES, ids=range(len(RESUME_CASES)))
def test_resume_checks_the_checkpoint(checkpoint, tmp_path, change, needle):
    bad = rewrite(checkpoint, tmp_path / "bad.safetensors", change)
    trainer = make(epochs=4)
    with pytest.raises(ModelFileError) as caught:
        resume(trainer, bad)
    message = str(caught.value)
    assert needle in message and "bad.safetensors" in message
    assert trainer.epoch == 0  # the counters are checked before anything is set


def test_resume_into_another_optimizer_names_the_file(checkpoint):
    model = MLP([4, 6, 3], rng=0, dtype=np.float64)
    trainer = Trainer(model, get_loss("cross_entropy"), get_optimizer("rmsprop", model, lr=0.01),
                      task=Task("classification", "cross_entropy", 3), epochs=4)
    with pytest.raises(ModelFileError, match="checkpoint.safetensors") as caught:
        resume(trainer, checkpoint)
    assert "rmsprop" in str(caught.value) or "sgd" in str(caught.value)


def test_resume_from_a_model_file_or_nothing(checkpoint, tmp_path):
    trainer = make(epochs=4)
    model_file = io.save_model(tmp_path / "model.safetensors", trainer.model)
    with pytest.raises(ModelFileError, match="model.safetensors"):
        resume(trainer, model_file)
    with pytest.raises(ModelFileError, match="missing.safetensors"):
        resume(trainer, tmp_path / "missing.safetensors")


def test_resume_then_fit_continues_to_the_epoch_count(checkpoint):
    trainer = make(epochs=4)
    resume(trainer, checkpoint)
    assert trainer.epoch == 2
    trainer.fit(*blobs())
    assert trainer.epoch == 4 and len(trainer.history["train_loss"]) == 4


def test_fit_checks_the_data_once_not_per_step(monkeypatch):
    """Issue 14.3: the boundary (fit) checks x and d once; the steps run model.forward unchecked,
    so the number of input checks does not grow with the number of steps."""
    import handgrad.train.trainer as trainer_module
    from handgrad.nn.module import Module

    counts = {"as_float_array": 0, "check_input": 0}
    real_check, real_input = trainer_module.as_float_array, Module.check_input

    def counting_check(*args, **kwargs):
        counts["as_float_array"] += 1
        return real_check(*args, **kwargs)

    def counting_input(self, x):
        counts["check_input"] += 1
        return real_input(self, x)

    monkeypatch.setattr(trainer_module, "as_float_array", counting_check)
    monkeypatch.setattr(Module, "check_input", counting_input)
    seen = []
    for batch_size in (40, 2):  # 1 and 20 steps an epoch
        counts.update(as_float_array=0, check_input=0)
        make(batch_size=batch_size, epochs=3).fit(*blobs(), *blobs(20, seed=1))
        seen.append(dict(counts))
    assert seen[0] == seen[1]
    assert seen[0] == {"as_float_array": 2, "check_input": 0}  # x and x_val, once each
