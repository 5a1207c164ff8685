"""Exact Hessian-vector products by Pearlmutter's R-operator (Pearlmutter 1994, "Fast exact
multiplication by the Hessian").

R{q} = d/dr q(theta + r v) at r = 0 is the directional derivative of any quantity q of the forward
or backward pass along v. Applying it to every line of backprop (001, "The Backward Pass") gives H v
exactly, for the cost of about two more passes, with no step size to choose:

    forward     z_k = W_k y_(k-1) + b_k          R{z_k} = V_k y_(k-1) + W_k R{y_(k-1)} + v_k
                y_k = f_k(z_k)                   R{y_k} = f_k'(z_k) R{z_k}
    loss        g_N = grad_y_N Div               R{g_N} = (d^2 Div / dy^2) R{y_N}
    backward    g_z = f'(z) g_y                  R{g_z} = f''(z) R{z} g_y + f'(z) R{g_y}
                grad_W = g_z^T y_(k-1)           R{grad_W} = R{g_z}^T y_(k-1) + g_z^T R{y_(k-1)}
                grad_b = sum g_z                 R{grad_b} = sum R{g_z}
                g_y(k-1) = g_z W                 R{g_y(k-1)} = R{g_z} W + g_z V_k

(V_k, v_k: the parts of v that belong to W_k, b_k; R{y_0} = 0.) H v is the vector of the
R{grad_W_k}, R{grad_b_k} in theta's order. Supported: Sequential networks of Linear layers and the
activations identity, tanh, sigmoid, relu (f'' = 0 almost everywhere), with the losses mse,
half_mse, bce_logits and cross_entropy, and an L2 penalty (``handgrad.train.regularization.Penalty``
with l1 = 0) in the closure.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax

from handgrad.nn.activations import Activation
from handgrad.nn.linear import Linear

# f'(z) and f''(z) from y = f(z) (and z where needed).
_DERIVATIVES = {
    "identity": lambda z, y: (np.ones_like(z), np.zeros_like(z)),
    "tanh": lambda z, y: (1.0 - y * y, -2.0 * y * (1.0 - y * y)),
    "sigmoid": lambda z, y: (y * (1.0 - y), y * (1.0 - y) * (1.0 - 2.0 * y)),
    "relu": lambda z, y: ((z > 0).astype(z.dtype), np.zeros_like(z)),
}
SUPPORTED_LOSSES = ("mse", "half_mse", "bce_logits", "cross_entropy")


def _layers(model):
    """[(Linear, activation name)] for a Sequential of Linear and supported activations."""
    pairs = []
    for module in model.layers:
        if isinstance(module, Linear):
            pairs.append([module, "identity"])
        elif isinstance(module, Activation) and module.name in _DERIVATIVES and pairs \
                and pairs[-1][1] == "identity":
            pairs[-1][1] = module.name
        else:
            raise ValueError(f"the R-operator supports Linear layers followed by one of "
                             f"{', '.join(sorted(_DERIVATIVES))}; got {module!r}")
    return pairs


def _loss_curvature(loss, y, d, Ry):
    """(grad_y Div, R{grad_y Div}) for the supported losses."""
    name = loss.name
    if name not in SUPPORTED_LOSSES:
        raise ValueError(f"the R-operator supports the losses {', '.join(SUPPORTED_LOSSES)}; "
                         f"got {name!r}")
    if name == "cross_entropy":
        rows = loss.targets_as_rows(y, d)
        batch = y.shape[0] if loss.reduction == "mean" else 1
        p = softmax(y, axis=1)
        mass = rows.sum(axis=1, keepdims=True)
        Rp = p * (Ry - np.sum(p * Ry, axis=1, keepdims=True))   # the softmax JVP
        return (p * mass - rows) / batch, Rp * mass / batch
    d = np.asarray(d, dtype=y.dtype).reshape(y.shape)
    if name == "bce_logits":
        scale = 1.0 / y.size if loss.reduction == "mean" else 1.0
        s = expit(y)
        return scale * (s - d), scale * s * (1.0 - s) * Ry
    if name == "mse":
        scale = 2.0 / y.size if loss.reduction == "mean" else 2.0
    else:  # half_mse: 1/2 ||y - d||^2 per sample, mean over samples
        scale = 1.0 / y.shape[0] if loss.reduction == "mean" else 1.0
    return scale * (y - d), scale * Ry


def exact_hessian_vector_product(closure, v: np.ndarray) -> np.ndarray:
    """H v of the closure's loss (plus its L2 penalty) at the model's current theta, exactly."""
    model, loss = closure.model, closure.loss
    x = np.asarray(closure.x, dtype=model.theta.dtype)
    v = np.asarray(v, dtype=np.float64)
    if v.shape != model.theta.shape:
        raise ValueError(f"v has shape {v.shape} but theta has shape {model.theta.shape}")
    pairs = _layers(model)

    # Split v like theta: each Linear's W then b, in order.
    parts, offset = [], 0
    for linear, _ in pairs:
        V = v[offset:offset + linear.W.size].reshape(linear.W.shape)
        offset += linear.W.size
        vb = np.zeros(linear.out_features)
        if linear.b is not None:
            vb = v[offset:offset + linear.b.size]
            offset += linear.b.size
        parts.append((V, vb))

    # Forward pass and its R-forward.
    ys, Rys, zs, Rzs = [x], [np.zeros_like(x)], [], []
    for (linear, act), (V, vb) in zip(pairs, parts):
        W = linear.W.data
        b = linear.b.data if linear.b is not None else 0.0
        z = ys[-1] @ W.T + b
        Rz = ys[-1] @ V.T + Rys[-1] @ W.T + vb
        y = {"identity": z, "tanh": np.tanh(z), "sigmoid": expit(z),
             "relu": np.maximum(z, 0.0)}[act]
        f1, _ = _DERIVATIVES[act](z, y)
        zs.append(z)
        Rzs.append(Rz)
        ys.append(y)
        Rys.append(f1 * Rz)

    # Loss, then the backward pass and its R-backward, last layer first.
    g_y, Rg_y = _loss_curvature(loss, ys[-1], closure.d, Rys[-1])
    out = []
    for k in range(len(pairs) - 1, -1, -1):
        (linear, act), (V, _) = pairs[k], parts[k]
        f1, f2 = _DERIVATIVES[act](zs[k], ys[k + 1])
        g_z = f1 * g_y
        Rg_z = f2 * Rzs[k] * g_y + f1 * Rg_y
        RW = Rg_z.T @ ys[k] + g_z.T @ Rys[k]
        block = [RW.ravel()]
        if linear.b is not None:
            block.append(Rg_z.sum(axis=0))
        out.append(np.concatenate(block))
        g_y, Rg_y = g_z @ linear.W.data, Rg_z @ linear.W.data + g_z @ V
    Hv = np.concatenate(out[::-1])
    return Hv + _penalty_curvature(closure, v)


def _penalty_curvature(closure, v):
    """The L2 penalty l2/2 ||M W||^2 adds l2 M v; other penalties are refused."""
    penalty = getattr(closure, "penalty", None)
    if penalty is None:
        return 0.0
    l2, l1, mask = getattr(penalty, "l2", None), getattr(penalty, "l1", 0.0), \
        getattr(penalty, "mask", None)
    if l2 is None or mask is None or l1:
        raise ValueError("the R-operator supports an L2 Penalty only (l1 = 0)")
    return l2 * mask * v
