"""``handgrad train``: train an MLP on a bundled data set or a CSV file and write the run's files.

With no arguments it is the main job: an MLP on scikit-learn's bundled 8x8 handwritten digits.
Every option may also come from a TOML file (``--config run.toml``, keys as the long option names
with underscores); options on the command line win over the file.

Defaults per task: classification trains with momentum (eta = 0.05); regression standardises the
target on the training split, trains with Adam (eta = 0.001, weight decay 0.1 unless --l2 is
given) and reports the test metrics in the target's own units.

``--resume`` continues the run in RUNS_DIR/NAME with the settings stored in its checkpoint. Only
--epochs (to train longer), --checkpoint-every, --threads and --no-progress may change; any other
option given with --resume must equal the stored one, or the run is refused before a file is
written. One run per folder: a second ``handgrad train`` in a folder in use is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.cli import options as opts
from handgrad.cli.run_folder import RUN_FILES, RunFolder
from handgrad.data import load_dataset
from handgrad.data.sources import data_file_record, short_name
from handgrad.errors import (DataError, DivergenceError, HandgradError, ModelFileError,
                             OptionError, RunFolderError)
from handgrad.nn import MLP, get_loss
from handgrad.train.callbacks import Checkpoint, EarlyStopping, ProgressBar, resume
from handgrad.train.run import finish_run, model_metadata
from handgrad.train.task import (BINARY_LOSSES, TASK_LOSSES, Task, canonical_output,
                                 default_output, output_problem)
from handgrad.train.trainer import Trainer

DEFAULTS = opts.DEFAULTS
# Chosen once the data set's task is known (issue 13: `--data diabetes` diverged with the
# classification defaults). Regression trains on the standardised target.
# Regression trains on the standardised target; its weight decay (an L2 penalty, unless --l2 is
# given) keeps 128 hidden units from fitting the noise of a small set: the bundled diabetes set
# reaches a test R^2 of 0.33 on the default split (linear regression: 0.33), 0.26 without it.
TASK_DEFAULTS = {"classification": {"optimizer": "momentum", "lr": 0.05, "weight_decay": 0.0},
                 "regression": {"optimizer": "adam", "lr": 0.001, "weight_decay": 0.1}}
# What --resume may change: how long to train and how to show it. Everything else defines the run.
RESUME_MAY_CHANGE = ("epochs", "checkpoint_every", "threads", "no_progress", "resume", "name",
                     "runs_dir", "distributed")
CHECKPOINT = "checkpoint.safetensors"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train an MLP (default: the bundled digits)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = p.add_argument
    add("--config", type=Path, help="TOML file with any of these options")
    add("--data", help="digits, iris, wine, breast_cancer, diabetes, mnist1d, ... or a CSV path")
    add("--target", help="the target column of a CSV file (default: its last column)")
    add("--impute", help="fill missing feature values: mean, median or most_frequent (default: "
                         "refuse them, naming the rows)")
    add("--encoding", help="the text encoding of a CSV file, e.g. latin-1 (default: UTF-8)")
    add("--hidden", help="hidden layer sizes, comma-separated, e.g. 64,32 ('' for none)")
    add("--activation", help="hidden activation: relu, tanh, sigmoid, leaky_relu, elu, gelu, "
        "hard_tanh, ... (hard_tanh's derivative is 0 at z = +-1, as in PyTorch; 002 gives 1 "
        "there: docs/notes-differences.md)")
    add("--output", help="output activation (default: the one that pairs with the loss): "
        "cross_entropy and bce_logits take identity (logits); nll log_softmax; kl softmax, or "
        "sigmoid for two classes (one output, the binary divergence of 001's '2 or not 2'); bce "
        "sigmoid; hinge identity or tanh; for classes mse/half_mse sigmoid or softmax, mae also "
        "identity; for regression identity, msle softplus. Other pairings are refused")
    add("--loss", help="cross_entropy (default for classes), mse (default for regression), kl, "
                       "bce, bce_logits, nll, half_mse, mae, msle, hinge, squared_hinge. "
                       "Reduction: the mean over the batch where 002 sums (cross-entropy, "
                       "squared hinge): the gradient is the sum's divided by the batch size. "
                       "msle uses the natural log; 002's example table does not follow from its "
                       "formula (docs/notes-differences.md)")
    add("--init", help="weight initialisation: xavier_uniform, he_uniform, lecun_normal, ...")
    add("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, rprop, ... "
                            "(default: momentum for classes, adam for regression)")
    add("--lr", type=float, help="learning rate eta (default: 0.05 for classes, 0.001 for "
                                 "regression)")
    add("--opt", action="append", metavar="KEY=VALUE", help="optimizer option, repeatable")
    add("--schedule", help="learning-rate schedule: inverse, exponential, step, plateau, ...")
    add("--sched", action="append", metavar="KEY=VALUE", help="schedule option, repeatable")
    add("--batch-size", type=int, help="mini-batch size (the training set size: full batch)")
    add("--epochs", type=int, help="number of epochs (with --resume: the total to reach)")
    add("--seed", type=int, help="seed of the split, the initial weights and the shuffling")
    add("--dtype", choices=["float32", "float64"])
    add("--weight-decay", type=float, help="weight decay of the optimizer (weights only; AdamW: "
                                           "decoupled)")
    add("--l1", type=float, help="L1 penalty lambda ||W||_1 added to the loss")
    add("--l2", type=float, help="L2 penalty lambda/2 ||W||^2 added to the loss")
    add("--dropout", type=float, help="dropout probability after each hidden layer")
    add("--batchnorm", action="store_true", default=None, help="batch norm in each hidden layer")
    add("--val-size", type=float, help="fraction held out for validation")
    add("--test-size", type=float, help="fraction held out for the test")
    add("--tol", type=float, help="stop when |L_k - L_(k-1)| < tol, L_k the mean training loss "
                                  "of epoch k (001)")
    add("--running-tol", type=float, help="stop when the running loss Q of 002 changes by less "
        "than this between epochs: |Q_k - Q_(k-1)| < running_tol")
    add("--running-lambda", type=float, help="lambda of 002's running loss Q := lambda L_i + "
        "(1 - lambda) Q, updated per mini-batch (default 0.05)")
    add("--patience", type=int, help="early stopping patience on the validation loss")
    add("--checkpoint-every", type=int, help="epochs between checkpoints")
    add("--name", help="run name: files go to RUNS_DIR/NAME (default: the data set's name)")
    add("--runs-dir", help="where runs are written (default: runs)")
    add("--resume", action="store_true", default=None,
        help="continue the run in RUNS_DIR/NAME with its stored settings")
    add("--overwrite", action="store_true",
        help="start afresh in a folder that holds an unfinished run (its checkpoint is deleted)")
    add("--no-progress", action="store_true", default=None, help="no progress bar")
    add("--threads", type=int, help="BLAS threads while training (default: as the environment "
                                    "sets them); 1 is often fastest for small networks")
    add("--distributed", choices=["mpi"], help="data-parallel training over the ranks of "
        "`mpiexec -n P` (mpi4py; implied when started by mpiexec with P > 1): docs/scaling.md")
    add("--sync-batchnorm", action="store_true", default=None,
        help="with --distributed mpi: batch norm normalises with the global batch's statistics "
             "(default: each rank's own, as PyTorch's DDP)")
    p.set_defaults(func=run, **{k: None for k in DEFAULTS})


# --- settings: command line over config file over defaults -----------------------------------------
def resolve(args) -> tuple[argparse.Namespace, dict]:
    """(settings, explicit): every setting checked and in canonical form, and the ones the user
    gave (command line or config file) with the name to show for each."""
    explicit = {}
    if args.config is not None:
        config = load_config(args.config)
        explicit.update({k: (v, f"{k} in {args.config}") for k, v in config.items()})
    for key, value in vars(args).items():
        if key in DEFAULTS and value is not None:
            explicit[key] = (opts.check_setting(key, value, "--" + key.replace("_", "-")),
                             "--" + key.replace("_", "-"))
    settings = dict(DEFAULTS)
    settings.update({k: v for k, (v, _) in explicit.items()})
    if settings["sched"] and settings["schedule"] is None and not settings["resume"]:
        # without a schedule the learning rate stays constant: its options would be ignored
        name = explicit["sched"][1]
        if name.startswith("--"):
            missing, give = "--schedule", "--schedule NAME (e.g. --schedule exponential)"
        else:
            missing, give = "schedule", 'schedule = "NAME" (e.g. "exponential") or --schedule NAME'
        raise OptionError(f"invalid {name}: {show(settings['sched'])} without {missing} (a "
                          f"schedule's options need a schedule: give {give}, or drop "
                          f"{name.split(' in ')[0]})")
    return argparse.Namespace(**settings), explicit


def load_config(path: Path) -> dict:
    """A TOML file's settings, each checked (the message names the file and the key)."""
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not found"
        raise OptionError(f"invalid --config: {str(path)!r} ({kind}; expected a TOML file)")
    try:
        config = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise OptionError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start}); "
                          "save it as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as err:
        raise OptionError(f"{path}: not valid TOML: {err}") from None
    config = {k.replace("-", "_"): v for k, v in config.items()}
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise OptionError(f"{path}: unknown config key(s) {unknown}; known keys: "
                          f"{', '.join(sorted(DEFAULTS))}")
    return {k: opts.check_setting(k, v, f"{k} in {path}") for k, v in config.items()}


def for_task(a, ds) -> argparse.Namespace:
    """The settings with the per-task defaults filled in (optimizer, lr, loss, output)."""
    a = argparse.Namespace(**vars(a))
    if a.loss is None:
        a.loss = ds.suggested_loss or ("cross_entropy" if ds.task == "classification" else "mse")
    if a.output is None:
        a.output = default_output(get_loss(a.loss).name, ds.task)
    for key, value in TASK_DEFAULTS[ds.task].items():
        if getattr(a, key) is None:
            setattr(a, key, 0.0 if key == "weight_decay" and a.l2 else value)
    return a


def build_task(a, ds) -> Task:
    a.loss = get_loss(a.loss).name  # an unknown name: "unknown loss 'huber'; expected one of ..."
    if a.loss not in TASK_LOSSES[ds.task]:
        raise OptionError(f"invalid --loss: {a.loss!r} for {ds.name}, a {ds.task} target "
                          f"(expected one of: {', '.join(TASK_LOSSES[ds.task])})")
    n_classes = len(ds.classes) if ds.task == "classification" else 0
    if a.loss in BINARY_LOSSES and n_classes != 2:
        raise OptionError(f"invalid --loss: {a.loss!r} for {ds.name}, {n_classes} classes (a "
                          "binary loss: one output, two classes; use cross_entropy)")
    problem = output_problem(ds.task, a.loss, canonical_output(a.output), n_classes)
    if problem is not None:
        raise OptionError(f"invalid --output: {a.output!r} for --loss {a.loss} ({problem})")
    return Task(ds.task, a.loss, n_classes, a.output)


def training_targets(ds, task):
    """(d_train, d_val, d_test, target_scale): regression targets standardised for training (the
    Dataset's scaling, d' = (d - mean) / std). msle's log(1 + d) needs d > -1 and is meant for
    non-negative targets, which centring would make half negative: they are only divided by the
    std, d' = d / std, and must stay above -1."""
    if task.loss != "msle":
        return ds.scaled_targets()
    scale = {"mean": 0.0, "std": ds.target_scaler.std}
    d_train, d_val = (None if d is None else (d / scale["std"]).astype(ds.x_train.dtype)
                      for d in (ds.d_train, ds.d_val))
    low = float(np.min(d_train))
    if low <= -1:
        raise OptionError(f"invalid --loss: 'msle' for {ds.name}: its training targets divided by "
                          f"their std go down to {low:g} (msle's log(1 + d) needs d > -1; use mse)")
    return d_train, d_val, ds.d_test, scale


def build_model(a, ds, task):
    sizes = [ds.n_features, *a.hidden, task.n_outputs]
    check_memory(sizes, a)
    return MLP(sizes, activation=a.activation, output=task.output, init=a.init, rng=a.seed,
               dtype=np.dtype(a.dtype), dropout=a.dropout, batchnorm=a.batchnorm)


def build_trainer(a, ds, task, model, run_dir: Path, data_file=None) -> Trainer:
    from handgrad.optim import get_optimizer, get_schedule

    options = dict(a.opt)
    for key in ("lr", "weight_decay", "l2", "l1"):
        if key in options and (key == "lr" or getattr(a, key)):
            flag = "--" + key.replace("_", "-")
            raise OptionError(f"invalid --opt {key}={options[key]} (give {flag} or --opt "
                              f"{key}=..., not both)")
        if key != "lr" and getattr(a, key):
            options[key] = getattr(a, key)
    optimizer = get_optimizer(a.optimizer, model, lr=a.lr, **options)
    schedule = get_schedule(a.schedule, optimizer, **a.sched) if a.schedule else None
    checkpoint = Checkpoint(run_dir / CHECKPOINT, every=a.checkpoint_every,
                            metadata={"settings": settings_record(a), "data_file": data_file})
    callbacks = [ProgressBar(len(ds.x_train), disable=True if a.no_progress else None), checkpoint]
    if a.patience:
        callbacks.append(EarlyStopping(patience=a.patience))
    return Trainer(model, get_loss(task.loss), optimizer, task=task, batch_size=a.batch_size,
                   epochs=a.epochs, seed=a.seed, schedule=schedule, callbacks=callbacks,
                   tol=a.tol, running_tol=a.running_tol, running_lambda=a.running_lambda,
                   threads=a.threads)


def check_run(a, ds, trainer, d_train, d_val) -> None:
    """Refuse, before the run folder changes, what training would refuse after its first steps:
    in the command line's own words first, then whatever else ``Trainer.check`` finds."""
    from handgrad.optim.curvature import SQUARED_ERROR_LOSSES
    from handgrad.train.trainer import batch_of_one_under_batchnorm, needs_squared_error

    if a.patience and ds.x_val is None:
        raise OptionError(f"invalid --patience {a.patience}: early stopping watches the "
                          f"validation loss, and --val-size {a.val_size:g} holds out no "
                          "validation split (give --val-size > 0, e.g. 0.1, or drop --patience)")
    if needs_squared_error(trainer.optimizer, trainer.model, trainer.loss):
        raise OptionError(f"invalid --optimizer {a.optimizer} with --loss {a.loss}: "
                          "Levenberg-Marquardt needs a squared-error loss "
                          f"({', '.join(SQUARED_ERROR_LOSSES)}); give --loss mse or another "
                          "--optimizer")
    if batch_of_one_under_batchnorm(trainer.model, trainer.batch_size, len(ds.x_train)):
        raise OptionError(f"invalid --batch-size {a.batch_size} with --batchnorm: batch norm "
                          "needs at least 2 samples per batch for its batch statistics (give "
                          "--batch-size 2 or more, or drop --batchnorm)")
    trainer.check(ds.x_train, d_train, ds.x_val, d_val)


def settings_record(a) -> dict:
    """The resolved settings as stored in the checkpoint and metrics.json."""
    return {k: getattr(a, k) for k in DEFAULTS}


# --- resume ---------------------------------------------------------------------------------------
def stored_settings(path: Path) -> dict:
    """The settings a checkpoint was written with (read before anything is built or written)."""
    if not path.is_file():
        raise ModelFileError(f"cannot resume: checkpoint not found: {path} (train without "
                             "--resume first)")
    settings = io.load_checkpoint(path)[2]["metadata"].get("settings")
    if not isinstance(settings, dict) or not set(settings) <= set(DEFAULTS):
        raise ModelFileError(f"{path}: the checkpoint does not record its run's settings (written "
                             "by an older handgrad?); train afresh with --overwrite")
    settings = {**DEFAULTS, **settings}  # a key added since (e.g. impute) takes its default
    try:
        return {k: opts.check_setting(k, v, f"{k} in {path}") for k, v in settings.items()}
    except OptionError as err:
        raise ModelFileError(f"{path}: {err}") from None


def resume_settings(a, explicit: dict, path: Path) -> argparse.Namespace:
    """The checkpoint's settings, with the options that may change taken from ``explicit``;
    any other option that differs from the stored one is refused, naming both values."""
    stored = stored_settings(path)
    conflicts = [f"{name} {show(value)} (the run has {show(stored[key])})"
                 for key, (value, name) in sorted(explicit.items())
                 if key not in RESUME_MAY_CHANGE and value != stored[key]]
    if conflicts:
        raise OptionError(f"invalid options with --resume: {'; '.join(conflicts)}. The run in "
                          f"{path.parent} continues with the settings in {path.name}: drop these "
                          "options, or train afresh under another --name")
    merged = dict(stored)
    merged.update({k: v for k, (v, _) in explicit.items() if k in RESUME_MAY_CHANGE})
    merged.update(name=a.name, runs_dir=a.runs_dir, resume=True)
    return argparse.Namespace(**merged)


def show(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "''"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    return repr(value) if isinstance(value, str) or value is None else str(value)


# --- memory ---------------------------------------------------------------------------------------
def check_memory(sizes: list[int], a) -> None:
    """Refuse a model the machine cannot hold, before allocating it (a `--hidden 100000000`
    otherwise runs until the kernel's OOM killer stops it)."""
    need = model_bytes(sizes, a)
    have = physical_memory()
    if have and need > have:
        raise OptionError(f"invalid --hidden {show(a.hidden)}: the model needs about "
                          f"{need / 2**30:.1f} GiB ({parameter_count(sizes, a):,} parameters with "
                          f"their gradients, {a.optimizer}'s state and a batch of {a.batch_size}), "
                          f"this machine has {have / 2**30:.1f} GiB (expected fewer hidden units)")


def parameter_count(sizes, a) -> int:
    pool = 2 if a.activation == "maxout" else 1
    widths = [s * pool for s in sizes[1:-1]] + [sizes[-1]]
    count = sum(n_in * w + w for n_in, w in zip(sizes[:-1], widths))
    return count + (2 * sum(widths[:-1]) if a.batchnorm else 0)


def model_bytes(sizes, a) -> int:
    """theta, grad, the optimizer's state vectors (and a P x P matrix for Newton and LM), and
    about three arrays per layer and sample of a batch (z, y and the gradient)."""
    from handgrad.optim import OPTIMIZERS

    p = parameter_count(sizes, a)
    cls = OPTIMIZERS.get(a.optimizer)
    vectors = 3 + (len(cls.state_names) if cls is not None else 3)
    matrix = p * p if a.optimizer in ("newton", "lm") else 0
    batch_cells = 3 * a.batch_size * sum(sizes) * (2 if a.activation == "maxout" else 1)
    return np.dtype(a.dtype).itemsize * (vectors * p + matrix + batch_cells)


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # not reported by this system: no limit we can check
        return 0


# --- the run --------------------------------------------------------------------------------------
def run(args) -> int:
    a, explicit = resolve(args)
    name = a.name or short_name(a.data)
    if name == "." or ".." in Path(name).parts or Path(name).is_absolute():
        raise OptionError(f"invalid --name: {name!r} (expected a folder name inside --runs-dir)")
    runs_dir = Path(a.runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise OptionError(f"invalid --runs-dir: {str(runs_dir)!r} (a file, expected a folder)")
    run_dir = runs_dir / name
    if a.resume and not run_dir.is_dir():  # nothing to resume: do not let the lock make it
        raise ModelFileError(f"cannot resume: checkpoint not found: {run_dir / CHECKPOINT} (train "
                             "without --resume first)")
    overwrite = bool(getattr(args, "overwrite", False))
    dp = data_parallel(a)
    if dp is not None:
        return train_data_parallel(dp, run_dir, a, explicit, overwrite)
    with RunFolder(run_dir) as folder:
        return train_in(folder, a, explicit, overwrite)


def data_parallel(a):
    """This rank's data-parallel context, or None for a plain run in one process."""
    from handgrad.distributed import mpi  # light: mpi4py is imported only by setup()

    if a.distributed == "mpi" or (a.distributed is None and mpi.launched_by_mpiexec()):
        return mpi.setup()
    if a.sync_batchnorm:
        raise OptionError("invalid --sync-batchnorm: it needs --distributed mpi (or mpiexec)")
    return None


def train_data_parallel(dp, run_dir: Path, a, explicit: dict, overwrite: bool) -> int:
    """Rank 0 holds the run folder and writes its files; the other ranks train beside it. A rank
    that fails ends the whole job (MPI_Abort): the others would wait in the all-reduce forever."""
    try:
        if dp.is_root:
            with RunFolder(run_dir) as folder:
                return train_in(folder, a, explicit, overwrite, dp)
        return train_in(_Follower(run_dir), a, explicit, overwrite, dp)
    except (HandgradError, OSError, ValueError, TypeError, MemoryError) as err:
        if dp.size == 1:
            raise
        print(f"handgrad train (rank {dp.rank}): error: {err}", file=sys.stderr, flush=True)
        dp.comm.Abort(2)
        raise


class _Follower:
    """The run folder as a rank other than 0 sees it: read (for --resume), never changed."""

    def __init__(self, path: Path):
        self.path = path

    def clear(self, names) -> list:
        return []


def train_in(folder, a, explicit: dict, overwrite: bool, dp=None) -> int:
    """Check everything, then change the folder, train and write the run's files."""
    run_dir, checkpoint_path = folder.path, folder.path / CHECKPOINT
    writes = dp is None or dp.is_root
    a = settings_for_folder(folder, a, explicit, overwrite)
    ds = load_dataset(a.data, a.target, test_size=a.test_size, val_size=a.val_size, seed=a.seed,
                      dtype=np.dtype(a.dtype), impute=a.impute, encoding=a.encoding)
    # The data's identity as the run reads it: the checkpoint and the model file keep it, and a
    # resumed run refuses data changed since (a new split would put trained rows in the test).
    data_file = data_file_record(a.data)
    if a.resume:
        check_same_data(checkpoint_path, data_file)
    a = for_task(a, ds)
    task = build_task(a, ds)
    model = build_model(a, ds, task)
    d_train, d_val, d_test, target_scale = training_targets(ds, task)
    trainer = build_trainer(a, ds, task, model, run_dir, data_file)
    if dp is not None:
        dp.wrap(trainer, sync_batchnorm=bool(a.sync_batchnorm))
    if a.resume:
        resume_trainer(trainer, checkpoint_path)
    check_run(a, ds, trainer, d_train, d_val)
    # Everything is checked: now the folder may change. A fresh run removes the earlier run's
    # files, a resumed one its outputs (they will describe the longer run), so the folder never
    # holds the model of one run beside the checkpoint of another.
    removed = folder.clear(RUN_FILES[:-1] if a.resume else RUN_FILES)
    if removed and not a.resume:
        print(f"replacing the earlier run in {run_dir} ({', '.join(removed)})")
    for name in RUN_FILES if writes else ():
        io.remove_stale_temps(run_dir / name)
    print(ds.summary())
    print(f"model: {' -> '.join(str(s) for s in model_sizes(model))}, "
          f"{model.num_parameters} parameters; optimizer {a.optimizer} (eta={a.lr})")
    start = time.perf_counter()
    try:
        trainer.fit(ds.x_train, d_train, ds.x_val, d_val)
    except DivergenceError as err:
        print(f"stopped: {err}. {last_good(trainer, checkpoint_path)}")
        return 1
    seconds = time.perf_counter() - start
    if not writes:
        return 0
    meta = model_metadata(ds, task, target_scale, settings_record(a), data_file)
    print(finish_run(run_dir, model, trainer, ds, task, d_test, target_scale, meta, seconds))
    return 0


def settings_for_folder(folder: RunFolder, a, explicit: dict, overwrite: bool):
    """The checkpoint's settings for --resume; for a fresh run, the folder must not hold an
    unfinished one (a checkpoint without a model) unless --overwrite says to replace it."""
    checkpoint_path = folder.path / CHECKPOINT
    if a.resume:
        a = resume_settings(a, explicit, checkpoint_path)
        print(f"resuming {folder.path} with its stored settings")
    elif checkpoint_path.exists() and not (folder.path / "model.safetensors").exists() \
            and not overwrite:
        raise RunFolderError(f"{folder.path} holds an unfinished run ({CHECKPOINT} without a "
                             "model); continue it with --resume, start afresh with --overwrite, "
                             "or give another --name")
    return a


def check_same_data(path: Path, data_file: dict | None) -> None:
    """Refuse to resume on a data file whose bytes differ from those the run started on (rows
    added or reordered: the split would differ). Named sets have no record, nor have checkpoints
    written before the record was kept: nothing to compare."""
    stored = io.load_checkpoint(path)[2]["metadata"].get("data_file")
    if not isinstance(stored, dict) or data_file is None:
        return
    if stored.get("sha256") != data_file["sha256"]:
        names = ", ".join(data_file["paths"])
        raise DataError(f"cannot resume: the data file {names} has changed since the run in "
                        f"{path.parent} started (its SHA-256 differs from the one in {path.name}); "
                        "restore the original file, or train afresh with --overwrite or under "
                        "another --name")


def resume_trainer(trainer, path: Path) -> None:
    resume(trainer, path)
    if trainer.epochs < trainer.epoch:
        raise OptionError(f"invalid --epochs with --resume: {trainer.epochs} (the run in "
                          f"{path.parent} has trained {trainer.epoch} epochs; give more to "
                          "train longer)")
    print(f"resumed at epoch {trainer.epoch}, step {trainer.step_in_epoch}; training to epoch "
          f"{trainer.epochs}")


def last_good(trainer, path: Path) -> str:
    """Where the run can continue from after a divergence (never a file of another run)."""
    checkpoint = next((c for c in trainer.callbacks if isinstance(c, Checkpoint)), None)
    if checkpoint is None:  # a rank other than 0 of a data-parallel run: rank 0 says it
        return ""
    if checkpoint.saved_epoch is None:
        return (f"No checkpoint was written before it diverged ({path} does not exist); "
                "lower the learning rate and train again.")
    return (f"The last good checkpoint is {path} (epoch {checkpoint.saved_epoch}); a resumed run "
            "keeps its learning rate, so train afresh with a lower --lr (--overwrite replaces "
            "this run; or give another --name).")


def model_sizes(model) -> list[int]:
    linears = [m for m in model.modules() if type(m).__name__ == "Linear"]
    return [linears[0].in_features] + [m.out_features for m in linears]
