"""Losses, each returning ``(loss, grad)`` in one call: the reduced loss and its
gradient with respect to the first argument.

Definitions follow PyTorch's functional losses exactly (cross_entropy,
nll_loss, mse_loss, l1_loss, and multi_margin_loss as ``hinge_loss``),
including class weights, ``ignore_index``, label smoothing and the
denominators of ``reduction="mean"``:

- class-index targets with weights: the sum of the weights of the targets of
  non-ignored rows (nan when every row is ignored, as in PyTorch);
- cross_entropy with class-probability targets, hinge_loss: the number of rows;
- mse_loss / l1_loss: the number of elements.

Returned loss: a Python float for "mean" and "sum", an array of per-sample
losses for "none". On the GPU each call synchronises once, reading back the
loss (and whether every class label was valid: labels are checked on the
device, and an invalid one raises ValueError naming 'target'). The gradient is that of the returned loss; for "none" it is
the gradient of ``sum(grad_loss * loss)``, with ``grad_loss`` (one value per
loss entry, the upstream gradient) defaulting to ones.

Sums are deterministic: per-row (or per-chunk) float64 partial losses are added
in a fixed order, whatever the number of threads or blocks.
"""

from __future__ import annotations

import numpy as np

from ._dispatch import result_dtype, select

REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"argument 'reduction' must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _rows(x):
    """(N, C) of a 2-D argument, or a placeholder the binding rejects by name."""
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None and len(shape) == 2 else (0, 0)


def _finish(loss, row_loss, reduction, dtype):
    return row_loss.astype(dtype) if reduction == "none" else loss


def cross_entropy(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", grad_loss=None, device=None):
    """Fused softmax cross-entropy: ``(loss, grad_logits)``.

    Like ``torch.nn.functional.cross_entropy(logits, target, weight=weight,
    ignore_index=ignore_index, label_smoothing=label_smoothing,
    reduction=reduction)`` followed by backward. ``logits`` is (N, C) (other
    layouts: reshape, or move the class axis last, first); ``target`` is class
    indices (N,) as int64/int32 (each in [0, C) or ``ignore_index``) or class
    probabilities (N, C) of the logits' dtype. Softmax, loss and gradient come
    out of one pass over each row of logits.
    """
    _reduction(reduction)
    be = select(("logits", logits), ("target", target), ("weight", weight),
                ("grad_loss", grad_loss), device=device)
    dtype = result_dtype(logits)
    shape = _rows(logits)
    grad = be.empty(shape, dtype=dtype)
    row_loss = be.empty((shape[0],), dtype=np.float64)
    loss = be.mod.cross_entropy(logits, target, weight, grad_loss, grad, row_loss,
                                int(ignore_index), float(label_smoothing), reduction,
                                **be.launch_kwargs())
    return _finish(loss, row_loss, reduction, dtype), grad


def nll_loss(log_probs, target, *, weight=None, ignore_index=-100, reduction="mean",
             grad_loss=None, device=None):
    """Negative log-likelihood of class indices: ``(loss, grad_log_probs)``,
    ``loss_n = -weight[y_n] * log_probs[n, y_n]``; like
    ``torch.nn.functional.nll_loss`` on (N, C) input."""
    _reduction(reduction)
    be = select(("log_probs", log_probs), ("target", target), ("weight", weight),
                ("grad_loss", grad_loss), device=device)
    dtype = result_dtype(log_probs)
    shape = _rows(log_probs)
    grad = be.empty(shape, dtype=dtype)
    row_loss = be.empty((shape[0],), dtype=np.float64)
    loss = be.mod.nll_loss(log_probs, target, weight, grad_loss, grad, row_loss,
                           int(ignore_index), reduction, **be.launch_kwargs())
    return _finish(loss, row_loss, reduction, dtype), grad


def hinge_loss(input, target, *, p=1, margin=1.0, weight=None, reduction="mean",
               grad_loss=None, device=None):
    """Multi-class margin (hinge) loss: ``(loss, grad_input)``, like
    ``torch.nn.functional.multi_margin_loss`` (``torch.nn.MultiMarginLoss``) on
    (N, C) input: ``loss_n = sum_{i != y} weight[y] * max(0, margin - x[y] + x[i])**p / C``
    (the weight multiplies after the power, as PyTorch computes it); p is 1 or 2."""
    _reduction(reduction)
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"argument 'p' must be 1 or 2, got {p!r}")
    be = select(("input", input), ("target", target), ("weight", weight),
                ("grad_loss", grad_loss), device=device)
    dtype = result_dtype(input)
    shape = _rows(input)
    grad = be.empty(shape, dtype=dtype)
    row_loss = be.empty((shape[0],), dtype=np.float64)
    loss = be.mod.hinge_loss(input, target, weight, grad_loss, grad, row_loss, int(p),
                             float(margin), reduction, **be.launch_kwargs())
    return _finish(loss, row_loss, reduction, dtype), grad


def _elementwise(fn_name, input, target, reduction, grad_loss, device):
    _reduction(reduction)
    be = select(("input", input), ("target", target), ("grad_loss", grad_loss), device=device)
    dtype = result_dtype(input)
    shape = tuple(getattr(input, "shape", (0,)))
    size = int(np.prod(shape, dtype=np.int64))
    chunk = be.mod.LOSS_CHUNK
    grad = be.empty(shape, dtype=dtype)
    loss_out = be.empty(shape, dtype=dtype) if reduction == "none" else None
    partial = be.empty(((size + chunk - 1) // chunk,), dtype=np.float64)
    loss = getattr(be.mod, fn_name)(input, target, grad_loss, grad, loss_out, partial, reduction,
                                    **be.launch_kwargs())
    return (loss_out if reduction == "none" else loss), grad


def mse_loss(input, target, reduction="mean", *, grad_loss=None, device=None):
    """Squared error ``(input - target)**2``: ``(loss, grad_input)``; like
    ``torch.nn.functional.mse_loss`` (same shapes, no broadcasting)."""
    return _elementwise("mse_loss", input, target, reduction, grad_loss, device)


def l1_loss(input, target, reduction="mean", *, grad_loss=None, device=None):
    """Absolute error ``|input - target|``: ``(loss, grad_input)``; like
    ``torch.nn.functional.l1_loss``; the gradient at input == target is 0
    (``torch.sign``)."""
    return _elementwise("l1_loss", input, target, reduction, grad_loss, device)
