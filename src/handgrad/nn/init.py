"""Weight initialisations, each drawing from a seedable ``numpy.random.Generator``.

fan_in and fan_out are those of a weight matrix stored (out, in), as in ``z = W y + b``.

- Xavier/Glorot (Glorot & Bengio 2010): Var(W) = 2 / (fan_in + fan_out); for sigmoid and tanh.
- He/Kaiming (He et al. 2015):          Var(W) = 2 / fan_in; for ReLU and its relatives.
- LeCun (LeCun et al. 1998):            Var(W) = 1 / fan_in; for SELU-like and linear units.
- uniform: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for ``nn.Linear``.
"""

from __future__ import annotations

import numpy as np

from handgrad.errors import unknown_option


def _uniform_limit(variance: float) -> float:
    # U(-a, a) has variance a^2 / 3.
    return float(np.sqrt(3.0 * variance))


def xavier_uniform(shape, rng):
    fan_out, fan_in = shape
    a = _uniform_limit(2.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape)


def xavier_normal(shape, rng):
    fan_out, fan_in = shape
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def he_uniform(shape, rng):
    return rng.uniform(-1, 1, size=shape) * _uniform_limit(2.0 / shape[1])


def he_normal(shape, rng):
    return rng.normal(0.0, np.sqrt(2.0 / shape[1]), size=shape)


def lecun_uniform(shape, rng):
    return rng.uniform(-1, 1, size=shape) * _uniform_limit(1.0 / shape[1])


def lecun_normal(shape, rng):
    return rng.normal(0.0, np.sqrt(1.0 / shape[1]), size=shape)


def uniform(shape, rng):
    a = 1.0 / np.sqrt(shape[-1])
    return rng.uniform(-a, a, size=shape)


def zeros(shape, rng=None):
    return np.zeros(shape)


INITIALIZERS = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "uniform": uniform,
    "zeros": zeros,
}


def get_initializer(name: str):
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise unknown_option("initialization", name, INITIALIZERS)
    return INITIALIZERS[name]


def default_init_for(activation: str) -> str:
    """He for the ReLU family, Xavier otherwise (the usual pairing)."""
    relu_like = {"relu", "leaky_relu", "elu", "gelu", "softplus", "maxout"}
    return "he_uniform" if activation in relu_like else "xavier_uniform"


def as_generator(seed) -> np.random.Generator:
    """A Generator from a seed, a Generator (used as is) or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
