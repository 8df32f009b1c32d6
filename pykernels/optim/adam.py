"""Adam and AdamW (``torch.optim.Adam``, ``torch.optim.AdamW``), one
pk.ops.adam_step call per bucket (parameters at the same step number):

    g <- g + weight_decay * p   (Adam)  |  p <- p * (1 - lr * weight_decay)  (AdamW)
    m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
    v^ <- max(v^, v) (amsgrad) else v
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v^) / sqrt(1 - beta2^t) + eps)
The bias corrections are computed once per call from the step number t.
"""

from __future__ import annotations

from ..nn import _kernels as K
from .optimizer import Optimizer


class Adam(Optimizer):
    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _init_state(self, p, group):
        state = {"step": 0, "exp_avg": self._zeros_like(p), "exp_avg_sq": self._zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = self._zeros_like(p)
        return state

    def _bucket_key(self, state):
        return state["step"]

    def _update(self, group, params, states, device):
        amsgrad = group["amsgrad"]
        if amsgrad:
            for p, s in zip(params, states):
                if "max_exp_avg_sq" not in s:
                    s["max_exp_avg_sq"] = self._zeros_like(p)
        step = states[0]["step"] + 1
        beta1, beta2 = group["betas"]
        K.require("adam_step")(
            [p.data for p in params], [p.grad for p in params],
            [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
            [s["max_exp_avg_sq"] for s in states] if amsgrad else None,
            step=step, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], decoupled_weight_decay=self._decoupled,
            amsgrad=amsgrad, maximize=group["maximize"], **K.dev(device))
        for s in states:
            s["step"] = step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), default 1e-2."""
    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
