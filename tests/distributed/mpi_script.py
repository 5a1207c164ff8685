"""Data-parallel training, run by the tests under ``mpiexec -n P python mpi_script.py ...``.

Trains an MLP on the first rows of digits with the Trainer API, wrapped by
handgrad.distributed.mpi as the CLI wraps it, and writes per rank OUT/rank<r>.npz (the weights,
the optimizer state) and OUT/rank<r>.json (history, callbacks, step count). Rank 0 alone writes
the run folder OUT/run (checkpoint), as the CLI does.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from handgrad.data import load_dataset
from handgrad.distributed import mpi
from handgrad.nn import MLP, get_loss
from handgrad.optim import get_optimizer
from handgrad.train import Checkpoint, ProgressBar, Task, Trainer, resume


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--dtype", default="float64")
    p.add_argument("--optimizer", default="momentum")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--rows", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batchnorm", action="store_true")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--sync-bn", action="store_true")
    p.add_argument("--plain", action="store_true", help="no data-parallel wrapper (one process)")
    a = p.parse_args()
    dp = mpi.setup()
    dtype = np.dtype(a.dtype)
    ds = load_dataset("digits", seed=0, dtype=dtype)
    x, d = ds.x_train[:a.rows], ds.d_train[:a.rows]
    task = Task("classification", "cross_entropy", len(ds.classes), "identity")
    model = MLP([ds.n_features, a.hidden, task.n_outputs], activation="tanh", output="identity",
                rng=0, dtype=dtype, dropout=a.dropout, batchnorm=a.batchnorm)
    options = {"weight_decay": a.weight_decay} if a.weight_decay else {}
    optimizer = get_optimizer(a.optimizer, model, lr=a.lr, **options)
    run_dir = a.out / "run"
    callbacks = [ProgressBar(len(x), disable=True),
                 Checkpoint(run_dir / "checkpoint.safetensors")]
    trainer = Trainer(model, get_loss("cross_entropy"), optimizer, task=task,
                      batch_size=a.batch_size, epochs=a.epochs, seed=0, callbacks=callbacks)
    if not a.plain:
        dp.wrap(trainer, sync_batchnorm=a.sync_bn)
    if a.resume:
        resume(trainer, run_dir / "checkpoint.safetensors")
    trainer.fit(x, d, ds.x_val, ds.d_val)
    state = trainer.optimizer.state_dict()["state"]
    a.out.mkdir(parents=True, exist_ok=True)
    np.savez(a.out / f"rank{dp.rank}.npz", theta=model.theta, grad=model.grad,
             **{f"state_{k}": v for k, v in state.items()},
             **{f"buffer_{i}_{k}": v for i, m in enumerate(model.modules())
                for k, v in (getattr(m, "buffers", None) or {}).items()})
    info = {"history": {k: list(v) for k, v in trainer.history.items()},
            "callbacks": [type(c).__name__ for c in trainer.callbacks],
            "step_count": trainer.optimizer.step_count, "size": dp.size,
            "allreduce_seconds": getattr(trainer.optimizer, "allreduce_seconds", 0.0)}
    (a.out / f"rank{dp.rank}.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main()
