"""Reference for pk.ops.cross_entropy in float64, from PyTorch's definition.

Both target kinds are written as a per-row class distribution a[n, c] with
loss_n = sum_c a[n, c] * (-log_softmax(z)[n, c]):
  class indices:  a = (1 - eps) w_y onehot(y) + eps/C w   (0 for ignored rows)
  probabilities:  a = w * ((1 - eps) t + eps/C)
so that d loss_n / dz = p_n * sum_c a[n, c] - a[n]."""

import numpy as np

from .softmax import log_softmax


def class_distribution(target, n_classes, weight=None, ignore_index=-100, label_smoothing=0.0):
    target = np.asarray(target)
    w = np.ones(n_classes) if weight is None else np.asarray(weight, np.float64)
    eps = label_smoothing
    if target.ndim == 2:
        t = (1 - eps) * target.astype(np.float64) + eps / n_classes
        return w * t, None
    n = target.shape[0]
    keep = target != ignore_index
    a = np.zeros((n, n_classes))
    rows = np.nonzero(keep)[0]
    a[rows, target[rows]] = (1 - eps) * w[target[rows]]
    a[rows] += eps / n_classes * w
    denom = w[target[rows]].sum()
    return a, denom


def cross_entropy(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", grad_loss=None):
    z = np.asarray(logits, np.float64)
    target = np.asarray(target)
    n, c = z.shape
    a, denom = class_distribution(target, c, weight, ignore_index, label_smoothing)
    logp = log_softmax(z)
    with np.errstate(invalid="ignore"):
        row = -np.sum(np.where(a == 0, 0.0, a * logp), axis=1)
    if denom is None:
        denom = float(n)
    if reduction == "none":
        loss = row
        g = np.ones(n) if grad_loss is None else np.asarray(grad_loss, np.float64)
    elif reduction == "sum":
        loss = row.sum()
        g = np.ones(n)
    elif denom:
        loss = row.sum() / denom
        g = np.full(n, 1.0 / denom)
    else:
        # Zero denominator (every row ignored, or every target's weight 0):
        # PyTorch divides the NLL term (0 / 0) and the smoothing term
        # separately, so the loss is NaN, and so is the gradient of every row
        # that is not ignored (an ignored row's gradient is 0).
        loss = np.nan
        kept = np.ones(n, bool) if target.ndim == 2 else target != ignore_index
        g = np.where(kept, np.nan, 0.0)
    grad = g[:, None] * (np.exp(logp) * a.sum(axis=1, keepdims=True) - a)
    return loss, grad
