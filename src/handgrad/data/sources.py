"""Readers for data that does not come bundled with scikit-learn.

* CSV and Parquet files with a header row and a target column (:func:`load_csv`; the reading is
  :mod:`handgrad.data.tables`, the typing of columns :mod:`handgrad.data.columns`), and files of
  features only for prediction (:func:`read_feature_csv`).
* MNIST-1D (``mnist1d``), generated offline by the ``mnist1d`` package's own generator with its
  default arguments (:func:`load_mnist1d`).
* ``body``: the notes' tabular example (002) of six body measurements -> gender, generated
  (:func:`body_table`; see its docstring for exactly what it is).
* MNIST-format IDX files, optionally gzipped, named as ``idx:IMAGES,LABELS`` (:func:`load_idx`).
* The notes' digit-recognition set-ups (001) from :mod:`handgrad.data.tasks`.

Every loader returns ``(x, d, task, classes, feature_names, target_name)``: ``x`` float64 rows
(a :class:`~handgrad.data.preprocessing.Frame` of raw columns for files),
``d`` the labels or values, ``classes`` None (sorted labels are used) or the class names in index
order.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import random
import zlib
from pathlib import Path

import numpy as np

from handgrad.data import tasks

# name -> loader returning (x, d, task, classes, feature_names, target_name)
EXTRA_SETS: dict[str, callable] = {}

# scheme -> loader of "scheme:argument" data names, e.g. "idx:images.gz,labels.gz"
SCHEMES: dict[str, callable] = {}


# --- CSV and Parquet files: handgrad.data.tables reads them, handgrad.data.columns types them ---
# Suffixes that make a data name a file even before it exists (so a typo says "file not found").
FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".parquet", ".pq")


def load_csv(path, target: str | None = None, encoding: str | None = None):
    """A CSV or Parquet file as (frame, d, task, classes, feature_names, target_name)."""
    from handgrad.data.columns import load_table

    return load_table(path, target, encoding)


def read_feature_csv(path, feature_names: list[str], encoding: str | None = None) -> np.ndarray:
    """The numeric columns ``feature_names`` of a CSV or Parquet file, in that order (other
    columns, such as an id or the target, are ignored); missing values are an error."""
    from handgrad.data.columns import read_features

    frame = read_features(path, list(feature_names), [], encoding)
    frame.refuse_missing()
    return frame.numeric


# --- MNIST-1D -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _mnist1d_arrays():
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset seeds NumPy's and Python's global generators (its default seed, 42); keep the
    # caller's global random state as it was.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())  # generates; never get_dataset (which downloads)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float64)
    d = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    x.flags.writeable = d.flags.writeable = False
    return x, d


def load_mnist1d():
    """MNIST-1D (Greydanus 2020): 5000 signals of length 40, 10 classes, produced by
    ``mnist1d.data.make_dataset(get_dataset_args())`` -- the package's defaults, seed 42, exactly
    the data of its paper -- without downloading anything. The package's own split is its first
    4000 rows (train) and last 1000 (test); rows are returned in that order."""
    x, d = _mnist1d_arrays()
    return x.copy(), d.copy(), "classification", None, [f"x{i}" for i in range(x.shape[1])], "digit"


# --- the notes' body-measurement table -----------------------------------------------------------
BODY_COLUMNS = ["id", "height", "weight", "bone density", "femur length", "jawline width",
                "jawline length", "gender"]
# The three rows the notes print (002, "Multilayer perceptron: example"); kept verbatim.
BODY_NOTES_ROWS = {112: (125, 56, 1.2, 32, 3.0, 10.0, "F"),
                   208: (189, 90, 2.5, 48, 5.0, 15.0, "M"),
                   232: (150, 70, 1.5, 37, 3.2, 10.5, "F")}
BODY_SIZE, BODY_SEED = 400, 2502


def body_table(n: int = BODY_SIZE, seed: int = BODY_SEED) -> tuple[list[str], list[tuple]]:
    """The notes' tabular example (002): six body measurements -> gender (F/M), as rows.

    The notes show only the columns and three rows (ids 112, 208 and 232), so the rest is
    generated: ``n`` people with ids 1..n, half F and half M in random order, from a seeded
    generator. Height (cm) is N(150, 10^2) for F and N(168, 11^2) for M; the other columns follow
    height, as body measurements do, with a gender offset and noise, by lines fitted through the
    notes' three rows:

        weight (kg)          = 0.56 h - 14   + 3.0 [M] + N(0, 6^2)
        bone density         = 0.012 h - 0.3 + 0.4 [M] + N(0, 0.35^2)
        femur length (cm)    = 0.26 h              + N(0, 1.5^2)
        jawline width (cm)   = 2.2 + 0.006 h + 1.2 [M] + N(0, 0.8^2)
        jawline length (cm)  = 6.5 + 0.03 h  + 2.5 [M] + N(0, 2.0^2)

    rounded as the notes print them (whole cm and kg, one decimal otherwise). The classes overlap:
    no feature alone separates them, and logistic regression reaches about 93 % (5-fold
    cross-validation on 4000 generated rows). Rows 112, 208 and 232 are the notes' rows verbatim.
    """
    if n < max(BODY_NOTES_ROWS):
        raise ValueError(f"body table needs n >= {max(BODY_NOTES_ROWS)} to hold the notes' rows, "
                         f"got {n}")
    rng = np.random.default_rng(seed)
    # half M (the notes' rows included), in random order
    male = np.zeros(n, dtype=bool)
    others = [i for i in range(n) if i + 1 not in BODY_NOTES_ROWS]
    notes_male = sum(row[-1] == "M" for row in BODY_NOTES_ROWS.values())
    male[others] = rng.permutation(np.arange(len(others)) < n // 2 - notes_male)
    for person, row in BODY_NOTES_ROWS.items():
        male[person - 1] = row[-1] == "M"
    h = np.where(male, rng.normal(168.0, 11.0, n), rng.normal(150.0, 10.0, n))
    m = male.astype(np.float64)
    columns = [np.round(h),
               np.round(0.56 * h - 14.0 + 3.0 * m + rng.normal(0, 6.0, n)),
               np.round(0.012 * h - 0.3 + 0.4 * m + rng.normal(0, 0.35, n), 1),
               np.round(0.26 * h + rng.normal(0, 1.5, n)),
               np.round(2.2 + 0.006 * h + 1.2 * m + rng.normal(0, 0.8, n), 1),
               np.round(6.5 + 0.03 * h + 2.5 * m + rng.normal(0, 2.0, n), 1)]
    rows = []
    for i in range(n):
        person = i + 1
        if person in BODY_NOTES_ROWS:
            rows.append((person, *BODY_NOTES_ROWS[person]))
        else:
            values = [float(c[i]) for c in columns]
            rows.append((person, *[int(v) if k in (0, 1, 3) else v for k, v in enumerate(values)],
                         "M" if male[i] else "F"))
    return list(BODY_COLUMNS), rows


def write_body_csv(path, n: int = BODY_SIZE, seed: int = BODY_SEED, with_id: bool = False) -> Path:
    """The body table as a CSV file, target column "gender" last. The id column is left out by
    default: a CSV's every other column is a feature, and an id is not one."""
    header, rows = body_table(n, seed)
    keep = slice(0, None) if with_id else slice(1, None)
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header[keep])
        writer.writerows(row[keep] for row in rows)
    return path


def load_body():
    """The body table as arrays: the six measurements (the id is not a feature) -> gender."""
    header, rows = body_table()
    x = np.array([r[1:7] for r in rows], dtype=np.float64)
    d = np.array([r[7] for r in rows])
    return x, d, "classification", ["F", "M"], header[1:7], "gender"


# --- IDX (the MNIST file format) ----------------------------------------------------------------
# type code -> big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_maybe_gzip(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: gzip data is corrupt or truncated ({err})") from None


def read_idx(path) -> np.ndarray:
    """An IDX file (optionally gzipped) as an array of its shape and type.

    Layout: two zero bytes, a type code, the number of dimensions k, then k big-endian uint32
    sizes, then the data, big-endian. The data's length must equal the header's product of sizes
    times the item size exactly.
    """
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: {len(raw)} bytes is too short for an IDX header (4 bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic number starts {raw[:2].hex()}, "
                         "expected 0000)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}; expected one of "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_TYPES)}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: IDX header declares {ndim} dimensions but the file ends after "
                         f"{len(raw)} bytes, before the sizes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - start
    if found != expected:
        raise ValueError(f"{path}: IDX header declares shape {shape} of {dtype.itemsize}-byte "
                         f"items ({expected} data bytes) but the file holds {found} data bytes; "
                         f"the header does not match the file size (truncated or wrong file?)")
    array = np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def load_idx(images, labels):
    """An images file (n, ...) and a labels file (n,) in IDX format: a classification set whose
    features are the flattened pixels (as float64, unscaled: standardisation follows)."""
    x, d = read_idx(images), read_idx(labels)
    if x.ndim < 2:
        raise ValueError(f"{images}: an images file needs at least 2 dimensions (n, ...), "
                         f"got shape {x.shape}")
    if d.ndim != 1:
        raise ValueError(f"{labels}: a labels file must be 1-D (n,), got shape {d.shape}")
    if len(x) != len(d):
        raise ValueError(f"{images} holds {len(x)} images but {labels} holds {len(d)} labels")
    if np.issubdtype(d.dtype, np.floating):
        if not np.all(d == np.round(d)):
            raise ValueError(f"{labels}: labels must be integers, found {d[d != np.round(d)][0]}")
    pixels = x.shape[1:]
    names = [("pixel_" + "_".join(map(str, ix))) for ix in np.ndindex(*pixels)]
    return (x.reshape(len(x), -1).astype(np.float64), d.astype(np.int64), "classification", None,
            names, "label")


def load_idx_spec(argument: str):
    """``IMAGES,LABELS`` (the part after ``idx:``): two IDX paths separated by a comma."""
    parts = [p.strip() for p in argument.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"IDX data is given as idx:IMAGES,LABELS (two paths separated by a "
                         f"comma), got idx:{argument}")
    return load_idx(*parts)


def load_scheme(name: str):
    """Load a ``scheme:argument`` data name (e.g. ``idx:IMAGES,LABELS``), or None if ``name``
    does not start with a known scheme."""
    scheme, sep, argument = name.partition(":")
    if not sep or scheme.lower() not in SCHEMES:
        return None
    return SCHEMES[scheme.lower()](argument)


def data_files(name) -> list[Path]:
    """The files a data name reads (a CSV/Parquet file, or an ``idx:`` pair); none for a named
    set."""
    text = str(name)
    scheme, sep, argument = text.partition(":")
    if not isinstance(name, Path) and sep and scheme.lower() == "idx":
        return [Path(p.strip()) for p in argument.split(",")]
    key = text.lower().replace("-", "_")
    if not isinstance(name, Path) and (key in EXTRA_SETS or key in SKLEARN_NAMES):
        return []
    return [Path(text)]


def data_file_record(name) -> dict | None:
    """What identifies a data file beyond its name: {"paths": absolute paths, "sha256": digest of
    the bytes}; None for a named set. The model file keeps it, so ``evaluate`` and ``predict
    --write-example`` find the training split in the training data only (a file of the same name
    in another folder, or the same file changed since, is not it)."""
    files = data_files(name)
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return {"paths": [str(p.resolve()) for p in files], "sha256": digest.hexdigest()}


def short_name(name) -> str:
    """A data name fit for a run directory. A file's is its name with the dot made an underscore
    (``dir/iris.csv`` -> ``iris_csv``, ``p.parquet`` -> ``p_parquet``, ``x.csv.gz`` ->
    ``x_csv``), so a file never takes the folder of a bundled set (``iris``); an IDX images file's
    is its name without extensions (``idx:dir/train-images-idx3-ubyte.gz,...`` ->
    ``train-images-idx3-ubyte``); a named set's is its name."""
    text = str(name)
    scheme, sep, argument = text.partition(":")
    if not isinstance(name, Path) and sep and scheme.lower() in SCHEMES:
        return Path(argument.split(",")[0].strip()).name.split(".")[0] or scheme.lower()
    key = text.lower().replace("-", "_")
    if not isinstance(name, Path) and (key in EXTRA_SETS or key in SKLEARN_NAMES):
        return text
    path = Path(text)
    if path.suffix.lower() in (".gz", ".bz2", ".xz", ".zip"):
        path = path.with_suffix("")
    if not path.suffix:
        name = path.name or text
        taken = name.lower().replace("-", "_") in EXTRA_SETS or name in SKLEARN_NAMES
        return f"{name}_file" if taken else name
    return f"{path.stem}_{path.suffix[1:]}"


# The bundled scikit-learn sets (handgrad.data.datasets.SKLEARN_SETS), by name.
SKLEARN_NAMES = ("digits", "iris", "wine", "breast_cancer", "diabetes")


SCHEMES["idx"] = load_idx_spec
EXTRA_SETS["mnist1d"] = load_mnist1d
EXTRA_SETS["body"] = load_body
EXTRA_SETS.update(tasks.TASK_SETS)
