"""``surface``: a 2-D slice of an MLP's loss surface around a trained solution theta*.

The loss is evaluated on the plane theta* + alpha d_1 + beta d_2 (001, "The Loss Surface"). Two
choices of the directions:

- random, filter-normalised (Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the Loss
  Landscape of Neural Nets"): d ~ N(0, I), then each neuron's incoming weights (a row of W_k, its
  "filter") rescaled to the norm of the same row of theta*, biases set to 0. Without it, the scale
  invariances of a network make slices along different directions incomparable.
- the first two principal components of the optimizer's path theta_0 .. theta_K around theta*,
  the plane the path mostly moved in (Li et al. section 7).

The optimizer's path is projected onto each plane by least squares. In hundreds of dimensions a
random plane is nearly orthogonal to the path, so its projection is a short squiggle: the PCA plane
is where the path can be seen, and the fraction of the path's variance each plane captures is
reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from handgrad.lab import plotting
from handgrad.lab.common import (Outputs, POSITIVE, at_least, check_config, conclude, require,
                                 two_spirals)
from handgrad.nn import MLP, Linear, get_loss
from handgrad.train.closure import BatchClosure


@dataclass
class SurfaceConfig:
    hidden: tuple = (16, 16)         # hidden widths of the tanh MLP (2 inputs, 1 logit output)
    samples: int = 200               # points of the two-spirals data
    optimizer: str = "adam"          # handgrad.optim name of the optimizer whose path is drawn
    lr: float = 0.02                 # its learning rate
    steps: int = 400                 # full-batch steps
    grid: int = 41                   # grid points per axis
    span: float = 1.0                # random plane: alpha, beta in [-span, span]
    seed: int = 0                    # seed of the data, the weights and the directions

    RANGES: ClassVar[dict] = {
        "hidden": at_least(1),
        "samples": at_least(4),
        "lr": POSITIVE,
        "steps": at_least(2),
        "grid": at_least(5),
        "span": POSITIVE,
        "seed": at_least(0),
    }

    def __post_init__(self):
        check_config(self)
        require(len(self.hidden) >= 1 and min(self.hidden) >= 1, "hidden", self.hidden,
                "positive widths, e.g. 16,16")


@dataclass
class Slice:
    name: str
    d1: np.ndarray
    d2: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray              # (len(betas), len(alphas))
    path: np.ndarray              # (K + 1, 2) projected path
    captured: float               # fraction of the path's squared distance from theta* in-plane


@dataclass
class SurfaceResult:
    config: SurfaceConfig
    losses: np.ndarray            # training loss along the path
    accuracy: float
    random: Slice
    pca: Slice
    verdict: str = ""
    files: list = field(default_factory=list)


def filter_normalized_direction(model, theta_star: np.ndarray, rng) -> np.ndarray:
    """A random direction with each row of each W_k scaled to the norm of that row in theta*, and
    zero on the biases (Li et al. 2018)."""
    direction = np.zeros_like(theta_star)
    view = model.theta
    saved = view.copy()
    view[:] = theta_star
    offset = 0
    for _, p in model.named_parameters():
        size = p.size
        if p.decay and p.data.ndim == 2:
            d = rng.standard_normal(p.shape)
            rows = np.linalg.norm(p.data, axis=1, keepdims=True)
            d *= rows / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
            direction[offset:offset + size] = d.ravel()
        offset += size
    view[:] = saved
    return direction


def project(points: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares coordinates (alpha, beta) of each row of ``points`` in span(d1, d2), and the
    fraction of sum ||points||^2 the projection keeps."""
    D = np.stack([d1, d2], axis=1)
    coords, *_ = np.linalg.lstsq(D, points.T, rcond=None)
    inside = (D @ coords).T
    total = float(np.sum(points ** 2))
    return coords.T, float(np.sum(inside ** 2) / total) if total else 0.0


def loss_on_plane(closure, theta_star, d1, d2, alphas, betas) -> np.ndarray:
    model = closure.model
    Z = np.empty((betas.size, alphas.size))
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            model.theta[:] = theta_star + a * d1 + b * d2
            Z[i, j] = closure(backward=False)
    model.theta[:] = theta_star
    return Z


def run_surface(outputs: Outputs | None = None, verbose: bool = True,
                config: SurfaceConfig | None = None) -> SurfaceResult:
    from handgrad.optim import get_optimizer

    cfg = config or SurfaceConfig()
    x, d = two_spirals(cfg.samples, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = MLP((2, *cfg.hidden, 1), activation="tanh", rng=rng, dtype=np.float64)
    closure = BatchClosure(model, get_loss("bce_logits"), x, d)
    opt = get_optimizer(cfg.optimizer, model, lr=cfg.lr)
    path, losses = [model.theta.copy()], []
    for _ in range(cfg.steps):
        losses.append(opt.step(closure))
        path.append(model.theta.copy())
    losses.append(closure(backward=False))
    path = np.array(path)
    theta_star = path[-1].copy()
    accuracy = float(np.mean((model.forward(x) > 0) == (d > 0.5)))
    offsets = path - theta_star

    d1 = filter_normalized_direction(model, theta_star, rng)
    d2 = filter_normalized_direction(model, theta_star, rng)
    grid = np.linspace(-cfg.span, cfg.span, cfg.grid)
    coords, captured = project(offsets, d1, d2)
    random_slice = Slice("random, filter-normalised", d1, d2, grid, grid,
                         loss_on_plane(closure, theta_star, d1, d2, grid, grid), coords, captured)

    # PCA of the path: the two directions of largest spread of theta_k - theta*.
    _, _, Vt = np.linalg.svd(offsets - offsets.mean(axis=0), full_matrices=False)
    p1, p2 = Vt[0], Vt[1]
    coords, captured = project(offsets, p1, p2)
    reach = 1.15 * np.abs(coords).max(axis=0)
    pca_slice = Slice("PCA of the path", p1, p2, np.linspace(-reach[0], reach[0], cfg.grid),
                      np.linspace(-reach[1], reach[1], cfg.grid), None, coords, captured)
    pca_slice.loss = loss_on_plane(closure, theta_star, p1, p2, pca_slice.alphas, pca_slice.betas)

    result = SurfaceResult(cfg, np.array(losses), accuracy, random_slice, pca_slice)
    return conclude(result, _verdict(result, model), outputs, "surface", verbose,
                    plot=lambda png: _plot(result, png),
                    animate=lambda gif: _animate(result, gif))


def _verdict(r: SurfaceResult, model) -> str:
    cfg = r.config
    R = r.random.loss
    centre = R[R.shape[0] // 2, R.shape[1] // 2]
    return "\n".join([
        f"MLP 2-{'-'.join(map(str, cfg.hidden))}-1 (tanh, {model.num_parameters} parameters) "
        f"trained on two spirals by {cfg.optimizer} (eta = {cfg.lr:g}, {cfg.steps} full-batch "
        f"steps): loss {r.losses[0]:.3g} -> {r.losses[-1]:.3g}, training accuracy "
        f"{100 * r.accuracy:.0f}%.",
        f"Random filter-normalised plane: " + (
            "the solution sits in a basin, " if centre <= np.quantile(R, 0.05) else
            f"the solution is not in a basin of this slice (its lowest loss is {R.min():.3g}), ")
        + f"loss {centre:.3g} at the centre, up to {R.max():.3g} on [-{cfg.span:g}, "
        f"{cfg.span:g}]^2; it "
        f"captures {100 * r.random.captured:.2f}% of the path" + (
            f" (random directions in {model.num_parameters} dimensions are nearly orthogonal "
            "to it)." if r.random.captured < 0.05 else "."),
        f"PCA plane of the path: captures {100 * r.pca.captured:.1f}% of it; on this slice the "
        f"path runs from loss {r.losses[0]:.3g} " + (
            f"down to {r.losses[-1]:.3g} at theta*." if r.losses[-1] < r.losses[0] else
            f"to {r.losses[-1]:.3g} at theta*: training did not lower the loss."),
    ])


def _contour(ax, s: Slice, title):
    A, B = np.meshgrid(s.alphas, s.betas)
    # Log-spaced levels: the basin around theta* is orders of magnitude below the rims.
    top = float(np.quantile(s.loss, 0.98))
    low = max(float(s.loss.min()), 1e-4 * top)
    levels = np.geomspace(low, top, 25)
    Z = np.clip(s.loss, low, top)
    norm = plotting.matplotlib.colors.LogNorm(vmin=low, vmax=top)
    cs = ax.contourf(A, B, Z, levels=levels, cmap="viridis", norm=norm)
    ax.contour(A, B, Z, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    ax.set_title(title)
    ax.set_xlabel("alpha (along d_1)")
    ax.set_ylabel("beta (along d_2)")
    return cs


def _colorbar(fig, ax, cs):
    bar = fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.04, label="loss (log scale)")
    ticks = np.geomspace(cs.levels[0], cs.levels[-1], 5)
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{t:.2g}" for t in ticks])


def _plot(r: SurfaceResult, path):
    fig = plotting.plt.figure(figsize=(17, 5.4))
    fig.suptitle("A 2-D slice of an MLP's loss surface around the trained solution",
                 fontsize=13, fontweight="bold")
    ax = fig.add_subplot(1, 3, 1)
    cs = _contour(ax, r.random, f"random filter-normalised directions\n(path projection keeps "
                                f"{100 * r.random.captured:.2f}%)")
    ax.plot(r.random.path[:, 0], r.random.path[:, 1], "-", color="#d62728", lw=1.5,
            label="optimizer path (projected)")
    ax.plot(0, 0, "*", color="gold", mec="k", ms=14, label="theta*")
    ax.legend(loc="upper right", fontsize=8)
    _colorbar(fig, ax, cs)
    ax3 = fig.add_subplot(1, 3, 2, projection="3d")
    A, B = np.meshgrid(r.random.alphas, r.random.betas)
    ax3.plot_surface(A, B, r.random.loss, cmap="viridis", linewidth=0, antialiased=True,
                     alpha=0.95)
    # Few ticks, small labels, set off from the axes: the 3-D axes crowd them otherwise.
    from matplotlib.ticker import MaxNLocator

    for axis in (ax3.xaxis, ax3.yaxis, ax3.zaxis):
        axis.set_major_locator(MaxNLocator(4))
    ax3.tick_params(labelsize=8, pad=1)
    ax3.set_xlabel("alpha", labelpad=6)
    ax3.set_ylabel("beta", labelpad=6)
    ax3.set_zlabel("loss", labelpad=4)
    ax3.set_title("the same slice in 3-D")
    ax = fig.add_subplot(1, 3, 3)
    cs = _contour(ax, r.pca, f"PCA directions of the path\n(projection keeps "
                             f"{100 * r.pca.captured:.1f}%)")
    ax.plot(r.pca.path[:, 0], r.pca.path[:, 1], "-o", color="#d62728", ms=1.5, lw=1.2,
            label=f"{r.config.optimizer} path")
    ax.plot(*r.pca.path[0], "o", ms=8, mfc="none", mec="#d62728", mew=2, label="start")
    ax.plot(0, 0, "*", color="gold", mec="k", ms=14, label="theta*")
    ax.legend(loc="upper right", fontsize=8)
    _colorbar(fig, ax, cs)
    return plotting.save_png(fig, path)


def _animate(r: SurfaceResult, path):
    fig, axes = plotting.figure(1, 1, 5.2, 4.6)
    ax = axes[0, 0]
    _contour(ax, r.pca, "")
    ax.plot(0, 0, "*", color="gold", mec="k", ms=14)
    line, = ax.plot([], [], "-", color="#d62728", lw=1.5)
    dot, = ax.plot([], [], "o", color="#d62728", ms=6)
    stride = max(1, len(r.pca.path) // 60)
    frames = len(r.pca.path[::stride])

    def title(k: int) -> str:
        # Two short lines: one long line is wider than the 5-inch frame and gets cut off.
        return f"{r.config.optimizer} on the PCA slice\nstep {k}, loss {r.losses[k]:.3g}"

    def update(i):
        k = min(i * stride, len(r.pca.path) - 1)
        p = r.pca.path[:k + 1]
        line.set_data(p[:, 0], p[:, 1])
        dot.set_data([p[-1, 0]], [p[-1, 1]])
        ax.set_title(title(k), fontsize=10)
        return [line, dot]

    ax.set_title(title(len(r.pca.path) - 1), fontsize=10)   # tight_layout leaves room for it
    fig.tight_layout()
    return plotting.save_gif(fig, update, frames, path, fps=12)
