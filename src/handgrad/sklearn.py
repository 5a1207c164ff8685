"""scikit-learn estimators whose training is handgrad's: ``MLPClassifier`` and ``MLPRegressor``.

scikit-learn is only the host of the API here (parameter validation, input checking, the fitted
attribute conventions); the network is a :func:`handgrad.nn.MLP`, trained by
:class:`handgrad.train.Trainer` with an optimizer of :mod:`handgrad.optim` chosen by name::

    from handgrad.sklearn import MLPClassifier
    clf = MLPClassifier((64,), optimizer="nesterov", learning_rate_init=0.05,
                        optimizer_params={"beta": 0.9}, max_iter=50).fit(X, y)
    clf.predict_proba(X[:3]); clf.model_          # the trained handgrad network

The estimators work in ``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone``, and they
pickle. Pickle is not the recommended way to keep a model, though: unpickling runs whatever code
the file names, so a pickle from an untrusted source can execute anything on load. Use
:meth:`save` / :meth:`load` instead: a safetensors file (see :mod:`handgrad.io`) whose loading
parses JSON and raw arrays and executes nothing.

Differences from scikit-learn's ``MLPClassifier`` / ``MLPRegressor``, all deliberate:

- ``optimizer`` replaces ``solver`` and takes every name of ``handgrad.optim.OPTIMIZERS`` (sgd,
  momentum, nesterov, adagrad, rmsprop, adam, adamw, the Rprops, quickprop, the second-order
  methods); their options go in ``optimizer_params`` and a learning-rate schedule of
  ``handgrad.optim.SCHEDULES`` in ``schedule`` / ``schedule_params``.
- ``MLPRegressor`` standardises the targets internally (``standardize_y=True``): the network fits
  (y - y_mean_) / y_scale_ and ``predict`` maps back. With unscaled targets (diabetes: 25 to 346)
  a network initialised for unit-scale outputs spends most of its epochs just reaching the targets'
  scale; docs/sklearn_comparison.md shows the effect. ``loss_curve_`` is then in standardised
  units.
- ``batch_size="auto"`` is min(200, n) as in scikit-learn, except for the methods published as
  full-batch (Rprop, QuickProp, the second-order methods), which get the whole training set.
- The weights start from Glorot-uniform draws as scikit-learn's do (``init="xavier_uniform"``);
  ``init`` takes any of ``handgrad.nn.init.INITIALIZERS``, or None for handgrad's default for the
  activation. scikit-learn also draws the biases; handgrad starts them at zero.
- ``alpha`` is scaled as scikit-learn scales it (the gradient gets alpha/B W per mini-batch of
  B samples, so one SGD step equals scikit-learn's; tests/sklearn checks this), but it is added by
  the optimizer, so ``loss_curve_`` holds the data loss without the penalty term.
- For several regression outputs the half squared error sums over the outputs (scikit-learn
  averages), which scales the gradient by the number of outputs.
- No ``sample_weight`` and no multi-label classification; sparse input is rejected.
"""

from __future__ import annotations

import copy
import json
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from handgrad import io
from handgrad.nn.activations import ACTIVATIONS
from handgrad.nn.containers import MLP
from handgrad.errors import ModelFileError
from handgrad.nn.init import INITIALIZERS
from handgrad.nn.losses import get_loss
from handgrad.nn.registry import build
from handgrad.optim import OPTIMIZERS, SCHEDULES, get_optimizer, get_schedule
from handgrad.train import Callback, EarlyStopping, ProgressBar, Task, Trainer, predict_outputs

__all__ = ["MLPClassifier", "MLPRegressor"]

SKLEARN_ACTIVATION_NAMES = {"logistic": "sigmoid"}  # scikit-learn's name -> the notes' name


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: building, training, pickling, safe files."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS) | set(SKLEARN_ACTIVATION_NAMES))],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "optimizer_params": [dict, None],
        "schedule": [StrOptions(set(SCHEDULES)), None],
        "schedule_params": [dict, None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batchnorm": ["boolean"],
        "init": [StrOptions(set(INITIALIZERS)), None],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam",
                 learning_rate_init=0.001, optimizer_params=None, schedule=None,
                 schedule_params=None, alpha=0.0001, l1=0.0, dropout=0.0, batchnorm=False,
                 init="xavier_uniform", batch_size="auto", max_iter=200, shuffle=True, tol=1e-4,
                 n_iter_no_change=10, early_stopping=False, validation_fraction=0.1,
                 random_state=None, verbose=False, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.optimizer_params = optimizer_params
        self.schedule = schedule
        self.schedule_params = schedule_params
        self.alpha = alpha
        self.l1 = l1
        self.dropout = dropout
        self.batchnorm = batchnorm
        self.init = init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    # --- what the subclasses define -------------------------------------------------------------
    def _validate_targets(self, y, first: bool, classes=None) -> np.ndarray:
        """The targets as the Task expects them, from validated ``y``."""
        raise NotImplementedError  # abstract

    # --- fitting --------------------------------------------------------------------------------
    def fit(self, X, y):
        """Train a fresh network for ``max_iter`` epochs (fewer if it converges first).

        Stops when the training loss (or, with ``early_stopping``, the validation score) has not
        improved by ``tol`` for ``n_iter_no_change`` epochs; warns with ``ConvergenceWarning`` when
        ``max_iter`` epochs pass without that.
        """
        self._validate_params()
        X, d = self._validate_input(X, y, first=True)
        self._start(X)
        x_val = d_val = None
        if self.early_stopping:
            X, x_val, d, d_val = self._validation_split(X, d)
        self._train(X, d, x_val, d_val, epochs=self.max_iter)
        if self._trainer.stop_reason == "max_epochs":
            warnings.warn(f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning)
        return self

    def _partial_fit(self, X, y, classes=None):
        first = not hasattr(self, "model_")
        if first:
            self._validate_params()
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        X, d = self._validate_input(X, y, first=first, classes=classes)
        if first:
            self._start(X)
        trainer = self._get_trainer()
        self._train(X, d, None, None, epochs=trainer.epoch + 1)
        return self

    def _validate_input(self, X, y, first: bool, classes=None):
        """Checked (X, targets) through scikit-learn's ``validate_data`` (n_features_in_,
        feature_names_in_, the messages for NaN, sparse, empty and 1-D input)."""
        X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32),
                             **self._y_checks())
        d = self._validate_targets(y, first, classes)
        self._task = self._make_task()
        return X, d

    def _y_checks(self) -> dict:
        return {}

    def _make_task(self) -> Task:
        raise NotImplementedError  # abstract

    def _start(self, X) -> None:
        """Build the network, its optimizer and its trainer (a fresh fit)."""
        sizes = self._hidden_sizes()
        dtype = np.dtype(self.dtype or X.dtype)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        # Independent streams: initial weights (and dropout), batch order, validation split.
        init_seed, order_seed, split_seed = np.random.SeedSequence(int(seed)).generate_state(3)
        activation = SKLEARN_ACTIVATION_NAMES.get(self.activation, self.activation)
        self.model_ = MLP([X.shape[1], *sizes, self._task.n_outputs], activation=activation,
                          output="identity", init=self.init,
                          rng=np.random.default_rng(init_seed), dtype=dtype,
                          dropout=self.dropout, batchnorm=bool(self.batchnorm))
        self._seeds = {"order": int(order_seed), "split": int(split_seed)}
        self._trainer = self._make_trainer(self.model_)

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if any(not isinstance(s, Integral) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}.")
        return [int(s) for s in sizes]

    def _make_trainer(self, model) -> Trainer:
        optimizer = get_optimizer(self.optimizer, model, lr=self.learning_rate_init,
                                  **(self.optimizer_params or {}))
        schedule = (get_schedule(self.schedule, optimizer, **(self.schedule_params or {}))
                    if self.schedule else None)
        callbacks = []
        if self.early_stopping:
            callbacks.append(_ValidationScore(self._task))
        if self.n_iter_no_change != np.inf or self.early_stopping:
            # scikit-learn's rule: once more than n_iter_no_change epochs in a row have not
            # improved the training loss (with early_stopping: the validation score) by tol,
            # stop. With early_stopping the best epoch's weights are kept even when max_iter ends
            # the run (_keep_best), so the callback also runs when n_iter_no_change is inf.
            patience = (int(self.n_iter_no_change) + 1 if self.n_iter_no_change != np.inf
                        else self.max_iter + 1)
            monitor = callbacks[0].key if self.early_stopping else "train_loss"
            callbacks.append(EarlyStopping(patience=patience, monitor=monitor,
                                           min_delta=self.tol, restore_best=self.early_stopping))
        if self.verbose:
            callbacks.append(ProgressBar(0, disable=False))
        # No task for the trainer: the targets are encoded once per fit (_train), and the only
        # score needed is the validation score above, so no per-batch accuracy is computed.
        return Trainer(model, get_loss(self._task.loss), optimizer, batch_size=1,
                       epochs=self.max_iter, seed=self._seeds["order"], shuffle=self.shuffle,
                       schedule=schedule, callbacks=callbacks)

    def _get_trainer(self) -> Trainer:
        """The live trainer; after unpickling, rebuilt from its saved state (optimizer moments,
        random streams); after :meth:`load`, a fresh one (the file keeps only the network)."""
        if getattr(self, "_trainer", None) is None:
            self._task = self._make_task()
            self._trainer = self._make_trainer(self.model_)
            state = self.__dict__.pop("_trainer_state", None)
            if state is not None:
                self._trainer.load_state_dict(state)
            else:  # continue the epoch count and the loss curve saved in the file
                self._trainer.epoch = self.n_iter_
                self._trainer.history["train_loss"] = list(self.loss_curve_)
        return self._trainer

    def _batch_size(self, n: int, optimizer) -> int:
        if self.batch_size == "auto":
            return n if getattr(optimizer, "full_batch", False) else min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` larger than the sample size. It is going to be "
                          "clipped")
        return min(self.batch_size, n)

    def _validation_split(self, X, d):
        stratify = d if self._task.kind == "classification" else None
        X, x_val, d, d_val = train_test_split(X, d, test_size=self.validation_fraction,
                                              random_state=self._seeds["split"],
                                              stratify=stratify)
        if len(x_val) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return X, x_val, d, d_val

    def _train(self, X, d, x_val, d_val, epochs: int) -> None:
        trainer = self._get_trainer()
        trainer.epochs = epochs
        trainer.batch_size = self._batch_size(len(X), trainer.optimizer)
        # alpha as scikit-learn scales it: the gradient of each mini-batch's mean loss gets
        # alpha/B W (and l1/B sign(W)) on the weights, never the biases. The optimizer adds it in
        # place (cheaper than a penalty term in the loss), on top of any weight_decay/l1 given in
        # optimizer_params; for adamw it is therefore decoupled decay.
        options = self.optimizer_params or {}
        trainer.optimizer.weight_decay = (float(options.get("weight_decay", 0.0))
                                          + self.alpha / trainer.batch_size)
        trainer.optimizer.l1 = float(options.get("l1", 0.0)) + self.l1 / trainer.batch_size
        for callback in trainer.callbacks:
            if isinstance(callback, ProgressBar):
                callback.n_samples = len(X)
            if isinstance(callback, _ValidationScore):
                callback.x, callback.d = x_val, d_val
        try:
            trainer.fit(X, self._task.targets(d, self.model_.dtype))
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            self.model_.eval()
        if self.early_stopping and trainer.stop_reason != "early_stopping":
            self._keep_best(trainer)
        self._record(trainer)

    @staticmethod
    def _keep_best(trainer) -> None:
        """The best validation epoch's weights and batch-norm statistics, as scikit-learn keeps
        them with early_stopping however the run ended (EarlyStopping restores them only when it
        stopped the run itself)."""
        stopper = next(c for c in trainer.callbacks if isinstance(c, EarlyStopping))
        stopper.restore(trainer.model)

    def _record(self, trainer) -> None:
        history = trainer.history
        self.loss_curve_ = list(history.get("train_loss", []))
        self.n_iter_ = trainer.epoch
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else np.inf
        self.n_steps_ = trainer.global_step
        if self.early_stopping:
            self.validation_scores_ = list(trainer.callbacks[0].scores)
            self.best_validation_score_ = max(self.validation_scores_)
        else:
            self.validation_scores_ = self.best_validation_score_ = None

    # --- predicting -----------------------------------------------------------------------------
    def _outputs(self, X) -> np.ndarray:
        """The network's raw outputs for validated ``X`` (eval mode: batch norm uses its running
        statistics, dropout is off)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        self.model_.eval()
        if self.model_.dtype == np.float64:
            return predict_outputs(self.model_, X.astype(np.float64, copy=False))
        # A float32 product's rounding depends on how BLAS blocks the whole batch, so a row's
        # output could change with the other rows beside it; scikit-learn promises that it does
        # not (predict(X[mask]) == predict(X)[mask]). A float64 copy of the weights keeps each
        # row's output independent of the batch to within float32's precision.
        twin = copy.deepcopy(self.model_).flatten(np.float64)
        return predict_outputs(twin, X.astype(np.float64, copy=False)).astype(self.model_.dtype)

    # --- persistence ----------------------------------------------------------------------------
    def __getstate__(self):
        # The network's parameters are views into one flat vector; pickle would copy each view
        # separately and break that link. Keep the architecture and the tensors instead, and the
        # trainer as its state dict (optimizer moments, random streams), rebuilt on demand.
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        if model is not None:
            state["model_"] = _ModelState(model)
        trainer = state.pop("_trainer", None)
        if trainer is not None:
            state["_trainer_state"] = trainer.state_dict()
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("model_"), _ModelState):
            state["model_"] = state["model_"].rebuild()
        super().__setstate__(state)

    def save(self, path):
        """Write the fitted estimator to ``path`` in handgrad's safe format (the recommended way;
        pickle runs code on load, this file is JSON and raw arrays only)."""
        check_is_fitted(self)
        fitted = {"n_features_in_": int(self.n_features_in_), "n_iter_": int(self.n_iter_),
                  "loss_curve_": [float(v) for v in self.loss_curve_], "seeds": self._seeds}
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(n) for n in self.feature_names_in_]
        fitted.update(self._fitted_extra())
        params = self.get_params()
        if not isinstance(params["random_state"], (int, type(None))):
            params["random_state"] = None  # a RandomState object is not JSON; it is spent anyway
        params["hidden_layer_sizes"] = self._hidden_sizes()
        metadata = {"estimator": type(self).__name__, "params": params,
                    "fitted": json.loads(json.dumps(fitted, default=_json_default))}
        return io.save_model(path, self.model_, metadata)

    @classmethod
    def load(cls, path):
        """An estimator saved by :meth:`save`; executes no code from the file."""
        model, extra = io.load_model(path, with_metadata=True)
        held = extra.get("estimator")
        if held is None:
            raise ModelFileError(f"{path} is a model file but not a saved estimator (no "
                                 f"'estimator' in its metadata; a `handgrad train` model?): load it "
                                 f"with handgrad.io.load_model, or save a {cls.__name__} with "
                                 f"its .save()")
        if held != cls.__name__:
            raise ModelFileError(f"{path} holds a {held!r}, not a {cls.__name__}")
        params = dict(extra["params"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        est = cls(**params)
        fitted = extra["fitted"]
        est.model_ = model
        est._seeds = fitted.pop("seeds")
        if "feature_names_in_" in fitted:
            est.feature_names_in_ = np.asarray(fitted.pop("feature_names_in_"), dtype=object)
        est._load_fitted_extra(fitted)
        est.n_features_in_, est.n_iter_ = fitted["n_features_in_"], fitted["n_iter_"]
        est.loss_curve_ = fitted["loss_curve_"]
        est.best_loss_ = min(est.loss_curve_) if est.loss_curve_ else np.inf
        return est

    def _fitted_extra(self) -> dict:
        return {}

    def _load_fitted_extra(self, fitted: dict) -> None:
        return None


class _ValidationScore(Callback):
    """scikit-learn's validation score after each epoch (accuracy, or R^2 averaged over the
    outputs), written into the epoch's record for the EarlyStopping callback that follows."""

    def __init__(self, task: Task):
        self.task = task
        self.key = "val_accuracy" if task.kind == "classification" else "val_r2"
        self.x = self.d = None
        self.scores: list[float] = []

    @property
    def record_keys(self) -> tuple[str, ...]:
        return (self.key,)  # declared, so the EarlyStopping after it is checked before training

    def on_epoch_end(self, trainer, record):
        trainer.model.eval()
        y = predict_outputs(trainer.model, self.x)
        trainer.model.train()
        if self.task.kind == "classification":
            score = float(np.mean(self.task.predict(y) == self.d))
        else:
            score = float(r2_score(self.d, y[:, 0] if self.d.ndim == 1 else y))
        record[self.key] = score
        self.scores.append(score)

    def state_dict(self) -> dict:
        return {"scores": list(self.scores)}

    def load_state_dict(self, state: dict) -> None:
        self.scores = list(state["scores"])


class _ModelState:
    """A handgrad network for pickling: architecture, dtype and tensors (see __getstate__)."""

    def __init__(self, model):
        self.config, self.dtype = model.config(), str(model.dtype)
        self.tensors = {k: v.copy() for k, v in io.model_tensors(model).items()}

    def rebuild(self):
        model = build(self.config, dtype=np.dtype(self.dtype))
        io.restore_weights(model, self.tensors, source="pickled estimator")
        return model.eval()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot save {type(value).__name__} in a handgrad file")


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by handgrad.

    The output layer gives logits: one with the fused sigmoid + binary cross-entropy for two
    classes, one per class with the fused softmax + cross-entropy otherwise (004: sigmoid/softmax
    outputs for binary/multi-class problems). ``predict_proba`` applies the sigmoid or softmax.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of each hidden layer; ``()`` gives logistic/softmax regression.
    activation : str, default="relu"
        Any activation of ``handgrad.nn.ACTIVATIONS`` (relu, tanh, sigmoid, leaky_relu, elu,
        gelu, maxout, ...), or scikit-learn's "logistic" (= sigmoid).
    optimizer : str, default="adam"
        Any name of ``handgrad.optim.OPTIMIZERS``.
    learning_rate_init : float, default=0.001
        The initial learning rate eta.
    optimizer_params : dict, default=None
        Further options of the optimizer (``{"momentum": 0.9}``, ``{"betas": (0.9, 0.999)}``...).
    schedule, schedule_params : str and dict, default=None
        A learning-rate schedule of ``handgrad.optim.SCHEDULES`` and its options; stepped once
        per epoch.
    alpha, l1 : float, default=0.0001, 0.0
        L2 and L1 penalty strengths on the weights (never the biases), scaled as scikit-learn
        scales ``alpha``: each mini-batch's mean loss gets alpha/(2B) ||W||^2 + l1/B ||W||_1.
    dropout : float, default=0.0
        Dropout probability on each hidden layer's output (after its activation).
    batchnorm : bool, default=False
        Batch normalisation of each hidden layer's pre-activations z.
    init : str or None, default="xavier_uniform"
        Weight initialisation (``handgrad.nn.init.INITIALIZERS``). The default is scikit-learn's
        (Glorot uniform); None takes handgrad's default for the activation (He for the ReLU
        family, Xavier otherwise).
    batch_size : int or "auto", default="auto"
        "auto" is min(200, n_samples), or n_samples for the full-batch methods.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Draw a fresh order of the samples every epoch.
    tol, n_iter_no_change : float and int, default=1e-4 and 10
        Stop, as scikit-learn does, once more than ``n_iter_no_change`` consecutive epochs have
        not improved the training loss (or the validation accuracy, with ``early_stopping``) by
        ``tol``. ``np.inf`` never stops early.
    early_stopping, validation_fraction : bool and float, default=False and 0.1
        Hold out a stratified ``validation_fraction`` of the data, stop on its accuracy and keep
        the weights of the best epoch (also when ``max_iter`` ends the run).
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, dropout, the batch order and the validation split.
    verbose : bool or int, default=False
        Show a progress bar (tqdm) with the running loss and the validation score.
    dtype : {"float32", "float64"} or None, default="float32"
        The network's floating type: float32, handgrad's training default, or float64; None
        follows the input as scikit-learn does (float32 stays float32, anything else float64).
        Probabilities and predictions are returned as float64 either way.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_ : as in scikit-learn.
    model_ : handgrad.nn.Sequential
        The trained network; its outputs are logits.
    loss_curve_ : list of float
        The mean training loss of every epoch (the data loss; the L1/L2 penalty is not included).
    n_iter_ : int
        Epochs trained (counting every ``partial_fit`` call).
    n_steps_ : int
        Optimizer steps (mini-batches) taken.
    best_loss_, validation_scores_, best_validation_score_ : as in scikit-learn.
    """

    def _validate_targets(self, y, first, classes=None):
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y if classes is None else classes)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                             f"{self.classes_}. 'y' has {np.unique(y)}.")
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; "
                             f"got 1 class ({self.classes_[0]!r})")
        return np.searchsorted(self.classes_, y)

    def _make_task(self) -> Task:
        # Two classes: one logit with the fused sigmoid + BCE (scikit-learn's architecture too).
        n_classes = len(self.classes_)
        return Task("classification", "bce_logits" if n_classes == 2 else "cross_entropy",
                    n_classes)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y). ``classes`` (every label the data will ever have) is required
        on the first call."""
        if not hasattr(self, "model_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(self.classes_, np.unique(classes)):
            raise ValueError(f"`classes={np.unique(classes)}` is not the same as on the first "
                             f"call to partial_fit, which was {self.classes_}")
        return self._partial_fit(X, y, classes)

    def predict(self, X):
        """The most probable class of each row."""
        p = self.predict_proba(X)
        return self.classes_[np.argmax(p, axis=1)]

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        z = self._outputs(X).astype(np.float64)
        if z.shape[1] == 1:
            p1 = expit(z[:, 0])
            return np.column_stack([1.0 - p1, p1])
        return softmax(z, axis=1)

    def predict_log_proba(self, X):
        """log of ``predict_proba``, computed from the logits without forming the probabilities
        (so a probability of 1e-300 gives about -690, not -inf)."""
        z = self._outputs(X).astype(np.float64)
        if z.shape[1] == 1:
            return np.column_stack([log_expit(-z[:, 0]), log_expit(z[:, 0])])
        return log_softmax(z, axis=1)

    def _fitted_extra(self) -> dict:
        return {"classes_": self.classes_.tolist(), "classes_dtype": self.classes_.dtype.str}

    def _load_fitted_extra(self, fitted):
        dtype = fitted.pop("classes_dtype")
        self.classes_ = np.asarray(fitted.pop("classes_"),
                                   dtype=object if dtype == "|O" else dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by handgrad on the half squared error.

    Parameters are those of :class:`MLPClassifier`, plus

    standardize_y : bool, default=True
        Fit the network to (y - y_mean_) / y_scale_ and map its outputs back in ``predict``.
        scikit-learn's MLPRegressor does not do this; see the module docstring for why handgrad
        does. ``early_stopping`` monitors the validation R^2.

    Attributes are those of :class:`MLPClassifier` without ``classes_``, plus ``y_mean_`` and
    ``y_scale_`` (zeros and ones when ``standardize_y=False``): ``model_`` predicts
    (y - y_mean_) / y_scale_. Multi-output targets (n_samples, n_outputs) are supported.
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "standardize_y": ["boolean"]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam",
                 learning_rate_init=0.001, optimizer_params=None, schedule=None,
                 schedule_params=None, alpha=0.0001, l1=0.0, dropout=0.0, batchnorm=False,
                 init="xavier_uniform", batch_size="auto", max_iter=200, shuffle=True, tol=1e-4,
                 n_iter_no_change=10, early_stopping=False, validation_fraction=0.1,
                 random_state=None, verbose=False, dtype="float32", standardize_y=True):
        super().__init__(
            hidden_layer_sizes, activation, optimizer=optimizer,
            learning_rate_init=learning_rate_init, optimizer_params=optimizer_params,
            schedule=schedule, schedule_params=schedule_params, alpha=alpha, l1=l1,
            dropout=dropout, batchnorm=batchnorm, init=init, batch_size=batch_size,
            max_iter=max_iter, shuffle=shuffle, tol=tol, n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            random_state=random_state, verbose=verbose, dtype=dtype)
        self.standardize_y = standardize_y

    def _y_checks(self) -> dict:
        return {"multi_output": True, "y_numeric": True}

    def _validate_targets(self, y, first, classes=None):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = np.asarray(y, dtype=np.float64)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self.n_outputs_ = n_outputs
            if self.standardize_y:
                std = y.std(axis=0)
                self.y_mean_, self.y_scale_ = y.mean(axis=0), np.where(std > 0, std, 1.0)
            else:
                self.y_mean_, self.y_scale_ = np.zeros(n_outputs), np.ones(n_outputs)
        elif n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} outputs but {type(self).__name__} was fitted "
                             f"with {self.n_outputs_}")
        return (y - self.y_mean_) / self.y_scale_

    def _make_task(self) -> Task:
        return _RegressionTask(self.n_outputs_)

    def partial_fit(self, X, y):
        """One epoch over (X, y); the first call fixes the target scaling."""
        return self._partial_fit(X, y)

    def predict(self, X):
        """Predicted values, (n_samples,) or (n_samples, n_outputs)."""
        y = self._outputs(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        return y[:, 0] if self.n_outputs_ == 1 else y

    def _fitted_extra(self) -> dict:
        return {"y_mean_": np.atleast_1d(self.y_mean_).tolist(),
                "y_scale_": np.atleast_1d(self.y_scale_).tolist(), "n_outputs_": self.n_outputs_}

    def _load_fitted_extra(self, fitted):
        self.y_mean_ = np.asarray(fitted.pop("y_mean_"))
        self.y_scale_ = np.asarray(fitted.pop("y_scale_"))
        self.n_outputs_ = fitted.pop("n_outputs_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.target_tags.multi_output = True
        return tags


class _RegressionTask(Task):
    """The regression Task with one output unit per target column."""

    def __init__(self, n_outputs: int = 1, kind: str = "regression", loss: str = "half_mse",
                 n_classes: int = 0, output: str = "identity"):
        super().__init__(kind, loss, n_classes, output)
        self.outputs = n_outputs

    @property
    def n_outputs(self) -> int:
        return self.outputs
