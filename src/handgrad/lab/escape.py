"""``escape``: a learning rate above 2 eta_opt escapes a poor local minimum; decaying it then finds
the better one (001, "Issues: 2. The learning rate", "Decaying learning rate").

001: "For complex models such as neural networks the loss function is often not convex. Having
eta > 2 eta_opt can actually help escape local optima. However *always* having eta > 2 eta_opt will
ensure that you never ever actually find a solution", hence "start with a large learning rate ...
gradually reduce it with iterations".

The 1-D function

    E(w) = -A_1 exp(-(w - m_1)^2 / 2 s_1^2) - A_2 exp(-(w - m_2)^2 / 2 s_2^2) + c w^2

has a narrow, shallow minimum near m_1 (the poor one: high curvature E'', so eta_opt = 1/E'' is
small) and a wide, deep one near m_2. Gradient descent w <- w - eta_k E'(w) runs from many random
starts in the poor basin with three rates:

    small     eta_k = eta_small < 2 eta_opt of the poor minimum: converges wherever it starts
    large     eta_k = eta_0 > 2 eta_opt of both minima: stable at neither, never settles
    decay     eta_k = eta_0 e^(-beta k) (001's exponential decay): too large for the poor minimum
              while it is large; by the time it falls below 2 eta_opt of the wide minimum it
              settles there, and it ends smaller than the poor minimum's 2 eta_opt

and the experiment counts the fraction of starts that end in the better minimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import FINITE, Outputs, POSITIVE, at_least, check_config, conclude, require

COLORS = {"small": "#7f7f7f", "large": "#d62728", "decay": "#1f77b4"}


@dataclass
class EscapeConfig:
    eta_small: float = 0.05          # the small constant rate
    eta0: float = 2.0                # the large rate, constant or decayed from
    beta: float = 0.02               # decay: eta_k = eta0 e^(-beta k)
    steps: int = 400                 # gradient steps
    seeds: int = 200                 # random starts
    start_low: float = -1.5          # starts drawn uniformly from [start_low, start_high]
    start_high: float = -0.5         # (the poor minimum's basin by default)
    seed: int = 0                    # seed of the starts

    RANGES: ClassVar[dict] = {
        "eta_small": POSITIVE,
        "eta0": POSITIVE,
        "beta": POSITIVE,
        "steps": at_least(10),
        "seeds": at_least(1),
        "start_low": FINITE,
        "start_high": FINITE,
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        require(self.start_low < self.start_high, "start_high", self.start_high,
                f"above start_low = {self.start_low}")


# The function: a narrow poor well, a wide good one, and a gentle bowl that keeps w bounded.
A1, M1, S1 = 0.6, -1.0, 0.15
A2, M2, S2 = 1.5, 2.0, 1.0
C = 0.05


def E(w):
    return (-A1 * np.exp(-(w - M1) ** 2 / (2 * S1 ** 2))
            - A2 * np.exp(-(w - M2) ** 2 / (2 * S2 ** 2)) + C * w ** 2)


def grad_E(w):
    return (A1 * (w - M1) / S1 ** 2 * np.exp(-(w - M1) ** 2 / (2 * S1 ** 2))
            + A2 * (w - M2) / S2 ** 2 * np.exp(-(w - M2) ** 2 / (2 * S2 ** 2)) + 2 * C * w)


def minima() -> list[tuple[float, float, float]]:
    """(w*, E(w*), E''(w*)) of each local minimum, poor first, found on a fine grid."""
    w = np.linspace(-4.0, 5.0, 90001)
    F = E(w)
    found = []
    for i in np.flatnonzero((F[1:-1] < F[:-2]) & (F[1:-1] < F[2:])) + 1:
        h = 1e-4
        curvature = (grad_E(w[i] + h) - grad_E(w[i] - h)) / (2 * h)
        found.append((float(w[i]), float(F[i]), float(curvature)))
    return sorted(found, key=lambda m: -m[1])


@dataclass
class ScheduleOutcome:
    name: str
    etas: np.ndarray              # eta_k
    paths: np.ndarray             # (steps + 1, seeds)
    good: np.ndarray              # (seeds,) ended within the good minimum's basin and settled

    @property
    def fraction(self) -> float:
        return float(np.mean(self.good))


@dataclass
class EscapeResult:
    config: EscapeConfig
    minima: list                  # [(w*, E, E'')] poor, good
    barrier: float                # the local maximum between them
    outcomes: list[ScheduleOutcome]
    verdict: str = ""
    files: list = field(default_factory=list)

    def outcome(self, name: str) -> ScheduleOutcome:
        return next(o for o in self.outcomes if o.name == name)


def descend(w0: np.ndarray, etas: np.ndarray) -> np.ndarray:
    """w^(k+1) = w^(k) - eta_k E'(w^(k)) (001), every start at once."""
    paths = [w0]
    with np.errstate(over="ignore", invalid="ignore"):   # a huge rate overflows: reported
        for eta in etas:
            paths.append(paths[-1] - eta * grad_E(paths[-1]))
    return np.array(paths)


def run_escape(outputs: Outputs | None = None, verbose: bool = True,
               config: EscapeConfig | None = None) -> EscapeResult:
    cfg = config or EscapeConfig()
    found = minima()
    (poor, _, _), (good, _, _) = found[0], found[-1]
    grid = np.linspace(poor, good, 20001)
    barrier = float(grid[np.argmax(E(grid))])
    w0 = np.random.default_rng(cfg.seed).uniform(cfg.start_low, cfg.start_high, cfg.seeds)
    k = np.arange(cfg.steps)
    schedules = {"small": np.full(cfg.steps, cfg.eta_small), "large": np.full(cfg.steps, cfg.eta0),
                 "decay": cfg.eta0 * np.exp(-cfg.beta * k)}
    outcomes = []
    for name, etas in schedules.items():
        paths = descend(w0, etas)
        # Ended in the good basin and settled: the last tenth of the steps stays within it.
        tail = paths[-max(2, cfg.steps // 10):]
        settled = np.ptp(tail, axis=0) < 1e-3
        outcomes.append(ScheduleOutcome(name, etas, paths, (tail[-1] > barrier) & settled))
    result = EscapeResult(cfg, found, barrier, outcomes)
    return conclude(result, _verdict(result), outputs, "escape", verbose,
                    plot=lambda png: _plot(result, png))


def _relation(eta: float, limits: tuple[float, float]) -> str:
    """Where a rate sits against the two stability limits 2 eta_opt = 2 / E'' (poor, better)."""
    poor, better = limits
    if eta < poor:
        return "< 2 eta_opt of both"
    if eta > better:
        return "> 2 eta_opt of both"
    return "> 2 eta_opt of the poor minimum, < that of the better one"


def _behaviour(r: EscapeResult, o: ScheduleOutcome) -> str:
    """What the runs did, measured: left the poor basin or not, settled or not."""
    if not np.all(np.isfinite(o.paths[-1])):
        return (f"diverges: w overflows from {np.mean(~np.isfinite(o.paths[-1])):.0%} of the "
                "starts")
    in_poor = o.paths[0] < r.barrier
    ever_left = np.any(o.paths > r.barrier, axis=0)
    escaped = float(np.mean(ever_left[in_poor])) if in_poor.any() else 0.0
    tail = o.paths[-max(2, r.config.steps // 10):]
    settled = float(np.mean(np.ptp(tail, axis=0) < 1e-3))
    spread = float(np.ptp(o.paths[-20:], axis=0).mean())
    moves = (f"{escaped:.0%} of the poor-basin starts leave it"
             if in_poor.any() else "no start in the poor basin")
    if settled == 1.0:
        how = "stays where it starts" if escaped == 0 else "escapes, then settles"
    elif settled == 0.0:
        how = ("never settles" if escaped == 0 else "escapes, never settles")
    else:
        how = f"{'escapes; ' if escaped else ''}{settled:.0%} settle"
    return f"{how} ({moves}; spread of the last 20 steps {spread:.2g})"


def _verdict(r: EscapeResult) -> str:
    cfg = r.config
    (wp, Ep, Hp), (wg, Eg, Hg) = r.minima[0], r.minima[-1]
    limits = (2 / Hp, 2 / Hg)
    small, large, decay = (r.outcome(n) for n in ("small", "large", "decay"))
    in_poor = float(np.mean(small.paths[0] < r.barrier))
    below = np.flatnonzero(decay.etas < 2 / Hg)
    if below.size == 0:
        when = f"; eta never falls below {2 / Hg:.2f} in {cfg.steps} steps"
    elif below[0] == 0:
        when = f"; eta_0 is already below {2 / Hg:.2f}"
    else:
        when = f"; eta < {2 / Hg:.2f} from step {below[0]}"
    lines = [
        f"E(w) has a poor minimum at w = {wp:.2f} (E = {Ep:.3f}, E'' = {Hp:.1f}, 2 eta_opt = "
        f"{2 / Hp:.3f}) and a better one at w = {wg:.2f} (E = {Eg:.3f}, E'' = {Hg:.2f}, "
        f"2 eta_opt = {2 / Hg:.2f}). {cfg.seeds} starts in [{cfg.start_low:g}, "
        f"{cfg.start_high:g}] ({100 * in_poor:.0f}% in the poor basin), {cfg.steps} steps; "
        f"fraction that ends settled in the better minimum:",
        f"  small constant eta = {cfg.eta_small:g} ({_relation(cfg.eta_small, limits)})   "
        f"{small.fraction:6.1%}   {_behaviour(r, small)}",
        f"  large constant eta = {cfg.eta0:g} ({_relation(cfg.eta0, limits)})   "
        f"{large.fraction:6.1%}   {_behaviour(r, large)}",
        f"  eta_0 = {cfg.eta0:g} ({_relation(cfg.eta0, limits)}), decayed by e^(-{cfg.beta:g} k)"
        f"   {decay.fraction:6.1%}   {_behaviour(r, decay)}{when}",
        ("The notes' claim holds: " if decay.fraction > max(small.fraction, large.fraction)
         else "The notes' claim does NOT hold here: ")
        + f"the large, decaying rate finds the better minimum from {decay.fraction:.0%} of the "
          f"starts, against {small.fraction:.0%} with the small rate and {large.fraction:.0%} "
          f"with the large constant one.",
    ]
    return "\n".join(lines)


def _plot(r: EscapeResult, path):
    cfg = r.config
    fig, axes = plotting.figure(2, 3, 17, 9, "Escaping a poor local minimum (001): a rate above "
                                             "2 eta_opt, then decay")
    ax = axes[0, 0]
    w = np.linspace(-2.5, 4.5, 800)
    ax.plot(w, E(w), color="k", lw=1.5)
    for (wm, Em, Hm), name in zip((r.minima[0], r.minima[-1]), ("poor", "better")):
        ax.plot(wm, Em, "o", color="k")
        ax.annotate(f"{name} minimum\nE'' = {Hm:.3g}, 2 eta_opt = {2 / Hm:.3g}", (wm, Em),
                    textcoords="offset points", xytext=(0, -34), ha="center", fontsize=8)
    ax.axvspan(cfg.start_low, cfg.start_high, color="0.5", alpha=0.15, label="starts")
    ends = r.outcome("decay").paths[-1]
    ax.plot(ends, E(ends), "v", color=COLORS["decay"], ms=6, label="ends, decayed rate")
    ax.set_ylim(E(w).min() - 0.5, E(w).max() + 0.1)
    ax.set_xlabel("w")
    ax.set_ylabel("E(w)")
    ax.set_title("the function")
    ax.legend(loc="upper right")
    ax = axes[0, 1]
    for o in r.outcomes:
        ax.semilogy(np.arange(o.etas.size), o.etas, color=COLORS[o.name], lw=2, label=o.name)
    (_, _, Hp), (_, _, Hg) = r.minima[0], r.minima[-1]
    ax.axhline(2 / Hp, color="k", ls=":", lw=1)
    ax.text(cfg.steps * 0.98, 2 / Hp * 1.15, "2 eta_opt of the poor minimum", ha="right",
            fontsize=8)
    ax.axhline(2 / Hg, color="k", ls="--", lw=1)
    ax.text(cfg.steps * 0.98, 2 / Hg * 0.8, "2 eta_opt of the better minimum", ha="right",
            va="top", fontsize=8)
    ax.set_xlabel("step k")
    ax.set_ylabel("eta_k")
    ax.set_title("the rates against the two stability limits")
    ax.legend(loc="lower left")
    ax = axes[0, 2]
    names = [o.name for o in r.outcomes]
    bars = ax.bar(names, [o.fraction for o in r.outcomes], color=[COLORS[n] for n in names])
    for bar, o in zip(bars, r.outcomes):
        ax.text(bar.get_x() + bar.get_width() / 2, o.fraction + 0.02, f"{o.fraction:.0%}",
                ha="center", fontsize=10)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("fraction settled in the better minimum")
    ax.set_title(f"over {cfg.seeds} starts")
    shown, first = min(cfg.seeds, 25), min(cfg.steps, 120)
    for ax, o in zip(axes[1], r.outcomes):
        ax.plot(np.arange(first + 1), o.paths[:first + 1, :shown], color=COLORS[o.name], lw=0.7,
                alpha=0.6)
        for wm, _, _ in (r.minima[0], r.minima[-1]):
            ax.axhline(wm, color="k", ls=":", lw=1)
        ax.axhline(r.barrier, color="0.5", lw=0.8)
        ax.set_xlabel("step k")
        ax.set_ylabel("w_k")
        ax.set_title(f"{o.name}: w_k from {shown} starts, first {first} steps\n(dotted: the "
                     f"minima, grey: the barrier between them)", fontsize=10)
    return plotting.save_png(fig, path)
