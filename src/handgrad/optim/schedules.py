"""Learning-rate schedules (001, "Decaying learning rate"): start with a large eta and reduce it.

A schedule owns the optimizer's ``lr``. It reads eta_0 from the optimizer when created and sets
eta_k after each of the trainer's ``sched.step()`` calls, one per epoch (k counts epochs, from 0):

    inverse          eta_k = eta_0 / (k + 1)                  the notes' "linear decay"
    inverse_square   eta_k = eta_0 / (k + 1)^2                the notes' "quadratic decay"
    exponential      eta_k = eta_0 e^(-beta k),  beta > 0
    step             eta_k = eta_0 gamma^floor(k / step_size)
    plateau          train with a fixed eta until the validation loss stagnates, then
                     eta <- alpha eta (alpha < 1, typically 0.1), and continue

Each equals a ``torch.optim.lr_scheduler`` twin (LambdaLR, ExponentialLR with gamma = e^-beta,
StepLR, ReduceLROnPlateau), which the tests check.
"""

from __future__ import annotations

import math

from handgrad.errors import unknown_option
from handgrad.validate import check_choice, check_option, check_options


class Schedule:
    """Base: ``step(metric=None)`` advances one epoch and sets ``optimizer.lr``."""

    name = ""

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise ValueError(f"a schedule needs an optimizer with an lr, got {optimizer!r}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.epoch = 0

    def lr_at(self, k: int) -> float:
        raise NotImplementedError  # abstract: eta_k of each closed-form schedule

    def step(self, metric=None) -> float:
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"name": self.name, "base_lr": self.base_lr, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state_dict is for schedule {state.get('name')!r}, not {self.name!r}")
        self.base_lr, self.epoch = float(state["base_lr"]), int(state["epoch"])
        self.optimizer.lr = self.lr_at(self.epoch)


class Inverse(Schedule):
    """eta_k = eta_0 / (k + 1) (001: "Linear decay")."""

    name = "inverse"

    def lr_at(self, k):
        return self.base_lr / (k + 1)


class InverseSquare(Schedule):
    """eta_k = eta_0 / (k + 1)^2 (001: "Quadratic decay")."""

    name = "inverse_square"

    def lr_at(self, k):
        return self.base_lr / (k + 1) ** 2


class Exponential(Schedule):
    """eta_k = eta_0 e^(-beta k), beta > 0 (001: "Exponential decay")."""

    name = "exponential"

    def __init__(self, optimizer, beta: float = 0.1):
        super().__init__(optimizer)
        self.beta = check_option("beta", beta, 0.0, low_open=True)

    def lr_at(self, k):
        return self.base_lr * math.exp(-self.beta * k)


class StepDecay(Schedule):
    """eta_k = eta_0 gamma^floor(k / step_size): multiply by gamma every step_size epochs."""

    name = "step"

    def __init__(self, optimizer, step_size: int = 10, gamma: float = 0.1):
        super().__init__(optimizer)
        self.step_size = check_option("step_size", step_size, 1, integer=True)
        self.gamma = check_option("gamma", gamma, 0.0, 1.0, low_open=True)

    def lr_at(self, k):
        return self.base_lr * self.gamma ** (k // self.step_size)


class ReduceOnPlateau(Schedule):
    """The notes' recipe for neural networks (001, "Decaying learning rate"):

        1. train with a fixed eta until the loss on held-out data stagnates
        2. eta <- alpha eta, alpha < 1 (typically 0.1)
        3. return to 1 and continue from where training left off

    "Stagnates" is made precise as in ``torch.optim.lr_scheduler.ReduceLROnPlateau``: an epoch is
    an improvement when metric < best (1 - threshold) (``threshold_mode="rel"``) or
    metric < best - threshold (``"abs"``); after more than ``patience`` epochs without one, eta is
    reduced (not below ``min_lr``, and not by less than ``eps``), then ``cooldown`` epochs pass
    before counting again. ``step(metric)`` needs the validation loss.
    """

    name = "plateau"

    def __init__(self, optimizer, alpha: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8):
        super().__init__(optimizer)
        self.alpha = check_option("alpha", alpha, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = check_option("patience", patience, 0, integer=True)
        self.threshold = check_option("threshold", threshold, 0.0)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = check_option("cooldown", cooldown, 0, integer=True)
        self.min_lr = check_option("min_lr", min_lr, 0.0)
        self.eps = check_option("eps", eps, 0.0)
        self.best = math.inf
        self.bad_epochs = 0
        self.cooldown_counter = 0

    def _improved(self, metric: float) -> bool:
        if self.threshold_mode == "rel":
            return metric < self.best * (1.0 - self.threshold)
        return metric < self.best - self.threshold

    def step(self, metric=None) -> float:
        if metric is None:
            raise ValueError("schedule 'plateau' needs the validation loss: call step(metric)")
        metric = float(metric)
        if not math.isfinite(metric):
            raise ValueError(f"schedule 'plateau' got a non-finite metric {metric}")
        self.epoch += 1
        if self._improved(metric):
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.alpha, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter, self.bad_epochs = self.cooldown, 0
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {**super().state_dict(), "lr": self.optimizer.lr, "best": self.best,
                "bad_epochs": self.bad_epochs, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state_dict is for schedule {state.get('name')!r}, not {self.name!r}")
        self.base_lr, self.epoch = float(state["base_lr"]), int(state["epoch"])
        self.optimizer.lr = float(state["lr"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])


SCHEDULES: dict[str, type[Schedule]] = {cls.name: cls for cls in (
    Inverse, InverseSquare, Exponential, StepDecay, ReduceOnPlateau)}


def get_schedule(name: str, optimizer, **options) -> Schedule:
    """The schedule ``name`` driving ``optimizer.lr``; unknown names or options raise ValueError."""
    if name not in SCHEDULES:
        raise unknown_option("schedule", name, SCHEDULES)
    cls = SCHEDULES[name]
    check_options("schedule", name, cls, options, skip=("optimizer",))
    return cls(optimizer, **options)
