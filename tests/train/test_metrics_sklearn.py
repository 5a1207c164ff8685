"""handgrad's metrics against sklearn.metrics on random data."""

import numpy as np
import pytest
from sklearn import metrics as skm

from handgrad.train import metrics


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_classification_metrics_match_sklearn(rng, n_classes):
    n = 200
    d = rng.integers(0, n_classes, size=n)
    predicted = np.where(rng.random(n) < 0.6, d, rng.integers(0, n_classes, size=n))
    logits = rng.normal(size=(n, n_classes))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = list(range(n_classes))

    assert metrics.accuracy(d, predicted) == pytest.approx(skm.accuracy_score(d, predicted))
    matrix = metrics.confusion_matrix(d, predicted, n_classes)
    np.testing.assert_array_equal(matrix, skm.confusion_matrix(d, predicted, labels=labels))
    precision, recall = metrics.precision_recall(matrix)
    np.testing.assert_allclose(precision, skm.precision_score(d, predicted, average=None,
                                                              labels=labels, zero_division=0))
    np.testing.assert_allclose(recall, skm.recall_score(d, predicted, average=None,
                                                        labels=labels, zero_division=0))
    assert metrics.log_loss(d, p) == pytest.approx(skm.log_loss(d, p, labels=labels), rel=1e-12)
    report = metrics.classification_report(d, predicted, p, n_classes)
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(d, predicted))
    assert report["confusion_matrix"] == matrix.tolist()


def test_precision_recall_of_a_class_never_predicted_or_absent_is_zero(rng):
    d = np.array([0, 0, 1, 1, 1])
    predicted = np.array([0, 0, 0, 0, 0])  # class 1 never predicted, class 2 absent
    precision, recall = metrics.precision_recall(metrics.confusion_matrix(d, predicted, 3))
    np.testing.assert_allclose(precision, skm.precision_score(d, predicted, average=None,
                                                              labels=[0, 1, 2], zero_division=0))
    np.testing.assert_allclose(recall, skm.recall_score(d, predicted, average=None,
                                                        labels=[0, 1, 2], zero_division=0))


@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_metrics_match_sklearn(rng, outputs):
    shape = (150,) if outputs == 1 else (150, outputs)
    d = rng.normal(2.0, 3.0, size=shape)
    y = d + rng.normal(0.0, 1.5, size=shape)
    assert metrics.mse(d, y) == pytest.approx(skm.mean_squared_error(d, y), rel=1e-12)
    assert metrics.mae(d, y) == pytest.approx(skm.mean_absolute_error(d, y), rel=1e-12)
    if outputs == 1:
        assert metrics.r2(d, y) == pytest.approx(skm.r2_score(d, y), rel=1e-12)
    else:
        # one R^2 over all outputs: 1 - SS_res / SS_tot pooled, sklearn's variance_weighted
        assert metrics.r2(d, y) == pytest.approx(
            skm.r2_score(d, y, multioutput="variance_weighted"), rel=1e-12)
    report = metrics.regression_report(d, y)
    assert set(report) == {"mse", "mae", "r2"}
