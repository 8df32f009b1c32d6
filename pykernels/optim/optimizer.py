"""Optimizer base class (``torch.optim.Optimizer``): parameter groups, per-
parameter state, state_dict; subclasses supply only the state they need and
the one fused multi-tensor kernel call that updates a list of parameters.

``step()`` gathers, per group, the parameters that have a gradient and
require one (frozen parameters and parameters without gradients are left
alone, as PyTorch does), buckets them by device, dtype and whatever the
kernel call needs to share (e.g. the step number), and makes one kernel call
per bucket — one per step in the usual case of a single group on one device.

State arrays live with their parameter: after ``model.to(device)`` or a dtype
change, they are moved or cast on the next step.
"""

from __future__ import annotations

import numbers
from collections import defaultdict

import numpy as np

from .._arrays import to_device, to_numpy, xp_for
from ..nn.parameter import Parameter


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()

# Options that PyTorch requires to be >= 0, with the words of its messages.
_NONNEGATIVE = {"lr": "learning rate", "eps": "epsilon value", "weight_decay": "weight_decay value",
                "momentum": "momentum value", "alpha": "alpha value", "lr_decay": "lr_decay value",
                "initial_accumulator_value": "initial_accumulator_value value"}


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"argument '{name}' must be a number, got {type(value).__name__}")
    return float(value)


def _same_place(a, p) -> bool:
    return hasattr(a, "__cuda_array_interface__") == hasattr(p.data, "__cuda_array_interface__") \
        and a.dtype == p.data.dtype


class Optimizer:
    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters or of dicts, got a Parameter")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group.get("params")
        params = [params] if isinstance(params, Parameter) else list(params or [])
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"parameter group didn't specify a value of required argument {key!r}")
            group.setdefault(key, default)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """torch.optim's range checks of a group's options (NaN fails them too),
        with PyTorch's messages plus the argument's name."""
        for key, what in _NONNEGATIVE.items():
            if key in group:
                value = _number(key, group[key])
                if not 0.0 <= value:
                    raise ValueError(f"Invalid {what}: {value} (argument '{key}' must be >= 0)")
        if "betas" in group:
            betas = group["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise TypeError(f"argument 'betas' must be a pair of numbers, got {betas!r}")
            for i, beta in enumerate(betas):
                if not 0.0 <= _number("betas", beta) < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {beta} "
                                     f"(argument 'betas' must be in [0, 1))")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    # -------------------------------------------------------------- subclass hooks
    def _init_state(self, p: Parameter, group: dict) -> dict:
        """The state of a parameter before its first step."""
        return {}

    def _bucket_key(self, state: dict):
        """What parameters must share to be updated by one kernel call."""
        return None

    def _update(self, group: dict, params: list, states: list, device: str) -> None:
        raise NotImplementedError

    # -------------------------------------------------------------- stepping
    @staticmethod
    def _zeros_like(p: Parameter, fill: float = 0.0):
        xp = xp_for(p.device)
        return xp.full(p.data.shape, fill, dtype=p.data.dtype) if fill else xp.zeros(p.data.shape, p.data.dtype)

    def _state_for(self, p: Parameter, group: dict) -> dict:
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = self._init_state(p, group)
        for key, value in state.items():
            if hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0 and not _same_place(value, p):
                state[key] = to_device(value, p.device, p.data.dtype)
        return state

    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            buckets = defaultdict(list)
            for p in group["params"]:
                if not p.requires_grad or p.grad is None:
                    continue
                if p.grad.shape != p.data.shape or p.grad.dtype != p.data.dtype or not _same_place(p.grad, p):
                    raise ValueError(f"gradient of shape {p.grad.shape} and dtype {p.grad.dtype} does not "
                                     f"match its parameter {p!r}")
                state = self._state_for(p, group)
                buckets[(p.device, p.data.dtype.str, self._bucket_key(state))].append((p, state))
            for (device, _, _), members in buckets.items():
                self._update(group, [p for p, _ in members], [s for _, s in members], device)
        return loss

    # -------------------------------------------------------------- saving
    def state_dict(self) -> dict:
        """{"state": {index: {name: value}}, "param_groups": [{option: value,
        "params": [index, ...]}]} with parameters numbered across groups in
        order, as PyTorch; arrays are host NumPy copies."""
        index, groups = {}, []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: np.array(to_numpy(v), copy=True) if hasattr(v, "dtype") else v
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state has {len(groups)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameters in the "
                                 f"loaded state and {len(own['params'])} in the optimizer")
        saved_state = {int(k): v for k, v in state_dict["state"].items()}
        self.state = {}
        for saved, own in zip(groups, self.param_groups):
            for idx, p in zip(saved["params"], own["params"]):
                if idx not in saved_state:
                    continue
                entry = {}
                for key, value in saved_state[idx].items():
                    if hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
                        if tuple(value.shape) != tuple(p.shape):
                            raise ValueError(f"state {key!r} of parameter {idx} has shape {tuple(value.shape)}, "
                                             f"the parameter {tuple(p.shape)}")
                        value = to_device(value, p.device, p.data.dtype)
                    elif isinstance(value, np.generic) or (hasattr(value, "ndim") and value.ndim == 0):
                        value = value.item()
                    entry[key] = value
                self.state[p] = entry
            for key, value in saved.items():
                if key != "params":
                    own[key] = tuple(value) if isinstance(own.get(key), tuple) else value

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
