"""Small training loops the network experiments share: one epoch of mini-batch steps, the full loss,
and the weight matrices of a network in order.

They use only the public pieces (``model.forward``/``backward``, an optimizer's ``step(closure)``,
:class:`BatchClosure`), so an experiment reads as the notes' loop: for each batch, compute the
gradient, take the step.
"""

from __future__ import annotations

import numpy as np

from handgrad.nn import Linear
from handgrad.train.closure import BatchClosure


def linear_layers(model) -> list[Linear]:
    """The network's Linear layers W_1, ..., W_N, input side first."""
    return [m for m in model.modules() if isinstance(m, Linear)]


def full_loss(model, loss, x, d) -> float:
    """Div over the whole set, no gradient (dropout and batch norm in evaluation mode)."""
    model.eval()
    value = BatchClosure(model, loss, x, d, rewind=False)(backward=False)
    model.train()
    return value


def epoch(model, loss, opt, x, d, batch_size: int, rng: np.random.Generator) -> None:
    """One pass over (x, d) in a random order, one optimizer step per mini-batch."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        opt.step(BatchClosure(model, loss, x[idx], d[idx], rewind=False))


def layer_gradient_norms(model, loss, x, d) -> np.ndarray:
    """||grad_W_k Div||_F for every Linear layer k, on the batch (x, d), at the current weights."""
    BatchClosure(model, loss, x, d, rewind=False)()
    return np.array([np.linalg.norm(layer.W.grad) for layer in linear_layers(model)])
