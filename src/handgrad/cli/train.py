"""``handgrad train``: train an MLP on a bundled data set or a CSV file and write the run's files.

With no arguments it is the main job: an MLP on scikit-learn's bundled 8x8 handwritten digits.
Every option may also come from a TOML file (``--config run.toml``, keys as the long option names
with underscores); options on the command line win over the file.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

import numpy as np

from handgrad.cli import options as opt_parse
from handgrad.data import load_dataset
from handgrad.io import remove_stale_temps
from handgrad.nn import MLP, get_loss
from handgrad.errors import DivergenceError
from handgrad.train import Checkpoint, EarlyStopping, Penalty, ProgressBar, Task, Trainer, resume
from handgrad.train.task import default_output
from handgrad.train.run import finish_run, model_metadata

DEFAULTS = dict(data="digits", target=None, hidden="128", activation="relu", output=None,
                loss=None, optimizer="momentum", lr=0.05, opt=[], schedule=None, sched=[],
                batch_size=32, epochs=40, seed=0, dtype="float32", weight_decay=0.0, l1=0.0,
                l2=0.0, dropout=0.0, batchnorm=False, val_size=0.1, test_size=0.2, tol=None,
                patience=None, checkpoint_every=1, name=None, runs_dir="runs", resume=False,
                no_progress=False, init=None, threads=None)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train an MLP (default: the bundled digits)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = p.add_argument
    add("--config", type=Path, help="TOML file with any of these options")
    add("--data", help="digits, iris, wine, breast_cancer, diabetes, mnist1d, ... or a CSV path")
    add("--target", help="the target column of a CSV file (default: its last column)")
    add("--hidden", help="hidden layer sizes, comma-separated, e.g. 64,32 ('' for none)")
    add("--activation", help="hidden activation: relu, tanh, sigmoid, leaky_relu, elu, gelu, ...")
    add("--output", help="output activation (default: the one that pairs with the loss)")
    add("--loss", help="cross_entropy (default for classes), mse (default for regression), kl, "
                       "bce, bce_logits, nll, half_mse, mae, msle, hinge, squared_hinge")
    add("--init", help="weight initialisation: xavier_uniform, he_uniform, lecun_normal, ...")
    add("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, rprop, ...")
    add("--lr", type=float, help="learning rate eta")
    add("--opt", action="append", metavar="KEY=VALUE", help="optimizer option, repeatable")
    add("--schedule", help="learning-rate schedule: inverse, exponential, step, plateau, ...")
    add("--sched", action="append", metavar="KEY=VALUE", help="schedule option, repeatable")
    add("--batch-size", type=int, help="mini-batch size (the training set size: full batch)")
    add("--epochs", type=int, help="maximum number of epochs")
    add("--seed", type=int, help="seed of the split, the initial weights and the shuffling")
    add("--dtype", choices=["float32", "float64"])
    add("--weight-decay", type=float, help="L2 weight decay of the optimizer (weights only)")
    add("--l1", type=float, help="L1 penalty lambda ||W||_1 added to the loss")
    add("--l2", type=float, help="L2 penalty lambda/2 ||W||^2 added to the loss")
    add("--dropout", type=float, help="dropout probability after each hidden layer")
    add("--batchnorm", action="store_true", default=None, help="batch norm in each hidden layer")
    add("--val-size", type=float, help="fraction held out for validation")
    add("--test-size", type=float, help="fraction held out for the test")
    add("--tol", type=float, help="stop when |L_k - L_(k-1)| < tol")
    add("--patience", type=int, help="early stopping patience on the validation loss")
    add("--checkpoint-every", type=int, help="epochs between checkpoints")
    add("--name", help="run name: files go to RUNS_DIR/NAME (default: the data set's name)")
    add("--runs-dir", help="where runs are written (default: runs)")
    add("--resume", action="store_true", default=None, help="continue from the run's checkpoint")
    add("--no-progress", action="store_true", default=None, help="no progress bar")
    add("--threads", type=int, help="BLAS threads while training (default: as the environment "
                                    "sets them); 1 is often fastest for small networks")
    p.set_defaults(func=run, **{k: None for k in DEFAULTS})


def resolve(args) -> argparse.Namespace:
    """Command line over config file over defaults."""
    config = {}
    if args.config is not None:
        config = load_config(args.config)
    merged = dict(DEFAULTS)
    merged.update(config)
    merged.update({k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None})
    return argparse.Namespace(**merged)


def load_config(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    config = {k.replace("-", "_"): v for k, v in config.items()}
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"{path}: unknown config key(s) {unknown}; known keys: "
                         f"{', '.join(sorted(DEFAULTS))}")
    if isinstance(config.get("hidden"), list):
        config["hidden"] = ",".join(str(h) for h in config["hidden"])
    for key in ("opt", "sched"):
        if isinstance(config.get(key), dict):
            config[key] = [f"{k}={v}" for k, v in config[key].items()]
    return config


def build_task(a, ds) -> Task:
    if ds.task == "classification":
        loss = a.loss or ds.suggested_loss or "cross_entropy"
        return Task("classification", loss, len(ds.classes), a.output or default_output(loss))
    loss = a.loss or "mse"
    return Task("regression", loss, 0, a.output or "identity")


def build_model(a, ds, task):
    hidden = [int(h) for h in str(a.hidden).split(",") if h.strip()]
    return MLP([ds.n_features, *hidden, task.n_outputs], activation=a.activation,
               output=task.output, init=a.init, rng=a.seed, dtype=np.dtype(a.dtype),
               dropout=a.dropout, batchnorm=bool(a.batchnorm))


def build_trainer(a, ds, task, model, run_dir: Path) -> Trainer:
    from handgrad.optim import get_optimizer, get_schedule

    options = opt_parse.parse_pairs(a.opt, "--opt")
    if a.weight_decay:
        options["weight_decay"] = a.weight_decay
    optimizer = get_optimizer(a.optimizer, model, lr=a.lr, **options)
    schedule = (get_schedule(a.schedule, optimizer, **opt_parse.parse_pairs(a.sched, "--sched"))
                if a.schedule else None)
    penalty = Penalty(model.decay_mask(), l2=a.l2, l1=a.l1)
    callbacks = [ProgressBar(len(ds.x_train), disable=True if a.no_progress else None),
                 Checkpoint(run_dir / "checkpoint.safetensors", every=a.checkpoint_every)]
    if a.patience:
        callbacks.append(EarlyStopping(patience=a.patience))
    return Trainer(model, get_loss(task.loss), optimizer, task=task, batch_size=a.batch_size,
                   epochs=a.epochs, seed=a.seed, schedule=schedule, penalty=penalty or None,
                   callbacks=callbacks, tol=a.tol, threads=a.threads)


def run(args) -> int:
    a = resolve(args)
    ds = load_dataset(a.data, a.target, test_size=a.test_size, val_size=a.val_size, seed=a.seed,
                      dtype=np.dtype(a.dtype))
    task = build_task(a, ds)
    run_dir = Path(a.runs_dir) / (a.name or ds.name)
    for name in ("model.safetensors", "metrics.json"):
        remove_stale_temps(run_dir / name)
    model = build_model(a, ds, task)
    d_train, d_val, d_test, target_scale = scale_targets(ds)
    trainer = build_trainer(a, ds, task, model, run_dir)
    if a.resume:
        resume(trainer, run_dir / "checkpoint.safetensors")
        print(f"resumed {run_dir} at epoch {trainer.epoch}, step {trainer.step_in_epoch}")
    print(ds.summary())
    print(f"model: {' -> '.join(str(s) for s in model_sizes(model))}, "
          f"{model.num_parameters} parameters; optimizer {a.optimizer} (eta={a.lr})")
    start = time.perf_counter()
    try:
        trainer.fit(ds.x_train, d_train, ds.x_val, d_val)
    except DivergenceError as err:
        print(f"stopped: {err}. The last good checkpoint is {run_dir / 'checkpoint.safetensors'}.")
        return 1
    seconds = time.perf_counter() - start
    meta = model_metadata(ds, task, target_scale, vars(a))
    report = finish_run(run_dir, model, trainer, ds, task, d_test, target_scale, meta, seconds)
    print(report)
    return 0


def scale_targets(ds):
    """Regression targets standardised on the training split (undone when reporting)."""
    if ds.task != "regression":
        return ds.d_train, ds.d_val, ds.d_test, None
    mean, std = float(ds.d_train.mean()), float(ds.d_train.std() or 1.0)
    scale = (lambda d: None if d is None else ((d - mean) / std).astype(ds.x_train.dtype))
    return scale(ds.d_train), scale(ds.d_val), ds.d_test, {"mean": mean, "std": std}


def model_sizes(model) -> list[int]:
    linears = [m for m in model.modules() if type(m).__name__ == "Linear"]
    return [linears[0].in_features] + [m.out_features for m in linears]
