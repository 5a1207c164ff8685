"""Activations y = f(z) and their backward passes.

Scalar activations act elementwise, so their Jacobian J_y(z) is diagonal (001, "Jacobians can
describe the derivatives of neural activations") and grad_z Div = grad_y Div * f'(z), elementwise.
Each keeps what its derivative needs: the output where f' is a function of y (sigmoid, tanh),
otherwise the input.

Vector activations (softmax, log-softmax, maxout) have full Jacobians; their backward is the
Jacobian-vector product grad_y J_y(z), computed without building the B x C x C Jacobian.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
from scipy.special import erf, expit, softmax as _softmax

from handgrad.errors import OptionError, ShapeError, unknown_option
from handgrad.nn import kernels
from handgrad.nn.module import Module
from handgrad.nn.registry import register_module
from handgrad.validate import check_int, check_option


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax(z)_i = z_i - log sum_j e^{z_j} over each row, by log-sum-exp: shifted by the
    row's maximum m first, (z_i - m) - log sum_j e^{z_j - m}, so that exp never overflows."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@register_module("Activation")
class Activation(Module):
    name = ""

    def config(self) -> dict:
        return {"type": "Activation", "name": self.name}

    @classmethod
    def from_config(cls, config: dict, dtype=None) -> "Activation":
        options = dict(config)
        return get_activation(options.pop("name"), **options)

    def __getattr__(self, name):
        # Reached only for a missing attribute: what forward saves, read by a backward that came
        # first. Also an AttributeError, so hasattr() keeps working.
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotRunYet(f"{type(self).__name__}.backward called before forward (nothing saved as "
                        f"{name!r}): run the forward pass (model(x)) first, then backward")


class NotRunYet(RuntimeError, AttributeError):
    """A backward called before the forward that saves what it needs."""

    def extra_repr(self) -> str:
        return ""


class Identity(Activation):
    """y = z, f'(z) = 1: the output activation for regression (004)."""

    name = "identity"

    def forward(self, z):
        return z

    def backward(self, grad_y):
        return grad_y


class Sign(Activation):
    """y = sign(z). Its derivative is 0 wherever it exists (and undefined at 0), so no gradient
    flows through it: the reason 002 gives for replacing the perceptron's threshold by smooth units."""

    name = "sign"

    def forward(self, z):
        return np.sign(z)

    def backward(self, grad_y):
        return np.zeros_like(grad_y)


class Sigmoid(Activation):
    """y = 1 / (1 + e^-z), f'(z) = y (1 - y). Evaluated without overflow for large |z|."""

    name = "sigmoid"

    def forward(self, z):
        self.y = expit(z)
        return self.y

    def backward(self, grad_y):
        y = self.y
        return grad_y * y * (1.0 - y)


class Tanh(Activation):
    """y = tanh(z), f'(z) = 1 - y^2."""

    name = "tanh"

    def forward(self, z):
        self.y = np.tanh(z)
        return self.y

    def backward(self, grad_y):
        return grad_y * (1.0 - self.y * self.y)


class ReLU(Activation):
    """y = max(0, z), f'(z) = 1 for z > 0 and 0 otherwise (the subgradient 0 is taken at z = 0), so

        grad_z = grad_y * (z > 0)

    A NaN z stays NaN, as in torch.relu. ``handgrad.nn.kernels`` runs both passes as single loops
    and keeps the mask z > 0 from the forward; its backward selects rather than multiplies, so a
    NaN gradient at a unit that was off gives 0, as torch's does."""

    name = "relu"

    def forward(self, z):
        """y = max(0, z)."""
        if kernels.FAST:  # one compiled pass, which also keeps the mask z > 0 for the backward
            y, self.on = kernels.relu_forward(z=z)
            return y
        self.z = z
        return np.maximum(0, z)

    def backward(self, grad_y):
        """grad_z = grad_y * (z > 0)."""
        if kernels.FAST:
            return kernels.relu_backward(grad_y=grad_y, on=self.on)
        return grad_y * (self.z > 0)


class LeakyReLU(Activation):
    """y = z for z > 0, alpha z otherwise; f'(z) = 1 or alpha."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = check_option(f"{self.name} alpha", alpha)

    def forward(self, z):
        self.slope = np.where(z > 0, 1.0, self.alpha).astype(z.dtype)
        return z * self.slope

    def backward(self, grad_y):
        return grad_y * self.slope

    def config(self):
        return {**super().config(), "alpha": self.alpha}


class HardTanh(Activation):
    """y = clip(z, -1, 1) = max(min(z, 1), -1) (002); f'(z) = 1 on the open interval (-1, 1), 0
    outside it and AT z = +-1.

    002 gives f'(z) = 1 on the closed interval [-1, 1]. At +-1 the function has a kink (slope 1
    on one side, 0 on the other), so any value in [0, 1] is a subgradient; handgrad takes 0, as
    PyTorch's hardtanh does, so that a unit sitting exactly on its bound counts as saturated and
    the gradients equal torch's. It changes a gradient only where z is exactly +-1.
    """

    name = "hard_tanh"

    def forward(self, z):
        self.inside = (z > -1.0) & (z < 1.0)
        return np.clip(z, -1.0, 1.0)

    def backward(self, grad_y):
        return grad_y * self.inside


class Softplus(Activation):
    """y = log(1 + e^z), f'(z) = sigmoid(z). Computed as logaddexp(0, z) to avoid overflow."""

    name = "softplus"

    def forward(self, z):
        self.z = z
        return np.logaddexp(0.0, z)

    def backward(self, grad_y):
        return grad_y * expit(self.z)


class ELU(Activation):
    """y = z for z > 0, alpha (e^z - 1) otherwise; f'(z) = 1 or y + alpha."""

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_option(f"{self.name} alpha", alpha)

    def forward(self, z):
        self.positive = z > 0
        self.y = np.where(self.positive, z, self.alpha * np.expm1(np.minimum(z, 0.0)))
        return self.y

    def backward(self, grad_y):
        return grad_y * np.where(self.positive, 1.0, self.y + self.alpha)

    def config(self):
        return {**super().config(), "alpha": self.alpha}


class GELU(Activation):
    """y = z Phi(z) with Phi the standard normal CDF (Hendrycks & Gimpel 2016), exact (erf) form;
    f'(z) = Phi(z) + z phi(z)."""

    name = "gelu"

    def forward(self, z):
        self.z = z
        # Python-float constants: a NumPy float64 scalar would promote float32 z to float64.
        self.Phi = 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
        return z * self.Phi

    def backward(self, grad_y):
        z = self.z
        phi = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return grad_y * (self.Phi + z * phi)


class Softmax(Activation):
    """y_i = e^{z_i} / sum_j e^{z_j} over each row: a vector activation.

    Its Jacobian is J_y(z) = diag(y) - y y^T (004), so the backward is the product

        grad_z = grad_y J_y(z) = y * (grad_y - <grad_y, y>)

    one row at a time, never materialising the C x C matrices.
    """

    name = "softmax"

    def forward(self, z):
        self.y = _softmax(z, axis=1)
        return self.y

    def backward(self, grad_y):
        y = self.y
        return y * (grad_y - np.sum(grad_y * y, axis=1, keepdims=True))

    def jacobian(self) -> np.ndarray:
        """The explicit B x C x C Jacobians diag(y) - y y^T, for teaching and tests only."""
        y = self.y
        return np.einsum("bi,ij->bij", y, np.eye(y.shape[1])) - np.einsum("bi,bj->bij", y, y)


class LogSoftmax(Activation):
    """y_i = z_i - log sum_j e^{z_j}; J_y(z) = I - 1 softmax(z)^T, so

        grad_z = grad_y - softmax(z) * sum_i grad_y_i
    """

    name = "log_softmax"

    def forward(self, z):
        y = log_softmax(z)
        self.p = np.exp(y)
        return y

    def backward(self, grad_y):
        return grad_y - self.p * np.sum(grad_y, axis=1, keepdims=True)


class Maxout(Activation):
    """y_j = max_{i in group j} z_i over ``pool`` consecutive units (Goodfellow et al. 2013).

    The notes' subgradient of max (001, "Vector activations: the max"): the derivative is 1 for the
    unit that attains the maximum and 0 for the others, so grad_z routes grad_y to the argmax.
    Ties go to the first maximal unit, as in PyTorch's ``max``.
    """

    name = "maxout"

    def __init__(self, pool: int = 2):
        super().__init__()
        self.pool = check_int("Maxout pool", pool, low=1)

    def output_width(self, width):
        if width is not None and width % self.pool:
            raise ShapeError(f"Maxout with pool {self.pool} needs a width divisible by it, "
                             f"got {width}")
        return None if width is None else width // self.pool

    def forward(self, z):
        batch, width = z.shape
        if width % self.pool:
            raise ShapeError(f"Maxout with pool {self.pool} needs a width divisible by it, got {width}")
        groups = z.reshape(batch, width // self.pool, self.pool)
        self.argmax = groups.argmax(axis=2)
        self.in_shape = z.shape
        return np.take_along_axis(groups, self.argmax[..., None], axis=2)[..., 0]

    def backward(self, grad_y):
        batch, width = self.in_shape
        grad_z = np.zeros((batch, width // self.pool, self.pool), dtype=grad_y.dtype)
        np.put_along_axis(grad_z, self.argmax[..., None], grad_y[..., None], axis=2)
        return grad_z.reshape(batch, width)

    def config(self):
        return {**super().config(), "pool": self.pool}


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Identity, Sign, Sigmoid, Tanh, ReLU, LeakyReLU, HardTanh, Softplus,
                              ELU, GELU, Softmax, LogSoftmax, Maxout)
}
ACTIVATIONS["linear"] = Identity


def get_activation(name: str, **options) -> Activation:
    """An activation by its name in the notes (``relu``, ``sigmoid``, ``softmax``, ...)."""
    if isinstance(name, Activation):
        return name
    key = str(name).lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise unknown_option("activation", name, ACTIVATIONS)
    cls = ACTIVATIONS[key]
    try:
        inspect.signature(cls).bind(**options)
    except TypeError:
        # e.g. alpha= given to relu: name the activation, not Module.__init__
        raise OptionError(f"activation {key!r} does not take the option(s) {sorted(options)}; "
                          f"it takes {list(inspect.signature(cls).parameters) or 'none'}") from None
    return cls(**options)
