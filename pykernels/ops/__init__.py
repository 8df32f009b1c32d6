"""Functional ops. Each takes NumPy arrays (CPU kernels, or the CUDA kernels
under the emulator with device="cuda-emu") or CUDA arrays (CUDA kernels) and
returns results of the same kind."""

from .matmul import matmul
from .optim import (adagrad_step, adam_step, clip_grad_norm, global_norm, rmsprop_step,
                    sgd_step)

__all__ = ["matmul", "sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "global_norm",
           "clip_grad_norm"]
