"""The compiled loops of nn/kernels.py against their NumPy lines (what an install without a C
compiler runs) and against their definitions written out here: bit for bit in float32 and float64,
in C and Fortran memory order, with NaN, infinities and signed zeros among the inputs. The C loops
work on the floats' bits; these tests are what says those bit tricks mean what the docstrings say.
(tests/nn/test_fast_forms.py holds the fast forms to the modules' readable math.)"""

import numpy as np
import pytest

from handgrad.nn import CrossEntropy, ReLU, Linear, kernels
from handgrad.errors import NonFiniteError, ShapeError
from handgrad.validate import check_finite

SPECIALS = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 5e-324, -5e-324]


def test_the_compiled_loops_were_built():
    """CI has a C compiler: the fast path must exist there, or the tests below test NumPy twice."""
    assert kernels.FUSED, "handgrad.nn._fused was not built (pip install -e . needs a C compiler)"


@pytest.fixture(params=["compiled", "numpy"])
def form(request, monkeypatch):
    if request.param == "numpy":  # what an install without a C compiler runs
        monkeypatch.setattr(kernels, "_fused", None)
        monkeypatch.setattr(kernels, "FUSED", False)
    return request.param


def activations(dtype, order, shape=(37, 129), seed=0):
    """Random pre-activations of both signs with every special value planted among them."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape).astype(dtype)
    flat = z.reshape(-1)
    positions = rng.choice(flat.size, size=len(SPECIALS), replace=False)
    flat[positions] = np.array(SPECIALS).astype(dtype)
    return np.asarray(z, order=order)


def same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    unsigned = {4: np.uint32, 8: np.uint64}[a.itemsize]
    np.testing.assert_array_equal(np.ascontiguousarray(a).view(unsigned),
                                  np.ascontiguousarray(b).view(unsigned))


DTYPES = [np.float32, np.float64]
ORDERS = ["C", "F"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ORDERS)
def test_relu_forward_is_z_where_positive_or_nan_and_plus_zero_elsewhere(form, dtype, order):
    z = activations(dtype, order)
    y, mask = kernels.relu_forward(z=z)
    np.testing.assert_array_equal(mask, z > 0)
    expected = np.where((z > 0) | np.isnan(z), z, dtype(0))  # +0, whatever the sign of z
    same_bits(y, expected)
    assert y.flags.f_contiguous == (order == "F") and mask.flags.f_contiguous == (order == "F")
    # -0.0 and negative denormals are not > 0: their outputs are +0, their mask False
    assert not np.signbit(y[~np.isnan(y)]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ORDERS)
def test_relu_backward_selects_the_gradient_where_the_unit_was_on(form, dtype, order):
    z = activations(dtype, order, seed=1)
    grad_y = activations(dtype, order, seed=2)  # NaN and inf in the gradient too
    mask = np.asarray(z > 0, order=order)
    grad_z = kernels.relu_backward(grad_y=grad_y, on=mask)
    same_bits(grad_z, np.where(mask, grad_y, dtype(0)))
    # a select, not a product: a NaN gradient at a unit that was off does not come through
    assert not np.isnan(grad_z[~mask]).any() and np.isnan(grad_y[~mask]).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_add_adds_each_units_bias_along_its_row(form, dtype):
    rng = np.random.default_rng(3)
    z_t = rng.normal(size=(65, 31)).astype(dtype)
    b = rng.normal(size=65).astype(dtype)
    expected = z_t + b[:, None]
    kernels.add_bias_rows(z_t, b)
    same_bits(z_t, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_value_anywhere(form, dtype, order, special):
    x = np.asarray(np.random.default_rng(4).normal(size=(50, 41)).astype(dtype), order=order)
    extremes = np.array([np.finfo(dtype).max, -np.finfo(dtype).max, np.finfo(dtype).tiny,
                         np.finfo(dtype).smallest_subnormal, -0.0], dtype=dtype)
    x.ravel(order="K")[:5] = extremes  # finite however large or small (ravel: a view here)
    check_finite("x", x)  # raises if the extremes were taken for inf
    for position in [(0, 0), (49, 40), (17, 3)]:
        bad = x.copy(order="K")
        bad[position] = special
        with pytest.raises(NonFiniteError, match="x contains 1 NaN or inf"):
            check_finite("x", bad)


def test_all_finite_answers_only_for_the_layouts_it_can_walk():
    x = np.ones((6, 4), dtype=np.float32)
    assert kernels.all_finite(x) is True and kernels.all_finite(np.asfortranarray(x)) is True
    assert kernels.all_finite(x[:, ::2]) is None        # strided: NumPy checks it
    assert kernels.all_finite(x.astype(">f4")) is None  # big-endian: NumPy checks it
    x[::2, ::2] = np.nan
    with pytest.raises(NonFiniteError, match="x contains 6 NaN"):
        check_finite("x", x[::2, ::2])  # the strided path still finds them


@pytest.mark.parametrize("layout", ["strided", "big-endian", "float16"])
def test_relu_layouts_without_a_compiled_loop_give_the_same_result(layout):
    z = activations(np.float32, "C", shape=(12, 10))
    if layout == "strided":
        arg = z[:, ::2]
    elif layout == "big-endian":
        arg = z.astype(">f4")
    else:
        arg = z.astype(np.float16)
    y, mask = kernels.relu_forward(z=arg)
    expected = np.where((arg > 0) | np.isnan(arg), arg, arg.dtype.type(0))
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(kernels.relu_backward(grad_y=arg, on=mask),
                                  np.where(mask, arg, 0))


BAD_CALLS = [
    ("float64 into the float32 loop", lambda z: (z.astype(np.float64), np.empty_like(z),
                                                 np.empty(z.shape, bool)), TypeError),
    ("short output", lambda z: (z, np.empty_like(z)[:-1], np.empty(z.shape, bool)), ValueError),
    ("mask of bytes, not bools", lambda z: (z, np.empty_like(z), np.empty(z.shape, np.uint8)),
     TypeError),
    ("read-only output", lambda z: (z, _read_only(z), np.empty(z.shape, bool)), TypeError),
    ("output overlapping the input", lambda z: (z, z, np.empty(z.shape, bool)), ValueError),
    ("strided input", lambda z: (np.repeat(z, 2)[::2], np.empty_like(z), np.empty(z.shape, bool)),
     TypeError),
]


def _read_only(z):
    out = np.empty_like(z)
    out.flags.writeable = False
    return out


@pytest.mark.parametrize("what, make, error", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_the_compiled_loop_refuses_what_it_cannot_read_safely(what, make, error):
    z = np.linspace(-1, 1, 64, dtype=np.float32)
    args = make(z)
    with pytest.raises(error, match="nn kernel: argument"):
        kernels._fused.relu_forward_f32(*args)


def test_bias_add_refuses_a_bias_that_does_not_match_the_rows():
    z_t = np.zeros(12, dtype=np.float32)
    with pytest.raises(ValueError, match="not 5 rows"):
        kernels._fused.add_bias_rows_f32(z_t, np.zeros(5, np.float32), 5)
    with pytest.raises(ValueError, match="one per bias entry"):
        kernels._fused.add_bias_rows_f32(z_t, np.zeros(4, np.float32), 3)


class _Spy:
    """Stands in for the compiled module and records which of its loops were called."""

    def __init__(self, module):
        self.module, self.called = module, []

    def __getattr__(self, name):
        loop = getattr(self.module, name)

        def recorded(*args):
            self.called.append(name.rsplit("_", 1)[0])
            return loop(*args)
        return recorded


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grad_order", ["F", "C"])
def test_a_linear_relu_stack_gives_the_same_bits_in_both_forms(monkeypatch, dtype, grad_order):
    """The layers themselves, through the public forward/backward, whichever form runs. Linear's
    output is F-ordered (z^T viewed back); a gradient in that order runs the compiled backward,
    one in C order the NumPy form: the spy says which ran, so neither case tests NumPy twice."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 7)).astype(dtype)
    grad = np.asarray(rng.normal(size=(16, 9)).astype(dtype), order=grad_order)

    def run():
        layer, relu = Linear(7, 9, rng=0, dtype=dtype), ReLU()
        layer.b.data[:] = np.linspace(-1, 1, 9)
        y = relu.forward(layer.forward(x))
        return y, layer.backward(relu.backward(grad)), layer.W.grad.copy(), layer.b.grad.copy()

    spy = _Spy(kernels._fused)
    monkeypatch.setattr(kernels, "_fused", spy)
    monkeypatch.setattr(kernels, "_LOOPS", {})
    compiled = run()
    expected = {"add_bias_rows", "relu_forward"} | ({"relu_backward"} if grad_order == "F" else set())
    assert set(spy.called) == expected
    monkeypatch.setattr(kernels, "_fused", None)
    for a, b in zip(compiled, run(), strict=True):
        same_bits(np.asarray(a), np.asarray(b))


def test_shapes_that_do_not_match_are_refused_before_any_loop():
    """The compiled loops see flat vectors: a gradient or bias of the right size but the wrong
    shape would be read in the wrong places, so the wrappers compare shapes first."""
    mask = np.ones((4, 6), dtype=bool)
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 6\) for activations of shape "
                                         r"\(4, 6\)"):
        kernels.relu_backward(grad_y=np.ones((1, 6), np.float32), on=mask)  # would broadcast in NumPy
    with pytest.raises(ValueError, match=r"gradient of shape \(6, 4\)"):
        kernels.relu_backward(grad_y=np.ones((6, 4), np.float32), on=mask)  # same size, transposed
    z_t = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match=r"bias of shape \(4, 1\) for 4 output units"):
        kernels.add_bias_rows(z_t, np.zeros((4, 1), np.float32))
    with pytest.raises(ValueError, match=r"bias of shape \(6,\) for 4 output units"):
        kernels.add_bias_rows(z_t, np.zeros(6, np.float32))
    assert not z_t.any()


def test_misaligned_arrays_run_the_numpy_form():
    """A float32 view at an odd byte offset is contiguous but not aligned: not for the C loop."""
    raw = np.zeros(4 * 24 + 1, dtype=np.uint8)
    z = raw[1:].view(np.float32).reshape(4, 6)
    z[...] = np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6)
    assert not z.flags.aligned and z.flags.c_contiguous
    assert kernels._memory_order(z) is None and kernels.all_finite(z) is None
    y, mask = kernels.relu_forward(z=z)
    np.testing.assert_array_equal(y, np.maximum(z, 0))


# --- softmax cross-entropy with class indices -------------------------------------------------
def logits(dtype, order, n=33, c=7, seed=6, offset=0.0):
    rng = np.random.default_rng(seed)
    z = (rng.normal(scale=4.0, size=(n, c)) + offset).astype(dtype)
    return np.asarray(z, order=order), rng.integers(0, c, n).astype(np.intp)


def reference_xent(z, labels):
    """The definition in float64: sum_i -log softmax(z_i)_{c_i}, and softmax itself."""
    from scipy.special import log_softmax
    log_p = log_softmax(z.astype(np.float64), axis=1)
    return -log_p[np.arange(len(z)), labels].sum(), np.exp(log_p)


TOLERANCE = {np.float32: 2e-6, np.float64: 1e-13}


def xent(z, labels, p):
    """The summed loss, filling p: the compiled loop, or where it does not apply (the "numpy"
    form, other label types) the readable form CrossEntropy runs then."""
    loss = kernels.softmax_cross_entropy(z=z, labels=labels, p=p)
    if loss is not None:
        return loss
    ce = CrossEntropy(reduction="sum")
    with_fast = kernels.FAST
    kernels.FAST = False
    try:
        loss = ce(z, labels)
    finally:
        kernels.FAST = with_fast
    p[...] = ce.p
    return loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("offset", [0.0, 1e3, -1e3])  # exp(z) alone would overflow at 1e3
def test_softmax_cross_entropy_is_the_log_sum_exp_definition(form, dtype, order, offset):
    z, labels = logits(dtype, order, offset=offset)
    p = np.empty_like(z)
    loss = xent(z, labels, p)
    expected_loss, expected_p = reference_xent(z, labels)
    assert loss == pytest.approx(expected_loss, rel=TOLERANCE[dtype] * 10)
    np.testing.assert_allclose(p, expected_p, rtol=TOLERANCE[dtype] * 10, atol=1e-30)
    assert p.flags.f_contiguous == (order == "F")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ORDERS)
def test_softmax_cross_entropy_forms_agree_to_a_few_ulp_and_the_gradient_to_the_bit(monkeypatch,
                                                                                     dtype, order):
    z, labels = logits(dtype, order)
    p_c, p_n = np.empty_like(z), np.empty_like(z)
    loss_c = xent(z, labels, p_c)
    grad_c = kernels.softmax_cross_entropy_grad(p=p_c, labels=labels, scale=1 / 33)
    monkeypatch.setattr(kernels, "_fused", None)
    loss_n = xent(z, labels, p_n)
    grad_n = kernels.softmax_cross_entropy_grad(p=p_c, labels=labels, scale=1 / 33)  # the same p: same bits
    assert loss_c == pytest.approx(loss_n, rel=TOLERANCE[dtype])
    np.testing.assert_allclose(p_c, p_n, rtol=TOLERANCE[dtype], atol=0)
    same_bits(grad_c, grad_n)
    expected = p_c.astype(np.float64) / 33
    expected[np.arange(len(z)), labels] = (p_c[np.arange(len(z)), labels] - dtype(1)) * dtype(1 / 33)
    np.testing.assert_allclose(grad_c, expected, rtol=TOLERANCE[dtype])


def test_softmax_cross_entropy_loop_refuses_bad_labels_and_sizes():
    z = np.zeros((4, 3), dtype=np.float32)
    p = np.empty_like(z)
    with pytest.raises(IndexError, match="class index 3 is out of range for 3 classes"):
        kernels._fused.softmax_xent_f32(z.ravel(), p.ravel(), np.array([0, 1, 2, 3]), 4, 3, False)
    with pytest.raises(IndexError, match="class index -1"):
        kernels._fused.softmax_xent_grad_f32(p.ravel(), z.ravel(), np.array([0, -1, 2, 1]), 0.5,
                                             4, 3, False)
    with pytest.raises(ValueError, match="do not hold 4 x 3 values and 4 class indices"):
        kernels._fused.softmax_xent_f32(z.ravel(), p.ravel(), np.array([0, 1, 2]), 4, 3, False)
    with pytest.raises(TypeError, match="argument 2 has element format .i., expected intp"):
        kernels._fused.softmax_xent_f32(z.ravel(), p.ravel(), np.zeros(4, np.int32), 4, 3, False)
    with pytest.raises(ValueError, match="overlap"):
        kernels._fused.softmax_xent_f32(z.ravel(), z.ravel(), np.zeros(4, np.intp), 4, 3, False)


def test_softmax_sizes_whose_product_overflows_are_refused():
    """n * c is compared with the buffers' lengths: it must not wrap round first. 4 x 2^62 wraps
    to 0, the length of empty buffers, and four class indices of 0 are all in range: without the
    guard the loop would read logits that are not there."""
    z = np.zeros(0, dtype=np.float32)
    with pytest.raises(ValueError, match="softmax needs rows and classes"):
        kernels._fused.softmax_xent_f32(z, np.empty_like(z), np.zeros(4, np.intp), 4, 2**62, False)
    with pytest.raises(ValueError, match="softmax needs rows and classes"):
        kernels._fused.softmax_xent_f32(z, np.empty_like(z), np.zeros(0, np.intp), 0, 4, False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_empty_batch_is_a_clear_error(dtype):
    from handgrad.nn import get_loss
    for reduction in ("sum", "mean"):  # mean divided by zero before
        loss = get_loss("cross_entropy", reduction=reduction)
        with pytest.raises(ShapeError, match=r"prediction z is empty \(shape \(0, 5\)\)"):
            loss(np.zeros((0, 5), dtype), np.zeros(0, np.int64))


@pytest.mark.parametrize("order", ORDERS)
def test_a_thousand_classes_stay_within_tens_of_ulp_of_numpy(monkeypatch, order):
    """The C loop sums a row in order, NumPy pairwise: with many classes the sums' rounding
    differs most; the documented bound is tens of ulp in float32."""
    z, labels = logits(np.float32, order, n=64, c=1000, seed=8)
    p_c, p_n = np.empty_like(z), np.empty_like(z)
    loss_c = xent(z, labels, p_c)
    monkeypatch.setattr(kernels, "_fused", None)
    loss_n = xent(z, labels, p_n)
    ulp = np.spacing(np.abs(p_n))
    assert np.abs(p_c - p_n).max() > 0  # the forms do differ here: the bound below is not idle
    assert (np.abs(p_c - p_n) / ulp).max() <= 128
    assert loss_c == pytest.approx(loss_n, rel=1e-5)
    expected_loss, expected_p = reference_xent(z, labels)
    np.testing.assert_allclose(p_c, expected_p, rtol=2e-5, atol=1e-30)


def test_labels_of_another_integer_type_run_the_numpy_form():
    z, labels = logits(np.float32, "F")
    p, q = np.empty_like(z), np.empty_like(z)
    loss = xent(z, labels.astype(np.int32), p)
    assert loss == pytest.approx(xent(z, labels, q), rel=2e-6)
