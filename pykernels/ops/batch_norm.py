"""Batch normalisation over the channel axis 1 of (N, C) or (N, C, *spatial).

    training: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias
              running_mean <- (1 - momentum) running_mean + momentum mean_B
              running_var  <- (1 - momentum) running_var  + momentum var_B * n / (n - 1)
    eval:     y = (x - running_mean) / sqrt(running_var + eps) * weight + bias

mean_B and the biased var_B are taken per channel over the batch and spatial
positions (n values). As ``torch.nn.functional.batch_norm``; with both running
statistics None, evaluation also uses batch statistics, as
``torch.nn.BatchNorm2d(track_running_stats=False)`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._dispatch import result_dtype, select


@dataclass(frozen=True)
class BatchNormContext:
    """What batch_norm_backward needs. ``x`` is the forward input itself (not a
    copy: modifying it in place before the backward pass gives wrong
    gradients, as PyTorch's saved tensors would refuse); ``mean`` and
    ``invstd`` are the per-channel statistics used, in float64."""
    x: object
    weight: object
    mean: object
    invstd: object
    batch_stats: bool
    affine_weight: bool
    affine_bias: bool
    device: str


def _workspace(be, shape) -> dict:
    """The CUDA kernels reduce in two levels through a float64 workspace
    (block partials, per-channel coefficients); the CPU kernels need none."""
    if be.name == "cpu":
        return {}
    size = be.mod.batch_norm_workspace_size(list(shape)) if len(shape) >= 2 else 0
    return {"workspace": be.empty((max(size, 1),), dtype=np.float64)}


def batch_norm(x, weight, bias, running_mean, running_var, *, training, momentum=0.1, eps=1e-5,
               device=None):
    """``(y, ctx)``: y as ``torch.nn.functional.batch_norm(x, running_mean,
    running_var, weight, bias, training, momentum, eps)``; running statistics,
    when given, are updated in place in training. weight/bias may be None
    (no affine transform). Pass ctx to batch_norm_backward."""
    be = select(("x", x), ("weight", weight), ("bias", bias), ("running_mean", running_mean),
                ("running_var", running_var), device=device)
    batch_stats = bool(training) or (running_mean is None and running_var is None)
    shape = getattr(x, "shape", ())
    channels = shape[1] if len(shape) >= 2 else 0
    y = be.empty(shape, dtype=result_dtype(x))
    mean = be.empty((channels,), dtype=np.float64)
    invstd = be.empty((channels,), dtype=np.float64)
    be.mod.batch_norm_forward(x, weight, bias, running_mean, running_var, y, mean, invstd,
                              batch_stats, float(momentum), float(eps), **_workspace(be, shape),
                              **be.launch_kwargs())
    ctx = BatchNormContext(x, weight, mean, invstd, batch_stats, weight is not None,
                           bias is not None, be.name)
    return y, ctx


def batch_norm_backward(grad_y, ctx: BatchNormContext):
    """``(grad_x, grad_weight, grad_bias)`` of batch_norm; the parameter
    gradients are None when the forward pass had no weight / bias."""
    be = select(("grad_y", grad_y), ("x", ctx.x), device=ctx.device)
    dtype = result_dtype(ctx.x)
    shape = getattr(ctx.x, "shape", ())
    channels = shape[1] if len(shape) >= 2 else 0
    grad_x = be.empty(shape, dtype=dtype)
    grad_weight = be.empty((channels,), dtype=dtype) if ctx.affine_weight else None
    grad_bias = be.empty((channels,), dtype=dtype) if ctx.affine_bias else None
    be.mod.batch_norm_backward(grad_y, ctx.x, ctx.weight, ctx.mean, ctx.invstd, grad_x,
                               grad_weight, grad_bias, ctx.batch_stats, **_workspace(be, shape),
                               **be.launch_kwargs())
    return grad_x, grad_weight, grad_bias
