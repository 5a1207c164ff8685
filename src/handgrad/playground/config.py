"""A playground set-up: what the page may ask for, checked once here, and the catalogue it shows.

The page sends the whole set-up as one JSON object (the same keys its URL carries, so a link
reproduces it). :func:`parse` checks every key against the limits below and raises ``OptionError``
naming the key, the value and what is expected; the session only ever sees a valid
:class:`Config`. The optimizer's and the schedule's own options are checked by
``handgrad.optim.get_optimizer`` / ``get_schedule`` themselves (their constructors are the single
source of truth), and their meanings come from the classes' docstrings (:func:`catalogue`).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import asdict, dataclass, field

from handgrad.errors import OptionError
from handgrad.optim import OPTIMIZERS, SCHEDULES, Optimizer, option_names
from handgrad.playground import datasets
from handgrad.validate import check_bool, check_choice, check_int, check_option

MAX_LAYERS = 6          # hidden layers
MAX_WIDTH = 16          # units per hidden layer (each one drawn as a thumbnail)
MAX_POINTS = 2000

ACTIVATIONS = ("tanh", "sigmoid", "relu", "hard_tanh", "identity")

# head -> (output activation, loss, output units, what the page says). Only pairs that make
# sense: probabilities with cross-entropy, logits with the fused losses, tanh with +-1 targets.
HEADS = {
    "sigmoid_bce": ("sigmoid", "bce", 1, "sigmoid output, binary cross-entropy"),
    "logits_bce": ("identity", "bce_logits", 1, "logit output, cross-entropy with the sigmoid "
                   "fused in"),
    "tanh_mse": ("tanh", "mse", 1, "tanh output, squared error on targets -1/+1"),
    "softmax_ce": ("identity", "cross_entropy", 2, "two logits, softmax fused with "
                   "cross-entropy"),
    "identity_mse": ("identity", "mse", 1, "linear output, mean squared error"),
    "identity_half_mse": ("identity", "half_mse", 1, "linear output, half squared error"),
    "identity_mae": ("identity", "mae", 1, "linear output, mean absolute error"),
}
CLASSIFICATION_HEADS = ("sigmoid_bce", "logits_bce", "tanh_mse", "softmax_ce")
REGRESSION_HEADS = ("identity_mse", "identity_half_mse", "identity_mae")

# Options the page sets through its own controls, not through the optimizer form.
SHARED_OPTIONS = ("lr", "l2", "l1")


@dataclass
class Config:
    dataset: str = "xor"
    noise: float = 0.0              # fraction of the set's scale added as jitter, 0..1
    train_ratio: float = 0.5        # share of the points used for training
    points: int = 400
    seed: int = 0                   # fixes the points and the initial weights
    hidden: list = field(default_factory=lambda: [4])
    activation: str = "tanh"
    head: str = "sigmoid_bce"
    dropout: float = 0.0
    batchnorm: bool = False
    l1: float = 0.0
    l2: float = 0.0
    optimizer: str = "adam"
    options: dict = field(default_factory=dict)    # the optimizer's other options
    lr: float = 0.03
    schedule: str = "none"
    schedule_options: dict = field(default_factory=dict)
    batch_size: int = 10            # 0 = the full training set
    speed: float = 0.0              # most epochs per second, 0 = as fast as it goes

    @property
    def task(self) -> str:
        return "regression" if self.dataset in datasets.REGRESSION else "classification"

    @property
    def sizes(self) -> list[int]:
        inputs = 1 if self.task == "regression" else 2
        return [inputs, *self.hidden, HEADS[self.head][2]]

    def as_dict(self) -> dict:
        return asdict(self)


def _check_options_dict(name: str, value) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise OptionError(f"invalid {name}: {value!r} (expected an object of option: value)")
    return dict(value)


def parse(raw) -> Config:
    """A :class:`Config` from the page's JSON object; missing keys take the defaults."""
    if not isinstance(raw, dict):
        raise OptionError(f"invalid config: {raw!r} (expected an object of setting: value)")
    unknown = sorted(set(raw) - set(Config.__dataclass_fields__))
    if unknown:
        raise OptionError(f"unknown setting(s) {', '.join(map(repr, unknown))}; valid settings: "
                          f"{', '.join(Config.__dataclass_fields__)}")
    c = Config(**raw)
    c.dataset = check_choice("dataset", c.dataset, datasets.DATASETS)
    c.noise = check_option("noise", c.noise, 0.0, 1.0)
    c.train_ratio = check_option("train_ratio", c.train_ratio, 0.1, 0.9)
    c.points = check_int("points", c.points, 20, MAX_POINTS)
    c.seed = check_int("seed", c.seed, 0, 2 ** 31 - 1)
    if not isinstance(c.hidden, list) or len(c.hidden) > MAX_LAYERS:
        raise OptionError(f"invalid hidden: {c.hidden!r} (expected a list of at most {MAX_LAYERS}"
                          " layer widths)")
    c.hidden = [check_int(f"width of hidden layer {k}", w, 1, MAX_WIDTH)
                for k, w in enumerate(c.hidden, start=1)]
    c.activation = check_choice("activation", c.activation, ACTIVATIONS)
    heads = REGRESSION_HEADS if c.task == "regression" else CLASSIFICATION_HEADS
    if c.head not in heads:
        raise OptionError(f"invalid head: {c.head!r} for the {c.task} set {c.dataset!r} "
                          f"(expected one of: {', '.join(heads)})")
    c.dropout = check_option("dropout", c.dropout, 0.0, 0.9)
    c.batchnorm = check_bool("batchnorm", c.batchnorm)
    c.l1 = check_option("l1", c.l1, 0.0)
    c.l2 = check_option("l2", c.l2, 0.0)
    c.optimizer = check_choice("optimizer", c.optimizer, tuple(OPTIMIZERS))
    c.options = _check_options_dict("options", c.options)
    shared = sorted(set(c.options) & set(SHARED_OPTIONS))
    if shared:
        raise OptionError(f"invalid options: {shared} are set by the page's own controls "
                          "(lr, L1, L2), not in the optimizer's options")
    c.lr = check_option("lr", c.lr, 0.0, 100.0, low_open=True)
    c.schedule = check_choice("schedule", c.schedule, ("none", *SCHEDULES))
    c.schedule_options = _check_options_dict("schedule_options", c.schedule_options)
    n_train = max(1, min(c.points - 1, int(round(c.train_ratio * c.points))))
    c.batch_size = check_int("batch_size", c.batch_size, 0, n_train)
    if c.batchnorm and c.batch_size == 1:
        raise OptionError("invalid batch_size: 1 with batch norm (expected at least 2: batch "
                          "norm divides by the batch's standard deviation, which one sample has "
                          "not)")
    c.speed = check_option("speed", c.speed, 0.0, 1000.0)
    return c


# --- the catalogue the page shows: every optimizer and schedule with its options ------------
# Meanings for options whose class docstring does not name them in a line of its own.
PLAIN_MEANINGS = {
    "lr": "eta, the learning rate (the step size; Delta_0 for Rprop)",
    "l2": "lambda_2 of the L2 penalty lambda_2/2 ||W||^2 in the loss (biases excluded)",
    "weight_decay": "torch's weight decay: adds lambda W to the gradient (AdamW: decoupled)",
    "l1": "lambda_1: adds lambda_1 sign(W) to the gradient (L1; biases excluded)",
    "decay_biases": "apply L1/L2 to the biases too (as torch.optim does)",
    "eta_minus": "eta-: factor that shrinks a step after the gradient's sign changed",
    "eta_plus": "eta+: factor that grows a step while the gradient keeps its sign",
    "step_min": "Delta_min: smallest step per weight",
    "step_max": "Delta_max: largest step per weight",
    "fd_step": "h of the finite differences that form the Hessian (default: chosen from the "
               "dtype)",
    "max_params": "refuse networks with more parameters than this (the P x P matrix)",
    "history_size": "m: how many (s, y) pairs the inverse-Hessian estimate keeps",
    "c1": "Armijo constant of the line search (sufficient decrease)",
    "c2": "curvature constant of the Wolfe line search",
    "tolerance_grad": "stop stepping when the largest gradient entry is below this",
    "beta": "the decay factor",
    "betas": "(beta1, beta2) in one option, as torch.optim.Adam takes them (instead of both)",
}


def _doc_lines(cls) -> list[str]:
    lines = []
    for klass in cls.__mro__:
        if klass in (object, Optimizer) or not klass.__doc__:
            continue
        lines += [ln.strip() for ln in inspect.cleandoc(klass.__doc__).splitlines()]
    return lines


BASE_OPTIONS = ("weight_decay", "decay_biases")   # the same for every method: one phrase
# Where the docstring states the rule in a form the line search below cannot pick out.
DOC_LINES = {
    ("sgd", "momentum"): "mu: b <- mu b + (1 - tau) g,  W <- W - eta b   (PyTorch's buffer)",
    ("sgd", "dampening"): "tau: b <- mu b + (1 - tau) g",
    ("momentum", "beta"): "Delta W <- beta Delta W - eta grad_W Loss(W);  W <- W + Delta W",
    ("adam", "betas"): "(beta1, beta2) in one option, as torch.optim.Adam takes them",
    ("adamw", "betas"): "(beta1, beta2) in one option, as torch.optim.AdamW takes them",
}


def meaning(cls, option: str) -> str:
    """What the docstring of ``cls`` (or of its bases) says ``option`` does: the first update-rule
    line naming it (``x <- ...``), else the first short sentence, else the symbol the ``input:``
    line gives it, else a plain phrase."""
    if option in BASE_OPTIONS:
        return PLAIN_MEANINGS[option]
    if (cls.name, option) in DOC_LINES:
        return DOC_LINES[cls.name, option]
    word = re.compile(rf"(?<![\w.]){re.escape(option)}(?!\w)")
    lines = _doc_lines(cls)
    for line in lines:
        if re.match(r"^[A-Za-z_][\w^]*\s+(<-|=)\s", line) and ". " not in line and \
                word.search(line):
            return line
    sentences = re.split(r"(?<=[.;:])\s+(?=[A-Z(`])", " ".join(lines))
    for sentence in sentences:
        if word.search(sentence) and "input:" not in sentence and len(sentence) < 240:
            return sentence
    for line in lines:
        for part in line.split(", "):
            if word.search(part):
                return part.replace("input: ", "")
    return PLAIN_MEANINGS.get(option, "")


def _kind(default) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    return "text"        # strings, and None ("not set") shown as an empty field


def _options(cls, skip) -> list[dict]:
    params = inspect.signature(cls.__init__).parameters
    return [{"name": name, "default": params[name].default, "kind": _kind(params[name].default),
             "meaning": meaning(cls, name)}
            for name in option_names(cls, skip=("self", *skip))]


def catalogue() -> dict:
    """What the page's forms offer, sent once when a page connects."""
    return {
        "datasets": [{"name": n, "title": datasets.TITLES[n],
                      "task": "regression" if n in datasets.REGRESSION else "classification"}
                     for n in datasets.DATASETS],
        "activations": list(ACTIVATIONS),
        "heads": {name: {"output": h[0], "loss": h[1], "units": h[2], "text": h[3],
                         "task": "regression" if name in REGRESSION_HEADS else "classification"}
                  for name, h in HEADS.items()},
        "optimizers": {name: {"doc": inspect.cleandoc(cls.__doc__ or ""),
                              "full_batch": cls.full_batch,
                              "options": _options(cls, ("model", *SHARED_OPTIONS))}
                       for name, cls in OPTIMIZERS.items()},
        "schedules": {name: {"doc": inspect.cleandoc(cls.__doc__ or ""),
                             "options": _options(cls, ("optimizer",))}
                      for name, cls in SCHEDULES.items()},
        "limits": {"layers": MAX_LAYERS, "width": MAX_WIDTH, "points": MAX_POINTS},
        "defaults": Config().as_dict(),
        "extent": datasets.EXTENT,
    }
