"""``handgrad info MODEL``: what a model (or checkpoint) file holds.

Prints the architecture, the parameter count, the stored metadata (task, classes, features, the data
and settings it was trained with) and, when the run's metrics.json sits next to the file, the test
metrics. For a checkpoint it also prints where training stands (epoch, step).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.cli.evaluate import format_report
from handgrad.errors import ModelFileError
from handgrad.nn.registry import build


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="describe a saved model or checkpoint",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a .safetensors file written by handgrad")
    p.set_defaults(func=run)


def describe(path: Path) -> str:
    header, tensors = io.read(path)
    try:
        model = build(header["architecture"], dtype=np.dtype(header.get("dtype", "float32")))
    except (KeyError, TypeError) as err:
        raise ModelFileError(f"{path}: malformed architecture description ({err})") from None
    extra = io.join_state(header.get("extra", {}), tensors)
    kind = header.get("kind", "model")
    lines = [f"{path}: handgrad {kind} (format version {header.get('version')})",
             f"parameters: {model.num_parameters} ({header.get('dtype')})", "architecture:",
             "  " + repr(model).replace("\n", "\n  ")]
    if kind == "checkpoint":
        state = extra.get("trainer", {})
        lines.append(f"training state: {state.get('epoch')} epochs done, step "
                     f"{state.get('step_in_epoch')} of the next, {state.get('global_step')} steps")
        extra = extra.get("metadata", {})
    lines += describe_metadata(extra)
    report = test_metrics(path)
    if report is not None:
        classes = [str(c) for c in extra.get("classes", [])]
        lines += ["test metrics (metrics.json):",
                  *("  " + line if line else line
                    for line in format_report(report, classes).splitlines())]
    return "\n".join(lines)


def describe_metadata(meta: dict) -> list[str]:
    if not meta:
        return ["metadata: none stored (a checkpoint; the run's model file has it)"]
    lines = []
    task = meta.get("task")
    if task:
        lines.append(f"task: {task['kind']}, loss {task['loss']}, output {task['output']}")
    if meta.get("classes"):
        lines.append(f"classes ({len(meta['classes'])}): {', '.join(meta['classes'])}")
    features = meta.get("feature_names") or []
    if features:
        shown = ", ".join(features[:10]) + (" ..." if len(features) > 10 else "")
        lines.append(f"features ({len(features)}): {shown}")
    if meta.get("target_name"):
        lines.append(f"target: {meta['target_name']}")
    if meta.get("data"):
        lines.append(f"trained on: {meta['data']}")
    lines.append("input standardisation: " + ("fitted on the training split"
                                              if meta.get("scaler") is not None else "none"))
    if meta.get("target_scale"):
        ts = meta["target_scale"]
        lines.append(f"target scaling: mean {ts['mean']:.6g}, std {ts['std']:.6g}")
    settings = meta.get("settings") or {}
    if settings:
        lines.append("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())
                                               if v is not None))
    return lines


def test_metrics(path: Path):
    """The test metrics of the run, from metrics.json beside the model file, if present."""
    summary = path.parent / "metrics.json"
    if not summary.is_file():
        return None
    try:
        return json.loads(summary.read_text()).get("test")
    except json.JSONDecodeError:
        return None


def run(args) -> int:
    print(describe(args.model))
    return 0
