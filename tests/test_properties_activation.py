"""Property tests (hypothesis) for the activations and softmax / log_softmax,
forward and backward, on every backend (and every SIMD path of the CPU),
against tests/reference/activation.py and tests/reference/softmax.py.
Strategies and the error-scaled comparison: tests/test_properties.py."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import pykernels as pk
from reference import activation as act_ref
from reference import softmax as sm_ref
from test_properties import (ACT_NAMES, DTYPES, activation_params, activation_specials, arrays,
                             assert_close_scaled, budget, derivative_scale, finite,
                             forward_scale, put, shapes, simd, simd_paths)


@st.composite
def activation_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    name = draw(st.sampled_from(ACT_NAMES))
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=40, max_size=3000))
    params = draw(activation_params(name, dtype, shape))
    x = draw(arrays(shape, dtype, log10_scale=[0, 1, -1, 2],
                    specials=activation_specials(name, params, dtype), max_specials=6))
    g = draw(arrays(shape, dtype, log10_scale=[0, -1, 1]))
    return dict(name=name, params=params, x=x, grad_y=g, simd=draw(simd_paths()))


def _put(backend, params):
    return {k: put(backend, v) if isinstance(v, np.ndarray) else v for k, v in params.items()}


@budget(240)
@given(case=activation_cases())
# gelu(tanh)'s left tail, where the reference's derivative lost its digits
# to 1 + tanh(u) (now sigmoid(2u)); the kernels were right.
@example(case=dict(name="gelu", params={"approximate": "tanh"},
                   x=np.array([-7.13, -10.0, -20.0, 3.0], np.float32),
                   grad_y=np.ones(4, np.float32), simd="generic"))
# x^3 overflows in the reference's float64 (it gave NaN for gelu' = 1)
@example(case=dict(name="gelu", params={"approximate": "tanh"}, x=np.array([1.5e103, -1.5e103]),
                   grad_y=np.ones(2), simd="generic"))
# grad_y * gcu'(x) beyond float32's range: -inf is the right float32 answer
@example(case=dict(name="gcu", params={}, x=np.array([1.6003902e38, 1.0], np.float32),
                   grad_y=np.array([2.7392337, 1.0], np.float32), simd="generic"))
# gaussian' at |x| > max / 2 was NaN in float32 ((-2 x) overflowed, times
# e^(-x^2) = 0) where the derivative is -0
@example(case=dict(name="gaussian", params={}, x=np.array([1.7014118e38, -3e38, 1.0], np.float32),
                   grad_y=np.full(3, 0.125, np.float32), simd="avx512"))
# prelu over an empty channel axis: weight of 0 elements
@example(case=dict(name="prelu", params={"weight": np.zeros(0, np.float32)},
                   x=np.zeros((1, 0), np.float32), grad_y=np.zeros((1, 0), np.float32),
                   simd="generic"))
def test_activation_forward_and_backward(backend, case):
    """Every activation with random parameters, on inputs of any finite value
    (kinks, exp overflow points and arbitrary floats mixed into random data):
    y within a few ulps of act(x) relative to |y| + |x act'(x)|, grad_x within
    a few ulps of grad_y * act'(x) relative to the terms of act'; prelu's
    weight gradient within the rounding of its sum."""
    name, params, x, g = case["name"], case["params"], case["x"], case["grad_y"]
    dtype = x.dtype
    kw = _put(backend, params)
    x64 = x.astype(np.float64)
    with simd(backend, case["simd"]):
        y = backend.get(pk.ops.activation(name, put(backend, x), **kw, **backend.kw))
        got = pk.ops.activation_backward(name, put(backend, g), put(backend, x), **kw,
                                         **backend.kw)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close_scaled(y, act_ref.forward(name, x64, **params), forward_scale(name, x64, params),
                        factor=16, dtype=dtype, what=f"{name} forward")
    expected = act_ref.backward(name, g.astype(np.float64), x64, **params)
    g_scale = np.abs(g.astype(np.float64)) * derivative_scale(name, x64, params)
    if name == "prelu":
        gx, gw = (backend.get(a) for a in got)
        expected, expected_w = expected
        w = params["weight"]
        contrib = np.abs(np.where(x64 > 0, 0.0, x64 * g))
        axes = tuple(i for i in range(x.ndim) if i != 1) if w.size != 1 else None
        w_scale = contrib.sum(axis=axes).reshape(w.shape)
        assert gw.dtype == dtype and gw.shape == w.shape
        assert_close_scaled(gw, expected_w, w_scale, factor=4 * (x.size + 2), dtype=dtype,
                            what="prelu grad_weight")
    else:
        gx = backend.get(got)
    assert gx.dtype == dtype and gx.shape == x.shape
    assert_close_scaled(gx, expected, g_scale, factor=16, dtype=dtype, what=f"{name} backward")


# ---------------------------------------------------------------- softmax

@st.composite
def softmax_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=70, max_size=4000))
    axis = draw(st.integers(-len(shape), len(shape) - 1)) if shape else draw(
        st.sampled_from([0, -1]))
    big = 30.0 if dtype == np.float32 else 300.0
    # Any finite logit up to a quarter of the largest float, so that x - max(x)
    # is finite (in the reference too).
    limit = float(np.finfo(dtype).max) / 4
    x = draw(arrays(shape, dtype, log10_scale=[0, 1, -2, 2, 30 if dtype == np.float32 else 300],
                    specials=st.sampled_from([0.0, big, -big, 1e30, -1e30])
                    | finite(dtype, min_value=-limit, max_value=limit)))
    g = draw(arrays(shape, dtype, log10_scale=[0, -1, 1]))
    return dict(x=x, grad_y=g, axis=axis, log=draw(st.booleans()), simd=draw(simd_paths()))


@budget(200)
@given(case=softmax_cases())
def test_softmax_forward_and_backward(backend, case):
    """softmax / log_softmax along any axis of any shape (0-d and empty too),
    logits of any finite magnitude, and their backward from the kernel's own
    output. The error of exp(x_i - max) is relative to |x_i| + |max| (the
    rounding of the shift), hence the scales."""
    x, g, axis, log = case["x"], case["grad_y"], case["axis"], case["log"]
    dtype = x.dtype
    x64 = x.astype(np.float64)
    fwd = pk.ops.log_softmax if log else pk.ops.softmax
    bwd = pk.ops.log_softmax_backward if log else pk.ops.softmax_backward
    with simd(backend, case["simd"]):
        y = backend.get(fwd(put(backend, x), axis, **backend.kw))
    assert y.dtype == dtype and y.shape == x.shape
    # A 0-d array is a softmax over one element: compare as shape (1,).
    x64, y, g = (a.reshape(1) if x.ndim == 0 else a for a in (x64, y, g))
    ax = 0 if x.ndim == 0 else axis % x.ndim
    n = x64.shape[ax]
    if x.size:
        shift = np.abs(x64) + np.max(np.abs(x64), axis=ax, keepdims=True) + np.log(n) + 1
    else:
        shift = np.zeros(x64.shape)
    lsm = sm_ref.log_softmax(x64, ax)
    if log:
        assert_close_scaled(y, lsm, shift, factor=8, dtype=dtype, what="log_softmax")
    else:
        assert_close_scaled(y, np.exp(lsm), np.exp(lsm) * shift, factor=8, dtype=dtype,
                            what="softmax")

    with simd(backend, case["simd"]):
        gx = backend.get(bwd(put(backend, g.reshape(x.shape)), put(backend, y.reshape(x.shape)),
                             axis, **backend.kw))
    assert gx.dtype == dtype and gx.shape == x.shape
    gx = gx.reshape(y.shape)
    g64, y64 = g.astype(np.float64), y.astype(np.float64)
    keep = {"axis": ax, "keepdims": True}
    if log:
        expected = sm_ref.log_softmax_backward(g64, y64, ax)
        p = np.exp(y64)
        scale = np.abs(g64) + p * (1 + np.abs(y64)) * np.sum(np.abs(g64), **keep)
    else:
        expected = sm_ref.softmax_backward(g64, y64, ax)
        scale = np.abs(y64) * (np.abs(g64) + np.sum(np.abs(g64 * y64), **keep))
    assert_close_scaled(gx, expected, scale, factor=4 * (n + 2), dtype=dtype,
                        what="log_softmax_backward" if log else "softmax_backward")
