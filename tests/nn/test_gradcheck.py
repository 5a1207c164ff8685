"""The checker itself: it passes correct backward passes and, above all, fails wrong ones."""

import numpy as np
import pytest

from handgrad.check import GradcheckReport, TensorCheck, gradcheck, gradcheck_loss, gradcheck_model
from handgrad.nn import MLP, MSE, Linear, Module, Parameter, Sigmoid, Softmax, get_loss


class ScaledBackwardSigmoid(Sigmoid):
    """A sigmoid whose backward forgets the factor (1 - y): the kind of slip gradcheck must catch."""

    def backward(self, grad_y):
        return grad_y * self.y


class BiasGradTwice(Linear):
    """A Linear that adds its bias gradient twice."""

    def backward(self, grad_z):
        grad_x = super().backward(grad_z)
        self.params["b"].grad += grad_z.sum(axis=0)
        return grad_x


class SoftmaxForgetsCoupling(Softmax):
    """Softmax with only the diagonal of its Jacobian, y(1 - y): it drops the -y_i y_j coupling."""

    def backward(self, grad_y):
        return grad_y * self.y * (1.0 - self.y)


class NoisyModule(Module):
    """y = x * u with u drawn afresh on every forward, like dropout in training mode."""

    def __init__(self, seed=0):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        self.u = self.rng.uniform(0.5, 1.5, size=x.shape)
        return x * self.u

    def backward(self, grad_y):
        return grad_y * self.u


class RunningMean(Module):
    """Adds a trainable shift and tracks a running mean of its input in a buffer (like batch norm)."""

    def __init__(self, width):
        super().__init__()
        self.params["b"] = Parameter(np.zeros(width))
        self.buffers = {"running_mean": np.zeros(width)}
        self.flatten(np.float64)

    def forward(self, x):
        self.buffers["running_mean"] += 0.1 * (x.mean(axis=0) - self.buffers["running_mean"])
        return x + self.params["b"].data

    def backward(self, grad_y):
        self.params["b"].grad += grad_y.sum(axis=0)
        return grad_y


def test_correct_model_passes_with_every_tensor_reported(rng):
    model = MLP([3, 5, 2], activation="tanh", rng=1, dtype=np.float64)
    report = gradcheck(model, rng.normal(size=(4, 3)))
    assert report.passed, report
    assert [c.name for c in report.checks] == ["input x", "0.W", "0.b", "2.W", "2.b"]
    assert report.worst[1] < 1e-8


@pytest.mark.parametrize("module, x_scale", [
    (ScaledBackwardSigmoid(), 1.0),
    (SoftmaxForgetsCoupling(), 1.0),
])
def test_wrong_activation_backward_fails(module, x_scale, rng):
    report = gradcheck(module, x_scale * rng.normal(size=(4, 5)))
    assert not report.passed
    assert report.worst[0] == "input x"
    assert "FAILED" in str(report) and "<-- fails" in str(report)


def test_wrong_parameter_gradient_is_named(rng):
    layer = BiasGradTwice(3, 4, rng=0, dtype=np.float64)
    report = gradcheck(layer, rng.normal(size=(5, 3)))
    assert not report.passed
    assert report.worst[0] == "b"
    assert report.errors["W"] < 1e-8 and report.errors["input x"] < 1e-8


def test_wrong_loss_gradient_fails(rng):
    class HalfGradientMSE(MSE):
        def backward(self):
            return 0.5 * super().backward()

    y, d = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    assert gradcheck_loss(MSE(), y, d).passed
    report = gradcheck_loss(HalfGradientMSE(), y, d)
    assert not report.passed and report.worst[0] == "prediction y"
    # relative error of a gradient off by a factor 1/2 is exactly 1/2
    assert report.worst[1] == pytest.approx(0.5, rel=1e-6)


def test_model_with_loss_end_to_end(rng):
    model = MLP([4, 6, 3], activation="sigmoid", rng=2, dtype=np.float64)
    x, d = rng.normal(size=(5, 4)), rng.integers(0, 3, size=5)
    report = gradcheck_model(model, get_loss("cross_entropy"), x, d)
    assert report.passed, report
    assert set(report.errors) == {"input x", "0.W", "0.b", "2.W", "2.b"}


def test_softmax_with_all_ones_upstream_has_zero_input_gradient(rng):
    """Why grad_y must be random: sum(softmax(z)) = 1, so with grad_y = 1 the true gradient is 0
    and the wrong backward above would look right up to its own error scale."""
    z = rng.normal(size=(3, 4))
    report = gradcheck(Softmax(), z, grad_y=np.ones((3, 4)))
    assert np.abs(report["input x"].numeric).max() < 1e-9
    assert np.abs(report["input x"].analytic).max() < 1e-15


def test_float32_model_is_refused(rng):
    with pytest.raises(TypeError, match="float64"):
        gradcheck(MLP([3, 2], rng=0), rng.normal(size=(2, 3)))
    with pytest.raises(TypeError, match="model.to"):
        gradcheck_model(MLP([3, 2], rng=0), MSE(), rng.normal(size=(2, 3)), np.zeros((2, 2)))


def test_grad_y_of_wrong_shape_is_refused(rng):
    model = MLP([3, 2], rng=0, dtype=np.float64)
    with pytest.raises(ValueError, match=r"grad_y has shape \(4, 3\).*\(4, 2\)"):
        gradcheck(model, rng.normal(size=(4, 3)), grad_y=np.ones((4, 3)))


def test_non_finite_point_is_refused():
    with pytest.raises(ValueError, match="NaN or inf"):
        gradcheck(Sigmoid(), np.array([[0.0, np.nan]]))


def test_random_forward_is_detected_and_before_forward_makes_it_checkable(rng):
    x = rng.normal(size=(3, 4))
    with pytest.raises(ValueError, match="not deterministic.*before_forward"):
        gradcheck(NoisyModule(), x)
    module = NoisyModule()

    def same_mask():
        module.rng = np.random.default_rng(7)

    report = gradcheck(module, x, before_forward=same_mask)
    assert report.passed, report


def test_parameters_input_and_buffers_are_left_as_they_were(rng):
    model = MLP([3, 4, 2], activation="tanh", rng=3, dtype=np.float64)
    theta = model.theta.copy()
    x = rng.normal(size=(2, 3))
    x_before = x.copy()
    gradcheck(model, x)
    assert np.array_equal(model.theta, theta)
    assert np.array_equal(x, x_before)

    shift = RunningMean(3)
    report = gradcheck(shift, x)
    assert report.passed, report
    assert np.array_equal(shift.buffers["running_mean"], np.zeros(3))


def test_analytic_gradient_is_left_in_param_grad(rng):
    model = MLP([3, 2], rng=4, dtype=np.float64)
    report = gradcheck(model, rng.normal(size=(2, 3)))
    assert np.array_equal(model[0].W.grad, report["0.W"].analytic)


def test_relative_error_formula():
    check = TensorCheck("t", np.array([1.0, -4.0, 0.0]), np.array([1.0, -3.0, 0.0]))
    assert check.abs_error == 1.0
    assert check.error == pytest.approx(1.0 / 4.0)
    zero = TensorCheck("z", np.zeros(3), np.zeros(3))
    assert zero.error == 0.0
    broken = TensorCheck("n", np.array([np.nan]), np.array([1.0]))
    assert broken.error == np.inf
    report = GradcheckReport([check, zero], tol=0.3)
    assert report.passed and report.worst == ("t", 0.25)
    assert not GradcheckReport([check], tol=0.2).passed
    with pytest.raises(KeyError, match="checked"):
        report["missing"]


def test_lower_precision_output_is_refused(rng):
    class Float32Tanh(Module):
        def forward(self, x):
            self.y = np.tanh(x).astype(np.float32)
            return self.y

        def backward(self, grad_y):
            return grad_y * (1 - self.y ** 2)

    with pytest.raises(TypeError, match="output is float32, not float64"):
        gradcheck(Float32Tanh(), rng.normal(size=(2, 3)))


def test_elementwise_error_locates_the_wrong_entries(rng):
    class WrongFirstRow(Sigmoid):
        def backward(self, grad_y):
            grad_z = super().backward(grad_y)
            grad_z[0] *= 1.5
            return grad_z

    report = gradcheck(WrongFirstRow(), rng.normal(size=(3, 4)))
    rows = report["input x"].elementwise_error.max(axis=1)
    assert rows[0] == pytest.approx(1 / 3, rel=1e-6) and rows[1:].max() < 1e-6


def test_nothing_to_check_and_bad_eps_are_refused(rng):
    with pytest.raises(ValueError, match="nothing to check"):
        gradcheck(Sigmoid(), rng.normal(size=(2, 3)), wrt_input=False)
    with pytest.raises(ValueError, match="eps must be positive"):
        gradcheck(Sigmoid(), rng.normal(size=(2, 3)), eps=0.0)
