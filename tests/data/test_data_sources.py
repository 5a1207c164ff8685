"""Data sources of issue 4: MNIST-1D generated offline, the notes' body table, IDX files, and
the notes' digit-recognition set-ups."""

import gzip
import random

import numpy as np
import pytest

from handgrad.data import load_dataset, sources, tasks
from handgrad.data.datasets import load_arrays


# --- MNIST-1D -----------------------------------------------------------------------------------
def test_mnist1d_is_the_packages_default_generation_without_download(monkeypatch, tmp_path):
    import mnist1d.data as m

    def no_network(*args, **kwargs):
        raise AssertionError("mnist1d tried to download")

    monkeypatch.setattr("requests.get", no_network)
    monkeypatch.chdir(tmp_path)  # get_dataset would write mnist1d_data.pkl here
    sources._mnist1d_arrays.cache_clear()
    np.random.seed(123)
    random.seed(123)
    before_np, before_py = np.random.get_state()[1].copy(), random.getstate()
    x, d, task, classes, names, target = load_arrays("mnist1d")
    # the global generators the package reseeds are given back as they were
    assert np.array_equal(np.random.get_state()[1], before_np) and random.getstate() == before_py
    assert list(tmp_path.iterdir()) == []

    reference = m.make_dataset(m.get_dataset_args())  # default arguments: seed 42, 5000 samples
    assert x.shape == (5000, 40) and task == "classification" and len(names) == 40
    np.testing.assert_array_equal(x[:4000], reference["x"])
    np.testing.assert_array_equal(x[4000:], reference["x_test"])
    np.testing.assert_array_equal(d, np.concatenate([reference["y"], reference["y_test"]]))
    assert sorted(set(d.tolist())) == list(range(10))


def test_mnist1d_loads_as_a_split_data_set():
    ds = load_dataset("mnist1d")
    assert ds.n_features == 40 and ds.classes == list(range(10))
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 5000


# --- the notes' body table ------------------------------------------------------------------------
def test_body_table_has_the_notes_columns_and_rows():
    header, rows = sources.body_table()
    assert header == ["id", "height", "weight", "bone density", "femur length", "jawline width",
                      "jawline length", "gender"]
    assert len(rows) == sources.BODY_SIZE
    by_id = {r[0]: r[1:] for r in rows}
    assert by_id[112] == (125, 56, 1.2, 32, 3.0, 10.0, "F")  # as printed in 002
    assert by_id[208] == (189, 90, 2.5, 48, 5.0, 15.0, "M")
    assert by_id[232] == (150, 70, 1.5, 37, 3.2, 10.5, "F")
    genders = [r[-1] for r in rows]
    assert genders.count("F") == genders.count("M")
    assert sources.body_table() == (header, rows)  # seeded: the same every time
    assert sources.body_table(seed=1)[1] != rows


def test_body_classes_overlap_no_single_feature_separates_them():
    x, d, *_ = load_arrays("body")
    male = d == "M"
    assert x.shape == (400, 6)
    for j in range(6):
        column = x[:, j]
        # best accuracy of any threshold on this feature alone, either direction
        best = max(max(np.mean((column > t) == male), np.mean((column <= t) == male))
                   for t in np.unique(column))
        assert best < 0.95, j
    # but the measurements together carry the class: men are taller and heavier on average
    assert x[male, 0].mean() > x[~male, 0].mean() + 10 and x[male, 1].mean() > x[~male, 1].mean()


def test_body_csv_reads_back_as_the_named_set(tmp_path):
    path = sources.write_body_csv(tmp_path / "body.csv")
    x_csv, d_csv, task, classes, names, target = load_arrays(str(path))
    x, d, *_ = load_arrays("body")
    assert target == "gender" and task == "classification" and names[0] == "height"
    np.testing.assert_array_equal(x_csv, x)
    assert classes == ["F", "M"]  # text labels come as indices into the sorted class names
    np.testing.assert_array_equal(np.array(classes)[d_csv], d)
    ds = load_dataset(str(path))
    assert ds.classes == ["F", "M"] and ds.n_features == 6


# --- IDX files ----------------------------------------------------------------------------------
def idx_bytes(array, code, header_shape=None):
    """An IDX file's bytes: 0, 0, type code, rank, big-endian sizes, big-endian data."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    shape = array.shape if header_shape is None else header_shape
    head = bytes([0, 0, code, len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape)
    return head + np.asarray(array).astype(dtype).tobytes()


@pytest.mark.parametrize("code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_round_trip(tmp_path, rng, code, gzipped):
    low = 0 if code == 0x08 else -100
    array = rng.integers(low, 100, size=(7, 3, 5))
    if code in (0x0D, 0x0E):
        array = rng.normal(size=(7, 3, 5))
    data = idx_bytes(array, code)
    path = tmp_path / ("a.idx.gz" if gzipped else "a.idx")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    read = sources.read_idx(path)
    assert read.shape == (7, 3, 5)
    expected = array.astype(np.float32) if code == 0x0D else array
    np.testing.assert_array_equal(read, expected)


def write_pair(tmp_path, rng, n=30, gz=True):
    images = rng.integers(0, 256, size=(n, 4, 4))
    labels = np.arange(n) % 3
    img, lab = tmp_path / "images-idx3-ubyte.gz", tmp_path / "labels-idx1-ubyte.gz"
    opener = gzip.compress if gz else (lambda b: b)
    img.write_bytes(opener(idx_bytes(images, 0x08)))
    lab.write_bytes(opener(idx_bytes(labels, 0x08)))
    return img, lab, images, labels


def test_idx_pair_is_a_classification_set(tmp_path, rng):
    img, lab, images, labels = write_pair(tmp_path, rng)
    x, d, task, classes, names, target = sources.load_scheme(f"idx:{img},{lab}")
    assert task == "classification" and x.shape == (30, 16) and names[5] == "pixel_1_1"
    np.testing.assert_array_equal(x, images.reshape(30, 16))
    np.testing.assert_array_equal(d, labels)
    assert sources.load_scheme("digits") is None  # not a scheme: left to the named sets
    assert sources.short_name(f"idx:{img},{lab}") == "images-idx3-ubyte"
    assert sources.short_name("some/dir/body.csv") == "body_csv"
    assert sources.short_name("iris") == "iris"


@pytest.mark.parametrize("make, message", [
    # the header promises 10 images of 4x4 but the file holds 9
    (lambda a: idx_bytes(a[:9], 0x08, header_shape=(10, 4, 4)),
     "header declares shape (10, 4, 4) of 1-byte items (160 data bytes) but the file holds "
     "144 data bytes"),
    # more data than the header declares
    (lambda a: idx_bytes(a, 0x08, header_shape=(9, 4, 4)), "the file holds 160 data bytes"),
    (lambda a: idx_bytes(a, 0x0C)[:-2], "does not match the file size"),
    (lambda a: b"\x00\x00\x08\x03\x00\x00", "ends after 6 bytes, before the sizes"),
    (lambda a: b"\x00\x00", "too short for an IDX header"),
    (lambda a: b"PK" + idx_bytes(a, 0x08)[2:], "not an IDX file"),
    (lambda a: bytes([0, 0, 0x07, 3]) + idx_bytes(a, 0x08)[4:], "unknown IDX type code 0x07"),
    (lambda a: gzip.compress(idx_bytes(a, 0x08))[:-12], "gzip data is corrupt or truncated"),
])
def test_idx_bad_files_are_named(tmp_path, rng, make, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(make(rng.integers(0, 256, size=(10, 4, 4))))
    with pytest.raises(ValueError, match="bad.idx") as caught:
        sources.read_idx(path)
    assert message in str(caught.value)


def test_idx_pair_mismatches_are_named(tmp_path, rng):
    img, lab, _, _ = write_pair(tmp_path, rng)
    short = tmp_path / "short-labels.idx"
    short.write_bytes(idx_bytes(np.arange(29) % 3, 0x08))
    with pytest.raises(ValueError, match="holds 30 images but .* holds 29 labels"):
        sources.load_idx(img, short)
    with pytest.raises(ValueError, match="labels file must be 1-D"):
        sources.load_idx(img, img)
    with pytest.raises(ValueError, match=r"idx:IMAGES,LABELS"):
        sources.load_scheme(f"idx:{img}")
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        sources.load_scheme(f"idx:{tmp_path / 'nope.gz'},{lab}")


# --- CSV: bad input gets a clear error -----------------------------------------------------------
@pytest.mark.parametrize("text, kwargs, message", [
    ("a,b,y\n1,2,x\n3,,z\n", {}, "missing values in column(s) 'b' (1), at line 3"),
    ("a,b,y\n1,2,x\n3,tall,z\n", {}, "column 'b' mixes numbers ('2' at line 2) and text "
                                     "('tall' at line 3)"),
    ("a,b,y\n1,2,x\n3,4,z\n", {"target": "label"}, "target column 'label' not found"),
    ("a,b,y\n1,2,x\n3,4\n", {}, "line 3 has 2 fields, the header has 3"),
    ("a,b,y\n", {}, "needs a header row and at least one data row"),
    ("a,b,y\n1,2,x\n3,inf,z\n", {}, "column 'b' holds inf at line 3"),
    ("a,b,y\n1,2,x\n3,4,x\n5,6,x\n7,8,x\n9,1,x\n", {}, "single class ('x')"),
])
def test_bad_csv_is_named(tmp_path, text, kwargs, message):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        load_dataset(str(path), test_size=0.4, val_size=0.0, **kwargs)
    assert message in str(caught.value)
    assert "data.csv" in str(caught.value)


def test_feature_csv_for_prediction(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("id,b,a,extra\n1,2,3,x\n2,5,6,y\n")
    np.testing.assert_array_equal(sources.read_feature_csv(path, ["a", "b"]), [[3, 2], [6, 5]])
    with pytest.raises(ValueError, match=r"lacks the model's feature column\(s\) \['c'\]"):
        sources.read_feature_csv(path, ["a", "c"])
    with pytest.raises(ValueError, match="column 'extra' must be numeric .* holds text"):
        sources.read_feature_csv(path, ["extra"])


# --- the notes' digit-recognition set-ups ---------------------------------------------------------
def test_two_vs_not_two():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, d, task, classes, names, target = load_arrays("digits_2_vs_not_2")
    np.testing.assert_array_equal(x, digits.data)
    np.testing.assert_array_equal(d, (digits.target == 2).astype(int))
    assert classes == ["not 2", "2"] and task == "classification"
    ds = load_dataset("digits_2_vs_not_2")
    assert ds.classes == ["not 2", "2"]
    # stratified: every split keeps the share of 2s
    for part in (ds.d_train, ds.d_val, ds.d_test):
        assert abs(part.mean() - d.mean()) < 0.02


def test_eleven_classes_with_none_of_the_above():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, d, task, classes, names, target = load_arrays("digits_11")
    assert classes == [str(k) for k in range(10)] + ["none"]
    assert np.bincount(d).tolist() == np.bincount(digits.target).tolist() + [tasks.N_NONE]
    np.testing.assert_array_equal(x[:len(digits.data)], digits.data)
    none = x[d == 10]
    half = tasks.N_NONE // 2
    noise, scrambled = none[:half], none[half:]
    assert noise.min() >= 0 and noise.max() <= 16 and np.all(noise == np.round(noise))
    # each scrambled image is a permutation of some digit image's pixels, but not that image
    sorted_digits = {tuple(np.sort(row)) for row in digits.data}
    assert all(tuple(np.sort(row)) in sorted_digits for row in scrambled)
    as_rows = {tuple(row) for row in digits.data}
    assert not any(tuple(row) in as_rows for row in none)
    np.testing.assert_array_equal(load_arrays("digits_11")[0], x)  # seeded
    ds = load_dataset("digits_11")
    assert ds.n_outputs == 11 and (ds.d_test == 10).sum() > 0
