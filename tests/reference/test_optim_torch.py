"""Every optimizer torch.optim also has follows torch's parameter trajectory: same MLP (weights
copied), same data, same loss, float64, 200 steps, compared after every step.

The two agree to rounding (~1e-16) step after step. Settings whose dynamics are chaotic (Adam at
eta = 0.3, SGD at eta = 1.5 on this problem) amplify that rounding exponentially, to 1e-3 after 200
steps, for any two implementations whose arithmetic differs in the last bit; the "large eta" cases
are the largest that stay out of that regime (eta = 1.0 for SGD, 50x Adam's default for Adam)."""

import numpy as np
import pytest
import torch

from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure

torch.set_num_threads(1)   # tiny tensors: threads only add contention on a shared machine

STEPS = 200
RTOL = 1e-8


def make_problem(seed=0, loss="mse"):
    rng = np.random.default_rng(seed)
    model = MLP([5, 8, 6, 3], activation="tanh", rng=rng, dtype=np.float64)
    # non-zero biases, so that decaying (or not) the biases matters
    for layer in (model[0], model[2], model[4]):
        layer.b.data[...] = rng.normal(0.0, 0.3, layer.b.shape)
    x = rng.normal(size=(64, 5))
    d = rng.normal(size=(64, 3))
    linears = [model[0], model[2], model[4]]
    torch_layers = []
    for i, lin in enumerate(linears):
        t = torch.nn.Linear(lin.in_features, lin.out_features, dtype=torch.float64)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.W.data))
            t.bias.copy_(torch.from_numpy(lin.b.data))
        torch_layers.append(t)
        if i < len(linears) - 1:
            torch_layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*torch_layers)
    return model, net, x, d


def torch_flat(net):
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()


def run_both(name, options, torch_cls, torch_options, steps=STEPS, batches=1):
    """Train both for ``steps`` steps (cycling over ``batches`` mini-batches) and compare theta
    after every step."""
    model, net, x, d = make_problem()
    np.testing.assert_array_equal(model.theta, torch_flat(net))
    opt = get_optimizer(name, model, **options)
    topt = torch_cls(net.parameters(), **torch_options)
    loss = get_loss("mse")
    rows = np.array_split(np.arange(len(x)), batches)
    tx, td = torch.from_numpy(x), torch.from_numpy(d)
    for k in range(steps):
        idx = rows[k % batches]
        closure = BatchClosure(model, loss, x[idx], d[idx])
        opt.zero_grad()
        value = closure()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.mse_loss(net(tx[idx]), td[idx])
        tloss.backward()
        topt.step()
        assert value == pytest.approx(tloss.item(), rel=RTOL)
        ref = torch_flat(net)
        rel = np.max(np.abs(model.theta - ref)) / max(np.max(np.abs(ref)), 1e-300)
        assert rel < RTOL, f"{name} {options}: step {k}: relative difference {rel:.3e}"
    return model


CASES = [
    # (handgrad name, handgrad options, torch class, torch options)
    ("sgd", dict(lr=0.1), torch.optim.SGD, dict(lr=0.1)),
    ("sgd", dict(lr=1.0), torch.optim.SGD, dict(lr=1.0)),                     # large eta
    ("sgd", dict(lr=0.05, momentum=0.9), torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3), torch.optim.SGD,
     dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True), torch.optim.SGD,
     dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd", dict(lr=0.05, momentum=0.8, weight_decay=0.01, decay_biases=True), torch.optim.SGD,
     dict(lr=0.05, momentum=0.8, weight_decay=0.01)),
    ("adagrad", dict(lr=0.1), torch.optim.Adagrad, dict(lr=0.1)),
    ("adagrad", dict(lr=0.5, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1,
                     decay_biases=True), torch.optim.Adagrad,
     dict(lr=0.5, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1)),
    ("rmsprop", dict(lr=0.01), torch.optim.RMSprop, dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, momentum=0.9), torch.optim.RMSprop, dict(lr=0.01, momentum=0.9)),
    ("rmsprop", dict(lr=0.01, centered=True), torch.optim.RMSprop, dict(lr=0.01, centered=True)),
    ("rmsprop", dict(lr=0.001, momentum=0.8, centered=True, alpha=0.9, weight_decay=0.01,
                     decay_biases=True), torch.optim.RMSprop,
     dict(lr=0.001, momentum=0.8, centered=True, alpha=0.9, weight_decay=0.01)),
    ("adam", dict(lr=0.01), torch.optim.Adam, dict(lr=0.01)),
    ("adam", dict(lr=0.05), torch.optim.Adam, dict(lr=0.05)),                   # large eta
    ("adam", dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01, decay_biases=True),
     torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)),
    ("adam", dict(lr=0.01, amsgrad=True), torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    ("adamw", dict(lr=0.01, weight_decay=0.1, decay_biases=True), torch.optim.AdamW,
     dict(lr=0.01, weight_decay=0.1)),
    ("rprop", dict(lr=0.01), torch.optim.Rprop, dict(lr=0.01)),
    ("rprop", dict(lr=0.1, eta_minus=0.3, eta_plus=1.5, step_min=1e-4, step_max=0.5),
     torch.optim.Rprop, dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(1e-4, 0.5))),
]


@pytest.mark.parametrize("name, options, torch_cls, torch_options", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_trajectory_matches_torch(name, options, torch_cls, torch_options):
    run_both(name, options, torch_cls, torch_options)


@pytest.mark.parametrize("name, options, torch_cls, torch_options",
                         [CASES[2], CASES[11], CASES[12], CASES[16]],
                         ids=["sgd-momentum", "rmsprop", "adam", "adamw"])
def test_minibatch_trajectory_matches_torch(name, options, torch_cls, torch_options):
    run_both(name, options, torch_cls, torch_options, batches=4)


def test_weight_decay_leaves_biases_alone_by_default():
    """003, eq. 29: with the default mask the biases follow the undecayed trajectory; torch decays
    them, so the weights differ from torch's decayed run only through the biases' effect."""
    model, _, x, d = make_problem()
    biases = ~model.decay_mask()
    plain = get_optimizer("sgd", model, lr=0.1)
    closure = BatchClosure(model, get_loss("mse"), x, d)
    closure()
    g = model.grad.copy()
    theta0 = model.theta.copy()
    decayed = get_optimizer("sgd", model, lr=0.1, weight_decay=0.5)
    decayed.step()
    expected = theta0 - 0.1 * (g + 0.5 * theta0 * (~biases))
    np.testing.assert_allclose(model.theta, expected, rtol=1e-14)
    assert plain.weight_decay == 0.0
    np.testing.assert_array_equal(model.theta[biases], theta0[biases] - 0.1 * g[biases])


def test_notes_momentum_equals_torch_sgd_momentum_at_constant_eta():
    """Delta W = beta Delta W - eta grad is torch's b = mu b + g, W -= eta b, with
    Delta W = -eta b."""
    run_both("momentum", dict(lr=0.05, beta=0.9), torch.optim.SGD, dict(lr=0.05, momentum=0.9))


def test_notes_nesterov_lookahead_point_is_torch_nesterov_parameter():
    """The notes' Nesterov evaluates the gradient at W + beta Delta W; torch's reformulation keeps
    exactly that look-ahead point as its parameter. So W_k + beta Delta W_k (notes) equals torch's
    parameters after every step."""
    model, net, x, d = make_problem()
    opt = get_optimizer("nesterov", model, lr=0.05, beta=0.9)
    topt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    closure = BatchClosure(model, get_loss("mse"), x, d)
    tx, td = torch.from_numpy(x), torch.from_numpy(d)
    for k in range(STEPS):
        opt.step(closure)
        topt.zero_grad()
        torch.nn.functional.mse_loss(net(tx), td).backward()
        topt.step()
        lookahead = model.theta + 0.9 * opt.delta_w
        ref = torch_flat(net)
        rel = np.max(np.abs(lookahead - ref)) / np.max(np.abs(ref))
        assert rel < RTOL, f"step {k}: {rel:.2e}"


def test_newton_hessian_matches_torch_autograd():
    """Newton's finite-difference Hessian of an MLP's loss against torch.autograd's exact one."""
    model, net, x, d = make_problem()
    x, d = x[:8], d[:8]
    opt = get_optimizer("newton", model)
    H = opt.hessian(BatchClosure(model, get_loss("mse"), x, d))
    shapes = [p.shape for p in net.parameters()]
    sizes = [int(np.prod(s)) for s in shapes]
    tx, td = torch.from_numpy(x), torch.from_numpy(d)

    def loss_of(flat):
        params, offset = [], 0
        for shape, size in zip(shapes, sizes):
            params.append(flat[offset:offset + size].reshape(shape))
            offset += size
        y = tx
        for i in range(3):
            y = torch.nn.functional.linear(y, params[2 * i], params[2 * i + 1])
            if i < 2:
                y = torch.tanh(y)
        return torch.nn.functional.mse_loss(y, td)

    ref = torch.autograd.functional.hessian(loss_of, torch.from_numpy(model.theta.copy())).numpy()
    np.testing.assert_allclose(H, ref, atol=1e-7 * np.abs(ref).max())
