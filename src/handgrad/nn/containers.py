"""Sequential composition and the MLP builder.

A network is the chain of 001's forward pass, y_0 = x, z_k = W_k y_{k-1} + b_k, y_k = f_k(z_k);
its backward walks the chain in reverse, each module turning grad_{y_k} Div into grad_{y_{k-1}} Div.
The gradient w.r.t. the network input is what the first module returns.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn.activations import get_activation
from handgrad.nn.batchnorm import BatchNorm1d
from handgrad.nn.dropout import Dropout
from handgrad.errors import ShapeError
from handgrad.validate import as_float_array
from handgrad.nn.init import as_generator, default_init_for
from handgrad.nn.linear import Linear
from handgrad.nn.module import DEFAULT_DTYPE, Module


class Sequential(Module):
    """Modules applied in order; owns the flat ``theta``/``grad`` vectors of all of them."""

    def __init__(self, *modules: Module, dtype=None):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules, got {type(module).__name__} at {i}")
            self.children[str(i)] = module
        # Fixed at construction, so the per-step paths (forward, backward, the input check) do not
        # rebuild them from the children on every call.
        self.layers: tuple[Module, ...] = tuple(modules)
        self.in_features = next((m.in_features for m in modules
                                 if getattr(m, "in_features", None) is not None), None)
        self.flatten(dtype or (self.dtype if self.parameters() else DEFAULT_DTYPE))

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def check_input(self, x) -> np.ndarray:
        """The public boundary: a finite 2-D array whose width matches the first layer."""
        x = as_float_array("input x", x, ndim=2)
        width = self.in_features
        if width is not None and x.shape[1] != width:
            raise ShapeError(f"input x has {x.shape[1]} features but the first layer expects {width}")
        # A container without parameters (only activations) has no dtype of its own: keep a float
        # input as it is rather than casting it to the float32 default.
        owns_params = self.theta.size > 0 if self.theta is not None else bool(self.parameters())
        has_dtype = owns_params or x.dtype.kind != "f"
        if has_dtype and x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def forward(self, x):
        y = self.check_input(x)
        for module in self.layers:
            y = module.forward(y)
        self.out_shape = y.shape
        return y

    def backward(self, grad_y):
        # A grad_y of the wrong shape would broadcast silently through elementwise backwards.
        return self.backward_through(self.layers, grad_y)

    def backward_overwrite(self, grad_y):
        return self.backward_through(self.layers, grad_y, accumulate=False)

    def backward_params(self, grad_y, accumulate: bool = True) -> None:
        """Backpropagate for the parameter gradients only: the first layer skips grad_x, which
        training never uses (for a 784-wide input, a sixth of a step's products)."""
        layers = self.layers
        grad_y = self.backward_through(layers[1:], grad_y, accumulate)
        layers[0].backward_params(grad_y, accumulate)

    def backward_through(self, layers, grad_y, accumulate: bool = True):
        expected = getattr(self, "out_shape", None)
        if expected is None:
            raise RuntimeError("Sequential.backward called before forward")
        if np.shape(grad_y) != expected:
            raise ShapeError(f"grad_y has shape {np.shape(grad_y)} but the output of the last "
                             f"forward has shape {expected}")
        for module in reversed(layers):
            grad_y = module.backward(grad_y) if accumulate else module.backward_overwrite(grad_y)
        return grad_y

    def config(self) -> dict:
        return {"type": "Sequential", "layers": [m.config() for m in self.layers]}


def MLP(sizes, activation: str = "relu", output: str = "identity", init: str | None = None,
        rng=None, dtype=DEFAULT_DTYPE, dropout: float = 0.0, batchnorm: bool = False,
        layers_between=None) -> Sequential:
    """A multi-layer perceptron: Linear(sizes[0], sizes[1]), activation, ..., Linear(.., sizes[-1]),
    output activation.

    ``output`` is the output activation of 004: ``identity`` for regression and for logits fed to a
    fused cross-entropy, ``sigmoid`` for binary and ``softmax`` for multi-class probabilities.
    Each hidden layer is Linear -> [BatchNorm1d] -> [layers_between(width, rng)...] -> activation
    -> [Dropout(dropout)]: batch norm normalises the pre-activations z (Ioffe & Szegedy 2015),
    dropout drops the units' outputs y (Srivastava et al. 2014). Dropout layers draw their seeds
    from ``rng``, so the model's seed fixes their masks. ``maxout`` hidden units use pool 2, so each
    hidden Linear produces twice the width the next layer sees.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"MLP sizes must be at least two positive widths, got {sizes}")
    if isinstance(activation, str):
        # Validates the name even when there is no hidden layer, and normalises it ("Maxout" ->
        # "maxout") so the pool width and the default init below see the canonical name.
        activation = get_activation(activation).name
    rng = as_generator(rng)
    init = init or default_init_for(str(activation))
    pool = 2 if activation == "maxout" else 1
    modules: list[Module] = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = k == len(sizes) - 2
        width = fan_out if last else fan_out * pool
        modules.append(Linear(fan_in, width, init=init, rng=rng, dtype=dtype))
        if last:
            break
        if batchnorm:
            modules.append(BatchNorm1d(width, dtype=dtype))
        if layers_between is not None:
            modules.extend(layers_between(width, rng))
        modules.append(get_activation(activation))
        if dropout:
            modules.append(Dropout(dropout, rng=rng))
    if output not in (None, "identity", "linear"):
        modules.append(get_activation(output))
    return Sequential(*modules, dtype=dtype)
