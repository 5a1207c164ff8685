"""Module and Parameter: the lectures' vector formulation of backpropagation.

Every module is one step of the forward pass of 001 ("Vector formulation"):

    forward(y)        computes its output from its input and keeps exactly what backward needs;
    backward(grad_y)  receives grad_y Div (a row per sample), adds the gradients of its own
                      parameters into ``param.grad`` and returns grad_x Div = grad_y Div J_y(x).

``module(x)`` is the public call: it validates x once (rank, width, finiteness, dtype) and runs
``forward``, which is unchecked, so a training loop that validated its data set up front pays for
no checks per batch.

Two flags on a module, set for a whole model by :meth:`Module.grad_mode`, shape its backward:
``accumulate`` (True: ``param.grad +=``, as torch's backward does; False: the gradient is *set*, as
if ``zero_grad`` came first, which a training step wants and which saves the zero fill) and
``needs_grad_x`` (False: no module below needs grad_x, so backward may return None: the first
layer of a network in training, whose input is the data).

A model's parameters are views into one contiguous vector ``theta`` and their gradients views into
one vector ``grad`` (see :meth:`Module.flatten`), so an optimizer step is a few vectorised passes over
the whole model and second-order methods see the vector they are defined on. Assigning to
``param.data`` writes into that vector; it never detaches the parameter from it.

State that is not trained but belongs to the model (batch norm's running statistics, dropout's
random streams) is declared: ``self.buffers`` and ``get_rng_state``/``set_rng_state``. One
:meth:`Module.snapshot` / :meth:`Module.restore` pair saves and puts back all of it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from handgrad.errors import OptionError, ShapeError
from handgrad.validate import as_float_array

DEFAULT_DTYPE = np.float32
SUPPORTED_DTYPES = (np.float32, np.float64)


class Parameter:
    """A trainable tensor: ``data`` and ``grad`` of equal shape.

    ``decay`` says whether weight decay and L1/L2 penalties apply to it: true for weights, false for
    biases and normalisation shifts (003, eq. 29: "the biases are not regularized").

    ``data`` and ``grad`` are views into the model's flat vectors once the model is flattened;
    assigning to them (``lin.W.data = np.ones((3, 2))``) writes the values into the view, shape
    checked, so the optimizer, which updates the flat vector, moves what the layer uses.
    """

    __slots__ = ("data", "grad", "decay", "name")

    def __init__(self, data: np.ndarray, decay: bool = True, name: str = "parameter"):
        data = np.array(data)
        self.bind(data, np.zeros_like(data))
        self.decay = decay
        self.name = name

    def __setattr__(self, name: str, value) -> None:
        # Reading p.data is a plain attribute access (a training step reads it often); assigning
        # to data or grad writes into the view instead of rebinding it.
        if name == "data" or name == "grad":
            self._write(getattr(self, name), value, name)
        else:
            object.__setattr__(self, name, value)

    def _write(self, target: np.ndarray, value, what: str) -> None:
        if value is target:  # p.grad += g: NumPy added in place, nothing left to write
            return
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ShapeError(f"{self.name}.{what} has shape {target.shape}; got an array of shape "
                             f"{value.shape} (assign values of the same shape: the parameter is a "
                             f"view into the model's vector theta)")
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}.{what} takes real numbers, got dtype {value.dtype}")
        np.copyto(target, value, casting="unsafe")

    def bind(self, data: np.ndarray, grad: np.ndarray) -> None:
        """Make ``data``/``grad`` these views (the model's flat vectors; used by ``flatten``)."""
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "grad", grad)

    def __setstate__(self, state) -> None:  # copy.deepcopy: set the slots, not write into views
        for name, value in state[1].items():
            object.__setattr__(self, name, value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.data.dtype}, decay={self.decay})"


@dataclass(frozen=True)
class Snapshot:
    """A model's non-trained state (and optionally its parameters), copied: what
    :meth:`Module.restore` puts back. Plain data, so it can be stored: arrays and JSON-able dicts.

    ``buffers``: name (as :meth:`Module.named_buffers`) -> array copy.
    ``rng_states``: module path (as :meth:`Module.named_rng_states`) -> random stream state.
    ``theta``: a copy of ``model.theta``, or None when taken with ``params=False``.
    """

    buffers: dict
    rng_states: dict
    theta: np.ndarray | None = None


class Module:
    """Base of every layer, activation and container.

    Subclasses set ``self.params`` (name -> Parameter), ``self.buffers`` (name -> array: state saved
    with the model but not trained) and, if they contain other modules, ``self.children``
    (name -> Module). They implement ``forward`` and ``backward``; a backward honours
    ``self.accumulate`` for its parameters' gradients (declare ``sets_grads = True``; a module that
    only ever accumulates has its gradients zeroed by :meth:`grad_mode` instead).
    """

    accumulate = True     # backward adds into param.grad (False: sets it), see grad_mode
    needs_grad_x = True   # False: nothing below needs grad_x, backward may return None
    sets_grads = False    # True: backward itself honours accumulate=False

    def __init__(self) -> None:
        self.params: dict[str, Parameter] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.children: dict[str, Module] = {}
        self.training = True
        self.theta: np.ndarray | None = None
        self.grad: np.ndarray | None = None
        self.theta_version = 0  # bumped whenever flatten() replaces theta and grad

    # --- the protocol -----------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # abstract

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError  # abstract

    def __call__(self, x) -> np.ndarray:
        """The public boundary: validate x once, then the unchecked ``forward``."""
        return self.forward(self.check_input(x))

    def check_input(self, x) -> np.ndarray:
        """x as a finite 2-D float array whose width fits the module, in its dtype."""
        x = as_float_array("input x", x, ndim=2)
        width = getattr(self, "in_features", None)  # layers with a fixed input width have one
        if width is not None and x.shape[1] != width:
            raise ShapeError(f"input x has {x.shape[1]} features but {self.describe()} "
                             f"expects {width}")
        # A module without parameters (an activation) has no dtype of its own: a float input keeps
        # its dtype rather than being cast to the float32 default.
        owns_params = self.theta.size > 0 if self.theta is not None else bool(self.parameters())
        if (owns_params or x.dtype.kind != "f") and x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def output_width(self, width: int | None) -> int | None:
        """The width of the output for an input of ``width`` features (None: unknown), so that a
        container can check at construction that its layers fit together. Elementwise here."""
        return width

    def describe(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def grad_mode(self, accumulate: bool = True, needs_grad_x: bool = True) -> tuple[bool, bool]:
        """Set how the next backward passes treat gradients; returns the previous (accumulate,
        needs_grad_x), so that ``model.grad_mode(*previous)`` restores it.

        ``accumulate=False``: param.grad is set, not added to (a training step: no zero_grad
        needed). ``needs_grad_x=False``: the model's input gradient is not wanted (the input is the
        data), so the first layer skips it and ``backward`` returns None.
        """
        previous = (self.accumulate, self.needs_grad_x)
        self.accumulate, self.needs_grad_x = accumulate, needs_grad_x
        if not accumulate and not self.sets_grads:
            for p in self.params.values():  # set = zero, then this module's accumulating backward
                p.grad.fill(0.0)
        for child in self.children.values():
            child.grad_mode(accumulate, True)
        return previous

    # --- mode ---------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # --- traversal ----------------------------------------------------------------------------
    def modules(self) -> Iterator["Module"]:
        yield self
        for child in self.children.values():
            yield from child.modules()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """(path, module) with paths "" (this one), "0", "0.1", ... in ``modules()`` order."""
        yield prefix.rstrip("."), self
        for name, child in self.children.items():
            yield from child.named_modules(f"{prefix}{name}.")

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, param in self.params.items():
            yield prefix + name, param
        for child_name, child in self.children.items():
            yield from child.named_parameters(f"{prefix}{child_name}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    @property
    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # --- buffers and random streams: the state that is saved but not trained -------------------
    def register_buffer(self, name: str, value: np.ndarray) -> np.ndarray:
        """Declare ``value`` as state of this module saved with the model (not trained)."""
        self.buffers[name] = np.array(value)
        return self.buffers[name]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Non-trainable state saved with the model (batch norm's running statistics)."""
        for name, buf in self.buffers.items():
            yield prefix + name, buf
        for child_name, child in self.children.items():
            yield from child.named_buffers(f"{prefix}{child_name}.")

    def named_rng_states(self) -> Iterator[tuple[str, dict]]:
        """(module path, stream state) of every module with a random stream (dropout)."""
        for path, module in self.named_modules():
            if hasattr(module, "get_rng_state"):
                yield path, module.get_rng_state()

    def snapshot(self, params: bool = False) -> Snapshot:
        """A copy of the buffers and random streams (and of ``theta`` with ``params=True``)."""
        theta = None if not params or self.theta is None else self.theta.copy()
        return Snapshot({name: buf.copy() for name, buf in self.named_buffers()},
                        dict(self.named_rng_states()), theta)

    def restore(self, snap: Snapshot) -> None:
        """Put back what :meth:`snapshot` saved, in place (arrays keep their identity); the same
        snapshot may be restored any number of times. A snapshot of another architecture raises
        ValueError before anything is written."""
        buffers = dict(self.named_buffers())
        streams = dict(self.named_modules())
        _same_layout("buffers", {k: v.shape for k, v in buffers.items()},
                     {k: np.shape(v) for k, v in snap.buffers.items()})
        _same_layout("random streams", {k for k, m in streams.items()
                                        if hasattr(m, "set_rng_state")}, set(snap.rng_states))
        if snap.theta is not None:
            if self.theta is None or self.theta.shape != snap.theta.shape:
                raise ValueError(f"snapshot of {snap.theta.size} parameters for a model with "
                                 f"{0 if self.theta is None else self.theta.size}")
            self.theta[...] = snap.theta
        for name, value in snap.buffers.items():
            buffers[name][...] = value
        for path, state in snap.rng_states.items():
            streams[path].set_rng_state(state)

    # --- the flat parameter vector ------------------------------------------------------------
    def __deepcopy__(self, memo) -> "Module":
        """A copy whose parameters are views into the copy's own theta and grad (copying each view
        on its own would leave them detached from the copied vectors)."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for name, value in self.__dict__.items():
            new.__dict__[name] = copy.deepcopy(value, memo)
        if new.theta is not None:
            offset = 0
            for p in new.parameters():
                end = offset + p.size
                p.bind(new.theta[offset:end].reshape(p.shape),
                       new.grad[offset:end].reshape(p.shape))
                offset = end
        return new

    def flatten(self, dtype=None) -> "Module":
        """Move every parameter into one vector ``theta`` (and its gradient into ``grad``).

        Each Parameter's ``data`` and ``grad`` become views into those vectors, in the order of
        :meth:`named_parameters`. Values are kept; gradients are zeroed. ``theta`` and ``grad`` are
        new arrays afterwards (``theta_version`` counts the replacements): an optimizer built on
        the old ones must be built again.
        """
        params = self.parameters()
        if dtype is None:
            dtype = params[0].data.dtype if params else DEFAULT_DTYPE
        dtype = model_dtype(dtype)
        total = sum(p.size for p in params)
        theta = np.empty(total, dtype=dtype)
        grad = np.zeros(total, dtype=dtype)
        offset = 0
        for name, p in self.named_parameters():
            end = offset + p.size
            theta[offset:end] = p.data.ravel()
            p.bind(theta[offset:end].reshape(p.shape), grad[offset:end].reshape(p.shape))
            p.name = name
            offset = end
        for module in self.modules():
            for name, buf in module.buffers.items():
                module.buffers[name] = buf.astype(dtype)
            module.theta, module.grad = None, None
        self.theta, self.grad = theta, grad
        self.theta_version += 1
        return self

    def to(self, dtype) -> "Module":
        """Cast all parameters and buffers to float32 or float64 (re-flattening). The dtype the
        model already has changes nothing: ``theta`` stays the same array."""
        if self.theta is not None and np.dtype(dtype) == self.theta.dtype:
            return self
        return self.flatten(dtype)

    @property
    def dtype(self) -> np.dtype:
        if self.theta is not None and self.theta.size:
            return self.theta.dtype
        params = self.parameters()
        return params[0].data.dtype if params else np.dtype(DEFAULT_DTYPE)

    def decay_mask(self) -> np.ndarray:
        """Boolean vector over ``theta``: True where weight decay / L1 / L2 applies (weights only)."""
        return np.concatenate([np.full(p.size, p.decay) for p in self.parameters()]) \
            if self.parameters() else np.zeros(0, bool)

    def zero_grad(self) -> None:
        if self.grad is not None:
            self.grad.fill(0.0)
        else:
            for p in self.parameters():
                p.grad.fill(0.0)

    # --- description --------------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-serialisable description from which :func:`handgrad.nn.build` rebuilds the module."""
        raise NotImplementedError  # abstract

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self.children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in self.children.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)


def model_dtype(dtype) -> np.dtype:
    """float32 or float64 as a NumPy dtype, or OptionError naming the value."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.type not in SUPPORTED_DTYPES:
        shown = resolved if resolved is not None else repr(dtype)
        raise OptionError(f"invalid dtype: {shown} (expected float32 or float64)")
    return resolved


def _same_layout(what: str, model, snap) -> None:
    if model != snap:
        raise ValueError(f"the snapshot's {what} do not match the model's (another architecture): "
                         f"model {_short(model)}, snapshot {_short(snap)}")


def _short(layout) -> str:
    return f"{dict(sorted(layout.items()))!r:.200}" if isinstance(layout, dict) \
        else f"{sorted(layout)!r:.200}"


def not_run_yet(module: Module) -> RuntimeError:
    """The error of a backward called before any forward (nothing saved to differentiate)."""
    return RuntimeError(f"{type(module).__name__}.backward called before forward: run the forward "
                        f"pass (model(x)) first, then backward")
