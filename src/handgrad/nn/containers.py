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
from handgrad.errors import ModelFileError, OptionError, ShapeError
from handgrad.validate import check_bool, check_int, check_option
from handgrad.nn.init import as_generator, default_init_for
from handgrad.nn.linear import Linear
from handgrad.nn.module import DEFAULT_DTYPE, Module, not_run_yet
from handgrad.nn.registry import build_module, register_module


@register_module("Sequential")
class Sequential(Module):
    """Modules applied in order; owns the flat ``theta``/``grad`` vectors of all of them.

    The layers' widths are checked against each other here, once; ``model(x)`` checks x against
    the first layer, and ``forward`` runs unchecked.
    """

    def __init__(self, *modules: Module, dtype=None):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules, got {type(module).__name__} at {i}")
            self.children[str(i)] = module
        # Fixed at construction, so the per-step paths do not rebuild them from the children.
        self.layers: tuple[Module, ...] = tuple(modules)
        self.has_params = tuple(bool(m.parameters()) for m in modules)
        # Layers whose grad_mode is just the two flags (nn's own leaves): set directly, as the
        # training closure switches the mode twice a step.
        self.plain = tuple(not m.children and (m.sets_grads or not m.params)
                           and type(m).grad_mode is Module.grad_mode for m in modules)
        self.in_features = next((m.in_features for m in modules
                                 if getattr(m, "in_features", None) is not None), None)
        self.output_width(self.in_features)  # layers that do not fit raise ShapeError now
        self.out_shape: tuple | None = None
        self.flatten(dtype or (self.dtype if self.parameters() else DEFAULT_DTYPE))

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def describe(self) -> str:
        return "the first layer"

    def output_width(self, width):
        for module in self.layers:
            width = module.output_width(width)
        return width

    def forward(self, x):
        for module in self.layers:
            x = module.forward(x)
        self.out_shape = x.shape
        return x

    def backward(self, grad_y):
        if self.out_shape is None:
            raise not_run_yet(self)
        # A grad_y of the wrong shape would broadcast silently through elementwise backwards.
        if np.shape(grad_y) != self.out_shape:
            raise ShapeError(f"grad_y has shape {np.shape(grad_y)} but the output of the last "
                             f"forward has shape {self.out_shape}")
        for module in reversed(self.layers):
            grad_y = module.backward(grad_y)
        return grad_y

    def grad_mode(self, accumulate: bool = True, needs_grad_x: bool = True) -> tuple[bool, bool]:
        """As :meth:`Module.grad_mode`; a layer needs grad_x only if a layer before it has
        parameters or the model's input gradient is wanted (tinygrad's requires_grad)."""
        previous = (self.accumulate, self.needs_grad_x)
        self.accumulate, self.needs_grad_x = accumulate, needs_grad_x
        needed = needs_grad_x
        for layer, has_params, plain in zip(self.layers, self.has_params, self.plain):
            if plain:
                layer.accumulate, layer.needs_grad_x = accumulate, needed
            else:
                layer.grad_mode(accumulate, needed)
            needed = needed or has_params
        return previous

    def config(self) -> dict:
        return {"type": "Sequential", "layers": [m.config() for m in self.layers]}

    @classmethod
    def from_config(cls, config: dict, dtype=DEFAULT_DTYPE) -> "Sequential":
        layers = config["layers"]
        if not isinstance(layers, list):
            raise ModelFileError(f"Sequential layers must be a list, got {type(layers).__name__}")
        return cls(*(build_module(c, dtype) for c in layers), dtype=dtype)


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
    if not isinstance(sizes, (list, tuple, np.ndarray)) or len(sizes) < 2:
        raise OptionError(f"invalid MLP sizes: {sizes!r:.80} (expected a list of at least two "
                          f"positive integer widths, e.g. [784, 128, 10])")
    sizes = [check_int(f"MLP sizes[{i}]", s, low=1) for i, s in enumerate(sizes)]
    dropout = check_option("MLP dropout", dropout, low=0.0, high=1.0, high_open=True)
    batchnorm = check_bool("MLP batchnorm", batchnorm)
    if layers_between is not None and not callable(layers_between):
        raise OptionError(f"invalid MLP layers_between: {layers_between!r:.80} (expected a "
                          f"function (width, rng) -> list of modules, or None)")
    if not isinstance(activation, str):  # one instance in every layer would share its state
        raise OptionError(f"invalid MLP activation: {activation!r:.80} (expected an activation "
                          f"name, e.g. 'relu')")
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
