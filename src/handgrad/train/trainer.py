"""The training loop: epochs of shuffled mini-batches (002: GD, SGD and mini-batch SGD).

For each epoch k: draw a permutation, and for each mini-batch B

    forward  y = model(x_B);  L_B = Div(y, d_B) (+ regularizer)
    backward grad_theta L_B by backprop into model.grad
    step     the optimizer's update of theta (with a closure where the method needs one)

then evaluate on the validation split, step the learning-rate schedule and call the callbacks.
batch_size = n gives full-batch gradient descent, batch_size = 1 plain SGD.

The loop is deterministic for a given seed: the permutations come from one Generator whose state is
part of the checkpoint, together with the weights, the optimizer's and schedule's state, dropout's
random streams and the position inside the epoch, so a resumed run is bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings

import numpy as np

from handgrad.data.preprocessing import minibatches
from handgrad.errors import DivergenceError, NonFiniteError, OptionError, ShapeError
from handgrad.validate import as_float_array, check_bool, check_int, check_option
from handgrad.nn.losses import Loss
from handgrad.nn.module import Module
from handgrad.optim.stopping import update_running_loss
from handgrad.train import metrics
from handgrad.train.closure import BatchClosure
from handgrad.train.task import Task


class History(dict):
    """Per-epoch records: ``history["train_loss"][k]`` and so on."""

    def append(self, **record) -> None:
        for key, value in record.items():
            self.setdefault(key, []).append(value)

    def last(self, key, default=None):
        values = self.get(key)
        return values[-1] if values else default


class Trainer:
    """Mini-batch training of ``model`` on ``loss`` with ``optimizer``.

    ``task`` (a :class:`Task`) lets ``fit`` take class labels and report accuracy; without it the
    targets are passed to the loss as given.

    Stopping rules, besides ``epochs`` (``stop_reason`` says which one stopped the run):

    - ``tol`` (001, "until Loss has converged"): stop after epoch k when |L_k - L_(k-1)| < tol,
      L_k the mean training loss of epoch k (``history["train_loss"]``); reason "loss_converged".
    - ``running_tol`` (002, SGD "until Q converges"): the running loss
      Q := lambda L_i + (1 - lambda) Q is updated after every mini-batch i (lambda =
      ``running_lambda``, L_i the batch's loss); stop after epoch k when |Q_k - Q_(k-1)| <
      running_tol, Q_k its value at the end of epoch k (``history["running_loss"]``, also in
      metrics.json); reason "running_loss_converged". 002 starts Q at the objective Q(w) of the
      initial weights; here the first L_i starts it, which saves a pass over the data
      (``handgrad.optim.stopping.RunningLoss(initial=...)`` starts as 002 does). Comparing Q
      between epochs rather than between steps: with a small lambda Q moves by lambda (L_i - Q)
      per step, below any useful tolerance long before it has settled.
    - callbacks (early stopping, reason "early_stopping"); Ctrl-C ("interrupted"); a
      non-finite loss raises DivergenceError ("diverged").

    The history's ``train_loss`` (and Q) is the data loss Div alone, as ``val_loss`` is, so the
    two compare. When the optimizer minimises Div + lambda R(W) (its ``l2``/``l1``), ``penalty``
    records the mean of lambda R(W) over the epoch's steps, each at the W its gradient was taken
    at: ``train_loss + penalty`` is the mean of the minimised loss.
    """

    def __init__(self, model: Module, loss: Loss, optimizer, *, task: Task | None = None,
                 batch_size: int = 32, epochs: int = 10, seed: int = 0, shuffle: bool = True,
                 schedule=None, penalty=None, callbacks=(), tol: float | None = None,
                 running_tol: float | None = None, running_lambda: float = 0.05,
                 threads: int | None = None):
        _check_parts(model, loss, optimizer, task)
        self.model, self.loss, self.optimizer, self.task = model, loss, optimizer, task
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.epochs = check_int("epochs", epochs, 0)
        self.shuffle = check_bool("shuffle", shuffle)
        self.tol = None if tol is None else check_option("tol", tol, 0.0)
        self.running_tol = None if running_tol is None else check_option("running_tol",
                                                                         running_tol, 0.0)
        self.running_lambda = check_option("running_lambda", running_lambda, 0.0, 1.0,
                                           low_open=True)
        self.threads = None if threads is None else check_int("threads", threads, 1)
        if penalty is not None:
            raise OptionError(f"invalid penalty: {penalty!r} (the trainer no longer adds a "
                              "penalty: give l2= / l1= to the optimizer, e.g. "
                              "get_optimizer('sgd', model, lr=0.1, l2=1e-3))")
        self.schedule = schedule
        self.callbacks = list(callbacks)
        self.rng = np.random.default_rng(check_int("seed", seed, 0))
        self.history = History()
        self.epoch = 0            # epochs completed
        self.step_in_epoch = 0    # batches completed in the current epoch
        self.global_step = 0
        self.running_loss = None  # Q of 002
        self.stop_training = False
        self.stop_reason = ""
        self._epoch = _EpochTotals()
        self._epoch_rng_state = None
        self._interrupt = _DeferredInterrupt()

    # --- public ---------------------------------------------------------------------------------
    def fit(self, x, d, x_val=None, d_val=None) -> History:
        """Train until ``epochs`` are completed (counting epochs of a resumed run) or a stop."""
        x, d, targets, validation = self._prepare(x, d, x_val, d_val)
        self._warn_if_batch_method_on_minibatches(len(x))
        self.stop_training, self.stop_reason = False, ""
        self._call("on_train_begin")
        self._interrupt = _DeferredInterrupt()
        try:
            with self._interrupt, _blas_threads(self.threads):
                while self.epoch < self.epochs and not self.stop_training:
                    self._run_epoch(x, targets, d)
                    self._end_epoch(validation)
                    self._interrupt.check()
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
            if not self._interrupt.forced:  # between steps: the state is whole, save it
                self._call("on_interrupt")
            self._call("on_train_end")
            raise
        except DivergenceError:
            self.stop_reason = "diverged"
            self._call("on_train_end")
            raise
        self.stop_reason = self.stop_reason or "max_epochs"
        self._call("on_train_end")
        return self.history

    def check(self, x, d, x_val=None, d_val=None) -> None:
        """Raise what ``fit`` on this data would refuse, without training: the data and targets,
        the settings, the optimizer against the loss, a batch of one sample under batch norm, and
        each callback against the history keys the run will record (early stopping's monitored
        value). A caller that must change files before training (the CLI's run folder) calls it
        first, so a refused run never starts."""
        self._prepare(x, d, x_val, d_val)

    def _prepare(self, x, d, x_val, d_val):
        # The boundary: the data, the targets and the run's settings are checked here, once;
        # every step below runs on them unchecked.
        self._check_settings()
        x, d, targets = self._check_data(x, d, "training")
        validation = self._check_validation(x_val, d_val)
        self._check_optimizer_loss()
        self._check_batch_statistics(len(x))
        keys = self.record_keys(validation is not None)
        for callback in self.callbacks:
            check = getattr(callback, "check", None)  # a callback need not subclass Callback
            if check is not None and keys is not None:
                check(self, keys)
            keys = _keys_after(callback, keys)
        return x, d, targets, validation

    def record_keys(self, validation: bool) -> list[str]:
        """The keys of each epoch's history record (with validation data or without)."""
        keys = ["epoch", "train_loss", "running_loss", "lr", "time"]
        if getattr(self.optimizer, "penalty_in_loss", False):
            keys.append("penalty")
        splits = ("train", "val") if validation else ("train",)
        if validation:
            keys.append("val_loss")
        if self.task is not None:
            keys += [f"{split}_{self.metric_name}" for split in splits]
        return keys

    def _check_optimizer_loss(self) -> None:
        from handgrad.optim.curvature import SQUARED_ERROR_LOSSES

        if needs_squared_error(self.optimizer, self.model, self.loss):
            raise OptionError(f"invalid optimizer: 'lm' (Levenberg-Marquardt) needs a "
                              f"squared-error loss ({', '.join(SQUARED_ERROR_LOSSES)}), got "
                              f"{self.loss.name!r}")

    def _check_batch_statistics(self, n: int) -> None:
        if batch_of_one_under_batchnorm(self.model, self.batch_size, n):
            raise OptionError(f"invalid batch_size: {self.batch_size} with {n} training rows "
                              "(batch norm needs at least 2 samples per batch for its batch "
                              "statistics; use a larger batch or a model without batch norm)")

    def evaluate(self, x, d) -> dict:
        """Loss (and metric, with a task) on a data set, in eval mode, in batches."""
        return self._evaluate(*self._check_data(x, d, "evaluation"))

    def _evaluate(self, x, d, targets) -> dict:
        was_training = self.model.training
        self.model.eval()
        try:
            y = predict_outputs(self.model, x)
        finally:
            self.model.train(was_training)
        value = self.loss.forward(y, targets)  # targets prepared by _check_data
        if not np.isfinite(value):
            raise NonFiniteError(f"the model's outputs give a non-finite loss ({value}): its "
                                 "weights have diverged or its outputs overflow")
        result = {"loss": value}
        if self.task is not None:
            result[self.metric_name] = self._metric(d, y)
        return result

    @property
    def metric_name(self) -> str:
        if self.task is None:
            return ""
        return "accuracy" if self.task.kind == "classification" else "r2"

    # --- one epoch ------------------------------------------------------------------------------
    def _run_epoch(self, x, targets, labels) -> None:
        if self.step_in_epoch == 0:
            self._epoch_rng_state = self.rng.bit_generator.state
            self._epoch = _EpochTotals()
        else:  # resuming inside an epoch: replay its permutation
            self.rng.bit_generator.state = self._epoch_rng_state
        order, batches = minibatches(len(x), self.batch_size, self.rng, self.shuffle)
        self.model.train()
        self._epoch_start = time.perf_counter()
        for index in range(self.step_in_epoch, len(batches)):
            # One gather per batch (a view when not shuffling): peak memory stays one batch
            # above the data set instead of a second copy of it.
            rows = order[batches[index]] if self.shuffle else batches[index]
            value, penalty, y = self._train_step(x[rows], targets[rows])
            self._epoch.add(value, len(y), self._correct(labels, rows, y), penalty)
            self.step_in_epoch = index + 1
            self.global_step += 1
            self._call("on_batch_end", value)
            self._interrupt.check()

    def _train_step(self, xb, tb):
        optimizer = self.optimizer
        closure = BatchClosure(self.model, self.loss, xb, tb, prepared=True,
                               rewind=getattr(optimizer, "needs_closure", True))
        # The optimizer adds the penalty's gradient (one implementation of regularisation). The
        # minimised loss is L = Div + lambda R(W); Div (value) and lambda R(W) at the W the
        # gradient was taken at (penalty) are recorded apart, so the training loss compares with
        # the validation loss, which has no penalty.
        penalty = optimizer.penalty() if getattr(optimizer, "penalty_in_loss", False) else 0.0
        try:
            # Every optimizer takes the closure (torch.optim's convention): plain methods evaluate
            # it once at W, the others wherever their rule needs the loss.
            value = float(optimizer.step(closure))
        except NonFiniteError as err:
            # an optimizer may reject a non-finite value or step first: the same divergence
            raise DivergenceError(f"training diverged: non-finite values at {self._where()} "
                                  f"({err}); lower the learning rate") from err
        if not np.isfinite(value + penalty):
            raise DivergenceError(
                f"training diverged: the loss became {value + penalty} at {self._where()}; lower "
                "the learning rate")
        self.running_loss = update_running_loss(self.running_loss, value, self.running_lambda)
        return value, penalty, closure.y

    def _where(self) -> str:
        return f"epoch {self.epoch + 1}, step {self.step_in_epoch + 1}"

    def _end_epoch(self, validation) -> None:
        if not np.isfinite(self.model.theta).all():
            raise DivergenceError(f"training diverged: non-finite weights after epoch "
                                  f"{self.epoch + 1}")
        record = {"epoch": self.epoch + 1, "train_loss": self._epoch.mean_loss,
                  "running_loss": self.running_loss,
                  "lr": float(getattr(self.optimizer, "lr", float("nan"))),
                  "time": time.perf_counter() - self._epoch_start}
        if getattr(self.optimizer, "penalty_in_loss", False):
            record["penalty"] = self._epoch.mean_penalty
        if self.task is not None:
            record[f"train_{self.metric_name}"] = self._epoch.metric(self.task)
        if validation is not None:
            try:
                result = self._evaluate(*validation)
            except NonFiniteError as err:
                # finite but huge weights can still overflow the outputs
                raise DivergenceError(
                    f"training diverged: non-finite validation outputs at epoch {self.epoch + 1}, "
                    f"step {self.step_in_epoch} (its last) ({err}); lower the learning rate"
                ) from err
            record["val_loss"] = result["loss"]
            if self.task is not None:
                record[f"val_{self.metric_name}"] = result[self.metric_name]
        self.history.append(**record)
        self.epoch += 1
        self.step_in_epoch = 0
        if self.schedule is not None:
            self.schedule.step(record.get("val_loss", record["train_loss"]))
        self._check_convergence()
        self._call("on_epoch_end", record)

    def _warn_if_batch_method_on_minibatches(self, n: int) -> None:
        # Rprop, QuickProp and the second-order methods are published as batch methods: their
        # per-weight sign and secant logic assumes the same objective at every step.
        if getattr(self.optimizer, "full_batch", False) and self.batch_size < n:
            warnings.warn(f"{type(self.optimizer).__name__} is a full-batch method but batch_size="
                          f"{self.batch_size} < {n} samples; its steps follow a changing objective "
                          f"(set batch_size >= {n} for the published algorithm)", stacklevel=3)

    def _check_convergence(self) -> None:
        """001's |L_k - L_(k-1)| < tol, then 002's |Q_k - Q_(k-1)| < running_tol, epoch to epoch."""
        rules = (("train_loss", self.tol, "loss_converged"),
                 ("running_loss", self.running_tol, "running_loss_converged"))
        for key, tol, reason in rules:
            values = self.history.get(key, [])
            if tol is not None and len(values) >= 2 and abs(values[-1] - values[-2]) < tol:
                self.stop_training, self.stop_reason = True, reason
                return

    # --- helpers --------------------------------------------------------------------------------
    def _check_data(self, x, d, which):
        """(x, d, targets): x a finite 2-D array of the model's width and dtype, d one target per
        row (class indices checked by the task), targets d in the loss's own form for the model's
        outputs (``loss.prepare_targets``), prepared here once: the steps index rows of them and
        run the loss unchecked."""
        x = as_float_array(f"{which} input x", x, ndim=2, dtype=self.model.dtype)
        width = getattr(self.model, "in_features", None)
        if width is not None and x.shape[1] != width:
            raise ShapeError(f"{which} input x has {x.shape[1]} features but the model takes "
                             f"{width}")
        if d is None:
            raise OptionError(f"invalid {which} targets d: None (expected one target per row)")
        d = np.asarray(d)
        if d.ndim == 0 or len(d) != len(x):
            raise ShapeError(f"{which} data: {len(x)} input rows but targets of shape {d.shape}")
        if len(x) == 0:
            raise ShapeError(f"{which} data is empty (0 rows)")
        name = f"{which} targets d"
        encoded = d if self.task is None else self.task.targets(d, x.dtype, name=name)
        shape, dtype = self._output_shape(x)
        return x, d, self.loss.prepare_targets(encoded, shape, dtype, name=name)

    def _output_shape(self, x) -> tuple[tuple[int, int], np.dtype]:
        """The shape and dtype of the model's outputs for x: from the layer widths where the model
        knows them, else from one row run in eval mode (no dropout draw, no running statistics)."""
        k = self.model.output_width(x.shape[1])
        if k is not None:
            return (len(x), k), np.dtype(self.model.dtype)
        was_training = self.model.training
        self.model.eval()
        try:
            y = self.model.forward(x[:1])
        finally:
            self.model.train(was_training)
        return (len(x), y.shape[1]), y.dtype

    def _check_validation(self, x_val, d_val):
        """(x, d, targets) of the validation split, or None without one."""
        if (x_val is None) != (d_val is None):
            given, missing = ("x_val", "d_val") if d_val is None else ("d_val", "x_val")
            raise OptionError(f"invalid validation data: {given} given without {missing} "
                              "(give both, or neither)")
        return None if x_val is None else self._check_data(x_val, d_val, "validation")

    def _check_settings(self) -> None:
        """Attributes a user (or scikit-learn's wrapper) may set between fits, checked again."""
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        self.epochs = check_int("epochs", self.epochs, 0)

    def _correct(self, labels, part, y) -> float:
        if self.task is None:
            return 0.0
        if self.task.kind == "classification":
            return float(np.sum(self.task.predict(y) == labels[part]))
        return 0.0

    def _metric(self, d, y) -> float:
        if self.task.kind == "classification":
            return metrics.accuracy(d, self.task.predict(y))
        return metrics.r2(d, self.task.predict(y))

    def _call(self, event: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)

    # --- checkpoint state -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything besides the weights that an exact resume needs (JSON + arrays)."""
        state = {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                 "global_step": self.global_step, "running_loss": self.running_loss,
                 "rng": self.rng.bit_generator.state, "epoch_rng": self._epoch_rng_state,
                 "epoch_totals": self._epoch.__dict__.copy(), "history": dict(self.history),
                 "optimizer": self.optimizer.state_dict(),
                 "module_rngs": module_rng_states(self.model),
                 "callbacks": {type(c).__name__: c.state_dict() for c in self.callbacks}}
        if self.schedule is not None:
            state["schedule"] = self.schedule.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output; counters are checked first (a checkpoint's
        ``epoch = -100`` would train 105 epochs), and nothing changes when one is wrong."""
        counters = _check_counters(state)
        running = state["running_loss"]
        running = None if running is None else check_option("running_loss", running)
        self.optimizer.load_state_dict(state["optimizer"])  # checks its own state first
        self.epoch, self.step_in_epoch, self.global_step = counters
        self.running_loss = running
        self.rng.bit_generator.state = state["rng"]
        self._epoch_rng_state = state["epoch_rng"]
        self._epoch = _EpochTotals(**state["epoch_totals"])
        self.history = History(state["history"])
        set_module_rng_states(self.model, state["module_rngs"])
        for callback in self.callbacks:
            saved = state["callbacks"].get(type(callback).__name__)
            if saved is not None:
                callback.load_state_dict(saved)
        if self.schedule is not None and "schedule" in state:
            self.schedule.load_state_dict(state["schedule"])


def needs_squared_error(optimizer, model, loss) -> bool:
    """Levenberg-Marquardt on a loss that is not a squared error: its Gauss-Newton matrix is that
    of a sum of squared residuals. A model may supply its own residuals (least_squares()); an MLP
    does not."""
    from handgrad.optim.curvature import SQUARED_ERROR_LOSSES
    from handgrad.optim.second_order import LevenbergMarquardt

    return isinstance(optimizer, LevenbergMarquardt) and \
        getattr(model, "least_squares", None) is None and loss.name not in SQUARED_ERROR_LOSSES


def batch_of_one_under_batchnorm(model, batch_size: int, n: int) -> bool:
    """Whether batch norm would meet a batch of one sample, which has no batch statistics.
    minibatches() merges a last batch of one into the one before, so it happens only with
    batch_size = 1 or a training set of one row."""
    from handgrad.nn.batchnorm import BatchNorm1d

    return (batch_size == 1 or n == 1) and \
        any(isinstance(m, BatchNorm1d) for m in model.modules())


def _keys_after(callback, keys):
    """The record's keys once ``callback`` has run: a callback that declares ``record_keys``
    adds those; one that may write into the record (its own on_epoch_end) without declaring
    them leaves them unknown (None: later callbacks are not checked against a guess)."""
    if keys is None:
        return None
    declared = getattr(callback, "record_keys", None)
    if declared is not None:
        return keys + list(declared)
    from handgrad.train.callbacks import Callback

    writes = getattr(type(callback), "on_epoch_end", None) is not Callback.on_epoch_end
    return None if writes else keys


def _check_counters(state: dict) -> tuple[int, int, int]:
    """(epoch, step_in_epoch, global_step) of a saved state: non-negative integers, the history
    one record per completed epoch, and a mid-epoch position only with its permutation saved."""
    missing = sorted({"epoch", "step_in_epoch", "global_step", "running_loss", "rng",
                      "epoch_rng", "epoch_totals", "history", "optimizer", "module_rngs",
                      "callbacks"} - set(state))
    if missing:
        raise OptionError(f"invalid trainer state: missing {', '.join(missing)}")
    epoch = check_int("trainer state epoch", state["epoch"], 0)
    step = check_int("trainer state step_in_epoch", state["step_in_epoch"], 0)
    global_step = check_int("trainer state global_step", state["global_step"], epoch + (step > 0))
    history = state["history"]
    if not isinstance(history, dict) or any(not isinstance(v, list) for v in history.values()):
        raise OptionError("invalid trainer state history (expected lists per key)")
    recorded = len(history.get("train_loss", []))
    if recorded != epoch:
        raise OptionError(f"invalid trainer state epoch: {epoch} (expected {recorded}, the "
                          "number of epochs in its history)")
    if step and state["epoch_rng"] is None:
        raise OptionError(f"invalid trainer state step_in_epoch: {step} (a mid-epoch position "
                          "needs the epoch's random state)")
    return epoch, step, global_step


def _check_parts(model, loss, optimizer, task) -> None:
    """The model, loss, optimizer and task must belong together: an optimizer built for another
    model steps a vector this model never reads (nothing would move), and a task whose loss is
    not the loss trained would encode targets for the wrong divergence."""
    if not isinstance(model, Module) or model.theta is None:
        raise OptionError(f"invalid model: {type(model).__name__} (expected a flattened "
                          "handgrad Module, e.g. an MLP)")
    if not isinstance(loss, Loss):
        raise OptionError(f"invalid loss: {loss!r} (expected a Loss, e.g. get_loss('mse'))")
    if not callable(getattr(optimizer, "step", None)):
        raise OptionError(f"invalid optimizer: {type(optimizer).__name__} (expected an "
                          "optimizer with step(closure), e.g. get_optimizer('adam', model))")
    theta = getattr(optimizer, "theta", None)
    if theta is not None and not (theta is model.theta or np.shares_memory(theta, model.theta)):
        raise OptionError("invalid optimizer: it was built for another model (its parameter "
                          "vector is not this model's theta); build it with "
                          "get_optimizer(name, model) for the model you train")
    if task is not None:
        if not isinstance(task, Task):
            raise OptionError(f"invalid task: {task!r} (expected a Task)")
        if task.loss != loss.name:
            raise OptionError(f"invalid task: its loss is {task.loss!r} but the trainer's loss "
                              f"is {loss.name!r} (give the same loss to both)")


class _DeferredInterrupt:
    """Holds Ctrl-C (SIGINT) until the current step is complete.

    Python raises KeyboardInterrupt wherever the signal lands: after the optimizer's update but
    before the step is counted, or after dropout drew its mask, the checkpoint written on
    interrupt would not describe any point of an uninterrupted run, and resuming from it would
    not be exact. So the handler only records the request; the loop raises it between steps. A
    second Ctrl-C stops at once (``forced``), and then no checkpoint is written.
    """

    def __init__(self):
        self.requested = self.forced = False
        self.previous = None

    def __enter__(self):
        # only the main thread may set handlers; leave custom or ignored SIGINT handling alone
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _handle(self, signum, frame):
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


def _blas_threads(threads: int | None):
    """Cap the BLAS thread pool while training (None: leave it as the environment set it).

    Small layers gain nothing from a second BLAS thread, and on a machine whose cores are busy a
    threaded product of small matrices waits for a thread that cannot run: one thread is then
    often many times faster. Results are deterministic for a given thread count.
    """
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


class _EpochTotals:
    """Sums over the batches of one epoch (part of the checkpoint for mid-epoch resumes)."""

    def __init__(self, loss_sum: float = 0.0, seen: int = 0, correct: float = 0.0,
                 penalty_sum: float = 0.0):
        self.loss_sum, self.seen, self.correct = loss_sum, seen, correct
        self.penalty_sum = penalty_sum

    def add(self, value: float, n: int, correct: float, penalty: float = 0.0) -> None:
        self.loss_sum += value * n
        self.penalty_sum += penalty * n
        self.seen += n
        self.correct += correct

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)

    @property
    def mean_penalty(self) -> float:
        return self.penalty_sum / max(self.seen, 1)

    def metric(self, task: Task) -> float:
        return self.correct / max(self.seen, 1) if task.kind == "classification" else float("nan")


def module_rng_states(model: Module) -> list:
    """The random streams of stochastic modules (dropout), in module order."""
    return [m.get_rng_state() for m in model.modules() if hasattr(m, "get_rng_state")]


def set_module_rng_states(model: Module, states: list) -> None:
    modules = [m for m in model.modules() if hasattr(m, "set_rng_state")]
    for module, state in zip(modules, states):
        module.set_rng_state(state)


def predict_outputs(model: Module, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """The model's outputs for ``x`` in chunks (bounded memory), without touching gradients."""
    if len(x) <= batch_size:
        return model.forward(x).copy()
    return np.concatenate([model.forward(x[i:i + batch_size]).copy()
                           for i in range(0, len(x), batch_size)])
