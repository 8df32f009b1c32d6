"""RMSprop (``torch.optim.RMSprop``), one pk.ops.rmsprop_step call per bucket:

    g <- g + weight_decay * p
    s <- alpha s + (1 - alpha) g^2
    d <- sqrt(s - a^2) + eps with a <- alpha a + (1 - alpha) g (centered), else sqrt(s) + eps
    b <- momentum b + g / d;  p <- p - lr b  (momentum > 0), else p <- p - lr g / d
"""

from __future__ import annotations

from ..nn import _kernels as K
from .optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _init_state(self, p, group):
        state = {"step": 0, "square_avg": self._zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = self._zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = self._zeros_like(p)
        return state

    def _update(self, group, params, states, device):
        momentum, centered = group["momentum"] > 0, group["centered"]
        for p, s in zip(params, states):
            if momentum and "momentum_buffer" not in s:
                s["momentum_buffer"] = self._zeros_like(p)
            if centered and "grad_avg" not in s:
                s["grad_avg"] = self._zeros_like(p)
        K.require("rmsprop_step")(
            [p.data for p in params], [p.grad for p in params], [s["square_avg"] for s in states],
            [s["momentum_buffer"] for s in states] if momentum else None,
            [s["grad_avg"] for s in states] if centered else None,
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
            momentum=group["momentum"], centered=centered, maximize=group["maximize"], **K.dev(device))
        for s in states:
            s["step"] += 1
