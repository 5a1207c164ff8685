"""Every activation's backward against finite differences, and softmax against its Jacobian
diag(y) - y y^T (001, "Example Vector Activation: Softmax"; 004)."""

import numpy as np
import pytest

from handgrad.check import gradcheck
from handgrad.nn import ACTIVATIONS, Maxout, Softmax, get_activation

# name, options, kinks (inputs where the derivative does not exist, kept 0.05 away)
ACTIVATION_CASES = [
    ("identity", {}, ()),
    ("sign", {}, (0.0,)),
    ("sigmoid", {}, ()),
    ("tanh", {}, ()),
    ("relu", {}, (0.0,)),
    ("leaky_relu", {}, (0.0,)),
    ("leaky_relu", {"alpha": 0.2}, (0.0,)),
    ("hard_tanh", {}, (-1.0, 1.0)),
    ("softplus", {}, ()),
    ("elu", {}, (0.0,)),
    ("elu", {"alpha": 0.5}, (0.0,)),
    ("gelu", {}, ()),
    ("softmax", {}, ()),
    ("log_softmax", {}, ()),
]


def test_every_registered_activation_is_in_the_table():
    assert {name for name, _, _ in ACTIVATION_CASES} | {"maxout", "linear"} == set(ACTIVATIONS)


@pytest.mark.parametrize("batch", [1, 6])
@pytest.mark.parametrize("name, options, kinks", ACTIVATION_CASES,
                         ids=[f"{n}{o or ''}" for n, o, _ in ACTIVATION_CASES])
def test_activation_backward_matches_finite_differences(name, options, kinks, batch, rng,
                                                        away_from):
    z = away_from(rng, (batch, 5), kinks)
    report = gradcheck(get_activation(name, **options), z, rng=batch)
    assert report.passed, report


def _maxout_input(rng, batch, groups, pool, gap=0.05):
    """Inputs whose maximum in each pool leads the runner-up by at least ``gap`` (no ties)."""
    z = rng.normal(size=(batch, groups, pool))
    if pool == 1:
        return z.reshape(batch, groups)
    top2 = np.sort(z, axis=2)[..., -2:]
    while (top2[..., 1] - top2[..., 0] < gap).any():
        z = rng.normal(size=(batch, groups, pool))
        top2 = np.sort(z, axis=2)[..., -2:]
    return z.reshape(batch, groups * pool)


@pytest.mark.parametrize("pool", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 4])
def test_maxout_backward_matches_finite_differences(pool, batch, rng):
    z = _maxout_input(rng, batch, groups=3, pool=pool)
    report = gradcheck(Maxout(pool), z)
    assert report.passed, report


def test_maxout_routes_the_gradient_to_the_argmax(rng):
    """The notes' subgradient of max: 1 for the unit attaining the max of its group, 0 otherwise."""
    z = _maxout_input(rng, 2, groups=3, pool=2)
    g = rng.normal(size=(2, 3))
    m = Maxout(2)
    y = m.forward(z)
    grad_z = m.backward(g).reshape(2, 3, 2)
    groups = z.reshape(2, 3, 2)
    winner = groups.argmax(axis=2)
    assert np.array_equal(y, groups.max(axis=2))
    assert np.array_equal(np.take_along_axis(grad_z, winner[..., None], 2)[..., 0], g)
    assert np.array_equal(np.take_along_axis(grad_z, 1 - winner[..., None], 2)[..., 0],
                          np.zeros((2, 3)))


def test_maxout_ties_go_to_the_first_unit():
    m = Maxout(2)
    m.forward(np.array([[1.0, 1.0]]))
    assert np.array_equal(m.backward(np.array([[3.0]])), [[3.0, 0.0]])


def test_sign_passes_no_gradient(rng):
    s = get_activation("sign")
    s.forward(rng.normal(size=(3, 4)))
    assert np.array_equal(s.backward(rng.normal(size=(3, 4))), np.zeros((3, 4)))


# --- softmax and its Jacobian ---------------------------------------------------------------

def _numeric_jacobian(f, z, eps=1e-6):
    """J[i, j] = d f_i / d z_j of a single row z, by central differences."""
    cols = []
    for j in range(z.size):
        e = np.zeros_like(z)
        e[j] = eps
        cols.append((f(z + e) - f(z - e)) / (2 * eps))
    return np.stack(cols, axis=1)


def test_softmax_jacobian_is_diag_y_minus_y_yT(rng):
    z = rng.normal(size=(4, 5))
    s = Softmax()
    y = s.forward(z)
    J = s.jacobian()
    for b in range(4):
        explicit = np.diag(y[b]) - np.outer(y[b], y[b])
        assert np.allclose(J[b], explicit, rtol=0, atol=1e-15)
        # the notes' entries: dy_j/dz_i = y_i (1 - y_i) if i = j, else -y_i y_j
        for i in range(5):
            for j in range(5):
                expected = y[b, i] * (1 - y[b, i]) if i == j else -y[b, i] * y[b, j]
                assert J[b, j, i] == pytest.approx(expected, abs=1e-15)
        numeric = _numeric_jacobian(lambda r: Softmax().forward(r[None])[0], z[b])
        assert np.abs(J[b] - numeric).max() < 1e-9


def test_softmax_backward_is_the_jacobian_vector_product(rng):
    """grad_z = grad_y J_y(z), one row at a time, equals y * (grad_y - <grad_y, y>)."""
    z, g = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    s = Softmax()
    s.forward(z)
    via_jacobian = np.einsum("bj,bji->bi", g, s.jacobian())
    assert np.abs(s.backward(g) - via_jacobian).max() < 1e-15


def test_softmax_is_shift_invariant_and_stable(rng):
    z = rng.normal(size=(3, 4))
    s = Softmax()
    # z + 1000 itself rounds at ~1e-13, hence the tolerance
    assert np.allclose(s.forward(z), s.forward(z + 1000.0), rtol=0, atol=1e-11)
    big = s.forward(np.array([[1000.0, 0.0, -1000.0]]))
    assert np.isfinite(big).all() and big[0, 0] == 1.0


def test_stable_for_large_inputs():
    z = np.array([[-800.0, -30.0, 0.0, 30.0, 800.0]])
    for name in ("sigmoid", "softplus", "log_softmax", "elu", "gelu", "tanh"):
        act = get_activation(name)
        y = act.forward(z)
        grad = act.backward(np.ones_like(z))
        assert np.isfinite(y).all() and np.isfinite(grad).all(), name
