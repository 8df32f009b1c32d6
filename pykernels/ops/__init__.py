"""Functional ops. Each takes NumPy arrays (CPU kernels, or the CUDA kernels
under the emulator with device="cuda-emu") or CUDA arrays (CUDA kernels) and
returns results of the same kind."""

from .activation import activation, activation_backward
from .batch_norm import BatchNormContext, batch_norm, batch_norm_backward
from .dropout import dropout, dropout_backward, dropout_mask
from .losses import cross_entropy, hinge_loss, l1_loss, mse_loss, nll_loss
from .matmul import matmul
from .optim import adagrad_step, adam_step, clip_grad_norm, global_norm, rmsprop_step, sgd_step
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = [
    "BatchNormContext",
    "activation",
    "activation_backward",
    "adagrad_step",
    "adam_step",
    "batch_norm",
    "batch_norm_backward",
    "clip_grad_norm",
    "cross_entropy",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "global_norm",
    "hinge_loss",
    "l1_loss",
    "log_softmax",
    "log_softmax_backward",
    "matmul",
    "mse_loss",
    "nll_loss",
    "rmsprop_step",
    "sgd_step",
    "softmax",
    "softmax_backward",
]
