"""Training: the loop, callbacks (progress, checkpoints, early stopping), metrics, plots."""

from handgrad.train.callbacks import Callback, Checkpoint, EarlyStopping, ProgressBar, resume
from handgrad.train.closure import BatchClosure
from handgrad.train.regularization import Penalty
from handgrad.train.task import Task
from handgrad.train.trainer import History, Trainer, predict_outputs

__all__ = ["BatchClosure", "Callback", "Checkpoint", "EarlyStopping", "History", "Penalty",
           "ProgressBar", "Task", "Trainer", "predict_outputs", "resume"]
