"""Curvature of a loss w.r.t. the flat parameter vector theta, from backprop: Hessian-vector
products, the Hessian, its extreme eigenvalues. Newton's method (optim.second_order) takes its
Hessian from here, and the lab's analyses (handgrad.lab.hessian, handgrad.lab.rop re-export these
names) use the same tools.

001 ("Issues: 1. The Hessian"): Newton's rule w <- w - eta H_E(w)^-1 grad_w E^T needs H_E, which
has P^2 entries for P parameters, and the analysis of gradient descent on a quadratic says the
largest stable constant learning rate is 2 eta_opt = 2 / lambda_max(H). These tools make H (or its
extreme eigenvalues) available for any model whose gradient backprop computes:

- ``hessian_vector_product``: H v as the directional derivative of the backprop gradient,
  (g(theta + h v) - g(theta - h v)) / 2h, or the fourth-order stencil
  (-g(theta + 2hv) + 8 g(theta + hv) - 8 g(theta - hv) + g(theta - 2hv)) / 12h. Each costs 2 or 4
  forward/backward passes, never the P x P matrix.
- ``exact_hessian_vector_product``: H v exactly by Pearlmutter's R-operator (below), no step size.
- ``hessian``: the full matrix, column j = H e_j, then symmetrised (H + H^T) / 2; ``method="fd"``
  (finite differences) or ``"exact"`` (the R-operator).
- ``hessian_from_loss_values``: the plain finite-difference Hessian of the loss value alone,
  [E(+i,+j) - E(+i,-j) - E(-i,+j) + E(-i,-j)] / 4h^2, O(P^2) loss evaluations: the independent
  check.
- ``extreme_eigenvalues``: lambda_min and lambda_max by Lanczos (``scipy.sparse.linalg.eigsh``)
  on a LinearOperator of Hessian-vector products, for models too large for the full matrix.

All of them work through a closure (``handgrad.train.closure.BatchClosure``): ``closure()`` sets
``model.grad`` to grad_theta Div and returns Div. ``model.theta`` and ``model.grad`` are restored
afterwards. The analyses want float64 parameters and refuse others; Newton, which accepts the
coarser float32 differences, passes ``float64_only=False``.

The R-operator (Pearlmutter 1994, "Fast exact multiplication by the Hessian"):
Exact Hessian-vector products by Pearlmutter's R-operator (Pearlmutter 1994, "Fast exact
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
half_mse, bce_logits and cross_entropy, and an L2 penalty (``handgrad.optim.Penalty`` with
l1 = 0) in the closure.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from scipy.special import expit, softmax
from handgrad.nn.activations import Activation
from handgrad.nn.linear import Linear

# Stencils for the first derivative of the gradient along a direction: (offsets, weights, divisor).
_STENCILS = {2: ((1.0, -1.0), (1.0, -1.0), 2.0),
             4: ((2.0, 1.0, -1.0, -2.0), (-1.0, 8.0, -8.0, 1.0), 12.0)}


def _check_closure(closure, float64_only: bool = True) -> None:
    model = closure.model
    if model.theta is None:
        raise ValueError("the model has no flat parameter vector; call model.flatten() first")
    if float64_only and model.theta.dtype != np.float64:
        raise ValueError(f"Hessians by finite differences need float64 parameters, got "
                         f"{model.theta.dtype}; call model.to(numpy.float64)")


@contextmanager
def restored_theta(model):
    """Evaluate the model at other parameters inside the block; theta and its gradient come back
    afterwards (so ``model.grad`` still belongs to ``model.theta``)."""
    saved, saved_grad = model.theta.copy(), model.grad.copy()
    try:
        yield model.theta
    finally:
        model.theta[:] = saved
        model.grad[:] = saved_grad


def loss_and_gradient(closure, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """(Div, grad_theta Div) at ``theta``, leaving the model's parameters as they were."""
    _check_closure(closure)
    model = closure.model
    with restored_theta(model) as current:
        current[:] = theta
        value = closure()
        return value, model.grad.copy()


def _gradient_at(closure, theta: np.ndarray) -> np.ndarray:
    closure.model.theta[:] = theta
    closure()
    return closure.model.grad.copy()


def hessian_vector_product(closure, v: np.ndarray, h: float = 1e-4, order: int = 4,
                           theta: np.ndarray | None = None, float64_only: bool = True
                           ) -> np.ndarray:
    """H v by central differences of backprop gradients along v (see the module docstring).

    The step is h along the unit vector v / ||v||, and the result is scaled back by ||v||, so the
    truncation and rounding errors do not depend on the length of v.
    """
    _check_closure(closure, float64_only)
    if order not in _STENCILS:
        raise ValueError(f"invalid order={order!r}: expected 2 or 4")
    model = closure.model
    v = np.asarray(v, dtype=np.float64)
    if v.shape != model.theta.shape:
        raise ValueError(f"v has shape {v.shape} but theta has shape {model.theta.shape}")
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return np.zeros_like(v)
    offsets, weights, divisor = _STENCILS[order]
    with restored_theta(model) as current:
        base = current.copy() if theta is None else np.asarray(theta, np.float64)
        u = v / norm
        acc = np.zeros_like(v)
        for offset, weight in zip(offsets, weights):
            acc += weight * _gradient_at(closure, base + offset * h * u)
    return acc * (norm / (divisor * h))


def _hvp_function(closure, method: str, h: float, order: int, theta, float64_only=True):
    """v -> H v by finite differences of backprop gradients ("fd") or the R-operator ("exact")."""
    if method == "fd":
        return lambda v: hessian_vector_product(closure, v, h=h, order=order, theta=theta,
                                                float64_only=float64_only)
    if method == "exact":
        def exact(v):
            with restored_theta(closure.model) as current:
                if theta is not None:
                    current[:] = theta
                return exact_hessian_vector_product(closure, v)
        return exact
    raise ValueError(f"invalid method={method!r}: expected 'fd' or 'exact'")


def hessian(closure, h: float = 1e-4, order: int = 4, theta: np.ndarray | None = None,
            method: str = "fd", float64_only: bool = True) -> np.ndarray:
    """The P x P Hessian, column j = H e_j, symmetrised. ``method``: "fd" (finite differences of
    backprop gradients, :func:`hessian_vector_product`) or "exact" (the R-operator,
    the R-operator below)."""
    _check_closure(closure, float64_only)
    P = closure.model.theta.size
    hvp = _hvp_function(closure, method, h, order, theta, float64_only)
    H = np.empty((P, P))
    e = np.zeros(P)
    for j in range(P):
        e[j] = 1.0
        H[:, j] = hvp(e)
        e[j] = 0.0
    return 0.5 * (H + H.T)


def hessian_from_loss_values(closure, h: float = 2e-4, theta: np.ndarray | None = None
                             ) -> np.ndarray:
    """The Hessian from loss values only, no backprop: for i, j

        H_ij = [E(theta + h e_i + h e_j) - E(theta + h e_i - h e_j)
                - E(theta - h e_i + h e_j) + E(theta - h e_i - h e_j)] / 4h^2

    (for i = j this is the second difference with step 2h). O(P^2) evaluations: small models only.
    """
    _check_closure(closure)
    model = closure.model
    P = model.theta.size
    H = np.empty((P, P))
    with restored_theta(model) as current:
        base = current.copy() if theta is None else np.asarray(theta, np.float64).copy()

        def E(i, si, j, sj):
            current[:] = base
            current[i] += si * h
            current[j] += sj * h
            return closure(backward=False)

        for i in range(P):
            for j in range(i, P):
                H[i, j] = H[j, i] = (E(i, 1, j, 1) - E(i, 1, j, -1) - E(i, -1, j, 1)
                                     + E(i, -1, j, -1)) / (4.0 * h * h)
    return H


@dataclass
class ExtremeEigen:
    """lambda_min and lambda_max of H with their eigenvectors, and how many H v products it took.

    ``lambda_min`` is NaN when it was not asked for or Lanczos did not converge to it (the bottom of
    a network's spectrum is often a cluster of near-zero eigenvalues, which converges slowly).
    """

    lambda_min: float
    lambda_max: float
    v_min: np.ndarray | None
    v_max: np.ndarray
    products: int

    @property
    def condition_number(self) -> float:
        """lambda_max / |lambda_min| (infinite when lambda_min is 0)."""
        return float(self.lambda_max / abs(self.lambda_min)) if self.lambda_min else np.inf


def extreme_eigenvalues(closure, h: float = 1e-4, order: int = 2, tol: float = 1e-8,
                        theta: np.ndarray | None = None, seed: int = 0, smallest: bool = True,
                        max_products: int | None = None, method: str = "fd") -> ExtremeEigen:
    """The ends of H's spectrum by Lanczos on Hessian-vector products (never forming H).

    ``eigsh(which='LA')`` finds lambda_max (well separated at a minimum, so quick), then
    ``which='SA'`` lambda_min if ``smallest``. The start vector is seeded, so the result is
    deterministic. ``method`` chooses the products as in :func:`hessian`.
    """
    _check_closure(closure)
    P = closure.model.theta.size
    if P < 3:
        values, vectors = np.linalg.eigh(hessian(closure, h=h, order=4, theta=theta,
                                                 method=method))
        return ExtremeEigen(values[0], values[-1], vectors[:, 0], vectors[:, -1], P)
    count = [0]
    hvp = _hvp_function(closure, method, h, order, theta)

    def matvec(v):
        count[0] += 1
        return hvp(np.ravel(v))

    operator = LinearOperator((P, P), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(P)
    maxiter = max_products or max(20 * P, 1000)
    values, vectors = eigsh(operator, k=1, which="LA", tol=tol, v0=v0, maxiter=maxiter)
    lam_max, v_max = float(values[0]), vectors[:, 0]
    lam_min, v_min = np.nan, None
    if smallest:
        try:
            values, vectors = eigsh(operator, k=1, which="SA", tol=tol, v0=v0, maxiter=maxiter)
            lam_min, v_min = float(values[0]), vectors[:, 0]
        except ArpackNoConvergence as err:
            if len(err.eigenvalues):
                lam_min, v_min = float(err.eigenvalues[0]), err.eigenvectors[:, 0]
    return ExtremeEigen(lam_min, lam_max, v_min, v_max, count[0])


def train_to_minimum(closure, max_iter: int = 2000, gtol: float = 1e-10) -> dict:
    """Drive the loss to a (local) minimum with scipy's L-BFGS on backprop gradients.

    The Hessian analysis of 001 describes the loss near a minimum, where its quadratic model holds;
    a quasi-Newton solver gets there to gradient norms of ~1e-9 in a few hundred evaluations.
    Returns scipy's summary (loss, gradient norm, iterations); the model keeps the minimiser.
    """
    _check_closure(closure)
    model = closure.model

    def fun(theta):
        model.theta[:] = theta
        value = closure()
        return value, model.grad.copy()

    result = minimize(fun, model.theta.copy(), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": gtol, "ftol": 1e-15,
                               "maxcor": 30})
    model.theta[:] = result.x
    closure()
    return {"loss": float(result.fun), "grad_norm": float(np.linalg.norm(model.grad)),
            "iterations": int(result.nit), "evaluations": int(result.nfev)}


# --- the R-operator: exact Hessian-vector products ------------------------------------------------
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
    if l2 is None or l1:
        raise ValueError("the R-operator supports an L2 Penalty only (l1 = 0)")
    return l2 * v if mask is None else l2 * mask * v


# --- least squares: the residuals' Jacobian, for Gauss-Newton and Levenberg-Marquardt -------------
SQUARED_ERROR_LOSSES = ("mse", "half_mse")


class LeastSquares:
    """A loss of the form E = k sum_n ||y_n - d_n||^2 seen as residuals r = vec(Y - D): the
    Jacobian J = dr/dW and the scale k, all Levenberg-Marquardt needs (H_GN = 2k J^T J).

    ``LeastSquares.of(closure)`` makes one from any closure: the ``least_squares()`` of the closure
    or of its model when either offers one (a problem that knows its residuals, as the test
    functions of ``handgrad.testfunctions``; any object with ``scale()`` and ``jacobian()``), else
    the network form from its ``model``, ``loss``, ``x`` and ``d`` (squared-error losses only).
    ``jacobian()`` backpropagates each output of each sample as a unit vector, one sample at a
    time, so the model must treat samples independently (no batch statistics in training mode).
    """

    def __init__(self, model, loss, x, d):
        name = getattr(loss, "name", None)
        if name not in SQUARED_ERROR_LOSSES:
            raise ValueError(f"optimizer 'lm' (Levenberg-Marquardt) needs a squared-error loss "
                             f"({', '.join(SQUARED_ERROR_LOSSES)}), got {name!r}")
        self.model, self.loss, self.x, self.d = model, loss, np.asarray(x), d

    @classmethod
    def of(cls, closure) -> "LeastSquares":
        own = getattr(closure, "least_squares", None) or getattr(
            getattr(closure, "model", None), "least_squares", None)
        if own is not None:
            return own()
        return cls(closure.model, getattr(closure, "loss", None), closure.x, closure.d)

    def scale(self) -> float:
        """k with E = k sum r^2: mse has k = 1/(N C), the notes' half_mse (1/2 ||y - d||^2 per
        sample) k = 1/(2N); a sum reduction drops the 1/N."""
        y = self.model.forward(self.x)
        per_sample = self.loss.name == "half_mse"
        count = y.shape[0] if per_sample else y.size
        k = 1.0 / count if self.loss.reduction == "mean" else 1.0
        return 0.5 * k if per_sample else k

    def jacobian(self) -> np.ndarray:
        """J[n C + c, :] = d y_(n,c) / dW (= dr/dW), by backprop of unit vectors."""
        model, x = self.model, self.x
        n_out = model.forward(x[:1]).shape[1]
        eye = np.eye(n_out, dtype=model.theta.dtype)
        J = np.empty((x.shape[0] * n_out, model.theta.size))
        for i in range(x.shape[0]):
            model.forward(x[i:i + 1])
            for c in range(n_out):
                model.zero_grad()
                model.backward(eye[c:c + 1])
                J[i * n_out + c] = model.grad
        return J
