"""One page's training state: data, network, optimizer, schedule, history, and the frames it draws.

A :class:`Session` is driven by one task of the server (``server.py``), which calls its methods
from a worker thread one at a time, so nothing here locks. Training is handgrad's own: each step is
``optimizer.step(BatchClosure(model, loss, x_batch, d_batch))``; the page only draws what
:meth:`Session.frame` returns.

Memory stays flat however long a session trains: the history keeps at most ``HISTORY`` points
(every other one is dropped and the stride doubled when it fills) and a frame is built fresh each
time and not kept.
"""

from __future__ import annotations

import base64
import math
import time

import numpy as np

from handgrad.errors import DivergenceError, HandgradError, OptionError
from handgrad.nn import MLP, Linear, get_loss
from handgrad.nn.activations import Activation
from handgrad.optim import get_optimizer, get_schedule
from handgrad.playground import datasets
from handgrad.playground.config import HEADS, Config
from handgrad.train.closure import BatchClosure

HISTORY = 1000            # most points kept per curve
GRID = 40                 # the output heat map is GRID x GRID
THUMB = GRID // 2         # each neuron's thumbnail: every other cell of the map's grid
CURVE = 160               # points of the regression curve and of its neuron curves
NEWTON_MAX_PARAMS = 400   # Newton forms and decomposes the P x P Hessian every step

# Which parts of the state a setting belongs to: changing one rebuilds that part and what
# depends on it (data -> network -> optimizer -> schedule).
DATA_KEYS = ("dataset", "noise", "train_ratio", "points", "seed")
NET_KEYS = ("hidden", "activation", "head", "dropout", "batchnorm")
OPT_KEYS = ("optimizer", "options", "l1", "l2")
SCHEDULE_KEYS = ("schedule", "schedule_options", "lr")


def encode(values: np.ndarray, low: float, high: float) -> str:
    """Values in [low, high] as base64 bytes 0..255 (what a canvas needs, a twentieth of JSON)."""
    scaled = np.clip((np.asarray(values, np.float64) - low) / (high - low), 0.0, 1.0)
    return base64.b64encode(np.rint(scaled * 255).astype(np.uint8).tobytes()).decode("ascii")


def probability_of_class_1(head: str, y: np.ndarray) -> np.ndarray:
    """The network output read as P(class 1), whatever the head, for the heat map."""
    if head == "sigmoid_bce":
        return y[:, 0]
    if head == "logits_bce":
        return 1.0 / (1.0 + np.exp(-np.clip(y[:, 0], -60, 60)))
    if head == "tanh_mse":
        return (y[:, 0] + 1.0) / 2.0
    z = y - y.max(axis=1, keepdims=True)       # softmax_ce: two logits
    e = np.exp(z)
    return e[:, 1] / e.sum(axis=1)


class Session:
    def __init__(self, config: Config):
        self.config: Config | None = None
        self.playing = False
        self.data_version = 0
        self.apply(config)

    # --- building -----------------------------------------------------------------------------
    def apply(self, new: Config) -> list[str]:
        """Switch to ``new``, rebuilding only what changed; returns notices for the page.

        Everything is built before anything is replaced, so a set-up the optimizer refuses leaves
        the session as it was."""
        old = self.config
        changed = set() if old is None else {k for k in new.as_dict()
                                             if getattr(old, k) != getattr(new, k)}
        rebuild_data = old is None or changed & set(DATA_KEYS)
        rebuild_net = rebuild_data or changed & set(NET_KEYS)
        rebuild_opt = rebuild_net or changed & set(OPT_KEYS)
        notices = []
        data = self._make_data(new) if rebuild_data else None
        model = self._make_model(new) if rebuild_net else self.model
        if rebuild_net:
            loss = get_loss(HEADS[new.head][1])
        if rebuild_opt:
            optimizer = self._make_optimizer(new, model)
            if not rebuild_net:
                notices.append(f"optimizer {new.optimizer} starts from the current weights "
                               "(its own state, e.g. momentum, starts from zero)")
        else:
            optimizer = self.optimizer
        if rebuild_opt or changed & set(SCHEDULE_KEYS):
            old_lr = optimizer.lr
            optimizer.lr = new.lr  # the schedule reads eta_0 from the optimizer
            try:
                schedule = self._make_schedule(new, optimizer)
            except (HandgradError, ValueError, TypeError):
                optimizer.lr = old_lr
                raise
        else:
            schedule = self.schedule
        n_train = len(data[0] if data is not None else self.x_train)
        if optimizer.full_batch and new.batch_size not in (0, n_train) and \
                (old is None or changed & {"optimizer", "batch_size"}):
            notices.append(f"{new.optimizer} is a full-batch method as published; with mini-"
                           "batches its sign and curvature tests see a different loss each step")
        # --- nothing has failed: replace ---------------------------------------------------------
        if data is not None:
            self.x_train, self.d_train, self.x_test, self.d_test = data
            self.data_version += 1
        if rebuild_net:
            self.model, self.loss = model, loss
            self.targets_train = self._targets(new, self.d_train)
            self.targets_test = self._targets(new, self.d_test)
        self.optimizer, self.schedule, self.config = optimizer, schedule, new
        if rebuild_net:
            self._reset_history()
        self.order_rng = np.random.default_rng(new.seed + 1)
        return notices

    @staticmethod
    def _make_data(c: Config):
        return datasets.make(c.dataset, c.points, c.noise, c.train_ratio, c.seed)

    @staticmethod
    def _make_model(c: Config):
        output = HEADS[c.head][0]
        return MLP(c.sizes, activation=c.activation, output=output,
                   rng=np.random.default_rng(c.seed), dtype=np.float64, dropout=c.dropout,
                   batchnorm=c.batchnorm)

    @staticmethod
    def _make_optimizer(c: Config, model):
        if c.optimizer == "newton" and model.num_parameters > NEWTON_MAX_PARAMS:
            raise OptionError(f"invalid optimizer: 'newton' for a network of "
                              f"{model.num_parameters} parameters (expected at most "
                              f"{NEWTON_MAX_PARAMS}: it forms the P x P Hessian every step; "
                              "use fewer or narrower layers)")
        return get_optimizer(c.optimizer, model, lr=c.lr, l2=c.l2, l1=c.l1,
                             **c.options)

    @staticmethod
    def _make_schedule(c: Config, optimizer):
        if c.schedule == "none":
            if c.schedule_options:
                raise OptionError(f"invalid schedule_options: {c.schedule_options!r} (expected "
                                  "none without a schedule)")
            return None
        return get_schedule(c.schedule, optimizer, **c.schedule_options)

    @staticmethod
    def _targets(c: Config, d: np.ndarray) -> np.ndarray:
        if c.task == "regression":
            return d[:, None]
        if c.head == "softmax_ce":
            return d.astype(np.int64)
        if c.head == "tanh_mse":
            return (2.0 * d - 1.0)[:, None]
        return d[:, None]

    def reset(self) -> None:
        """Fresh weights (the same seed: the same start) and optimizer, history cleared."""
        c = self.config
        self.model = self._make_model(c)
        self.optimizer = self._make_optimizer(c, self.model)
        self.schedule = self._make_schedule(c, self.optimizer)
        self.order_rng = np.random.default_rng(c.seed + 1)
        self._reset_history()

    def _reset_history(self) -> None:
        self.epoch = 0
        self.steps = 0
        self.stride = 1
        self.history = {"epoch": [], "train": [], "test": [], "lr": [], "grad": []}
        self.grad_norms = [0.0] * self.n_linear
        self.last_batch = None
        self.rate_marks = [(time.perf_counter(), 0)]
        self.diverged = False
        self._record()

    @property
    def n_linear(self) -> int:
        return sum(isinstance(m, Linear) for m in self.model.layers)

    # --- training -----------------------------------------------------------------------------
    def batches(self):
        n = len(self.x_train)
        size = self.config.batch_size or n
        order = self.order_rng.permutation(n)
        for start in range(0, n, size):
            idx = order[start:start + size]
            if self.config.batchnorm and len(idx) < 2:
                continue  # a last batch of one sample: batch norm has no spread to divide by
            yield idx

    def train_epoch(self) -> None:
        """One pass over the training set in mini-batches; records the curves afterwards."""
        model, opt = self.model, self.optimizer
        linears = [m for m in model.layers if isinstance(m, Linear)]
        sums = np.zeros(len(linears))
        count = 0
        for idx in self.batches():
            closure = BatchClosure(model, self.loss, self.x_train[idx], self.targets_train[idx],
                                   rewind=opt.needs_closure)
            with np.errstate(over="ignore", invalid="ignore"):
                value = opt.step(closure)
            self.last_batch = idx
            self.steps += 1
            if value is None or not math.isfinite(value) or \
                    not np.isfinite(model.theta).all():
                self.playing = False
                self.diverged = True
                raise DivergenceError(
                    f"training diverged at epoch {self.epoch + 1} (loss {value}): the learning "
                    f"rate {opt.lr:g} is too large for {self.config.optimizer} here; lower it "
                    "and press reset")
            sums += [float(np.linalg.norm(m.W.grad)) for m in linears]
            count += 1
        self.grad_norms = (sums / max(count, 1)).tolist()
        self.epoch += 1
        if self.schedule is not None:
            if self.schedule.name == "plateau":
                self.schedule.step(self.evaluate(self.x_test, self.targets_test))
            else:
                self.schedule.step()
        if self.epoch % self.stride == 0:
            self._record()

    def train_for(self, seconds: float, max_epochs: int) -> int:
        """Epochs until ``seconds`` have passed or ``max_epochs`` are done (at least one)."""
        start, done = time.perf_counter(), 0
        while done < max_epochs:
            self.train_epoch()
            done += 1
            if time.perf_counter() - start >= seconds:
                break
        return done

    def evaluate(self, x: np.ndarray, d: np.ndarray) -> float:
        """The data loss (no L1/L2 term) with dropout off and batch norm's running statistics."""
        if len(x) == 0:
            return float("nan")
        self.model.eval()
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # a diverged run: shown as such
                return float(self.loss(self.model.forward(x), d))
        finally:
            self.model.train()

    def _record(self) -> None:
        h = self.history
        h["epoch"].append(self.epoch)
        h["train"].append(self.evaluate(self.x_train, self.targets_train))
        h["test"].append(self.evaluate(self.x_test, self.targets_test))
        h["lr"].append(float(self.optimizer.lr))
        h["grad"].append(list(self.grad_norms))
        if len(h["epoch"]) >= HISTORY:
            for key in h:
                h[key] = h[key][::2]
            self.stride *= 2

    def epochs_per_second(self) -> float:
        now = time.perf_counter()
        self.rate_marks.append((now, self.epoch))
        while len(self.rate_marks) > 2 and now - self.rate_marks[1][0] > 1.0:
            self.rate_marks.pop(0)
        (t0, e0), (t1, e1) = self.rate_marks[0], self.rate_marks[-1]
        return (e1 - e0) / (t1 - t0) if t1 > t0 and self.playing else 0.0

    # --- what the page draws ------------------------------------------------------------------
    def hidden_outputs(self, x: np.ndarray):
        """(network output, [y_k of each hidden layer]) in evaluation mode."""
        self.model.eval()
        try:
            y, hidden, seen = x, [], 0
            n_hidden = len(self.config.hidden)
            for module in self.model.layers:
                y = module.forward(y)
                if isinstance(module, Linear):
                    seen += 1
                elif isinstance(module, Activation) and seen <= n_hidden:
                    hidden.append(y)
            return y, hidden
        finally:
            self.model.train()

    def data_message(self) -> dict:
        return {"type": "data", "version": self.data_version, "task": self.config.task,
                "x_train": np.round(self.x_train, 4).tolist(), "d_train": self.d_train.tolist(),
                "x_test": np.round(self.x_test, 4).tolist(), "d_test": self.d_test.tolist()}

    def frame(self) -> dict:
        """Everything the page draws now, from one forward pass (evaluation mode) over the plane
        (or the line) and the data together."""
        c, h = self.config, self.history
        if c.task == "regression":
            where = np.linspace(-datasets.EXTENT, datasets.EXTENT, CURVE)[:, None]
        else:
            e = datasets.EXTENT
            # Row r of the map is y = e - (r + 0.5) 2e / G (top row first), column c is x.
            axis = e - (np.arange(GRID) + 0.5) * 2 * e / GRID
            where = np.c_[np.tile(-axis, GRID), np.repeat(axis, GRID)]
        n, n_train = len(where), len(self.x_train)
        y, hidden = self.hidden_outputs(np.concatenate([where, self.x_train, self.x_test]))
        y_train, y_test = y[n:n + n_train], y[n + n_train:]
        frame = {"type": "frame", "data_version": self.data_version, "epoch": self.epoch,
                 "steps": self.steps, "playing": self.playing, "lr": float(self.optimizer.lr),
                 "eps": self.epochs_per_second(), "grad_norms": self.grad_norms,
                 "train_loss": self._loss(y_train, self.targets_train),
                 "test_loss": self._loss(y_test, self.targets_test),
                 # a copy: the sender encodes it while the next epochs append to the original
                 "history": {key: list(values) for key, values in h.items()},
                 "sizes": c.sizes, "head": c.head, "task": c.task,
                 "weights": [np.round(m.W.data, 4).tolist() for m in self.model.layers
                             if isinstance(m, Linear)]}
        hidden = [layer[:n] for layer in hidden]
        if c.task == "regression":
            frame.update(self._regression_views(where, y[:n], hidden))
        else:
            frame.update(self._classification_views(y[:n], hidden, y_train, y_test))
        for key in ("train_loss", "test_loss"):
            if not math.isfinite(frame[key]):
                frame[key] = None  # JSON has no NaN
        return frame

    def _loss(self, y: np.ndarray, d: np.ndarray) -> float:
        if not len(y):
            return float("nan")
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged run: sent as null
            return float(self.loss(y, d))

    def _thumbnail_scale(self, layer: np.ndarray):
        """(centre, per-neuron scale) mapping a hidden layer's outputs to [-1, 1]: the fixed range
        of a bounded activation (so saturation shows as saturation), else each neuron's largest
        |y| (ReLU and identity are unbounded)."""
        bounded = {"sigmoid": (0.5, 0.5), "tanh": (0.0, 1.0), "hard_tanh": (0.0, 1.0)}
        if self.config.activation in bounded:
            centre, scale = bounded[self.config.activation]
            return centre, np.full(layer.shape[1], scale)
        return 0.0, np.maximum(np.abs(layer).max(axis=0), 1e-12)

    def _classification_views(self, y, hidden, y_train, y_test) -> dict:
        head = self.config.head
        p = probability_of_class_1(head, y)
        neurons = []
        for layer in hidden:
            # every other cell of the map's grid: THUMB x THUMB per neuron
            layer = layer.reshape(GRID, GRID, -1)[::2, ::2].reshape(THUMB * THUMB, -1)
            centre, scales = self._thumbnail_scale(layer)
            neurons.append([{"scale": float(s), "image": encode((layer[:, j] - centre) / s,
                                                                -1.0, 1.0)}
                            for j, s in enumerate(scales)])
        accuracy = {}
        for split, y_split, d in (("train", y_train, self.d_train),
                                  ("test", y_test, self.d_test)):
            if len(d):
                pred = probability_of_class_1(head, y_split) > 0.5
                accuracy[split] = float(np.mean(pred == (d > 0.5)))
        return {"grid": GRID, "thumb": THUMB, "output": encode(p, 0.0, 1.0), "neurons": neurons,
                "accuracy": accuracy}

    def _regression_views(self, xs, y, hidden) -> dict:
        neurons = []
        for layer in hidden:
            centre, scales = self._thumbnail_scale(layer)
            neurons.append([{"scale": float(s),
                             "curve": np.round((layer[:, j] - centre) / s, 3).tolist()}
                            for j, s in enumerate(scales)])
        return {"curve_x": np.round(xs[:, 0], 4).tolist(), "curve_y": np.round(y[:, 0], 4).tolist(),
                "neurons": neurons, "accuracy": {}}
