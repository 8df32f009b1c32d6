"""Matrix multiply: out = alpha * op(a) @ op(b) + beta * out."""

from __future__ import annotations

import numpy as np

from ..memory import host_empty_2d
from ._dispatch import cpu_module, result_dtype, select

_ndarray = np.ndarray


def _out_shape(a, b, trans_a, trans_b):
    if getattr(a, "ndim", None) != 2 or getattr(b, "ndim", None) != 2:
        return None  # the binding raises, naming the argument
    return (a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1])


def matmul(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None, device=None):
    """Matrix product of 2-D arrays, ``alpha * op(a) @ op(b) + beta * out``.

    op(x) is x, or x.T when trans_x is set: transposes are read in place, never
    copied. ``beta`` needs ``out`` (it scales out's previous contents); with
    beta == 0, out is only written. float32 and float64; both arrays of one
    dtype, C-contiguous. Like ``torch.addmm(out, op(a), op(b), beta=beta, alpha=alpha)``.
    """
    if (device is None or device == "cpu") and type(a) is _ndarray and type(b) is _ndarray:
        # NumPy arrays on the CPU, the common case: the binding checks dtypes,
        # layouts and shapes itself, so only what allocating `out` needs is
        # looked at here (small training GEMMs take a few microseconds).
        if out is None:
            if (beta == 0 and a.ndim == 2 and b.ndim == 2 and a.flags.c_contiguous
                    and b.flags.c_contiguous):
                out = host_empty_2d(a.shape[1] if trans_a else a.shape[0],
                                    b.shape[0] if trans_b else b.shape[1], a.dtype)
                cpu_module().matmul(a, b, out, bool(trans_a), bool(trans_b), float(alpha),
                                    float(beta))
                return out
        elif type(out) is _ndarray:
            cpu_module().matmul(a, b, out, bool(trans_a), bool(trans_b), float(alpha),
                                float(beta))
            return out
    be = select(("a", a), ("b", b), ("out", out), device=device)
    if out is None:
        if beta != 0:
            raise ValueError("argument 'beta' is nonzero but no 'out' was given to scale")
        shape = _out_shape(a, b, trans_a, trans_b) or (0, 0)
        out = be.empty(shape, dtype=result_dtype(a))
    be.mod.matmul(a, b, out, bool(trans_a), bool(trans_b), float(alpha), float(beta),
                  **be.launch_kwargs())
    return out
