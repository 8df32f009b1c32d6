"""Functional ops. Each takes NumPy arrays (CPU kernels, or the CUDA kernels
under the emulator with device="cuda-emu") or CUDA arrays (CUDA kernels) and
returns results of the same kind."""

from .activation import activation, activation_backward
from .matmul import matmul

__all__ = ["activation", "activation_backward", "matmul"]
