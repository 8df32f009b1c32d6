"""Linear layer with a fused activation and its gradients:

    y = act(x @ weight.T + bias)          torch.nn.functional.linear + activation
    g = grad_y * act'(z)                  z = x @ weight.T + bias
    grad_x = g @ weight,  grad_weight = g.T @ x,  grad_bias = g.sum(0)

The forward is one GEMM whose epilogue adds the bias and applies the
activation while each block of the output is still in cache; the backward
applies the derivative once and takes grad_bias inside the grad_weight GEMM.
weight is (out_features, in_features); x is (..., in_features). Activation
names and parameters are those of pk.ops.activation (prelu excepted: apply it
separately). The derivative is computed from y for the activations whose
derivative is a function of the output (relu, sigmoid, tanh, ...); the others
(gelu, silu, softplus, mish, ...) need z: keep it with
``linear(..., return_pre_activation=True)`` and pass ``z=`` to the backward.
"""

from __future__ import annotations

import numpy as np

from .._backends import module
from ..memory import host_empty_2d
from ._dispatch import cpu_module, require_contiguous, result_dtype, select
from .activation import _kwargs

_ndarray = np.ndarray
# The binding's activation parameters in its positional order, with its defaults.
_BINDING_PARAMS = (("negative_slope", 0.01), ("alpha", 1.0), ("beta", 1.0), ("threshold", 20.0),
                   ("min_val", -1.0), ("max_val", 1.0), ("approximate", "none"))
_act_cache: dict = {}


def _act(activation, params):
    name = "identity" if activation is None else activation
    if name == "prelu":
        raise ValueError("argument 'activation': linear cannot fuse prelu (it has a weight); "
                         "apply pk.ops.activation('prelu', ...) to the output instead")
    return name, _kwargs(name, params)


def keeps_output(activation=None, **act_params) -> bool:
    """Whether linear_backward can take the activation's derivative from the
    output y (relu, sigmoid, tanh, ...): a layer then keeps y and needs no z.
    The rule is the kernels' own (act_has_output_grad in csrc/common/activation.h)."""
    name, kw = _act(activation, act_params)
    kw.pop("weight", None)
    return module("cpu").activation_grad_from_output(name, **kw)


def _weight_shape(weight):
    """(out_features, in_features); the binding names a non-array weight, but
    the shapes are needed here first, to flatten x."""
    shape = getattr(weight, "shape", None)
    if shape is None:
        raise TypeError(f"argument 'weight' must be an array, got {type(weight).__name__}")
    if len(shape) != 2:
        raise ValueError(f"argument 'weight' must be 2-D (out_features, in_features), got shape "
                         f"{tuple(shape)}")
    return tuple(shape)


def _rows(a, features, name, like=None):
    """a as a 2-D (rows, features) view and its leading shape (None when a is
    2-D already: the binding checks it). ``like``: (name, leading shape) that
    a's leading shape must equal. Reshaping is only done on C-contiguous
    arrays (the layout rule: no hidden copies)."""
    shape = getattr(a, "shape", None)
    if shape is None:
        return a, None  # not an array: the binding names it
    shape = tuple(shape)
    if len(shape) == 0:
        raise ValueError(f"argument '{name}' must have at least 1 dimension (..., {features}), "
                         f"got a 0-d array")
    if like is not None and like[1] is not None and shape[:-1] != like[1]:
        raise ValueError(f"argument '{name}' has shape {shape} but argument '{like[0]}' has "
                         f"leading dimensions {like[1]}; they must match")
    if len(shape) == 2:
        return a, None
    if shape[-1] != features:
        raise ValueError(f"argument '{name}' must have {features} features in its last "
                         f"dimension, got shape {shape}")
    require_contiguous(name, a)
    # The row count, not -1: NumPy cannot infer it when features is 0.
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    return a.reshape(rows, features), shape[:-1]


def _kernel(be, name):
    fn = getattr(be.mod, name, None)
    if fn is None:
        raise NotImplementedError(f"pk.ops.{name} has no {be.name} kernel in this build")
    return fn


def _act_positional(activation, params):
    """(name, binding parameters as a tuple) for the CPU fast path, remembered
    per (activation, parameters): checking them costs more than a small GEMM."""
    try:
        key = (activation, tuple(sorted(params.items())))
        hit = _act_cache.get(key)
    except TypeError:  # an unhashable parameter value: no caching
        key, hit = None, None
    if hit is None:
        name, kw = _act(activation, params)
        hit = (name, tuple(kw.get(k, d) for k, d in _BINDING_PARAMS))
        if key is not None and len(_act_cache) < 256:
            _act_cache[key] = hit
    return hit


def linear(x, weight, bias=None, *, activation=None, return_pre_activation=False, device=None,
           **act_params):
    """``act(x @ weight.T + bias)`` (``torch.nn.functional.linear`` then the activation).
    With return_pre_activation=True, returns ``(y, z)`` with z = x @ weight.T + bias."""
    if ((device is None or device == "cpu") and type(x) is _ndarray and type(weight) is _ndarray
            and (bias is None or type(bias) is _ndarray) and x.ndim == 2 and weight.ndim == 2
            and x.flags.c_contiguous and weight.flags.c_contiguous):
        # 2-D NumPy arrays on the CPU, the common case: the binding checks the
        # rest (dtypes, shapes, bias), so only what allocating y needs is
        # looked at here.
        name, params = _act_positional(activation, act_params)
        rows, cols = x.shape[0], weight.shape[0]
        y = host_empty_2d(rows, cols, x.dtype)
        z = host_empty_2d(rows, cols, x.dtype) if return_pre_activation else None
        cpu_module().linear(x, weight, bias, y, name, z, *params)
        return (y, z) if return_pre_activation else y
    name, kw = _act(activation, act_params)
    be = select(("x", x), ("weight", weight), ("bias", bias), device=device)
    out_f, in_f = _weight_shape(weight)
    x2, lead = _rows(x, in_f, "x")
    shape = (getattr(x2, "shape", (0,))[0], out_f)
    y = be.empty(shape, dtype=result_dtype(x))
    z = be.empty(shape, dtype=result_dtype(x)) if return_pre_activation else None
    _kernel(be, "linear")(x2, weight, bias, y, name, z, **kw, **be.launch_kwargs())
    if lead is not None:
        y = y.reshape(lead + (shape[1],))
        z = z.reshape(lead + (shape[1],)) if z is not None else None
    return (y, z) if return_pre_activation else y


def linear_backward(grad_y, x, weight, *, y=None, z=None, activation=None, device=None,
                    needs_input_grad=True, **act_params):
    """``(grad_x, grad_weight, grad_bias)`` of ``y = act(x @ weight.T + bias)`` given
    grad_y; the activation's derivative comes from z (any activation) or y (those whose
    derivative is a function of the output). With needs_input_grad=False, grad_x is not
    computed (one GEMM less) and comes back as None."""
    name, kw = _act(activation, act_params)
    be = select(("grad_y", grad_y), ("x", x), ("weight", weight), ("y", y), ("z", z),
                device=device)
    out_f, in_f = _weight_shape(weight)
    x_lead = tuple(x.shape[:-1]) if getattr(x, "ndim", 0) >= 1 else None
    x2, lead = _rows(x, in_f, "x")
    g2, _ = _rows(grad_y, out_f, "grad_y", like=("x", x_lead))
    g_lead = tuple(grad_y.shape[:-1]) if getattr(grad_y, "ndim", 0) >= 1 else None
    y2 = _rows(y, out_f, "y", like=("grad_y", g_lead))[0] if y is not None else None
    z2 = _rows(z, out_f, "z", like=("grad_y", g_lead))[0] if z is not None else None
    dtype = result_dtype(x)
    grad_x = be.empty(getattr(x2, "shape", (0, 0)), dtype=dtype) if needs_input_grad else None
    grad_weight = be.empty((out_f, in_f), dtype=dtype)
    grad_bias = be.empty((out_f,), dtype=dtype)
    _kernel(be, "linear_backward")(g2, x2, weight, grad_x, grad_weight, grad_bias, name, y2, z2,
                                   **kw, **be.launch_kwargs())
    if lead is not None and grad_x is not None:
        grad_x = grad_x.reshape(lead + (in_f,))
    return grad_x, grad_weight, grad_bias
