"""Tabular files (CSV, gzipped CSV, Parquet) read into columns, with errors that name the file.

CSV is parsed by pandas' C reader, which was faster and needed less memory than pyarrow's on a
100 MB file (the measurement: docs/data-and-cli.md, "Reading"); Parquet is read by pyarrow.

What pandas does not decide for us is decided here, before it reads:

* the delimiter (``,`` ``;`` tab ``|``): the one that splits the first lines into the same number
  (at least two) of fields; the header's names come from the same parse, so duplicate and empty
  column names are refused before pandas would rename them (``y.1``, ``Unnamed: 0``);
* the encoding: UTF-8 unless a byte-order mark says UTF-8-SIG or UTF-16, or the caller names one;
  text that does not decode is an error naming the file, the byte and what to do (``encoding=``);
* what a file that is not text looks like (Parquet, gzip, ZIP/Excel, binary);
* missing values: only the strings in :data:`NA_VALUES` (pandas' default list also takes
  ``None`` and ``n/a``-like words that may be real categories);
* a row with fewer fields than the header (pandas fills it with NaN): refused, naming the line.

A :class:`Table` holds each column as float64 (NaN where missing) or as a
:class:`~handgrad.data.preprocessing.Categorical` of stripped text (code -1 where missing). Line
numbers for messages are found only when a message needs them (a second, slow pass with the
``csv`` module).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handgrad.errors import DataError, OptionError

# The strings read as a missing value, in any column (documented in docs/data-and-cli.md).
NA_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "#N/A", "<NA>", "?"]
DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 1 << 16
PARQUET_SUFFIXES = (".parquet", ".pq")
PANDAS_INDEX = re.compile(r"__index_level_\d+__")


@dataclass
class Table:
    """Named columns of one file. ``numbered`` maps a data-row index to its line in the file."""

    path: Path
    names: list[str]
    columns: dict[str, np.ndarray]
    counted: tuple | None = None  # scikit-learn's counted CSV: (n_samples, n_features, classes)
    _lines: np.ndarray | None = field(default=None, repr=False)
    _line_reader: object = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def where(self, rows, limit: int = 5) -> str:
        """'lines 3, 8' (CSV) or 'rows 2, 7' (Parquet) for data-row indices, the first ``limit``."""
        rows = np.asarray(rows, dtype=np.int64)
        shown = rows[:limit]
        if self._line_reader is not None:
            if self._lines is None:
                self._lines = self._line_reader()
            numbers, word = self._lines[shown], "line"
        else:
            numbers, word = shown + 1, "row"
        more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
        plural = "s" if len(rows) > 1 else ""
        return f"{word}{plural} {', '.join(str(int(n)) for n in numbers)}{more}"


def read_table(path, encoding: str | None = None) -> Table:
    """A CSV (optionally gzipped) or Parquet file as a :class:`Table`."""
    path = Path(path)
    check_encoding(encoding)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a data set name or a CSV/Parquet file")
    with path.open("rb") as f:
        head = f.read(SAMPLE_BYTES)
    if head[:4] == b"PAR1" or path.suffix.lower() in PARQUET_SUFFIXES:
        return read_parquet(path)
    compression = None
    if head[:2] == b"\x1f\x8b":
        compression = "gzip"
        head = _gunzip_head(path)
    _refuse_non_text(path, head, encoding)
    _check_bom(path, head, encoding)
    encoding = encoding or _bom_encoding(head)
    text = _decode_sample(path, head, encoding)
    delimiter = sniff_delimiter(text)
    names, width = _header(path, text, delimiter)
    counted = counted_header(names, width)
    if counted is None:
        _check_names(path, names)
    if counted is not None:
        names = [f"x{j}" for j in range(counted[1])] + ["target"]
    frame = _pandas_read(path, delimiter, encoding, compression, len(names))
    table = Table(path, [], {}, counted=counted)
    table._line_reader = lambda: data_lines(path, delimiter, encoding, compression)
    _check_row_lengths(table, frame, len(names), delimiter, encoding, compression)
    table.names = names
    table.columns = {name: _column(frame.iloc[:, j]) for j, name in enumerate(names)}
    if table.n_rows == 0:
        raise DataError(f"{path}: needs a header row and at least one data row")
    return table


def read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
        from pyarrow import ArrowException
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        arrow = pq.ParquetFile(path).read()  # read_table refuses duplicate names: we name them
    except (ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    # pandas writes a DataFrame's non-default index as a column of this name: not a feature
    keep = [j for j, n in enumerate(arrow.column_names) if not PANDAS_INDEX.fullmatch(str(n))]
    arrow = arrow.select(keep)
    names = [str(n).strip() for n in arrow.column_names]
    _check_names(path, names)
    columns = {}
    for name, column in zip(names, arrow.columns):
        kind = column.type
        if not (_arrow_is(kind, "integer", "floating", "boolean", "string", "large_string",
                          "dictionary", "null")):
            raise DataError(f"{path}: column {name!r} has type {kind}, which is neither numbers "
                            "nor text; convert it or drop it")
        columns[name] = _column(column.to_pandas())
    table = Table(path, names, columns)
    if table.n_rows == 0:
        raise DataError(f"{path}: holds no rows")
    return table


def _arrow_is(kind, *names) -> bool:
    import pyarrow.types as pt

    return any(getattr(pt, f"is_{n}")(kind) for n in names)


# --- what the file is -----------------------------------------------------------------------------
def _gunzip_head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read(SAMPLE_BYTES)
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: gzip data is corrupt or truncated ({err})") from None


def _refuse_non_text(path: Path, head: bytes, encoding: str | None) -> None:
    if head[:4] == b"PK\x03\x04":
        raise DataError(f"{path} is a ZIP archive (an Excel .xlsx workbook?), not CSV text; "
                        "export the sheet as CSV")
    if not head.strip():
        raise DataError(f"{path} is empty; it needs a header row and at least one data row")
    utf16 = head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    if b"\x00" in head and not utf16 and not (encoding and "16" in encoding or
                                              encoding and "32" in encoding):
        raise DataError(f"{path} holds binary data (NUL bytes), not CSV text; give a CSV or a "
                        "Parquet file")


def _bom_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    return "utf-8"


UTF16 = ("utf-16", "utf-16-le", "utf-16-be")
UTF8 = ("utf-8", "utf-8-sig")


def _check_bom(path: Path, head: bytes, encoding: str | None) -> None:
    """A byte-order mark says what the file is: an --encoding that contradicts it would read
    garbage (UTF-16 as latin-1: NUL bytes everywhere, the BOM inside the first name). UTF-16 text
    without a BOM still has NUL bytes in any ASCII text; a file without them is not UTF-16."""
    if encoding is None:
        return
    name = codecs.lookup(encoding).name
    hint = "leave out --encoding (encoding= in load_dataset): the mark is read by itself"
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and name not in UTF16:
        raise DataError(f"{path} starts with a UTF-16 byte-order mark: it is UTF-16 text, not "
                        f"{encoding}; {hint}")
    if head.startswith(codecs.BOM_UTF8) and name not in UTF8:
        raise DataError(f"{path} starts with a UTF-8 byte-order mark: it is UTF-8 text, not "
                        f"{encoding}; {hint}")
    if name in UTF16 and b"\x00" not in head:
        raise DataError(f"{path}: not {encoding} text (no byte-order mark and no NUL bytes, which "
                        "UTF-16 text has); give the file's encoding with --encoding (utf-8, "
                        "latin-1, cp1252; encoding= in load_dataset)")


def _decode_sample(path: Path, head: bytes, encoding: str) -> str:
    """The head of the file as text, with its line ends made '\\n' (for sniffing: csv.reader on
    a StringIO splits only at '\\n', so a CR-only file looked like one long line)."""
    decoder = codecs.getincrementaldecoder(check_encoding(encoding))()
    try:
        text = decoder.decode(head, final=len(head) < SAMPLE_BYTES)
    except UnicodeError as err:
        raise _decode_error(path, encoding, err) from None
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def check_encoding(encoding):
    """None, or the name of a text codec Python knows (OptionError otherwise)."""
    if encoding is None:
        return encoding
    try:
        if isinstance(encoding, str) and codecs.lookup(encoding)._is_text_encoding:
            return encoding
    except LookupError:
        pass
    raise OptionError(f"invalid encoding: {encoding!r} (expected a text encoding such as utf-8, "
                      "latin-1, cp1252)")


def _decode_error(path: Path, encoding: str, err: UnicodeError) -> DataError:
    """UnicodeDecodeError names a byte; other UnicodeErrors (UTF-16 without its byte-order mark)
    only say why."""
    if isinstance(err, UnicodeDecodeError):
        why = f"byte 0x{err.object[err.start:err.start + 1].hex()} cannot be decoded"
    else:
        why = str(err)
        if codecs.lookup(encoding).name == "utf-16":
            return DataError(f"{path}: not {encoding} text ({why}); UTF-16 without a byte-order "
                             "mark needs --encoding utf-16-le or utf-16-be (encoding= in "
                             "load_dataset)")
    hint = ("if it is Latin-1 or Windows text, say so with --encoding latin-1 (or cp1252; "
            "encoding= in load_dataset)" if encoding.startswith("utf-8") else
            "give the file's encoding with --encoding (encoding= in load_dataset)")
    return DataError(f"{path}: not {encoding} text ({why}); {hint}")


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header into at least two fields and the most of the next
    lines into as many; ',' when none does (a single column)."""
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end inside a line
    sample = "".join(lines[:50])
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        except csv.Error:
            continue
        width = len(rows[0]) if rows else 0
        if width < 2:
            continue
        body = rows[1:] or rows
        score = (sum(len(r) == width for r in body) / len(body), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _header(path: Path, text: str, delimiter: str) -> tuple[list[str], int | None]:
    """The header's names, and the number of fields of the first data row (None if none)."""
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(row for row in rows if row)
    except (StopIteration, csv.Error):
        raise DataError(f"{path} is empty; it needs a header row and at least one data row") \
            from None
    try:
        first = next((row for row in rows if row), None)
    except csv.Error:
        first = None
    return [name.strip() for name in header], None if first is None else len(first)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def counted_header(names: list[str], data_width: int | None):
    """(n_samples, n_features, class names) when the first line is scikit-learn's count line
    (``150,4,setosa,versicolor,virginica`` in its bundled iris.csv: rows, features, then the class
    names) and the data rows have n_features + 1 fields; else None."""
    if len(names) < 3 or not all(names) or _is_number(names[2]):
        return None
    try:
        n_samples, n_features = int(names[0]), int(names[1])
    except ValueError:
        return None
    if n_samples < 1 or n_features < 1 or data_width != n_features + 1:
        return None
    return n_samples, n_features, names[2:]


def _check_names(path: Path, names: list[str]) -> None:
    named = [n for n in names if n]
    if named and all(_is_number(n) for n in named):
        raise DataError(f"{path}: the first line ({','.join(names[:6])}"
                        f"{',...' if len(names) > 6 else ''}) holds only numbers: the file has no "
                        "header row; add one naming the columns")
    empty = [j + 1 for j, n in enumerate(names) if not n]
    if empty:
        raise DataError(f"{path}: column(s) {empty} of the header have no name; every column "
                        "needs a name (or delete the unnamed columns)")
    seen, twice = set(), []
    for n in names:
        if n in seen and n not in twice:
            twice.append(n)
        seen.add(n)
    if twice:
        raise DataError(f"{path}: column name(s) {twice} appear more than once in the header; "
                        "each column needs its own name (rename or delete the copies)")


# --- reading ------------------------------------------------------------------------------------
def _pandas_read(path, delimiter, encoding, compression, width):
    import pandas as pd

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=delimiter, encoding=encoding, compression=compression,
                                header=0, names=list(range(width)), index_col=False,
                                na_values=NA_VALUES, keep_default_na=False,
                                skip_blank_lines=True, skipinitialspace=True, engine="c")
    except UnicodeError as err:
        raise _decode_error(path, encoding, err) from None
    except pd.errors.ParserError as err:
        _raise_bad_line(path, delimiter, encoding, compression, width)
        raise DataError(f"{path}: not readable as CSV ({err})") from None
    except (EOFError, OSError) as err:
        raise DataError(f"{path}: could not be read ({err})") from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        # pandas drops the extra fields of a first data row longer than the header
        _raise_bad_line(path, delimiter, encoding, compression, width)
    return frame


def _raise_bad_line(path, delimiter, encoding, compression, width) -> None:
    line = _first_bad_line(path, delimiter, encoding, compression, width)
    if line is not None:
        raise DataError(f"{path}: line {line[0]} has {line[1]} fields, the header has {width}")


def _check_row_lengths(table, frame, width, delimiter, encoding, compression) -> None:
    """pandas fills a short row's missing fields with NaN; a short row leaves the last column
    empty, so only a file with missing values in its last column is scanned for one. A one-column
    file is always scanned: no delimiter was seen in its header, so a row "X," (pandas drops the
    empty field after it silently) may be a value holding a comma, or two fields."""
    if width == 1 or (frame.shape[1] and frame.iloc[:, -1].isna().any()):
        _raise_bad_line(table.path, delimiter, encoding, compression, width)


def _rows(path, delimiter, encoding, compression):
    """(first line number, fields) of every non-blank CSV record after the header."""
    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rt", encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, skipinitialspace=True)
        start = 1
        header_seen = False
        for row in reader:
            first, start = start, reader.line_num + 1
            if not row:
                continue
            if header_seen:
                yield first, row
            header_seen = True


def _first_bad_line(path, delimiter, encoding, compression, width):
    try:
        for line, row in _rows(path, delimiter, encoding, compression):
            if len(row) != width:
                return line, len(row)
    except (csv.Error, UnicodeError):
        return None
    return None


def data_lines(path, delimiter, encoding, compression) -> np.ndarray:
    """The line number where each data row starts (for messages; a slow pass)."""
    return np.array([line for line, _ in _rows(path, delimiter, encoding, compression)],
                    dtype=np.int64)


def _column(series):
    """float64 with NaN for numbers; else a Categorical of stripped text (code -1 missing)."""
    import pandas as pd

    from handgrad.data.preprocessing import Categorical

    if pd.api.types.is_bool_dtype(series.dtype):
        return Categorical(series.to_numpy(dtype=np.int64), ["False", "True"])
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    # a column pandas read in chunks may mix floats and str objects: the values become text
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return Categorical(codes, [str(u) for u in uniques]).stripped()
