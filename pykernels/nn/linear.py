"""Linear layer: y = act(x @ weight.T + bias) (``torch.nn.Linear``, with an
optional fused activation).

weight is (out_features, in_features), initialised like PyTorch:
kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and bias from
U(-1/sqrt(in), 1/sqrt(in)).

Two implementations of the same layer, chosen once per call:
  * fused: pk.ops.linear / linear_backward (GEMM with a bias + activation
    epilogue; the backward returns grad_x, grad_weight and the bias column sum);
  * GEMM only, when the fused kernels are not in this build: the bias is
    broadcast into the output and the product added on top with
    matmul(beta=1); the bias gradient is the column sum ones(1, N) @ grad;
    weight and bias gradients accumulate straight into .grad with beta=1.
Backward: g = act'(z) * grad_y;  grad_x = g @ W;  grad_W += g.T @ x;  grad_b += sum_rows(g).
"""

from __future__ import annotations

import math

import numpy as np

from .._arrays import xp_for
from ..ops._dispatch import require_contiguous, require_float_array
from ..ops.linear import keeps_output
from . import _kernels as K
from . import init
from .module import Module
from .parameter import Parameter


def use_fused_linear() -> bool:
    """Whether pk.ops.linear and linear_backward are in this build."""
    return K.has("linear") and K.has("linear_backward")


class Linear(Module):
    """y = act(x @ weight.T + bias); ``activation`` is a pk.ops.activation name
    (e.g. "relu") and ``activation_params`` its parameters (negative_slope...)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation=None,
                 activation_params=None, *, dtype=np.float32, device: str = "cpu", fused=None):
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear({in_features}, {out_features}): feature counts must be non-negative")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = activation
        self.activation_params = dict(activation_params or {})
        if activation in ("identity", None):
            self.activation = None
        if activation == "prelu":
            raise ValueError("Linear cannot fuse prelu (it has a weight): use Linear followed by PReLU")
        self.fused = fused  # None: use the fused kernels when present
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        self.to(device)
        self._saved = None

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _fused(self) -> bool:
        return use_fused_linear() if self.fused is None else bool(self.fused)

    def forward(self, x):
        shape = getattr(x, "shape", None)
        if shape is None or not hasattr(x, "reshape"):
            raise TypeError(f"argument 'x' must be an array, got {type(x).__name__}")
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): argument 'x' must have "
                             f"shape (..., {self.in_features}), got {tuple(shape)}")
        lead = tuple(shape[:-1])
        if len(shape) == 2:
            x2 = x
        else:
            require_contiguous("x", x)  # reshape would copy it otherwise
            x2 = x.reshape(-1, self.in_features)
        b = self.bias.data if self.bias is not None else None
        act, params, d = self.activation, self.activation_params, K.dev(self.device)
        if self._fused():
            if keeps_output(act, **params):
                y = K.require("linear")(x2, self.weight.data, b, activation=act, **params, **d)
                self._saved = (x2, ("y", y), lead)
            else:  # the derivative needs the pre-activation z (gelu, silu, ...)
                y, z = K.require("linear")(x2, self.weight.data, b, activation=act,
                                           return_pre_activation=True, **params, **d)
                self._saved = (x2, ("z", z), lead)
        else:
            require_float_array("x", x2)  # else matmul would name it 'a'
            xp = xp_for(self.device)
            if b is not None:
                z = xp.empty((x2.shape[0], self.out_features), dtype=self.weight.dtype)
                z[...] = b  # broadcast copy: the GEMM adds the product on top (beta=1)
                K.require("matmul")(x2, self.weight.data, trans_b=True, beta=1.0, out=z, **d)
            else:
                z = K.require("matmul")(x2, self.weight.data, trans_b=True, **d)
            y = K.require("activation")(act, z, **params, **d) if act else z
            self._saved = (x2, z, lead)
        return y if len(lead) == 1 else y.reshape(lead + (self.out_features,))

    def backward(self, grad_out):
        if self._saved is None:
            raise RuntimeError("Linear.backward called before forward")
        x2, kept, lead = self._saved
        shape = getattr(grad_out, "shape", None)
        if shape is None or not hasattr(grad_out, "reshape"):
            raise TypeError(f"argument 'grad_out' must be an array, got {type(grad_out).__name__}")
        if tuple(shape) != tuple(lead) + (self.out_features,):
            raise ValueError(f"argument 'grad_out' must have the output's shape "
                             f"{tuple(lead) + (self.out_features,)}, got {tuple(shape)}")
        if len(shape) == 2:
            g = grad_out
        else:
            require_contiguous("grad_out", grad_out)
            g = grad_out.reshape(-1, self.out_features)
        self._saved = None
        act, params, d = self.activation, self.activation_params, K.dev(self.device)
        w, b = self.weight, self.bias
        if self._fused():
            kind, kept = kept
            grad_x, grad_w, grad_b = K.require("linear_backward")(
                g, x2, w.data, **{kind: kept}, activation=act,
                needs_input_grad=self.needs_input_grad, **params, **d)
            w.accumulate_grad(grad_w)
            if b is not None:
                b.accumulate_grad(grad_b)
        else:
            matmul = K.require("matmul")
            require_float_array("grad_out", g)
            if act:
                g = K.require("activation_backward")(act, g, kept, **params, **d)
            grad_x = matmul(g, w.data, **d)
            if w.requires_grad:
                if w.grad is None:
                    w.grad = matmul(g, x2, trans_a=True, **d)
                else:
                    matmul(g, x2, trans_a=True, beta=1.0, out=w.grad, **d)
            if b is not None and b.requires_grad:
                ones = xp_for(self.device).ones((1, g.shape[0]), dtype=g.dtype)
                if b.grad is None:
                    b.grad = matmul(ones, g, **d).reshape(self.out_features)
                else:
                    matmul(ones, g, beta=1.0, out=b.grad.reshape(1, self.out_features), **d)
        if grad_x is None:  # needs_input_grad is False
            return None
        return grad_x.reshape(lead + (self.in_features,))

    def extra_repr(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}{act}")
