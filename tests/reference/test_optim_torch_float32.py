"""The fused update kernels (``handgrad.optim.kernels``) in float32, the training default, against
``torch.optim`` in float32: same network, same data, 30 steps, compared after every step.

Both sides round every operation to float32, in orders that differ in places, so the trajectories
agree to float32 rounding (~1e-7 relative), not bit for bit; 2e-5 leaves room for 30 steps of it,
while a wrong coefficient or state update is off by far more at the first step. That the kernels
compute in float32 arithmetic, operation for operation, is tests/optim/test_kernels.py's job.
"""

import numpy as np
import pytest
import torch

from handgrad.nn import get_loss
from handgrad.optim import get_optimizer
from handgrad.train.closure import BatchClosure

from test_optim_torch import CASES, make_problem, run_both, torch_flat

STEPS = 30
RTOL = 2e-5
# The float64 cases at ordinary step sizes (the "large eta" ones are chaotic by design).
FLOAT32_CASES = [c for c in CASES if c[1] not in (dict(lr=1.0), dict(lr=0.05))]


def case(name, **keys):
    """The one float64 case of optimizer ``name`` whose options include ``keys``."""
    [found] = [c for c in CASES if c[0] == name and keys.items() <= c[1].items()]
    return found


def float32_problem():
    model, net, x, d = make_problem()
    model.to(np.float32)
    net = net.to(torch.float32)
    return model, net, x.astype(np.float32), d.astype(np.float32)


@pytest.mark.parametrize("name, options, torch_cls, torch_options", FLOAT32_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FLOAT32_CASES)])
def test_float32_trajectory_matches_torch(name, options, torch_cls, torch_options):
    compare_float32(name, options, torch_cls, torch_options)


NUMPY_FORM_CASES = {"sgd-dampening": case("sgd", dampening=0.3),
                    "sgd-nesterov": case("sgd", nesterov=True),
                    "adagrad": case("adagrad", lr_decay=0.01),
                    "rmsprop": case("rmsprop", centered=True, momentum=0.8),
                    "amsgrad": case("adam", amsgrad=True)}


@pytest.mark.parametrize("name, options, torch_cls, torch_options", NUMPY_FORM_CASES.values(),
                         ids=NUMPY_FORM_CASES.keys())
def test_numpy_form_of_the_kernels_matches_torch(name, options, torch_cls, torch_options,
                                                  monkeypatch):
    """Where the C loops are not built, kernels.py's NumPy forms run: they follow torch too."""
    from handgrad.optim import kernels
    monkeypatch.setattr(kernels, "_fused", None)
    monkeypatch.setattr(kernels, "FUSED", False)
    compare_float32(name, options, torch_cls, torch_options)
    run_both(name, options, torch_cls, torch_options, steps=50)   # float64, to 1e-8


def compare_float32(name, options, torch_cls, torch_options):
    model, net, x, d = float32_problem()
    assert model.theta.dtype == np.float32
    np.testing.assert_array_equal(model.theta, torch_flat(net))
    opt = get_optimizer(name, model, **options)
    topt = torch_cls(net.parameters(), **torch_options)
    loss = get_loss("mse")
    tx, td = torch.from_numpy(x), torch.from_numpy(d)
    for k in range(STEPS):
        opt.step(BatchClosure(model, loss, x, d))
        topt.zero_grad()
        torch.nn.functional.mse_loss(net(tx), td).backward()
        topt.step()
        ref = torch_flat(net)
        assert model.theta.dtype == np.float32
        # per entry, with an absolute floor for entries near 0 (float32 rounding of the largest)
        np.testing.assert_allclose(model.theta, ref, rtol=RTOL,
                                   atol=RTOL * np.max(np.abs(ref)) * 0.1,
                                   err_msg=f"{name} {options}: step {k}")
