"""The fast forms of nn/kernels.py against the readable math the modules write (``kernels.FAST``
False runs the latter): Linear's z = y W^T + b and its three backward rules, ReLU's max(0, z) and
grad_y * (z > 0), and cross-entropy by log-softmax. Bit for bit where the two compute the same
operations; within the stated bound where they cannot (a dot product summed in another order, the C
library's exp and log)."""

import numpy as np
import pytest

from handgrad.nn import MLP, CrossEntropy, Linear, ReLU, kernels, get_loss
from handgrad.train.closure import BatchClosure

DTYPES = [np.float32, np.float64]


@pytest.fixture
def readable(monkeypatch):
    """A context in which the modules run their readable form."""
    class Switch:
        def __enter__(self):
            monkeypatch.setattr(kernels, "FAST", False)

        def __exit__(self, *exc):
            monkeypatch.setattr(kernels, "FAST", True)
    return Switch()


def same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    unsigned = {4: np.uint32, 8: np.uint64}[a.itemsize]
    np.testing.assert_array_equal(np.ascontiguousarray(a).view(unsigned),
                                  np.ascontiguousarray(b).view(unsigned))


def within_dot_product_bound(fast, slow, a, b, extra=0.0):
    """|fast - slow| <= 2 k eps (|a| @ |b| + |extra|): the rounding bound of a k-term dot product
    (Higham, Accuracy and Stability, 3.1), doubled since both sides round."""
    eps = np.finfo(fast.dtype).eps
    k = a.shape[1]
    bound = 2 * k * eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
                           + np.abs(extra))
    assert (np.abs(fast.astype(np.float64) - slow) <= bound).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 5, 128])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_fast_form_is_the_readable_one(readable, dtype, batch, bias):
    rng = np.random.default_rng(batch)
    y = rng.normal(size=(batch, 64)).astype(dtype)
    grad_z = np.asfortranarray(rng.normal(size=(batch, 48)).astype(dtype))  # Linear's layout
    results = {}
    for form in ("fast", "readable"):
        layer = Linear(64, 48, bias=bias, rng=0, dtype=dtype)
        if bias:
            layer.b.data = np.linspace(-1, 1, 48)  # nonzero, so the bias add is tested
        if form == "readable":
            with readable:
                z = layer.forward(y)
                grad_x = layer.backward(grad_z)
        else:
            z = layer.forward(y)
            grad_x = layer.backward(grad_z)
        results[form] = (z, grad_x, layer.W.grad.copy(), layer.grad.copy(), layer)
    z_f, gx_f, gW_f, g_f, layer = results["fast"]
    z_r, gx_r, gW_r, g_r, _ = results["readable"]
    b = layer.b.data if bias else 0.0
    within_dot_product_bound(z_f, z_r, y, layer.W.data.T, b)
    within_dot_product_bound(gx_f, gx_r, grad_z, layer.W.data)
    if batch == 1:  # the outer product as a broadcast multiply: the same values, zeros' signs aside
        np.testing.assert_array_equal(gW_f, gW_r)
    else:
        same_bits(g_f, g_r)  # grad_W and grad_b: the same operations, the same bits


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_set_mode_is_zero_grad_then_backward_in_both_forms(readable, dtype):
    rng = np.random.default_rng(1)
    y, grad_z = rng.normal(size=(6, 5)).astype(dtype), rng.normal(size=(6, 3)).astype(dtype)
    expected = None
    for form in ("fast", "readable"):
        layer = Linear(5, 3, rng=0, dtype=dtype)
        layer.grad[...] = np.nan  # stale values must not leak through
        layer.grad_mode(accumulate=False, needs_grad_x=False)
        if form == "readable":
            with readable:
                layer.forward(y)
                assert layer.backward(grad_z) is None
        else:
            layer.forward(y)
            assert layer.backward(grad_z) is None
        assert np.isfinite(layer.grad).all()
        if expected is None:
            expected = layer.grad.copy()
        else:
            np.testing.assert_array_equal(layer.grad, expected)


SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_relu_fast_form_is_max_0_z_and_the_masked_gradient(readable, dtype, order):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(17, 23)).astype(dtype)
    z.reshape(-1)[:len(SPECIALS)] = SPECIALS
    z = np.asarray(z, order=order)
    grad_y = np.asarray(rng.normal(size=z.shape).astype(dtype), order=order)
    fast = ReLU()
    y_f = fast.forward(z)
    gz_f = fast.backward(grad_y)
    slow = ReLU()
    with readable:
        y_r = slow.forward(z)
        gz_r = slow.backward(grad_y)
    # the same numbers; the fast forward maps -0 to +0 where max(0, -0) keeps -0
    np.testing.assert_array_equal(y_f, y_r)
    nonzero = y_r != 0
    same_bits(y_f[nonzero], y_r[nonzero])
    assert not np.signbit(y_f[~np.isnan(y_f)]).any()
    # finite gradients: the same values (a select gives +0 where the product gives -0)
    np.testing.assert_array_equal(gz_f, gz_r)
    same_bits(gz_f[gz_r != 0], gz_r[gz_r != 0])


def test_relu_fast_backward_is_a_select_where_the_product_would_pass_nan(readable):
    """The one documented difference: a NaN or inf gradient at a unit that was off."""
    z = np.array([[-1.0, 2.0, -3.0]])
    grad_y = np.array([[np.nan, np.nan, np.inf]])
    fast = ReLU()
    fast.forward(z)
    np.testing.assert_array_equal(fast.backward(grad_y), [[0.0, np.nan, 0.0]])  # torch's answer
    slow = ReLU()
    with readable, np.errstate(invalid="ignore"):
        slow.forward(z)
        assert np.isnan(slow.backward(grad_y)).all()  # 0 * NaN, 0 * inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("classes", [10, 1000])
def test_cross_entropy_fast_form_is_log_softmax_within_a_few_ulp(readable, dtype, order, classes):
    rng = np.random.default_rng(3)
    z = np.asarray((4 * rng.normal(size=(32, classes))).astype(dtype), order=order)
    labels = rng.integers(0, classes, 32)
    fast, slow = CrossEntropy(), CrossEntropy()
    value_f = fast(z, labels)
    grad_f = fast.backward()
    with readable:
        value_r = slow(z, labels)
        grad_r = slow.backward()
    # p: the readable exp(log p) carries the rounding of log p, |log p| ulp; the C loop sums each
    # row in order: within 8 (1 + |log p|) ulp for ten classes, 128 (1 + |log p|) for a thousand
    ulp = np.spacing(np.abs(slow.p).astype(dtype))
    relative = np.abs(fast.p - slow.p) / ulp / (1 + np.abs(np.log(slow.p)))
    assert relative.max() <= (8 if classes == 10 else 128)
    assert value_f == pytest.approx(value_r, rel=2e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(grad_f, grad_r, rtol=0, atol=128 * np.finfo(dtype).eps / 32)
    # given the same p, the gradient p - d is the same bits in both forms
    slow.p = fast.p
    with readable:
        same_bits(np.ascontiguousarray(slow.backward()), np.ascontiguousarray(grad_f))


def test_cross_entropy_probability_targets_share_the_log_softmax(readable):
    """Class indices and their one-hot rows are one loss: the same value and gradient."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=(9, 4))
    labels = rng.integers(0, 4, 9)
    one_hot = np.eye(4)[labels]
    ce = CrossEntropy()
    with readable:
        by_index, grad_index = ce(z, labels), ce.backward()
        by_rows, grad_rows = ce(z, one_hot), ce.backward()
    assert by_index == by_rows
    np.testing.assert_array_equal(grad_index, grad_rows)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_whole_training_step_agrees_in_both_forms(readable, dtype):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 20)).astype(dtype)
    d = rng.integers(0, 10, 32)
    results = []
    for form in ("fast", "readable"):
        model = MLP([20, 16, 10], rng=0, dtype=dtype)
        closure = BatchClosure(model, get_loss("cross_entropy"), x, d, rewind=False)
        if form == "readable":
            with readable:
                value = closure()
        else:
            value = closure()
        results.append((value, model.grad.copy()))
    (v_f, g_f), (v_r, g_r) = results
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert v_f == pytest.approx(v_r, rel=tol)
    np.testing.assert_allclose(g_f, g_r, rtol=tol, atol=tol * np.abs(g_r).max())
