"""The Optimizer base: every method of the notes updates the model's flat vectors in place.

An optimizer sees the model as 001 writes it for the convergence analysis: one parameter vector
W = ``model.theta`` and its gradient grad_W Loss = ``model.grad`` (both 1-D, every Parameter is a
view into them). A step is a few vectorised passes over those vectors.

Protocol (as ``torch.optim``):

    opt.zero_grad()           model.grad <- 0
    opt.step(closure=None)    one update; with a closure, the closure is called first (it recomputes
                              the loss and model.grad on the current batch) and its value returned
    opt.needs_closure         True for the methods that must evaluate the loss away from W
                              (Nesterov's look-ahead, Newton, L-BFGS, Levenberg-Marquardt,
                              conjugate gradient)
    opt.lr                    the current learning rate eta (a schedule sets it between epochs)
    opt.state_dict()          numpy arrays and plain Python values only, so it saves without pickle
    opt.load_state_dict(d)    resumes bit-identically; checked as the constructor checks its options

Regularisation shared by all methods (004: a regulariser term added to the loss; 003, eq. 29:
L2 as weight decay, "the biases are not regularized"), applied by ``opt.regularizer``
(:class:`handgrad.optim.regularization.Penalty`) before the method's rule:

    grad <- grad + lambda_2 M W + lambda_1 M sign(W)

lambda_2 is ``l2`` (or torch's ``weight_decay``, the same term for every method but AdamW, so
only one of the two may be given); lambda_1 is ``l1``. M is ``model.decay_mask()`` (1 on weights,
0 on biases), or 1 everywhere with ``decay_biases`` = True (what ``torch.optim`` does, needed to
compare with it). After ``step`` ``model.grad`` holds the regularised gradient. AdamW's
``weight_decay`` is decoupled and applied in its own rule.
"""

from __future__ import annotations

import functools

import numpy as np

from handgrad.errors import HandgradError, NonFiniteError, OptionError, ShapeError
from handgrad.optim import kernels
from handgrad.optim.regularization import Penalty
from handgrad.validate import check_bool, check_int, check_option, check_finite


class Optimizer:
    """Base of all optimizers: bookkeeping, regularisation and (de)serialisation.

    Subclasses set ``name``, list their per-weight state arrays in ``state_names`` and their
    hyperparameters in ``hyper_names`` (each a constructor option), and implement :meth:`_update`
    (the math of one step, given the regularised gradient) or override :meth:`step` when they need
    the closure.
    """

    name = ""
    needs_closure = False
    full_batch = False  # True for the batch methods (Rprop, QuickProp, second order), as published
    l2_in_gradient = True  # False where weight decay is applied to W directly (AdamW)
    state_names: tuple[str, ...] = ()
    hyper_names: tuple[str, ...] = ()

    def __init__(self, model, lr: float, weight_decay: float = 0.0, l1: float = 0.0,
                 decay_biases: bool = False, l2: float = 0.0):
        theta = getattr(model, "theta", None)
        if theta is None or getattr(model, "grad", None) is None:
            raise ValueError(f"{type(self).__name__} needs a flattened model (model.theta and "
                             "model.grad); call model.flatten() first")
        self.model = model
        self.theta: np.ndarray = model.theta
        self.grad: np.ndarray = model.grad
        self.lr = check_option("lr", lr, 0.0)
        self.weight_decay = check_option("weight_decay", weight_decay, 0.0)
        self.l2 = check_option("l2", l2, 0.0)
        self.l1 = check_option("l1", l1, 0.0)
        self.decay_biases = check_bool("decay_biases", decay_biases)
        if self.l2 and self.weight_decay and self.l2_in_gradient:
            raise OptionError(f"invalid l2: {l2!r} together with weight_decay={weight_decay!r} "
                              f"(expected one of them: for {self.name!r} both are the same L2 "
                              "term lambda M W in the gradient)")
        self.step_count = 0

    # --- the protocol -------------------------------------------------------------------------
    def zero_grad(self) -> None:
        self.grad.fill(0.0)

    def step(self, closure=None):
        """One update from ``model.grad`` (recomputed by ``closure`` first when given)."""
        self._check_vectors()
        loss = None if closure is None else closure()
        self._regularize_grad()
        self.step_count += 1
        self._update()
        return loss

    def _update(self) -> None:
        raise NotImplementedError  # abstract: each method's rule

    def _check_vectors(self) -> None:
        """A model whose vectors were replaced (``model.to(float64)``, a new ``flatten()``) would
        leave this optimizer stepping the old ones while the model never changes: refuse."""
        if self.model.theta is not self.theta or self.model.grad is not self.grad:
            raise HandgradError(
                f"optimizer {self.name!r} was built for the model's previous parameter vector: "
                "model.theta was replaced since (model.to(...) or flatten()), so a step would "
                "not move the model; build the optimizer again after changing the model")

    # The buffer is the size of the model and most steps never use it (the compiled kernels need
    # no scratch), so it is made on first use.
    @functools.cached_property
    def _scratch(self) -> np.ndarray:
        return np.empty_like(self.theta)

    @property
    def _kernel_scratch(self) -> np.ndarray | None:
        """The scratch buffer for a kernel's NumPy form; None when the compiled one runs."""
        return None if kernels.compiled_for(self.theta) else self._scratch

    @functools.cached_property
    def mask(self) -> np.ndarray | None:
        """M of the docstring, in the parameters' dtype so M * W is one multiply."""
        return None if self.decay_biases else self.model.decay_mask().astype(self.theta.dtype)

    # --- regularisation -----------------------------------------------------------------------
    @property
    def regularizer(self) -> Penalty:
        """The penalty lambda_2/2 ||M W||^2 + lambda_1 ||M W||_1 whose gradient each step adds.

        Made again whenever a strength or ``decay_biases`` has changed since the last step: the
        estimators set ``weight_decay`` before each fit, and a stale penalty would be silently
        wrong."""
        l2 = self.l2 + (self.weight_decay if self.l2_in_gradient else 0.0)
        key = (l2, self.l1, self.decay_biases)
        if self.__dict__.get("_regularizer_key") != key:
            if key[2] != self.__dict__.get("_mask_decay_biases", key[2]):
                self.__dict__.pop("mask", None)
            self._mask_decay_biases = key[2]
            self._regularizer = (Penalty(self.mask, l2=l2, l1=self.l1) if (l2 or self.l1)
                                 else Penalty())  # no mask is ever made
            self._regularizer_key = key
        return self._regularizer

    @property
    def penalty_in_loss(self) -> bool:
        """Whether the user asked for a penalty in the loss (l2 or l1), whose value a trainer
        then reports with the loss; torch's weight_decay is not reported."""
        return bool(self.l2 or self.l1)

    def _regularize_grad(self) -> None:
        """grad += lambda_2 M W + lambda_1 M sign(W), in place."""
        if self.regularizer:
            self.regularizer.add_gradient(self.theta, self.grad, self._scratch)

    def penalty(self) -> float:
        """The regulariser's value lambda_2/2 ||M W||^2 + lambda_1 ||M W||_1 at the current W."""
        if not self.regularizer:
            return 0.0
        return self.regularizer.value(self.theta, self._scratch)

    def _evaluate(self, closure) -> tuple[float, float]:
        """(loss, objective) at the current W: the closure's loss and the loss plus the
        regulariser, whose gradient it leaves in ``model.grad``."""
        value = float(closure())
        self._regularize_grad()
        return value, value + self.penalty()

    def _require_closure(self, closure) -> None:
        self._check_vectors()
        if closure is None:
            raise ValueError(f"optimizer {self.name!r} re-evaluates the loss and needs a closure: "
                             "call opt.step(closure)")

    # --- serialisation ------------------------------------------------------------------------
    def hyperparameters(self) -> dict:
        names = ("lr", "weight_decay", "l2", "l1", "decay_biases") + self.hyper_names
        return {k: getattr(self, k) for k in names}

    def _extra_state(self) -> dict:
        """Scalar state beyond the arrays (counters, damping factors); subclasses extend it."""
        return {}

    def _load_extra_state(self, extra: dict) -> None:
        pass  # subclasses without scalar state have nothing to restore

    @staticmethod
    def _extra(extra: dict, key: str, default, low=None, low_open=False, integer=False):
        """A stored scalar of the extra state, checked (None where it may be None)."""
        value = extra.get(key, default)
        if value is None and default is None:
            return None
        return check_option(f"optimizer state_dict 'extra.{key}'", value, low,
                            low_open=low_open, integer=integer)

    def state_dict(self) -> dict:
        arrays = {k: np.array(getattr(self, k), copy=True) for k in self.state_names}
        return {"name": self.name, "step_count": self.step_count,
                "hyperparameters": self.hyperparameters(), "state": arrays,
                "extra": self._extra_state()}

    def _checked_hyperparameters(self, given) -> "Optimizer":
        """An optimizer of this class built with the stored hyperparameters: the constructor's
        own checks, so a checkpoint cannot hold what the constructor refuses."""
        if not isinstance(given, dict):
            raise OptionError(f"invalid optimizer state_dict 'hyperparameters': {given!r} "
                              "(expected a mapping of option names to values)")
        known = self.hyperparameters()
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise OptionError(f"invalid optimizer state_dict 'hyperparameters': unknown key(s) "
                              f"{', '.join(map(repr, unknown))} for {self.name!r} (expected "
                              f"some of: {', '.join(known)})")
        options = {**known, **given}   # a key missing from an older file keeps its value
        try:
            return type(self)(self.model, **options)
        except OptionError as err:
            raise OptionError(f"invalid optimizer state_dict 'hyperparameters': {err}") from None

    def _checked_state(self, key: str, value, expected: np.ndarray) -> np.ndarray:
        """A stored state array: real numbers, finite, shaped as the fresh optimizer's (state that
        grows from empty, as L-BFGS's history, may hold rows of its width)."""
        where = f"optimizer state_dict 'state.{key}'"
        value = np.asarray(value)
        if value.dtype.kind not in "fiu":
            raise OptionError(f"invalid {where}: dtype {value.dtype} (expected real numbers)")
        if value.shape != expected.shape:
            growing = expected.size == 0 and (
                value.shape[1:] == expected.shape[1:] if expected.ndim > 1
                else value.shape == self.theta.shape)
            if not growing:
                raise ShapeError(f"invalid {where}: shape {value.shape} (expected "
                                 f"{expected.shape} for this model)")
        try:
            check_finite(where, value)
        except NonFiniteError as err:
            raise NonFiniteError(f"invalid {err}") from None
        return value

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("name") != self.name:
            found = state.get("name") if isinstance(state, dict) else state
            raise OptionError(f"state_dict is for optimizer {found!r}, not {self.name!r}")
        stored = state.get("state", {})
        missing = set(self.state_names) - set(stored if isinstance(stored, dict) else ())
        if missing:
            raise OptionError(f"state_dict of {self.name!r} lacks state {sorted(missing)}")
        fresh = self._checked_hyperparameters(state.get("hyperparameters", {}))
        arrays = {k: self._checked_state(k, stored[k], getattr(fresh, k))
                  for k in self.state_names}
        step_count = check_int("optimizer state_dict 'step_count'", state.get("step_count"), 0)
        extra = state.get("extra", {})
        if not isinstance(extra, dict):
            raise OptionError(f"invalid optimizer state_dict 'extra': {extra!r} (expected a "
                              "mapping)")
        fresh._load_extra_state(extra)   # checks it before anything of this optimizer changes
        for key, value in fresh.hyperparameters().items():
            setattr(self, key, value)
        for key, value in arrays.items():
            current = getattr(self, key)
            if current.shape == value.shape:
                np.copyto(current, value)  # keep the buffer (and any views into it)
            else:
                setattr(self, key, value.astype(current.dtype, copy=True))
        for cached in ("mask", "_regularizer_key"):  # decay_biases or a strength may have changed
            self.__dict__.pop(cached, None)
        self.step_count = step_count
        self._load_extra_state(extra)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({options})"
