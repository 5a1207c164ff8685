"""Optimizers and learning-rate schedules of the notes, each reachable by name.

    opt = get_optimizer("adam", model, lr=1e-3, weight_decay=1e-4)
    sched = get_schedule("plateau", opt, alpha=0.1, patience=5)

Families, in increasing complexity (one file each): gradient descent and momentum (sgd.py),
adaptive rates (adaptive.py), Rprop (rprop.py), QuickProp (quickprop.py), second order
(second_order.py); schedules (schedules.py) and stopping criteria (stopping.py). Beside them: the
regulariser every optimizer applies (regularization.py), the Hessian tools Newton and the lab
share (curvature.py), and the fast forms of the elementwise rules (kernels.py, with the C loops).
The elementwise rules themselves are plain functions in sgd.py and adaptive.py, in the notes' names.
"""

from __future__ import annotations

from handgrad.errors import unknown_option
from handgrad.optim.adaptive import Adagrad, Adam, AdamW, RMSprop
from handgrad.optim.base import Optimizer
from handgrad.validate import check_options, option_names
from handgrad.optim.quickprop import QuickProp
from handgrad.optim.regularization import Penalty
from handgrad.optim.rprop import Rprop, RpropBacktracking, RpropSimple
from handgrad.optim.schedules import SCHEDULES, Schedule, get_schedule
from handgrad.optim.second_order import (BFGS, LBFGS, ConjugateGradient, LevenbergMarquardt,
                                         Newton)
from handgrad.optim.sgd import SGD, Momentum, Momentum002, Nesterov, Nesterov002
from handgrad.optim.stopping import LossStagnation, MaxEpochs, RunningLoss

OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (
    SGD, Momentum, Nesterov, Momentum002, Nesterov002, Adagrad, RMSprop, Adam, AdamW, Rprop,
    RpropBacktracking, RpropSimple, QuickProp, Newton, BFGS, LBFGS, LevenbergMarquardt,
    ConjugateGradient)}


def get_optimizer(name: str, model, **options) -> Optimizer:
    """The optimizer ``name`` for a flattened ``model``; options are validated by name and value.

    The options are the class's constructor arguments (each docstring maps them to the notes'
    symbols), e.g. ``get_optimizer("adam", model, lr=1e-3, betas=(0.9, 0.999), l2=1e-4)``.
    """
    if name not in OPTIMIZERS:
        raise unknown_option("optimizer", name, OPTIMIZERS)
    cls = OPTIMIZERS[name]
    check_options("optimizer", name, cls, options)
    return cls(model, **options)


__all__ = [
    "BFGS", "LBFGS", "OPTIMIZERS", "SCHEDULES", "SGD", "Adagrad", "Adam", "AdamW",
    "ConjugateGradient",
    "LevenbergMarquardt", "LossStagnation", "MaxEpochs", "Momentum", "Momentum002", "Nesterov",
    "Nesterov002", "Newton",
    "Optimizer", "Penalty", "QuickProp", "RMSprop", "Rprop", "RpropBacktracking", "RpropSimple",
    "RunningLoss", "Schedule", "check_options", "get_optimizer", "get_schedule", "option_names",
]
