"""Adagrad (``torch.optim.Adagrad``), one pk.ops.adagrad_step call per bucket
(parameters at the same step number):

    g <- g + weight_decay * p
    s <- s + g^2          (s starts at initial_accumulator_value)
    p <- p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
"""

from __future__ import annotations

from ..nn import _kernels as K
from .optimizer import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _init_state(self, p, group):
        return {"step": 0, "sum": self._zeros_like(p, group["initial_accumulator_value"])}

    def _bucket_key(self, state):
        return state["step"]

    def _update(self, group, params, states, device):
        step = states[0]["step"] + 1
        K.require("adagrad_step")(
            [p.data for p in params], [p.grad for p in params], [s["sum"] for s in states],
            step=step, lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
            eps=group["eps"], maximize=group["maximize"], **K.dev(device))
        for s in states:
            s["step"] = step
