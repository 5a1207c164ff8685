"""BENCHMARKS.md and its plots, written from the results of one run of bench.run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bench.stats import paired_ratios, summary
from bench.workloads import (forward_flops, optimizer_bytes, param_count, roofline, roofline_step,
                             step_flops, sweep_point)

IMPL_TITLES = {"handgrad": "handgrad", "handgrad-trainer": "handgrad Trainer.fit",
               "floor": "minimal NumPy (floor)", "torch": "PyTorch CPU eager",
               "sklearn": "scikit-learn MLPClassifier"}


HOT_PATH = """### What the hot path does

- One flat float32 parameter vector `theta` and one gradient vector `grad`; every weight and bias is a
  view into them. An optimizer step is one compiled loop over the whole vectors (the rule of
  `handgrad.optim.kernels`, built from C as `handgrad.optim._fused`): Adam reads theta, grad, m
  and v once and writes theta, m and v once, where NumPy would make ten passes.
- Every compiled loop is built twice, for AVX2 and for the x86-64 baseline, and the loader picks
  by CPU: Adam's sqrt and division bound its pass at SSE2's four floats an instruction (1.55 ms
  alone on 1.9 M parameters; 0.85 ms with AVX2).
- The optimizer loops run with flush-to-zero: state stuck among subnormal floats (m <- 0.9 m
  rounds back to m for a unit whose gradient went to 0) otherwise sends every later pass down the
  CPU's slow path (a 64-512-512-10 digits epoch 40 -> 83 ms after 30 epochs; flushed, 45 ms).
- Training's backward writes each weight gradient straight into `grad` (`np.matmul(..., out=)`;
  for a single sample the outer product as a broadcast multiply, ~3x faster than BLAS there),
  so there is no `zero_grad` fill, no temporary product and no addition per layer.
- `Linear.forward` computes the notes' z = W x with one sample per column, `(W @ x.T).T`, a view
  with rows as samples: with W stored (out, in) that is BLAS's fastest layout here (about 20% faster
  than `x @ W.T`). `Linear.backward` returns grad_x in the same layout, so an activation's
  elementwise backward never mixes memory orders. Transposes are views, never copies.
- The elementwise passes NumPy makes slowly are one compiled loop each (`handgrad.nn.kernels`):
  the bias add, ReLU's forward (mask and output in one pass) and backward (a select), the
  finiteness check of the input, and the softmax cross-entropy with class indices (loss and
  gradient p - d without a one-hot matrix).
- Mini-batches are contiguous views of the data (no copy of the batch), and there is no per-sample
  Python loop anywhere: each module is a handful of whole-batch calls.
- The input is checked once, at the public boundary (`model(x)`, `fit`); the training step runs
  the unchecked `forward` on batches of data already checked.

The matrix products run at the BLAS rate (at batch 128, 80-90% of the square-GEMM peak); the
optimizer's one pass moves 7 float32 words per parameter (52 MB for workload 1), part of them
from the 32 MB last-level cache; what is left is elementwise work (ReLU, loss, bias) and, for small
networks, Python's per-call cost. Training backpropagates in the mode
`model.grad_mode(accumulate=False, needs_grad_x=False)`: gradients are set rather than zeroed and
added, and the first layer skips its input gradient (by default `backward` accumulates and returns
grad_x, as the Module protocol says).
"""


# --- formatting ---------------------------------------------------------------------------------
def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_flops(flops: float) -> str:
    return f"{flops / 1e9:.3f} GFLOP" if flops >= 1e8 else f"{flops / 1e6:.3f} MFLOP"


def fmt_summary(s: dict | None, fmt=fmt_time) -> str:
    if s is None:
        return "-"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} [{fmt(s['min'])} - {fmt(s['max'])}]"


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}x"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --- extracting per-round values ----------------------------------------------------------------
def round_values(runs: list, key=None) -> list:
    """One value per round (None where the worker failed): the median of its repetitions."""
    values = []
    for result in runs:
        if "error" in result:
            values.append(None)
        elif key is None:
            values.append(float(np.median(result["values"])))
        else:
            values.append(result["values"].get(key))
    return values


def maxrss(runs: list) -> list:
    return [r.get("maxrss_mib") if "error" not in r else None for r in runs]


# --- the report ---------------------------------------------------------------------------------
class Report:
    def __init__(self, results: dict, figures: Path, md_path: Path):
        self.r = results
        self.limits = results["limits"]
        self.figures = figures
        self.md_path = md_path
        self.criteria: list[list[str]] = []

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.md_path.parent)

    def _values(self, wname, impl, key=None):
        return round_values(self.r["runs"][wname].get(impl, []), key)

    def write(self) -> str:
        parts = [self.header(), self.summary_section(), self.machine_section(),
                 self.workload_sections(), self.optimizer_section(), self.sweep_section(),
                 self.profile_section(), self.method_section(), self.failures_section()]
        text = "\n\n".join(p for p in parts if p) + "\n"
        self.md_path.write_text(text)
        return text

    def header(self) -> str:
        r = self.r
        m = r["machine"]
        mode = ("**Quick mode** (`--quick`): a smoke test on shrunken workloads; these figures "
                "say nothing about speed.\n\n" if r["quick"] else "")
        loads = [la for la in r.get("load_average", []) if la]
        busy = ""
        if loads:
            shown = " and ".join(f"{la[0]:.1f}" for la in loads)
            busy = (f" The machine's 1-minute load average was {shown} at the start and end of "
                    f"the run ({m['cores']} cores; other work on it slows every implementation, "
                    "multi-threaded BLAS and OpenMP most).")
        criteria_rounds = r.get("criteria_rounds", r["rounds"])
        extra = (f"; {criteria_rounds} for workloads 1 and 2, on which the criteria below are "
                 "judged" if criteria_rounds > r["rounds"] else "")
        return (f"# Benchmarks\n\n{mode}Generated by `make bench` (`python -m bench.run"
                f"{' --quick' if r['quick'] else ''}`) on {r['started']} at commit "
                f"`{m['commit']}`; the whole run took {r['elapsed'] / 60:.1f} min "
                f"({r['rounds']} round{'s' if r['rounds'] > 1 else ''}{extra}). Every figure is a "
                f"median over fresh processes with its "
                f"[min - max]; implementations alternate within each round, and every ratio is "
                f"taken pair by pair within a round before its median (handgrad and PyTorch always "
                f"run back to back, in alternating order).{busy}")

    # --- the criteria -----------------------------------------------------------------
    def summary_section(self) -> str:
        runs = self.r["runs"]
        rows = []

        def criterion(text, target, ratio_summary, limit, higher_is_better=False):
            if ratio_summary is None:
                rows.append([text, target, "not measured", "-"])
                return
            value = ratio_summary["median"]
            met = value >= limit if higher_is_better else value <= limit
            rows.append([text, target, fmt_summary(ratio_summary, fmt_ratio),
                         "yes" if met else "**no**"])

        if "mnist_mlp" in runs:
            hg = self._values("mnist_mlp", "handgrad")
            for other, limit in (("torch", 0.65), ("sklearn", 0.5), ("floor", 1.0)):
                criterion(f"workload 1 epoch: handgrad / {IMPL_TITLES[other]}",
                          f"<= {limit:.2f}", paired_ratios(hg, self._values("mnist_mlp", other)),
                          limit)
            w = self.workload("mnist_mlp")
            roof = roofline(w, self.limits)
            criterion("workload 1: roofline time / handgrad's time", ">= 0.70",
                      summary([roof / v for v in hg if v]), 0.7, higher_is_better=True)
            mem = [r.get("maxrss_mib") for r in runs["mnist_mlp"].get("handgrad", [])]
            criterion("workload 1 peak memory: handgrad / PyTorch", "<= 0.60",
                      paired_ratios(mem, maxrss(runs["mnist_mlp"].get("torch", []))), 0.6)
        if "digits" in runs:
            hg = self._values("digits", "handgrad")
            for other, limit in (("torch", 0.3), ("sklearn", 0.5)):
                criterion(f"workload 2 step: handgrad / {IMPL_TITLES[other]}", f"<= {limit:.2f}",
                          paired_ratios(hg, self._values("digits", other)), limit)
        self.criteria = rows
        return "## What issue 6 asks, and what this run measured\n\n" + table(
            ["criterion", "target", "measured (median [min - max] of paired ratios)", "met"], rows)

    def workload(self, name):
        return next(w for w in self.r["workloads"] if w["name"] == name)

    # --- machine --------------------------------------------------------------------------------
    def machine_section(self) -> str:
        m, lim = self.r["machine"], self.limits
        blas = "; ".join(f"{b['internal_api']} {b.get('version') or ''} "
                         f"({b.get('architecture') or '-'} kernel, {b['num_threads']} threads)"
                         for b in m["numpy_blas"] if b["internal_api"] == "openblas")
        env = ", ".join(f"{k}={v}" for k, v in m["openblas_env"].items() if v is not None) \
            or "none set"
        versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        gemm = ", ".join(f"{n}: {rate / 1e9:.0f}" for n, rate in lim["gemm_by_size"].items())
        bw = ", ".join(f"{k}: {v / 1e9:.1f}" for k, v in lim["bandwidth_by_kind"].items())
        per_impl = self.blas_per_impl()
        env_note = ("quick mode runs its workers single-threaded" if self.r["quick"]
                    else "the environment was left as it is")
        return (
            "## Machine and its limits (measured in this run)\n\n"
            f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_gib']:.0f} GiB; {m['platform']}; "
            f"Python {m['python']}\n- Versions: {versions}\n"
            f"- NumPy's BLAS (threadpoolctl): {blas}\n- BLAS per implementation: {per_impl}\n"
            f"- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE / thread variables: {env} ({env_note})\n"
            f"- Peak float32 GEMM: **{lim['gemm_flops'] / 1e9:.0f} GFLOP/s** (square n x n, "
            f"GFLOP/s by n: {gemm}; best of the measurements before and after the workloads)\n"
            f"- Peak memory bandwidth: **{lim['bandwidth'] / 1e9:.1f} GB/s** (streaming, GB/s: "
            f"{bw})\n\n"
            "The roofline time of a workload is its matrix-product FLOPs at the peak GEMM rate "
            "plus its optimizer's memory traffic (SGD 3, momentum 5, Adam 7 float32 words per "
            "parameter per step) at the peak bandwidth; elementwise work is not counted, so it "
            "is a bound no implementation reaches.")

    def blas_per_impl(self) -> str:
        seen = {}
        for by_impl in self.r["runs"].values():
            for impl, runs in by_impl.items():
                for result in runs:
                    if "error" in result or impl in seen:
                        continue
                    libs = [f"{b['internal_api']} {b.get('version') or ''}".strip()
                            + (f" {b['architecture']}" if b.get("architecture") else "")
                            for b in result.get("blas", [])]
                    if "torch_blas" in result.get("info", {}):
                        libs.append(f"torch BLAS_INFO={result['info']['torch_blas']}")
                    seen[impl] = ", ".join(dict.fromkeys(libs))
        return "; ".join(f"{IMPL_TITLES.get(k, k)}: {v}" for k, v in seen.items())

    # --- workloads --------------------------------------------------------------------------------
    def workload_sections(self) -> str:
        out = ["## Workloads"]
        for w in self.r["workloads"]:
            if w["kind"] in ("train", "infer") and w["name"] in self.r["runs"]:
                out.append(self.workload_table(w))
        return "\n\n".join(out)

    def workload_table(self, w) -> str:
        runs = self.r["runs"][w["name"]]
        hg = self._values(w["name"], "handgrad")
        roof = roofline(w, self.limits)
        train = w["kind"] == "train"
        header = ["implementation", "epoch" if train else "pass over the data"]
        header += ["per step"] if train else ["samples/s"]
        header += ["handgrad / this (paired)", "roofline / this"]
        if w.get("memory"):
            header.append("peak memory (maxrss)")
        rows = []
        for impl, impl_runs in runs.items():
            values = round_values(impl_runs)
            s = summary(values)
            row = [IMPL_TITLES.get(impl, impl), fmt_summary(s)]
            if train:
                steps = next((r["steps"] for r in impl_runs if "steps" in r), None)
                row.append(fmt_summary(summary([v / steps for v in values if v]))
                           if steps else "-")
            else:
                row.append(f"{w['samples'] / s['median']:,.0f}" if s else "-")
            ratio = paired_ratios(hg, values) if impl != "handgrad" else None
            row.append(fmt_summary(ratio, fmt_ratio) if ratio else "-")
            row.append(fmt_ratio(roof / s["median"]) if s and roof else "-")
            if w.get("memory"):
                row.append(fmt_summary(summary(maxrss(impl_runs)), lambda v: f"{v:.0f} MiB"))
            rows.append(row)
        flops = (step_flops(w["sizes"], w["batch"]) if train
                 else forward_flops(w["sizes"], w["samples"]))
        model = (f"{fmt_flops(flops)} per step of {w['batch']}" if train
                 else f"{fmt_flops(flops)} per pass")
        note = ""
        if "sklearn" in runs:
            note = (" scikit-learn's time comes from `fit(max_iter=epochs)` divided by the epochs "
                    "(warm_start, no shuffling, alpha=0)." if train else
                    " scikit-learn's `predict_proba` takes the whole array at once.")
        hg_info = next((r.get("info", {}) for r in runs.get("handgrad", []) if "info" in r), {})
        if train and hg_info.get("optimizer"):
            note += f" handgrad's optimizer: `{hg_info['optimizer']}`."
        return (f"### {w['name']}: {w['title']}\n\n{table(header, rows)}\n\n"
                f"Roofline: {fmt_time(roof)} ({model}, {param_count(w['sizes']):,} parameters)."
                + note)

    # --- optimizers -------------------------------------------------------------------------------
    def optimizer_section(self) -> str:
        w = next((w for w in self.r["workloads"] if w["kind"] == "optim"), None)
        if w is None or w["name"] not in self.r["runs"]:
            return ""
        runs = self.r["runs"][w["name"]]
        header = ["optimizer", "roofline (traffic at peak bandwidth)"] + \
                 [IMPL_TITLES.get(i, i) for i in runs]
        rows = []
        for opt in w["optimizers"]:
            roof = optimizer_bytes(w["sizes"], opt) / self.limits["bandwidth"]
            row = [opt, fmt_time(roof)]
            for impl, impl_runs in runs.items():
                row.append(fmt_summary(summary(round_values(impl_runs, opt))))
            rows.append(row)
        sources = {impl: next((r["info"] for r in rs if "info" in r), {}) for impl, rs in
                   runs.items()}
        src = "; ".join(f"{IMPL_TITLES.get(i, i)}: {info.get('adam', '-')}"
                        for i, info in sources.items())
        return (f"## Optimizer steps alone\n\n{w['title']}; time per step.\n\n"
                f"{table(header, rows)}\n\nAdam implementations: {src}.")

    # --- sweeps -----------------------------------------------------------------------------------
    def sweep_section(self) -> str:
        out = ["## Scaling\n\nEach point is a fresh model in one process per implementation: two "
               "untimed steps, then the median of 12 timed ones, each on a new batch (one batch "
               "repeated is memorised within a few steps at small sizes, and the subnormal "
               "gradients that follow measure the CPU's slow path, not the trainer)."]
        for sweep in self.r.get("sweeps", []):
            runs = self.r["sweep_runs"].get(sweep["name"])
            if not runs:
                continue
            points = sweep["points"]
            header = [sweep["axis"], "roofline"] + [IMPL_TITLES.get(i, i) for i in runs] + \
                     ["handgrad / PyTorch"]
            rows, series = [], {}
            for impl, impl_runs in runs.items():
                series[impl] = [summary(round_values(impl_runs, str(p))) for p in points]
            roofs = [roofline_step(*sweep_point(sweep, p), "adam", self.limits) for p in points]
            for k, p in enumerate(points):
                row = [str(p), fmt_time(roofs[k])]
                row += [fmt_summary(series[i][k]) for i in runs]
                hg, th = series.get("handgrad", [None] * len(points))[k], \
                    series.get("torch", [None] * len(points))[k]
                row.append(fmt_ratio(hg["median"] / th["median"]) if hg and th else "-")
                rows.append(row)
            figure = self.plot_sweep(sweep, points, series, roofs)
            out.append(f"### {sweep['title']}\n\n![{sweep['name']}]({self.rel(figure)})\n\n"
                       + table(header, rows))
        return "\n\n".join(out) if len(out) > 1 else ""

    def plot_sweep(self, sweep, points, series, roofs) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        per_sample = sweep["axis"] == "batch"
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        scale = [sweep_point(sweep, p)[1] if per_sample else 1 for p in points]
        for impl, values in series.items():
            xs = [p for p, v in zip(points, values) if v]
            ys = [v["median"] / s for v, s in zip(values, scale) if v]
            lo = [v["min"] / s for v, s in zip(values, scale) if v]
            hi = [v["max"] / s for v, s in zip(values, scale) if v]
            ax.plot(xs, ys, marker="o", label=IMPL_TITLES.get(impl, impl))
            ax.fill_between(xs, lo, hi, alpha=0.2)
        ax.plot(points, [r / s for r, s in zip(roofs, scale)], "k--",
                label="roofline (FLOPs at peak + Adam traffic)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden width w" if sweep["axis"] == "width" else "batch size")
        ax.set_ylabel("seconds per sample" if per_sample else "seconds per step")
        ax.set_title(sweep["title"], fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        self.figures.mkdir(parents=True, exist_ok=True)
        path = self.figures / f"{sweep['name']}.png"
        fig.savefig(path)
        plt.close(fig)
        return path

    # --- profile ----------------------------------------------------------------------------------
    def profile_section(self) -> str:
        profiles = self.r.get("profiles", {})
        if not profiles:
            return ""
        out = ["## Where the time goes: a profile of one handgrad step"]
        for name, prof in profiles.items():
            if "error" in prof:
                out.append(f"### {name}\n\nprofile failed: {prof['error']}")
                continue
            values = prof["values"]
            total = values["step (total)"]
            rows = [[label, fmt_time(seconds), f"{100 * seconds / total:.0f}%"]
                    for label, seconds in values.items() if label != "step (total)"]
            rows.append(["**whole step**", f"**{fmt_time(total)}**", "100%"])
            at_peak = prof["flops"] / self.limits["gemm_flops"]
            out.append(f"### {name} (batch {prof['batch']}, {prof['dtype']}, optimizer: "
                       f"{prof['info']['optimizer']})\n\n"
                       + table(["phase", "mean per step", "share"], rows)
                       + f"\n\nThe step's {fmt_flops(prof['flops'])} of matrix products "
                         f"would take {fmt_time(at_peak)} at the peak GEMM rate.")
        out.append(self.where_time_goes(profiles))
        out.append(HOT_PATH)
        return "\n\n".join(out)

    def where_time_goes(self, profiles) -> str:
        sentences = []
        for name, prof in profiles.items():
            if "error" in prof:
                continue
            v = prof["values"]
            total = v["step (total)"]
            linear = sum(s for k, s in v.items() if "Linear" in k)
            act = sum(s for k, s in v.items() if "ReLU" in k)
            loss = v.get("loss forward", 0) + v.get("loss backward", 0)
            other = v.get("container forward overhead", 0)
            opt = v.get("optimizer step", 0)
            at_peak = prof["flops"] / self.limits["gemm_flops"]
            sentences.append(
                f"In {name}, one step takes {fmt_time(total)}: the Linear layers (their matrix "
                f"products) {fmt_time(linear)} ({100 * linear / total:.0f}%, against "
                f"{fmt_time(at_peak)} for the same FLOPs at peak), the optimizer "
                f"{fmt_time(opt)} ({100 * opt / total:.0f}%), the ReLUs {fmt_time(act)}, the "
                f"loss {fmt_time(loss)}, the container's own loop {fmt_time(other)}.")
        return "### In short\n\n" + " ".join(sentences)

    # --- method -----------------------------------------------------------------------------------
    def method_section(self) -> str:
        return (
            "## Method\n\n"
            "- Each measurement runs in a fresh process (`python -m bench.worker`), one per "
            "implementation, workload and round; within a round the implementations alternate, "
            "their order rotated each round, handgrad and PyTorch kept back to back (which of "
            "the two goes first alternates) so that the machine's slow episodes tend to fall on "
            "both of that pair or on neither. Each process builds its data from a fixed seed "
            "(synthetic standard-normal float32 inputs of MNIST's shape with labels from a random "
            "linear teacher; scikit-learn's bundled digits), warms up on a few batches, then "
            "times. Peak memory is the worker's own `ru_maxrss` at its end.\n"
            "- All implementations use float32, the same layer sizes, ReLU, softmax "
            "cross-entropy on logits, contiguous mini-batches in a fixed order (no shuffling), "
            "Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8) unless stated. handgrad is timed through "
            "its public API (`forward`, `loss.forward`, `backward` in the mode "
            "`grad_mode(accumulate=False, needs_grad_x=False)`, `opt.step()`), as `Trainer.fit` "
            "runs a step; "
            "PyTorch with its CPU defaults (eager, `torch.optim`, its own thread count); "
            "scikit-learn's `MLPClassifier` with alpha=0, no shuffling, `warm_start`.\n"
            "- The floor (`bench/floor.py`) is a minimal NumPy loop for this one architecture: "
            "buffers allocated once, `out=` products, in-place bias and ReLU, gradients written "
            "straight into one flat vector, in-place flat optimizers.\n"
            "- Timings on a shared 2-core machine are noisy: the ranges show it, and the "
            "criteria use the median of ratios paired within each round. Multi-threaded BLAS "
            "and OpenMP suffer most when another process takes a core (their workers wait on each "
            "other), so a busy machine can slow PyTorch and NumPy's products several times over.\n"
            "- Work that differs: none of the implementations computes the gradient with respect "
            "to the input data in training (handgrad's `needs_grad_x=False`); handgrad and the "
            "floor both write the gradients in place rather than zeroing and accumulating.")

    def failures_section(self) -> str:
        failures = []
        skipped = self.r.get("skipped", [])
        if skipped:
            failures.append(f"- The {self.r['budget_minutes']:g}-minute time budget was reached; "
                            f"{len(skipped)} measurement(s) were not started: "
                            + ", ".join(skipped))
        for wname, by_impl in list(self.r["runs"].items()) + list(self.r["sweep_runs"].items()):
            for impl, runs in by_impl.items():
                for k, result in enumerate(runs):
                    if "error" in result:
                        failures.append(f"- {wname} / {impl} / round {k + 1}: {result['error']}")
        return "## Failures and omissions\n\n" + "\n".join(failures) if failures else ""
