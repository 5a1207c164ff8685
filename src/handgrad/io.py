"""Saving and loading models and checkpoints in a format that never executes code on load.

A file is a safetensors file: named tensors (``param/<module path>.<name>``, ``buffer/...``, and
``extra/...`` for arrays of any nested state) and a JSON header holding the architecture
(``Module.config()``), the dtype and the JSON part of the state, where ``{"__tensor__": name}``
stands for an array. Loading parses JSON and raw little-endian arrays, nothing else: no pickle.

Loading trusts nothing in the file. Before anything is allocated, the container is checked
(:mod:`handgrad.safetensors_reader`) and the parameters and buffers the architecture declares are
compared with the stored tensors (:mod:`handgrad.model_checks`): names, shapes, dtypes, the memory
the model needs. Then the values (finite weights) and, for models, the metadata ``predict`` and
``evaluate`` use (task, classes, features, standardisation). Every failure is a ModelFileError that
names the file.

Writes are atomic: the file is written next to its destination under a name that carries the
writer's pid, flushed to disk, then renamed over it, so a crash or kill leaves either the previous
file or the new one, never a partial one; a full disk leaves the previous file and a
:class:`FileWriteError` that says so.
"""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import re
import secrets
from pathlib import Path

import numpy as np
from safetensors.numpy import save as st_save

from handgrad.errors import HandgradError, ModelFileError
from handgrad.model_checks import Declared, check_metadata, declared_tensors
from handgrad.nn.module import Module, Snapshot
from handgrad.nn.registry import build
from handgrad.safetensors_reader import fail, parse_json, read_container

FORMAT = "handgrad"
FORMAT_VERSION = 1
KINDS = ("model", "checkpoint")
MODEL_DTYPES = ("float32", "float64")


class FileWriteError(HandgradError, OSError):
    """A file could not be written (the disk is full, the folder is read-only, ...). The previous
    file at that path, if any, is unchanged. ``errno`` is the operating system's (ENOSPC: full)."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


# --- atomic files -------------------------------------------------------------------------------
def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    The file gets the permissions a newly created file gets (0666 minus the umask), or keeps those
    of the file it replaces. Raises FileWriteError (naming the file) when the disk is full or the
    folder cannot be written; the previous file is then unchanged and no temporary file is left.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    except OSError as err:
        raise _write_error(path, err) from None
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _write_error(path, err) from None
        raise
    _fsync_folder(path.parent)
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _create_temp(path: Path) -> tuple[int, str]:
    # O_CREAT with 0666 lets the kernel apply the umask, as for any new file (mkstemp's 0600 made
    # every model private to its owner).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{_owner()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        os.fchmod(fd, os.stat(path).st_mode & 0o7777)
    except FileNotFoundError:
        pass  # a new file: the umask's permissions stay
    return fd, tmp


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after it keeps the new file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a folder that cannot be opened (some network file systems): the rename stands
    try:
        os.fsync(fd)
    except OSError:
        pass  # folders that do not support fsync: nothing more can be done
    finally:
        os.close(fd)


def _write_error(path: Path, err: OSError) -> FileWriteError:
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        message = (f"cannot write {path}: the disk is full (no space left on the device); the "
                   f"previous {path.name}, if any, is unchanged: free some space and run again")
    else:
        message = f"cannot write {path}: {err.strerror or err}"
    return FileWriteError(err.errno, message)


# Temporary names carry their writer: ".<name>.<pid>-<start time>.<random>.tmp". A temp is stale
# when no process with that pid runs, or the one that does started at another time (a reused pid).
_TEMP = re.compile(r"\.(?P<pid>\d+)-(?P<start>\d+)\.[0-9a-f]+\.tmp")


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), or "0" if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else "0"


def _owner() -> str:
    pid = os.getpid()
    return f"{pid}-{_start_time(pid)}"


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    current = _start_time(pid)
    return start == "0" or current == "0" or current == start


def remove_stale_temps(path) -> list[Path]:
    """Delete the temporary files of ``path`` whose writer is gone (killed mid-write).

    A process killed by SIGKILL cannot clean up, so its ``.<name>.<pid>-....tmp`` stays next to
    ``path`` (which itself is intact). A temp whose writer still runs (a second process writing the
    same file) is left alone. Temps named without a writer come from handgrad versions before the
    writer was recorded, which no running process writes any more: they are stale.
    """
    path = Path(path)
    stale = []
    for tmp in sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp")):
        owner = _TEMP.fullmatch(tmp.name[len(path.name) + 1:])
        if owner is not None and _alive(int(owner["pid"]), owner["start"]):
            continue
        tmp.unlink(missing_ok=True)
        stale.append(tmp)
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
    """Inverse of :func:`split_state` (arrays are copies: writable, independent of the file)."""
    if isinstance(state, dict):
        if "__tensor__" in state:
            key = state["__tensor__"]
            if set(state) != {"__tensor__"} or not isinstance(key, str) or key not in tensors:
                raise ModelFileError(f"the saved state refers to a tensor that is not there: "
                                     f"{state!r:.80}")
            return tensors[key].copy()
        return {k: join_state(v, tensors) for k, v in state.items()}
    if isinstance(state, list):
        return [join_state(v, tensors) for v in state]
    return state


def tensor_references(state, path) -> set[str]:
    """The tensor names the JSON state refers to; each reference must be well formed."""
    found: set[str] = set()
    stack = [state]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__tensor__" in node:
                key = node["__tensor__"]
                if set(node) != {"__tensor__"} or not isinstance(key, str) \
                        or not key.startswith("extra/"):
                    raise fail(path, f"malformed tensor reference in its state: {node!r:.80}")
                found.add(key)
            else:
                stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


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
    """The header and tensors of a handgrad file, every part checked (see the module's doc).

    The tensors are read-only arrays; ``join_state`` and ``restore_weights`` copy them."""
    meta, tensors, _ = _read(Path(path), kind)
    return meta, tensors


def _read(path: Path, kind: str | None) -> tuple[dict, dict[str, np.ndarray], Declared]:
    found = {}

    def check(metadata, shapes):
        found["meta"] = meta = _handgrad_header(path, metadata)
        if kind is not None and meta["kind"] != kind:
            raise fail(path, f"holds a {meta['kind']}, expected a {kind}")
        found["declared"] = _check_declared(path, meta, shapes)

    tensors = read_container(path, check).tensors
    meta, declared = found["meta"], found["declared"]
    _check_values(path, tensors, declared)
    return meta, tensors, declared


def _handgrad_header(path: Path, metadata: dict[str, str]) -> dict:
    text = metadata.get("handgrad")
    if text is None:
        raise fail(path, "is a safetensors file but not a handgrad model (no handgrad header)")
    meta = parse_json(path, text.encode("utf-8"), "the handgrad header")
    if not isinstance(meta, dict):
        raise fail(path, "the handgrad header is not a JSON object")
    if meta.get("format") != FORMAT:
        raise fail(path, "is a safetensors file but not a handgrad model (format "
                         f"{meta.get('format')!r:.40})")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise fail(path, f"has format version {version!r:.20}; this handgrad reads version "
                         f"{FORMAT_VERSION}")
    if meta.get("kind") not in KINDS:
        raise fail(path, f"holds a {meta.get('kind')!r:.40}, neither a model nor a checkpoint")
    meta.setdefault("dtype", "float32")
    if meta["dtype"] not in MODEL_DTYPES:
        raise fail(path, f"dtype {meta['dtype']!r:.40} is not float32 or float64")
    meta.setdefault("extra", {})
    if not isinstance(meta["extra"], dict):
        raise fail(path, "its saved state (extra) is not a JSON object")
    if "architecture" not in meta:
        raise fail(path, "has no architecture")
    return meta


def _check_declared(path: Path, meta: dict, shapes: dict) -> Declared:
    """The tensors the architecture declares against those stored, before any data is read."""
    try:
        declared = declared_tensors(meta["architecture"])
    except ValueError as err:
        raise fail(path, f"architecture: {err}") from None
    dtype = np.dtype(meta["dtype"])
    expected = {**{f"param/{n}": s for n, s in declared.params.items()},
                **{f"buffer/{n}": s for n, s in declared.buffers.items()}}
    for name, shape in expected.items():
        if name not in shapes:
            raise fail(path, f"lacks {name}, which its architecture declares (a damaged file, or "
                             "one of another architecture)")
        stored_dtype, stored_shape = shapes[name]
        if stored_shape != shape or stored_dtype != dtype:
            raise fail(path, f"{name} is stored as {stored_shape} {stored_dtype}, its architecture "
                             f"declares {shape} {dtype}")
    references = tensor_references(meta["extra"], path)
    for name in shapes:
        if name not in expected and name not in references:
            raise fail(path, f"holds a tensor {name!r:.80} that neither its architecture nor its "
                             "state uses")
    missing = sorted(references - set(shapes))
    if missing:
        raise fail(path, f"its state refers to tensor {missing[0]!r:.80}, which it does not hold")
    _check_memory(path, declared, dtype)
    return declared


def _available_memory() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass  # not Linux: ask sysconf below
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return math.inf


def _check_memory(path: Path, declared: Declared, dtype: np.dtype) -> None:
    # the stored data, then the model: theta, its gradient, and the initial values it is built with
    needed = 4 * declared.n_values * dtype.itemsize
    available = _available_memory()
    if needed > available:
        raise fail(path, f"loading it needs about {needed / 1e9:.1f} GB of memory; this machine "
                         f"has {available / 1e9:.1f} GB available")


def _check_values(path: Path, tensors: dict, declared: Declared) -> None:
    for name in [*(f"param/{n}" for n in declared.params),
                 *(f"buffer/{n}" for n in declared.buffers)]:
        if not np.all(np.isfinite(tensors[name])):
            raise fail(path, f"{name} holds NaN or infinite values (saved from a diverged run, or "
                             "damaged)")
    for name in declared.non_negative:
        if np.any(tensors[f"buffer/{name}"] < 0):
            raise fail(path, f"buffer/{name} holds negative variances")


def restore_weights(model: Module, tensors: dict[str, np.ndarray], source="file") -> None:
    """Copy saved parameters and buffers into ``model`` in place (theta's views stay valid), with
    the model's one snapshot/restore path. Everything is checked before anything is written: a
    refused file leaves the model as it was."""
    params = [(f"param/{name}", p) for name, p in model.named_parameters()]
    buffers = [(f"buffer/{name}", name, b) for name, b in model.named_buffers()]
    for key, shape in [*((k, p.shape) for k, p in params), *((k, b.shape) for k, _, b in buffers)]:
        if key not in tensors:
            raise ModelFileError(f"{source} lacks {key}: different architecture")
        if tensors[key].shape != shape:
            raise ModelFileError(f"{source}: {key} has shape {tensors[key].shape}, the model "
                                 f"expects {shape}: different architecture")
    theta = np.concatenate([tensors[key].ravel() for key, _ in params]) if params else None
    snapshot = Snapshot(buffers={name: tensors[key] for key, name, _ in buffers},
                        rng_states=dict(model.named_rng_states()),  # streams stay as they are
                        theta=theta)
    try:
        model.restore(snapshot)
    except ValueError as err:
        raise ModelFileError(f"{source}: {err}: different architecture") from None


def modules_with_buffers(module: Module, prefix: str = ""):
    if getattr(module, "buffers", None):
        yield prefix, module
    for name, child in module.children.items():
        yield from modules_with_buffers(child, f"{prefix}{name}.")


def load(path, kind: str | None = None) -> tuple[dict, Module, dict]:
    """``(header, model, state)`` of a model or checkpoint file, everything checked: the model is
    built only once its declared tensors match the stored ones; the state's arrays are copies.

    For a model the state is its metadata; for a checkpoint ``{"trainer": ..., "metadata": ...}``.
    The metadata ``predict``/``evaluate`` read (task, classes, feature names, standardisation) is
    checked against the network's input and output widths."""
    path = Path(path)
    meta, tensors, declared = _read(path, kind)
    try:
        model = build(meta["architecture"], dtype=np.dtype(meta["dtype"]))
    except (HandgradError, KeyError, TypeError, ValueError) as err:
        raise fail(path, f"architecture: {err}") from None
    restore_weights(model, tensors, source=str(path))
    model.eval()
    state = join_state(meta["extra"], tensors)
    if meta["kind"] == "checkpoint":
        _check_checkpoint_state(path, state)
    metadata = state.get("metadata", {}) if meta["kind"] == "checkpoint" else state
    try:
        check_metadata(metadata, declared)
    except ValueError as err:
        raise fail(path, f"metadata: {err}") from None
    return meta, model, state


def _check_checkpoint_state(path: Path, state: dict) -> None:
    if not isinstance(state.get("trainer"), dict):
        raise fail(path, "is a checkpoint without a trainer state (damaged, or not written by "
                         "handgrad train)")
    if not isinstance(state.get("metadata", {}), dict):
        raise fail(path, "the checkpoint's metadata is not a JSON object")


def load_model(path, with_metadata: bool = False):
    """Rebuild a saved model: architecture from JSON, weights from tensors. Executes no code."""
    _, model, state = load(path)
    if with_metadata:
        return model, state
    return model


def load_checkpoint(path) -> tuple[dict, dict[str, np.ndarray], dict]:
    """``(header, tensors, state)`` of a checkpoint, for a trainer to resume from.

    Everything io can check is checked (the container, the architecture against the tensors,
    finite weights, ``state["trainer"]`` an object, every tensor reference resolved); restore the
    weights with :func:`restore_weights` (which checks them against the trainer's model). The
    trainer's and optimizer's own fields are theirs to check."""
    path = Path(path)
    meta, tensors, _ = _read(path, "checkpoint")
    state = join_state(meta["extra"], tensors)
    _check_checkpoint_state(path, state)
    return meta, tensors, state
