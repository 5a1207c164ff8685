"""Second-order methods, for models small enough to afford them (001, "Newton's method",
"Issues: 1. The Hessian": BFGS/L-BFGS, Levenberg-Marquardt; 002: conjugate gradient methods).

The notes' normalised update rule is

    W(k+1) = W(k) - eta H_E(W(k))^-1 grad_W E(W(k))^T,

exact for a quadratic with eta = 1 (Newton). The methods below compute, approximate or avoid
H_E^-1. All of them evaluate the loss away from W, so ``step`` takes a closure; each step returns
the closure's loss at the W it started from. They work on the regularised objective (loss plus
lambda_2/2 ||M W||^2 + lambda_1 ||M W||_1), so their line searches see what they minimise.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from scipy.optimize import line_search

from handgrad.optim import curvature
from handgrad.optim.base import Optimizer

from handgrad.validate import check_bool, check_choice, check_option


class _SecondOrder(Optimizer):
    needs_closure = True
    full_batch = True

    def _check_size(self, max_params: int) -> None:
        n = self.theta.size
        if n > max_params:
            raise ValueError(f"optimizer {self.name!r} forms an n x n matrix and is limited to "
                             f"max_params={max_params} parameters; this model has "
                             f"{n} (an n x n float64 matrix would take "
                             f"{_megabytes(n)}; raise max_params, or use lbfgs/cg)")


def _megabytes(n: int) -> str:
    """The memory of one n x n float64 matrix, 8 n^2 bytes, in words."""
    size = 8.0 * n * n
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


class _LineObjective:
    """E(x) and grad E(x) for scipy's line search, each point evaluated once through the closure."""

    def __init__(self, opt: Optimizer, closure):
        self.opt, self.closure = opt, closure
        self.x: np.ndarray | None = None
        self.value = 0.0
        self.gradient: np.ndarray | None = None
        self.evaluations = 0

    def _at(self, x: np.ndarray) -> None:
        if self.x is None or not np.array_equal(x, self.x):
            self.opt.theta[...] = x
            _, self.value = self.opt._evaluate(self.closure)
            self.gradient = self.opt.grad.astype(np.float64)
            self.x = np.array(x, dtype=np.float64)
            self.evaluations += 1

    def f(self, x):
        self._at(x)
        return self.value

    def fprime(self, x):
        self._at(x)
        return self.gradient


def _wolfe_search(objective: _LineObjective, x, d, g, f, f_prev, c1, c2):
    """Strong-Wolfe step length along d (scipy's line search, Nocedal & Wright Alg. 3.5)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # scipy warns when it fails; None is handled below
        alpha, *_ = line_search(objective.f, objective.fprime, x, d, gfk=g, old_fval=f,
                                old_old_fval=f_prev, c1=c1, c2=c2)
    return alpha


class _LineSearchMethod(_SecondOrder):
    """Shared driver: evaluate at W, pick a direction, search along it, move."""

    guess_initial_step = False

    def _search(self, closure, x, g, f, d):
        """Move to x + alpha d with a Wolfe alpha (falling back to steepest descent); return
        alpha, or 0.0 if no step length decreased E (W and grad are then restored)."""
        objective = _LineObjective(self, closure)
        objective.x, objective.value, objective.gradient = x.copy(), f, g.copy()
        # CG passes the previous E so that scipy guesses the first trial step from the last
        # decrease; quasi-Newton directions are scaled already and try alpha = 1 first.
        previous = self.prev_value if self.guess_initial_step else None
        alpha = _wolfe_search(objective, x, d, g, f, previous, self.c1, self.c2)
        if alpha is None and not self._steepest:
            self._reset_memory()
            d[...] = -self.lr * g
            alpha = _wolfe_search(objective, x, d, g, f, None, self.c1, self.c2)
        if alpha is None:
            self.failed_searches += 1
            self.theta[...] = x
            self.grad[...] = g
            return 0.0
        new_x = x + alpha * d
        objective.fprime(new_x)            # leaves W (and grad) at the accepted point
        self._accepted_value = objective.value
        return float(alpha)

    def _reset_memory(self) -> None:
        pass  # methods with curvature memory clear it when their direction fails

    def _secant(self, closure, x, g, d, alpha) -> float:
        """One secant step on phi'(a) = grad E(x + a d)^T d from the Wolfe point toward
        phi' = 0, kept if it lowers E and |phi'|: exact on a quadratic. CG's n-step property
        needs exact line searches, and the strong-Wolfe search stops anywhere within
        |phi'(a)| <= c2 |phi'(0)|; which point it stops at there turns on rounding (scipy's cubic
        interpolation is degenerate on a quadratic), and from an inexact point CG converges only
        linearly."""
        slope0, slope = float(g @ d), float(self.grad.astype(np.float64) @ d)
        if not slope0 < slope or abs(slope) <= 1e-4 * abs(slope0):
            return alpha                     # no positive curvature seen, or exact enough
        a = alpha * slope0 / (slope0 - slope)
        kept = self.theta.copy(), self.grad.copy(), self._accepted_value
        self.theta[...] = (x + a * d).astype(self.theta.dtype)
        _, value = self._evaluate(closure)
        if value <= kept[2] and abs(float(self.grad.astype(np.float64) @ d)) < abs(slope):
            return float(a)
        self.theta[...], self.grad[...] = kept[0], kept[1]
        return alpha


class Newton(_SecondOrder):
    """Newton's method with the exact Hessian, modified where it is not positive definite:

    input: eta (``lr``), ``fix`` ("abs", "shift" or "none"), delta's factor (``damping``),
        ``hessian_method`` ("fd" or "exact"), h (``fd_step``), ``line_search``, n's limit
        (``max_params``), lambda_2 (``weight_decay`` or ``l2``), lambda_1 (``l1``)
        H = the Hessian of the regularised objective at W (``handgrad.optim.curvature``):
            "fd":    column j = (grad E(W + h e_j) - grad E(W - h e_j)) / 2h from backprop
                     gradients, symmetrised (2n backward passes);
            "exact": column j = H e_j by the R-operator (MLPs of Linear layers and the losses
                     it supports), no step size; the L2 term adds lambda_2 M
        H = E Lambda E^T            eigendecomposition; delta = damping max|lambda|
        if lambda_min > delta:      p = -H^-1 grad_W E                         (plain Newton)
        else, modify the curvatures (``fix``):
            "shift":  p = -(H + tau I)^-1 grad_W E,  tau = delta - lambda_min   (diagonal load)
            "abs":    p = -E diag(1 / max(|lambda|, delta)) E^T grad_W E       (saddle-free)
            "none":   p = -E diag(1 / lambda) E^T grad_W E over |lambda| > delta (unmodified)
        W <- W + alpha p,  alpha = eta (the notes' rule), or with ``line_search="backtracking"``
             the first of eta, eta/2, ... that satisfies Armijo's
             E(W + alpha p) <= E(W) + 1e-4 alpha grad^T p (the damped Newton method)

    001: "for non-convex functions the Hessian may not be positive semi-definite, in which case the
    algorithm can diverge ... requires additional checks to avoid movement in directions
    corresponding to -ve eigenvalues". "abs" and "shift" make every curvature positive, so p
    descends. The shift (recorded in ``last_shift``) treats all directions alike and leaves steps
    of size g_i / delta along the most negative curvature; the absolute values (Dauphin et al.
    2014) step along -g_i / |lambda_i| there, away from the saddle, and are the default.
    ``last_negative`` counts the negative eigenvalues at the last step.

    Warning, ``fix="none"``: plain Newton jumps to the stationary point of the local quadratic
    model, whatever it is. On a non-convex surface that is a saddle or a maximum as readily as a
    minimum (001, "issues with the Hessian"), and the step climbs along every negative curvature:
    use it to see that happen, not to train. Where H is singular, H^-1 does not exist, and the
    directions with |lambda| <= delta get no step (the pseudo-inverse).

    On a quadratic, eta = 1 reaches the minimum in one step: central differences of a linear
    gradient are exact up to rounding, so this holds to rounding error in float64; use float64
    models (float32 differences are coarse).
    """

    name = "newton"
    hyper_names = ("damping", "fix", "hessian_method", "line_search", "fd_step", "max_params")

    def __init__(self, model, lr: float = 1.0, damping: float = 1e-6, fix: str = "abs",
                 line_search: str = "none", fd_step: float | None = None, max_params: int = 2000,
                 hessian_method: str = "fd",
                 weight_decay: float = 0.0, l2: float = 0.0,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.fix = check_choice("fix", fix, ("abs", "shift", "none"))
        self.hessian_method = check_choice("hessian_method", hessian_method, ("fd", "exact"))
        self.line_search = check_choice("line_search", line_search, ("none", "backtracking"))
        self.damping = check_option("damping", damping, 0.0)
        eps = np.finfo(self.theta.dtype).eps
        self.fd_step = check_option("fd_step", eps ** (1 / 3) if fd_step is None else fd_step,
                                    0.0, low_open=True)
        self.max_params = check_option("max_params", max_params, 1, integer=True)
        self._check_size(self.max_params)
        self.last_shift, self.last_negative = 0.0, 0

    def hessian(self, closure) -> np.ndarray:
        """H of the regularised objective at W: the closure's loss by ``curvature.hessian``, plus
        lambda_2 M from the L2 term (L1's is 0 almost everywhere); restores W and grad."""
        H = curvature.hessian(closure, h=self.fd_step, order=2, method=self.hessian_method,
                              float64_only=False)
        if self.regularizer.l2:
            M = 1.0 if self.mask is None else self.mask
            H[np.diag_indices_from(H)] += self.regularizer.l2 * M
        return H

    def step(self, closure=None):
        self._require_closure(closure)
        loss, f = self._evaluate(closure)
        g = self.grad.astype(np.float64)
        H = self.hessian(closure)
        lam, E = np.linalg.eigh(H)
        delta = self.damping * max(float(np.abs(lam).max()), 1e-300)
        self.last_shift, self.last_negative = 0.0, int(np.sum(lam < 0))
        if self.fix == "none":   # H^-1 where it exists: no step along |lambda| <= delta
            keep = np.abs(lam) > delta
            E, lam = E[:, keep], lam[keep]
        elif lam[0] <= delta and self.fix == "shift":
            self.last_shift = float(delta - lam[0])
            lam = lam + self.last_shift
        elif lam[0] <= delta:
            lam = np.maximum(np.abs(lam), delta)
        p = -(E @ ((E.T @ g) / lam))       # descends unless fix="none" kept a lambda < 0
        x = self.theta.copy()
        alpha = self.lr
        self.theta += (alpha * p).astype(self.theta.dtype)
        if self.line_search == "backtracking":
            slope = float(g @ p)
            for _ in range(40):              # Armijo: E(W + alpha p) <= E(W) + c1 alpha g^T p
                _, f_try = self._evaluate(closure)
                if f_try <= f + 1e-4 * alpha * slope:
                    break
                alpha *= 0.5
                self.theta[...] = x + (alpha * p).astype(self.theta.dtype)
            else:
                self.theta[...] = x
        self.grad[...] = g                 # grad belongs to the W the step started from
        self.step_count += 1
        return loss

    def _extra_state(self):
        return {"last_shift": self.last_shift, "last_negative": self.last_negative}

    def _load_extra_state(self, extra):
        self.last_shift = self._extra(extra, "last_shift", 0.0, 0.0)
        self.last_negative = self._extra(extra, "last_negative", 0, 0, integer=True)


class _QuasiNewton(_LineSearchMethod):
    """The step BFGS and L-BFGS share (Nocedal & Wright, Algorithm 6.1):

        d_k = -H_k grad E(W(k))     (the method's ``direction``; -eta grad E with no curvature)
        W(k+1) = W(k) + alpha_k d_k (the line search; alpha = eta with ``line_search="none"``)
        s = W(k+1) - W(k),  y = grad E(W(k+1)) - grad E(W(k))  ->  ``update(s, y)``

    The methods differ only in how H_k is kept (a matrix, or the last m pairs): each gives
    ``direction(g)``, ``update(s, y)`` and ``has_curvature()``."""

    def step(self, closure=None):
        self._require_closure(closure)
        loss, f = self._evaluate(closure)
        x, g = self.theta.astype(np.float64), self.grad.astype(np.float64)
        self.step_count += 1
        if np.abs(g).max() <= self.tolerance_grad:
            return loss
        d = self.direction(g)
        if g @ d >= 0:                       # not a descent direction: forget the curvature
            self._reset_memory()
            d = -self.lr * g
        self._steepest = not self.has_curvature()
        if self.line_search == "none":
            self.theta += ((self.lr * d) if self.has_curvature() else d).astype(self.theta.dtype)
            self._evaluate(closure)
        else:
            alpha = self._search(closure, x, g, f, d)
            if alpha == 0.0:
                return loss
            if self.line_search == "exact":
                self._secant(closure, x, g, d, alpha)
        self.update(self.theta.astype(np.float64) - x, self.grad.astype(np.float64) - g)
        self.prev_value = f
        return loss


class LBFGS(_QuasiNewton):
    """Limited-memory BFGS (Liu & Nocedal 1989; 001, "Issues: 1. The Hessian"): H^-1 is never
    formed; it is applied to the gradient from the last m pairs

        s_i = W(i+1) - W(i),   y_i = grad E(W(i+1)) - grad E(W(i)),   rho_i = 1 / (y_i^T s_i)

    by the two-loop recursion (Nocedal & Wright, Algorithm 7.4) with H_0 = (s^T y / y^T y) I.

    input: eta (``lr``), m (``history_size``), ``line_search``, the Wolfe constants c1, c2
        (``c1``, ``c2``), ``tolerance_grad``, lambda_2 (``weight_decay`` or ``l2``),
        lambda_1 (``l1``)

        q <- grad E;  for i = newest..oldest: a_i = rho_i s_i^T q;  q <- q - a_i y_i
        r <- H_0 q;   for i = oldest..newest: b = rho_i y_i^T r;   r <- r + s_i (a_i - b)
        d = -r;  W <- W + alpha d

    alpha from a strong-Wolfe line search (``line_search="strong_wolfe"``), or alpha = eta
    (``line_search="none"``, as ``torch.optim.LBFGS`` by default). Pairs with y^T s <= 1e-10 are
    skipped (they would break positive definiteness). One iteration per ``step``; the first
    direction is -eta grad E. Without memory this is steepest descent with a line search.
    """

    name = "lbfgs"
    state_names = ("s_hist", "y_hist")
    hyper_names = ("history_size", "line_search", "c1", "c2", "tolerance_grad")

    def __init__(self, model, lr: float = 1.0, history_size: int = 10,
                 line_search: str = "strong_wolfe", c1: float = 1e-4, c2: float = 0.9,
                 tolerance_grad: float = 1e-10, weight_decay: float = 0.0, l2: float = 0.0,
                 l1: float = 0.0,
                 decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.history_size = check_option("history_size", history_size, 1, integer=True)
        self.line_search = check_choice("line_search", line_search, ("strong_wolfe", "none"))
        self.c1 = check_option("c1", c1, 0.0, 1.0, low_open=True, high_open=True)
        self.c2 = check_option("c2", c2, self.c1, 1.0, low_open=True, high_open=True)
        self.tolerance_grad = check_option("tolerance_grad", tolerance_grad, 0.0)
        self.s_hist = np.zeros((0, self.theta.size))
        self.y_hist = np.zeros((0, self.theta.size))
        self.prev_value = None
        self.failed_searches = 0

    def _reset_memory(self):
        self.s_hist = np.zeros((0, self.theta.size))
        self.y_hist = np.zeros((0, self.theta.size))

    def direction(self, g: np.ndarray) -> np.ndarray:
        """-H^-1 g by the two-loop recursion."""
        if len(self.s_hist) == 0:
            return -self.lr * g
        q = g.copy()
        rho = 1.0 / np.einsum("ij,ij->i", self.y_hist, self.s_hist)
        a = np.empty(len(rho))
        for i in reversed(range(len(rho))):
            a[i] = rho[i] * (self.s_hist[i] @ q)
            q -= a[i] * self.y_hist[i]
        s, y = self.s_hist[-1], self.y_hist[-1]
        q *= (s @ y) / (y @ y)
        for i in range(len(rho)):
            b = rho[i] * (self.y_hist[i] @ q)
            q += self.s_hist[i] * (a[i] - b)
        return -q

    def has_curvature(self) -> bool:
        return len(self.s_hist) > 0

    def update(self, s: np.ndarray, y: np.ndarray) -> None:
        """Keep the pair (s, y) among the last m, unless y^T s <= 1e-10."""
        if y @ s > 1e-10:
            self.s_hist = np.vstack([self.s_hist, s])[-self.history_size:]
            self.y_hist = np.vstack([self.y_hist, y])[-self.history_size:]

    def _extra_state(self):
        return {"prev_value": self.prev_value, "failed_searches": self.failed_searches}

    def _load_extra_state(self, extra):
        self.prev_value = self._extra(extra, "prev_value", None)
        self.failed_searches = self._extra(extra, "failed_searches", 0, 0, integer=True)


def bfgs_update(H: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The BFGS update of the inverse-Hessian approximation (Nocedal & Wright, eq. 6.17; 001,
    "Issues: 1. The Hessian": BFGS):

        H_(k+1) = (I - rho s y^T) H_k (I - rho y s^T) + rho s s^T,   rho = 1 / (y^T s)

    s = W(k+1) - W(k), y = grad E(W(k+1)) - grad E(W(k)). H_(k+1) y = s (the secant equation),
    and H_(k+1) stays symmetric positive definite when H_k is and y^T s > 0."""
    rho = 1.0 / (y @ s)
    V = np.eye(len(s)) - rho * np.outer(y, s)          # I - rho y s^T
    return V.T @ H @ V + rho * np.outer(s, s)


class BFGS(_QuasiNewton):
    """BFGS (Broyden, Fletcher, Goldfarb, Shanno 1970; 001, "Issues: 1. The Hessian"; Nocedal &
    Wright, Algorithm 6.1): a full n x n approximation H_k of the inverse Hessian H_E^-1, built
    from the gradients the steps see, in place of Newton's H_E^-1 in
    W(k+1) = W(k) - eta H_E^-1 grad E.

    input: eta (``lr``), ``line_search``, the Wolfe constants c1, c2 (``c1``, ``c2``),
        ``tolerance_grad``, n's limit (``max_params``), lambda_2 (``weight_decay`` or ``l2``),
        lambda_1 (``l1``)
        d_k = -H_k grad E(W(k))          (d_0 = -eta grad E: no curvature seen yet)
        W(k+1) = W(k) + alpha_k d_k      alpha_k from the line search
        s = W(k+1) - W(k),  y = grad E(W(k+1)) - grad E(W(k))
        if y^T s > 0:  H_0 = (y^T s / y^T y) I before the first update  (N&W eq. 6.20)
                       H_(k+1) = (I - rho s y^T) H_k (I - rho y s^T) + rho s s^T,
                       rho = 1 / (y^T s)                                (:func:`bfgs_update`)
        else: skip the update (the curvature condition fails: H would lose positive definiteness)

    The line search is L-BFGS's and CG's (:class:`_LineSearchMethod`): strong Wolfe
    (``line_search="strong_wolfe"``, scipy's, N&W Alg. 3.5), which guarantees y^T s > 0 on
    success; ``"exact"`` adds one secant step on the directional derivative after the Wolfe point
    (exact on a quadratic, where BFGS then reaches the minimum in at most n steps and H_n = A^-1);
    ``"none"`` takes alpha = eta. The matrix costs 8 n^2 bytes: models above ``max_params``
    parameters are refused (use L-BFGS, which keeps m pairs instead of H).
    """

    name = "bfgs"
    state_names = ("H",)
    hyper_names = ("line_search", "c1", "c2", "tolerance_grad", "max_params")

    def __init__(self, model, lr: float = 1.0, line_search: str = "strong_wolfe",
                 c1: float = 1e-4, c2: float = 0.9, tolerance_grad: float = 1e-10,
                 max_params: int = 2000, weight_decay: float = 0.0, l2: float = 0.0,
                 l1: float = 0.0, decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.line_search = check_choice("line_search", line_search,
                                        ("strong_wolfe", "exact", "none"))
        self.c1 = check_option("c1", c1, 0.0, 1.0, low_open=True, high_open=True)
        self.c2 = check_option("c2", c2, self.c1, 1.0, low_open=True, high_open=True)
        self.tolerance_grad = check_option("tolerance_grad", tolerance_grad, 0.0)
        self.max_params = check_option("max_params", max_params, 1, integer=True)
        self._check_size(self.max_params)
        self.H = np.zeros((0, self.theta.size))   # no rows: H_0 not yet scaled (no pair seen)
        self.prev_value = None
        self.failed_searches = 0
        self.skipped = 0

    def _reset_memory(self):
        self.H = np.zeros((0, self.theta.size))

    def direction(self, g: np.ndarray) -> np.ndarray:
        """d = -H_k g, or -eta g before the first update."""
        return -self.lr * g if len(self.H) == 0 else -(self.H @ g)

    def update(self, s: np.ndarray, y: np.ndarray) -> None:
        """H_k -> H_(k+1) from the pair (s, y), or a skip when y^T s <= 0."""
        ys = float(y @ s)
        if not ys > 0.0:
            self.skipped += 1
            return
        if len(self.H) == 0:
            self.H = (ys / float(y @ y)) * np.eye(len(s))
        self.H = bfgs_update(self.H, s, y)

    def has_curvature(self) -> bool:
        return len(self.H) > 0

    def _extra_state(self):
        return {"prev_value": self.prev_value, "failed_searches": self.failed_searches,
                "skipped": self.skipped}

    def _load_extra_state(self, extra):
        self.prev_value = self._extra(extra, "prev_value", None)
        self.failed_searches = self._extra(extra, "failed_searches", 0, 0, integer=True)
        self.skipped = self._extra(extra, "skipped", 0, 0, integer=True)


class ConjugateGradient(_LineSearchMethod):
    """Nonlinear conjugate gradient (Fletcher & Reeves 1964; Polak & Ribiere 1969) with a
    strong-Wolfe line search (Nocedal & Wright, section 5.2):

    input: eta (``lr``), ``beta_rule``, ``restart``, the Wolfe constants c1, c2 (``c1``, ``c2``),
        lambda_2 (``weight_decay`` or ``l2``), lambda_1 (``l1``)
        d_0 = -g_0
        beta_k = max(0, g_k^T (g_k - g_(k-1)) / g_(k-1)^T g_(k-1))    (beta_rule="pr", PR+)
        beta_k = g_k^T g_k / g_(k-1)^T g_(k-1)                         (beta_rule="fr")
        d_k = -g_k + beta_k d_(k-1);  restart with d_k = -g_k every ``restart`` iterations
              (default n) or when d_k is not a descent direction
        W <- W + alpha_k d_k

    On a quadratic with exact line searches it reaches the minimum in at most n iterations; the
    first direction is scaled by eta (the line search then picks its length). c2 = 0.1, as
    recommended for CG.
    """

    name = "cg"
    guess_initial_step = True
    state_names = ("direction_prev", "prev_flat_grad")
    hyper_names = ("beta_rule", "restart", "c1", "c2")

    def __init__(self, model, lr: float = 1.0, beta_rule: str = "pr", restart: int | None = None,
                 c1: float = 1e-4, c2: float = 0.1, weight_decay: float = 0.0, l2: float = 0.0,
                 l1: float = 0.0,
                 decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.beta_rule = check_choice("beta_rule", beta_rule, ("pr", "fr"))
        self.restart = check_option("restart", self.theta.size if restart is None else restart, 1,
                                    integer=True)
        self.c1 = check_option("c1", c1, 0.0, 1.0, low_open=True, high_open=True)
        self.c2 = check_option("c2", c2, self.c1, 1.0, low_open=True, high_open=True)
        self.direction_prev = np.zeros(0)
        self.prev_flat_grad = np.zeros(0)
        self.prev_value = None
        self.since_restart = 0
        self.failed_searches = 0

    def _reset_memory(self):
        self.since_restart = 0

    def step(self, closure=None):
        self._require_closure(closure)
        loss, f = self._evaluate(closure)
        x, g = self.theta.astype(np.float64), self.grad.astype(np.float64)
        self.step_count += 1
        if not np.any(g):
            return loss
        self._steepest = True
        if self.direction_prev.size == 0 or self.since_restart >= self.restart:
            d, self.since_restart = -self.lr * g, 0
        else:
            g_prev = self.prev_flat_grad
            if self.beta_rule == "pr":
                beta = max(0.0, g @ (g - g_prev) / (g_prev @ g_prev))
            else:
                beta = (g @ g) / (g_prev @ g_prev)
            d = -g + beta * self.direction_prev
            self._steepest = False
            if g @ d >= 0:
                d, self.since_restart, self._steepest = -self.lr * g, 0, True
        alpha = self._search(closure, x, g, f, d)
        if alpha > 0.0:
            alpha = self._secant(closure, x, g, d, alpha)
        self.since_restart += 1
        self.prev_value, self.prev_flat_grad = f, g
        self.direction_prev = d if alpha > 0 else np.zeros(0)
        return loss

    def _extra_state(self):
        return {"prev_value": self.prev_value, "since_restart": self.since_restart,
                "failed_searches": self.failed_searches}

    def _load_extra_state(self, extra):
        self.prev_value = self._extra(extra, "prev_value", None)
        self.since_restart = self._extra(extra, "since_restart", 0, 0, integer=True)
        self.failed_searches = self._extra(extra, "failed_searches", 0, 0, integer=True)


SQUARED_ERROR_LOSSES = curvature.SQUARED_ERROR_LOSSES
# mu stays where mu I still changes H in float64 and where the step is not yet zero: at a minimum
# no step decreases E and mu would otherwise grow without bound.
MU_FLOOR, MU_CEILING = 1e-12, 1e20


class LevenbergMarquardt(_SecondOrder):
    """Levenberg-Marquardt for squared-error losses E = k sum_n ||y_n - d_n||^2 (Levenberg 1944,
    Marquardt 1963; 001: "estimate Hessian from Jacobians, diagonal load it to ensure positive
    definiteness").

    input: eta (``lr``), mu (``mu``, the damping), ``mu_up``, ``mu_down``, ``max_tries``,
        ``marquardt``, ``max_params``, lambda_2 (``weight_decay`` or ``l2``), lambda_1 (``l1``)
        r = vec(Y - D),  J = dr/dW (one row per sample and output)
        H_GN = 2k J^T J + lambda_2 M                Gauss-Newton: drops the r d2r/dW2 terms
        solve (H_GN + mu I) delta = -grad_W E       (``marquardt=True``: mu diag(H_GN) instead)
        W_try = W + eta delta;  accept if E(W_try) < E(W) and set mu <- mu / mu_down,
        else mu <- mu mu_up and solve again (at most ``max_tries`` times)

    Small mu gives Gauss-Newton, large mu a short gradient step. k is the loss's scale: mean
    squared error ``mse`` has k = 1/(N C), the notes' ``half_mse`` (1/2 ||y - d||^2 per sample) has
    k = 1/(2N). J and k come from the residual protocol, ``curvature.LeastSquares.of(closure)``:
    a closure with a ``least_squares()`` method supplies its own (an object with ``scale()`` and
    ``jacobian()``); for a network closure J is formed by backpropagation, each sample forwarded
    alone and each of its C outputs backpropagated as a unit vector, so the model must treat
    samples independently (no batch statistics in training mode).
    """

    name = "lm"
    hyper_names = ("mu", "mu_up", "mu_down", "max_tries", "marquardt", "max_params")

    def __init__(self, model, lr: float = 1.0, mu: float = 1e-3, mu_up: float = 10.0,
                 mu_down: float = 10.0, max_tries: int = 10, marquardt: bool = False,
                 max_params: int = 5000, weight_decay: float = 0.0, l2: float = 0.0,
                 l1: float = 0.0,
                 decay_biases: bool = False):
        super().__init__(model, lr, weight_decay, l1, decay_biases, l2)
        self.mu = check_option("mu", mu, 0.0, low_open=True)
        self.mu_up = check_option("mu_up", mu_up, 1.0, low_open=True)
        self.mu_down = check_option("mu_down", mu_down, 1.0)
        self.max_tries = check_option("max_tries", max_tries, 1, integer=True)
        self.marquardt = check_bool("marquardt", marquardt)
        self.max_params = check_option("max_params", max_params, 1, integer=True)
        self._check_size(self.max_params)
        self.rejected = 0

    @staticmethod
    def loss_scale(closure) -> float:
        """k with E = k sum r^2 for the closure's loss, or a ValueError for other losses."""
        return curvature.LeastSquares.of(closure).scale()

    def jacobian(self, closure) -> np.ndarray:
        """J = dr/dW of the closure's residuals (``curvature.LeastSquares``)."""
        return curvature.LeastSquares.of(closure).jacobian()

    def step(self, closure=None):
        self._require_closure(closure)
        problem = curvature.LeastSquares.of(closure)
        k = problem.scale()
        loss, f = self._evaluate(closure)
        x, g = self.theta.copy(), self.grad.astype(np.float64)
        J = problem.jacobian()
        H = 2.0 * k * (J.T @ J)
        if self.regularizer.l2:
            mask = np.ones(self.theta.size) if self.mask is None else self.mask
            H[np.diag_indices_from(H)] += self.regularizer.l2 * mask
        load = np.diag(H).copy() if self.marquardt else np.ones(self.theta.size)
        load[load <= 0] = 1.0                # a zero column (dead unit) still needs a load
        self.step_count += 1
        for _ in range(self.max_tries):
            A = H + self.mu * np.diag(load)
            try:
                delta = scipy.linalg.solve(A, -g, assume_a="pos")
            except np.linalg.LinAlgError:      # mu too small for rounding: load more
                self.mu = min(self.mu * self.mu_up, MU_CEILING)
                self.rejected += 1
                continue
            self.theta[...] = x + (self.lr * delta).astype(self.theta.dtype)
            _, f_try = self._evaluate(closure)
            if f_try < f:
                self.mu = max(self.mu / self.mu_down, MU_FLOOR)
                return loss
            self.mu = min(self.mu * self.mu_up, MU_CEILING)
            self.rejected += 1
        self.theta[...] = x                  # no damping gave a decrease: stay at W
        self.grad[...] = g
        return loss

    def _extra_state(self):
        return {"mu": self.mu, "rejected": self.rejected}

    def _load_extra_state(self, extra):
        self.mu = self._extra(extra, "mu", self.mu, 0.0, low_open=True)
        self.rejected = self._extra(extra, "rejected", 0, 0, integer=True)
