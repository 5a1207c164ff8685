"""The Hessian tools: backprop Hessian vs a Hessian from loss values alone, exact on a quadratic,
parameters restored, float32 refused."""

import numpy as np
import pytest

from handgrad.lab.common import Function2D, function_closure, quadratic_function, relative_error
from handgrad.lab.common import rotated_quadratic
from handgrad.lab.hessian import (extreme_eigenvalues, hessian, hessian_from_loss_values,
                                  hessian_vector_product, loss_and_gradient)
from handgrad.nn import MLP, get_loss
from handgrad.train.closure import BatchClosure


def small_closure(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    model = MLP((2, 3, 2), activation="tanh", rng=rng, dtype=dtype)
    x, d = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    return BatchClosure(model, get_loss("mse"), x, d)


def test_backprop_hessian_matches_loss_value_hessian():
    closure = small_closure()
    theta0 = closure.model.theta.copy()
    closure()
    grad0 = closure.model.grad.copy()
    H = hessian(closure)
    np.testing.assert_array_equal(closure.model.grad, grad0)    # the gradient still belongs to theta
    H_values = hessian_from_loss_values(closure)
    np.testing.assert_array_equal(H, H.T)
    assert relative_error(H, H_values) < 1e-6
    np.testing.assert_array_equal(closure.model.theta, theta0)
    # The second-order stencil is less accurate but still close.
    assert relative_error(hessian(closure, h=1e-5, order=2), H) < 1e-6


def test_quadratic_hessian_is_A_and_eigenvalues_are_exact():
    fn = quadratic_function(eigenvalues=(2.0, 30.0), angle_deg=40.0)
    closure = function_closure(Function2D(fn, start=(0.7, -0.3)))
    A = rotated_quadratic((2.0, 30.0), 40.0)
    np.testing.assert_allclose(hessian(closure), A, atol=1e-9)
    v = np.array([0.3, -2.0])
    np.testing.assert_allclose(hessian_vector_product(closure, v), A @ v, atol=1e-8)
    eig = extreme_eigenvalues(closure)
    assert eig.lambda_max == pytest.approx(30.0) and eig.lambda_min == pytest.approx(2.0)
    value, grad = loss_and_gradient(closure, np.array([1.0, 0.0]))
    assert value == pytest.approx(0.5 * A[0, 0])
    np.testing.assert_allclose(grad, A[:, 0])


def test_float32_is_refused():
    closure = small_closure(dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        hessian(closure)
    with pytest.raises(ValueError, match="order"):
        hessian_vector_product(small_closure(), np.ones(17), order=3)


def test_exact_method_matches_finite_differences_with_a_penalty():
    from handgrad.optim import Penalty

    rng = np.random.default_rng(4)
    model = MLP((2, 4, 3, 1), activation="tanh", rng=rng, dtype=np.float64)
    x, d = rng.standard_normal((7, 2)), rng.standard_normal((7, 1))
    closure = BatchClosure(model, get_loss("half_mse"), x, d,
                           penalty=Penalty(model.decay_mask(), l2=0.3))
    H_fd, H_exact = hessian(closure), hessian(closure, method="exact")
    assert relative_error(H_exact, H_fd) < 1e-8
    # The penalty's curvature 0.3 is on the weights' diagonal only.
    without = BatchClosure(model, get_loss("half_mse"), x, d)
    diff = H_exact - hessian(without, method="exact")
    np.testing.assert_allclose(diff, np.diag(0.3 * model.decay_mask()), atol=1e-12)
    eig = extreme_eigenvalues(closure, method="exact")
    exact = np.linalg.eigvalsh(H_exact)
    assert eig.lambda_max == pytest.approx(exact[-1], rel=1e-9)


def test_exact_method_refuses_what_it_does_not_cover():
    rng = np.random.default_rng(0)
    model = MLP((2, 3, 1), activation="gelu", rng=rng, dtype=np.float64)
    closure = BatchClosure(model, get_loss("mse"), rng.standard_normal((4, 2)),
                           rng.standard_normal((4, 1)))
    with pytest.raises(ValueError, match="R-operator"):
        hessian(closure, method="exact")
    with pytest.raises(ValueError, match="method"):
        hessian(closure, method="magic")
