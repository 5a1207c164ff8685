"""Backpropagation in 001's *scalar* formulation: explicit loops over layers, neurons and weights,
deliberately slow, written line for line as the notes' pseudo-code, and checked against handgrad's
vector form (``model.backward``) on the same network.

001, "BP: Scalar Formulation": the bias is weight w_0j^(k) of a constant input y_0^(k-1) = 1.

    Forward pass:  y_j^(0) = x_j;  y_0^(k) = 1
        for k = 1..N, for j = 1..D_k:
            z_j^(k) = sum_(i=0..D_(k-1)) w_ij^(k) y_i^(k-1)
            y_j^(k) = f_k(z_j^(k))

    Backward pass:
        output layer: for i = 1..D_N:
            dDiv/dy_i^(N) = dDiv(Y, d)/dy_i^(N)
            dDiv/dz_i^(N) = dDiv/dy_i^(N) f_N'(z_i^(N))          (scalar activation)
                      OR  sum_j dDiv/dy_j^(N) dy_j^(N)/dz_i^(N)  (vector activation: softmax)
        for k = N-1 downto 0, for i = 1..D_k:
            dDiv/dy_i^(k)       = sum_j w_ij^(k+1) dDiv/dz_j^(k+1)
            dDiv/dz_i^(k)       = dDiv/dy_i^(k) f_k'(z_i^(k))     (k >= 1)
            dDiv/dw_ij^(k+1)    = y_i^(k) dDiv/dz_j^(k+1)          for every j (and i = 0: bias)

    Training by BackProp: Err = sum_t Div(Y_t, d_t), dErr/dw_ij^(k) = sum_t dDiv_t/dw_ij^(k);
    the loss and its gradient are these divided by T.

Weights are nested Python lists ``w[k][i][j]`` (k = 1..N; ``w[0]`` unused), so every index is the
notes' index; handgrad stores W_k as (out, in) = (j, i) and b_k separately, and
:func:`weights_from_model` / :func:`gradient_as_theta` translate.
"""

from __future__ import annotations

import math

import numpy as np

from handgrad.nn import Linear
from handgrad.nn.activations import Activation

# f(z) and f'(z) of the scalar activations, one unit at a time.
SCALAR = {
    "identity": (lambda z: z, lambda z, y: 1.0),
    "sigmoid": (lambda z: 1.0 / (1.0 + math.exp(-z)), lambda z, y: y * (1.0 - y)),
    "tanh": (math.tanh, lambda z, y: 1.0 - y * y),
    "relu": (lambda z: max(z, 0.0), lambda z, y: 1.0 if z > 0 else 0.0),
}
VECTOR = ("softmax",)
LOSSES = ("half_mse", "mse", "bce", "kl")


def _div(loss: str, Y: list, d: list) -> float:
    """Div(Y, d) for one instance, as handgrad's ``loss`` reduces it (a mean over outputs for mse
    and bce, a sum for half_mse and kl)."""
    D = len(Y) - 1
    terms = range(1, D + 1)
    if loss == "half_mse":
        return sum(0.5 * (Y[i] - d[i]) ** 2 for i in terms)
    if loss == "mse":
        return sum((Y[i] - d[i]) ** 2 for i in terms) / D
    if loss == "bce":
        return -sum(d[i] * math.log(Y[i]) + (1 - d[i]) * math.log(1 - Y[i]) for i in terms) / D
    return sum(d[i] * math.log(d[i] / Y[i]) for i in terms if d[i] > 0)


def _dDiv_dy(loss: str, Y: list, d: list, i: int) -> float:
    """dDiv(Y, d)/dy_i^(N)."""
    D = len(Y) - 1
    if loss == "half_mse":
        return Y[i] - d[i]
    if loss == "mse":
        return 2.0 * (Y[i] - d[i]) / D
    if loss == "bce":
        return -(d[i] / Y[i] - (1 - d[i]) / (1 - Y[i])) / D
    return -d[i] / Y[i]


def forward(w: list, x: list, f: list) -> tuple[list, list]:
    """The notes' forward pass; returns y[k][j] and z[k][j] (index 0 of y[k] is the constant 1)."""
    N = len(w) - 1
    y = [[1.0] + list(x)]
    z = [[None] * len(y[0])]
    for k in range(1, N + 1):
        D_prev, D_k = len(w[k]) - 1, len(w[k][0]) - 1
        z.append([None] * (D_k + 1))
        y.append([1.0] + [0.0] * D_k)
        for j in range(1, D_k + 1):
            z[k][j] = sum(w[k][i][j] * y[k - 1][i] for i in range(0, D_prev + 1))
        if f[k] in VECTOR:                              # softmax: y_j = e^(z_j) / sum_l e^(z_l)
            top = max(z[k][1:])
            total = sum(math.exp(z[k][l] - top) for l in range(1, D_k + 1))
            for j in range(1, D_k + 1):
                y[k][j] = math.exp(z[k][j] - top) / total
        else:
            for j in range(1, D_k + 1):
                y[k][j] = SCALAR[f[k]][0](z[k][j])
    return y, z


def backward(w: list, y: list, z: list, f: list, loss: str, d: list) -> tuple[list, list, list]:
    """The notes' backward pass; returns dDiv/dw[k][i][j] for every weight (i = 0: the bias),
    and dDiv/dy[k][i], dDiv/dz[k][i]."""
    N = len(w) - 1
    D = [len(layer) - 1 for layer in y]
    dy = [[0.0] * (D[k] + 1) for k in range(N + 1)]
    dz = [[0.0] * (D[k] + 1) for k in range(N + 1)]
    dw = [None] + [[[0.0] * (D[k] + 1) for _ in range(D[k - 1] + 1)] for k in range(1, N + 1)]
    for i in range(1, D[N] + 1):                        # output layer
        dy[N][i] = _dDiv_dy(loss, y[N], [None] + list(d), i)
    for i in range(1, D[N] + 1):
        if f[N] in VECTOR:                              # dy_j/dz_i = y_j (delta_ij - y_i)
            dz[N][i] = sum(dy[N][j] * y[N][j] * ((1.0 if i == j else 0.0) - y[N][i])
                           for j in range(1, D[N] + 1))
        else:
            dz[N][i] = dy[N][i] * SCALAR[f[N]][1](z[N][i], y[N][i])
    for k in range(N - 1, -1, -1):
        for i in range(0, D[k] + 1):
            for j in range(1, D[k + 1] + 1):
                dw[k + 1][i][j] = y[k][i] * dz[k + 1][j]
            if i == 0:
                continue                                # y_0 = 1 is a constant: no dy, no dz
            dy[k][i] = sum(w[k + 1][i][j] * dz[k + 1][j] for j in range(1, D[k + 1] + 1))
            if k >= 1:
                dz[k][i] = dy[k][i] * SCALAR[f[k]][1](z[k][i], y[k][i])
    return dw, dy, dz


def train_gradient(w: list, f: list, loss: str, X, D) -> tuple[float, list]:
    """Training by BackProp, one pass: Err and dErr/dw summed over the T instances, divided by T."""
    T = len(X)
    N = len(w) - 1
    Err = 0.0
    dErr = [None] + [[[0.0] * len(w[k][i]) for i in range(len(w[k]))] for k in range(1, N + 1)]
    for t in range(T):
        y, z = forward(w, list(X[t]), f)
        Err += _div(loss, y[N], [None] + list(D[t]))
        dDiv = backward(w, y, z, f, loss, list(D[t]))[0]
        for k in range(1, N + 1):
            for i in range(len(w[k])):
                for j in range(1, len(w[k][i])):
                    dErr[k][i][j] += dDiv[k][i][j]
    for k in range(1, N + 1):
        for i in range(len(w[k])):
            for j in range(1, len(w[k][i])):
                dErr[k][i][j] /= T
    return Err / T, dErr


# --- translation to and from handgrad's models ---------------------------------------------------
def layers_of(model) -> tuple[list, list]:
    """The Linear layers and f[k] names (f[0] unused) of an MLP of Linear + activation modules."""
    linears, f = [], [None]
    for i, m in enumerate(model.layers):
        if isinstance(m, Linear):
            linears.append(m)
            nxt = model.layers[i + 1] if i + 1 < len(model.layers) else None
            name = nxt.name if isinstance(nxt, Activation) else "identity"
            if name not in SCALAR and name not in VECTOR:
                raise ValueError(f"scalar backprop supports the activations "
                                 f"{', '.join(list(SCALAR) + list(VECTOR))}, not {name!r}")
            f.append(name)
        elif not isinstance(m, Activation):
            raise ValueError(f"scalar backprop runs on Linear and activation layers only, not "
                             f"{type(m).__name__}")
    return linears, f


def weights_from_model(model) -> tuple[list, list]:
    """w[k][i][j] = W_k[j - 1, i - 1] (i >= 1) and b_k[j - 1] (i = 0), with the f[k] names."""
    linears, f = layers_of(model)
    w = [None]
    for layer in linears:
        W, b = layer.W.data, layer.b.data
        out, inp = W.shape
        w.append([[0.0] + [float(b[j - 1]) for j in range(1, out + 1)]] +
                 [[0.0] + [float(W[j - 1, i - 1]) for j in range(1, out + 1)]
                  for i in range(1, inp + 1)])
    return w, f


def gradient_as_arrays(dw: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """(grad_W_k stored (out, in), grad_b_k) per layer, from the scalar dw[k][i][j]."""
    arrays = []
    for k in range(1, len(dw)):
        table = np.array(dw[k])[:, 1:]            # rows i = 0..D_(k-1), columns j = 1..D_k
        arrays.append((table[1:].T.copy(), table[0].copy()))
    return arrays


def check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"scalar backprop supports the losses {', '.join(LOSSES)}, not {loss!r}")
