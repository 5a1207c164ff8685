"""handgrad.sklearn: the same losses and alpha as scikit-learn, the scikit-learn tools, persistence,
partial_fit, early stopping, validation messages, every optimizer by name."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn import neural_network as sk
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from handgrad.nn import BatchNorm1d, Dropout, Linear, ModelFileError
from handgrad.optim import OPTIMIZERS
from handgrad.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def linears(est):
    return [m for m in est.model_.layers if isinstance(m, Linear)]


def copy_sklearn_weights(hg, sk_est):
    """Put scikit-learn's weights (coefs_ are (in, out)) into the handgrad network ((out, in))."""
    for layer, W, b in zip(linears(hg), sk_est.coefs_, sk_est.intercepts_):
        layer.W.data[...] = W.T
        layer.b.data[...] = b


# --- the same objective as scikit-learn -----------------------------------------------------------
@pytest.mark.parametrize("kind, n_classes, activation", [
    ("regressor", 0, "tanh"), ("classifier", 2, "logistic"), ("classifier", 3, "relu")])
def test_one_sgd_step_matches_sklearn(kind, n_classes, activation):
    """From the same weights, one full-batch SGD step with alpha > 0 moves every weight as
    scikit-learn's does: same loss (half squared error, or cross-entropy on a sigmoid/softmax
    output), same L2 scaling alpha/B, biases not penalised."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    if kind == "regressor":
        y = X @ rng.normal(size=5) + 0.3 * rng.normal(size=40)
        sk_est = sk.MLPRegressor(hidden_layer_sizes=(6,), activation=activation, solver="sgd",
                                 alpha=0.3, batch_size=40, learning_rate_init=0.05, momentum=0.0,
                                 nesterovs_momentum=False, shuffle=False, max_iter=1,
                                 random_state=0)
        hg = MLPRegressor((6,), activation=activation, optimizer="sgd", alpha=0.3,
                          batch_size=40, learning_rate_init=0.05, shuffle=False,
                          dtype="float64", standardize_y=False, random_state=1)
    else:
        y = rng.integers(0, n_classes, size=40)
        sk_est = sk.MLPClassifier(hidden_layer_sizes=(6,), activation=activation, solver="sgd",
                                  alpha=0.3, batch_size=40, learning_rate_init=0.05, momentum=0.0,
                                  nesterovs_momentum=False, shuffle=False, max_iter=1,
                                  random_state=0)
        hg = MLPClassifier((6,), activation=activation, optimizer="sgd", alpha=0.3,
                           batch_size=40, learning_rate_init=0.05, shuffle=False,
                           dtype="float64", random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk_est.fit(X, y)
    hg.partial_fit(X, y, **({"classes": np.unique(y)} if kind == "classifier" else {}))
    copy_sklearn_weights(hg, sk_est)
    sk_est.partial_fit(X, y)
    hg.partial_fit(X, y)
    for layer, W, b in zip(linears(hg), sk_est.coefs_, sk_est.intercepts_):
        np.testing.assert_allclose(layer.W.data, W.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.b.data, b, rtol=1e-10, atol=1e-12)


# --- the scikit-learn tools -----------------------------------------------------------------------
def test_pipeline_cross_val_score_and_clone(iris):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=60,
                                                          learning_rate_init=0.02,
                                                          random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.min() > 0.8
    est = MLPClassifier((7, 5), activation="tanh", optimizer="nesterov",
                        optimizer_params={"beta": 0.8}).fit(*iris)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "model_")
    twin.set_params(hidden_layer_sizes=(3,))
    assert est.hidden_layer_sizes == (7, 5)


def test_fitted_attributes(iris):
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    est = MLPClassifier((8,), max_iter=7, random_state=0).fit(frame, labels)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert est.n_features_in_ == 4 and list(est.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    assert est.n_iter_ == len(est.loss_curve_) == 7
    assert est.n_steps_ == 7  # batch_size "auto" = min(200, 150): one step per epoch
    assert [m.out_features for m in linears(est)] == [8, 3]
    assert set(est.predict(frame)) <= set(est.classes_)
    proba = est.predict_proba(frame)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(est.predict_log_proba(frame), np.log(proba), rtol=1e-6)


def test_binary_uses_one_logit_and_log_proba_stays_finite():
    X, y = make_classification(60, 4, random_state=0)
    est = MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y)
    assert linears(est)[-1].out_features == 1
    far = np.full((1, 4), 1e4)  # drives the logit to hundreds: p underflows to 0 in float64
    log_p = est.predict_log_proba(far)
    assert np.isfinite(log_p).all() and np.isclose(np.logaddexp(*log_p[0]), 0.0)


def test_regressor_standardizes_targets_and_maps_back():
    X, y = make_regression(120, 5, noise=1.0, random_state=0)
    y = 1000.0 + 50.0 * y
    est = MLPRegressor((32,), max_iter=150, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert np.isclose(est.y_mean_, y.mean()) and np.isclose(est.y_scale_, y.std())
    assert est.score(X, y) > 0.9
    assert abs(est.predict(X).mean() - y.mean()) < 0.1 * y.std()
    raw = MLPRegressor((32,), max_iter=150, learning_rate_init=0.01, standardize_y=False,
                       random_state=0).fit(X, y)
    assert raw.y_mean_ == 0.0 and raw.y_scale_ == 1.0
    assert raw.score(X, y) < est.score(X, y)


def test_regressor_multi_output():
    X, Y = make_regression(100, 4, n_targets=3, random_state=1)
    est = MLPRegressor((16,), max_iter=100, learning_rate_init=0.01, random_state=0).fit(X, Y)
    assert est.predict(X).shape == (100, 3) and est.y_mean_.shape == (3,)
    assert est.score(X, Y) > 0.8


# --- validation and warnings ----------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    ({"activation": "swish"}, "The 'activation' parameter of MLPClassifier must be a str among"),
    ({"optimizer": "adamax"}, "The 'optimizer' parameter of MLPClassifier must be a str among"),
    ({"alpha": -1.0}, "The 'alpha' parameter of MLPClassifier must be a float in the range"),
    ({"dropout": 1.0}, "The 'dropout' parameter of MLPClassifier must be a float in the range"),
    ({"batch_size": 0}, "The 'batch_size' parameter of MLPClassifier must be"),
    ({"dtype": "float16"}, "The 'dtype' parameter of MLPClassifier must be"),
    ({"schedule": "cosine"}, "The 'schedule' parameter of MLPClassifier must be"),
    ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes must be positive integers"),
    ({"optimizer_params": {"momentum": 0.9}}, "momentum"),  # adam has no momentum option
])
def test_invalid_parameters_are_named(iris, params, message):
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(*iris)


def test_sparse_input_is_rejected_with_a_clear_message(iris):
    X, y = iris
    with pytest.raises(TypeError, match="Sparse data was passed.*dense data is required"):
        MLPClassifier(max_iter=2).fit(sparse.csr_matrix(X), y)


def test_convergence_warning_only_when_max_iter_is_reached(iris):
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\) reached"):
        MLPClassifier((4,), max_iter=3, random_state=0).fit(*iris)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = MLPClassifier((4,), max_iter=50, tol=10.0, n_iter_no_change=2,
                            random_state=0).fit(*iris)
    assert est.n_iter_ < 50


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("n_iter_no_change", [1, 3])
def test_stops_at_the_same_epoch_as_sklearn(iris, early_stopping, n_iter_no_change):
    """tol = 10 is never met after the first epoch: scikit-learn stops once more than
    n_iter_no_change epochs have passed without it, i.e. at epoch n_iter_no_change + 2."""
    X, y = iris
    options = dict(tol=10.0, n_iter_no_change=n_iter_no_change, early_stopping=early_stopping,
                   max_iter=50, random_state=0)
    ours = MLPClassifier((4,), **options).fit(X, y)
    theirs = sk.MLPClassifier(hidden_layer_sizes=(4,), **options).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == n_iter_no_change + 2


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(np.zeros((2, 3)))


# --- partial_fit and early stopping ---------------------------------------------------------------
def test_partial_fit_needs_classes_first_and_trains_one_epoch_per_call(iris):
    X, y = iris
    est = MLPClassifier((8,), learning_rate_init=0.02, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # a class absent from the batch
    assert est.n_iter_ == 1 and list(est.classes_) == [0, 1, 2]
    for _ in range(40):
        est.partial_fit(X, y)
    assert est.n_iter_ == 41 and len(est.loss_curve_) == 41
    assert est.loss_curve_[-1] < est.loss_curve_[1]
    assert est.score(X, y) > 0.85
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X[:5], np.full(5, 7))


def test_early_stopping_restores_the_best_epoch(iris):
    X, y = iris
    est = MLPClassifier((16,), max_iter=300, learning_rate_init=0.05, early_stopping=True,
                        validation_fraction=0.3, n_iter_no_change=5, random_state=0).fit(X, y)
    assert est.n_iter_ < 300 and len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    # the restored weights score best_validation_score_ on the held-out split (same seed)
    d = np.searchsorted(est.classes_, y)
    _, X_val, _, d_val = train_test_split(X, d, test_size=0.3, random_state=est._seeds["split"],
                                          stratify=d)
    assert est.score(X_val, est.classes_[d_val]) == est.best_validation_score_
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        est.partial_fit(X, y)


def test_early_stopping_keeps_the_best_epoch_when_max_iter_ends_the_run(iris):
    X, y = iris
    # eta = 0.3 in batches of 16: the validation accuracy falls again after its best epoch
    est = MLPClassifier((16,), max_iter=25, learning_rate_init=0.3, batch_size=16,
                        early_stopping=True, validation_fraction=0.3, n_iter_no_change=np.inf,
                        random_state=0).fit(X, y)
    assert est.n_iter_ == 25 and est.validation_scores_[-1] < est.best_validation_score_
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.3, random_state=est._seeds["split"],
                                          stratify=y)
    assert est.score(X_val, y_val) == est.best_validation_score_


# --- persistence ----------------------------------------------------------------------------------
def test_pickle_round_trip_continues_training_identically(iris):
    """The pickled estimator predicts the same and, trained further, follows the same trajectory
    as the original: optimizer moments, batch order and dropout streams survive the pickle."""
    X, y = iris
    est = MLPClassifier((8, 8), dropout=0.2, batchnorm=True, max_iter=5,
                        random_state=0).fit(X, y)
    twin = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
    for _ in range(3):
        est.partial_fit(X, y)
        twin.partial_fit(X, y)
    np.testing.assert_array_equal(twin.model_.theta, est.model_.theta)
    assert twin.loss_curve_ == est.loss_curve_
    # the parameters are still views into the flat vector the optimizer updates
    assert all(np.shares_memory(p.data, twin.model_.theta) for p in twin.model_.parameters())


def test_safe_save_and_load(tmp_path, iris):
    X, y = iris
    frame = pd.DataFrame(X, columns=list("abcd"))
    labels = np.array(["x", "y", "z"])[y]
    clf = MLPClassifier((8,), batchnorm=True, max_iter=5, random_state=0).fit(frame, labels)
    clf.save(tmp_path / "clf.hg")
    back = MLPClassifier.load(tmp_path / "clf.hg")
    np.testing.assert_array_equal(back.predict_proba(frame), clf.predict_proba(frame))
    assert list(back.predict(frame)) == list(clf.predict(frame))
    assert list(back.feature_names_in_) == list("abcd") and back.get_params() == clf.get_params()
    with pytest.raises(ModelFileError, match="MLPClassifier"):
        MLPRegressor.load(tmp_path / "clf.hg")
    assert b"pickle" not in (tmp_path / "clf.hg").read_bytes()[:8]
    from handgrad import io

    io.save_model(tmp_path / "plain.safetensors", clf.model_, {"data": "iris"})
    with pytest.raises(ModelFileError, match="not a saved estimator.*handgrad.io.load_model"):
        MLPClassifier.load(tmp_path / "plain.safetensors")

    Xr, Yr = make_regression(50, 3, n_targets=2, random_state=0)
    reg = MLPRegressor((8,), max_iter=5, random_state=0).fit(Xr, 100 + Yr)
    reg.save(tmp_path / "reg.hg")
    back = MLPRegressor.load(tmp_path / "reg.hg")
    np.testing.assert_array_equal(back.predict(Xr), reg.predict(Xr))
    back.partial_fit(Xr, 100 + Yr)  # a loaded estimator keeps training (fresh optimizer state)
    assert back.n_iter_ == 6 and back.loss_curve_[:5] == reg.loss_curve_


# --- handgrad's options ---------------------------------------------------------------------------
# Settings under which each method descends on a small regression (Newton needs its shift to make
# the indefinite Hessian of a network safely positive; the batch methods take their full step).
SETTINGS = {"newton": (1.0, {"damping": 0.1}), "lm": (1.0, {}), "lbfgs": (1.0, {}),
            "cg": (1.0, {}), "rmsprop": (0.01, {})}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_by_name_lowers_the_loss(name, iris):
    X, _ = iris
    lr, options = SETTINGS.get(name, (0.1, {}))
    est = MLPRegressor((6,), optimizer=name, learning_rate_init=lr, optimizer_params=options,
                       max_iter=8, dtype="float64", random_state=0).fit(X[:, :3], X[:, 3])
    assert est.loss_curve_[-1] < 0.8 * est.loss_curve_[0], (name, est.loss_curve_)


def test_schedule_dropout_batchnorm_and_init(iris):
    X, y = iris
    est = MLPClassifier((8, 8), schedule="step", schedule_params={"step_size": 2, "gamma": 0.5},
                        learning_rate_init=0.04, dropout=0.1, batchnorm=True, init="lecun_normal",
                        max_iter=6, random_state=0).fit(X, y)
    assert np.isclose(est._trainer.optimizer.lr, 0.04 * 0.5 ** 3)
    kinds = [type(m) for m in est.model_.layers]
    assert kinds.count(BatchNorm1d) == 2 and kinds.count(Dropout) == 2
    assert not any(m.training for m in est.model_.modules())  # predictions in eval mode


def test_deterministic_for_a_seed_and_different_across_seeds(iris):
    X, y = iris
    a, b, c = (MLPClassifier((8,), dropout=0.1, max_iter=4, random_state=s).fit(X, y)
               for s in (3, 3, 4))
    np.testing.assert_array_equal(a.model_.theta, b.model_.theta)
    assert not np.array_equal(a.model_.theta, c.model_.theta)


def test_verbose_shows_a_progress_bar(iris, capsys):
    MLPClassifier((4,), max_iter=2, verbose=True, random_state=0).fit(*iris)
    assert "epoch 2/2" in capsys.readouterr().err
