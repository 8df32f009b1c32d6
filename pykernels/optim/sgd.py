"""Stochastic gradient descent with momentum, Nesterov momentum and weight
decay (``torch.optim.SGD``), one pk.ops.sgd_step call per bucket:

    g <- g + weight_decay * p     (g <- -g first when maximize)
    b <- g (first step),  b <- momentum * b + (1 - dampening) * g
    g <- g + momentum * b (nesterov),  g <- b (momentum)
    p <- p - lr * g
"""

from __future__ import annotations

from ..nn import _kernels as K
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _init_state(self, p, group):
        if group["momentum"] == 0:
            return {}
        # Written (not read) by the first step, which sets it to the gradient.
        return {"momentum_buffer": self._zeros_like(p), "momentum_buffer_initialized": False}

    def _bucket_key(self, state):
        return state.get("momentum_buffer_initialized")

    def _update(self, group, params, states, device):
        use_momentum = group["momentum"] != 0
        if use_momentum:
            for p, s in zip(params, states):  # momentum switched on after earlier steps
                if "momentum_buffer" not in s:
                    s.update(self._init_state(p, group))
        first = use_momentum and not states[0]["momentum_buffer_initialized"]
        K.require("sgd_step")(
            [p.data for p in params], [p.grad for p in params],
            [s["momentum_buffer"] for s in states] if use_momentum else None,
            lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            nesterov=group["nesterov"], weight_decay=group["weight_decay"], maximize=group["maximize"],
            first_step=first, **K.dev(device))
        if use_momentum:
            for s in states:
                s["momentum_buffer_initialized"] = True
