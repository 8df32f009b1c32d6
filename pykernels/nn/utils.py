"""Gradient utilities (``torch.nn.utils``)."""

from __future__ import annotations

from collections import defaultdict

from . import _kernels as K
from .parameter import Parameter


def _grads_by_group(parameters):
    if isinstance(parameters, Parameter):
        parameters = [parameters]
    groups = defaultdict(list)
    for p in parameters:
        if p.requires_grad and p.grad is not None:
            groups[(p.device, p.grad.dtype.str)].append(p.grad)
    return groups


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, eps: float = 1e-6) -> float:
    """Scale all gradients in place so that their global L2 norm is at most
    max_norm: g <- g * max_norm / (total + eps) when that factor is below 1
    (``torch.nn.utils.clip_grad_norm_``). Returns the norm before clipping.
    One kernel call per device/dtype group (one in the usual case)."""
    if float(norm_type) != 2.0:
        raise ValueError(f"only the L2 norm (norm_type=2) is implemented, got norm_type={norm_type}")
    groups = _grads_by_group(parameters)
    if not groups:
        return 0.0
    if len(groups) == 1:
        (device, _), grads = next(iter(groups.items()))
        return float(K.require("clip_grad_norm")(grads, max_norm, eps, **K.dev(device)))
    # Several groups: the total norm spans them all, so measure first, then scale.
    norms = {key: float(K.require("global_norm")(grads, **K.dev(key[0]))) for key, grads in groups.items()}
    total = sum(n * n for n in norms.values()) ** 0.5
    factor = float(max_norm) / (total + eps)
    if factor < 1.0:
        for (device, _), grads in groups.items():
            # clip_grad_norm with max_norm = factor * (group norm + eps) scales by exactly `factor`.
            K.require("clip_grad_norm")(grads, factor * (norms[(device, _)] + eps), eps, **K.dev(device))
    return total
