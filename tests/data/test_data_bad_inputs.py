"""Bad and awkward data files through ``load_dataset`` (issue 13), one table row per case.

Each case asserts its outcome class: the right result (checked against what the file says), or an
error of a named type whose message names the file and the column/line/option at fault.
"""

import codecs
import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

from handgrad.data import DataWarning, load_dataset
from handgrad.errors import DataError, OptionError

SPLIT = dict(test_size=0.25, val_size=0.0)


def rows(n=8, classes=("x", "z")):
    """n data lines 'a,b,label' with two classes, a and b numeric."""
    return "".join(f"{i},{2 * i + 1},{classes[i % len(classes)]}\n" for i in range(n))


GOOD = "a,b,y\n" + rows()

# (case id, file bytes or text, load_dataset kwargs, expected error type, words the message has)
ERRORS = [
    ("duplicate target name", "y,noise,y\n" + rows(), {}, DataError, ["['y']", "more than once"]),
    ("duplicate feature name", "a,b,a,label\n" + "".join(f"{i},{i},{i},{'xz'[i % 2]}\n"
                                                         for i in range(8)),
     {}, DataError, ["['a']", "more than once"]),
    ("three empty names", ",,,label\n" + "".join(f"{i},{i},{i},{'xz'[i % 2]}\n" for i in range(8)),
     {}, DataError, ["[1, 2, 3]", "no name"]),
    ("one empty name", "a,,y\n" + rows(), {}, DataError, ["[2]", "no name"]),
    ("names equal after stripping", "a, a,y\n" + rows(), {}, DataError, ["['a']"]),
    ("header of numbers", "1,2,3\n" + rows(), {}, DataError, ["only numbers", "no header row"]),
    ("header of floats", "0.5,1.5,2\n" + rows(), {}, DataError, ["only numbers"]),
    ("missing feature value", "a,b,y\n1,2,x\n3,,z\n" + rows(), {}, DataError,
     ["missing values in column(s) 'b' (1)", "line 3", "--impute"]),
    ("NA feature value", "a,b,y\n1,NA,x\n" + rows(), {}, DataError,
     ["'b' (1)", "line 2", "--impute"]),
    ("question mark is missing", "a,b,y\n1,?,x\n" + rows(), {}, DataError, ["'b' (1)"]),
    ("missing in two columns", "a,b,y\nNA,NA,x\n4,,z\n" + rows(), {}, DataError,
     ["'a' (1), 'b' (2)", "lines 2, 3"]),
    ("stray word in numbers", "a,b,y\n1,2,x\n3,tall,z\n" + rows(), {}, DataError,
     ["column 'b' mixes numbers", "'tall' at line 3"]),
    ("inf feature", "a,b,y\n1,inf,x\n" + rows(), {}, DataError, ["column 'b' holds inf",
                                                                  "line 2"]),
    ("-inf feature", "a,b,y\n1,-inf,x\n" + rows(), {}, DataError, ["-inf", "finite"]),
    ("inf target regression", "a,y\n" + "".join(f"{i},{i * 1.37}\n" for i in range(30)) +
     "1,inf\n", {}, DataError, ["target column 'y' holds inf"]),
    ("short row", "a,b,y\n1,2,x\n3,4\n" + rows(), {}, DataError,
     ["line 3 has 2 fields, the header has 3"]),
    ("long row", "a,b,y\n1,2,x\n3,4,5,6\n" + rows(), {}, DataError,
     ["line 3 has 4 fields, the header has 3"]),
    ("short row at the end", "a,b,y\n" + rows() + "3\n", {}, DataError,
     ["line 10 has 1 fields"]),
    ("first row too long", "a,b,y\n1,2,x,5\n" + rows(), {}, DataError,
     ["line 2 has 4 fields, the header has 3"]),
    ("trailing delimiter on every line", GOOD.replace("\n", ",\n"), {}, DataError,
     ["column(s) [4] of the header have no name"]),
    ("header only", "a,b,y\n", {}, DataError, ["at least one data row"]),
    ("empty file", "", {}, DataError, ["is empty"]),
    ("blank lines only", "\n\n\n", {}, DataError, ["empty"]),
    ("target not found", GOOD, {"target": "label"}, DataError,
     ["target column 'label' not found", "columns are ['a', 'b', 'y']"]),
    ("target only", "y\n" + "".join(f"{'xz'[i % 2]}\n" for i in range(8)), {}, DataError,
     ["no feature columns", "'y'"]),
    ("single class", "a,b,y\n" + rows(classes=("x",)), {}, DataError,
     ["single class ('x')", "'y'"]),
    ("all targets missing", "a,b,y\n" + "".join(f"{i},{i},NA\n" for i in range(8)), {},
     DataError, ["target column 'y' has no values"]),
    ("one row of a class", "a,b,y\n" + rows() + "9,9,lonely\n", {}, DataError,
     ["class 'lonely' has only 1 row", "--test-size"]),
    ("one row per class", "a,b,y\n1,2,p\n3,4,q\n5,6,r\n7,8,s\n", {}, DataError,
     ["has only 1 row", "--test-size"]),
    ("class left alone for validation", "a,b,y\n" + rows(12) + "9,9,w\n8,8,w\n",
     {"val_size": 0.2, "test_size": 0.2}, DataError, ["class 'w' has only 1 row left after the "
                                                      "test split", "--val-size"]),
    ("too few test rows for the classes", "a,b,y\n" + rows(20, ("p", "q", "r", "s", "t")),
     {"test_size": 0.1, "val_size": 0.0}, DataError, ["--test-size", "5 classes"]),
    ("too few validation rows for the classes", "a,b,y\n" + rows(30, ("p", "q", "r", "s", "t")),
     {"test_size": 0.5, "val_size": 0.05}, DataError, ["--val-size", "5 classes"]),
    ("two rows regression", "a,y\n1,1.5\n2,2.5\n", {"test_size": 0.5, "val_size": 0.4}, DataError,
     ["--val-size", "too few"]),
    ("decimal commas", "a;b;y\n" + "1,5;2,5;x\n3,5;4,25;z\n" * 4, {}, DataError,
     ["numbers written with a comma", "'1,5'"]),
    ("thousands separators", "a,b,y\n" + "".join(f'"{i},{i}00",{i},{"xz"[i % 2]}\n'
                                                  for i in range(1, 9)), {}, DataError,
     ["column 'a' holds numbers written with a comma", "'1,100' at line 2"]),
    ("identifier column", "name,b,y\n" + "".join(f"person{i},{i},{'xz'[i % 2]}\n"
                                                 for i in range(60)), {}, DataError,
     ["column 'name' has 60 distinct text values", "remove the column"]),
    ("binary file", b"\x00\x01\x02\x03garbage\x00", {}, DataError, ["binary data"]),
    ("zip file", b"PK\x03\x04" + bytes(range(200)), {}, DataError, ["ZIP archive", "CSV"]),
    ("latin-1 file", "a,b,y\n1,2,caf\xe9\n".encode("latin-1") + rows().encode(), {}, DataError,
     ["not utf-8 text", "byte 0xe9", "--encoding latin-1"]),
    ("cp1252 quotes", "a,b,y\n1,2,\u201cx\u201d\n".encode("cp1252") + rows().encode(), {},
     DataError, ["byte 0x93", "--encoding"]),
    ("latin-1 late in the file", ("a,b,y\n" + rows(3000)).encode() + "1,2,\xe9\n".encode(
        "latin-1"), {}, DataError, ["not utf-8 text", "--encoding"]),
    ("unknown encoding", GOOD, {"encoding": "klingon"}, OptionError, ["invalid encoding",
                                                                       "'klingon'"]),
    ("encoding not a string", GOOD, {"encoding": 8}, OptionError, ["invalid encoding: 8"]),
    ("utf-16 asked, latin-1 given (no BOM, no NUL)", ("a,b,y\n" + rows(3000)).encode() +
     "1,2,\xe9\n".encode("latin-1"), {"encoding": "utf-16"}, DataError,
     ["not utf-16 text", "no byte-order mark", "--encoding"]),
    # Python's incremental UTF-16 decoder raises UnicodeError (not UnicodeDecodeError) on a
    # sample without a byte-order mark: it was a traceback.
    ("utf-16 asked, utf-16-le without BOM", ("a,b,y\n" + rows(3000)).encode("utf-16-le"),
     {"encoding": "utf-16"}, DataError, ["not utf-16 text", "--encoding utf-16-le"]),
    ("latin-1 asked, UTF-16 BOM", ("a,b,y\n" + rows(200)).encode("utf-16"),
     {"encoding": "latin-1"}, DataError,
     ["starts with a UTF-16 byte-order mark: it is UTF-16 text, not latin-1", "--encoding"]),
    ("cp1252 asked, UTF-8 BOM", codecs.BOM_UTF8 + GOOD.encode(), {"encoding": "cp1252"},
     DataError, ["starts with a UTF-8 byte-order mark: it is UTF-8 text, not cp1252"]),
    ("corrupt gzip", gzip.compress(GOOD.encode())[:-9], {}, DataError,
     ["gzip data is corrupt or truncated"]),
    ("counted format, wrong count", "9,2,setosa,versicolor\n" + "".join(
        f"{i}.0,{i}.5,{i % 2}\n" for i in range(8)), {}, DataError,
     ["count line says 9 rows, the file has 8"]),
    ("counted format, index out of range", "8,2,setosa,versicolor\n" + "".join(
        f"{i}.0,{i}.5,{i % 3}\n" for i in range(8)), {}, DataError,
     ["class index 0..1, got 2 at lines 4, 7"]),
    ("counted format, other target", "8,2,setosa,versicolor\n" + "".join(
        f"{i}.0,{i}.5,{i % 2}\n" for i in range(8)), {"target": "species"}, DataError,
     ["counted format", "'species'"]),
    ("bad impute", GOOD, {"impute": "avg"}, OptionError,
     ["invalid impute: 'avg'", "mean, median, most_frequent"]),
    ("impute not a string", GOOD, {"impute": 1}, OptionError, ["invalid impute"]),
    ("integer dtype", GOOD, {"dtype": np.int32}, OptionError, ["invalid dtype", "float32"]),
    ("float16 dtype", GOOD, {"dtype": "float16"}, OptionError, ["invalid dtype"]),
    ("object dtype", GOOD, {"dtype": object}, OptionError, ["invalid dtype"]),
    ("nonsense dtype", GOOD, {"dtype": "wide"}, OptionError, ["invalid dtype"]),
    ("test size 0", GOOD, {"test_size": 0.0}, OptionError, ["invalid test_size: 0.0"]),
    ("test size 1", GOOD, {"test_size": 1.0}, OptionError, ["invalid test_size: 1.0"]),
    ("test size nan", GOOD, {"test_size": float("nan")}, OptionError, ["invalid test_size"]),
    ("val size negative", GOOD, {"val_size": -0.1}, OptionError, ["invalid val_size: -0.1"]),
    ("val plus test too big", GOOD, {"val_size": 0.5, "test_size": 0.5}, OptionError,
     ["invalid val_size: 0.5", "1 - test_size"]),
    ("seed negative", GOOD, {"seed": -1}, OptionError, ["invalid seed: -1"]),
    ("seed float", GOOD, {"seed": 1.5}, OptionError, ["invalid seed: 1.5"]),
    ("standardize not bool", GOOD, {"standardize": "yes"}, OptionError, ["invalid standardize"]),
    ("impute all missing", "a,b,y\n" + "".join(f"{i},NA,{'xz'[i % 2]}\n" for i in range(8)),
     {"impute": "mean"}, DataError, ["column 'b' has no values in the training rows"]),
]


@pytest.mark.parametrize("case, content, kwargs, error, words", ERRORS,
                         ids=[c[0] for c in ERRORS])
def test_bad_file_is_a_named_error(tmp_path, case, content, kwargs, error, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    kwargs = {**SPLIT, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(error) as caught:
            load_dataset(path, **kwargs)
    message = str(caught.value)
    if error is DataError:
        assert "bad.csv" in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# (case id, file text, kwargs, what it must read as: feature names, classes or None, n rows)
READ = [
    ("comma", GOOD, {}, ["a", "b"], ["x", "z"], 8),
    ("semicolon", GOOD.replace(",", ";"), {}, ["a", "b"], ["x", "z"], 8),
    ("tab", GOOD.replace(",", "\t"), {}, ["a", "b"], ["x", "z"], 8),
    ("pipe", GOOD.replace(",", "|"), {}, ["a", "b"], ["x", "z"], 8),
    ("an empty field after the last (nothing lost)", "a,b,y\n1,2,x,\n" + rows(), {},
     ["a", "b"], ["x", "z"], 9),
    ("CRLF line ends", GOOD.replace("\n", "\r\n"), {}, ["a", "b"], ["x", "z"], 8),
    ("CR-only line ends (old Mac; was 'is empty')", GOOD.replace("\n", "\r"), {}, ["a", "b"],
     ["x", "z"], 8),
    ("CR-only line ends, a missing value", "a,b,y\r1,,x\r" + rows().replace("\n", "\r"),
     {"impute": "mean"}, ["a", "b"], ["x", "z"], 9),
    ("spaces around values", GOOD.replace(",", " , "), {}, ["a", "b"], ["x", "z"], 8),
    ("blank lines", GOOD.replace("\n", "\n\n"), {}, ["a", "b"], ["x", "z"], 8),
    ("quoted fields", '"a","b","y"\n' + "".join(f'"{i}","{i + 1}","{"xz"[i % 2]}"\n'
                                                for i in range(8)), {}, ["a", "b"], ["x", "z"],
     8),
    ("quoted delimiter in a label", "a,b,y\n" + "".join(f'{i},{i},"{"x,1" if i % 2 else "z;2"}"\n'
                                                        for i in range(8)),
     {}, ["a", "b"], ["x,1", "z;2"], 8),
    ("quoted newline in a label", "a,b,y\n" + "".join(f'{i},{i},"{"x" if i % 2 else "z"}\n2"\n'
                                                      for i in range(8)),
     {}, ["a", "b"], ["x\n2", "z\n2"], 8),
    ("escaped quote", "a,b,y\n" + "".join(f'{i},{i},"say ""{"xz"[i % 2]}"""\n'
                                          for i in range(8)),
     {}, ["a", "b"], ['say "x"', 'say "z"'], 8),
    ("target chosen", "y,a,b\n" + "".join(f"{'xz'[i % 2]},{i},{i * 2}\n" for i in range(8)),
     {"target": "y"}, ["a", "b"], ["x", "z"], 8),
    ("target in the middle", "a,y,b\n" + "".join(f"{i},{'xz'[i % 2]},{i * 2}\n"
                                                  for i in range(8)),
     {"target": "y"}, ["a", "b"], ["x", "z"], 8),
    ("NA target rows dropped", "a,b,y\n" + rows() + "5,5,NA\n6,6,\n", {}, ["a", "b"],
     ["x", "z"], 8),
    ("integer classes", "a,b,y\n" + "".join(f"{i},{i},{i % 3}\n" for i in range(9)), {},
     ["a", "b"], [0, 1, 2], 9),
    ("float targets are regression", "a,y\n" + "".join(f"{i},{i * 1.37:.3f}\n"
                                                      for i in range(30)),
     {}, ["a"], None, 30),
    ("many whole numbers are regression", "a,y\n" + "".join(f"{i},{i * 3}\n" for i in range(30)),
     {}, ["a"], None, 30),
    ("categorical feature", "c,b,y\n" + "".join(f"{'pq'[i % 2]},{i},{'xz'[i % 2]}\n"
                                                for i in range(8)),
     {}, ["b", "c"], ["x", "z"], 8),
    ("boolean feature", "c,b,y\n" + "".join(f"{bool(i % 2)},{i},{'xz'[i % 2]}\n"
                                            for i in range(8)),
     {}, ["b", "c"], ["x", "z"], 8),
    ("imputed feature", "a,b,y\n1,NA,x\n" + rows(), {"impute": "mean"}, ["a", "b"], ["x", "z"],
     9),
    ("imputed category", "c,b,y\n,1,x\n" + "".join(f"{'pq'[i % 2]},{i},{'xz'[i % 2]}\n"
                                                   for i in range(8)),
     {"impute": "median"}, ["b", "c"], ["x", "z"], 9),
    ("latin-1 with its encoding", "a,b,y\n" + "".join(f"{i},{i},caf\xe9{i % 2}\n"
                                                      for i in range(8)),
     {"encoding": "latin-1"}, ["a", "b"], ["caf\xe90", "caf\xe91"], 8),
    ("counted format", "8,2,setosa,versicolor\n" + "".join(f"{i}.0,{i}.5,{i % 2}\n"
                                                            for i in range(8)),
     {}, ["x0", "x1"], ["setosa", "versicolor"], 8),
]


@pytest.mark.parametrize("case, text, kwargs, features, classes, n", READ,
                         ids=[c[0] for c in READ])
def test_awkward_file_reads_right(tmp_path, case, text, kwargs, features, classes, n):
    path = tmp_path / "ok.csv"
    path.write_bytes(text.encode(kwargs.get("encoding") or "utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = load_dataset(path, **{**SPLIT, **kwargs})
    assert sorted(ds.feature_names) == features
    if classes is None:
        assert ds.task == "regression"
    else:
        assert ds.task == "classification" and ds.classes == classes
    assert len(ds.x_train) + len(ds.x_test) == n
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_test).all()
    assert ds.name == "ok_csv"


@pytest.mark.parametrize("bom, encoding", [(b"\xef\xbb\xbf", "utf-8"), (b"", "utf-16"),
                                          (b"", "utf-16-le"), (b"", "utf-16-be")])
def test_byte_order_marks_are_not_part_of_the_first_name(tmp_path, bom, encoding):
    text = GOOD.replace("a,", "alpha,", 1)
    body = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # with their BOM, as Excel writes them
        body = ("\ufeff" + text).encode(encoding)
    path = tmp_path / "bom.csv"
    path.write_bytes(bom + body)
    ds = load_dataset(path, **SPLIT)
    assert ds.feature_names == ["alpha", "b"]


def test_the_same_table_in_every_format_reads_the_same(tmp_path):
    import pandas as pd

    base = tmp_path / "t.csv"
    base.write_text(GOOD)
    reference = load_dataset(base, **SPLIT)
    frame = pd.read_csv(base)
    variants = {"t.tsv": GOOD.replace(",", "\t"), "t2.csv": GOOD.replace(",", ";")}
    for name, text in variants.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(GOOD.encode()))
    frame.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "no_suffix").write_bytes((tmp_path / "t.parquet").read_bytes())  # by content
    for name in [*variants, "t.csv.gz", "t.parquet", "no_suffix"]:
        ds = load_dataset(tmp_path / name, **SPLIT)
        np.testing.assert_array_equal(ds.x_train, reference.x_train, err_msg=name)
        np.testing.assert_array_equal(ds.d_test, reference.d_test, err_msg=name)
        assert ds.classes == reference.classes


def test_parquet_with_nulls_categories_and_duplicate_names(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"a": [1.0, None, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                      "c": ["p", "q", None, "p", "q", "p", "q", "p"],
                      "y": ["x", "z"] * 4})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"t.parquet: missing values in column\(s\) 'a' \(1\), "
                                        r"'c' \(1\), at rows 2, 3"):
        load_dataset(tmp_path / "t.parquet", **SPLIT)
    ds = load_dataset(tmp_path / "t.parquet", impute="most_frequent", **SPLIT)
    assert ds.input_names == ["a", "c=p", "c=q"] and ds.name == "t_parquet"
    twice = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4]), pa.array(["x", "z"])],
                                 names=["a", "a", "y"])
    pq.write_table(twice, tmp_path / "twice.parquet")
    with pytest.raises(DataError, match=r"twice.parquet: column name\(s\) \['a'\] appear more"):
        load_dataset(tmp_path / "twice.parquet", **SPLIT)
    dates = pa.table({"when": pa.array([1, 2], pa.timestamp("s")), "y": ["x", "z"]})
    pq.write_table(dates, tmp_path / "dates.parquet")
    with pytest.raises(DataError, match=r"dates.parquet: column 'when' has type timestamp"):
        load_dataset(tmp_path / "dates.parquet", **SPLIT)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1" + b"\x00" * 40)
    with pytest.raises(DataError, match="broken.parquet: not a readable Parquet file"):
        load_dataset(tmp_path / "broken.parquet", **SPLIT)


def test_duplicate_target_column_no_longer_leaks(tmp_path):
    """Issue 13: with header `y,noise,y` the target was read from column 0 and the feature `y` was
    the same column (test accuracy 1.0). Now the file is refused, naming the column."""
    rng = np.random.default_rng(0)
    lines = [f"{rng.integers(0, 2)},{rng.normal():.3f},{rng.integers(0, 2)}" for _ in range(50)]
    path = tmp_path / "leak.csv"
    path.write_text("y,noise,y\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"leak.csv: column name\(s\) \['y'\] appear more"):
        load_dataset(path)


def test_na_target_is_missing_not_a_class(tmp_path):
    """Issue 13: `NA` in a string target became a class; now its rows are dropped, with a
    warning naming how many and where."""
    text = "a,b,sex\n" + "".join(f"{i},{i},{('female', 'male')[i % 2]}\n" for i in range(10))
    path = tmp_path / "p.csv"
    path.write_text(text + "3,3,NA\n4,4,\n")
    with pytest.warns(DataWarning, match=r"p.csv: dropped 2 row\(s\) whose target 'sex' is "
                                         r"missing \(lines 12, 13\)"):
        ds = load_dataset(path, **SPLIT)
    assert ds.classes == ["female", "male"]
    assert len(ds.x_train) + len(ds.x_test) == 10


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text('a,b,y\n\n1,2,"two\nlines"\n\n3,,z\n' + rows())
    with pytest.raises(DataError, match=r"'b' \(1\), at line 6;"):
        load_dataset(path, **SPLIT)


def test_scikit_learns_own_iris_csv_reads_as_the_bundled_iris(tmp_path):
    """Issue 13: scikit-learn's iris.csv starts with a count line, once taken as the header."""
    import sklearn.datasets

    source = Path(sklearn.datasets.__file__).parent / "data" / "iris.csv"
    path = tmp_path / "iris.csv"
    path.write_bytes(source.read_bytes())
    ds = load_dataset(path)
    bundled = load_dataset("iris")
    assert ds.classes == ["setosa", "versicolor", "virginica"]
    assert ds.feature_names == ["x0", "x1", "x2", "x3"]
    np.testing.assert_array_equal(ds.x_train, bundled.x_train)
    np.testing.assert_array_equal(ds.d_test, bundled.d_test)
    assert ds.name == "iris_csv" and bundled.name == "iris"  # never the bundled set's folder


def test_a_path_and_a_string_load_the_same(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(GOOD)
    a, b = load_dataset(path, **SPLIT), load_dataset(str(path), **SPLIT)
    np.testing.assert_array_equal(a.x_train, b.x_train)


@pytest.mark.parametrize("name, kwargs, error, words", [
    ("iris", {"target": "foo"}, OptionError, ["invalid target: 'foo'", "iris has a fixed target"]),
    ("digits", {"target": "label"}, OptionError, ["digits has a fixed target 'target'"]),
    ("mnist1d", {"target": "x"}, OptionError, ["mnist1d has a fixed target 'digit'"]),
    ("body", {"target": "height"}, OptionError, ["body has a fixed target 'gender'"]),
    ("no_such_set", {}, OptionError, ["unknown data set 'no_such_set'", "digits", "<file.csv>"]),
    ("missing.csv", {}, DataError, ["data file not found: missing.csv"]),
    ("missing.parquet", {}, DataError, ["data file not found: missing.parquet"]),
    (".", {}, DataError, ["is a directory"]),
    (3, {}, OptionError, ["invalid data: 3"]),
    (None, {}, OptionError, ["invalid data: None"]),
])
def test_bad_data_names(name, kwargs, error, words):
    with pytest.raises(error) as caught:
        load_dataset(name, **kwargs)
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_bundled_set_accepts_its_own_target_name():
    assert load_dataset("iris", target="target").classes == [0, 1, 2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32", "float64"])
def test_float_dtypes_are_kept(dtype):
    ds = load_dataset("iris", dtype=dtype)
    assert ds.x_train.dtype == np.dtype(dtype)
    assert np.abs(ds.x_train.mean(axis=0)).max() < 1e-5  # standardised, not truncated


def test_directory_as_data(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="folder.csv is a directory"):
        load_dataset(tmp_path / "folder.csv")


def test_a_header_of_years_is_a_header_not_a_count_line(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text("2020,2021,label\n" + "".join(f"{i},{i * 2},{'xz'[i % 2]}\n"
                                                   for i in range(8)))
    ds = load_dataset(path, **SPLIT)
    assert ds.feature_names == ["2020", "2021"] and ds.classes == ["x", "z"]


def test_parquet_drops_the_pandas_index_and_reads_an_all_null_column_as_missing(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"a": np.arange(8.0), "y": ["x", "z"] * 4},
                         index=[f"r{i}" for i in range(8)])
    frame.to_parquet(tmp_path / "indexed.parquet")
    ds = load_dataset(tmp_path / "indexed.parquet", **SPLIT)
    assert ds.feature_names == ["a"]  # not the index column pandas stored
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": np.arange(8.0), "gone": pa.nulls(8), "y": ["x", "z"] * 4}),
                   tmp_path / "nulls.parquet")
    with pytest.raises(DataError, match=r"nulls.parquet: missing values in column\(s\) 'gone' "
                                        r"\(8\)"):
        load_dataset(tmp_path / "nulls.parquet", **SPLIT)


@pytest.mark.parametrize("name, run_name", [
    ("dir/iris.csv", "iris_csv"), ("p.parquet", "p_parquet"), ("x.csv.gz", "x_csv"),
    (Path("digits"), "digits_file"), ("digits", "digits"), ("body", "body"),
    ("idx:d/train-images-idx3-ubyte.gz,l.gz", "train-images-idx3-ubyte"),
])
def test_run_names_of_files_never_take_a_bundled_sets_folder(name, run_name):
    from handgrad.data.sources import short_name

    assert short_name(name) == run_name
