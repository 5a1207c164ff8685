"""Dropout: 002 VI's remedy for overfitting, in its inverted form.

Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov (2014), "Dropout: a simple way to prevent
neural networks from overfitting", JMLR 15. During training every unit is kept with probability
1 - p and dropped (set to 0) otherwise, so each mini-batch trains a different thinned network (002's
figure "neural network after dropout"). The paper scales the weights by 1 - p at test time; the
*inverted* form used here (and by PyTorch) scales the kept units by 1 / (1 - p) during training
instead, so E[y] = x and the layer is the identity in eval mode.
"""

from __future__ import annotations

import copy

import numpy as np

from handgrad.errors import OptionError, ShapeError
from handgrad.nn.module import Module
from handgrad.nn.registry import register_module
from handgrad.validate import check_option

DEFAULT_SEED = 0
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _seed_from(rng) -> int:
    """The integer seed of a dropout stream.

    An int is used as is; a Generator (normally the model's initialisation stream, as passed by
    :func:`handgrad.nn.MLP` to ``layers_between``) gives one draw, so the masks are deterministic
    given the model's seed and each dropout layer gets its own stream; ``None`` means
    ``DEFAULT_SEED``, so a lone ``Dropout(p)`` is deterministic too. Keeping the seed as an int is
    what lets ``config()`` rebuild the same stream.
    """
    if rng is None:
        return DEFAULT_SEED
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)) or rng < 0:
        raise OptionError(f"invalid Dropout rng: {rng!r:.80} (expected a non-negative int seed, a "
                          f"numpy Generator or None)")
    return int(rng)


@register_module("Dropout")
class Dropout(Module):
    """Inverted dropout with drop probability p (Srivastava et al. 2014; 002 VI).

    Training mode, for each entry of the batch independently:

        m    ~ Bernoulli(1 - p)                (m = 1: the unit is kept)
        y    = x * m / (1 - p)
        grad_x = grad_y * m / (1 - p)          (the SAME saved mask * scale as the forward)

    Eval mode: y = x and grad_x = grad_y. There are no parameters.

    The mask is drawn as ``u < 1 - p`` with ``u`` uniform on [0, 1) from this layer's own
    ``numpy.random.Generator`` (always in float64, so float32 and float64 models see the same
    masks). ``rng`` may be an int seed, a Generator (one integer is drawn from it to seed this
    layer's stream: deterministic given the model's seed) or None (seed ``DEFAULT_SEED`` = 0).

    Exact resume: ``get_rng_state()`` returns the stream's position as a JSON-serialisable dict (the
    bit generator's ``state``, a dict of ints) and ``set_rng_state(state)`` restores it, so a
    checkpoint that stores it replays the same masks after loading (the Trainer's checkpoints do,
    for every module with these two methods).
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = check_option("Dropout p", p, low=0.0, high=1.0, high_open=True)
        self.seed = _seed_from(rng)
        self.rng = np.random.default_rng(self.seed)
        self.mask_scale: np.ndarray | None = None  # m / (1 - p) of the last training forward

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self.mask_scale = None  # identity: nothing to remember
            return x
        keep = self.rng.random(x.shape) < 1.0 - self.p
        self.mask_scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self.mask_scale

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        if self.mask_scale is None:
            return grad_y
        if grad_y.shape != self.mask_scale.shape:
            raise ShapeError(f"Dropout backward got grad_y of shape {grad_y.shape}, but the "
                             f"forward produced {self.mask_scale.shape}")
        return grad_y * self.mask_scale

    # --- the random stream, for exact resume -------------------------------------------------
    def get_rng_state(self) -> dict:
        """The mask stream's position: ``{"bit_generator": "PCG64", "state": {...}, ...}``, all
        ints and strings, so ``json.dumps`` can store it in a checkpoint."""
        return copy.deepcopy(self.rng.bit_generator.state)

    def set_rng_state(self, state: dict) -> None:
        """Continue the mask stream from a state returned by :meth:`get_rng_state`."""
        if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
            raise ValueError(f"not a dropout rng state (expected a dict with 'bit_generator' one "
                             f"of {', '.join(_BIT_GENERATORS)}): {state!r:.120}")
        bit_generator = getattr(np.random, state["bit_generator"])()
        try:
            bit_generator.state = copy.deepcopy(state)
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"invalid dropout rng state: {err}") from None
        self.rng = np.random.Generator(bit_generator)

    # --- description ----------------------------------------------------------------------------
    def config(self) -> dict:
        return {"type": "Dropout", "p": self.p, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict, dtype=None) -> "Dropout":
        return cls(p=config["p"], rng=config.get("seed"))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def dropout_between(p: float):
    """A ``layers_between`` factory for :func:`handgrad.nn.MLP`: one Dropout(p) after each hidden
    Linear, seeded from the model's generator, e.g.
    ``MLP(sizes, layers_between=dropout_between(0.2))``.
    (The MLP places these before the activation; for ReLU that is the same function, since
    relu(m s z) = m s relu(z) for m s >= 0.)"""
    Dropout(p)  # validate p now, not when the model is built

    def layers(width: int, rng) -> list[Module]:
        return [Dropout(p, rng=rng)]
    return layers


def chain_between(*factories):
    """Several ``layers_between`` factories in order, e.g. batch norm then dropout:
    ``chain_between(batchnorm_between, dropout_between(0.2))``."""
    def layers(width: int, rng) -> list[Module]:
        return [m for factory in factories for m in factory(width, rng)]
    return layers


__all__ = ["Dropout", "chain_between", "dropout_between"]
