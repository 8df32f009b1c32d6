"""pykernels: hand-written C++ and CUDA kernels for training neural networks.

    import pykernels as pk
    pk.backends()                    # what is built and usable here
    c = pk.ops.matmul(a, b)          # NumPy arrays -> CPU kernels
    c = pk.ops.matmul(a, b, device="cuda-emu")  # CUDA kernels on the emulator
    c = pk.ops.matmul(a_gpu, b_gpu)  # CuPy arrays -> CUDA kernels
"""

from ._backends import backends, get_num_threads, set_num_threads
from . import ops
from .random import initial_seed, manual_seed
from . import data, memory, nn, optim, train

__version__ = "0.1.0"

__all__ = ["backends", "get_num_threads", "set_num_threads", "ops", "manual_seed", "initial_seed",
           "nn", "optim", "data", "train", "memory", "__version__"]
