"""Reference for pk.ops.activation / activation_backward, in float64 NumPy,
written from the torch.nn.functional definitions. Derivatives use forms that
keep their relative accuracy where the function saturates (1 / cosh^2 for
tanh', e / (1 + e)^2 for sigmoid'), so the ulp test can measure float32 results
against them."""

import math

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _phi_cdf(x):
    return 0.5 * _erfc(-x / math.sqrt(2)).astype(np.float64)


def _phi_pdf(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _softplus(x, beta, threshold):
    z = x * beta
    return np.where(z > threshold, x, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)


def _gelu_tanh_parts(x):
    k = math.sqrt(2 / math.pi)
    u = k * (x + 0.044715 * x ** 3)
    du = k * (1 + 3 * 0.044715 * x * x)
    return u, du


def _gelu_tanh_tail(x, u, du):
    """0.5 x u' / cosh(u)^2, which is below the smallest float64 for |u| > 400
    and finite x (x^3 and cosh(u) overflow first, and inf / inf would give
    NaN); an infinite x still gives NaN, as in PyTorch."""
    big = (np.abs(u) > 400) & np.isfinite(x)
    u, du, x = (np.where(big, 0.0, v) for v in (u, du, x))
    return np.where(big, 0.0, 0.5 * x * du / np.cosh(u) ** 2)


def forward(name, x, weight=None, negative_slope=0.01, alpha=1.0, beta=1.0, threshold=20.0,
            min_val=-1.0, max_val=1.0, approximate="none"):
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        if name == "identity":
            return x.copy()
        if name == "sigmoid":
            return _sigmoid(x)
        if name == "tanh":
            return np.tanh(x)
        if name == "relu":
            return np.where(x > 0, x, np.where(np.isnan(x), x, 0.0))
        if name == "leaky_relu":
            return np.where(x > 0, x, x * negative_slope)
        if name == "prelu":
            return np.where(x > 0, x, x * _channel_weight(x, weight))
        if name == "elu":
            return np.where(x <= 0, alpha * np.expm1(x), x)
        if name == "selu":
            return SELU_SCALE * np.where(x <= 0, SELU_ALPHA * np.expm1(x), x)
        if name == "celu":
            return np.where(x <= 0, alpha * np.expm1(x / alpha), x)
        if name == "gelu":
            if approximate == "tanh":
                u, _ = _gelu_tanh_parts(x)
                return x * _sigmoid(2 * u)  # = 0.5 x (1 + tanh u)
            return x * _phi_cdf(x)
        if name == "silu":
            return x * _sigmoid(x)
        if name == "softplus":
            return _softplus(x, beta, threshold)
        if name == "mish":
            return x * np.tanh(_softplus(x, 1.0, 20.0))
        if name == "hardtanh":
            return np.where(np.isnan(x), x, np.clip(x, min_val, max_val))
        if name == "softsign":
            return x / (1 + np.abs(x))
        if name == "gaussian":
            return np.exp(-x * x)
        if name == "gcu":
            return x * np.cos(x)
        if name == "binary_step":
            return np.where(np.isnan(x), x, (x >= 0).astype(np.float64))
    raise ValueError(name)


def derivative(name, x, weight=None, negative_slope=0.01, alpha=1.0, beta=1.0, threshold=20.0,
               min_val=-1.0, max_val=1.0, approximate="none"):
    """dy/dx at x (where the gradient is selected, not multiplied, the slope)."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        if name == "identity":
            return np.ones_like(x)
        if name == "sigmoid":
            return 0.25 / np.cosh(x / 2) ** 2
        if name == "tanh":
            return 1 / np.cosh(x) ** 2
        if name == "relu":
            return np.where(x <= 0, 0.0, 1.0)
        if name == "leaky_relu":
            return np.where(x > 0, 1.0, negative_slope)
        if name == "prelu":
            return np.where(x > 0, 1.0, _channel_weight(x, weight))
        if name == "elu":
            return np.where(x <= 0, alpha * np.exp(x), 1.0)  # NaN takes the x > 0 branch, as in PyTorch
        if name == "selu":
            return SELU_SCALE * np.where(x <= 0, SELU_ALPHA * np.exp(x), 1.0)
        if name == "celu":
            return np.where(x <= 0, np.exp(x / alpha), 1.0)
        if name == "gelu":
            if approximate == "tanh":
                # 0.5 (1 + tanh u) = sigmoid(2 u): 1 + tanh u cancels in the
                # left tail, even in float64 (u < -18 leaves no correct digit)
                u, du = _gelu_tanh_parts(x)
                return _sigmoid(2 * u) + _gelu_tanh_tail(x, u, du)
            return _phi_cdf(x) + x * _phi_pdf(x)
        if name == "silu":
            return _sigmoid(x) * (1 + x * _sigmoid(-x))
        if name == "softplus":
            return np.where(x * beta > threshold, 1.0, _sigmoid(x * beta))
        if name == "mish":
            t = np.tanh(_softplus(x, 1.0, 20.0))
            return t + x * _sigmoid(x) * (1 - t * t)
        if name == "hardtanh":
            return np.where((x <= min_val) | (x >= max_val), 0.0, 1.0)
        if name == "softsign":
            return 1 / (1 + np.abs(x)) ** 2
        if name == "gaussian":
            return -2 * x * np.exp(-x * x)
        if name == "gcu":
            return np.cos(x) - x * np.sin(x)
        if name == "binary_step":
            return np.zeros_like(x)
    raise ValueError(name)


SELECTED = {"relu", "leaky_relu", "prelu", "hardtanh", "binary_step", "identity"}


def backward(name, grad_y, x, **params):
    """grad_x (and grad_weight for prelu) as PyTorch's autograd gives them."""
    g = np.asarray(grad_y, np.float64)
    d = derivative(name, x, **params)
    with np.errstate(all="ignore"):
        if name == "binary_step":
            gx = np.zeros_like(g)
        elif name in SELECTED:
            gx = np.where(d == 0, 0.0, g * d)  # selected: an infinite g times slope 0 is 0
        else:
            gx = g * d
    if name != "prelu":
        return gx
    w = np.asarray(params["weight"], np.float64)
    x64 = np.asarray(x, np.float64)
    contrib = np.where(x64 > 0, 0.0, x64 * g)
    if w.size == 1:
        gw = np.array(contrib.sum()).reshape(w.shape)
    else:
        axes = tuple(i for i in range(x64.ndim) if i != 1)
        gw = contrib.sum(axis=axes).reshape(w.shape)
    return gx, gw


def _channel_weight(x, weight):
    w = np.asarray(weight, np.float64).reshape(-1)
    if w.size == 1 or x.ndim < 2:
        return w[0]
    return w.reshape((1, -1) + (1,) * (x.ndim - 2))


def ulp_error(actual, expected, floor=2.0 ** -100, scale=None):
    """|actual - expected| in float32 ulps of expected (or of `scale` where
    larger); magnitudes below `floor` count as `floor` (intermediates there
    are subnormal)."""
    mag = np.maximum(np.abs(expected), floor)
    if scale is not None:
        mag = np.maximum(mag, scale)
    mag = np.minimum(mag, np.finfo(np.float32).max).astype(np.float32)
    return np.abs(actual.astype(np.float64) - expected) / np.spacing(mag).astype(np.float64)


def derivative_scale(name, x, **params):
    """Magnitude of the terms that sum to dy/dx: where they cancel (the zero
    of gelu', silu', mish'), float32 error is relative to this, not to the sum."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        if name == "gelu" and params.get("approximate", "none") == "none":
            return _phi_cdf(x) + np.abs(x) * _phi_pdf(x)
        if name == "gelu":
            u, du = _gelu_tanh_parts(x)
            return _sigmoid(2 * u) + np.abs(_gelu_tanh_tail(x, u, du))
        if name == "silu":
            return _sigmoid(x) * (1 + np.abs(x) * _sigmoid(-x))
        if name == "mish":
            t = np.tanh(_softplus(x, 1.0, 20.0))
            return t + np.abs(x) * _sigmoid(x) * (1 - t * t)
    return np.abs(derivative(name, x, **params))
