"""Choosing the backend an op runs on, from its array arguments.

Every array must be C-contiguous (ValueError naming it otherwise; nothing is
copied). NumPy arrays run on the CPU kernels, or on the CUDA kernels under the SIMT
emulator with device="cuda-emu"; arrays with __cuda_array_interface__ (CuPy,
...) run on the CUDA kernels, on CuPy's current stream. Mixing the two is a
TypeError naming both arguments: nothing is copied between devices behind the
user's back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backends import module
from ..memory import host_empty

DEVICES = ("cpu", "cuda", "cuda-emu")


def is_cuda_array(x) -> bool:
    return hasattr(x, "__cuda_array_interface__")


@dataclass(frozen=True)
class Backend:
    name: str
    mod: object

    @property
    def on_gpu(self) -> bool:
        return self.name == "cuda"

    @property
    def xp(self):
        """The array module that allocates results for this backend."""
        if self.on_gpu:
            try:
                import cupy
            except ImportError as exc:  # pragma: no cover - needs a GPU machine
                raise ImportError(
                    "pykernels needs CuPy to allocate results on the GPU: "
                    "pip install pykernels[cuda]") from exc
            return cupy
        return np

    def empty(self, shape, dtype):
        """An uninitialised result on this backend (large host results come
        from the block cache of pykernels.memory)."""
        if self.on_gpu:
            return self.xp.empty(shape, dtype=dtype)
        return host_empty(shape, dtype)

    def launch_kwargs(self) -> dict:
        """Extra keyword arguments of every CUDA binding: the stream to run on."""
        if self.on_gpu:
            return {"stream": self.xp.cuda.get_current_stream().ptr}
        if self.name == "cuda-emu":
            return {"stream": 0}
        return {}


def select(*named_arrays, device: str | None = None) -> Backend:
    """The backend for arrays given as (name, array) pairs; None entries are skipped."""
    if device is None or device == "cpu":
        # Fast path for the common case, all NumPy: ops on small training
        # shapes take microseconds, so dispatch must not cost more.
        if all(a is None or (type(a) is np.ndarray and a.flags.c_contiguous)
               for _, a in named_arrays):
            return _cpu_backend()
    if device is not None and device not in DEVICES:
        raise ValueError(f"argument 'device' must be one of {DEVICES}, got {device!r}")
    present = [(n, a) for n, a in named_arrays if a is not None]
    # The layout rule, checked before the op allocates its results: a
    # zero-stride view may claim more elements than memory can hold.
    for n, a in present:
        require_contiguous(n, a)
    on_gpu = [n for n, a in present if is_cuda_array(a)]
    on_host = [n for n, a in present if not is_cuda_array(a)]
    if on_gpu and on_host:
        raise TypeError(
            f"arguments on different devices: '{on_gpu[0]}' is a CUDA array but "
            f"'{on_host[0]}' is not; move both to the same device")
    if device is None:
        device = "cuda" if on_gpu else "cpu"
    elif device == "cuda" and on_host:
        raise TypeError(f"argument '{on_host[0]}' is not a CUDA array, but device='cuda' was asked for")
    elif device != "cuda" and on_gpu:
        raise TypeError(
            f"argument '{on_gpu[0]}' is a CUDA array, but device={device!r} takes NumPy arrays")
    return Backend(device, module(device))


_CPU_BACKEND = None


def _cpu_backend() -> Backend:
    global _CPU_BACKEND
    if _CPU_BACKEND is None:
        _CPU_BACKEND = Backend("cpu", module("cpu"))
    return _CPU_BACKEND


def cpu_module():
    """The CPU kernels' module (what the all-NumPy fast paths call)."""
    return (_CPU_BACKEND or _cpu_backend()).mod


def require_contiguous(name: str, x) -> None:
    """The layout rule of every op (C-contiguous, never copied), for the places
    where the Python layer reshapes or moves axes before a binding sees the
    array, with the bindings' message. Non-arrays are left to the binding."""
    flags = getattr(x, "flags", None)
    if flags is not None and not flags.c_contiguous:
        raise ValueError(f"argument '{name}' must be C-contiguous (use numpy.ascontiguousarray)")


def require_float_array(name: str, x) -> None:
    """For results made without a kernel call (dropout in evaluation mode): the
    checks a binding would make, float32/float64 and C-contiguous."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "flags"):
        raise TypeError(f"argument '{name}' must be an array, got {type(x).__name__}")
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"argument '{name}' must be float32 or float64, got {dtype}")
    require_contiguous(name, x)


def result_dtype(x, default=np.float32):
    """dtype for a result allocated from argument x; bad dtypes are left to the
    binding, which names the argument."""
    dtype = getattr(x, "dtype", None)
    return dtype if dtype is not None else default
