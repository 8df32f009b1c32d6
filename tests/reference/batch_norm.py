"""Reference for pk.ops.batch_norm / batch_norm_backward in float64, written
from the formulas of torch.nn.functional.batch_norm (see
https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html):

    x_hat = (x - mean) / sqrt(var + eps),  y = x_hat * weight + bias
    training: mean, var (biased) over axes (0, 2, 3, ...); running stats
              <- (1 - momentum) * running + momentum * (mean, var * n / (n - 1))
    backward (training): dx = weight / sqrt(var + eps) *
              (dy - mean(dy) - x_hat * mean(dy * x_hat))
    backward (eval): dx = dy * weight / sqrt(var + eps)
    grad_weight = sum(dy * x_hat), grad_bias = sum(dy)
"""

import numpy as np


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    return np.asarray(v, np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm(x, weight, bias, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """(y, new_running_mean, new_running_var, mean, invstd), all float64;
    running statistics are returned (not modified); None stays None."""
    x = x.astype(np.float64)
    batch_stats = training or (running_mean is None and running_var is None)
    if batch_stats:
        mean = x.mean(axis=_axes(x))
        var = ((x - _per_channel(mean, x)) ** 2).mean(axis=_axes(x))
    else:
        mean = running_mean.astype(np.float64)
        var = running_var.astype(np.float64)
    new_rm, new_rv = running_mean, running_var
    if training and running_mean is not None:
        n = x.size // x.shape[1]
        new_rm = (1 - momentum) * running_mean.astype(np.float64) + momentum * mean
        new_rv = (1 - momentum) * running_var.astype(np.float64) + momentum * var * n / (n - 1)
    invstd = 1.0 / np.sqrt(var + eps)
    y = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    if weight is not None:
        y = y * _per_channel(weight, x)
    if bias is not None:
        y = y + _per_channel(bias, x)
    return y, new_rm, new_rv, mean, invstd


def batch_norm_backward(grad_y, x, weight, mean, invstd, *, batch_stats):
    """(grad_x, grad_weight, grad_bias) in float64 (parameter gradients always returned)."""
    x = x.astype(np.float64)
    dy = grad_y.astype(np.float64)
    x_hat = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    w = np.ones(x.shape[1]) if weight is None else weight.astype(np.float64)
    grad_bias = dy.sum(axis=_axes(x))
    grad_weight = (dy * x_hat).sum(axis=_axes(x))
    k = _per_channel(w * invstd, x)
    if batch_stats:
        n = x.size // x.shape[1]
        grad_x = k * (dy - _per_channel(grad_bias / n, x) - x_hat * _per_channel(grad_weight / n, x))
    else:
        grad_x = k * dy
    return grad_x, grad_weight, grad_bias
