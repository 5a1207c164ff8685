"""The optimizer arena: several optimizers on the same problem, over several seeds.

For each optimizer it reports the epochs needed to reach a stated criterion (mean, spread and the
runs that never reached it within the epoch budget) and draws the loss curves side by side. The
problems are the classic benchmarks of the notes' optimizers:

    encoder     the N-M-N encoder/decoder (Fahlman 1988; default 10-5-10): reproduce each one-hot
                input at the output through M < N hidden units; sigmoid units, squared error
    xor         2-2-1 exclusive or
    parity      4-bit parity, 4-4-1
    digits      scikit-learn's 8x8 handwritten digits (standardised), a 64-16-10 MLP, cross-entropy
    quadratic   E = 1/2 w^T A w + b^T w in 2-D, condition number 20, axes rotated 30 degrees
    rosenbrock  E = (1 - u)^2 + 100 (v - u^2)^2 from around (-1.2, 1)

The boolean problems use Fahlman's criterion: every output within 0.4 of its target. An epoch is one
pass over the training set; the batch methods (Rprop, QuickProp and the second-order methods,
``Optimizer.full_batch``) take one full-batch step per epoch, as published, the others take
mini-batch steps where the problem defines a batch size. The 2-D functions
(``handgrad.testfunctions``) are written as residuals, E = 1/2 ||r(w)||^2 (+ const), so that
Levenberg-Marquardt applies to them too.

A row is a :class:`Plan` (an optimizer, its rate and options); ``contestants()`` names the rows
``run_arena`` takes: every optimizer, plus ``VARIANTS`` (the unmodified Newton, 002's momentum as
printed). ``momentum_plans`` lays momentum out on a grid of beta and effective step
eta / (1 - beta), to compare it with gradient descent at equal step (docs/arena.md).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handgrad.nn import MLP, get_loss
from handgrad.errors import unknown_option
from handgrad.optim import OPTIMIZERS, get_optimizer
from handgrad.testfunctions import Quadratic, Rosenbrock, ValueLoss, quadratic_with_minimum
from handgrad.train.closure import BatchClosure


# --- problems ----------------------------------------------------------------------------------
@dataclass
class Problem:
    name: str
    build: object                 # rng -> model
    loss: object
    x: np.ndarray
    d: np.ndarray
    reached: object               # (model, y) -> bool
    criterion: str
    max_epochs: int
    batch_size: int | None = None  # None: full batch for every optimizer
    lr: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)   # contestant -> options tuned for this problem


def _within(tolerance: float):
    def reached(model, y, d):
        return bool(np.all(np.abs(y - d) < tolerance))
    return reached


# Learning rates per problem: the best of a sweep over 0.003, 0.01, ..., 3, 10 (3 seeds) among
# those that reached the criterion in every run. lr is Rprop's initial step and scales the first
# direction of L-BFGS/CG; the second-order methods keep eta = 1. xor and parity reuse these
# rates untuned. The 002 forms of momentum take 001's rates (with epsilon = 1 they are the
# same trajectory); newton_plain is the notes' eta = 1.
BOOLEAN_LR = {"sgd": 10.0, "momentum": 0.3, "nesterov": 1.0, "momentum002": 0.3,
              "nesterov002": 1.0, "momentum002_beta1": 0.3, "adagrad": 1.0, "rmsprop": 0.1,
              "adam": 0.1, "adamw": 0.1, "rprop": 1.0, "rprop_backtracking": 1.0,
              "rprop_simple": 0.1, "quickprop": 1.0, "newton": 1.0, "newton_plain": 1.0,
              "bfgs": 1.0, "lbfgs": 1.0, "lm": 1.0, "cg": 1.0}

# The encoder's gradient descent and momentum rows, tuned again on the effective step
# s = eta / (1 - beta) over beta in {0, 0.5, 0.8, 0.9} and s in {1, 2, 3, 5, 10, 20, 30}
# (``momentum_plans``, 5 seeds; docs/arena.md, "Momentum against gradient descent"): GD's best
# on the first sweep was 10, the edge of its grid, and momentum's at beta = 0.9 and eta = 0.3
# was s = 3, a third of GD's step. The quadratic's momentum rows likewise (its GD rate 0.09 is
# at its stability limit 2/lambda_max = 0.1).
ENCODER_LR = {**BOOLEAN_LR, "sgd": 20.0, "momentum": 10.0, "nesterov": 10.0,
              "momentum002": 10.0, "nesterov002": 10.0}
ENCODER_OPTIONS = {name: {"beta": 0.5}
                   for name in ("momentum", "nesterov", "momentum002", "nesterov002")}


def encoder_problem(n: int = 10, m: int = 5) -> Problem:
    x = np.eye(n)
    return Problem(
        name=f"encoder {n}-{m}-{n}",
        build=lambda rng: MLP([n, m, n], activation="sigmoid", output="sigmoid", rng=rng,
                              dtype=np.float64),
        loss=get_loss("half_mse"), x=x, d=x.copy(), reached=_within(0.4),
        criterion="every output within 0.4 of its target", max_epochs=1000, lr=dict(ENCODER_LR),
        options={k: dict(v) for k, v in ENCODER_OPTIONS.items()})


def xor_problem() -> Problem:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    d = np.array([[0], [1], [1], [0]], float)
    return Problem(
        name="xor 2-2-1",
        build=lambda rng: MLP([2, 2, 1], activation="tanh", output="sigmoid", rng=rng,
                              dtype=np.float64),
        loss=get_loss("half_mse"), x=x, d=d, reached=_within(0.4),
        criterion="every output within 0.4 of its target", max_epochs=1000, lr=dict(BOOLEAN_LR))


def parity_problem(bits: int = 4) -> Problem:
    x = np.array([[(i >> k) & 1 for k in range(bits)] for i in range(2 ** bits)], float)
    d = (x.sum(axis=1, keepdims=True) % 2).astype(float)
    return Problem(
        name=f"parity {bits}-{bits}-1",
        build=lambda rng: MLP([bits, bits, 1], activation="tanh", output="sigmoid", rng=rng,
                              dtype=np.float64),
        loss=get_loss("half_mse"), x=x, d=d, reached=_within(0.4),
        criterion="every output within 0.4 of its target", max_epochs=2000, lr=dict(BOOLEAN_LR))


def digits_problem(hidden: int = 16) -> Problem:
    from sklearn.datasets import load_digits  # a bundled data set, not a trainer
    bunch = load_digits()
    x = bunch.data.astype(float)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)

    def reached(model, y, d):
        return bool(np.all(np.argmax(y, axis=1) == d))

    lr = {"sgd": 1.0, "momentum": 0.1, "nesterov": 0.1, "momentum002": 0.1, "nesterov002": 0.1,
          "momentum002_beta1": 0.1, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.03,
          "adamw": 0.03, "rprop": 0.1, "rprop_backtracking": 0.1, "rprop_simple": 0.1,
          "quickprop": 1.0, "newton": 1.0, "newton_plain": 1.0, "bfgs": 1.0, "lbfgs": 1.0,
          "lm": 1.0, "cg": 1.0}
    return Problem(
        name=f"digits 64-{hidden}-10",
        build=lambda rng: MLP([64, hidden, 10], activation="tanh", rng=rng, dtype=np.float64),
        loss=get_loss("cross_entropy"), x=x, d=bunch.target.astype(np.int64),
        reached=reached, criterion="every training digit classified right", max_epochs=100,
        batch_size=64,
        lr=lr)


def _function_problem(name, make_model, criterion_tol, max_epochs, lr) -> Problem:
    def reached(model, y, d):
        return float(np.linalg.norm(model.w - model.minimum)) < criterion_tol

    dummy = np.zeros((1, 1))    # a function module ignores its input; its loss is E itself
    return Problem(name=name, build=make_model, loss=ValueLoss(), x=dummy, d=dummy,
                   reached=reached, criterion=f"|w - w*| < {criterion_tol:g}",
                   max_epochs=max_epochs, lr=lr)


def quadratic_problem() -> Problem:
    A, b = quadratic_with_minimum()
    lr = {"sgd": 0.09, "momentum": 0.05, "nesterov": 0.05, "momentum002": 0.05,
          "nesterov002": 0.05, "momentum002_beta1": 0.05, "adagrad": 1.0, "rmsprop": 0.03,
          "adam": 0.1, "adamw": 0.1, "rprop": 0.1, "rprop_backtracking": 0.1, "rprop_simple": 0.1,
          "quickprop": 0.03, "newton": 1.0, "newton_plain": 1.0, "bfgs": 1.0, "lbfgs": 1.0,
          "lm": 1.0, "cg": 1.0}
    # momentum at beta = 0.5 and s = 0.18, Nesterov at beta = 0.8 and s = 0.27 (the grid's best)
    lr.update(momentum=0.09, momentum002=0.09, nesterov=0.054, nesterov002=0.054)
    problem = _function_problem(
        "quadratic (2-D, condition 20)",
        lambda rng: Quadratic(A, b, np.array([-2.0, 2.0]) + rng.normal(0, 0.5, 2)),
        1e-4, 500, lr)
    problem.options = {"momentum": {"beta": 0.5}, "momentum002": {"beta": 0.5},
                       "nesterov": {"beta": 0.8}, "nesterov002": {"beta": 0.8}}
    return problem


def rosenbrock_problem() -> Problem:
    lr = {"sgd": 0.001, "momentum": 0.0005, "nesterov": 0.0005, "momentum002": 0.0005,
          "nesterov002": 0.0005, "momentum002_beta1": 0.0005, "adagrad": 0.5, "rmsprop": 0.003,
          "adam": 0.05, "adamw": 0.05, "rprop": 0.01, "rprop_backtracking": 0.01,
          "rprop_simple": 0.01, "quickprop": 0.001, "newton": 1.0, "newton_plain": 1.0,
          "bfgs": 1.0, "lbfgs": 1.0, "lm": 1.0, "cg": 1.0}
    return _function_problem(
        "rosenbrock", lambda rng: Rosenbrock(np.array([-1.2, 1.0]) + rng.normal(0, 0.1, 2)),
        1e-3, 2000, lr)


PROBLEMS = {"encoder": encoder_problem, "xor": xor_problem, "parity": parity_problem,
            "digits": digits_problem, "quadratic": quadratic_problem,
            "rosenbrock": rosenbrock_problem}


def get_problem(spec: str) -> Problem:
    """``encoder``, ``encoder:8-3-8``, ``parity:3``, ``digits:32``, or another name of PROBLEMS."""
    name, _, arg = spec.partition(":")
    if name not in PROBLEMS:
        raise unknown_option("arena problem", name, PROBLEMS)
    if not arg:
        return PROBLEMS[name]()
    try:
        if name == "encoder":
            n, m, n2 = (int(v) for v in arg.split("-"))
            if n != n2:
                raise ValueError
            return encoder_problem(n, m)
        if name in ("parity", "digits"):
            return PROBLEMS[name](int(arg))
    except ValueError:
        pass
    raise ValueError(f"invalid arena problem {spec!r}: expected encoder:N-M-N, parity:BITS, "
                     f"digits:HIDDEN or a plain name of: {', '.join(PROBLEMS)}")


# --- running -----------------------------------------------------------------------------------
# A run whose loss changes by less than STALL_RTOL (relative) for STALL_EPOCHS epochs in a row is
# stopped and counted as a failure ("stalled"), so the budget is not spent at a saddle point.
STALL_RTOL, STALL_EPOCHS = 1e-10, 50
# A run whose loss grows beyond DIVERGED times its initial value (or is not finite) has diverged.
DIVERGED = 1e8

# Options the arena gives an optimizer on every problem: Newton with Armijo backtracking (the
# damped Newton method), since eta = 1 alone wanders on the non-convex network losses, and only
# for models of at most 500 parameters (its finite-difference Hessian costs 2n backward passes).
ARENA_OPTIONS = {"newton": {"line_search": "backtracking", "max_params": 500},
                 "bfgs": {"max_params": 500}}
# Contestants beside the optimizers under their own names: an optimizer with other options.
# newton_plain is the notes' rule as written, W <- W - H^-1 grad with eta = 1, no line search and
# no fix of negative curvatures (001, "issues with the Hessian": it walks to saddles and maxima).
# momentum002_beta1 is 002's momentum as printed, v_t = v_(t-1) + epsilon g: no friction.
VARIANTS = {"newton_plain": ("newton", {"fix": "none", "line_search": "none", "max_params": 500}),
            "momentum002_beta1": ("momentum002", {"beta": 1.0})}
# Newton's epochs are expensive: it gets at most this many (an epoch is one Newton step).
EPOCH_CAP = {"newton": 200, "newton_plain": 200}


def contestants() -> list[str]:
    """Every name ``run_arena`` takes: the optimizers, then the variants."""
    return [*OPTIMIZERS, *VARIANTS]


def contestant(name: str) -> tuple[str, dict]:
    """(optimizer name, the arena's options for it) of a contestant."""
    if name in VARIANTS:
        optimizer, options = VARIANTS[name]
        return optimizer, dict(options)
    if name in OPTIMIZERS:
        return name, dict(ARENA_OPTIONS.get(name, {}))
    raise unknown_option("optimizer", name, contestants())


@dataclass
class Run:
    curve: list            # training loss after each epoch (index 0: before training)
    reached: int | None    # first epoch at which the criterion held
    diverged: bool = False
    stalled: bool = False
    seconds: float = 0.0


@dataclass
class Entry:
    optimizer: str
    lr: float
    batch: str
    budget: int
    runs: list = field(default_factory=list)
    error: str | None = None
    options: dict = field(default_factory=dict)   # what the problem sets beyond the arena's


@dataclass
class Plan:
    """One row of the arena: which optimizer runs with which settings (each seed one run)."""
    label: str
    optimizer: str
    lr: float
    options: dict
    batch: str
    budget: int
    shown: dict = field(default_factory=dict)     # options the table names beside the label

    def entry(self) -> Entry:
        return Entry(self.label, self.lr, self.batch, self.budget, options=dict(self.shown))


def plan(problem: Problem, name: str, lr: dict | None = None, max_epochs: int | None = None,
         options: dict | None = None, label: str | None = None) -> Plan:
    """The row of contestant ``name`` on ``problem``: its rate (``lr``, else the problem's tuned
    one), the arena's options plus the problem's (``problem.options``) plus ``options``."""
    optimizer, arena_options = contestant(name)
    shown = {**problem.options.get(name, {}), **(options or {})}
    rate = (lr or {}).get(name, problem.lr.get(name, problem.lr.get(optimizer, 0.01)))
    batch = "full" if (OPTIMIZERS[optimizer].full_batch or not problem.batch_size) \
        else str(problem.batch_size)
    budget = min(max_epochs or problem.max_epochs, EPOCH_CAP.get(name, math.inf))
    return Plan(label or name, optimizer, rate, {**arena_options, **shown}, batch, budget, shown)


def run_once(problem: Problem, name: str, seed: int, lr: float, options=None,
             max_epochs: int | None = None) -> Run:
    """Train one model from seed ``seed`` until the criterion holds or the epochs run out, with
    one BLAS thread: a multi-threaded BLAS sums in another order, and on these non-convex losses
    Newton's and CG's runs amplify that rounding into other epoch counts, so a run's numbers
    would depend on the machine's threads (in this process) or not (in a Dask worker)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _run_once(problem, name, seed, lr, options, max_epochs)


def _run_once(problem, name, seed, lr, options, max_epochs) -> Run:
    rng = np.random.default_rng(seed)
    model = problem.build(rng)
    opt = get_optimizer(name, model, lr=lr, **(options or {}))
    loss, x, d = problem.loss, problem.x, problem.d
    full = BatchClosure(model, loss, x, d)
    size = problem.batch_size if (problem.batch_size and not opt.full_batch) else len(x)
    order_rng = np.random.default_rng(seed + 10_000)
    start = time.perf_counter()
    still = 0
    with np.errstate(all="ignore"):
        curve = [full(backward=False)]
        if problem.reached(model, full.predict(), d):
            return Run(curve, 0, seconds=time.perf_counter() - start)
        for epoch in range(1, (max_epochs or problem.max_epochs) + 1):
            order = order_rng.permutation(len(x)) if size < len(x) else np.arange(len(x))
            for i in range(0, len(x), size):
                idx = order[i:i + size]
                closure = full if size == len(x) else BatchClosure(model, loss, x[idx], d[idx])
                opt.step(closure)
            value = full(backward=False)
            if not math.isfinite(value) or value > DIVERGED * max(curve[0], 1e-12):
                return Run(curve, None, diverged=True, seconds=time.perf_counter() - start)
            curve.append(value)
            if problem.reached(model, full.predict(), d):
                return Run(curve, epoch, seconds=time.perf_counter() - start)
            still = still + 1 if abs(value - curve[-2]) <= STALL_RTOL * abs(curve[-2]) else 0
            if still >= STALL_EPOCHS:      # stuck (a saddle, a dead step size): stop early
                return Run(curve, None, stalled=True, seconds=time.perf_counter() - start)
    return Run(curve, None, seconds=time.perf_counter() - start)


def run_plans(problem: Problem, plans, seeds: int = 5, progress=None) -> list[Entry]:
    """Each plan's runs over seeds 0..seeds-1, in this process."""
    entries = []
    for p in plans:
        entry = p.entry()
        try:
            for seed in range(seeds):
                entry.runs.append(run_once(problem, p.optimizer, seed, p.lr, p.options,
                                           p.budget))
        except ValueError as err:      # not applicable: LM needs squared error, Newton a small n
            entry.error, entry.runs = str(err), []
        if progress:
            progress(entry)
        entries.append(entry)
    return entries


def run_arena(problem: Problem, optimizers, seeds: int = 5, lr: dict | None = None,
              max_epochs: int | None = None, progress=None) -> list[Entry]:
    """One row per contestant (``contestants()``), in this process."""
    plans = [plan(problem, name, lr, max_epochs) for name in optimizers]
    return run_plans(problem, plans, seeds, progress)


# --- momentum against gradient descent at the same effective step --------------------------------
MOMENTUM_BETAS = (0.0, 0.5, 0.8, 0.9)
MOMENTUM_STEPS = (0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0)   # times the problem's tuned GD rate


def momentum_plans(problem: Problem, betas=MOMENTUM_BETAS, steps=None,
                   max_epochs: int | None = None, name: str = "momentum") -> list[Plan]:
    """001's momentum (or ``name="nesterov"``) on a grid of beta and of the effective step
    s = eta / (1 - beta), the step it takes on a steady gradient: eta = s (1 - beta); beta = 0 is
    gradient descent. ``steps`` defaults to MOMENTUM_STEPS times the problem's GD rate."""
    if steps is None:
        steps = [float(f"{f * problem.lr['sgd']:.3g}") for f in MOMENTUM_STEPS]
    plans = []
    for beta in betas:
        for s in steps:
            eta = float(s * (1.0 - beta))
            plans.append(plan(problem, name, {name: eta}, max_epochs,
                              options={"beta": beta}, label=f"beta={beta:g} s={s:g}"))
    return plans


def momentum_table(problem: Problem, plans, entries) -> str:
    """Mean epochs to the criterion by beta (rows) and effective step s = eta/(1-beta)
    (columns), with the runs that failed; the best cell of each row in bold."""
    betas = sorted({p.options["beta"] for p in plans})
    steps = sorted({float(p.label.split("s=")[1]) for p in plans})
    cells = {(p.options["beta"], float(p.label.split("s=")[1])): summary(e)
             for p, e in zip(plans, entries)}
    budget = max(p.budget for p in plans)
    method = "Nesterov" if plans[0].optimizer == "nesterov" else "momentum"
    lines = [f"**{problem.name}**: {method} (001's form), mean epochs until {problem.criterion} "
             f"(budget {budget}; failed runs in parentheses) by beta and effective step "
             f"s = eta / (1 - beta); beta = 0 is gradient descent", "",
             "| beta | " + " | ".join(f"s = {s:g}" for s in steps) + " |",
             "| --- |" + " --- |" * len(steps)]
    for beta in betas:
        row = [cells[beta, s] for s in steps]
        means = [c["mean"] for c in row if c["mean"] is not None and c["reached"] == c["runs"]]
        best = min(means) if means else None
        texts = []
        for c in row:
            failed = c["runs"] - c["reached"]
            text = "-" if c["mean"] is None else f"{c['mean']:.0f}"
            if best is not None and c["mean"] == best and not failed:
                text = f"**{text}**"
            texts.append(text + (f" ({failed})" if failed else ""))
        lines.append(f"| {beta:g} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


# --- reporting ---------------------------------------------------------------------------------
def summary(entry: Entry) -> dict:
    epochs = [r.reached for r in entry.runs if r.reached is not None]
    return {"reached": len(epochs), "runs": len(entry.runs),
            "mean": float(np.mean(epochs)) if epochs else None,
            "std": float(np.std(epochs)) if epochs else None,
            "min": min(epochs) if epochs else None, "max": max(epochs) if epochs else None,
            "diverged": sum(r.diverged for r in entry.runs),
            "stalled": sum(r.stalled for r in entry.runs),
            "seconds": sum(r.seconds for r in entry.runs)}


def table(problem: Problem, entries, max_epochs: int | None = None) -> str:
    """A Markdown table: epochs to the criterion, mean and spread over the runs that reached it,
    and the failures (not reached within the budget; diverged counted apart)."""
    budget = max_epochs or problem.max_epochs
    lines = [f"**{problem.name}**: epochs until {problem.criterion} (budget {budget} epochs)", "",
             "| optimizer | lr | batch | mean epochs | std | min-max | failures | time (s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for e in entries:
        label = e.optimizer + "".join(f" {k}={v:g}" if isinstance(v, float) else f" {k}={v}"
                                      for k, v in e.options.items())
        if e.budget < budget:
            label += f" (budget {e.budget})"
        e = Entry(label, e.lr, e.batch, e.budget, e.runs, e.error)
        if e.error:
            reason = e.error.split(";")[0]
            lines.append(f"| {e.optimizer} | {e.lr:g} | {e.batch} | n/a | | | {reason} | |")
            continue
        s = summary(e)
        failed = s["runs"] - s["reached"]
        why = [f"{s[k]} {k}" for k in ("diverged", "stalled") if s[k]]
        fail = f"{failed}/{s['runs']}" + (f" ({', '.join(why)})" if why else "")
        if s["reached"]:
            lines.append(f"| {e.optimizer} | {e.lr:g} | {e.batch} | {s['mean']:.1f} | "
                         f"{s['std']:.1f} | {s['min']}-{s['max']} | {fail} | {s['seconds']:.1f} |")
        else:
            lines.append(f"| {e.optimizer} | {e.lr:g} | {e.batch} | - | - | - | {fail} | "
                         f"{s['seconds']:.1f} |")
    return "\n".join(lines)


def plot(results, path: Path) -> Path:
    """One panel per problem: each optimizer's median training loss per epoch (log scale), drawn
    while at least half of its runs have not yet met the criterion (runs stop when they do)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.8), squeeze=False)
    colors = plt.get_cmap("tab20").colors
    for ax, (problem, entries) in zip(axes[0], results):
        for i, e in enumerate(entries):
            if e.error or not e.runs:
                continue
            length = max(len(r.curve) for r in e.runs)
            padded = np.full((len(e.runs), length), np.nan)
            for j, r in enumerate(e.runs):
                padded[j, :len(r.curve)] = r.curve
            # the median while at least half of the runs are still going
            going = np.sum(~np.isnan(padded), axis=0) >= (len(e.runs) + 1) // 2
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                median = np.nanmedian(padded[:, going], axis=0)
            ax.plot(np.arange(length)[going], np.maximum(median, 1e-16), color=colors[i % 20],
                    label=e.optimizer, lw=1.3, ls="-" if i < 10 else "--")
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (median over seeds)")
        ax.set_title(f"{problem.name}\nuntil {problem.criterion}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
