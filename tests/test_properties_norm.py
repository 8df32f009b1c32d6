"""Property tests (hypothesis) for batch_norm (training and evaluation,
forward, running statistics, backward) and dropout (masks against the
Philox reference, the same mask on every backend, mask statistics, inverted
scaling, backward), on every backend, against tests/reference/batch_norm.py
and tests/reference/philox.py.
Strategies and the error-scaled comparison: tests/test_properties.py."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import pykernels as pk
from reference import batch_norm as bn_ref
from reference import philox
from test_properties import (DTYPES, arrays, assert_close_scaled, budget, dims, put, shapes)

# ---------------------------------------------------------------- batch norm


@st.composite
def batch_norm_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    training = draw(st.booleans())
    spatial = draw(st.lists(dims(9, min_size=1), min_size=0, max_size=2).map(tuple))
    c = draw(dims(20, min_size=1))
    n = draw(dims(40))
    tracked = draw(st.booleans())
    if (training or not tracked) and n * int(np.prod(spatial, dtype=np.int64)) < 2:
        # Batch statistics of one value per channel: an error, as in PyTorch
        # (BatchNorm with track_running_stats=False uses them in eval too).
        n = 2
    shape = (n, c) + spatial
    # Data far from 0 relative to its spread: the variance must not be taken
    # as E[x^2] - E[x]^2 in the data's precision.
    loc = draw(st.sampled_from([0.0, 3.0, -100.0, 1e3]))
    x = draw(arrays(shape, dtype, log10_scale=[0, -1, -2, 1], loc=loc))
    if x.size and draw(st.booleans()):  # a constant channel: variance 0
        x[:, draw(st.integers(0, c - 1))] = dtype(loc)
    affine = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.uniform(-2, 2, c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    rm = rng.standard_normal(c).astype(dtype) if tracked else None
    rv = rng.uniform(0.1, 3.0, c).astype(dtype) if tracked else None
    g = draw(arrays(shape, dtype, log10_scale=[0, -1, 1]))
    return dict(x=x, weight=w, bias=b, running_mean=rm, running_var=rv, training=training,
                momentum=draw(st.sampled_from([0.1]) | st.floats(0.0, 1.0)),
                eps=draw(st.sampled_from([1e-5]) | st.floats(1e-8, 0.1)), grad_y=g)


def _channel(v, x):
    return np.asarray(v, np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))


@budget(120)
@given(case=batch_norm_cases())
def test_batch_norm(backend, case):
    """y, the updated running statistics and the three gradients. Errors:
    x - mean is rounded relative to |x| + |mean|, which x_hat carries times
    invstd; per-channel sums add their terms' magnitudes."""
    x, w, b, rm, rv = (case[k] for k in ("x", "weight", "bias", "running_mean", "running_var"))
    training, momentum, eps_bn = case["training"], case["momentum"], case["eps"]
    dtype = x.dtype
    rm_d, rv_d = put(backend, rm), put(backend, rv)
    y, ctx = pk.ops.batch_norm(put(backend, x), put(backend, w), put(backend, b), rm_d, rv_d,
                               training=training, momentum=momentum, eps=eps_bn, **backend.kw)
    y = backend.get(y)
    assert y.dtype == dtype and y.shape == x.shape
    ey, erm, erv, mean, invstd = bn_ref.batch_norm(x, w, b, rm, rv, training=training,
                                                   momentum=momentum, eps=eps_bn)
    x64 = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    wabs = np.ones(x.shape[1]) if w is None else np.abs(w.astype(np.float64))
    babs = np.zeros(x.shape[1]) if b is None else np.abs(b.astype(np.float64))
    # Rounding of x_hat = (x - mean) * invstd: of the subtraction, and of the
    # mean itself (a sum of n values: relative to the mean of |x|).
    m_abs = np.abs(x64).mean(axis=axes) if x.size else np.zeros(x.shape[1])
    x_err = (np.abs(x64) + np.abs(_channel(mean, x)) + _channel(m_abs, x)) * _channel(invstd, x)
    x_hat = (x64 - _channel(mean, x)) * _channel(invstd, x)
    assert_close_scaled(y, ey, _channel(wabs, x) * (np.abs(x_hat) + x_err) + _channel(babs, x),
                        factor=16, dtype=dtype, what="y")
    if training and rm is not None:
        d = np.abs(x64 - _channel(mean, x))
        var_err = 2 * (d * (np.abs(x64) + np.abs(_channel(mean, x)))).mean(axis=axes)
        assert_close_scaled(backend.get(rm_d), erm, np.abs(rm) + momentum * m_abs, factor=8,
                            dtype=dtype, what="running_mean")
        assert_close_scaled(backend.get(rv_d), erv, np.abs(rv) + momentum * n / (n - 1) * (
            (d * d).mean(axis=axes) + var_err), factor=16, dtype=dtype, what="running_var")
    elif rm is not None:
        np.testing.assert_array_equal(backend.get(rm_d), rm, "eval must not touch running_mean")
        np.testing.assert_array_equal(backend.get(rv_d), rv, "eval must not touch running_var")

    g = case["grad_y"]
    gx, gw, gb = pk.ops.batch_norm_backward(put(backend, g), ctx)
    assert (gw is None) == (w is None) and (gb is None) == (b is None)
    ex, ew, eb = bn_ref.batch_norm_backward(g, x, w, mean, invstd, batch_stats=ctx.batch_stats)
    dy = np.abs(g.astype(np.float64))
    xh = np.abs(x_hat) + x_err
    k = _channel(wabs * invstd, x)
    if ctx.batch_stats:
        mean_dy = dy.mean(axis=axes, keepdims=True)
        mean_dyx = (dy * xh).mean(axis=axes, keepdims=True)
        gx_scale = k * (dy + mean_dy + xh * mean_dyx + x_err * mean_dyx)
    else:
        gx_scale = k * dy
    assert_close_scaled(backend.get(gx), ex, gx_scale, factor=32, dtype=dtype, what="grad_x")
    sum_factor = 4 * (n + 4)
    if gw is not None:
        assert_close_scaled(backend.get(gw), ew, (dy * xh).sum(axis=axes), factor=sum_factor,
                            dtype=dtype, what="grad_weight")
    if gb is not None:
        assert_close_scaled(backend.get(gb), eb, dy.sum(axis=axes), factor=sum_factor,
                            dtype=dtype, what="grad_bias")


# ---------------------------------------------------------------- dropout

U64 = 2**64 - 1


@st.composite
def dropout_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=40, max_size=5000))
    return dict(x=draw(arrays(shape, dtype, log10_scale=[0, 3, -3])),
                grad_y=draw(arrays(shape, dtype, log10_scale=[0])),
                p=draw(st.sampled_from([0.0, 0.5]) | st.floats(0.0, 0.99)),
                seed=draw(st.sampled_from([0, U64]) | st.integers(0, U64)),
                offset=draw(st.sampled_from([0, U64, 2**32 - 1]) | st.integers(0, U64)))


@budget(120)
@given(case=dropout_cases())
def test_dropout(backend, case):
    """The mask is the Philox reference's for (seed, offset) -- counters wrap
    modulo 2**64 -- and the same on the CPU as on this backend; kept values
    are scaled by 1 / (1 - p), dropped ones are 0; the backward applies the
    same mask and scale."""
    x, g, p, seed, offset = (case[k] for k in ("x", "grad_y", "p", "seed", "offset"))
    dtype = x.dtype
    y, mask = pk.ops.dropout(put(backend, x), p, seed=seed, offset=offset, **backend.kw)
    y, mask = backend.get(y), backend.get(mask)
    assert mask.dtype == np.uint8 and mask.shape == x.shape and y.dtype == dtype
    expected_mask = philox.dropout_mask(x.shape, p, seed, offset)
    np.testing.assert_array_equal(mask, expected_mask, "mask vs the Philox reference")
    cpu_mask = pk.ops.dropout_mask(x.shape, p, seed=seed, offset=offset, device="cpu")
    np.testing.assert_array_equal(mask, cpu_mask, f"{backend} mask vs cpu mask")
    own = backend.get(pk.ops.dropout_mask(x.shape, p, seed=seed, offset=offset,
                                          device=backend.name))
    np.testing.assert_array_equal(own, mask, "dropout_mask vs the mask dropout drew")
    ey = x.astype(np.float64) * expected_mask / (1 - p)
    assert_close_scaled(y, ey, np.abs(ey), factor=2, dtype=dtype, what="dropout y")
    assert np.all(y[expected_mask == 0] == 0)
    gx = backend.get(pk.ops.dropout_backward(put(backend, g), put(backend, mask), p,
                                             **backend.kw))
    eg = g.astype(np.float64) * expected_mask / (1 - p)
    assert_close_scaled(gx, eg, np.abs(eg), factor=2, dtype=dtype, what="dropout grad_x")
    # Evaluation: the identity, a copy, and no mask.
    y_eval, no_mask = pk.ops.dropout(put(backend, x), p, training=False, **backend.kw)
    assert no_mask is None
    np.testing.assert_array_equal(backend.get(y_eval), x)


@budget(30)
@given(n=st.integers(4000, 40000), p=st.floats(0.01, 0.95), seed=st.integers(0, U64),
       offset=st.integers(0, U64))
def test_dropout_mask_statistics(backend, n, p, seed, offset):
    """The kept fraction is 1 - p within 5 standard deviations, overall and
    in each of the 4 Philox output words (element i uses word i % 4)."""
    if backend.name == "cuda-emu":
        n //= 4
    mask = backend.get(pk.ops.dropout_mask((n,), p, seed=seed, offset=offset,
                                           device=backend.name)).astype(np.float64)
    for lane, part in [("all", mask)] + [(f"word {k}", mask[k::4]) for k in range(4)]:
        m = part.size
        sigma = np.sqrt(m * p * (1 - p))
        assert abs(part.sum() - m * (1 - p)) <= 5 * sigma + 1, (
            f"{lane}: kept {part.sum():.0f} of {m}, expected {m * (1 - p):.1f} +- {sigma:.1f}")

