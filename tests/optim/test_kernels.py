"""The fast forms of the update rules (optim/kernels.py: the compiled C loop and the in-place NumPy
chain) against the readable rules beside the optimizers (sgd.py, adaptive.py), in float32 and
float64, and against each other.

Bit for bit: SGD, torch's momentum and Nesterov, the notes' momentum and Nesterov, AdaGrad and
RMSProp, whose fast forms do the readable operations in the same order. Within a stated bound:
Adam/AdamW and centred RMSProp, whose fast forms arrange the arithmetic as torch.optim does
(m moved by lerp, m <- m + (1 - beta1)(g - m); the bias corrections folded into
eta / (1 - beta1^t) and sqrt(1 - beta2^t)). For one Adam step:

    |m_fast - m_rule| <= 2 eps_dtype (beta1 |m| + (1 - beta1) |g|)        (2 ulp of its terms)
    v_fast == v_rule                                                      (the same operations)
    |W_fast - W_rule| <= ulp(W) + 4 eps_dtype S,   S = eta (beta1 |m| + (1 - beta1) |g|) /
                                                       ((1 - beta1^t) (sqrt(v_hat) + eps))

(S is the size the step's terms have; measured at most 1.6 and 2.3 of those bounds.)

The float32 checks can fail: a kernel computing in float64 and rounding once at the end differs
from the float32 rule (asserted below).
"""

import platform

import numpy as np
import pytest

from handgrad.optim import kernels
from handgrad.optim.adaptive import adagrad, adam, adamw, rmsprop
from handgrad.optim.sgd import momentum, nesterov, sgd, sgd_momentum


def test_the_compiled_loops_were_built():
    """CI has a C compiler: the fast path must exist there, or the tests below test NumPy twice."""
    assert kernels.FUSED, ("handgrad.optim._fused was not built "
                           "(pip install -e . needs a C compiler)")


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
    """W, g and three state vectors (the last positive, as second moments are)."""
    rng = np.random.default_rng(seed)
    W, g, a, b = (rng.normal(size=n).astype(dtype) for _ in range(4))
    v = (rng.random(n) + 0.01).astype(dtype)
    return W, g, a, b, v


def same(fast, rule, dtype):
    for x, y in zip(fast, rule, strict=True):
        assert x.dtype == dtype
        np.testing.assert_array_equal(x, y)


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_is_the_rule(form, dtype):
    W, g, *_ = vectors(dtype)
    expected = sgd(W, g, eta=0.05)
    kernels.sgd(W, g, eta=0.05)
    same([W], [expected], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov_", [False, True])
@pytest.mark.parametrize("first", [True, False])
def test_torch_momentum_is_the_rule(form, dtype, nesterov_, first):
    W, g, b, *_ = vectors(dtype)
    options = dict(eta=0.05, mu=0.9, tau=0.0 if nesterov_ else 0.3, nesterov=nesterov_,
                   first=first)
    expected = sgd_momentum(W, g, b, **options)
    kernels.sgd_momentum(W, g, b, **options)
    same([W, b], expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule, kernel", [(momentum, kernels.momentum),
                                          (nesterov, kernels.nesterov)],
                         ids=["momentum", "nesterov"])
def test_the_notes_momentum_and_nesterov_are_the_rule(form, dtype, rule, kernel):
    W, g, delta_W, *_ = vectors(dtype)
    expected = rule(W, g, delta_W, eta=0.05, beta=0.9)
    kernel(W, g, delta_W, eta=0.05, beta=0.9)
    same([W, delta_W], expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adagrad_is_the_rule(form, dtype):
    W, g, _, _, v = vectors(dtype)
    expected = adagrad(W, g, v, eta=0.1, eps=1e-10)
    kernels.adagrad(W, g, v, eta=0.1, eps=1e-10)
    same([W, v], expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mu", [0.0, 0.9])
def test_rmsprop_is_the_rule(form, dtype, mu):
    W, g, _, b, v = vectors(dtype)
    options = dict(eta=0.01, alpha=0.99, eps=1e-8)
    expected_W, expected_v, _, expected_b = rmsprop(W, g, v, b=b, mu=mu, **options)
    b = b if mu else b[:0].copy()
    kernels.rmsprop(W, g, v, W[:0].copy(), b, mu=mu, centered=False, **options)
    same([W, v] + ([b] if mu else []), [expected_W, expected_v] + ([expected_b] if mu else []),
         dtype)


def ulp_bound_holds(fast, rule, scale, ulps):
    """|fast - rule| <= ulp(fast) + ulps eps scale, elementwise."""
    eps = np.finfo(fast.dtype).eps
    excess = np.abs(fast.astype(float) - rule) - np.spacing(np.abs(fast))
    return bool(np.all(excess <= ulps * eps * scale))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t", [1, 3, 1000])
@pytest.mark.parametrize("variant", ["adam", "amsgrad", "adamw", "adamw-masked"])
def test_adam_is_the_rule_within_the_stated_bound(form, dtype, t, variant):
    W, g, m, _, v = vectors(dtype, seed=t)
    eta, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
    v_max = v * dtype(1.5) if variant == "amsgrad" else None
    M = (np.arange(W.size) % 3 != 0).astype(dtype) if variant == "adamw-masked" else None
    options = dict(t=t, eta=eta, beta1=beta1, beta2=beta2, eps=eps)
    if variant.startswith("adamw"):
        rule = adamw(W, g, m, v, weight_decay=0.1, M=1.0 if M is None else M, **options)
    else:
        rule = adam(W, g, m, v, v_max=v_max, **options)
    terms = beta1 * np.abs(m.astype(float)) + (1 - beta1) * np.abs(g.astype(float))
    fast = [x.copy() for x in (W, m, v)] + [v_max.copy() if v_max is not None else W[:0].copy()]
    kernels.adam(*fast[:1], g, *fast[1:], amsgrad=variant == "amsgrad",
                 weight_decay=0.1 if variant.startswith("adamw") else 0.0, mask=M, **options)
    assert all(x.dtype == dtype for x in fast)
    np.testing.assert_array_equal(fast[2], rule[2])                       # v
    if v_max is not None:
        np.testing.assert_array_equal(fast[3], rule[3])
    assert ulp_bound_holds(fast[1], rule[1], terms, 2)                    # m
    v_hat = (fast[3] if v_max is not None else fast[2]).astype(float) / (1 - beta2**t)
    S = eta * terms / ((1 - beta1**t) * (np.sqrt(v_hat) + eps))
    assert ulp_bound_holds(fast[0], rule[0], S, 4)                        # W
    assert not np.array_equal(fast[0], W)


@pytest.mark.parametrize("dtype", DTYPES)
def test_centred_rmsprop_is_the_rule_within_a_few_ulp(form, dtype):
    W, g, m, b, v = vectors(dtype)
    m = m * dtype(0.01)   # keep v - m^2 well away from 0, where any rounding is magnified
    options = dict(eta=0.01, alpha=0.99, eps=1e-8, mu=0.9)
    rule = rmsprop(W, g, v, m=m, b=b, **options)
    fast = [x.copy() for x in (W, v, m, b)]
    kernels.rmsprop(fast[0], g, fast[1], fast[2], fast[3], centered=True, **options)
    np.testing.assert_array_equal(fast[1], rule[1])
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(fast[2] - rule[2]) <= 2 * eps * (0.99 * np.abs(m) + 0.01 * np.abs(g)))
    step = np.abs(rule[3] - dtype(0.9) * b) + np.abs(dtype(0.9) * b)
    assert ulp_bound_holds(fast[3], rule[3], step, 4)
    assert ulp_bound_holds(fast[0], rule[0], 0.01 * step, 4)


def test_float32_kernel_does_not_compute_in_float64(form):
    W, g, m, _, v = vectors(np.float32)
    rule64 = adam(*(x.astype(np.float64) for x in (W, g, m, v)), 3, eta=1e-3, beta1=0.9,
                  beta2=0.999, eps=1e-8)
    kernels.adam(W, g, m, v, W[:0].copy(), t=3, eta=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    assert np.any(W != rule64[0].astype(np.float32))


def test_amsgrad_maximum_keeps_nan_as_numpy_does(form):
    W, g, m, _, v = vectors(np.float32, n=4)
    v_max = np.array([np.nan, 0.0, np.nan, 0.0], np.float32)
    kernels.adam(W, g, m, v, v_max, t=1, eta=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 amsgrad=True)
    assert np.isnan(v_max[[0, 2]]).all() and np.isnan(W[[0, 2]]).all()
    assert np.isfinite(v_max[[1, 3]]).all() and np.isfinite(W[[1, 3]]).all()


def bad_adam_calls():
    """(description, W, g, expected error): vectors the C loop must refuse before touching
    memory, where reading them as float32 vectors of W's length would be wrong."""
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


@pytest.mark.parametrize("what, W, g, error", bad_adam_calls(),
                         ids=[c[0] for c in bad_adam_calls()])
def test_the_compiled_loop_refuses_what_it_cannot_read_safely(what, W, g, error):
    loop = kernels._fused.adam_f32
    before = W.copy()
    with pytest.raises(error, match="fused update: argument"):
        loop(W, g, np.zeros_like(before), np.zeros_like(before), before[:0].copy(),
             1e-3, 0.1, 0.999, 0.001, 0.5, 1e-8, False, 0.0, before[:0].copy())
    np.testing.assert_array_equal(W, before)


def test_unused_state_may_be_empty_but_used_state_may_not():
    W, g, m, _, v = vectors(np.float32, n=8)
    with pytest.raises(ValueError, match="argument 4 holds 0 elements"):
        kernels._fused.adam_f32(W, g, m, v, W[:0].copy(), 1e-3, 0.1, 0.999, 0.001, 0.5,
                                1e-8, True, 0.0, W[:0].copy())
    with pytest.raises(ValueError, match="argument 3 holds 0 elements"):
        kernels._fused.rmsprop_f32(W, g, v, W[:0].copy(), W[:0].copy(), 0.01, 0.99,
                                   0.01, 1e-8, 0.0, True, False)


def test_dtypes_without_a_compiled_loop_run_the_numpy_form():
    """A big-endian model (what a file written elsewhere may hold) updates as a native one."""
    W, g, m, _, v = vectors(np.float64, n=16)
    options = dict(t=2, eta=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    big = [x.astype(">f8") for x in (W, g, m, v)]
    kernels.adam(*big[:2], *big[2:], big[0][:0].copy(), **options)
    kernels.adam(W, g, m, v, W[:0].copy(), **options)
    for x, y in zip((big[0], big[2], big[3]), (W, m, v), strict=True):
        assert x.dtype == np.dtype(">f8")
        np.testing.assert_array_equal(x, y)


def test_a_decay_mask_of_the_wrong_length_is_refused():
    W, g, m, _, v = vectors(np.float32, n=8)
    with pytest.raises(ValueError, match="decay mask"):
        kernels._fused.adam_f32(W, g, m, v, W[:0].copy(), 1e-3, 0.1, 0.999, 0.001, 0.5,
                                1e-8, False, 1e-4, np.ones(7, np.float32))


# --- subnormals: the compiled loops flush them (x86), the NumPy forms keep them ----------------
def _adam_call(W, g, m, v, eps=1e-8):
    kernels.adam(W, g, m, v, v[:0], t=1000, eta=1e-3, beta1=0.9, beta2=0.999, eps=eps)


def _momentum_call(W, g, m, v):
    kernels.sgd_momentum(W, g, m, eta=0.01, mu=0.9, tau=0.0, nesterov=False, first=False)


def _rmsprop_call(W, g, m, v, eps=1e-8):
    kernels.rmsprop(W, g, v, m[:0], m[:0], eta=1e-3, alpha=0.99, eps=eps, mu=0.0,
                    centered=False)


def _adagrad_call(W, g, m, v, eps=1e-10):
    kernels.adagrad(W, g, v, eta=1e-2, eps=eps)


X86 = platform.machine() in ("x86_64", "AMD64")


def _stuck_state(dtype):
    """Vectors whose first 8 entries are where a rule gets stuck: state a few subnormal steps
    above 0, gradient 0 (0.9 m rounds back to m)."""
    W, g, m, _, v = vectors(dtype, n=64, seed=9)
    tiny = np.finfo(dtype).smallest_subnormal
    m[:8], g[:8], v[:8] = tiny * np.arange(1, 9), 0, tiny * np.arange(1, 9)
    return W, g, m, v


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
@pytest.mark.parametrize("dtype", DTYPES)
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
@pytest.mark.parametrize("dtype", DTYPES)
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
    "sgd": lambda W, g, m, v: kernels.sgd(W, g, eta=0.1),
    "add_scaled": lambda W, g, m, v: kernels.add_scaled(W, g, alpha=0.9),
    "sgd_momentum": _momentum_call,
    "momentum": lambda W, g, m, v: kernels.momentum(W, g, m, eta=0.1, beta=0.9),
    "nesterov": lambda W, g, m, v: kernels.nesterov(W, g, m, eta=0.1, beta=0.9),
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


@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_sgd_keeps_subnormals_as_numpy_does(monkeypatch, dtype):
    """Plain SGD holds no decaying state, and flushing its pass measured no faster, so its loop
    does not flush: a weight at 0 moved by a subnormal step gets it, in both forms."""
    W, g, *_ = vectors(dtype, n=64, seed=3)
    tiny = np.finfo(dtype).smallest_subnormal
    W[:8], g[:8] = 0, tiny * np.arange(2, 18, 2)
    compiled, numpy_form = _both_forms(monkeypatch, lambda W, g: kernels.sgd(W, g, eta=0.5),
                                       [W, g])
    assert (compiled[0][:8] != 0).all()
    _same_bits(compiled[0], numpy_form[0])
    np.testing.assert_array_equal(compiled[0], sgd(W, g, eta=0.5))
