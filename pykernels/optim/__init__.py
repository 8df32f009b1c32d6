"""Optimizers (``torch.optim`` names, arguments and defaults), each step one
fused multi-tensor kernel call per device/dtype group, and learning-rate
schedules in pk.optim.lr_scheduler."""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
