"""GridSearchCV(handgrad.sklearn.MLPClassifier) under joblib's Dask backend on the embedded local
cluster: the same scores as the search in this process."""

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from handgrad.distributed.sweep import dask_client
from handgrad.sklearn import MLPClassifier


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_on_the_dask_backend_matches_the_serial_search():
    X, y = load_digits(return_X_y=True)
    X, _, y, _ = train_test_split(StandardScaler().fit_transform(X), y, train_size=300,
                                  stratify=y, random_state=0)
    grid = {"optimizer": ["sgd", "adam"], "learning_rate_init": [0.01, 0.1]}

    def search(n_jobs):
        return GridSearchCV(MLPClassifier((32,), max_iter=15, random_state=0), grid, cv=3,
                            n_jobs=n_jobs, error_score="raise")

    with dask_client(workers=2) as client, joblib.parallel_backend("dask"):
        distributed = search(-1).fit(X, y)
        workers = len(client.scheduler_info()["workers"])
    with threadpool_limits(limits=1, user_api="blas"):  # as the workers run
        serial = search(1).fit(X, y)
    assert workers == 2
    scores = distributed.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all() and scores.max() > 0.5
    np.testing.assert_array_equal(scores, serial.cv_results_["mean_test_score"])
    assert distributed.best_params_ == serial.best_params_
    np.testing.assert_array_equal(distributed.predict(X), serial.predict(X))
