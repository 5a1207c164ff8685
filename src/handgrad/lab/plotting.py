"""Figures for the lab: matplotlib's Agg backend (no display needed), one look for every experiment.

PNGs are written at 100 dpi to stay small enough for a README gallery; animations are GIFs written
with Pillow through ``matplotlib.animation``.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation  # noqa: E402
from PIL import Image  # noqa: E402

DPI = 100

# One colour per optimizer, the same in every figure.
COLORS = {
    "gd": "#1f77b4", "sgd": "#1f77b4", "momentum": "#ff7f0e", "nesterov": "#2ca02c",
    "adagrad": "#d62728", "rmsprop": "#9467bd", "adam": "#8c564b", "rprop": "#e377c2",
    "quickprop": "#17becf", "newton": "#000000", "lbfgs": "#7f7f7f",
}

plt.rcParams.update({
    "figure.facecolor": "white", "axes.grid": True, "grid.alpha": 0.25, "axes.titlesize": 11,
    "axes.labelsize": 10, "legend.fontsize": 8, "legend.framealpha": 0.85,
})


def figure(rows: int, cols: int, width: float, height: float, title: str | None = None):
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    if title:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    return fig, axes


def save_png(fig, path: Path | None, rect=(0, 0, 1, 1)) -> Path | None:
    """Write the figure (tight layout within ``rect``, 100 dpi) as a 256-colour PNG and close it.

    ``rect`` leaves room outside the axes, e.g. (0, 0.07, 1, 1) for a legend below them.

    Quantising to an adaptive palette keeps gallery images a few hundred kilobytes at most without
    visible loss (the figures are line art over a few flat colours).
    """
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout(rect=rect)
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=DPI, format="png")
        buffer.seek(0)
        with Image.open(buffer) as image:
            image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT) \
                .save(path, format="PNG", optimize=True)
    plt.close(fig)
    return path


def save_gif(fig, update, frames: int, path: Path | None, fps: int = 12) -> Path | None:
    """Animate ``update(i)`` over ``frames`` frames into a GIF (Pillow) and close the figure."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        anim = animation.FuncAnimation(fig, update, frames=frames, blit=False)
        anim.save(path, writer=animation.PillowWriter(fps=fps), dpi=72)
    plt.close(fig)
    return path


def contours(ax, E, xlim, ylim, log_levels: bool = False, n: int = 200, levels: int = 25,
             cmap: str = "viridis", filled: bool = True):
    """Filled and line contours of E(u, v) over a box; log-spaced levels for steep valleys."""
    u = np.linspace(*xlim, n)
    v = np.linspace(*ylim, n)
    U, V = np.meshgrid(u, v)
    Z = E(U, V)
    if log_levels:
        low = max(float(Z.min()), 1e-3)
        lv = np.logspace(np.log10(low), np.log10(float(Z.max())), levels)
    else:
        lv = np.linspace(float(Z.min()), float(Z.max()), levels)
    if filled:
        ax.contourf(U, V, Z, levels=lv, cmap=cmap, alpha=0.55,
                    norm=matplotlib.colors.LogNorm() if log_levels else None)
        ax.contour(U, V, Z, levels=lv, colors="k", linewidths=0.3, alpha=0.5)
    else:
        # Line contours only: light to draw and to compress, for animations.
        ax.contour(U, V, Z, levels=lv, cmap=cmap, linewidths=0.6, alpha=0.8,
                   norm=matplotlib.colors.LogNorm() if log_levels else None)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    return U, V, Z


def path(ax, points: np.ndarray, color, label: str, marker: str = "o", ms: float = 2.5,
         lw: float = 1.3):
    """A trajectory w^(0), w^(1), ... as a line with dots, and its start as a hollow circle."""
    points = np.asarray(points)
    line, = ax.plot(points[:, 0], points[:, 1], "-", marker=marker, ms=ms, lw=lw, color=color,
                    label=label)
    ax.plot(points[0, 0], points[0, 1], "o", ms=7, mfc="none", mec=color, mew=1.5)
    return line


def legend_below(fig, axes, ncol: int | None = None, height: float = 0.07):
    """One legend for the whole figure, below the axes, so it covers no curve; returns the
    ``rect`` to pass to :func:`save_png`."""
    handles, labels = axes.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=ncol or len(labels), fontsize=9,
               frameon=False)
    return (0, height, 1, 1)
