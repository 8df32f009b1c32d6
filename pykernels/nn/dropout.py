"""Dropout (``torch.nn.Dropout``) on pk.ops.dropout / dropout_backward:
inverted dropout, y = x * mask / (1 - p) in training, y = x in evaluation.

Masks come from the package's Philox stream (pk.manual_seed): each forward
pass takes the next counters, so a fixed seed gives the same sequence of masks
on every backend. Only the uint8 mask is kept for the backward pass. p = 0
and evaluation mode make no kernel call (identity).
"""

from __future__ import annotations

from ..ops._dispatch import require_float_array
from ..ops.dropout import _check_p
from . import _kernels as K
from .module import Module


class Dropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        # PyTorch allows p = 1 (all zeros); the kernel's 1 / (1 - p) scale does not.
        self.p = _check_p(p)
        self._mask = None
        self._identity = False

    def forward(self, x):
        self._identity = not self.training or self.p == 0.0
        if self._identity:
            # no kernel call, but the same checks as one: a bad x is never passed on
            require_float_array("x", x)
            self._mask = None
            return x
        y, self._mask = K.require("dropout")(x, self.p, training=True, **K.dev(self.device))
        return y

    def backward(self, grad_out):
        if self._identity:
            require_float_array("grad_out", grad_out)
            return grad_out
        if self._mask is None:
            raise RuntimeError("Dropout.backward called before forward")
        grad_x = K.require("dropout_backward")(grad_out, self._mask, self.p, **K.dev(self.device))
        self._mask = None
        return grad_x

    def extra_repr(self):
        return f"p={self.p}"
