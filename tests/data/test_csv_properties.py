"""Property tests of the CSV reader: random small tables written as CSV with random delimiters,
quoting and missing values read back equal, or raise a DataError -- never another exception."""

import csv
import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handgrad.data import Categorical
from handgrad.data.tables import NA_VALUES, read_table
from handgrad.errors import DataError

LETTERS = "abcXYZé"
TEXT_CHARS = LETTERS + " ,;\t|\"'\n"
names = st.text(LETTERS + "_", min_size=1, max_size=6)
numbers = st.one_of(st.floats(allow_nan=False, width=64),
                    st.integers(-10**15, 10**15).map(float))
texts = st.text(TEXT_CHARS, min_size=1, max_size=8).filter(
    lambda t: any(c in LETTERS for c in t) and t.strip().lower() not in ("true", "false"))


@st.composite
def tables(draw):
    n_cols = draw(st.integers(1, 4))
    header = draw(st.lists(names, min_size=n_cols, max_size=n_cols,
                           unique_by=lambda n: n.strip()))
    kinds = draw(st.lists(st.sampled_from(["number", "text"]), min_size=n_cols,
                          max_size=n_cols))
    n_rows = draw(st.integers(1, 6))
    missing = st.sampled_from(["", "NA", "nan", "?"])
    columns = []
    for kind in kinds:
        value = numbers if kind == "number" else texts
        columns.append(draw(st.lists(st.one_of(value, missing), min_size=n_rows,
                                     max_size=n_rows)))
    return header, kinds, columns


def write(path, header, columns, delimiter, quoting):
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, quoting=quoting, lineterminator="\n")
        writer.writerow(header)
        for row in zip(*columns):
            writer.writerow([repr(v) if isinstance(v, float) else v for v in row])


def expected(value):
    """What a written cell must read back as: a float, text stripped, or None (missing)."""
    if isinstance(value, float):
        return value
    text = value.strip()
    return None if text in NA_VALUES else text


def same(read, want) -> bool:
    if want is None:
        return read is None or (isinstance(read, float) and math.isnan(read))
    if isinstance(want, float):
        return isinstance(read, float) and read == want
    return read == want


def cells(column):
    if isinstance(column, Categorical):
        return list(column.texts())
    return [None if np.isnan(v) else float(v) for v in column]


@example(table=(["X"], ["text"], [["X,"]]), delimiter=";", quoting=csv.QUOTE_MINIMAL)
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=tables(), delimiter=st.sampled_from([",", ";", "\t", "|"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
def test_csv_reads_back_equal_or_is_a_data_error(tmp_path, table, delimiter, quoting):
    header, kinds, columns = table
    path = tmp_path / "t.csv"
    write(path, header, columns, delimiter, quoting)
    try:
        read = read_table(path)
    except DataError as err:
        assert "t.csv" in str(err)
        return
    assert read.names == [h.strip() for h in header]
    for name, column in zip(header, columns):
        got = cells(read.columns[name.strip()])
        assert len(got) == len(column)
        for g, w in zip(got, column):
            assert same(g, expected(w)), (name, g, w)
