"""Reading a safetensors file that nobody vouches for: every length, offset and type checked before
anything is allocated.

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
N bytes of UTF-8 JSON, then the tensors' bytes. The JSON maps each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets into the data that follows) and may
hold ``"__metadata__"``, a map of strings to strings.

:func:`read_container` checks the header (its length against a limit and the file, its JSON depth
before parsing, duplicate keys, every entry's type), that the tensors tile the data exactly (no
overlap, no gap, nothing past the end, sizes equal to shape x dtype), and only then reads the data,
once, into the arrays. Errors are :class:`~handgrad.errors.ModelFileError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np

from handgrad.errors import ModelFileError

MAX_HEADER_BYTES = 16 * 2**20   # a model's header is a few kB; a checkpoint's history a few MB
MAX_JSON_DEPTH = 64             # our own files nest 6 deep, plus 2 per nested Sequential
MAX_NDIM = 8
DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4",
          "I64": "<i8", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?"}
ENTRY_KEYS = {"dtype", "shape", "data_offsets"}
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class Container:
    """A checked safetensors file: its path, its string metadata and its tensors (read-only views
    of one buffer holding the file's data)."""

    def __init__(self, path: Path, metadata: dict[str, str], tensors: dict[str, np.ndarray]):
        self.path, self.metadata, self.tensors = path, metadata, tensors


def fail(path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: {what}")


def read_container(path, check=None) -> Container:
    """The file's string metadata and tensors. ``check(metadata, shapes)``, with ``shapes`` mapping
    each tensor's name to ``(dtype, shape)``, runs after the header is checked and before the
    data is read: where the caller compares what the file declares with what it stores."""
    path = Path(path)
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header_length = _header_length(path, f.read(8), size)
        header = parse_json(path, f.read(header_length), "the safetensors header",
                            allow_nan=False)
        if not isinstance(header, dict):
            raise fail(path, f"the safetensors header is a JSON {type(header).__name__}, not an "
                             "object: not a handgrad model file")
        metadata = _string_metadata(path, header.pop("__metadata__", None))
        entries = {name: _entry(path, name, entry) for name, entry in header.items()}
        data_length = size - 8 - header_length
        _check_tiling(path, entries, data_length)
        if check is not None:
            check(metadata, {name: entry[:2] for name, entry in entries.items()})
        data = bytearray(data_length)
        if f.readinto(data) != data_length:
            raise fail(path, "the file ended while its tensors were read (truncated, or changed "
                             "while reading)")
    tensors = {name: np.frombuffer(data, dtype=dtype, count=math.prod(shape),
                                   offset=begin).reshape(shape)
               for name, (dtype, shape, begin, _) in entries.items()}
    return Container(path, metadata, tensors)


def _open_regular(path: Path) -> int:
    """A file descriptor of ``path``, which must be a regular file (not a directory, device or
    pipe: /dev/zero never ends, a FIFO blocks). Opened non-blocking, then checked with fstat, so a
    file swapped for a pipe between the check and the open cannot block the reader."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ModelFileError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise fail(path, "is a directory, not a handgrad model file") from None
    except OSError as err:
        raise fail(path, f"cannot be opened ({err.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise fail(path, f"is {kind}, not a handgrad model file")
    os.set_blocking(fd, True)
    return fd


def _header_length(path: Path, head: bytes, size: int) -> int:
    if len(head) < 8:
        raise fail(path, f"is {size} bytes long, too short for a safetensors file (truncated, or "
                         "not a handgrad model file)")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER_BYTES:
        raise fail(path, f"declares a header of {n} bytes, more than the {MAX_HEADER_BYTES} "
                         "allowed: not a handgrad model file, or corrupt")
    if 8 + n > size:
        raise fail(path, f"declares a header of {n} bytes but only {size - 8} follow: truncated, "
                         "or not a handgrad model file")
    if n < 2:
        raise fail(path, f"declares a header of {n} bytes: not a handgrad model file")
    return n


def json_depth(text: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (strings ignored), without parsing."""
    skeleton = np.frombuffer(_STRINGS.sub(b'""', text), dtype=np.uint8)
    steps = np.zeros(len(skeleton), dtype=np.int64)
    steps[(skeleton == ord("[")) | (skeleton == ord("{"))] = 1
    steps[(skeleton == ord("]")) | (skeleton == ord("}"))] = -1
    return int(np.cumsum(steps).max(initial=0))


def parse_json(path, raw: bytes, what: str, allow_nan: bool = True):
    """JSON from a file, with the depth limited before parsing (no RecursionError), duplicate keys
    refused (which one would count?) and every failure a ModelFileError naming ``what``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise fail(path, f"{what} is not UTF-8 text: not a handgrad model file, or corrupt") from None
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise fail(path, f"{what} nests {depth} levels deep, more than the {MAX_JSON_DEPTH} "
                         "allowed")

    def no_nan(constant):
        raise ValueError(f"{constant} is not a valid number here")

    try:
        return json.loads(text, object_pairs_hook=_unique_keys,
                          parse_constant=None if allow_nan else no_nan)
    except ValueError as err:  # JSONDecodeError, a duplicate key, an integer of 5000 digits
        raise fail(path, f"{what} is not valid JSON ({err})") from None


def _unique_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r:.60} appears twice")
        seen[key] = value
    return seen


def _string_metadata(path: Path, metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail(path, "the safetensors __metadata__ must map names to strings")
    return metadata


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(path: Path, name: str, entry) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of one tensor entry, each field checked."""
    where = f"tensor {name!r:.80}"
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
        raise fail(path, f"{where}: an entry must be an object with exactly the keys dtype, shape, "
                         "data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise fail(path, f"{where}: dtype {dtype!r:.40} is not one of {', '.join(DTYPES)}")
    if not (isinstance(shape, list) and len(shape) <= MAX_NDIM
            and all(_is_int(s) and s >= 0 for s in shape)):
        raise fail(path, f"{where}: shape {shape!r:.80} is not a list of at most {MAX_NDIM} "
                         "non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        raise fail(path, f"{where}: data_offsets {offsets!r:.80} is not [begin, end] with "
                         "0 <= begin <= end")
    dtype = np.dtype(DTYPES[dtype])
    nbytes = math.prod(shape) * dtype.itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise fail(path, f"{where}: shape {shape} of {entry['dtype']} needs {nbytes} bytes, its "
                         f"offsets span {offsets[1] - offsets[0]}")
    return dtype, tuple(shape), offsets[0], offsets[1]


def _check_tiling(path: Path, entries: dict, data_length: int) -> None:
    """The tensors must cover the data exactly, one after another: no overlap (two tensors sharing
    bytes), no gap (hidden bytes), nothing past the end (truncated) and nothing after the last."""
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if begin < position:
            raise fail(path, f"tensor {name!r:.80} overlaps the one before it (bytes {begin} to "
                             f"{end})")
        if begin > position:
            raise fail(path, f"there are {begin - position} bytes before tensor {name!r:.80} that "
                             "belong to no tensor")
        position = end
    if position > data_length:
        raise fail(path, f"its tensors need {position} bytes of data but the file holds "
                         f"{data_length}: truncated")
    if position < data_length:
        raise fail(path, f"{data_length - position} bytes after the last tensor belong to no "
                         "tensor: corrupt, or something was appended")
