"""The Optimizer base: every method of the notes updates the model's flat vectors in place.

An optimizer sees the model as 001 writes it for the convergence analysis: one parameter vector
W = ``model.theta`` and its gradient grad_W Loss = ``model.grad`` (both 1-D, every Parameter is a
view into them). A step is a few vectorised passes over those vectors, with scratch buffers
allocated once.

Protocol (as ``torch.optim``):

    opt.zero_grad()           model.grad <- 0
    opt.step(closure=None)    one update; with a closure, the closure is called first (it recomputes
                              the loss and model.grad on the current batch) and its value returned
    opt.needs_closure         True for the methods that must evaluate the loss away from W
                              (Nesterov's look-ahead, Newton, L-BFGS, Levenberg-Marquardt,
                              conjugate gradient)
    opt.lr                    the current learning rate eta (a schedule sets it between epochs)
    opt.state_dict()          numpy arrays and plain Python values only, so it saves without pickle
    opt.load_state_dict(d)    resumes bit-identically

Regularisation shared by all methods (004: a regulariser term added to the loss; 003, eq. 29:
L2 as weight decay, "the biases are not regularized"):

    grad <- grad + lambda_2 M W + lambda_1 M sign(W)

where M is ``model.decay_mask()`` (1 on weights, 0 on biases), or 1 everywhere with
``decay_biases=True`` (what ``torch.optim`` does, needed to compare with it). The addition is made
in place, so after ``step`` ``model.grad`` holds the regularised gradient. AdamW overrides this with
its decoupled decay.
"""

from __future__ import annotations

import functools

import numpy as np

from handgrad.optim import kernels
from handgrad.validate import check_bool, check_option


class Optimizer:
    """Base of all optimizers: bookkeeping, regularisation and (de)serialisation.

    Subclasses set ``name``, list their per-weight state arrays in ``state_names`` and their
    hyperparameters in ``hyper_names``, and implement :meth:`_update` (the math of one step, given
    the regularised gradient) or override :meth:`step` when they need the closure.
    """

    name = ""
    needs_closure = False
    full_batch = False  # True for the batch methods (Rprop, QuickProp, second order), as published
    l2_in_gradient = True  # False where weight decay is applied to W directly (AdamW)
    state_names: tuple[str, ...] = ()
    hyper_names: tuple[str, ...] = ()

    def __init__(self, model, lr: float, weight_decay: float = 0.0, l1: float = 0.0,
                 decay_biases: bool = False):
        theta = getattr(model, "theta", None)
        if theta is None or getattr(model, "grad", None) is None:
            raise ValueError(f"{type(self).__name__} needs a flattened model (model.theta and "
                             "model.grad); call model.flatten() first")
        self.model = model
        self.theta: np.ndarray = model.theta
        self.grad: np.ndarray = model.grad
        self.lr = check_option("lr", lr, 0.0)
        self.weight_decay = check_option("weight_decay", weight_decay, 0.0)
        self.l1 = check_option("l1", l1, 0.0)
        self.decay_biases = check_bool("decay_biases", decay_biases)
        self.step_count = 0

    # --- the protocol -------------------------------------------------------------------------
    def zero_grad(self) -> None:
        self.grad.fill(0.0)

    def step(self, closure=None):
        """One update from ``model.grad`` (recomputed by ``closure`` first when given)."""
        loss = None if closure is None else closure()
        self._regularize_grad()
        self.step_count += 1
        self._update()
        return loss

    def _update(self) -> None:
        raise NotImplementedError  # abstract: each method's rule

    # Both buffers are the size of the model and most steps use neither (the fused kernels need no
    # scratch; the mask only serves weight decay and L1), so they are made on first use.
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
    def _masked(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out <- M x (x itself when every entry is decayed)."""
        if self.mask is None:
            np.copyto(out, x)
        else:
            np.multiply(x, self.mask, out=out)
        return out

    def _regularize_grad(self) -> None:
        """grad += lambda_2 M W + lambda_1 M sign(W), in place."""
        l2 = self.weight_decay if self.l2_in_gradient else 0.0
        if not (l2 or self.l1):
            return  # the common case: no scratch buffer is ever made
        s = self._scratch
        if l2:
            self._masked(self.theta, s)
            s *= self.weight_decay
            self.grad += s
        if self.l1:
            np.sign(self.theta, out=s)
            self._masked(s, s)
            s *= self.l1
            self.grad += s

    def penalty(self) -> float:
        """The regulariser's value lambda_2/2 ||M W||^2 + lambda_1 ||M W||_1 (for line searches)."""
        value = 0.0
        if self.weight_decay or self.l1:
            w = self._masked(self.theta, np.empty_like(self.theta))
            if self.weight_decay:
                value += 0.5 * self.weight_decay * float(w @ w)
            if self.l1:
                value += self.l1 * float(np.abs(w).sum())
        return value

    def _evaluate(self, closure) -> tuple[float, float]:
        """(loss, objective) at the current W: the closure's loss and the loss plus the
        regulariser, whose gradient it leaves in ``model.grad``."""
        value = float(closure())
        self._regularize_grad()
        return value, value + self.penalty()

    def _require_closure(self, closure) -> None:
        if closure is None:
            raise ValueError(f"optimizer {self.name!r} re-evaluates the loss and needs a closure: "
                             "call opt.step(closure)")

    # --- serialisation ------------------------------------------------------------------------
    def hyperparameters(self) -> dict:
        names = ("lr", "weight_decay", "l1", "decay_biases") + self.hyper_names
        return {k: getattr(self, k) for k in names}

    def _extra_state(self) -> dict:
        """Scalar state beyond the arrays (counters, damping factors); subclasses extend it."""
        return {}

    def _load_extra_state(self, extra: dict) -> None:
        pass  # subclasses without scalar state have nothing to restore

    def state_dict(self) -> dict:
        arrays = {k: np.array(getattr(self, k), copy=True) for k in self.state_names}
        return {"name": self.name, "step_count": self.step_count,
                "hyperparameters": self.hyperparameters(), "state": arrays,
                "extra": self._extra_state()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state_dict is for optimizer {state.get('name')!r}, "
                             f"not {self.name!r}")
        missing = set(self.state_names) - set(state.get("state", {}))
        if missing:
            raise ValueError(f"state_dict of {self.name!r} lacks state {sorted(missing)}")
        for key, value in state["hyperparameters"].items():
            setattr(self, key, value)
        for key in self.state_names:
            current = getattr(self, key)
            value = np.asarray(state["state"][key])
            if isinstance(current, np.ndarray) and current.shape == value.shape:
                np.copyto(current, value)  # keep the buffer (and any views into it)
            else:
                setattr(self, key, value.astype(current.dtype if isinstance(current, np.ndarray)
                                                 else value.dtype, copy=True))
        self.__dict__.pop("mask", None)  # decay_biases may have changed: rebuild M when needed
        self.step_count = int(state["step_count"])
        self._load_extra_state(state.get("extra", {}))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({options})"
