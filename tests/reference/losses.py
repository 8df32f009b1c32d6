"""References for nll_loss, mse_loss, l1_loss and hinge_loss (PyTorch's
MultiMarginLoss), in float64: (loss, gradient of the reduced loss)."""

import numpy as np


def _reduce(elems, reduction, denom, grad_loss):
    """Reduced loss and the per-entry gradient scale."""
    if reduction == "none":
        g = np.ones(elems.shape) if grad_loss is None else np.asarray(grad_loss, np.float64)
        return elems, g
    if reduction == "sum":
        return elems.sum(), np.ones(elems.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return elems.sum() / denom, np.full(elems.shape, 1.0 / denom if denom else 0.0)


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean", grad_loss=None):
    x = np.asarray(log_probs, np.float64)
    n, c = x.shape
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    keep = target != ignore_index
    rows = np.nonzero(keep)[0]
    wy = np.zeros(n)
    wy[rows] = w[target[rows]]
    picked = np.zeros(n)
    picked[rows] = x[rows, target[rows]]
    loss, g = _reduce(-wy * picked, reduction, wy.sum(), grad_loss)
    if reduction == "mean" and not wy.sum():
        g = np.full(n, np.nan)  # PyTorch: -weight * (1 / 0) on the rows kept
    grad = np.zeros((n, c))
    grad[rows, target[rows]] = -wy[rows] * g[rows]
    return loss, grad


def mse_loss(x, t, reduction="mean", grad_loss=None):
    d = np.asarray(x, np.float64) - np.asarray(t, np.float64)
    loss, g = _reduce(d * d, reduction, d.size, grad_loss)
    return loss, 2 * d * g


def l1_loss(x, t, reduction="mean", grad_loss=None):
    d = np.asarray(x, np.float64) - np.asarray(t, np.float64)
    loss, g = _reduce(np.abs(d), reduction, d.size, grad_loss)
    return loss, np.sign(d) * g


def hinge_loss(x, target, p=1, margin=1.0, weight=None, reduction="mean", grad_loss=None):
    x = np.asarray(x, np.float64)
    n, c = x.shape
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    rows = np.arange(n)
    z = margin - x[rows, target][:, None] + x
    z[rows, target] = 0.0  # the target class is not a margin term
    pos = np.maximum(z, 0.0)
    wy = w[target][:, None]
    row = (wy * pos ** p).sum(axis=1) / c
    loss, g = _reduce(row, reduction, n, grad_loss)
    dz = wy * (p * pos ** (p - 1) * (z > 0)) / c * g[:, None]
    grad = dz.copy()
    grad[rows, target] = -dz.sum(axis=1)
    return loss, grad
