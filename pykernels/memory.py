"""Host memory for results: large CPU results come from a cache of freed blocks.

A NumPy array of 32 MiB or more is mapped fresh from the OS and returned to it
when freed, so each new one pays a page fault (and the kernel's zeroing) for
every page written; at 16M float32 elements that costs as much as an
elementwise kernel. pykernels allocates its CPU results of ``MIN_CACHED_BYTES``
or more from blocks kept after earlier results died, already mapped, like
PyTorch's CUDA caching allocator does on the GPU. The arrays are ordinary
NumPy arrays; their ``base`` is the block's owner.

    pk.memory.cache_info()       # cached bytes and blocks, limit, hits, misses
    pk.memory.empty_cache()      # give the cached blocks back to the OS
    pk.memory.set_cache_limit(n) # keep at most n bytes of free blocks (0: no cache)

The limit starts at 1 GiB (at most 1/8 of the machine's memory), or at
``PYKERNELS_HOST_CACHE_MB`` mebibytes when that is set.
"""

from __future__ import annotations

import numpy as np

from ._backends import module

MIN_CACHED_BYTES = 4 << 20

_np_empty = np.empty
_cpu = None


def _module():
    global _cpu
    if _cpu is None:
        _cpu = module("cpu")
    return _cpu


def host_empty(shape, dtype):
    """``numpy.empty(shape, dtype)``, from the block cache when it is large."""
    if type(shape) is not tuple:
        shape = tuple(shape) if hasattr(shape, "__len__") else (shape,)
    dtype = np.dtype(dtype)
    count = 1
    for d in shape:
        count *= d
    if count * dtype.itemsize < MIN_CACHED_BYTES:  # negative or odd sizes: NumPy's errors
        return _np_empty(shape, dtype)
    return _module().cached_empty(shape, dtype)


def host_empty_2d(rows: int, cols: int, dtype: np.dtype):
    """host_empty((rows, cols), dtype) for the all-NumPy fast paths, where a
    microsecond matters: dtype must already be a numpy.dtype."""
    if rows * cols * dtype.itemsize < MIN_CACHED_BYTES:
        return _np_empty((rows, cols), dtype)
    return _module().cached_empty((rows, cols), dtype)


def cache_info() -> dict:
    """cached_bytes, cached_blocks, limit_bytes, hits and misses of the block cache."""
    return dict(_module().host_cache_info())


def empty_cache() -> None:
    """Frees every cached block; arrays still alive keep theirs."""
    _module().empty_host_cache()


def set_cache_limit(nbytes: int) -> None:
    """Keeps at most ``nbytes`` of free blocks (0 turns the cache off)."""
    _module().set_host_cache_limit(int(nbytes))
