"""Modules with hand-written backpropagation: layers, activations, containers, losses.

Each module's forward and backward are written once in the notes' notation; the fast forms they
call while ``handgrad.nn.kernels.FAST`` is true sit in one place, nn/kernels.py."""

from handgrad.nn.activations import (ACTIVATIONS, ELU, GELU, Activation, HardTanh, Identity,
                                     LeakyReLU, LogSoftmax, Maxout, ReLU, Sigmoid, Sign, Softmax,
                                     Softplus, Tanh, get_activation)
from handgrad.nn.batchnorm import BatchNorm1d, batchnorm_between, batchnorm_between_with
from handgrad.nn.containers import MLP, Sequential
from handgrad.nn.dropout import Dropout, chain_between, dropout_between
from handgrad.errors import (DivergenceError, HandgradError, ModelFileError, NonFiniteError,
                             ShapeError)
from handgrad.nn.linear import Linear
from handgrad.nn.losses import (LOSSES, MAE, MSE, MSLE, NLL, BinaryCrossEntropy,
                                BinaryCrossEntropyWithLogits, CrossEntropy, HalfSquaredError,
                                Hinge, KLDivergence, Loss, SquaredHinge, get_loss)
from handgrad.nn.module import Module, Parameter, Snapshot
from handgrad.nn.registry import build, register_module

__all__ = [
    "ACTIVATIONS", "LOSSES", "Activation", "BatchNorm1d", "BinaryCrossEntropy",
    "BinaryCrossEntropyWithLogits", "CrossEntropy", "DivergenceError", "Dropout", "ELU", "GELU",
    "HalfSquaredError", "HandgradError",
    "HardTanh", "Hinge", "Identity", "KLDivergence", "LeakyReLU", "Linear", "LogSoftmax", "Loss",
    "MAE", "MLP", "MSE", "MSLE", "Maxout", "ModelFileError", "Module", "NLL", "NonFiniteError",
    "Parameter", "ReLU", "Sequential", "ShapeError", "Sigmoid", "Sign", "Softmax", "Softplus",
    "Snapshot", "SquaredHinge", "Tanh", "batchnorm_between", "batchnorm_between_with", "build",
    "chain_between", "dropout_between", "get_activation", "get_loss", "register_module",
]
