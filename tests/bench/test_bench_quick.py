"""The benchmark suite as a smoke test: ``python -m bench.run --quick`` completes and writes its
report. Nothing here asserts anything about speed (speed is what BENCHMARKS.md reports).

The floor and the other implementations are compared only where it keeps the benchmark honest:
they must compute the same step as handgrad, or the timings compare different work.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import handgrad.nn as hnn

REPO = Path(__file__).resolve().parents[2]
# bench/ is a top-level folder of the repository, not part of the installed package: make it
# importable however pytest was started (plain `pytest` does not put the repository on sys.path).
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.floor import FloorAdam, FloorMLP, FloorMomentum, FloorSGD  # noqa: E402
from bench.workloads import sweeps, workloads  # noqa: E402
SIZES = [12, 9, 7, 5]


def test_quick_run_completes_and_writes_its_report(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text()
    results = json.loads(out.with_suffix(".json").read_text())

    for heading in ("## What issue 6 asks", "## Machine and its limits", "## Workloads",
                    "## Optimizer steps alone", "## Scaling", "## Where the time goes"):
        assert heading in text
    assert "## Failures" not in text
    for w in workloads(quick=True):
        assert f"### {w['name']}:" in text or w["kind"] == "optim"
        for impl in w["impls"]:
            runs = results["runs"][w["name"]][impl]
            assert runs and all("error" not in r for r in runs), (w["name"], impl, runs)
            assert runs[0]["maxrss_mib"] > 0
    for s in sweeps(quick=True):
        assert (out.parent / "bench-figures" / f"{s['name']}.png").stat().st_size > 1000
        for impl in s["impls"]:
            values = results["sweep_runs"][s["name"]][impl][0]["values"]
            assert sorted(values) == sorted(str(p) for p in s["points"])
    assert set(results["profiles"]) == {"mnist_mlp", "digits"}
    assert results["limits"]["gemm_flops"] > 0 and results["limits"]["bandwidth"] > 0


def _floor_and_handgrad(rng):
    floor = FloorMLP(SIZES, seed=3, dtype=np.float64)
    model = hnn.MLP(SIZES, activation="relu", output="identity", rng=0, dtype=np.float64)
    model.theta[:] = rng.normal(0.0, 0.5, model.theta.size)
    floor.theta[:] = model.theta  # same layout: W then b, layer by layer
    return floor, model


def test_floor_computes_handgrads_loss_and_gradient(rng):
    floor, model = _floor_and_handgrad(rng)
    x = rng.normal(size=(6, SIZES[0]))
    labels = rng.integers(0, SIZES[-1], 6)
    loss = hnn.get_loss("cross_entropy")
    value = loss.forward(model.forward(x), labels)
    model.zero_grad()
    model.backward(loss.backward())
    assert np.isclose(floor.loss_and_grad(x, labels), value, rtol=1e-12)
    np.testing.assert_allclose(floor.grad, model.grad, rtol=1e-10, atol=1e-12)


def test_floor_optimizers_follow_torch_optim(rng):
    theta0 = rng.normal(size=40)
    grads = [rng.normal(size=40) for _ in range(6)]
    cases = [(FloorSGD, {"lr": 0.3}, torch.optim.SGD, {"lr": 0.3}),
             (FloorMomentum, {"lr": 0.3, "momentum": 0.9}, torch.optim.SGD,
              {"lr": 0.3, "momentum": 0.9}),
             (FloorAdam, {"lr": 0.1}, torch.optim.Adam, {"lr": 0.1})]
    for floor_cls, floor_opts, torch_cls, torch_opts in cases:
        theta, grad = theta0.copy(), np.zeros(40)
        opt = floor_cls(theta, grad, **floor_opts)
        p = torch.nn.Parameter(torch.tensor(theta0))
        reference = torch_cls([p], **torch_opts)
        for g in grads:
            grad[:] = g
            opt.step()
            p.grad = torch.tensor(g)
            reference.step()
        np.testing.assert_allclose(theta, p.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=floor_cls.__name__)


def test_rounds_keep_handgrad_and_pytorch_back_to_back_and_rotate_the_rest():
    from bench.run import round_order

    impls = ["handgrad", "floor", "torch", "sklearn", "handgrad-trainer"]
    orders = [round_order(impls, k) for k in range(8)]
    for k, order in enumerate(orders):
        assert sorted(order) == sorted(impls)
        i, j = order.index("handgrad"), order.index("torch")
        assert abs(i - j) == 1 and (i < j) == (k % 2 == 0)
    assert len({order[0] for order in orders}) == 4  # the pair and each other one lead in turn
    assert round_order(["handgrad", "floor"], 1) == ["floor", "handgrad"]
