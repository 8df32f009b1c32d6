"""Neural-network modules with explicit backward passes (``torch.nn`` names).

    model = pk.nn.Sequential(pk.nn.Linear(64, 128), pk.nn.BatchNorm1d(128), pk.nn.ReLU(),
                             pk.nn.Dropout(0.2), pk.nn.Linear(128, 10))
    criterion = pk.nn.CrossEntropyLoss()
    loss = criterion(model(x), y)            # a Python float
    model.backward(criterion.backward())     # parameter gradients into .grad
"""

from . import init, utils
from .activation import (CELU, ELU, GCU, GELU, SELU, Activation, BinaryStep, Gaussian, Hardtanh,
                         LeakyReLU, LogSoftmax, Mish, PReLU, ReLU, Sigmoid, SiLU, Softmax, Softplus,
                         Softsign, Tanh)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .dropout import Dropout
from .linear import Linear
from .loss import CrossEntropyLoss, L1Loss, MSELoss, MultiMarginLoss, NLLLoss
from .module import Flatten, Identity, Module, Residual, Sequential
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Sequential", "Flatten", "Identity", "Residual", "Linear",
           "Activation", "ReLU", "LeakyReLU", "PReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "ELU", "SELU",
           "CELU", "Softplus", "Mish", "Hardtanh", "Softsign", "Gaussian", "GCU", "BinaryStep",
           "Softmax", "LogSoftmax", "BatchNorm1d", "BatchNorm2d", "Dropout",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "MultiMarginLoss", "init", "utils"]
