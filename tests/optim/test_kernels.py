"""Each update kernel, in both its forms (the compiled C loop and the NumPy reference), equals its
rule written out as NumPy operations in the same order, in the vectors' own dtype: bit for bit in
float32 and float64 (both use IEEE-rounded +, *, /, sqrt and no fused multiply-add).

The float32 check can fail: the same rule computed in float64 and rounded once at the end differs
from it (asserted below), so a kernel whose coefficients promoted it to float64 would not pass.
"""

import platform

import numpy as np
import pytest

from handgrad.optim import kernels


def test_the_compiled_loops_were_built():
    """CI has a C compiler: the fast path must exist there, or the tests below test NumPy twice."""
    assert kernels.FUSED, "handgrad.optim._fused was not built (pip install -e . needs a C compiler)"


def use_numpy_forms(monkeypatch):
    """What an install without a C compiler runs: no C module, FUSED False."""
    monkeypatch.setattr(kernels, "_fused", None)
    monkeypatch.setattr(kernels, "FUSED", False)


@pytest.fixture(params=["compiled", "numpy"])
def form(request, monkeypatch):
    if request.param == "numpy":
        use_numpy_forms(monkeypatch)
    return request.param


def vectors(dtype, n=4099, seed=0):
    """theta, g and three state vectors (the last positive, as second moments are)."""
    rng = np.random.default_rng(seed)
    theta, g, a, b = (rng.normal(size=n).astype(dtype) for _ in range(4))
    v = (rng.random(n) + 0.01).astype(dtype)
    return theta, g, a, b, v


def adam_rule(theta, g, m, v, vmax, step_size, c1, b2, c2, bc2s, eps, amsgrad):
    m = m + c1 * (g - m)
    v = b2 * v + c2 * (g * g)
    vmax = np.maximum(vmax, v) if amsgrad else vmax
    denom = np.sqrt(vmax if amsgrad else v) / bc2s + eps
    return theta - step_size * (m / denom), m, v, vmax


def run_adam(dtype, amsgrad, rule_dtype=None):
    theta, g, m, _, v = vectors(dtype)
    vmax = v * dtype(0.5)
    f = np.dtype(rule_dtype or dtype).type
    coeffs = (f(1e-3 / (1 - 0.9**3)), f(0.1), f(0.999), f(0.001), f(np.sqrt(1 - 0.999**3)),
              f(1e-8), amsgrad)
    expected = adam_rule(*(x.astype(f) for x in (theta, g, m, v, vmax)), *coeffs)
    if not amsgrad:
        vmax = vmax[:0].copy()   # unused: an empty vector, as Adam passes it
    kernels.adam(theta, g, m, v, vmax, *(dtype(c) for c in coeffs[:-1]), amsgrad)
    return (theta, m, v, vmax), expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_kernel_is_the_rule(form, dtype, amsgrad):
    got, expected = run_adam(dtype, amsgrad)
    if not amsgrad:  # the running maximum is neither read nor written
        got, expected = got[:3], expected[:3]
    for x, y in zip(got, expected, strict=True):
        assert x.dtype == dtype
        np.testing.assert_array_equal(x, y)


def test_float32_kernel_does_not_compute_in_float64(form):
    (theta, _, _, _), expected64 = run_adam(np.float32, False, rule_dtype=np.float64)
    assert np.any(theta != expected64[0].astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_and_momentum_kernels(form, dtype):
    f = dtype
    theta, g, b, dw, _ = vectors(dtype)
    lr, mu, damp = f(0.05), f(0.9), f(0.7)
    for nesterov in (False, True):
        for first in (True, False):
            t, bb = theta.copy(), b.copy()
            kernels.sgd_momentum(t, g, bb, lr, mu, damp, nesterov, first)
            b_new = g if first else mu * b + damp * g
            np.testing.assert_array_equal(bb, b_new)
            np.testing.assert_array_equal(t, theta - lr * (g + mu * b_new if nesterov else b_new))
    t, d = theta.copy(), dw.copy()
    kernels.momentum(t, g, d, lr, mu)
    np.testing.assert_array_equal(d, mu * dw - lr * g)
    np.testing.assert_array_equal(t, theta + (mu * dw - lr * g))
    t, d = theta.copy(), dw.copy()
    kernels.nesterov_correct(t, g, d, lr, mu)
    np.testing.assert_array_equal(t, theta - lr * g)
    np.testing.assert_array_equal(d, mu * dw - lr * g)
    t = theta.copy()
    kernels.add_scaled(t, -lr, g)
    np.testing.assert_array_equal(t, theta + (-lr) * g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_kernel(form, dtype):
    theta, g, _, _, v = vectors(dtype)
    lr, eps = dtype(0.1), dtype(1e-10)
    t, s = theta.copy(), v.copy()
    kernels.adagrad(t, g, s, lr, eps)
    np.testing.assert_array_equal(s, v + g * g)
    np.testing.assert_array_equal(t, theta - lr * (g / (np.sqrt(v + g * g) + eps)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("centered, with_momentum", [(False, False), (True, False),
                                                     (False, True), (True, True)])
def test_rmsprop_kernel(form, dtype, centered, with_momentum):
    theta, g, m, buf, v = vectors(dtype)
    m = m * dtype(0.01)   # keep v - m^2 positive
    lr, alpha, c, eps, mu = (dtype(x) for x in (0.01, 0.99, 0.01, 1e-8, 0.9))
    t, sq, ga, bb = theta.copy(), v.copy(), m.copy(), buf.copy()
    kernels.rmsprop(t, g, sq, ga if centered else ga[:0], bb if with_momentum else bb[:0],
                    lr, alpha, c, eps, mu, centered, with_momentum)
    v_new = alpha * v + c * (g * g)
    np.testing.assert_array_equal(sq, v_new)
    a = v_new
    if centered:
        m_new = m + c * (g - m)
        np.testing.assert_array_equal(ga, m_new)
        a = v_new - m_new * m_new
    step = g / (np.sqrt(a) + eps)
    if with_momentum:
        step = mu * buf + step
        np.testing.assert_array_equal(bb, step)
    np.testing.assert_array_equal(t, theta - lr * step)


def test_amsgrad_maximum_keeps_nan_as_numpy_does(form):
    theta, g, m, _, v = vectors(np.float32, n=4)
    vmax = np.array([np.nan, 0.0, np.nan, 0.0], np.float32)
    kernels.adam(theta, g, m, v, vmax, 1e-3, 0.1, 0.999, 0.001, 0.5, 1e-8, True)
    assert np.isnan(vmax[[0, 2]]).all() and np.isnan(theta[[0, 2]]).all()
    assert np.isfinite(vmax[[1, 3]]).all() and np.isfinite(theta[[1, 3]]).all()


def bad_adam_calls():
    """(description, theta, g, expected error): vectors the C loop must refuse before touching
    memory, where reading them as float32 vectors of theta's length would be wrong."""
    n = 64
    f32 = lambda k=n: np.zeros(k, np.float32)   # noqa: E731
    read_only = f32()
    read_only.flags.writeable = False
    shared = f32(2 * n)
    return [
        ("short gradient", f32(), f32(n - 1), ValueError),
        ("float64 gradient", f32(), np.zeros(n, np.float64), TypeError),
        ("float64 gradient of the same byte length", f32(), np.zeros(n // 2, np.float64),
         TypeError),
        ("big-endian gradient", f32(), np.zeros(n, ">f4"), TypeError),
        ("strided gradient", f32(), f32(2 * n)[::2], TypeError),
        ("bytes as gradient", f32(), bytes(4 * n), TypeError),
        ("read-only parameters", read_only, f32(), TypeError),
        ("gradient overlapping the parameters", shared[:n], shared[n // 2:n // 2 + n], ValueError),
    ]


@pytest.mark.parametrize("what, theta, g, error", bad_adam_calls(),
                         ids=[c[0] for c in bad_adam_calls()])
def test_the_compiled_loop_refuses_what_it_cannot_read_safely(what, theta, g, error):
    loop = kernels._fused.adam_f32
    before = theta.copy()
    with pytest.raises(error, match="fused update: argument"):
        loop(theta, g, np.zeros_like(before), np.zeros_like(before), before[:0].copy(),
             1e-3, 0.1, 0.999, 0.001, 0.5, 1e-8, False, 0.0, before[:0].copy())
    np.testing.assert_array_equal(theta, before)


def test_unused_state_may_be_empty_but_used_state_may_not():
    theta, g, m, _, v = vectors(np.float32, n=8)
    with pytest.raises(ValueError, match="argument 4 holds 0 elements"):
        kernels._fused.adam_f32(theta, g, m, v, theta[:0].copy(), 1e-3, 0.1, 0.999, 0.001, 0.5,
                                1e-8, True, 0.0, theta[:0].copy())
    with pytest.raises(ValueError, match="argument 3 holds 0 elements"):
        kernels._fused.rmsprop_f32(theta, g, v, theta[:0].copy(), theta[:0].copy(), 0.01, 0.99,
                                   0.01, 1e-8, 0.0, True, False)


def test_dtypes_without_a_compiled_loop_run_the_numpy_form():
    """A big-endian model (what a file written elsewhere may hold) updates correctly."""
    theta, g, m, _, v = vectors(np.float64, n=16)
    expected = adam_rule(theta, g, m, v, v, 1e-3, 0.1, 0.999, 0.001, 0.5, 1e-8, False)
    big = [x.astype(">f8") for x in (theta, g, m, v)]
    kernels.adam(*big, big[0][:0].copy(), 1e-3, 0.1, 0.999, 0.001, 0.5, 1e-8, False)
    for x, y in zip(big[:1] + big[2:], (expected[0], expected[1], expected[2]), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [False, True])
def test_adamw_decay_is_folded_into_the_adam_pass(form, dtype, masked):
    """W <- W - (M W) eta lambda, then Adam's step: AdamW in one pass, the same bits as the two."""
    theta, g, m, _, v = vectors(dtype)
    mask = (np.arange(theta.size) % 3 != 0).astype(dtype) if masked else None
    decay = dtype(1e-3 * 0.1)
    coeffs = tuple(dtype(c) for c in (1e-3 / (1 - 0.9**3), 0.1, 0.999, 0.001,
                                      np.sqrt(1 - 0.999**3), 1e-8))
    decayed = theta - (theta * (mask if masked else 1)) * decay
    if masked:  # biases (M = 0) keep their value, weights shrink
        assert np.array_equal(decayed[mask == 0], theta[mask == 0])
        assert np.all(np.abs(decayed[mask == 1]) <= np.abs(theta[mask == 1]))
    expected = adam_rule(decayed, g, m, v, v, *coeffs, False)
    kernels.adam(theta, g, m, v, theta[:0].copy(), *coeffs, False, decay=decay, mask=mask)
    for x, y in zip((theta, m, v), expected[:3], strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_decay_mask_of_the_wrong_length_is_refused():
    theta, g, m, _, v = vectors(np.float32, n=8)
    with pytest.raises(ValueError, match="decay mask"):
        kernels._fused.adam_f32(theta, g, m, v, theta[:0].copy(), 1e-3, 0.1, 0.999, 0.001, 0.5,
                                1e-8, False, 1e-4, np.ones(7, np.float32))


# --- subnormals: the compiled loops flush them (x86), the NumPy forms keep them ----------------
def _adam_call(theta, g, m, v, eps=1e-8):
    kernels.adam(theta, g, m, v, v[:0], 1e-3, 0.1, 0.999, 0.001, 1.0, eps, False)


def _momentum_call(theta, g, m, v):
    kernels.sgd_momentum(theta, g, m, 0.01, 0.9, 1.0, False, False)


def _rmsprop_call(theta, g, m, v, eps=1e-8):
    kernels.rmsprop(theta, g, v, m[:0], m[:0], 1e-3, 0.99, 0.01, eps, 0.0, False, False)


def _adagrad_call(theta, g, m, v, eps=1e-10):
    kernels.adagrad(theta, g, v, 1e-2, eps)


X86 = platform.machine() in ("x86_64", "AMD64")


def _stuck_state(dtype):
    """Vectors whose first 8 entries are where a rule gets stuck: state a few subnormal steps
    above 0, gradient 0 (0.9 m rounds back to m)."""
    theta, g, m, _, v = vectors(dtype, n=64, seed=9)
    tiny = np.finfo(dtype).smallest_subnormal
    m[:8], g[:8], v[:8] = tiny * np.arange(1, 9), 0, tiny * np.arange(1, 9)
    return theta, g, m, v


def _both_forms(monkeypatch, update, args):
    compiled, numpy_form = [a.copy() for a in args], [a.copy() for a in args]
    update(*compiled)
    with monkeypatch.context() as patch:
        use_numpy_forms(patch)
        update(*numpy_form)
    return compiled, numpy_form


def _same_bits(a, b):
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


@pytest.mark.parametrize("update", [_adam_call, _momentum_call], ids=["adam", "momentum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_updates_flush_subnormal_state_and_agree_elsewhere(monkeypatch, update, dtype):
    """Where the NumPy rule stays stuck among subnormals the C loop, with flush-to-zero (x86-64,
    where CI runs), gives 0; elsewhere it keeps them as NumPy does. Every entry no subnormal
    enters is the same bits in both forms."""
    compiled, numpy_form = _both_forms(monkeypatch, update, _stuck_state(dtype))
    m_c, m_n = compiled[2], numpy_form[2]
    assert (m_n[:8] != 0).all() and (np.abs(m_n[:8]) < np.finfo(dtype).tiny).all()  # stuck
    if X86:
        assert (m_c[:8] == 0).all()  # flushed
    else:
        _same_bits(m_c[:8], m_n[:8])  # no flush-to-zero here: kept, as in NumPy
    for c, n in zip(compiled, numpy_form):
        _same_bits(c[8:], n[8:])


@pytest.mark.parametrize("update", [_adam_call, _rmsprop_call, _adagrad_call],
                         ids=["adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_with_eps_zero_nothing_is_flushed_and_no_nan_appears(monkeypatch, update, dtype):
    """A flushed second moment with eps = 0 would make the step 0 / 0 = NaN: with eps 0 (or
    subnormal) the loops keep subnormals, and both forms agree to the bit."""
    for eps in (0.0, float(np.finfo(dtype).smallest_subnormal)):
        compiled, numpy_form = _both_forms(monkeypatch, lambda *a: update(*a, eps=eps),
                                           _stuck_state(dtype))
        assert np.isfinite(compiled[0]).all()
        for c, n in zip(compiled, numpy_form):
            _same_bits(c, n)


CALLS = {
    "add_scaled": lambda t, g, m, v: kernels.add_scaled(t, -0.1, g),
    "sgd_momentum": _momentum_call,
    "momentum": lambda t, g, m, v: kernels.momentum(t, g, m, 0.1, 0.9),
    "nesterov_correct": lambda t, g, m, v: kernels.nesterov_correct(t, g, m, 0.1, 0.9),
    "adagrad": _adagrad_call,
    "rmsprop": _rmsprop_call,
    "adam": _adam_call,
}


@pytest.mark.parametrize("name", CALLS)
def test_every_compiled_update_restores_the_threads_float_mode(name):
    """The flush is the loop's alone: afterwards this thread's arithmetic makes subnormals again
    (the product is compared with one computed before any loop ran)."""
    tiny = np.finfo(np.float32).smallest_subnormal
    expected = np.multiply(np.float32(tiny), np.float32(3))
    assert expected != 0
    CALLS[name](*_stuck_state(np.float32))
    assert np.multiply(np.float32(tiny), np.float32(3)) == expected
