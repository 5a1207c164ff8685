"""Batch normalization (002 VI, against vanishing and exploding gradients), for (batch, features).

Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep Network Training by Reducing
Internal Covariate Shift", ICML, Algorithm 1 (forward) and Section 3 (backward), with PyTorch's
conventions for the running statistics.
"""

from __future__ import annotations

import numpy as np

from handgrad.errors import ShapeError
from handgrad.nn.module import DEFAULT_DTYPE, Module, Parameter, model_dtype, not_run_yet
from handgrad.nn.registry import register_module
from handgrad.validate import check_bool, check_int, check_option


@register_module("BatchNorm1d")
class BatchNorm1d(Module):
    """y = gamma * xhat + beta, each feature normalised over the batch (Ioffe & Szegedy 2015).

    Training mode, over a mini-batch x_1..x_B (B >= 2), per feature (Algorithm 1):

        mu      = (1/B) sum_i x_i
        sigma^2 = (1/B) sum_i (x_i - mu)^2             (biased: the one used to normalise)
        xhat_i  = (x_i - mu) / sqrt(sigma^2 + eps)
        y_i     = gamma xhat_i + beta

    and the running statistics move towards the batch ones (PyTorch's convention for momentum;
    the running variance uses the unbiased batch variance, as PyTorch and Algorithm 2 do):

        running_mean = (1 - momentum) running_mean + momentum mu
        running_var  = (1 - momentum) running_var  + momentum sigma^2 B / (B - 1)

    Eval mode uses them instead: xhat = (x - running_mean) / sqrt(running_var + eps).

    Backward. With g = grad_y and inv_std = 1 / sqrt(sigma^2 + eps), the parameter gradients are

        grad_gamma += sum_i g_i xhat_i,       grad_beta += sum_i g_i.

    In training mode mu and sigma^2 depend on every x_i, so grad_x is not just g gamma inv_std.
    Section 3 of the paper gives, with g_xhat = g gamma,

        grad_sigma^2 = sum_i g_xhat_i (x_i - mu) (-1/2) (sigma^2 + eps)^(-3/2)
        grad_mu      = -inv_std sum_i g_xhat_i            (the term with sum_i (x_i - mu) = 0 drops)
        grad_x_i     = g_xhat_i inv_std + grad_sigma^2 2 (x_i - mu) / B + grad_mu / B.

    Substituting x_i - mu = xhat_i / inv_std collapses this to the closed form used here:

        grad_x_i = (inv_std / B) (B g_xhat_i - sum_j g_xhat_j - xhat_i sum_j g_xhat_j xhat_j).

    The two subtracted terms project out the directions the normalisation removes (a shift and a
    scale of the batch); that is why an all-ones upstream gradient gives grad_x = 0 and must not be
    used to test this backward. In eval mode the statistics are constants, so the layer is affine:
    grad_x = g gamma inv_std with the running inv_std.

    gamma (``params["gamma"]``, init 1) and beta (``params["beta"]``, init 0) are not weight-decayed
    (``decay=False``). The running statistics are buffers, ``self.buffers["running_mean"]`` (init 0)
    and ``self.buffers["running_var"]`` (init 1), saved with the model but never trained.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.num_features = check_int("BatchNorm1d num_features", num_features, low=1)
        self.eps = check_option("BatchNorm1d eps", eps, low=0.0, low_open=True)
        self.momentum = check_option("BatchNorm1d momentum", momentum, low=0.0, high=1.0)
        self.affine = check_bool("BatchNorm1d affine", affine)
        dtype = model_dtype(dtype)
        if self.affine:
            self.params["gamma"] = Parameter(np.ones(self.num_features, dtype), decay=False)
            self.params["beta"] = Parameter(np.zeros(self.num_features, dtype), decay=False)
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype))
        # What backward needs: xhat and inv_std of the last forward, and whether it used batch
        # statistics (then grad_x has the two projection terms) or running ones (plain affine).
        self.xhat: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None
        self.batch_stats = False
        self.flatten(dtype)

    sets_grads = True

    @property
    def in_features(self) -> int:
        return self.num_features

    def output_width(self, width):
        if width is not None and width != self.num_features:
            raise ShapeError(f"{self.describe()} expects {self.num_features} input features, "
                             f"but the layer before it gives {width}")
        return self.num_features

    @property
    def running_mean(self) -> np.ndarray:
        return self.buffers["running_mean"]

    @property
    def running_var(self) -> np.ndarray:
        return self.buffers["running_var"]

    def _gamma(self):
        return self.params["gamma"].data if self.affine else 1.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        B = x.shape[0]
        if self.training:
            if B < 2:
                raise ValueError(f"BatchNorm1d needs more than 1 sample per feature in training "
                                 f"mode (batch statistics of one sample are degenerate), got input "
                                 f"of shape {x.shape}; use a larger batch or eval mode")
            mu = x.mean(axis=0)
            centred = x - mu
            var = np.mean(centred * centred, axis=0)
            self.inv_std = 1.0 / np.sqrt(var + self.eps)
            self.xhat = centred * self.inv_std
            self._update_running(mu, var, B)
        else:
            self.inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            self.xhat = (x - self.running_mean) * self.inv_std
        self.batch_stats = self.training
        if not self.affine:
            return self.xhat
        return self.xhat * self.params["gamma"].data + self.params["beta"].data

    def _update_running(self, mu: np.ndarray, var: np.ndarray, B: int) -> None:
        # In place, so the buffers stay the arrays a caller may hold; unbiased variance, as PyTorch.
        m = self.momentum
        running_mean, running_var = self.running_mean, self.running_var
        running_mean *= 1.0 - m
        running_mean += m * mu
        running_var *= 1.0 - m
        running_var += (m * B / (B - 1)) * var

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        if self.xhat is None:
            raise not_run_yet(self)
        if grad_y.shape != self.xhat.shape:
            raise ShapeError(f"BatchNorm1d backward got grad_y of shape {grad_y.shape}, but the "
                             f"forward produced {self.xhat.shape}")
        xhat = self.xhat
        if not self.accumulate:  # set = zero, then add
            self.zero_grad()
        if self.affine:
            self.params["gamma"].grad += np.sum(grad_y * xhat, axis=0)
            self.params["beta"].grad += np.sum(grad_y, axis=0)
        g_xhat = grad_y * self._gamma()
        if not self.batch_stats:
            return g_xhat * self.inv_std
        B = grad_y.shape[0]
        return (self.inv_std / B) * (B * g_xhat - g_xhat.sum(axis=0)
                                     - xhat * np.sum(g_xhat * xhat, axis=0))

    def reset_running_stats(self) -> None:
        self.running_mean.fill(0.0)
        self.running_var.fill(1.0)

    def config(self) -> dict:
        return {"type": "BatchNorm1d", "num_features": self.num_features, "eps": self.eps,
                "momentum": self.momentum, "affine": self.affine}

    @classmethod
    def from_config(cls, config: dict, dtype=DEFAULT_DTYPE) -> "BatchNorm1d":
        return cls(config["num_features"], eps=config.get("eps", 1e-5),
                   momentum=config.get("momentum", 0.1), affine=config.get("affine", True),
                   dtype=dtype)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")


def batchnorm_between(width: int, rng=None) -> list[Module]:
    """A ``layers_between`` callable for :func:`handgrad.nn.MLP`: one BatchNorm1d(width) after each
    hidden Linear, before its activation (Ioffe & Szegedy's placement), e.g.
    ``MLP(sizes, layers_between=batchnorm_between)``. ``rng`` is unused (no random initialisation);
    the MLP casts the layer to the model's dtype."""
    return [BatchNorm1d(width)]


def batchnorm_between_with(eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
    """Like :func:`batchnorm_between` with non-default options, e.g.
    ``MLP(sizes, layers_between=batchnorm_between_with(momentum=0.01))``."""
    BatchNorm1d(1, eps=eps, momentum=momentum, affine=affine)  # validate now

    def layers(width: int, rng=None) -> list[Module]:
        return [BatchNorm1d(width, eps=eps, momentum=momentum, affine=affine)]
    return layers


__all__ = ["BatchNorm1d", "batchnorm_between", "batchnorm_between_with"]
