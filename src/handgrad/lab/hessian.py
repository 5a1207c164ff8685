"""The Hessian of a network's loss w.r.t. its flat parameter vector theta, computed from backprop.

001 ("Issues: 1. The Hessian"): Newton's rule w <- w - eta H_E(w)^-1 grad_w E^T needs H_E, which
has P^2 entries for P parameters, and the analysis of gradient descent on a quadratic says the
largest stable constant learning rate is 2 eta_opt = 2 / lambda_max(H). These tools make H (or its
extreme eigenvalues) available for any model whose gradient backprop computes:

- ``hessian_vector_product``: H v as the directional derivative of the backprop gradient,
  (g(theta + h v) - g(theta - h v)) / 2h, or the fourth-order stencil
  (-g(theta + 2hv) + 8 g(theta + hv) - 8 g(theta - hv) + g(theta - 2hv)) / 12h. Each costs 2 or 4
  forward/backward passes, never the P x P matrix.
- ``hessian``: the full matrix, column j = H e_j, then symmetrised (H + H^T) / 2.
- ``hessian_from_loss_values``: the plain finite-difference Hessian of the loss value alone,
  [E(+i,+j) - E(+i,-j) - E(-i,+j) + E(-i,-j)] / 4h^2, O(P^2) loss evaluations: the independent
  check.
- ``extreme_eigenvalues``: lambda_min and lambda_max by Lanczos (``scipy.sparse.linalg.eigsh``)
  on a LinearOperator of Hessian-vector products, for models too large for the full matrix.
- ``method="exact"`` in ``hessian`` and ``extreme_eigenvalues`` takes the products from
  Pearlmutter's R-operator instead (``handgrad.lab.rop``): exact, no step size, for MLPs of Linear
  layers with identity/tanh/sigmoid/relu and the losses mse, half_mse, bce_logits, cross_entropy.

All of them work through a closure (``handgrad.train.closure.BatchClosure``): ``closure()`` sets
``model.grad`` to grad_theta Div and returns Div. ``model.theta`` and ``model.grad`` are restored
afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

# Stencils for the first derivative of the gradient along a direction: (offsets, weights, divisor).
_STENCILS = {2: ((1.0, -1.0), (1.0, -1.0), 2.0),
             4: ((2.0, 1.0, -1.0, -2.0), (-1.0, 8.0, -8.0, 1.0), 12.0)}


def _check_closure(closure) -> None:
    model = closure.model
    if model.theta is None:
        raise ValueError("the model has no flat parameter vector; call model.flatten() first")
    if model.theta.dtype != np.float64:
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
                           theta: np.ndarray | None = None) -> np.ndarray:
    """H v by central differences of backprop gradients along v (see the module docstring).

    The step is h along the unit vector v / ||v||, and the result is scaled back by ||v||, so the
    truncation and rounding errors do not depend on the length of v.
    """
    _check_closure(closure)
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


def _hvp_function(closure, method: str, h: float, order: int, theta):
    """v -> H v by finite differences of backprop gradients ("fd") or the R-operator ("exact")."""
    if method == "fd":
        return lambda v: hessian_vector_product(closure, v, h=h, order=order, theta=theta)
    if method == "exact":
        from handgrad.lab.rop import exact_hessian_vector_product

        def exact(v):
            with restored_theta(closure.model) as current:
                if theta is not None:
                    current[:] = theta
                return exact_hessian_vector_product(closure, v)
        return exact
    raise ValueError(f"invalid method={method!r}: expected 'fd' or 'exact'")


def hessian(closure, h: float = 1e-4, order: int = 4, theta: np.ndarray | None = None,
            method: str = "fd") -> np.ndarray:
    """The P x P Hessian, column j = H e_j, symmetrised. ``method``: "fd" (finite differences of
    backprop gradients, :func:`hessian_vector_product`) or "exact" (the R-operator,
    :mod:`handgrad.lab.rop`)."""
    _check_closure(closure)
    P = closure.model.theta.size
    hvp = _hvp_function(closure, method, h, order, theta)
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
