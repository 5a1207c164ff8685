"""``handgrad info MODEL``: what a model (or checkpoint) file holds.

Prints the architecture, the parameter count, the stored metadata (task, classes, features, the data
and settings it was trained with) and, when the run's metrics.json sits next to the file, the test
metrics. For a checkpoint it also prints where training stands (epoch, step).
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from pathlib import Path

from handgrad import io
from handgrad.cli.evaluate import format_report


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="describe a saved model or checkpoint",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a .safetensors file written by handgrad")
    p.set_defaults(func=run)


def printable(text: str) -> str:
    """``text`` with every control or format character escaped (``\\x1b``, ``\\u202e``): names
    from a file must not move the cursor, clear the screen or reorder what a terminal shows."""
    return "".join(c if c == "\n" or unicodedata.category(c)[0] != "C"
                   else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                   for c in text)


def describe(path: Path) -> str:
    """The description ``info`` prints; the file is loaded and checked as ``predict`` would."""
    header, model, state = io.load(path)
    kind = header["kind"]
    lines = [f"{path}: handgrad {kind} (format version {header['version']})",
             f"parameters: {model.num_parameters} ({header['dtype']})", "architecture:",
             "  " + repr(model).replace("\n", "\n  ")]
    metadata = state
    if kind == "checkpoint":
        trainer = state["trainer"]
        lines.append(f"training state: {trainer.get('epoch')} epochs done, step "
                     f"{trainer.get('step_in_epoch')} of the next, {trainer.get('global_step')} "
                     "steps")
        metadata = state.get("metadata", {})
    lines += describe_metadata(metadata)
    lines += metrics_lines(path, metadata)
    return printable("\n".join(lines))


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
    if task:  # a model written by handgrad train (a checkpoint keeps only the settings)
        lines.append("input standardisation: " + ("fitted on the training split"
                                                  if meta.get("scaler") is not None else "none"))
    if meta.get("target_scale"):
        ts = meta["target_scale"]
        lines.append(f"target scaling: mean {_numbers(ts['mean'])}, std {_numbers(ts['std'])}")
    settings = meta.get("settings") or {}
    if settings:
        lines.append("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())
                                               if v is not None))
    return lines


def _numbers(value) -> str:
    values = value if isinstance(value, list) else [value]
    return ", ".join(f"{float(v):.6g}" for v in values)


def metrics_lines(path: Path, metadata: dict) -> list[str]:
    report = test_metrics(path)
    if report is None:
        return []
    classes = [str(c) for c in metadata.get("classes", [])]
    try:
        text = format_report(report, classes)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        return [f"test metrics: metrics.json beside the file cannot be read ({err})"]
    return ["test metrics (metrics.json):",
            *("  " + line if line else line for line in text.splitlines())]


def test_metrics(path: Path):
    """The test metrics of the run, from metrics.json beside the model file, if present."""
    summary = path.parent / "metrics.json"
    if not summary.is_file():
        return None
    try:
        report = json.loads(summary.read_text(encoding="utf-8")).get("test")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return report if isinstance(report, dict) else None


def run(args) -> int:
    print(describe(args.model))
    return 0
