"""Dropout and BatchNorm1d against PyTorch (float64): forward, backward, running statistics.

Dropout's random streams differ (NumPy vs torch), so the comparison feeds the mask torch drew into
handgrad's layer (through a stand-in generator) and then compares outputs and gradients; mask
statistics and the eval identity are tested in tests/layers/test_dropout.py.
"""

import numpy as np
import pytest
import torch

from handgrad.nn import (MLP, BatchNorm1d, Dropout, Linear, batchnorm_between, chain_between,
                         dropout_between)

TOL = 1e-6


def rel_err(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12))


def t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


# --- BatchNorm1d ------------------------------------------------------------------------------
def paired_batchnorm(features, rng, momentum, affine, eps=1e-5):
    ours = BatchNorm1d(features, eps=eps, momentum=momentum, affine=affine, dtype=np.float64)
    ref = torch.nn.BatchNorm1d(features, eps=eps, momentum=momentum, affine=affine,
                               dtype=torch.float64)
    if affine:  # random gamma and beta, so a swapped or missing factor shows
        ours.params["gamma"].data[...] = rng.uniform(0.5, 2.0, features)
        ours.params["beta"].data[...] = rng.normal(size=features)
        with torch.no_grad():
            ref.weight.copy_(t(ours.params["gamma"].data))
            ref.bias.copy_(t(ours.params["beta"].data))
    return ours, ref


def step_both(ours, ref, x, G):
    """One forward and backward with upstream gradient G in both; returns the relative errors."""
    ours.zero_grad()
    y = ours.forward(x)
    grad_x = ours.backward(G)
    xt = t(x, grad=True)
    ref.zero_grad()
    yt = ref(xt)
    yt.backward(t(G))
    errors = {"y": rel_err(y, yt), "grad_x": rel_err(grad_x, xt.grad)}
    if ours.affine:
        errors["grad_gamma"] = rel_err(ours.params["gamma"].grad, ref.weight.grad)
        errors["grad_beta"] = rel_err(ours.params["beta"].grad, ref.bias.grad)
    return errors


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("momentum", [0.1, 0.6])
def test_batchnorm_matches_torch_in_training_then_eval(affine, momentum):
    rng = np.random.default_rng(0)
    ours, ref = paired_batchnorm(5, rng, momentum, affine)
    ref.train()
    for batch in (7, 2, 16, 3):  # several batches, including the smallest one allowed
        x = rng.normal(rng.normal(size=5), rng.uniform(0.1, 5.0, 5), size=(batch, 5))
        G = rng.normal(size=(batch, 5))  # random upstream gradient, never all ones
        errors = step_both(ours, ref, x, G)
        assert max(errors.values()) < TOL, (batch, errors)
        assert rel_err(ours.running_mean, ref.running_mean) < TOL
        assert rel_err(ours.running_var, ref.running_var) < TOL
    ours.eval()
    ref.eval()
    x = rng.normal(size=(6, 5)) * 3.0
    errors = step_both(ours, ref, x, rng.normal(size=(6, 5)))
    assert max(errors.values()) < TOL, errors
    assert rel_err(ours.running_var, ref.running_var) < TOL  # eval leaves them untouched


def test_batchnorm_large_eps_and_offset_inputs_match_torch():
    # Inputs far from zero (mean 1e3) and eps comparable to the variance: both terms matter.
    rng = np.random.default_rng(1)
    ours, ref = paired_batchnorm(4, rng, momentum=0.2, affine=True, eps=0.5)
    x = 1e3 + rng.normal(size=(9, 4))
    errors = step_both(ours, ref, x, rng.normal(size=(9, 4)))
    assert max(errors.values()) < TOL, errors


def test_batchnorm_rejects_a_batch_of_one_like_torch():
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(3, dtype=torch.float64)(torch.ones(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="more than 1"):
        BatchNorm1d(3, dtype=np.float64).forward(np.ones((1, 3)))


# --- Dropout ----------------------------------------------------------------------------------
class MaskAsUniforms:
    """Stands in for a Generator: ``random`` returns uniforms that reproduce a given keep-mask
    (0 where kept, just below 1 where dropped), so handgrad's Dropout applies torch's mask."""

    def __init__(self, keep: np.ndarray):
        self.u = np.where(keep, 0.0, np.nextafter(1.0, 0.0))

    def random(self, shape):
        assert shape == self.u.shape
        return self.u


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_matches_torch_with_torch_mask(p):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 9))  # no exact zeros, so torch's output reveals its mask
    G = rng.normal(size=(12, 9))
    torch.manual_seed(int(p * 10))
    xt = t(x, grad=True)
    yt = torch.nn.functional.dropout(xt, p=p, training=True)
    yt.backward(t(G))
    keep = yt.detach().numpy() != 0
    assert 0 < keep.mean() < 1

    layer = Dropout(p)
    layer.rng = MaskAsUniforms(keep)
    y = layer.forward(x)
    grad_x = layer.backward(G)
    assert rel_err(y, yt) < TOL
    assert rel_err(grad_x, xt.grad) < TOL


def test_dropout_eval_matches_torch_eval():
    x = np.random.default_rng(3).normal(size=(4, 4))
    ref = torch.nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(Dropout(0.5).eval().forward(x), ref(t(x)).numpy())


# --- a network with both ----------------------------------------------------------------------
class Mask(torch.nn.Module):
    """Applies a given mask * scale: torch's side of a dropout layer whose mask handgrad drew."""

    def __init__(self):
        super().__init__()
        self.mask_scale = None

    def forward(self, x):
        return x * self.mask_scale


def torch_twin(model):
    """The torch network with the same layers and parameters as a handgrad MLP."""
    layers = []
    for m in model.layers:
        if isinstance(m, Linear):
            lin = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(t(m.W.data))
                lin.bias.copy_(t(m.b.data))
            layers.append(lin)
        elif isinstance(m, BatchNorm1d):
            bn = torch.nn.BatchNorm1d(m.num_features, eps=m.eps, momentum=m.momentum,
                                      dtype=torch.float64)
            with torch.no_grad():
                bn.weight.copy_(t(m.params["gamma"].data))
                bn.bias.copy_(t(m.params["beta"].data))
            layers.append(bn)
        elif isinstance(m, Dropout):
            layers.append(Mask())
        else:
            assert type(m).__name__ == "Tanh"
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


def torch_name(name: str) -> str:
    index, param = name.split(".")
    return f"{index}.{TORCH_NAMES[param]}"


def test_mlp_with_batchnorm_and_dropout_matches_torch_over_several_batches():
    model = MLP([4, 8, 6, 3], activation="tanh", rng=0, dtype=np.float64,
                layers_between=chain_between(batchnorm_between, dropout_between(0.25)))
    rng = np.random.default_rng(4)
    for bn in (m for m in model.layers if isinstance(m, BatchNorm1d)):  # random gamma and beta
        bn.params["gamma"].data[...] = rng.uniform(0.5, 2.0, bn.num_features)
        bn.params["beta"].data[...] = rng.normal(size=bn.num_features)
    ref = torch_twin(model)
    params = dict(ref.named_parameters())
    # A bias right before a batch norm has gradient exactly 0 (the batch mean absorbs any shift).
    before_bn = {f"{i - 1}.b" for i, m in enumerate(model.layers) if isinstance(m, BatchNorm1d)}
    assert before_bn == {"0.b", "4.b"}
    assert sorted(params) == sorted(torch_name(n) for n, _ in model.named_parameters())
    for batch in (10, 4, 7):
        x, G = rng.normal(size=(batch, 4)), rng.normal(size=(batch, 3))
        model.zero_grad()
        y = model.forward(x)
        grad_x = model.backward(G)
        for ours, theirs in zip(model.layers, ref):
            if isinstance(ours, Dropout):
                theirs.mask_scale = t(ours.mask_scale)
        xt = t(x, grad=True)
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(t(G))
        assert rel_err(y, yt) < TOL
        assert rel_err(grad_x, xt.grad) < TOL
        for name, p in model.named_parameters():
            theirs = params[torch_name(name)].grad.numpy()
            if name in before_bn:  # true gradient 0: both are rounding noise
                assert np.max(np.abs(p.grad)) < 1e-12 and np.max(np.abs(theirs)) < 1e-12
            else:
                assert rel_err(p.grad, theirs) < TOL, name
        for name, buf in model.named_buffers():
            assert rel_err(buf, ref.get_buffer(name)) < TOL, name
