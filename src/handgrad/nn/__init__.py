"""Modules with hand-written backpropagation: layers, activations, containers, losses."""

from handgrad.nn.activations import (ACTIVATIONS, ELU, GELU, Activation, HardTanh, Identity,
                                     LeakyReLU, LogSoftmax, Maxout, ReLU, Sigmoid, Sign, Softmax,
                                     Softplus, Tanh, get_activation)
from handgrad.nn.containers import MLP, Sequential
from handgrad.nn.errors import (DivergenceError, HandgradError, ModelFileError, NonFiniteError,
                                ShapeError)
from handgrad.nn.linear import Linear
from handgrad.nn.losses import (LOSSES, MAE, MSE, MSLE, NLL, BinaryCrossEntropy,
                                BinaryCrossEntropyWithLogits, CrossEntropy, HalfSquaredError,
                                Hinge, KLDivergence, Loss, SquaredHinge, get_loss)
from handgrad.nn.module import Module, Parameter
from handgrad.nn.registry import build, register_module

__all__ = [
    "ACTIVATIONS", "LOSSES", "Activation", "BinaryCrossEntropy", "BinaryCrossEntropyWithLogits",
    "CrossEntropy", "DivergenceError", "ELU", "GELU", "HalfSquaredError", "HandgradError",
    "HardTanh", "Hinge", "Identity", "KLDivergence", "LeakyReLU", "Linear", "LogSoftmax", "Loss",
    "MAE", "MLP", "MSE", "MSLE", "Maxout", "ModelFileError", "Module", "NLL", "NonFiniteError",
    "Parameter", "ReLU", "Sequential", "ShapeError", "Sigmoid", "Sign", "Softmax", "Softplus",
    "SquaredHinge", "Tanh", "build", "get_activation", "get_loss", "register_module",
]
