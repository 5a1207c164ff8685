"""Callbacks: what happens around the training loop (progress, checkpoints, early stopping).

A callback overrides any of the events below; ``state_dict``/``load_state_dict`` carry its state
through a checkpoint so a resumed run behaves as if never stopped.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from handgrad import io
from handgrad.nn.module import Snapshot
from handgrad.errors import ModelFileError, OptionError
from handgrad.validate import check_bool, check_int, check_option


class Callback:
    def on_train_begin(self, trainer) -> None: ...  # noqa: E704  (hooks default to doing nothing)
    def on_batch_end(self, trainer, loss: float) -> None: ...  # noqa: E704
    def on_epoch_end(self, trainer, record: dict) -> None: ...  # noqa: E704
    def on_interrupt(self, trainer) -> None: ...  # noqa: E704
    def on_train_end(self, trainer) -> None: ...  # noqa: E704

    def state_dict(self) -> dict:
        return {}

    def check(self, trainer, keys: list[str]) -> None:
        """Raise before training what this callback would refuse during it (``keys``: the
        history record's keys the run will have, with those of the callbacks before it). A
        callback that writes keys into the record names them in ``record_keys`` (a tuple), so
        the callbacks after it are checked; without it they are not."""

    def load_state_dict(self, state: dict) -> None:
        return None


class ProgressBar(Callback):
    """One tqdm bar over all steps: running loss Q, last validation metric, speed, time left."""
    record_keys = ()  # writes nothing into the epoch's record

    def __init__(self, n_samples: int, disable: bool | None = None):
        self.n_samples, self.disable, self.bar = n_samples, disable, None

    def on_train_begin(self, trainer):
        per_epoch = -(-self.n_samples // trainer.batch_size)
        done = trainer.epoch * per_epoch + trainer.step_in_epoch
        self.bar = tqdm(total=trainer.epochs * per_epoch, initial=done, unit="step",
                        disable=self.disable, dynamic_ncols=True, leave=True)

    def on_batch_end(self, trainer, loss):
        self.bar.update(1)
        if trainer.global_step % 10 == 0:
            self.bar.set_postfix_str(self._postfix(trainer), refresh=False)

    def on_epoch_end(self, trainer, record):
        self.bar.set_postfix_str(self._postfix(trainer))

    def on_train_end(self, trainer):
        if self.bar is not None:
            self.bar.close()

    @staticmethod
    def _postfix(trainer) -> str:
        parts = [f"epoch {trainer.epoch + (trainer.step_in_epoch > 0)}/{trainer.epochs}",
                 f"Q={trainer.running_loss:.4f}"]
        metric = trainer.history.last(f"val_{trainer.metric_name}")
        if metric is not None:
            parts.append(f"val_{trainer.metric_name}={metric:.4f}")
        return " ".join(parts)


class Checkpoint(Callback):
    """Writes ``path`` every ``every`` epochs, at the end, and on Ctrl-C, atomically.

    A checkpoint holds the weights, the trainer's state (epoch, position in the epoch, random
    streams, history) and the optimizer's and schedule's state. It is never written after a
    divergence, so the last good one survives.
    """
    record_keys = ()  # writes nothing into the epoch's record

    def __init__(self, path, every: int = 1, metadata: dict | None = None):
        self.path, self.every = Path(path), check_int("checkpoint every", every, 1)
        self.metadata = metadata or {}
        self.saved_epoch = None  # epochs completed in the newest checkpoint of this run, if any

    def on_train_begin(self, trainer):
        # a kill during an earlier run's write leaves its temporary file; never keep it around
        io.remove_stale_temps(self.path)
        resumed = trainer.epoch or trainer.step_in_epoch
        self.saved_epoch = trainer.epoch if resumed and self.path.is_file() else None

    def save(self, trainer) -> Path:
        extra = {"trainer": trainer.state_dict(), "metadata": self.metadata}
        path = io.atomic_write_bytes(self.path, io.dump(trainer.model, extra, kind="checkpoint"))
        self.saved_epoch = trainer.epoch
        return path

    def on_epoch_end(self, trainer, record):
        if trainer.epoch % self.every == 0:
            self.save(trainer)

    def on_interrupt(self, trainer):
        self.save(trainer)

    def on_train_end(self, trainer):
        if trainer.stop_reason not in ("diverged", "interrupted"):
            self.save(trainer)


def resume(trainer, path) -> dict:
    """Load a checkpoint into ``trainer`` (model, optimizer, schedule, random streams, position).
    Returns the checkpoint's metadata. A state that does not fit the trainer (another optimizer,
    negative counters, missing entries) is a ModelFileError naming the file."""
    meta, tensors, extra = io.load_checkpoint(path)
    io.restore_weights(trainer.model, tensors, source=str(path))
    try:
        trainer.load_state_dict(extra["trainer"])
    except (KeyError, TypeError, ValueError) as err:
        detail = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise ModelFileError(f"{path}: cannot resume from this checkpoint: {detail}") from None
    return extra["metadata"]


class EarlyStopping(Callback):
    """Stops when the monitored value (validation loss by default) has not improved by
    ``min_delta`` for ``patience`` epochs, and restores the best weights and buffers (batch norm's
    running statistics). Random streams run on: they are not part of what was best."""
    record_keys = ()  # writes nothing into the epoch's record

    def __init__(self, patience: int = 10, monitor: str = "val_loss", min_delta: float = 0.0,
                 restore_best: bool = True):
        self.patience = check_int("patience", patience, 1)
        if not isinstance(monitor, str):
            raise OptionError(f"invalid monitor: {monitor!r} (expected a history key such as "
                              "'val_loss')")
        self.monitor, self.min_delta = monitor, check_option("min_delta", min_delta, 0.0)
        self.restore_best = check_bool("restore_best", restore_best)
        self.best, self.best_epoch, self.wait = np.inf, 0, 0
        self.best_snapshot: Snapshot | None = None  # model.snapshot(params=True) at the best

    @property
    def best_theta(self):
        return None if self.best_snapshot is None else self.best_snapshot.theta

    @property
    def best_buffers(self) -> dict:
        return {} if self.best_snapshot is None else self.best_snapshot.buffers

    def check(self, trainer, keys):
        if self.monitor not in keys:
            raise OptionError(f"early stopping monitors {self.monitor!r}, which this run does not "
                              f"record (it records {', '.join(keys)}); give validation data "
                              "(x_val, d_val) or monitor another key")

    def _score(self, record):
        value = record.get(self.monitor)
        if value is None:
            raise OptionError(f"early stopping monitors {self.monitor!r}, which this run does not "
                              f"record (available: {sorted(record)}); give validation data")
        return -value if self.monitor.endswith(("accuracy", "r2")) else value

    def on_epoch_end(self, trainer, record):
        score = self._score(record)
        if score < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = score, record["epoch"], 0
            self.best_snapshot = trainer.model.snapshot(params=True)
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_training, trainer.stop_reason = True, "early_stopping"

    def on_train_end(self, trainer):
        if self.restore_best and trainer.stop_reason == "early_stopping":
            self.restore(trainer.model)

    def restore(self, model) -> None:
        """Put the best epoch's weights and buffers back into ``model`` (if there was one)."""
        if self.best_snapshot is not None:
            now = dict(model.named_rng_states())
            model.restore(dataclasses.replace(self.best_snapshot, rng_states=now))

    def state_dict(self):
        return {"best": float(self.best), "best_epoch": self.best_epoch, "wait": self.wait,
                "best_theta": self.best_theta, "best_buffers": self.best_buffers}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        theta, buffers = state["best_theta"], state["best_buffers"]
        self.best_snapshot = None if theta is None else Snapshot(dict(buffers), {}, theta)
