"""The nn engine against PyTorch autograd (float64): the same layers, activations, losses and whole
MLPs, built in torch with identical weights; forward values and every gradient (parameters and the
input) must agree to a relative error below 1e-6, with a random upstream gradient.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax, softmax

from handgrad.nn import ACTIVATIONS, LOSSES, MLP, Linear, Sequential, get_activation, get_loss

TOL = 1e-6
B, C = 5, 4


def rel_err(a, b) -> float:
    """max |a - b| / max(max |a|, max |b|, 1e-12), the measure handgrad.check reports."""
    a = np.asarray(a, np.float64)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12))


def t(a, grad=False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, np.float64), dtype=torch.float64, requires_grad=grad)


def _maxout(pool):
    return lambda z: z.reshape(z.shape[0], z.shape[1] // pool, pool).max(dim=2).values


# handgrad activation name -> (options, torch function)
TORCH_ACTIVATIONS = {
    "identity": ({}, lambda z: z),
    "sign": ({}, torch.sign),
    "sigmoid": ({}, torch.sigmoid),
    "tanh": ({}, torch.tanh),
    "relu": ({}, torch.relu),
    "leaky_relu": ({"alpha": 0.1}, lambda z: F.leaky_relu(z, 0.1)),
    "hard_tanh": ({}, F.hardtanh),
    "softplus": ({}, F.softplus),
    "elu": ({"alpha": 0.7}, lambda z: F.elu(z, 0.7)),
    "gelu": ({}, lambda z: F.gelu(z, approximate="none")),
    "softmax": ({}, lambda z: torch.softmax(z, dim=1)),
    "log_softmax": ({}, lambda z: torch.log_softmax(z, dim=1)),
    "maxout": ({"pool": 2}, _maxout(2)),
}
KINKS = {"relu": (0.0,), "leaky_relu": (0.0,), "elu": (0.0,), "sign": (0.0,),
         "hard_tanh": (-1.0, 1.0)}


def test_every_activation_has_a_torch_reference():
    assert set(TORCH_ACTIVATIONS) | {"linear"} == set(ACTIVATIONS)


@pytest.mark.parametrize("batch", [1, 6])
@pytest.mark.parametrize("name", sorted(TORCH_ACTIVATIONS))
def test_activation_matches_torch(name, batch, rng, away_from):
    options, torch_f = TORCH_ACTIVATIONS[name]
    z = away_from(rng, (batch, 6), KINKS.get(name, ()))
    ours = get_activation(name, **options)
    y = ours.forward(z)
    G = rng.normal(size=y.shape)
    grad_z = ours.backward(G)

    zt = t(z, grad=True)
    yt = torch_f(zt)
    yt.backward(t(G))
    assert rel_err(y, yt) < TOL
    assert rel_err(grad_z, zt.grad) < TOL


# --- losses --------------------------------------------------------------------------------------

def _signed(r, shape):
    return np.where(r.random(shape) < 0.5, -1.0, 1.0)


def _kl(y, d, reduction):
    """torch's kl_div takes log-probabilities, and class indices only as one-hot rows."""
    rows = d if d.dim() == 2 else F.one_hot(d, y.shape[1]).double()
    return F.kl_div(torch.log(y), rows, reduction="batchmean" if reduction == "mean" else "sum")


def _per_sample(values, reduction):
    """Sum over outputs, then mean or sum over samples (handgrad's per-sample losses)."""
    per_row = values.sum(dim=1)
    return per_row.mean() if reduction == "mean" else per_row.sum()


def _binary_kl(y, d, reduction):
    """One sigmoid output: kl_div of the two-class distributions (1 - y, y) and (1 - d, d)."""
    d = d.reshape(-1, 1).double()
    return _kl(torch.cat([1 - y, y], dim=1), torch.cat([1 - d, d], dim=1), reduction)


def _bce_minus_entropy(y, d, reduction):
    """The same divergence as BCE minus the entropy of d (0 for d in {0, 1})."""
    d = d.reshape(-1, 1).double()
    entropy = -(torch.xlogy(d, d) + torch.xlogy(1 - d, 1 - d))
    return _elementwise(F.binary_cross_entropy(y, d, reduction="none") - entropy, reduction)


def _elementwise(values, reduction):
    return values.mean() if reduction == "mean" else values.sum()


# id -> (loss name, make(rng, away_from) -> (prediction, target), torch(y, d, reduction))
TORCH_LOSSES = {
    "mse": ("mse", lambda r, a: (r.normal(size=(B, C)), r.normal(size=(B, C))),
            lambda y, d, red: F.mse_loss(y, d, reduction=red)),
    "half_mse": ("half_mse", lambda r, a: (r.normal(size=(B, C)), r.normal(size=(B, C))),
                 lambda y, d, red: _per_sample(0.5 * (y - d) ** 2, red)),
    "mae": ("mae", lambda r, a: (lambda d: (d + a(r, (B, C), (0.0,)), d))(r.normal(size=(B, C))),
            lambda y, d, red: F.l1_loss(y, d, reduction=red)),
    "msle": ("msle", lambda r, a: (r.uniform(0, 3, (B, C)), r.uniform(0, 3, (B, C))),
             lambda y, d, red: _elementwise((torch.log1p(y) - torch.log1p(d)) ** 2, red)),
    "bce": ("bce", lambda r, a: (r.uniform(0.05, 0.95, (B, C)), r.uniform(0, 1, (B, C))),
            lambda y, d, red: F.binary_cross_entropy(y, d, reduction=red)),
    "bce_logits": ("bce_logits", lambda r, a: (2 * r.normal(size=(B, 1)),
                                               r.integers(0, 2, (B, 1)).astype(float)),
                   lambda y, d, red: F.binary_cross_entropy_with_logits(y, d, reduction=red)),
    "cross_entropy_index": ("cross_entropy", lambda r, a: (2 * r.normal(size=(B, C)),
                                                           r.integers(0, C, B)),
                            lambda y, d, red: F.cross_entropy(y, d, reduction=red)),
    "cross_entropy_rows": ("cross_entropy",
                           lambda r, a: (2 * r.normal(size=(B, C)),
                                         softmax(r.normal(size=(B, C)), axis=1)),
                           lambda y, d, red: F.cross_entropy(y, d, reduction=red)),
    "cross_entropy_unnormalised": ("cross_entropy",
                                   lambda r, a: (2 * r.normal(size=(B, C)), r.uniform(0, 1, (B, C))),
                                   lambda y, d, red: F.cross_entropy(y, d, reduction=red)),
    "nll_index": ("nll", lambda r, a: (log_softmax(r.normal(size=(B, C)), axis=1),
                                       r.integers(0, C, B)),
                  lambda y, d, red: F.nll_loss(y, d, reduction=red)),
    "nll_rows": ("nll", lambda r, a: (log_softmax(r.normal(size=(B, C)), axis=1),
                                      softmax(r.normal(size=(B, C)), axis=1)),
                 lambda y, d, red: _per_sample(-d * y, red)),
    "kl_rows": ("kl", lambda r, a: (softmax(r.normal(size=(B, C)), axis=1),
                                    softmax(r.normal(size=(B, C)), axis=1)),
                _kl),
    "kl_index": ("kl", lambda r, a: (softmax(r.normal(size=(B, C)), axis=1), r.integers(0, C, B)),
                 _kl),
    "kl_binary_labels": ("kl", lambda r, a: (r.uniform(0.05, 0.95, (B, 1)), r.integers(0, 2, B)),
                         _binary_kl),
    "kl_binary_soft": ("kl", lambda r, a: (r.uniform(0.05, 0.95, (B, 1)), r.uniform(0, 1, (B, 1))),
                       _bce_minus_entropy),
    "hinge": ("hinge", lambda r, a: (a(r, (B, C), (-1.0, 1.0)), _signed(r, (B, C))),
              lambda y, d, red: _elementwise(torch.clamp(1 - d * y, min=0), red)),
    "squared_hinge": ("squared_hinge", lambda r, a: (a(r, (B, C), (-1.0, 1.0)), _signed(r, (B, C))),
                      lambda y, d, red: _elementwise(torch.clamp(1 - d * y, min=0) ** 2, red)),
}


def _torch_target(d):
    d = np.asarray(d)
    return torch.tensor(d, dtype=torch.int64) if np.issubdtype(d.dtype, np.integer) else t(d)


def test_every_loss_has_a_torch_reference():
    assert {name for name, _, _ in TORCH_LOSSES.values()} == set(LOSSES)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", sorted(TORCH_LOSSES))
def test_loss_matches_torch(case, reduction, rng, away_from):
    name, make, torch_loss = TORCH_LOSSES[case]
    y, d = make(rng, away_from)
    ours = get_loss(name, reduction=reduction)
    value = ours(y, d)
    grad_y = ours.backward()

    yt = t(y, grad=True)
    ref = torch_loss(yt, _torch_target(d), reduction)
    ref.backward()
    assert rel_err(np.array(value), ref) < TOL
    assert rel_err(grad_y, yt.grad) < TOL


# --- layers and whole networks --------------------------------------------------------------------

class _Lambda(torch.nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, z):
        return self.f(z)


def _torch_activation(module):
    """The torch function of a handgrad activation, with the same options."""
    if module.name == "maxout":
        return _maxout(module.pool)
    if module.name == "leaky_relu":
        return lambda z: F.leaky_relu(z, module.alpha)
    if module.name == "elu":
        return lambda z: F.elu(z, module.alpha)
    return TORCH_ACTIVATIONS[module.name][1]


def torch_twin(model: Sequential) -> torch.nn.Sequential:
    """The same network in torch, with handgrad's weights copied in."""
    layers = []
    for module in model.layers:
        if isinstance(module, Linear):
            twin = torch.nn.Linear(module.in_features, module.out_features,
                                   bias=module.b is not None, dtype=torch.float64)
            with torch.no_grad():
                twin.weight.copy_(t(module.W.data))
                if module.b is not None:
                    twin.bias.copy_(t(module.b.data))
            layers.append(twin)
        else:
            layers.append(_Lambda(_torch_activation(module)))
    return torch.nn.Sequential(*layers)


def compare_with_torch(model: Sequential, x: np.ndarray, G: np.ndarray) -> dict[str, float]:
    """Relative errors of output, input gradient and every parameter gradient (by name)."""
    model.zero_grad()
    y = model.forward(x)
    grad_x = model.backward(G)
    twin = torch_twin(model)
    xt = t(x, grad=True)
    yt = twin(xt)
    yt.backward(t(G))
    errors = {"output": rel_err(y, yt), "input x": rel_err(grad_x, xt.grad)}
    torch_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        index, kind = name.split(".")
        errors[name] = rel_err(p.grad, torch_params[f"{index}.{'weight' if kind == 'W' else 'bias'}"]
                               .grad)
    return errors


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 7])
def test_linear_matches_torch(bias, batch, rng):
    model = Sequential(Linear(5, 3, bias=bias, bias_init="uniform", rng=0, dtype=np.float64))
    x = rng.normal(size=(batch, 5))
    errors = compare_with_torch(model, x, rng.normal(size=(batch, 3)))
    assert set(errors) == {"output", "input x", "0.W"} | ({"0.b"} if bias else set())
    assert max(errors.values()) < TOL, errors


MLP_CASES = [
    ([3, 2], "relu", "identity", 1),
    ([4, 6, 3], "tanh", "softmax", 5),
    ([4, 6, 3], "relu", "identity", 1),
    ([5, 8, 7, 4], "sigmoid", "sigmoid", 6),
    ([3, 5, 5, 5, 2], "leaky_relu", "log_softmax", 4),
    ([4, 6, 3], "maxout", "identity", 3),
    ([4, 6, 6, 3], "elu", "identity", 2),
    ([4, 6, 3], "gelu", "tanh", 1),
    ([4, 6, 3], "softplus", "identity", 3),
    ([4, 7, 3], "hard_tanh", "identity", 5),
]


@pytest.mark.parametrize("sizes, activation, output, batch", MLP_CASES,
                         ids=[f"{'-'.join(map(str, s))}_{a}_{o}_b{b}" for s, a, o, b in MLP_CASES])
def test_mlp_matches_torch(sizes, activation, output, batch, rng):
    model = MLP(sizes, activation=activation, output=output, rng=1, dtype=np.float64)
    x = rng.normal(size=(batch, sizes[0]))
    G = rng.normal(size=(batch, sizes[-1]))
    errors = compare_with_torch(model, x, G)
    assert len(errors) == 2 + 2 * (len(sizes) - 1)
    assert max(errors.values()) < TOL, errors


# output activation, loss, torch loss, make targets
MODEL_LOSS_CASES = [
    ("identity", "mse", lambda y, d: F.mse_loss(y, d), lambda r, b: r.normal(size=(b, 3))),
    ("identity", "cross_entropy", lambda y, d: F.cross_entropy(y, d),
     lambda r, b: r.integers(0, 3, b)),
    ("softmax", "kl", lambda y, d: F.kl_div(torch.log(y), d, reduction="batchmean"),
     lambda r, b: softmax(r.normal(size=(b, 3)), axis=1)),
    ("log_softmax", "nll", lambda y, d: F.nll_loss(y, d), lambda r, b: r.integers(0, 3, b)),
    ("sigmoid", "bce", lambda y, d: F.binary_cross_entropy(y, d),
     lambda r, b: r.integers(0, 2, (b, 3)).astype(float)),
    ("identity", "bce_logits", lambda y, d: F.binary_cross_entropy_with_logits(y, d),
     lambda r, b: r.uniform(0, 1, (b, 3))),
]


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("output, loss_name, torch_loss, make", MODEL_LOSS_CASES,
                         ids=[f"{o}+{n}" for o, n, _, _ in MODEL_LOSS_CASES])
def test_model_and_loss_match_torch(output, loss_name, torch_loss, make, batch, rng):
    model = MLP([5, 7, 6, 3], activation="tanh", output=output, rng=2, dtype=np.float64)
    x, d = rng.normal(size=(batch, 5)), make(rng, batch)
    loss = get_loss(loss_name)
    model.zero_grad()
    value = loss(model.forward(x), d)
    grad_x = model.backward(loss.backward())

    twin = torch_twin(model)
    xt = t(x, grad=True)
    ref = torch_loss(twin(xt), _torch_target(d))
    ref.backward()
    assert rel_err(np.array(value), ref) < TOL
    assert rel_err(grad_x, xt.grad) < TOL
    # the flat gradient, in named_parameters order, against torch's parameters in the same order
    torch_grad = torch.cat([p.grad.reshape(-1) for p in twin.parameters()])
    assert rel_err(model.grad, torch_grad) < TOL


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_at_saturation_matches_torch(reduction):
    """Predictions of exactly 0 and 1 (a saturated sigmoid): the same clamped value and gradient."""
    y = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 1e-30]])
    d = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    ours = get_loss("bce", reduction=reduction)
    value = ours(y, d)
    grad_y = ours.backward()
    yt = t(y, grad=True)
    ref = F.binary_cross_entropy(yt, t(d), reduction=reduction)
    ref.backward()
    assert rel_err(np.array(value), ref) < TOL
    # entry by entry: the clamped 1e12 entries would hide the others in a max-norm error.
    # torch's eps is float32(1e-12) = (1 - 4e-9) 1e-12, hence rtol 1e-8.
    assert np.allclose(grad_y, yt.grad.numpy(), rtol=1e-8, atol=0)
