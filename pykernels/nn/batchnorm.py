"""Batch normalisation over channels (``torch.nn.BatchNorm1d``/``BatchNorm2d``)
on pk.ops.batch_norm / batch_norm_backward.

Training: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias with batch
statistics per channel (axis 1), and the running statistics updated in place
with ``momentum`` (unbiased variance), or with a cumulative average
(momentum = 1 / batches seen) when momentum is None, as PyTorch does.
Evaluation uses the running statistics (batch statistics when
track_running_stats is False). Backward keeps only the kernel's context (the
input and the per-channel mean and 1/std).
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from . import init
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    _ndims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, *, dtype=np.float32, device: str = "cpu"):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self.to(device)
        self._ctx = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        if not hasattr(x, "ndim") or not hasattr(x, "shape"):
            raise TypeError(f"argument 'x' must be an array, got {type(x).__name__}")
        if x.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__}: argument 'x' must have {' or '.join(map(str, self._ndims))} "
                             f"dimensions, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): argument 'x' has {x.shape[1]} channels "
                             f"(input shape {tuple(x.shape)})")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or not self.track_running_stats
        w = self.weight.data if self.affine else None
        b = self.bias.data if self.affine else None
        y, self._ctx = K.require("batch_norm")(
            x, w, b, self.running_mean if self.track_running_stats else None,
            self.running_var if self.track_running_stats else None,
            training=use_batch_stats, momentum=momentum, eps=self.eps, **K.dev(self.device))
        return y

    def backward(self, grad_out):
        if self._ctx is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        ctx, self._ctx = self._ctx, None
        grad_x, grad_w, grad_b = K.require("batch_norm_backward")(grad_out, ctx)
        if self.affine:
            self.weight.accumulate_grad(grad_w)
            self.bias.accumulate_grad(grad_b)
        return grad_x

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) (``torch.nn.BatchNorm1d``)."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) (``torch.nn.BatchNorm2d``)."""
    _ndims = (4,)
