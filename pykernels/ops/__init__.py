"""Functional ops. Each takes NumPy arrays (CPU kernels, or the CUDA kernels
under the emulator with device="cuda-emu") or CUDA arrays (CUDA kernels) and
returns results of the same kind."""

from .batch_norm import BatchNormContext, batch_norm, batch_norm_backward
from .dropout import dropout, dropout_backward, dropout_mask
from .matmul import matmul

__all__ = ["matmul", "batch_norm", "batch_norm_backward", "BatchNormContext", "dropout",
           "dropout_backward", "dropout_mask"]
