"""Crafted model and checkpoint files for the malicious-file suite (test_malicious_files.py).

The pytest process writes the files (``write_cases``); a child process loads each of them through
every entry point a user reaches (``io.load_model``, the checkpoint loader, ``handgrad info``,
``predict`` and ``evaluate``), classifies what happened and reports its peak memory
(``python crafted_files.py CASES.json RESULTS.json``). A child keeps a runaway allocation or a
crash out of the test process, and its ``ru_maxrss`` is the peak of the loads alone.

Outcome classes, per case and entry point:

    clear       a ModelFileError (CLI: exit code 2, one line on stderr) whose message names the file
    loaded      it loaded (CLI: exit code 0) and printed no raw control character
    unclear     another exception type, or a message that does not name the file
    traceback   the CLI let an exception escape (a user would see a traceback)
    raw-control the CLI printed a raw control character taken from the file
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io as bytes_io
import json
import os
import pickle
import re
import resource
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENTRIES_MODEL = ("api_model", "cli_info", "cli_predict", "cli_evaluate")
ENTRIES_CHECKPOINT = ("api_checkpoint", "cli_info")
ENTRIES_ANY = ENTRIES_MODEL + ("api_checkpoint",)
ENTRIES_INFO = ("api_model", "cli_info")
FEATURES = ["f0", "f1", "f2", "f3"]
CLASSES = ["a", "b", "c"]
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MEMORY_LIMIT = 3 * 2**30  # address space of the loading child: a runaway allocation fails there


# --- the valid files every case starts from -------------------------------------------------------
def base_model():
    from handgrad.nn import MLP
    return MLP([4, 6, 3], activation="tanh", batchnorm=True, rng=0)


def base_metadata() -> dict:
    return {"task": {"kind": "classification", "loss": "cross_entropy", "n_classes": 3,
                     "output": "identity"},
            "classes": list(CLASSES), "feature_names": list(FEATURES), "target_name": "label",
            "data": "toy.csv", "target_scale": None, "settings": {"hidden": "6", "seed": 0},
            "scaler": {"mean": np.array([0.1, -0.2, 0.3, 0.0]),
                       "std": np.array([1.0, 2.0, 0.5, 1.5])}}


def toy_data(n=48):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    d = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, d


def make_trainer(model=None, callbacks=()):
    from handgrad.nn.losses import get_loss
    from handgrad.optim import SGD
    from handgrad.train import Task, Trainer
    model = model if model is not None else base_model()
    task = Task("classification", "cross_entropy", n_classes=3)
    return Trainer(model, get_loss("cross_entropy"), SGD(model, lr=0.1), task=task, batch_size=8,
                   epochs=1, seed=0, callbacks=list(callbacks))


def write_base(folder: Path) -> dict[str, Path]:
    """A valid model file, a valid checkpoint of the same network, and a CSV to predict on."""
    from handgrad import io
    from handgrad.train import Checkpoint
    folder.mkdir(parents=True, exist_ok=True)
    model_path = io.save_model(folder / "base_model.safetensors", base_model(), base_metadata())
    checkpoint_path = folder / "base_checkpoint.safetensors"
    x, d = toy_data()
    Checkpoint(checkpoint_path).save(make_trainer())
    csv_path = folder / "rows.csv"
    lines = [",".join(FEATURES + ["label"])]
    lines += [",".join([*(repr(float(v)) for v in row), CLASSES[k]]) for row, k in zip(x, d)]
    csv_path.write_text("\n".join(lines) + "\n")
    return {"model": model_path, "checkpoint": checkpoint_path, "csv": csv_path}


# --- taking a safetensors file apart and putting it together ---------------------------------------
def split_file(data: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def join_file(header, body: bytes, raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def handgrad_header(header: dict) -> dict:
    return json.loads(header["__metadata__"]["handgrad"])


def with_handgrad_header(header: dict, meta) -> dict:
    header = copy.deepcopy(header)
    header["__metadata__"] = {"handgrad": json.dumps(meta) if not isinstance(meta, str) else meta}
    return header


def _edit_meta(data: bytes, edit) -> bytes:
    header, body = split_file(data)
    meta = handgrad_header(header)
    meta = edit(meta) or meta
    return join_file(with_handgrad_header(header, meta), body)


def _edit_header(data: bytes, edit) -> bytes:
    header, body = split_file(data)
    header = edit(header) or header
    return join_file(header, body)


def _edit_tensor(data: bytes, name: str, edit) -> bytes:
    def apply(header):
        edit(header[name])
    return _edit_header(data, apply)


def _edit_values(data: bytes, name: str, edit) -> bytes:
    """Rewrite the stored values of tensor ``name`` (same dtype and size)."""
    header, body = split_file(data)
    entry = header[name]
    start, end = entry["data_offsets"]
    values = np.frombuffer(body[start:end], dtype=_DTYPES[entry["dtype"]]).copy()
    edit(values)
    body = body[:start] + values.tobytes() + body[end:]
    return join_file(header, body)


_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U64": "<u8", "I32": "<i4", "U32": "<u4",
           "U8": "u1", "BOOL": "?"}


def _arch(data: bytes, architecture) -> bytes:
    def edit(meta):
        meta["architecture"] = architecture
    return _edit_meta(data, edit)


def _layer(data: bytes, index: int, **changes) -> bytes:
    def edit(meta):
        meta["architecture"]["layers"][index].update(changes)
    return _edit_meta(data, edit)


def _extra(data: bytes, key: str, value) -> bytes:
    def edit(meta):
        meta["extra"][key] = value
    return _edit_meta(data, edit)


def _task(data: bytes, **changes) -> bytes:
    def edit(meta):
        meta["extra"]["task"].update(changes)
    return _edit_meta(data, edit)


def _preprocessing(data: bytes, **changes) -> bytes:
    """Metadata of a model fed two numeric columns and one categorical column of two categories
    (4 inputs, as the base network takes), with ``changes`` to the preprocessing."""
    prep = {"numeric": ["f0", "f1"], "categorical": [["c", ["x", "y"]]], "impute": "mean",
            "fill_numeric": [0.0, 1.0], "fill_categorical": ["x"], "unknown_category": "zeros"}
    prep.update(changes)

    def edit(meta):
        extra = meta["extra"]
        extra.update(preprocessing=prep, feature_names=["f0", "f1", "c"],
                     input_names=["f0", "f1", "c=x", "c=y"])
        extra["scaler"] = {"mean": [0.0, 0.0], "std": [1.0, 1.0]}
    return _drop_tensors(_edit_meta(data, edit), {"extra/scaler/mean", "extra/scaler/std"})


def _drop_tensors(data: bytes, names: set[str]) -> bytes:
    """The file without tensors ``names``, the others packed one after another again."""
    header, body = split_file(data)
    kept, position = [], 0
    entries = sorted((e["data_offsets"], k) for k, e in header.items() if k != "__metadata__")
    for (begin, end), name in entries:
        if name in names:
            header.pop(name)
            continue
        kept.append(body[begin:end])
        header[name]["data_offsets"] = [position, position + end - begin]
        position += end - begin
    return join_file(header, b"".join(kept))


def _nested_sequential(depth: int) -> str:
    """A Linear inside ``depth`` Sequentials, as JSON text (too deep for json.dumps)."""
    return ('{"type": "Sequential", "layers": [' * depth
            + '{"type": "Linear", "in_features": 4, "out_features": 3}' + "]}" * depth)


def _raw_meta(data: bytes, place, text: str) -> bytes:
    """The handgrad header with the value that ``place`` puts at a marker replaced by raw JSON
    ``text``."""
    header, body = split_file(data)
    meta = handgrad_header(header)
    place(meta, "@@RAW@@")
    return join_file(with_handgrad_header(header, json.dumps(meta).replace('"@@RAW@@"', text)),
                     body)


def _overlap(data: bytes) -> bytes:
    """param/1.beta points at the bytes of param/1.gamma (same size): two tensors, one region."""
    header, body = split_file(data)
    header["param/1.beta"]["data_offsets"] = list(header["param/1.gamma"]["data_offsets"])
    return join_file(header, body)


def _partial_overlap(data: bytes) -> bytes:
    header, body = split_file(data)
    start, end = header["param/0.W"]["data_offsets"]
    header["param/0.b"]["data_offsets"] = [start + 4, start + 4 + 6 * 4]
    return join_file(header, body)


def _gap(data: bytes) -> bytes:
    """Every tensor moved 8 bytes on, with 8 junk bytes in front: offsets valid, a hole at 0."""
    header, body = split_file(data)
    for name, entry in header.items():
        if name != "__metadata__":
            entry["data_offsets"] = [o + 8 for o in entry["data_offsets"]]
    return join_file(header, b"\xff" * 8 + body)


def _duplicate_key(data: bytes) -> bytes:
    header, body = split_file(data)
    text = json.dumps(header)
    dup = json.dumps({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})
    return join_file(None, body, raw=("{" + f'"param/0.b": {dup}, ' + text[1:]).encode())


def _extra_tensor(data: bytes) -> bytes:
    header, body = split_file(data)
    header["param/9.W"] = {"dtype": "F32", "shape": [2, 2], "data_offsets": [len(body),
                                                                              len(body) + 16]}
    return join_file(header, body + np.ones(4, "<f4").tobytes())


def _many_tensors(data: bytes) -> bytes:
    header, body = split_file(data)
    end = len(body)
    for k in range(20000):
        header[f"extra/junk/{k}"] = {"dtype": "F32", "shape": [0], "data_offsets": [end, end]}
    return join_file(header, body)


def _huge_declared(data: bytes, rows: int, cols: int) -> bytes:
    """The architecture (and the tensor entry) claim a huge W; the file holds 4 x 6 floats."""
    header, body = split_file(data)
    header["param/0.W"]["shape"] = [rows, cols]
    meta = handgrad_header(header)
    meta["architecture"]["layers"][0].update(in_features=cols, out_features=rows)
    return join_file(with_handgrad_header(header, meta), body)


def _swap_to_f64(data: bytes) -> bytes:
    """param/0.W relabelled F64 with half the rows: consistent offsets, the wrong dtype."""
    def edit(entry):
        entry["dtype"], entry["shape"] = "F64", [3, 4]
    return _edit_tensor(data, "param/0.W", edit)


def _ref(data: bytes, value) -> bytes:
    def edit(meta):
        meta["extra"]["scaler"]["mean"] = value
    return _edit_meta(data, edit)


def _checkpoint_extra(data: bytes, edit) -> bytes:
    def apply(meta):
        edit(meta["extra"])
    return _edit_meta(data, apply)


def _deep_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


class _Exploit:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, payload in members.items():
            z.writestr(name, payload)
    return buffer.getvalue()


def _npz_pickle(marker: str) -> bytes:
    buffer = bytes_io.BytesIO()
    np.savez(buffer, theta=np.array([_Exploit(marker)], dtype=object))
    return buffer.getvalue()


# --- the cases ------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    target: str   # which entry points load it: "model", "checkpoint", "any", "info", "resume"
    expect: str   # "clear" (an error) or "loaded" (a valid file)
    make: object  # (base bytes of the target, folder, marker) -> bytes, or a Path it created

    @property
    def entries(self):
        return {"model": ENTRIES_MODEL, "checkpoint": ENTRIES_CHECKPOINT, "any": ENTRIES_ANY,
                "info": ENTRIES_INFO, "resume": ("api_checkpoint",)}[self.target]


def _raw(payload: bytes):
    return lambda data, folder, marker: payload


def _special(kind: str):
    def make(data, folder, marker):
        path = folder / f"special-{kind}.safetensors"
        if kind == "directory":
            path.mkdir()
        elif kind == "dev_zero":
            path.symlink_to("/dev/zero")
        elif kind == "dev_null":
            path.symlink_to("/dev/null")
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "dangling":
            path.symlink_to(folder / "no-such-file.safetensors")
        elif kind == "loop":
            path.symlink_to(path)
        elif kind == "valid_symlink":
            target = folder / "valid-target.safetensors"
            target.write_bytes(data)
            path.symlink_to(target)
        return path
    return make


def _m(edit):
    return lambda data, folder, marker: edit(data)


CASES: list[Case] = [
    # not a safetensors file at all
    Case("empty", "any", "clear", _raw(b"")),
    Case("one-byte", "any", "clear", _raw(b"\x00")),
    Case("seven-bytes", "any", "clear", _raw(b"\x01" * 7)),
    Case("header-length-zero", "any", "clear", _raw(b"\x00" * 8)),
    Case("header-length-max", "any", "clear", _raw(b"\xff" * 8 + b"{}")),
    Case("header-length-1e12", "any", "clear", _raw((10**12).to_bytes(8, "little") + b"{}")),
    Case("header-length-200MB", "any", "clear",
         _raw((200 * 2**20).to_bytes(8, "little") + b"{" + b" " * 1000)),
    Case("text-file", "any", "clear", _raw(b"this is not a model\n")),
    Case("utf16-text", "any", "clear", _raw("\ufeffhello".encode("utf-16"))),
    Case("json-file", "any", "clear", _raw(b'{"type": "Linear", "in_features": 4}')),
    Case("png-magic", "any", "clear", _raw(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)),
    Case("pickle-exploit", "any", "clear",
         lambda data, folder, marker: pickle.dumps(_Exploit(marker))),
    Case("npz-object-pickle", "any", "clear", lambda data, folder, marker: _npz_pickle(marker)),
    Case("zip-file", "any", "clear", _raw(_zip({"model.json": b"{}"}))),
    Case("torch-style-zip-pickle", "any", "clear",
         lambda data, folder, marker: _zip({"archive/data.pkl": pickle.dumps(_Exploit(marker)),
                                            "archive/version": b"3\n"})),
    Case("gzip-of-valid-file", "any", "clear", lambda data, folder, marker: gzip.compress(data)),
    Case("directory", "any", "clear", _special("directory")),
    Case("symlink-to-dev-zero", "any", "clear", _special("dev_zero")),
    Case("symlink-to-dev-null", "any", "clear", _special("dev_null")),
    Case("fifo", "any", "clear", _special("fifo")),
    Case("dangling-symlink", "any", "clear", _special("dangling")),
    Case("symlink-loop", "any", "clear", _special("loop")),
    # the container: lengths, JSON, structure
    Case("truncated-half", "model", "clear", _m(lambda d: d[:len(d) // 2])),
    Case("truncated-after-header", "model", "clear",
         _m(lambda d: d[:8 + int.from_bytes(d[:8], "little")])),
    Case("truncated-last-byte", "model", "clear", _m(lambda d: d[:-1])),
    Case("header-length-past-end", "model", "clear",
         _m(lambda d: (len(d) - 7).to_bytes(8, "little") + d[8:])),
    Case("trailing-garbage", "model", "clear", _m(lambda d: d + b"\x00garbage")),
    Case("header-not-utf8", "model", "clear",
         _m(lambda d: join_file(None, split_file(d)[1], raw=b'{"\xff\xfe": 1}'))),
    Case("header-invalid-json", "model", "clear",
         _m(lambda d: join_file(None, split_file(d)[1], raw=b'{"a": '))),
    Case("header-json-list", "model", "clear", _m(lambda d: join_file([], split_file(d)[1]))),
    Case("header-json-null", "model", "clear", _m(lambda d: join_file(None, b"", raw=b"null"))),
    Case("header-json-string", "model", "clear",
         _m(lambda d: join_file(None, b"", raw=b'"model"'))),
    Case("header-deep-nesting", "model", "clear",
         _m(lambda d: join_file(None, b"", raw=_deep_list(100000)))),
    Case("header-duplicate-key", "model", "clear", _m(_duplicate_key)),
    Case("header-nan-offsets", "model", "clear",
         _m(lambda d: join_file(None, split_file(d)[1], raw=json.dumps(split_file(d)[0]).replace(
             '"data_offsets": [0,', '"data_offsets": [NaN,', 1).encode()))),
    Case("header-5000-digit-int", "model", "clear",
         _m(lambda d: join_file(None, split_file(d)[1], raw=json.dumps(split_file(d)[0]).replace(
             '"data_offsets": [0,', '"data_offsets": [' + "9" * 5000 + ",", 1).encode()))),
    Case("no-metadata", "model", "clear",
         _m(lambda d: _edit_header(d, lambda h: h.pop("__metadata__") and None))),
    Case("metadata-not-dict", "model", "clear",
         _m(lambda d: _edit_header(d, lambda h: h.update(__metadata__=["handgrad"])))),
    Case("metadata-value-not-string", "model", "clear",
         _m(lambda d: _edit_header(d, lambda h: h.update(__metadata__={"handgrad": 5})))),
    Case("handgrad-header-not-json", "model", "clear",
         _m(lambda d: join_file(with_handgrad_header(split_file(d)[0], "{not json"),
                                split_file(d)[1]))),
    Case("handgrad-header-list", "model", "clear", _m(lambda d: _edit_meta(d, lambda m: [m]))),
    Case("handgrad-header-deep", "model", "clear",
         _m(lambda d: join_file(with_handgrad_header(split_file(d)[0],
                                                     _deep_list(50000).decode()),
                                split_file(d)[1]))),
    Case("format-other", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(format="pytorch")))),
    Case("format-missing", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.pop("format") and None))),
    Case("version-999", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(version=999)))),
    Case("version-string", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(version="1")))),
    Case("kind-unknown", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(kind="banana")))),
    Case("dtype-float16", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(dtype="float16")))),
    Case("dtype-object", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(dtype="object")))),
    Case("dtype-not-string", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(dtype=[1, 2])))),
    Case("extra-not-dict", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.update(extra=[1, 2])))),
    # tensor entries
    Case("tensor-dtype-unknown", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(dtype="X99")))),
    Case("tensor-dtype-bf16", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(dtype="BF16")))),
    Case("tensor-dtype-i32-weights", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(dtype="I32")))),
    Case("tensor-dtype-f64-vs-float32", "model", "clear", _m(_swap_to_f64)),
    Case("tensor-shape-negative", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(shape=[-6, -4])))),
    Case("tensor-shape-float", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(shape=[6.0, 4.0])))),
    Case("tensor-shape-bool", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.b", lambda e: e.update(shape=[True] * 6)))),
    Case("tensor-shape-string", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(shape="6,4")))),
    Case("tensor-shape-overflow", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(shape=[2**62, 2**62, 16])))),
    Case("tensor-shape-size-mismatch", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(shape=[60, 40])))),
    Case("tensor-offsets-reversed", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(
             data_offsets=e["data_offsets"][::-1])))),
    Case("tensor-offsets-past-end", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/3.b", lambda e: e.update(
             data_offsets=[e["data_offsets"][0] + 10**6, e["data_offsets"][1] + 10**6])))),
    Case("tensor-offsets-negative", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(data_offsets=[-96, 0])))),
    Case("tensor-offsets-three", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(
             data_offsets=[0, 48, 96])))),
    Case("tensor-offsets-float", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(
             data_offsets=[float(o) for o in e["data_offsets"]])))),
    Case("tensors-overlap", "model", "clear", _m(_overlap)),
    Case("tensors-overlap-partly", "model", "clear", _m(_partial_overlap)),
    Case("tensors-gap", "model", "clear", _m(_gap)),
    Case("tensor-entry-not-dict", "model", "clear",
         _m(lambda d: _edit_header(d, lambda h: h.update({"param/0.b": [0, 24]})))),
    Case("tensor-entry-missing-dtype", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.b", lambda e: e.pop("dtype") and None))),
    Case("tensor-entry-extra-field", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.b", lambda e: e.update(evil=1)))),
    Case("tensor-missing", "model", "clear",
         _m(lambda d: _edit_header(d, lambda h: h.update({"param/3.bias": h.pop("param/3.b")})))),
    Case("tensor-unexpected", "model", "clear", _m(_extra_tensor)),
    Case("tensor-20000-unused", "model", "clear", _m(_many_tensors)),
    Case("tensor-shape-transposed", "model", "clear",
         _m(lambda d: _edit_tensor(d, "param/0.W", lambda e: e.update(shape=[4, 6])))),
    # the architecture
    Case("arch-missing", "model", "clear", _m(lambda d: _edit_meta(
        d, lambda m: m.pop("architecture") and None))),
    Case("arch-list", "model", "clear", _m(lambda d: _arch(d, [1, 2, 3]))),
    Case("arch-string", "model", "clear", _m(lambda d: _arch(d, "MLP([4, 6, 3])"))),
    Case("arch-unknown-type", "model", "clear", _m(lambda d: _arch(d, {"type": "os.system"}))),
    Case("arch-layers-not-list", "model", "clear",
         _m(lambda d: _arch(d, {"type": "Sequential", "layers": 7}))),
    Case("arch-layers-dicts-missing-type", "model", "clear",
         _m(lambda d: _arch(d, {"type": "Sequential", "layers": [{"in_features": 4}]}))),
    Case("arch-linear-in-string", "model", "clear", _m(lambda d: _layer(d, 0, in_features="4"))),
    Case("arch-linear-in-negative", "model", "clear", _m(lambda d: _layer(d, 0, in_features=-4))),
    Case("arch-linear-in-zero", "model", "clear", _m(lambda d: _layer(d, 0, in_features=0))),
    Case("arch-linear-in-float", "model", "clear", _m(lambda d: _layer(d, 0, in_features=4.5))),
    Case("arch-linear-in-bool", "model", "clear", _m(lambda d: _layer(d, 0, in_features=True))),
    Case("arch-linear-bias-string", "model", "clear", _m(lambda d: _layer(d, 0, bias="no"))),
    Case("arch-linear-unknown-option", "model", "clear", _m(lambda d: _layer(d, 0, evil=1))),
    Case("arch-linear-unknown-init", "model", "clear", _m(lambda d: _layer(d, 0, init="evil"))),
    Case("arch-linear-20000x20000", "model", "clear",
         _m(lambda d: _arch(d, {"type": "Linear", "in_features": 20000,
                                "out_features": 20000}))),
    Case("arch-and-tensor-claim-20000x20000", "model", "clear",
         _m(lambda d: _huge_declared(d, 20000, 20000))),
    Case("arch-and-tensor-claim-1e12", "model", "clear",
         _m(lambda d: _huge_declared(d, 10**12, 10**12))),
    Case("arch-batchnorm-huge", "model", "clear",
         _m(lambda d: _layer(d, 1, num_features=10**9))),
    Case("arch-batchnorm-eps-negative", "model", "clear", _m(lambda d: _layer(d, 1, eps=-1.0))),
    Case("arch-activation-unknown", "model", "clear", _m(lambda d: _layer(d, 2, name="evil"))),
    Case("arch-activation-bad-option", "model", "clear", _m(lambda d: _layer(d, 2, alpha=3))),
    Case("arch-sequential-900-deep", "model", "clear",
         _m(lambda d: _raw_meta(d, lambda m, v: m.update(architecture=v),
                               _nested_sequential(900)))),
    Case("arch-sequential-40-deep-not-matching", "model", "clear",
         _m(lambda d: _raw_meta(d, lambda m, v: m.update(architecture=v),
                               _nested_sequential(40)))),
    # values
    Case("weights-nan", "model", "clear",
         _m(lambda d: _edit_values(d, "param/3.W", lambda v: v.__setitem__(0, np.nan)))),
    Case("weights-inf", "model", "clear",
         _m(lambda d: _edit_values(d, "param/0.b", lambda v: v.__setitem__(2, np.inf)))),
    Case("running-var-negative", "model", "clear",
         _m(lambda d: _edit_values(d, "buffer/1.running_var", lambda v: v.__setitem__(0, -1.0)))),
    Case("running-mean-nan", "model", "clear",
         _m(lambda d: _edit_values(d, "buffer/1.running_mean",
                                   lambda v: v.__setitem__(0, np.nan)))),
    # references from the JSON state to tensors
    Case("tensor-reference-missing", "model", "clear",
         _m(lambda d: _ref(d, {"__tensor__": "extra/nowhere"}))),
    Case("tensor-reference-not-string", "model", "clear",
         _m(lambda d: _ref(d, {"__tensor__": ["extra/scaler/mean"]}))),
    # what predict and evaluate are handed
    Case("classes-one-for-three-outputs", "model", "clear",
         _m(lambda d: _extra(d, "classes", ["a"]))),
    Case("classes-not-list", "model", "clear", _m(lambda d: _extra(d, "classes", "abc"))),
    Case("classes-numbers", "model", "clear", _m(lambda d: _extra(d, "classes", [1, 2, 3]))),
    Case("classes-duplicate", "model", "clear",
         _m(lambda d: _extra(d, "classes", ["a", "a", "b"]))),
    Case("task-not-dict", "model", "clear", _m(lambda d: _extra(d, "task", "classification"))),
    Case("task-kind-typo", "model", "clear", _m(lambda d: _task(d, kind="clasification"))),
    Case("task-loss-unknown", "model", "clear", _m(lambda d: _task(d, loss="evil"))),
    Case("task-loss-regression-for-classes", "model", "clear",
         _m(lambda d: _task(d, kind="regression", loss="mse"))),
    Case("task-n-classes-mismatch", "model", "clear", _m(lambda d: _task(d, n_classes=5))),
    Case("task-n-classes-string", "model", "clear", _m(lambda d: _task(d, n_classes="3"))),
    Case("task-output-unknown", "model", "clear", _m(lambda d: _task(d, output="evil"))),
    Case("task-unknown-field", "model", "clear", _m(lambda d: _task(d, evil=1))),
    Case("features-too-few", "model", "clear",
         _m(lambda d: _extra(d, "feature_names", ["f0", "f1"]))),
    Case("features-not-strings", "model", "clear",
         _m(lambda d: _extra(d, "feature_names", [0, 1, 2, 3]))),
    Case("features-duplicate", "model", "clear",
         _m(lambda d: _extra(d, "feature_names", ["f0", "f0", "f1", "f2"]))),
    Case("scaler-mean-short", "model", "clear", _m(lambda d: _ref(d, [0.0, 1.0]))),
    Case("scaler-std-zero", "model", "clear",
         _m(lambda d: _edit_values(d, "extra/scaler/std", lambda v: v.__setitem__(1, 0.0)))),
    Case("scaler-std-nan", "model", "clear",
         _m(lambda d: _edit_values(d, "extra/scaler/std", lambda v: v.__setitem__(1, np.nan)))),
    Case("scaler-not-dict", "model", "clear", _m(lambda d: _extra(d, "scaler", [1.0, 2.0]))),
    Case("target-scale-string", "model", "clear",
         _m(lambda d: _extra(d, "target_scale", {"mean": "x", "std": 1.0}))),
    Case("preprocessing-width-mismatch", "info", "clear",
         _m(lambda d: _preprocessing(d, categorical=[["c", ["x", "y", "z"]]]))),
    Case("preprocessing-fill-nan", "info", "clear",
         _m(lambda d: _preprocessing(d, fill_numeric=[0.0, float("nan")]))),
    Case("preprocessing-columns-differ", "info", "clear",
         _m(lambda d: _preprocessing(d, numeric=["f0", "g1"]))),
    Case("preprocessing-valid", "info", "loaded", _m(lambda d: _preprocessing(d))),
    Case("settings-not-dict", "model", "clear", _m(lambda d: _extra(d, "settings", [1, 2]))),
    # valid files: they load, and info prints what a terminal shows safely
    Case("valid-model", "model", "loaded", _m(lambda d: d)),
    Case("valid-model-via-symlink", "model", "loaded", _special("valid_symlink")),
    Case("valid-model-unknown-metadata-key", "model", "loaded",
         _m(lambda d: _extra(d, "note", "kept as it is"))),
    Case("escape-codes-in-class-names", "info", "loaded",
         _m(lambda d: _extra(d, "classes", ["\x1b[2J\x1b[31mred", "b\x07", "c\u202e"]))),
    Case("escape-codes-in-feature-names", "info", "loaded",
         _m(lambda d: _extra(d, "feature_names", ["f0", "\x1b]0;title\x07", "f2", "f3"]))),
    # checkpoints
    Case("checkpoint-truncated", "checkpoint", "clear", _m(lambda d: d[:-100])),
    Case("checkpoint-weights-nan", "checkpoint", "clear",
         _m(lambda d: _edit_values(d, "param/0.W", lambda v: v.__setitem__(0, np.nan)))),
    Case("checkpoint-trainer-missing", "checkpoint", "clear",
         _m(lambda d: _checkpoint_extra(d, lambda e: e.pop("trainer") and None))),
    Case("checkpoint-trainer-not-dict", "checkpoint", "clear",
         _m(lambda d: _checkpoint_extra(d, lambda e: e.update(trainer=[1, 2])))),
    Case("checkpoint-extra-not-dict", "checkpoint", "clear",
         _m(lambda d: _edit_meta(d, lambda m: m.update(extra="state")))),
    Case("checkpoint-reference-missing", "checkpoint", "clear",
         _m(lambda d: _checkpoint_extra(d, lambda e: e["trainer"].update(
             history={"__tensor__": "extra/gone"})))),
    Case("checkpoint-deep-state", "checkpoint", "clear",
         _m(lambda d: _raw_meta(d, lambda m, v: m["extra"]["trainer"].update(history=v),
                                _deep_list(5000).decode()))),
    Case("checkpoint-overlap", "checkpoint", "clear", _m(_overlap)),
    Case("checkpoint-huge-architecture", "checkpoint", "clear",
         _m(lambda d: _huge_declared(d, 20000, 20000))),
    Case("checkpoint-kind-model", "resume", "clear",
         _m(lambda d: _edit_meta(d, lambda m: m.update(kind="model")))),
    Case("checkpoint-pickle", "checkpoint", "clear",
         lambda data, folder, marker: pickle.dumps(_Exploit(marker))),
    Case("checkpoint-valid", "checkpoint", "loaded", _m(lambda d: d)),
]


def write_cases(folder: Path) -> dict:
    """Write every case's file into ``folder``; returns the JSON plan the child runs."""
    base = write_base(folder / "base")
    cases_dir = folder / "cases"
    cases_dir.mkdir()
    marker = str(folder / "pwned")
    plan = []
    for k, case in enumerate(CASES):
        data = base["checkpoint" if case.target in ("checkpoint", "resume") else "model"].read_bytes()
        made = case.make(data, cases_dir, marker)
        if isinstance(made, Path):
            path = made
        else:
            path = cases_dir / f"{k:03d}-{case.name}.safetensors"
            path.write_bytes(made)
        plan.append({"name": case.name, "path": str(path), "entries": list(case.entries)})
    return {"cases": plan, "csv": str(base["csv"]), "out": str(folder / "predictions.csv"),
            "marker": marker, "base_model": str(base["model"]),
            "base_checkpoint": str(base["checkpoint"])}


# --- the child: load everything, classify, measure ------------------------------------------------
def names_file(message: str, path: str) -> bool:
    return path in message or Path(path).name in message


def classify_api(load, path: str) -> str:
    from handgrad.errors import ModelFileError
    try:
        load(path)
    except ModelFileError as err:
        return "clear" if names_file(str(err), path) else "unclear:ModelFileError(no file name)"
    # The harness's job is to sort every failure into a class, whatever its type.
    except Exception as err:  # noqa: BLE001
        return f"unclear:{type(err).__name__}"
    return "loaded"


def classify_cli(argv: list[str], path: str) -> str:
    from handgrad.cli.main import main
    out, err = bytes_io.StringIO(), bytes_io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    # An exception escaping main is what a user sees as a traceback.
    except Exception as exc:  # noqa: BLE001
        return f"traceback:{type(exc).__name__}"
    text = out.getvalue() + err.getvalue()
    if CONTROL.search(text):
        return "raw-control"
    message = err.getvalue().strip()
    if code == 0:
        return "loaded"
    if code == 2 and "\n" not in message and names_file(message, path):
        return "clear"
    return f"unclear:exit {code}: {message[:200]}"


def run_entry(entry: str, path: str, plan: dict) -> str:
    from handgrad import io
    from handgrad.train import resume
    if entry == "api_model":
        return classify_api(lambda p: io.load_model(p, with_metadata=True), path)
    if entry == "api_checkpoint":
        return classify_api(lambda p: resume(make_trainer(), p), path)
    if entry == "cli_info":
        return classify_cli(["info", path], path)
    if entry == "cli_predict":
        return classify_cli(["predict", path, plan["csv"], "--out", plan["out"]], path)
    if entry == "cli_evaluate":
        return classify_cli(["evaluate", path, plan["csv"]], path)
    raise ValueError(f"unknown entry point {entry}")


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(plan_path: str, results_path: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    plan = json.loads(Path(plan_path).read_text())
    run_entry("api_checkpoint", plan["base_checkpoint"], plan)  # imports and warms up every path
    run_entry("cli_predict", plan["base_model"], plan)
    run_entry("cli_info", plan["base_model"], plan)
    run_entry("cli_evaluate", plan["base_model"], plan)
    baseline = maxrss_bytes()
    results = []
    for case in plan["cases"]:
        before = maxrss_bytes()
        outcomes = {entry: run_entry(entry, case["path"], plan) for entry in case["entries"]}
        results.append({"name": case["name"], "outcomes": outcomes,
                        "maxrss_growth": maxrss_bytes() - before})
    Path(results_path).write_text(json.dumps(
        {"baseline_maxrss": baseline, "final_maxrss": maxrss_bytes(), "results": results},
        indent=1))


def allocation_growth(mebibytes: int) -> int:
    """The measurement's control: ru_maxrss growth of touching ``mebibytes`` MiB here."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    before = maxrss_bytes()
    block = np.ones(mebibytes * 2**20 // 8)  # ones, not zeros: the pages are touched
    growth = maxrss_bytes() - before
    del block
    return growth


if __name__ == "__main__":
    if sys.argv[1] == "--allocate":
        print(allocation_growth(int(sys.argv[2])))
    else:
        child(sys.argv[1], sys.argv[2])
