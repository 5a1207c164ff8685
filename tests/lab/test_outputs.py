"""Every experiment writes its PNG (and its GIF where it has one) at a small size, and says what it
found."""

import pytest
from PIL import Image

from handgrad import lab

SMALL = {
    "explain": dict(sizes=(2, 3, 2)),
    "quadratic": dict(factors=(0.5, 2.2), plot_steps=8),
    "trajectories": dict(functions=("quadratic", "saddle"), optimizers=("gd", "adam"), steps=20,
                         frame_every=10),
    "perceptron-vs-backprop": dict(epochs=500),
    "hessian": dict(sizes=(1, 3, 1), samples=16, sweep_points=5, steps=100, bisections=2),
    "saddle": dict(hidden=2, samples=30, optimizers=("gd", "rprop"), steps=40),
    "decay": dict(epochs=6, samples=32, schedules=("constant", "step", "plateau")),
    "surface": dict(hidden=(4,), samples=40, steps=20, grid=7),
    "vanishing": dict(depth=3, width=4, epochs=1, samples=16),
    "cost": dict(epochs=30),
    "convergence-rates": dict(steps=20, convex_steps=200),
    "batching": dict(batch_sizes=(1, 8), samples=32, epochs=2, draws=10),
    "overfitting": dict(samples=6, val_samples=10, hidden=4, steps=100, patience=2),
    "escape": dict(seeds=5, steps=40),
    "newton-fails": dict(grid=6, steps=5, net_starts=1, net_steps=3, samples=10),
    "pretraining": dict(hidden=(4, 4), samples=40, epochs=2, pretrain_epochs=1),
}


@pytest.mark.parametrize("name", sorted(lab.EXPERIMENTS))
def test_experiment_writes_its_figures(name, tmp_path):
    assert set(SMALL) == set(lab.EXPERIMENTS)
    result = lab.run(name, out_dir=tmp_path, gif=True, verbose=False, **SMALL[name])
    png = tmp_path / f"{name}.png"
    assert png in result.files and png.exists()
    with Image.open(png) as image:
        assert image.size[0] >= 600 and image.size[1] >= 300
    gif = tmp_path / f"{name}.gif"
    assert gif.exists() == lab.EXPERIMENTS[name].animated
    if gif.exists():
        with Image.open(gif) as image:
            assert image.n_frames > 1
    assert isinstance(result.verdict, str) and len(result.verdict) > 40
