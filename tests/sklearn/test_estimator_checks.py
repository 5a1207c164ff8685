"""scikit-learn's own estimator checks, run for real on both estimators.

No check is expected to fail, none is skipped: ``expected_failed_checks`` is not used. The one
check scikit-learn would skip here, ``check_array_api_input``, skips only because the environment
variable SCIPY_ARRAY_API is unset in this process (SciPy reads it at import); it runs below in a
fresh interpreter with the variable set.
"""

import os
import subprocess
import sys
from functools import partial

import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import estimator_checks_generator, parametrize_with_checks

from handgrad.sklearn import MLPClassifier, MLPRegressor

# Small networks and few epochs keep the ~100 checks fast; every check still trains for real
# (check_classifiers_train asks for accuracy > 0.83, check_regressors_train for R^2 > 0.5).
CHECKED = [MLPClassifier((8,), max_iter=40, learning_rate_init=0.02, random_state=0),
           MLPRegressor((8,), max_iter=40, learning_rate_init=0.02, random_state=0)]

NEEDS_SCIPY_ARRAY_API = "check_array_api_input"

# 40 epochs rarely meet tol: the warning is expected and says nothing about the checks.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _name(check) -> str:
    return check.func.__name__ if isinstance(check, partial) else check.__name__


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    if _name(check) == NEEDS_SCIPY_ARRAY_API:
        _run_with_scipy_array_api(estimator, check)
    else:
        check(estimator)


def _run_with_scipy_array_api(estimator, check):
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from sklearn.utils.estimator_checks import check_array_api_input\n"
        "from handgrad.sklearn import MLPClassifier, MLPRegressor\n"
        f"est = {estimator!r}\n"
        f"check_array_api_input(type(est).__name__, est, **{check.keywords!r})\n"
        "print('checked')\n")
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "checked"


def test_no_check_is_marked_or_dropped():
    """Every check scikit-learn yields for these estimators is run: none is marked as an
    expected failure, and the list covers the classifier-, regressor- and persistence-specific
    ones (so a tag change that silently drops them fails here)."""
    for estimator in CHECKED:
        names = {_name(check) for _, check in
                 estimator_checks_generator(clone(estimator), mark=None)}
        assert {"check_estimators_pickle", "check_fit_idempotent", "check_n_features_in",
                "check_estimator_sparse_matrix", "check_estimators_nan_inf",
                "check_estimators_partial_fit_n_features", NEEDS_SCIPY_ARRAY_API} <= names
        if isinstance(estimator, MLPClassifier):
            assert {"check_classifiers_train", "check_classifiers_one_label",
                    "check_classifiers_classes"} <= names
        else:
            assert {"check_regressors_train", "check_regressor_multioutput"} <= names
