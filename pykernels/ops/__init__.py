"""Functional ops. Each takes NumPy arrays (CPU kernels, or the CUDA kernels
under the emulator with device="cuda-emu") or CUDA arrays (CUDA kernels) and
returns results of the same kind."""

from .activation import activation, activation_backward
from .batch_norm import BatchNormContext, batch_norm, batch_norm_backward
from .dropout import dropout, dropout_backward, dropout_mask
from .losses import cross_entropy, hinge_loss, l1_loss, mse_loss, nll_loss
from .matmul import matmul
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = [
    "BatchNormContext",
    "activation",
    "activation_backward",
    "batch_norm",
    "batch_norm_backward",
    "cross_entropy",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "hinge_loss",
    "l1_loss",
    "log_softmax",
    "log_softmax_backward",
    "matmul",
    "mse_loss",
    "nll_loss",
    "softmax",
    "softmax_backward",
]
