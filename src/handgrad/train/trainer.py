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
from handgrad.errors import DivergenceError, NonFiniteError, ShapeError
from handgrad.validate import as_float_array
from handgrad.nn.losses import Loss
from handgrad.nn.module import Module
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
    targets are passed to the loss as given. ``tol`` stops when |L_k - L_(k-1)| < tol between
    epochs (001); ``running_lambda`` is the lambda of 002's running loss
    Q := lambda L_i + (1 - lambda) Q shown while training.
    """

    def __init__(self, model: Module, loss: Loss, optimizer, *, task: Task | None = None,
                 batch_size: int = 32, epochs: int = 10, seed: int = 0, shuffle: bool = True,
                 schedule=None, penalty=None, callbacks=(), tol: float | None = None,
                 running_lambda: float = 0.05, threads: int | None = None):
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        if not 0.0 < running_lambda <= 1.0:
            raise ValueError(f"running_lambda must be in (0, 1], got {running_lambda}")
        self.model, self.loss, self.optimizer, self.task = model, loss, optimizer, task
        self.batch_size, self.epochs, self.shuffle = int(batch_size), int(epochs), shuffle
        self.schedule, self.penalty, self.tol = schedule, penalty or None, tol
        self.threads = threads
        self.callbacks = list(callbacks)
        self.running_lambda = running_lambda
        self.rng = np.random.default_rng(seed)
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
        x, d = self._check_data(x, d, "training")
        has_val = x_val is not None
        if has_val:
            x_val, d_val = self._check_data(x_val, d_val, "validation")
        targets = self.task.targets(d, x.dtype) if self.task else d
        self._warn_if_batch_method_on_minibatches(len(x))
        self.stop_training, self.stop_reason = False, ""
        self._call("on_train_begin")
        self._interrupt = _DeferredInterrupt()
        try:
            with self._interrupt, _blas_threads(self.threads):
                while self.epoch < self.epochs and not self.stop_training:
                    self._run_epoch(x, targets, d)
                    self._end_epoch(x_val, d_val if has_val else None)
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

    def evaluate(self, x, d) -> dict:
        """Loss (and metric, with a task) on a data set, in eval mode, in batches."""
        x, d = self._check_data(x, d, "evaluation")
        targets = self.task.targets(d, x.dtype) if self.task else d
        was_training = self.model.training
        self.model.eval()
        try:
            y = predict_outputs(self.model, x)
        finally:
            self.model.train(was_training)
        result = {"loss": self.loss.forward(y, targets)}
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
            value, y = self._train_step(x[rows], targets[rows])
            self._epoch.add(value, len(y), self._correct(labels, rows, y))
            self.step_in_epoch = index + 1
            self.global_step += 1
            self._call("on_batch_end", value)
            self._interrupt.check()

    def _train_step(self, xb, tb):
        closure = BatchClosure(self.model, self.loss, xb, tb, self.penalty,
                               rewind=getattr(self.optimizer, "needs_closure", True))
        try:
            # Every optimizer takes the closure (torch.optim's convention): plain methods evaluate
            # it once at W, the others wherever their rule needs the loss.
            value = self.optimizer.step(closure)
        except NonFiniteError as err:
            # The loss rejects a non-finite prediction before its value exists: the same divergence.
            raise DivergenceError(f"training diverged: non-finite values at {self._where()} "
                                  f"({err}); lower the learning rate") from err
        value = float(value)
        if not np.isfinite(value):
            raise DivergenceError(
                f"training diverged: the loss became {value} at {self._where()}; lower the "
                "learning rate")
        q = self.running_loss
        self.running_loss = value if q is None else (
            self.running_lambda * value + (1.0 - self.running_lambda) * q)
        return value, closure.y

    def _where(self) -> str:
        return f"epoch {self.epoch + 1}, step {self.step_in_epoch + 1}"

    def _end_epoch(self, x_val, d_val) -> None:
        if not np.isfinite(self.model.theta).all():
            raise DivergenceError(f"training diverged: non-finite weights after epoch "
                                  f"{self.epoch + 1}")
        record = {"epoch": self.epoch + 1, "train_loss": self._epoch.mean_loss,
                  "lr": float(getattr(self.optimizer, "lr", float("nan"))),
                  "time": time.perf_counter() - self._epoch_start}
        if self.task is not None:
            record[f"train_{self.metric_name}"] = self._epoch.metric(self.task)
        if d_val is not None:
            try:
                result = self.evaluate(x_val, d_val)
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
        self._check_stagnation()
        self._call("on_epoch_end", record)

    def _warn_if_batch_method_on_minibatches(self, n: int) -> None:
        # Rprop, QuickProp and the second-order methods are published as batch methods: their
        # per-weight sign and secant logic assumes the same objective at every step.
        if getattr(self.optimizer, "full_batch", False) and self.batch_size < n:
            warnings.warn(f"{type(self.optimizer).__name__} is a full-batch method but batch_size="
                          f"{self.batch_size} < {n} samples; its steps follow a changing objective "
                          f"(set batch_size >= {n} for the published algorithm)", stacklevel=3)

    def _check_stagnation(self) -> None:
        losses = self.history["train_loss"]
        if self.tol is not None and len(losses) >= 2 and abs(losses[-1] - losses[-2]) < self.tol:
            self.stop_training, self.stop_reason = True, "converged"

    # --- helpers --------------------------------------------------------------------------------
    def _check_data(self, x, d, which):
        x = as_float_array(f"{which} input x", x, ndim=2, dtype=self.model.dtype)
        d = np.asarray(d)
        if len(d) != len(x):
            raise ShapeError(f"{which} data: {len(x)} input rows but {len(d)} targets")
        if len(x) == 0:
            raise ValueError(f"{which} data is empty")
        if np.issubdtype(d.dtype, np.floating):
            as_float_array(f"{which} targets d", d, ndim=None)
        return x, d

    def _correct(self, labels, part, y) -> float:
        if self.task is None:
            return 0.0
        if self.task.kind == "classification":
            return float(np.sum(self.task.predict(y) == labels[part]))
        return 0.0

    def _metric(self, d, y) -> float:
        from handgrad.train import metrics

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
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.running_loss = state["global_step"], state["running_loss"]
        self.rng.bit_generator.state = state["rng"]
        self._epoch_rng_state = state["epoch_rng"]
        self._epoch = _EpochTotals(**state["epoch_totals"])
        self.history = History(state["history"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_module_rng_states(self.model, state["module_rngs"])
        for callback in self.callbacks:
            saved = state["callbacks"].get(type(callback).__name__)
            if saved is not None:
                callback.load_state_dict(saved)
        if self.schedule is not None and "schedule" in state:
            self.schedule.load_state_dict(state["schedule"])


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

    def __init__(self, loss_sum: float = 0.0, seen: int = 0, correct: float = 0.0):
        self.loss_sum, self.seen, self.correct = loss_sum, seen, correct

    def add(self, value: float, n: int, correct: float) -> None:
        self.loss_sum += value * n
        self.seen += n
        self.correct += correct

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)

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
