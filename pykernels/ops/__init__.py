"""Functional ops. Each takes NumPy arrays (CPU kernels, or the CUDA kernels
under the emulator with device="cuda-emu") or CUDA arrays (CUDA kernels) and
returns results of the same kind."""

from .losses import cross_entropy, hinge_loss, l1_loss, mse_loss, nll_loss
from .matmul import matmul
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = ["matmul", "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
           "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "hinge_loss"]
