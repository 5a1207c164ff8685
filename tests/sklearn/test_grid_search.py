"""GridSearchCV over handgrad's optimizers and learning rates on the digits (issue 7, item 3)."""

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from handgrad.sklearn import MLPClassifier

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "rprop"]
LEARNING_RATES = [0.001, 0.01, 0.1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_over_optimizer_and_learning_rate_on_digits():
    X, y = load_digits(return_X_y=True)
    # 500 of the 1797 digits and 15 epochs: 45 fits in about a second.
    X, _, y, _ = train_test_split(X, y, train_size=500, stratify=y, random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=15, random_state=0))
    grid = {"mlpclassifier__optimizer": OPTIMIZERS,
            "mlpclassifier__learning_rate_init": LEARNING_RATES}
    search = GridSearchCV(pipe, grid, cv=3, error_score="raise").fit(X, y)
    print("best_params_:", search.best_params_, "best_score_:", round(search.best_score_, 3))

    best = (search.best_params_["mlpclassifier__optimizer"],
            search.best_params_["mlpclassifier__learning_rate_init"])
    assert best in set(itertools.product(OPTIMIZERS, LEARNING_RATES))
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 15 and np.isfinite(scores).all()
    assert search.best_score_ == scores.max()
    assert search.best_score_ > 0.8  # chance is 0.1 on ten balanced classes
    # the search is informative: settings differ widely (eta = 0.001 for 15 epochs of plain SGD
    # barely moves the weights)
    assert scores.max() - scores.min() > 0.3
