"""Inverted dropout with counter-based (Philox4x32-10) masks.

    mask[i] = (u_i >= p),   y = x * mask / (1 - p)

u_i comes from Philox4x32-10 with key = seed and counter = offset + i // 4
(word i % 4), so a mask depends only on (seed, offset, element index): the
same on cpu, cuda and cuda-emu and for any thread count (csrc/common/philox.h
states the exact convention). Masks are uint8 arrays of x's shape (1 = kept):
one byte per element, readable with NumPy and CuPy without unpacking.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ._dispatch import require_float_array, result_dtype, select


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"argument 'p' must be a float, got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"argument 'p' (dropout probability) must be in [0, 1), got {p}")
    return p


def _check_offset(offset):
    if isinstance(offset, bool) or not hasattr(offset, "__index__"):
        raise TypeError(f"argument 'offset' must be an int, got {type(offset).__name__}")
    offset = int(offset)
    if not 0 <= offset < 1 << 64:
        raise ValueError(f"argument 'offset' must be in [0, 2**64), got {offset}")
    return offset


def _blocks(shape) -> int:
    return (int(np.prod(shape, dtype=np.int64)) + 3) // 4


def _seed_offset(seed, offset, shape):
    """(seed, offset) for one draw: explicit, or reserved from pk.manual_seed's generator."""
    if seed is None:
        return _random.philox_seed_offset(_blocks(shape))
    return _random.normalize_seed(seed), _check_offset(offset)


def dropout(x, p, *, training=True, seed=None, offset=0, device=None):
    """Inverted dropout: returns ``(y, mask)`` with ``y = x * mask / (1 - p)``.

    Like ``torch.nn.functional.dropout(x, p, training)``. ``p`` in [0, 1).
    ``seed=None`` draws from the package generator (``pk.manual_seed``), which
    then advances so the next call differs; with an explicit ``seed`` the mask
    is a function of (seed, offset, index) and ``offset`` counts blocks of 4
    elements. With ``training=False`` y is a copy of x and mask is None
    (dropout_backward then passes gradients through unchanged).
    """
    p = _check_p(p)
    be = select(("x", x), device=device)
    if not training:
        require_float_array("x", x)  # what the kernel would check
        return be.xp.array(x, copy=True), None
    shape = getattr(x, "shape", ())
    seed, offset = _seed_offset(seed, offset, shape)
    y = be.empty(shape, dtype=result_dtype(x))
    mask = be.empty(shape, dtype=np.uint8)
    be.mod.dropout(x, y, mask, p, seed, offset, **be.launch_kwargs())
    return y, mask


def dropout_backward(grad_y, mask, p, *, device=None):
    """``grad_x = grad_y * mask / (1 - p)``; mask None (evaluation mode) passes
    grad_y through (as a copy)."""
    p = _check_p(p)
    be = select(("grad_y", grad_y), ("mask", mask), device=device)
    if mask is None:
        require_float_array("grad_y", grad_y)
        return be.xp.array(grad_y, copy=True)
    grad_x = be.empty(getattr(grad_y, "shape", ()), dtype=result_dtype(grad_y))
    be.mod.dropout_backward(grad_y, mask, grad_x, p, **be.launch_kwargs())
    return grad_x


def dropout_mask(shape, p, *, seed, offset=0, device="cpu"):
    """The uint8 mask that ``dropout(x, p, seed=seed, offset=offset)`` draws for
    an x of this shape, on the given device ("cpu", "cuda-emu" or "cuda")."""
    p = _check_p(p)
    if isinstance(shape, numbers.Integral):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"argument 'shape' must have non-negative sizes, got {shape}")
    seed = _random.normalize_seed(seed)
    offset = _check_offset(offset)
    be = select(device=device)
    mask = be.empty(shape, dtype=np.uint8)
    be.mod.dropout_mask(mask, p, seed, offset, **be.launch_kwargs())
    return mask
