"""How layers reach the kernels: one place that knows which pk.ops functions
exist and how a module's device is passed to them.

Arrays on "cpu" and "cuda-emu" are both NumPy arrays, so every kernel call
names the device explicitly; on "cuda" the CuPy arrays already say it.
"""

from __future__ import annotations

from .. import ops


def dev(device: str) -> dict:
    """Keyword arguments that route a kernel call to a module's device."""
    return {"device": device}


def has(name: str) -> bool:
    return hasattr(ops, name)


def require(name: str):
    """pk.ops.<name>, or an ImportError saying which kernel this build lacks."""
    fn = getattr(ops, name, None)
    if fn is None:
        raise ImportError(f"this build of pykernels has no pk.ops.{name} kernel")
    return fn
