"""The Hessian from backprop (lab.hessian) against PyTorch's torch.autograd.functional.hessian.

The torch MLP gets identical weights, and its parameters are flattened in handgrad's order (W then b
per Linear, layer by layer), so the two P x P matrices compare entry by entry (float64).
"""

import numpy as np
import pytest
import torch

from handgrad.lab.common import relative_error
from handgrad.lab.hessian import extreme_eigenvalues, hessian, hessian_vector_product
from handgrad.nn import MLP, Linear, get_loss
from handgrad.train.closure import BatchClosure


def torch_loss_of_theta(model, x, d, activation, loss_name):
    """Div(theta) in torch for the same MLP: theta is unpacked W then b per Linear."""
    shapes = [(m.W.shape, m.b.shape) for m in model.layers if isinstance(m, Linear)]
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    xt, dt = torch.tensor(x), torch.tensor(d)

    def loss(theta):
        y, offset = xt, 0
        for k, (w_shape, b_shape) in enumerate(shapes):
            W = theta[offset:offset + int(np.prod(w_shape))].reshape(w_shape)
            offset += W.numel()
            b = theta[offset:offset + b_shape[0]]
            offset += b.numel()
            y = y @ W.T + b
            if k < len(shapes) - 1:
                y = act(y)
        if loss_name == "mse":
            return torch.mean((y - dt) ** 2)
        if loss_name == "cross_entropy":
            return torch.nn.functional.cross_entropy(y, dt)
        return torch.nn.functional.binary_cross_entropy_with_logits(y, dt)

    return loss


@pytest.mark.parametrize("sizes,activation,loss_name", [
    ((3, 4, 2), "tanh", "mse"),
    ((2, 5, 3, 1), "sigmoid", "bce_logits"),
    ((3, 4, 3), "tanh", "cross_entropy"),
])
def test_hessian_matches_torch(sizes, activation, loss_name):
    rng = np.random.default_rng(7)
    model = MLP(sizes, activation=activation, rng=rng, dtype=np.float64)
    x = rng.standard_normal((6, sizes[0]))
    if loss_name == "mse":
        d = rng.standard_normal((6, sizes[-1]))
    elif loss_name == "cross_entropy":
        d = rng.integers(0, sizes[-1], size=6)           # class indices
    else:
        d = rng.integers(0, 2, size=(6, sizes[-1])).astype(float)
    closure = BatchClosure(model, get_loss(loss_name), x, d)
    theta0 = model.theta.copy()

    H = hessian(closure)
    fn = torch_loss_of_theta(model, x, d, activation, loss_name)
    H_torch = torch.autograd.functional.hessian(fn, torch.tensor(theta0)).numpy()

    assert H.shape == (model.theta.size,) * 2
    assert relative_error(H, H_torch) < 1e-6
    np.testing.assert_array_equal(model.theta, theta0)  # parameters restored

    # A Hessian-vector product along a random direction, against torch's exact H v.
    v = rng.standard_normal(theta0.size)
    assert relative_error(hessian_vector_product(closure, v), H_torch @ v) < 1e-6

    # Lanczos on H v products finds both ends of the spectrum.
    eig = extreme_eigenvalues(closure)
    exact = np.linalg.eigvalsh(H_torch)
    assert abs(eig.lambda_max - exact[-1]) < 1e-6 * abs(exact).max()
    assert abs(eig.lambda_min - exact[0]) < 1e-6 * abs(exact).max()


@pytest.mark.parametrize("sizes,activation,loss_name", [
    ((3, 4, 2), "tanh", "mse"),
    ((2, 5, 3, 1), "sigmoid", "bce_logits"),
    ((3, 4, 3), "tanh", "cross_entropy"),
])
def test_exact_r_operator_matches_torch(sizes, activation, loss_name):
    """Pearlmutter's R-operator gives H v to rounding error, column by column of torch's H."""
    from handgrad.lab.rop import exact_hessian_vector_product

    rng = np.random.default_rng(11)
    model = MLP(sizes, activation=activation, rng=rng, dtype=np.float64)
    model.theta[:] += 0.1 * rng.standard_normal(model.theta.size)     # nonzero biases too
    x = rng.standard_normal((5, sizes[0]))
    if loss_name == "mse":
        d = rng.standard_normal((5, sizes[-1]))
    elif loss_name == "cross_entropy":
        d = rng.integers(0, sizes[-1], size=5)
    else:
        d = rng.integers(0, 2, size=(5, sizes[-1])).astype(float)
    closure = BatchClosure(model, get_loss(loss_name), x, d)
    fn = torch_loss_of_theta(model, x, d, activation, loss_name)
    H_torch = torch.autograd.functional.hessian(fn, torch.tensor(model.theta.copy())).numpy()
    H_rop = np.stack([exact_hessian_vector_product(closure, e)
                      for e in np.eye(model.theta.size)], axis=1)
    assert relative_error(H_rop, H_torch) < 1e-12
