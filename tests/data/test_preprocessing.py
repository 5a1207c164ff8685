"""Preprocessing: imputation, one-hot categories and standardisation agree with scikit-learn's
SimpleImputer / OneHotEncoder / StandardScaler; the API's bad inputs are named errors."""

import warnings

import numpy as np
import pytest

from handgrad.data import (Categorical, DataWarning, Frame, Preprocessor, Standardizer,
                           TargetScaler, one_hot)
from handgrad.errors import DataError, NonFiniteError, OptionError, ShapeError


def frame_of(rng, n=40, missing=0.15):
    x = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -3.0]
    x[:, 2] = np.round(x[:, 2], 1)  # repeated values, so most_frequent has something to find
    x[rng.random(x.shape) < missing] = np.nan
    texts = rng.choice(np.array(["red", "green", "blue", None], dtype=object), size=n,
                       p=[0.4, 0.3, 0.2, 0.1])
    return Frame(["a", "b", "c"], x, ["colour"], [Categorical.from_texts(texts)]), x, texts


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_matches_scikit_learns_imputer_encoder_and_scaler(rng, strategy):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, x, texts = frame_of(rng)
    test, x_test, texts_test = frame_of(np.random.default_rng(5), n=15)
    reference = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy=strategy), StandardScaler()), [0, 1, 2]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent", missing_values=None),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), [3]),
    ])
    table = np.empty((len(x), 4), dtype=object)
    table[:, :3], table[:, 3] = x, texts
    table_test = np.empty((len(x_test), 4), dtype=object)
    table_test[:, :3], table_test[:, 3] = x_test, texts_test
    expected = reference.fit(table).transform(table_test).astype(np.float64)
    prep = Preprocessor(strategy).fit(frame)
    np.testing.assert_allclose(prep.transform(test), expected, rtol=1e-12, atol=1e-12)
    assert prep.input_names == ["a", "b", "c", "colour=blue", "colour=green", "colour=red"]


def test_state_round_trip_gives_the_same_inputs(rng):
    frame, *_ = frame_of(rng)
    prep = Preprocessor("median").fit(frame)
    again = Preprocessor.from_state(prep.state(), prep.scaler.state())
    np.testing.assert_array_equal(again.transform(frame), prep.transform(frame))
    import json
    json.dumps({k: v for k, v in prep.state().items()})  # the state is JSON as it stands


def test_unseen_category_is_all_zero_with_a_warning():
    train = Frame(["a"], np.arange(4.0)[:, None], ["c"],
                  [Categorical.from_texts(["p", "q", "p", "q"])], source="train.csv")
    prep = Preprocessor().fit(train)
    new = Frame(["a"], np.array([[1.0], [2.0]]), ["c"], [Categorical.from_texts(["q", "zz"])],
                source="new.csv")
    with pytest.warns(DataWarning, match=r"new.csv: column 'c' holds 1 value\(s\) never seen in "
                                         r"training \('zz' at row 2\)"):
        x = prep.transform(new)
    np.testing.assert_array_equal(x[:, 1:], [[0.0, 1.0], [0.0, 0.0]])


def test_missing_values_without_impute_name_the_rows():
    frame = Frame(["a", "b"], np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, np.nan]]),
                  source="f.csv")
    with pytest.raises(DataError, match=r"f.csv: missing values in column\(s\) 'a' \(1\), 'b' "
                                        r"\(2\), at rows 1, 3; fill them with --impute"):
        Preprocessor().fit(frame)
    prep = Preprocessor("mean").fit(frame)
    np.testing.assert_allclose(prep.fill_numeric, [1.5, 3.0])


def test_categorical_texts_are_stripped_and_empty_is_missing():
    column = Categorical.from_texts([" a", "a ", "", None, "b"])
    assert column.values == ["a", "b"]
    np.testing.assert_array_equal(column.codes, [0, 0, -1, -1, 1])


def test_most_frequent_ties_take_the_smallest_as_scikit_learn():
    frame = Frame([], np.empty((4, 0)), ["c"], [Categorical.from_texts(["q", "p", "q", "p"])])
    assert Preprocessor("most_frequent").fit(frame).fill_categorical == ["p"]


# --- Standardizer, TargetScaler, one_hot: bad input ----------------------------------------------
@pytest.mark.parametrize("x, error, words", [
    (np.array([[1.0, np.nan], [2.0, 3.0]]), NonFiniteError, ["1 NaN or inf", "row 0, column 1"]),
    (np.array([[1.0, np.inf]]), NonFiniteError, ["NaN or inf"]),
    (np.empty((0, 3)), DataError, ["zero rows"]),
    (np.arange(3.0), ShapeError, ["2-D", "(3,)"]),
])
def test_standardizer_fit_refuses(x, error, words):
    with pytest.raises(error) as caught:
        Standardizer().fit(x)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("x", [np.ones((2, 3)), np.ones((2, 5)), np.ones(4)])
def test_standardizer_transform_names_both_widths(x):
    scaler = Standardizer().fit(np.arange(8.0).reshape(2, 4))
    with pytest.raises(ShapeError, match="fitted on 4 features, got"):
        scaler.transform(x)


def test_standardizer_and_target_scaler_invert(rng):
    x = rng.normal(5.0, 3.0, size=(50, 2))
    scaler = Standardizer().fit(x)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(x)), x)
    d = rng.normal(150.0, 80.0, size=50)
    target = TargetScaler.fit(d)
    assert abs(target.transform(d).mean()) < 1e-12 and abs(target.transform(d).std() - 1) < 1e-12
    np.testing.assert_allclose(target.inverse(target.transform(d)), d)
    assert TargetScaler.fit(np.full(5, 7.0)).std == 1.0  # constant target: no division by zero


@pytest.mark.parametrize("labels, n, words", [
    ([0, -1], 3, ["label -1 is outside 0..2"]),
    ([0, 3], 3, ["label 3 is outside 0..2"]),
    ([0.0, 1.7], 3, ["whole class indices", "1.7"]),
    ([0.0, np.nan], 3, ["whole class indices", "nan"]),
    (["a", "b"], 3, ["whole class indices"]),
    ([[0, 1]], 3, ["1-D"]),
])
def test_one_hot_refuses_labels_it_would_wrap_or_truncate(labels, n, words):
    with pytest.raises((DataError, ShapeError)) as caught:
        one_hot(np.array(labels), n)
    for word in words:
        assert word in str(caught.value)


def test_one_hot_of_whole_floats_and_ints():
    np.testing.assert_array_equal(one_hot(np.array([2.0, 0.0]), 3), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(one_hot(np.array([1], np.uint8), 2), [[0, 1]])


@pytest.mark.parametrize("impute", ["avg", "MEAN", 0, ""])
def test_preprocessor_impute_is_checked(impute):
    with pytest.raises(OptionError, match="invalid impute"):
        Preprocessor(impute)


def test_no_warning_for_known_categories(rng):
    frame, *_ = frame_of(rng)
    prep = Preprocessor("mean").fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        prep.transform(frame)
