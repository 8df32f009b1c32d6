"""Elementwise activations and their gradients, as torch.nn.functional.

    y = activation("gelu", x, approximate="tanh")
    grad_x = activation_backward("gelu", grad_y, x, approximate="tanh")
    grad_x, grad_weight = activation_backward("prelu", grad_y, x, weight=w)

Formulas (and where they depart from PyTorch's literal expressions) are in
csrc/common/activation.h. binary_step(x) = 1 for x >= 0, else 0 (NaN stays
NaN), with gradient 0; gaussian(x) = exp(-x^2); gcu(x) = x cos(x).
"""

from __future__ import annotations

from ._dispatch import result_dtype, select

# The parameters each activation takes, with PyTorch's defaults.
PARAMS = {
    "identity": {},
    "sigmoid": {},
    "tanh": {},
    "relu": {},
    "leaky_relu": {"negative_slope": 0.01},
    "prelu": {"weight": None},
    "elu": {"alpha": 1.0},
    "selu": {},
    "celu": {"alpha": 1.0},
    "gelu": {"approximate": "none"},
    "silu": {},
    "softplus": {"beta": 1.0, "threshold": 20.0},
    "mish": {},
    "hardtanh": {"min_val": -1.0, "max_val": 1.0},
    "softsign": {},
    "gaussian": {},
    "gcu": {},
    "binary_step": {},
}

NAMES = tuple(PARAMS)


def _kwargs(name, params):
    """Binding keyword arguments for activation `name`; TypeError for a
    parameter it does not take, ValueError for an unknown name."""
    if not isinstance(name, str) or name not in PARAMS:
        raise ValueError(f"argument 'name': unknown activation {name!r}; expected one of: "
                         + ", ".join(NAMES))
    allowed = PARAMS[name]
    for key in params:
        if key not in allowed:
            takes = ", ".join(allowed) or "no parameters"
            raise TypeError(f"activation {name!r} got an unexpected parameter {key!r} "
                            f"(it takes {takes})")
    kw = {}
    for key, default in allowed.items():
        value = params.get(key, default)
        if key == "weight":
            if value is None:
                raise ValueError("argument 'weight' is required by prelu")
        elif key == "approximate":
            if not isinstance(value, str):
                raise TypeError(f"argument 'approximate' must be a string, got {value!r}")
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"argument {key!r} must be a number, got {value!r}") from None
        kw[key] = value
    return kw


def _shape(x):
    return getattr(x, "shape", (0,))


def activation(name, x, *, device=None, **params):
    """``y = act(x)`` elementwise: like ``torch.nn.functional.<name>(x, **params)``
    (``gelu(approximate=...)``, ``softplus(beta, threshold)``, ``prelu(weight=w)`` with w of
    1 or x.shape[1] elements, ...). float32 or float64, C-contiguous."""
    kw = _kwargs(name, params)
    be = select(("x", x), ("weight", kw.get("weight")), device=device)
    out = be.empty(_shape(x), dtype=result_dtype(x))
    be.mod.activation(name, x, out, **kw, **be.launch_kwargs())
    return out


def activation_backward(name, grad_y, x, *, device=None, **params):
    """``grad_x = grad_y * act'(x)``, the gradient PyTorch's autograd gives for
    ``torch.nn.functional.<name>``; prelu returns ``(grad_x, grad_weight)``."""
    kw = _kwargs(name, params)
    weight = kw.get("weight")
    be = select(("grad_y", grad_y), ("x", x), ("weight", weight), device=device)
    grad_x = be.empty(_shape(x), dtype=result_dtype(x))
    grad_weight = None
    if weight is not None:
        grad_weight = be.empty(_shape(weight), dtype=result_dtype(weight))
        kw["grad_weight"] = grad_weight
    be.mod.activation_backward(name, grad_y, x, grad_x, **kw, **be.launch_kwargs())
    return (grad_x, grad_weight) if name == "prelu" else grad_x
