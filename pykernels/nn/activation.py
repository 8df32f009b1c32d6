"""One module per activation (``torch.nn.ReLU``, ``torch.nn.GELU``, ...), each a
thin wrapper of pk.ops.activation / activation_backward, plus Softmax and
LogSoftmax over an axis.

Elementwise activations keep their input x (the kernels' derivative takes x);
Softmax and LogSoftmax keep their output y (the backward formulas
grad_x = y * (g - sum(g * y)) and grad_x = g - exp(y) * sum(g) take y).
PReLU has a learnable slope per channel (axis 1), initialised to 0.25.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from .module import Module
from .parameter import Parameter


class Activation(Module):
    """y = act(x) for the pk.ops.activation named ``name`` with ``params``."""

    name = "identity"

    def __init__(self, name: str | None = None, **params):
        super().__init__()
        if name is not None:
            self.name = name
        self.params = params
        self._x = None

    def forward(self, x):
        self._x = x
        return K.require("activation")(self.name, x, **self.params, **K.dev(self.device))

    def backward(self, grad_out):
        if self._x is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        # x is dropped only once the gradient is made: a rejected grad_out
        # (wrong shape or dtype) leaves the module ready for a corrected call.
        grad_x = K.require("activation_backward")(self.name, grad_out, self._x, **self.params,
                                                  **K.dev(self.device))
        self._x = None
        return grad_x

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())


def _activation_class(class_name: str, op_name: str, doc: str, defaults: dict):
    names = list(defaults)

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{class_name} takes at most {len(names)} positional arguments")
        params = dict(defaults)
        params.update(zip(names, args))
        for key, value in kwargs.items():
            if key == "inplace":  # accepted for PyTorch compatibility; outputs are always new arrays
                continue
            if key not in defaults:
                raise TypeError(f"{class_name} got an unexpected argument {key!r}")
            params[key] = value
        Activation.__init__(self, op_name, **params)

    return type(class_name, (Activation,), {"__init__": __init__, "__doc__": doc, "name": op_name})


Sigmoid = _activation_class("Sigmoid", "sigmoid", "y = 1 / (1 + exp(-x)) (torch.nn.Sigmoid).", {})
Tanh = _activation_class("Tanh", "tanh", "y = tanh(x) (torch.nn.Tanh).", {})
ReLU = _activation_class("ReLU", "relu", "y = max(x, 0) (torch.nn.ReLU).", {})
LeakyReLU = _activation_class("LeakyReLU", "leaky_relu",
                              "y = x if x >= 0 else negative_slope * x (torch.nn.LeakyReLU).",
                              {"negative_slope": 0.01})
ELU = _activation_class("ELU", "elu", "y = x if x > 0 else alpha (exp(x) - 1) (torch.nn.ELU).",
                        {"alpha": 1.0})
SELU = _activation_class("SELU", "selu", "scale * elu(x, alpha) with the SNN constants (torch.nn.SELU).", {})
CELU = _activation_class("CELU", "celu", "max(0, x) + min(0, alpha (exp(x / alpha) - 1)) (torch.nn.CELU).",
                         {"alpha": 1.0})
GELU = _activation_class("GELU", "gelu", "x * Phi(x), or its tanh approximation (torch.nn.GELU).",
                         {"approximate": "none"})
SiLU = _activation_class("SiLU", "silu", "y = x * sigmoid(x) (torch.nn.SiLU).", {})
Softplus = _activation_class("Softplus", "softplus",
                             "y = log(1 + exp(beta x)) / beta, linear above threshold (torch.nn.Softplus).",
                             {"beta": 1.0, "threshold": 20.0})
Mish = _activation_class("Mish", "mish", "y = x * tanh(softplus(x)) (torch.nn.Mish).", {})
Hardtanh = _activation_class("Hardtanh", "hardtanh", "y = clamp(x, min_val, max_val) (torch.nn.Hardtanh).",
                             {"min_val": -1.0, "max_val": 1.0})
Softsign = _activation_class("Softsign", "softsign", "y = x / (1 + |x|) (torch.nn.Softsign).", {})
Gaussian = _activation_class("Gaussian", "gaussian", "y = exp(-x^2).", {})
GCU = _activation_class("GCU", "gcu", "Growing cosine unit: y = x cos(x).", {})
BinaryStep = _activation_class("BinaryStep", "binary_step", "y = 1 if x >= 0 else 0 (gradient 0).", {})


class PReLU(Module):
    """y = x if x >= 0 else a * x with a learnable a: one for all channels or one
    per channel (axis 1) (``torch.nn.PReLU``)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype=np.float32, device: str = "cpu"):
        super().__init__()
        self.num_parameters = int(num_parameters)
        self.weight = Parameter(np.full(self.num_parameters, init, dtype))
        self.to(device)
        self._x = None

    def forward(self, x):
        self._x = x
        return K.require("activation")("prelu", x, weight=self.weight.data, **K.dev(self.device))

    def backward(self, grad_out):
        if self._x is None:
            raise RuntimeError("PReLU.backward called before forward")
        grad_x, grad_w = K.require("activation_backward")("prelu", grad_out, self._x,
                                                          weight=self.weight.data, **K.dev(self.device))
        self._x = None
        self.weight.accumulate_grad(grad_w)
        return grad_x

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softmax(Module):
    """y = exp(x) / sum(exp(x)) along ``dim`` (``torch.nn.Softmax``)."""

    kernel = "softmax"

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim
        self._y = None

    def forward(self, x):
        self._y = K.require(self.kernel)(x, axis=self.dim, **K.dev(self.device))
        return self._y

    def backward(self, grad_out):
        if self._y is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad_x = K.require(self.kernel + "_backward")(grad_out, self._y, axis=self.dim,
                                                      **K.dev(self.device))
        self._y = None
        return grad_x

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y = x - log(sum(exp(x))) along ``dim`` (``torch.nn.LogSoftmax``)."""

    kernel = "log_softmax"


ACTIVATIONS = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, SELU, CELU, GELU, SiLU,
                                         Softplus, Mish, Hardtanh, Softsign, Gaussian, GCU, BinaryStep)}
