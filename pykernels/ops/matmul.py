"""Matrix multiply: out = alpha * op(a) @ op(b) + beta * out."""

from __future__ import annotations

from ._dispatch import result_dtype, select


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
    be = select(("a", a), ("b", b), ("out", out), device=device)
    if out is None:
        if beta != 0:
            raise ValueError("argument 'beta' is nonzero but no 'out' was given to scale")
        shape = _out_shape(a, b, trans_a, trans_b) or (0, 0)
        out = be.xp.empty(shape, dtype=result_dtype(a))
    be.mod.matmul(a, b, out, bool(trans_a), bool(trans_b), float(alpha), float(beta),
                  **be.launch_kwargs())
    return out
