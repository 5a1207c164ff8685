"""Module and Parameter: the lectures' vector formulation of backpropagation.

Every module is one step of the forward pass of 001 ("Vector formulation"):

    forward(x)        computes its output from its input and keeps exactly what backward needs;
    backward(grad_y)  receives grad_y Div (a row per sample), adds the gradients of its own
                      parameters into ``param.grad`` and returns grad_x Div = grad_y Div J_y(x).

A model's parameters are views into one contiguous vector ``theta`` and their gradients views into
one vector ``grad`` (see :meth:`Module.flatten`), so an optimizer step is a few vectorised passes over
the whole model and second-order methods see the vector they are defined on.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

DEFAULT_DTYPE = np.float32
SUPPORTED_DTYPES = (np.float32, np.float64)


class Parameter:
    """A trainable tensor: ``data`` and ``grad`` of equal shape.

    ``decay`` says whether weight decay and L1/L2 penalties apply to it: true for weights, false for
    biases and normalisation shifts (003, eq. 29: "the biases are not regularized").
    """

    def __init__(self, data: np.ndarray, decay: bool = True):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)
        self.decay = decay

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.data.dtype}, decay={self.decay})"


class Module:
    """Base of every layer, activation and container.

    Subclasses set ``self.params`` (name -> Parameter) and, if they contain other modules,
    ``self.children`` (name -> Module). They implement ``forward`` and ``backward``.
    """

    def __init__(self) -> None:
        self.params: dict[str, Parameter] = {}
        self.children: dict[str, Module] = {}
        self.training = True
        self.theta: np.ndarray | None = None
        self.grad: np.ndarray | None = None

    # --- the protocol -----------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # abstract

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # abstract

    def backward_params(self, grad_y: np.ndarray, accumulate: bool = True) -> None:
        """The parameter gradients only (modules that can skip grad_x override this).

        ``accumulate=False`` sets them instead of adding to them, as if ``zero_grad`` came first.
        """
        if accumulate:
            self.backward(grad_y)
        else:
            self.backward_overwrite(grad_y)

    def backward_overwrite(self, grad_y: np.ndarray) -> np.ndarray:
        """``backward`` with this module's parameter gradients set rather than accumulated.

        A training step wants exactly that (zero_grad, then one backward): a layer that writes its
        gradient straight into ``param.grad`` saves the zero fill, a temporary and an addition per
        weight matrix (Linear does). The default zeroes first and accumulates.
        """
        if self.params or self.children:
            self.zero_grad()
        return self.backward(grad_y)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

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

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, param in self.params.items():
            yield prefix + name, param
        for child_name, child in self.children.items():
            yield from child.named_parameters(f"{prefix}{child_name}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Non-trainable state saved with the model (batch norm's running statistics)."""
        for name, buf in getattr(self, "buffers", {}).items():
            yield prefix + name, buf
        for child_name, child in self.children.items():
            yield from child.named_buffers(f"{prefix}{child_name}.")

    @property
    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # --- the flat parameter vector ------------------------------------------------------------
    def flatten(self, dtype=None) -> "Module":
        """Move every parameter into one vector ``theta`` (and its gradient into ``grad``).

        Each Parameter's ``data`` and ``grad`` become views into those vectors, in the order of
        :meth:`named_parameters`. Values are kept; gradients are zeroed. Idempotent.
        """
        params = self.parameters()
        if dtype is None:
            dtype = params[0].data.dtype if params else DEFAULT_DTYPE
        dtype = np.dtype(dtype)
        if dtype.type not in SUPPORTED_DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        total = sum(p.size for p in params)
        theta = np.empty(total, dtype=dtype)
        grad = np.zeros(total, dtype=dtype)
        offset = 0
        for p in params:
            end = offset + p.size
            theta[offset:end] = p.data.ravel()
            p.data = theta[offset:end].reshape(p.shape)
            p.grad = grad[offset:end].reshape(p.shape)
            offset = end
        for module in self.modules():
            module._cast_buffers(dtype)
            module.theta, module.grad = None, None
        self.theta, self.grad = theta, grad
        return self

    def _cast_buffers(self, dtype) -> None:
        buffers = getattr(self, "buffers", None)
        if buffers:
            for name, buf in buffers.items():
                buffers[name] = buf.astype(dtype)

    def to(self, dtype) -> "Module":
        """Cast all parameters and buffers to float32 or float64 (re-flattening)."""
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
