"""The affine layer z = W y + b of the notes, batched: z = y W^T + b (rows are samples)."""

from __future__ import annotations

import numpy as np

from handgrad.errors import ShapeError
from handgrad.nn import kernels
from handgrad.nn.init import as_generator, get_initializer
from handgrad.nn.module import DEFAULT_DTYPE, Module, Parameter, model_dtype, not_run_yet
from handgrad.nn.registry import register_module
from handgrad.validate import check_bool, check_int


@register_module("Linear")
class Linear(Module):
    """z = y W^T + b with W stored (out, in), as in 001's z = W y + b and in PyTorch; y is the
    layer's input (the notes' y_(k-1)), one row per sample.

    Backward (001, "Vector formulation"; 004: the gradient w.r.t. W is an outer product):

        grad_W (+)= grad_z^T y        (the sum over the batch of the outer products grad_z y^T)
        grad_b (+)= sum over the batch of grad_z
        grad_x  = grad_z W

    (+)= adds to the gradient, or sets it when the model is in a training step's grad_mode.
    ``handgrad.nn.kernels`` computes the same in BLAS's fastest layout, in place.
    """

    sets_grads = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str = "xavier_uniform", bias_init: str = "zeros", rng=None,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.in_features = check_int("Linear in_features", in_features, low=1)
        self.out_features = check_int("Linear out_features", out_features, low=1)
        bias = check_bool("Linear bias", bias)
        dtype = model_dtype(dtype)
        self.init, self.bias_init = init, bias_init
        rng = as_generator(rng)
        shape = (self.out_features, self.in_features)
        self.W = self.params["W"] = Parameter(get_initializer(init)(shape, rng).astype(dtype))
        self.b: Parameter | None = None
        if bias:
            b = get_initializer(bias_init)((self.out_features, self.in_features), rng)[:, 0]
            self.b = self.params["b"] = Parameter(b.astype(dtype), decay=False)
        self.y: np.ndarray | None = None
        self.flatten(dtype)

    def forward(self, y: np.ndarray) -> np.ndarray:
        """z = y W^T + b."""
        self.y = y  # the layer input: grad_W needs it
        W, b = self.W.data, self.b.data if self.b is not None else None
        if kernels.FAST:  # the same z, in BLAS's fastest layout
            return kernels.linear_forward(y=y, W=W, b=b)
        z = y @ W.T + b if b is not None else y @ W.T
        return z

    def backward(self, grad_z: np.ndarray) -> np.ndarray | None:
        """grad_W (+)= grad_z^T y;  grad_b (+)= sum over the batch of grad_z;  grad_x = grad_z W."""
        y, W, b = self.y, self.W, self.b
        if y is None:
            raise not_run_yet(self)
        if kernels.FAST:  # the same, written in place (set mode: no zero fill, no temporary)
            return kernels.linear_backward(
                grad_z=grad_z, y=y, W=W.data, grad_W=W.grad, grad_b=None if b is None else b.grad,
                accumulate=self.accumulate, needs_grad_x=self.needs_grad_x)
        if not self.accumulate:  # set = zero, then add
            self.zero_grad()
        W.grad += grad_z.T @ y
        if b is not None:
            b.grad += grad_z.sum(axis=0)
        return grad_z @ W.data if self.needs_grad_x else None

    def output_width(self, width):
        if width is not None and width != self.in_features:
            raise ShapeError(f"{self.describe()} expects {self.in_features} input features, "
                             f"but the layer before it gives {width}")
        return self.out_features

    def config(self) -> dict:
        return {"type": "Linear", "in_features": self.in_features,
                "out_features": self.out_features, "bias": "b" in self.params,
                "init": self.init, "bias_init": self.bias_init}

    @classmethod
    def from_config(cls, config: dict, dtype=DEFAULT_DTYPE) -> "Linear":
        return cls(dtype=dtype, **config)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, bias={'b' in self.params}"
