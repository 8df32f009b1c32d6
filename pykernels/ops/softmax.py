"""Softmax and log-softmax along an axis, and their backward.

    y = exp(x - max x) / sum exp(x - max x)            (torch.softmax)
    log y = x - max x - log sum exp(x - max x)         (torch.log_softmax)
    softmax backward:      grad_x = y * (grad_y - sum(grad_y * y))
    log_softmax backward:  grad_x = grad_y - exp(y) * sum(grad_y)

The kernels work along the last axis of a C-contiguous array. Another axis is
handled here: the array is copied with that axis moved last
(``ascontiguousarray(moveaxis(x, axis, -1))``), the kernel runs, and the result
is moved back and made C-contiguous again. That costs two extra copies, so
keep the softmax axis last where you can.
"""

from __future__ import annotations

from ._dispatch import require_contiguous, result_dtype, select


def _axis(x, axis):
    ndim = getattr(x, "ndim", None)
    if ndim is None:
        return None  # not an array: the binding names the argument
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"argument 'axis' must be an int, got {type(axis).__name__}")
    if ndim == 0:
        if axis not in (0, -1):
            raise ValueError(f"argument 'axis' is {axis}, out of range for a 0-d array")
        return 0
    if not -ndim <= axis < ndim:
        raise ValueError(f"argument 'axis' is {axis}, out of range for an array of {ndim} axes")
    return axis % ndim


def _to_last(xp, a, axis):
    """a with `axis` last, C-contiguous (a itself when it already is)."""
    if a.ndim == 0:
        return a.reshape(1)
    if axis == a.ndim - 1:
        return a
    return xp.ascontiguousarray(xp.moveaxis(a, axis, -1))


def _from_last(xp, out, like, axis):
    if like.ndim == 0:
        return out.reshape(())
    if axis == like.ndim - 1:
        return out
    return xp.ascontiguousarray(xp.moveaxis(out, -1, axis))


def _forward(x, axis, log, device):
    be = select(("x", x), device=device)
    ax = _axis(x, axis)
    if ax is None:
        be.mod.softmax(x, x, log, **be.launch_kwargs())  # raises, naming 'x'
    require_contiguous("x", x)  # before _to_last, which would copy it
    xp = be.xp
    xm = _to_last(xp, x, ax)
    out = be.empty(xm.shape, dtype=result_dtype(x))
    be.mod.softmax(xm, out, log, **be.launch_kwargs())
    return _from_last(xp, out, x, ax)


def _backward(grad_y, y, axis, log, device):
    be = select(("grad_y", grad_y), ("y", y), device=device)
    ax = _axis(y, axis)
    if ax is None or getattr(grad_y, "shape", None) != y.shape:
        be.mod.softmax_backward(grad_y, y, y, log, **be.launch_kwargs())  # raises
    require_contiguous("grad_y", grad_y)
    require_contiguous("y", y)
    xp = be.xp
    ym = _to_last(xp, y, ax)
    gm = _to_last(xp, grad_y, ax)
    out = be.empty(ym.shape, dtype=result_dtype(y))
    be.mod.softmax_backward(gm, ym, out, log, **be.launch_kwargs())
    return _from_last(xp, out, y, ax)


def softmax(x, axis=-1, *, device=None):
    """Softmax of x along `axis`, numerically stable; like ``torch.softmax(x, dim=axis)``."""
    return _forward(x, axis, False, device)


def log_softmax(x, axis=-1, *, device=None):
    """Log-softmax of x along `axis`; like ``torch.log_softmax(x, dim=axis)``."""
    return _forward(x, axis, True, device)


def softmax_backward(grad_y, y, axis=-1, *, device=None):
    """Gradient w.r.t. the input of softmax, from its output ``y`` and the
    gradient of its output ``grad_y``: ``y * (grad_y - sum(grad_y * y, axis))``
    (PyTorch's ``_softmax_backward_data``)."""
    return _backward(grad_y, y, axis, False, device)


def log_softmax_backward(grad_y, y, axis=-1, *, device=None):
    """Gradient w.r.t. the input of log_softmax, from its output ``y``:
    ``grad_y - exp(y) * sum(grad_y, axis)`` (PyTorch's ``_log_softmax_backward_data``)."""
    return _backward(grad_y, y, axis, True, device)
