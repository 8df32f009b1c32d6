"""Weight initialisation in place (``torch.nn.init``), with PyTorch's gains and
fan computations:

    fan_in  = shape[1] * prod(shape[2:]),  fan_out = shape[0] * prod(shape[2:])
    kaiming_uniform_: U(-b, b), b = gain * sqrt(3 / fan)     (He et al. 2015)
    kaiming_normal_:  N(0, (gain / sqrt(fan))^2)
    xavier_uniform_:  U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))  (Glorot & Bengio 2010)
    xavier_normal_:   N(0, gain^2 * 2 / (fan_in + fan_out))
    gain: linear/conv/sigmoid 1, tanh 5/3, relu sqrt 2, leaky_relu
          sqrt(2 / (1 + slope^2)), selu 3/4.

Values are drawn in float64 from a NumPy Generator — pk.manual_seed's unless
``generator`` is given — then cast, so the same seed gives the same weights on
every device. Each function takes a Parameter or an array and returns it.
"""

from __future__ import annotations

import math

import numpy as np

from .. import random as pk_random
from .._arrays import to_device
from .parameter import Parameter

__all__ = ["calculate_gain", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
           "xavier_normal_", "uniform_", "normal_", "constant_", "zeros_", "ones_"]


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _array(tensor):
    return tensor.data if isinstance(tensor, Parameter) else tensor


def _fans(tensor) -> tuple[int, int]:
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"argument 'mode' must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    a = _array(tensor)
    a[...] = to_device(values, "cuda" if hasattr(a, "__cuda_array_interface__") else "cpu", a.dtype)
    return tensor


def _gen(generator):
    return generator if generator is not None else pk_random.numpy_generator()


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with U(a, b)."""
    return _fill(tensor, _gen(generator).uniform(a, b, _array(tensor).shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with N(mean, std^2)."""
    return _fill(tensor, _gen(generator).normal(mean, std, _array(tensor).shape))


def constant_(tensor, val: float):
    return _fill(tensor, np.full(_array(tensor).shape, val, np.float64))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan)."""
    if _array(tensor).size == 0:
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    """He normal: N(0, std^2), std = gain / sqrt(fan)."""
    if _array(tensor).size == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)
