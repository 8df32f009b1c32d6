"""Moving arrays between devices for the Python layer.

"cpu" and "cuda-emu" hold NumPy arrays (the emulator runs CUDA kernels on host
memory); "cuda" holds CuPy arrays. Copies happen only here, when a module,
optimizer or loader is explicitly moved.
"""

from __future__ import annotations

import numpy as np

from .ops._dispatch import DEVICES, is_cuda_array


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ValueError(f"argument 'device' must be one of {DEVICES}, got {device!r}")
    return device


def cupy_module():
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - needs a GPU machine
        raise ImportError("device='cuda' needs CuPy: pip install pykernels[cuda]") from exc
    return cupy


def xp_for(device: str):
    """The array module that holds arrays on a device."""
    return cupy_module() if device == "cuda" else np


def to_numpy(x) -> np.ndarray:
    """A host NumPy array with x's values (a copy only when x is on the GPU)."""
    if is_cuda_array(x):
        return cupy_module().asnumpy(x)
    return np.asarray(x)


def to_device(x, device: str, dtype=None):
    """x as a C-contiguous array on device, converted to dtype if given."""
    # asarray(order="C") rather than ascontiguousarray, which turns 0-d arrays
    # (e.g. BatchNorm's num_batches_tracked) into 1-d ones.
    if device == "cuda":
        cp = cupy_module()
        return cp.asarray(x, dtype=dtype, order="C")
    return np.asarray(to_numpy(x), dtype=dtype, order="C")


def device_of(x) -> str:
    """"cuda" for CUDA arrays, else "cpu" (the emulator cannot be told apart)."""
    return "cuda" if is_cuda_array(x) else "cpu"
