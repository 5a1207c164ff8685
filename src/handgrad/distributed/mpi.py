"""Synchronous data-parallel training over MPI (mpi4py), without touching the trainer.

Every rank holds the whole model, the whole data set and the same random permutation, so every
rank draws the same global mini-batch B of n rows. Rank r takes the contiguous share B_r
(n_r = |B_r| rows, shares differing by at most one row) and the optimizer is wrapped, as Horovod's
DistributedOptimizer wraps torch's: its closure computes this rank's loss and gradient on B_r,
then one buffer Allreduce (no pickling) of [n_r/n grad_W L_(B_r), n_r/n L_(B_r)] gives on every
rank

    grad_W L_B = sum_r n_r/n grad_W L_(B_r),   L_B = sum_r n_r/n L_(B_r)

(for a loss with reduction="sum" the weights are 1), the full-batch mean up to the order of the
sum. (A float32 model reduces its loss value separately, in float64, as one process reports it.) Every rank then takes the inner optimizer's step from identical W, gradient and state, so W
and the optimizer state stay identical on every rank (checked once per epoch).

Closure methods: every evaluation of the wrapped closure is one reduction, and every rank makes the
same decisions from the same reduced values, so Nesterov, Rprop with backtracking, QuickProp,
L-BFGS, conjugate gradient and Newton (finite-difference Hessian from reduced gradients) run
data-parallel. Levenberg-Marquardt builds its Jacobian from the batch itself, not from the
closure's loss and gradient: it is refused.

Batch norm: each rank normalises with the mean and variance of its own share (PyTorch DDP's
default, not SyncBatchNorm), so with P > 1 training-mode outputs differ from one process's; the
running statistics of rank 0 are broadcast to all ranks after every step (DDP's
broadcast_buffers), so evaluation is the same on every rank. Dropout: rank 0 keeps the model's own
mask stream (P = 1 is the one-process run); rank r > 0 draws its masks at step t from the stream
seeded (seed of the layer, its index, r, t), so each rank has its own masks, reproducible and
exact on resume.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from handgrad.errors import HandgradError, OptionError
from handgrad.train.closure import BatchClosure

REFUSED = {"lm": "Levenberg-Marquardt forms the residual Jacobian from the batch's rows, which a "
                 "reduced loss and gradient cannot give; train it in one process"}
# mpiexec (MPICH's hydra, Open MPI) tells every process the job's size in these variables
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def launched_by_mpiexec() -> bool:
    """True when this process is one of several started by mpiexec."""
    return any(int(os.environ.get(v, "1") or 1) > 1 for v in SIZE_VARIABLES)


def world():
    try:
        from mpi4py import MPI
    except ImportError:
        raise HandgradError("data-parallel training needs mpi4py and an MPI library: "
                            "pip install 'handgrad[mpi]'") from None
    return MPI.COMM_WORLD


def share(n: int, rank: int, size: int) -> slice:
    """Rows of a batch of n that rank ``rank`` of ``size`` computes (contiguous, sizes n // size
    or n // size + 1)."""
    return slice(n * rank // size, n * (rank + 1) // size)


class DistributedOptimizer:
    """``optimizer`` with its gradient averaged over the ranks of ``comm`` (see the module)."""

    def __init__(self, optimizer, comm):
        name = getattr(optimizer, "name", "")
        if name in REFUSED:
            raise OptionError(f"invalid optimizer: {name!r} with --distributed mpi "
                              f"({REFUSED[name]})")
        self.inner, self.comm = optimizer, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.model = optimizer.model
        theta = self.model.theta
        self._send = np.empty(theta.size + 1, dtype=theta.dtype)  # [weighted grad, weighted loss]
        self._recv = np.empty_like(self._send)
        self._value = np.zeros(1)  # the loss, reduced in float64 when W is float32
        self._dropouts = [m for m in self.model.modules() if hasattr(m, "set_rng_state")]
        self._buffers = [b for m in self.model.modules() if getattr(m, "buffers", None)
                         for b in m.buffers.values()]
        self.allreduce_seconds = 0.0  # time inside Allreduce (the benchmark reads it)
        self.sync_batchnorm = False
        self.weight = 1.0  # n_r / n of the current step

    # the optimizer protocol, forwarded
    @property
    def lr(self):
        return self.inner.lr

    @lr.setter
    def lr(self, value):
        self.inner.lr = value

    def __getattr__(self, name):  # needs_closure, full_batch, state_dict, hyperparameters, ...
        if name == "inner":  # not yet set (mid-construction): no recursion through inner
            raise AttributeError(name)
        return getattr(self.inner, name)

    def step(self, closure):
        """One data-parallel step on the trainer's closure (its batch is the global batch)."""
        if closure is None:
            raise ValueError("the data-parallel optimizer needs the trainer's closure (its batch "
                             "is split across the ranks)")
        self._seed_dropout()
        reduced = ReducedClosure(self, closure)
        value = self.inner.step(reduced)
        closure.y = reduced.gather_outputs()  # the trainer counts correct predictions on B
        self._broadcast_buffers()
        return value

    def _seed_dropout(self) -> None:
        if self.rank == 0:
            return
        step = self.inner.step_count
        for index, module in enumerate(self._dropouts):
            seed = [getattr(module, "seed", 0), index, self.rank, step]
            module.set_rng_state(np.random.default_rng(seed).bit_generator.state)

    def _broadcast_buffers(self) -> None:
        for buffer in self._buffers:
            self.comm.Bcast(buffer, root=0)

    def reduce(self, local_value: float, weight: float) -> float:
        """model.grad <- sum over ranks of weight * model.grad; returns the same sum of values."""
        import time

        send, grad = self._send, self.model.grad
        np.multiply(grad, weight, out=send[:-1])
        send[-1] = local_value * weight
        start = time.perf_counter()
        self.comm.Allreduce(send, self._recv)
        if send.dtype != np.float64:  # the loss is reported in float64: its own 8-byte reduction
            self._value[0] = local_value * weight
            self.comm.Allreduce(MPI_IN_PLACE(), self._value)
        self.allreduce_seconds += time.perf_counter() - start
        grad[...] = self._recv[:-1]
        return float(self._recv[-1] if send.dtype == np.float64 else self._value[0])

    def check_identical(self) -> None:
        """Raise when W differs between ranks (it never should: every rank took the same steps)."""
        from mpi4py import MPI

        theta = self.model.theta
        fingerprint = np.array([theta.sum(dtype=np.float64), (theta * theta).sum(dtype=np.float64),
                                float(self.inner.step_count)])
        low, high = np.empty_like(fingerprint), np.empty_like(fingerprint)
        self.comm.Allreduce(fingerprint, low, op=MPI.MIN)
        self.comm.Allreduce(fingerprint, high, op=MPI.MAX)
        if not np.array_equal(low, high, equal_nan=True):
            raise HandgradError(f"data-parallel ranks diverged: the weights differ between ranks "
                                f"after step {self.inner.step_count} (a bug: please report it)")


class ReducedClosure:
    """The trainer's closure on this rank's share of the batch, reduced over the ranks.

    The penalty (L1/L2 of the loss) is added once, after the reduction, on identical W."""

    def __init__(self, dist: DistributedOptimizer, closure: BatchClosure):
        self.dist, self.model, self.loss = dist, closure.model, closure.loss
        self.penalty = getattr(closure, "penalty", None)  # a loss penalty the closure adds
        self.x, self.d = closure.x, closure.d  # the global batch, for methods that read it
        n = len(closure.x)
        part = share(n, dist.rank, dist.size)
        self.n_local = part.stop - part.start
        self.weight = self.n_local / n if getattr(closure.loss, "reduction", "mean") == "mean" \
            else 1.0
        dist.weight = self.weight  # synchronised batch norm scales its sums by it
        self.local = BatchClosure(closure.model, closure.loss, closure.x[part], closure.d[part],
                                  rewind=getattr(dist.inner, "needs_closure", True),
                                  prepared=getattr(closure, "prepared", False))
        self.y = None

    def __call__(self, backward: bool = True) -> float:
        if self.n_local:
            value = float(self.local(backward))
        else:  # a last batch with fewer rows than ranks: this rank adds nothing
            value = 0.0
            self.local.y = self.model.forward(self.local.x)
            if backward and self.dist.sync_batchnorm:  # its backward reductions still take part
                self.model.backward(np.zeros_like(self.local.y))
            self.model.grad.fill(0.0)
        value = self.dist.reduce(value, self.weight)
        if self.penalty is not None:
            value += self.penalty(self.model.theta, self.model.grad if backward else None)
        return value

    def predict(self) -> np.ndarray:
        return self.model.forward(self.x)

    def gather_outputs(self) -> np.ndarray:
        """Every rank's outputs of the last evaluation, in batch order (Allgatherv)."""
        dist, y = self.dist, np.ascontiguousarray(self.local.y)
        n, width = len(self.x), int(np.prod(y.shape[1:]))
        rows = [share(n, r, dist.size) for r in range(dist.size)]
        counts = np.array([(s.stop - s.start) * width for s in rows])
        displs = np.array([s.start * width for s in rows])
        out = np.empty((n, *y.shape[1:]), dtype=y.dtype)
        dist.comm.Allgatherv(y, [out, counts, displs, _mpi_type(y.dtype)])
        return out


def MPI_IN_PLACE():
    from mpi4py import MPI

    return MPI.IN_PLACE


def _mpi_type(dtype):
    from mpi4py import MPI

    return MPI.DOUBLE if dtype == np.float64 else MPI.FLOAT


class DataParallel:
    """What the CLI needs to know and do on this rank (returned by :func:`setup`)."""

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    @property
    def is_root(self) -> bool:
        """Whether this rank prints progress and writes the run directory."""
        return self.rank == 0

    def wrap(self, trainer, sync_batchnorm: bool = False):
        """Make ``trainer`` data-parallel on this rank: wrapped optimizer, and on ranks > 0 no
        progress bar and no checkpoint files; a check that W agrees on all ranks every epoch.
        ``sync_batchnorm``: batch norm normalises with the statistics of the global batch."""
        from handgrad.train.callbacks import Callback

        if isinstance(trainer.optimizer, DistributedOptimizer):
            return trainer
        dist = DistributedOptimizer(trainer.optimizer, self.comm)
        trainer.optimizer = dist
        if sync_batchnorm:
            synchronise_batch_norm(trainer.model, dist)
        if not self.is_root:
            trainer.callbacks = [c for c in trainer.callbacks
                                 if type(c).__name__ not in ("ProgressBar", "Checkpoint")]

        class _Agree(Callback):
            def on_epoch_end(self, trainer, record):
                dist.check_identical()

        trainer.callbacks.append(_Agree())
        return trainer


def setup(args=None, comm=None) -> DataParallel:
    """Start data-parallel training on this process: returns the rank's :class:`DataParallel`.

    On ranks > 0 standard output goes to os.devnull (rank 0 alone reports; errors still reach
    stderr)."""
    comm = world() if comm is None else comm
    context = DataParallel(comm)
    if not context.is_root:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    return context


# --- synchronised batch norm (SyncBatchNorm) ------------------------------------------------------
def synchronise_batch_norm(model, dist: DistributedOptimizer) -> None:
    """Make every BatchNorm1d of ``model`` use the global batch's statistics in training mode.

    Forward (N = sum_r n_r rows): mu = sum_r sum_i x_i / N, sigma^2 = sum_r sum_i (x_i - mu)^2 / N,
    two reductions of F numbers. Backward, with g = grad_xhat scaled to the global loss
    (w_r g, w_r = n_r/n) and S_g = sum_r w_r sum_i g_i, S_gx = sum_r w_r sum_i g_i xhat_i:

        grad_x_i = inv_std / N (N g_i - (S_g + xhat_i S_gx) / w_r)

    in this rank's scale (the gradient reduction multiplies it by w_r again): with P = 1 this is
    the one-process batch norm backward. As torch.nn.SyncBatchNorm (Ioffe and Szegedy 2015, Alg. 1
    over the global batch)."""
    import types

    dist.sync_batchnorm = True
    for module in model.modules():
        if type(module).__name__ == "BatchNorm1d":
            module.forward = types.MethodType(_sync_forward(dist, type(module).forward), module)
            module.backward = types.MethodType(_sync_backward(dist, type(module).backward),
                                               module)


def _allreduce(dist, values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    dist.comm.Allreduce(values, out)
    return out


def _sync_forward(dist, plain_forward):
    def forward(self, x):
        if not self.training:
            return plain_forward(self, x)
        F = x.shape[1]
        first = _allreduce(dist, np.append(x.sum(axis=0, dtype=np.float64), x.shape[0]))
        N = int(first[F])
        if N < 2:
            raise ValueError(f"BatchNorm1d needs more than 1 sample per feature in training mode, "
                             f"got a global batch of {N}")
        mu = (first[:F] / N).astype(x.dtype)
        centred = x - mu
        var = (_allreduce(dist, (centred * centred).sum(axis=0, dtype=np.float64)) / N
               ).astype(x.dtype)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.xhat = centred * self.inv_std
        self._update_running(mu, var, N)
        self.batch_stats = True
        self.global_rows = N
        if not self.affine:
            return self.xhat
        return self.xhat * self.params["gamma"].data + self.params["beta"].data
    return forward


def _sync_backward(dist, plain_backward):
    def backward(self, grad_y):
        if not self.batch_stats:
            return plain_backward(self, grad_y)
        # gamma's and beta's gradients (local sums, reduced with the rest of model.grad) the
        # module's own way: its plain backward with the statistics taken as constants
        self.batch_stats = False
        try:
            plain_backward(self, grad_y)
        finally:
            self.batch_stats = True
        g = grad_y * self._gamma()
        w, N = dist.weight, self.global_rows
        sums = _allreduce(dist, w * np.concatenate([g.sum(axis=0, dtype=np.float64),
                                                    (g * self.xhat).sum(axis=0,
                                                                        dtype=np.float64)]))
        if not len(g):  # no rows here: nothing to return, but the reduction took part
            return g
        F = g.shape[1]
        S_g, S_gx = sums[:F].astype(g.dtype), sums[F:].astype(g.dtype)
        return (self.inv_std / N) * (N * g - (S_g + self.xhat * S_gx) / w)
    return backward
