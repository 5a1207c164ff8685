"""Saving and loading models and checkpoints in a format that never executes code on load.

A file is a safetensors file: named tensors (each parameter as ``<module path>.<name>``, each buffer
likewise, optimizer state under ``optimizer/...``) and a JSON header holding the architecture
(``Module.config()``) and any other JSON state. Loading parses JSON and raw little-endian arrays,
nothing else: no pickle anywhere.

Writes are atomic: the file is written next to its destination, flushed to disk, then renamed over
it, so a crash or kill leaves either the previous file or the new one, never a partial one.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from handgrad.errors import ModelFileError
from handgrad.nn.module import Module
from handgrad.nn.registry import build

FORMAT = "handgrad"
FORMAT_VERSION = 1


# --- atomic files -------------------------------------------------------------------------------
def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(path) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write_bytes` of ``path`` left behind.

    A process killed by SIGKILL mid-write cannot clean up, so its ``.<name>.*.tmp`` stays next
    to ``path`` (which itself is intact). Call this when the file's owner starts again.
    """
    path = Path(path)
    stale = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


# --- nested state <-> tensors + JSON ----------------------------------------------------------------
def split_state(state, prefix: str, tensors: dict) -> object:
    """Move every ndarray of a nested dict/list into ``tensors`` (under a path key) and return the
    JSON-able remainder, with ``{"__tensor__": key}`` where each array was."""
    if isinstance(state, np.ndarray):
        tensors[prefix] = np.ascontiguousarray(state)
        return {"__tensor__": prefix}
    if isinstance(state, dict):
        return {str(k): split_state(v, f"{prefix}/{k}", tensors) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [split_state(v, f"{prefix}/{i}", tensors) for i, v in enumerate(state)]
    if isinstance(state, np.generic):
        return state.item()
    if state is None or isinstance(state, (bool, int, float, str)):
        return state
    raise TypeError(f"cannot save state of type {type(state).__name__} at {prefix}")


def join_state(state, tensors: dict):
    """Inverse of :func:`split_state`."""
    if isinstance(state, dict):
        if set(state) == {"__tensor__"}:
            return tensors[state["__tensor__"]].copy()
        return {k: join_state(v, tensors) for k, v in state.items()}
    if isinstance(state, list):
        return [join_state(v, tensors) for v in state]
    return state


# --- models -------------------------------------------------------------------------------------
def model_tensors(model: Module) -> dict[str, np.ndarray]:
    tensors = {f"param/{name}": np.ascontiguousarray(p.data) for name, p in model.named_parameters()}
    tensors.update({f"buffer/{name}": np.ascontiguousarray(b) for name, b in model.named_buffers()})
    return tensors


def dump(model: Module, extra: dict | None = None, kind: str = "model") -> bytes:
    """A model (and optional JSON/array state in ``extra``) as safetensors bytes."""
    tensors = model_tensors(model)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "kind": kind,
              "architecture": model.config(), "dtype": str(model.dtype),
              "extra": split_state(extra or {}, "extra", tensors)}
    return st_save(tensors, metadata={"handgrad": json.dumps(header)})


def save_model(path, model: Module, metadata: dict | None = None) -> Path:
    """Save architecture and weights (and JSON-able ``metadata``) atomically to ``path``."""
    return atomic_write_bytes(path, dump(model, metadata))


def read(path, kind: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and tensors of a handgrad file, with clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        meta = _metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path} is not a valid handgrad file (truncated or wrong format): "
                             f"{err}") from None
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file but not a handgrad model")
    if kind is not None and meta.get("kind") != kind:
        raise ModelFileError(f"{path} holds a {meta.get('kind')}, expected a {kind}")
    return meta, tensors


def _metadata(data: bytes) -> dict:
    # The safetensors header: 8-byte little-endian length, then JSON with a "__metadata__" entry.
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    text = header.get("__metadata__", {}).get("handgrad")
    if text is None:
        raise ValueError("no handgrad header")
    return json.loads(text)


def restore_weights(model: Module, tensors: dict[str, np.ndarray], source="file") -> None:
    """Copy saved parameters and buffers into ``model`` (in place: theta's views stay valid)."""
    expected = {f"param/{n}": p for n, p in model.named_parameters()}
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise ModelFileError(f"{source} lacks parameters {missing[:3]}: different architecture")
    for key, param in expected.items():
        if tensors[key].shape != param.shape:
            raise ModelFileError(f"{source}: {key} has shape {tensors[key].shape}, the model "
                                 f"expects {param.shape}: different architecture")
        param.data[...] = tensors[key]
    for module_path, module in modules_with_buffers(model):
        for name in module.buffers:
            key = f"buffer/{module_path}{name}"
            if key not in tensors:
                raise ModelFileError(f"{source} lacks buffer {key}: different architecture")
            module.buffers[name] = tensors[key].astype(module.buffers[name].dtype)


def modules_with_buffers(module: Module, prefix: str = ""):
    if getattr(module, "buffers", None):
        yield prefix, module
    for name, child in module.children.items():
        yield from modules_with_buffers(child, f"{prefix}{name}.")


def load_model(path, with_metadata: bool = False):
    """Rebuild a saved model: architecture from JSON, weights from tensors. Executes no code."""
    meta, tensors = read(path)
    try:
        model = build(meta["architecture"], dtype=np.dtype(meta.get("dtype", "float32")))
    except (KeyError, TypeError) as err:
        raise ModelFileError(f"{path}: malformed architecture description ({err})") from None
    restore_weights(model, tensors, source=str(path))
    model.eval()
    if with_metadata:
        return model, join_state(meta.get("extra", {}), tensors)
    return model
