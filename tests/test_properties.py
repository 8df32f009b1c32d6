"""Property tests (hypothesis): random shapes and values for every op in
pk.ops, on every backend, against the float64 NumPy references of
tests/reference/. This module holds the shared machinery (the settings
profile, strategies for shapes and values, the error-scaled comparison) and
the matmul / linear properties; tests/test_properties_<family>.py hold the
others.

Settings: the "pykernels" profile (loaded unless HYPOTHESIS_PROFILE names
another) is derandomized, so CI runs the same examples every time, has no
deadline (cuda-emu timings vary with the machine's load) and keeps the
example counts small; HYPOTHESIS_PROFILE=thorough runs many more examples,
randomized, to search locally.

Values are drawn as a seed for a dense random array (at a drawn scale and
distribution: normal, uniform, or a grid of multiples of 1/2 that makes ties
and exact zeros) with a few hypothesis-chosen elements written over it
(extreme but valid values, the activations' kinks), so arrays of thousands of
elements cost no more to draw than small ones and failures shrink to the few
elements that matter.

Tolerances are elementwise: |got - expected| <= factor * eps(dtype) * scale,
where scale is the magnitude the rounding of that result is proportional to
(the sum of |terms| of a dot product, |x f'(x)| for a function of an input
that is itself rounded, ...), so that tiny results are checked as tightly as
large ones and ill-conditioned results are not failed for their conditioning.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pykernels as pk
from conftest import assert_close
from reference import activation as act_ref
from reference import matmul as mm_ref
from pykernels.ops.activation import NAMES
from pykernels.ops.linear import keeps_output

# ---------------------------------------------------------------- settings

# function_scoped_fixture: the `backend` fixture is a stateless description of
# a device and the autouse thread-count fixture only restores a global, so
# sharing them across the examples of one test is what we want.
settings.register_profile(
    "pykernels", deadline=None, derandomize=True, database=None, print_blob=True,
    max_examples=20,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large])
settings.register_profile("thorough", parent=settings.get_profile("pykernels"),
                          derandomize=False, max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "pykernels"))
SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 1


def budget(n: int):
    """Settings for a test worth n examples per run in CI (n * 20 when thorough)."""
    return settings(max_examples=n * SCALE)


DTYPES = [np.float32, np.float64]


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


# ---------------------------------------------------------------- shapes

ODD_SIZES = (1, 2, 3, 5, 7, 13, 17, 31, 61, 127)


def dims(max_size: int, min_size: int = 0) -> st.SearchStrategy[int]:
    """A dimension: 1, small primes (no multiple of any vector or tile width),
    or any size in range; 0 when min_size allows it."""
    odd = [s for s in ODD_SIZES if min_size <= s <= max_size]
    return st.one_of(st.sampled_from(odd), st.integers(min_size, max_size))


def shapes(*, min_dims=1, max_dims=3, max_side=17, min_side=0, max_size=None):
    """Shapes of min_dims..max_dims axes (empty axes allowed with min_side=0),
    with at most max_size elements."""
    strat = st.lists(dims(max_side, min_side), min_size=min_dims, max_size=max_dims).map(tuple)
    if max_size is not None:
        strat = strat.filter(lambda s: int(np.prod(s, dtype=np.int64)) <= max_size)
    return strat


# ---------------------------------------------------------------- values

def log_scales(dtype, *, extreme: bool = True):
    """Powers of ten to scale data by: moderate, and (extreme=True) far from 1
    but with products and squares still normal numbers in dtype."""
    if dtype == np.float32:
        return [0, -1, 1, 3, -3] + ([15, -15] if extreme else [])
    return [0, -1, 1, 3, -3] + ([100, -100] if extreme else [])


@st.composite
def arrays(draw, shape, dtype, *, log10_scale=(0,), kinds=("normal", "uniform", "grid"),
           loc=0.0, specials=None, max_specials=4):
    """A dense random array of `shape`: seed, distribution and scale are drawn,
    then up to max_specials elements are set to values drawn from `specials`."""
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(kinds))
    scale = 10.0 ** draw(st.sampled_from(list(log10_scale)))
    rng = np.random.default_rng(seed)
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "uniform":
        x = rng.uniform(-1.0, 1.0, shape)
    else:  # ties and exact zeros
        x = rng.integers(-4, 5, shape) * 0.5
    x = np.asarray(loc + scale * x, np.float64)
    if specials is not None and x.size:
        for _ in range(draw(st.integers(0, max_specials))):
            x.flat[draw(st.integers(0, x.size - 1))] = draw(specials)
    return np.asarray(x, dtype)  # an array also for shape ()


def finite(dtype, **kw) -> st.SearchStrategy[float]:
    """Any finite value of dtype (subnormals included unless kw says otherwise)."""
    width = 32 if dtype == np.float32 else 64
    return st.floats(allow_nan=False, allow_infinity=False, width=width, **kw)


def f32(lo, hi) -> st.SearchStrategy[float]:
    """A parameter in [lo, hi] that float32 represents exactly: the kernels
    convert parameters to the data's dtype, so a float64-only value would move
    a kink (hardtanh's bounds, softplus's threshold) between kernel and
    reference."""
    lo32, hi32 = float(np.float32(lo)), float(np.float32(hi))
    return st.floats(lo32, hi32, width=32)


# ---------------------------------------------------------------- comparison

def assert_close_scaled(actual, expected, scale, *, factor, dtype, what="result", floor=None):
    """|actual - expected| <= factor * eps(dtype) * scale + floor, elementwise.

    scale: the magnitude the rounding error of each element is proportional to;
    floor (default: 16 smallest normal numbers of dtype) leaves room for
    results in the subnormal range. Checked with conftest's assert_close on
    both arrays divided by the allowed error, so its report is in units of the
    allowed error."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, np.float64)
    floor = 16 * float(np.finfo(dtype).tiny) if floor is None else floor
    with np.errstate(over="ignore", invalid="ignore"):
        allowed = factor * eps(dtype) * np.broadcast_to(np.asarray(scale, np.float64),
                                                        expected.shape) + floor
    assert np.all(np.isfinite(allowed[np.isfinite(expected)])), \
        f"{what}: the error scale overflows; the strategy must keep it finite"
    # Where the exact result is within rounding of dtype's largest value or
    # beyond it, dtype's correctly rounded answer is +-inf: accept that.
    actual = actual.astype(np.float64)
    with np.errstate(invalid="ignore"):
        overflow = (np.isfinite(expected) & (np.abs(expected) + allowed > float(np.finfo(dtype).max))
                    & (actual == np.copysign(np.inf, expected)))
    actual = np.where(overflow, expected, actual)
    with np.errstate(invalid="ignore", over="ignore"):
        assert_close(actual / allowed, expected / allowed, rtol=0.0, atol=1.0,
                     what=what + " (in units of the allowed error)")


def put(backend, a):
    """a on the backend, as a copy (in-place ops must not change the drawn
    data); unlike conftest's Device.put, a 0-d array stays 0-d."""
    if a is None:
        return None
    return backend.put(a) if backend.name == "cuda" else np.array(a, copy=True)


# ---------------------------------------------------------------- SIMD paths

def cpu_simd_paths():
    from pykernels import _cpu
    order = ["generic", "avx2", "avx512"]
    return order[:order.index(_cpu.best_simd_path()) + 1]


@contextlib.contextmanager
def simd(backend, path):
    """Runs the CPU kernels on SIMD path `path` (a no-op on other backends)."""
    if backend.name != "cpu":
        yield
        return
    from pykernels import _cpu
    before = _cpu.simd_path()
    _cpu.set_simd_path(path)
    try:
        yield
    finally:
        _cpu.set_simd_path(before)


def simd_paths():
    return st.sampled_from(cpu_simd_paths())


# ---------------------------------------------------------------- activations

@st.composite
def activation_params(draw, name, dtype, x_shape=None):
    """Parameters of activation `name` in ranges PyTorch accepts."""
    if name == "leaky_relu":
        return {"negative_slope": draw(st.sampled_from([0.01, 0.0]) | f32(-1.0, 1.0))}
    if name == "elu":
        return {"alpha": draw(st.sampled_from([1.0]) | f32(-2.0, 3.0))}
    if name == "celu":  # alpha = 0 is an error in PyTorch
        return {"alpha": draw(st.sampled_from([1.0]) | f32(0.1, 3.0))}
    if name == "gelu":
        return {"approximate": draw(st.sampled_from(["none", "tanh"]))}
    if name == "softplus":
        return {"beta": draw(st.sampled_from([1.0]) | f32(0.1, 10.0)),
                "threshold": draw(st.sampled_from([20.0]) | f32(0.5, 40.0))}
    if name == "hardtanh":
        lo = draw(f32(-3.0, 1.0))
        hi = float(np.float32(lo + draw(f32(0.01, 4.0))))
        return {"min_val": lo, "max_val": hi} if hi > lo else {}
    if name == "prelu":
        c = x_shape[1] if x_shape is not None and len(x_shape) >= 2 else 1
        n = draw(st.sampled_from([1, c]))
        w = np.array(draw(st.lists(f32(-1.0, 1.0), min_size=n, max_size=n)), dtype)
        return {"weight": w}
    return {}


ACT_NAMES = NAMES
LINEAR_ACT_NAMES = tuple(n for n in ACT_NAMES if n != "prelu")


def kinks(name, params):
    """Points where the activation or its derivative is not smooth."""
    if name in ("relu", "leaky_relu", "prelu", "elu", "selu", "celu", "binary_step"):
        return [0.0, -0.0]
    if name == "hardtanh":
        return [params.get("min_val", -1.0), params.get("max_val", 1.0)]
    if name == "softplus":
        return [params.get("threshold", 20.0) / params.get("beta", 1.0)]
    return [0.0]


def activation_specials(name, params, dtype):
    """Kinks, values where exp overflows or saturates, and any finite value."""
    fixed = kinks(name, params) + [1e-30, -1e-30, 20.0, -20.0, 88.0, -88.0, 89.0, -89.0,
                                   710.0, -710.0, 1e4, -1e4, 1e30, -1e30]
    fixed = [v for v in fixed if abs(v) <= np.finfo(dtype).max]
    # float64 inputs up to 1e300: the error scales (|y| + |x f'(x)|, in float64)
    # must stay finite; float32's whole range is far from that.
    lim = float(np.finfo(np.float32).max) if dtype == np.float32 else 1e300
    return st.sampled_from(fixed) | finite(dtype, min_value=-lim, max_value=lim)


def _sensitivity(f, x):
    """|x f'(x)| by a central difference at relative step 1e-6, in float64: how
    much f moves when x moves by one relative rounding (the conditioning of f
    at x, which bounds the effect of rounding x-dependent intermediates)."""
    h = 1e-6
    with np.errstate(all="ignore"):
        d = np.abs(f(x * (1 + h)) - f(x * (1 - h))) / (2 * h)
    return np.where(np.isfinite(d), d, 0.0)


def forward_scale(name, x, params):
    """Error scale of act(x): |y| plus its conditioning (|x f'(x)|)."""
    x = np.asarray(x, np.float64)
    f = lambda v: act_ref.forward(name, v, **params)  # noqa: E731
    with np.errstate(all="ignore"):
        y = np.abs(f(x))
    return np.where(np.isfinite(y), y, 0.0) + _sensitivity(f, x)


def derivative_scale(name, x, params):
    """Error scale of act'(x): the magnitude of the terms that sum to it (they
    cancel at the zeros of gelu', silu', mish', gcu') plus its conditioning."""
    x = np.asarray(x, np.float64)
    d = lambda v: act_ref.derivative(name, v, **params)  # noqa: E731
    with np.errstate(all="ignore"):
        terms = act_ref.derivative_scale(name, x, **params)
        if name == "gcu":
            terms = np.abs(np.cos(x)) + np.abs(x * np.sin(x))
    return np.where(np.isfinite(terms), terms, 0.0) + _sensitivity(d, x)


# ================================================================ matmul

@st.composite
def matmul_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    m, n, k = (draw(dims(80)) for _ in "mnk")
    trans_a, trans_b = draw(st.booleans()), draw(st.booleans())
    scales = log_scales(dtype)
    a = draw(arrays((k, m) if trans_a else (m, k), dtype, log10_scale=scales))
    b = draw(arrays((n, k) if trans_b else (k, n), dtype, log10_scale=scales))
    alpha = draw(st.sampled_from([1.0, 0.0, -1.0]) | st.floats(-10, 10))
    beta = draw(st.sampled_from([0.0, 1.0, -0.5]) | st.floats(-10, 10))
    give_out = beta != 0 or draw(st.booleans())
    c = draw(arrays((m, n), dtype, log10_scale=scales)) if beta != 0 else \
        np.full((m, n), np.nan, dtype)
    return dict(a=a, b=b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, c=c,
                give_out=give_out, simd=draw(simd_paths()))


@budget(80)
@given(case=matmul_cases())
def test_matmul(backend, case):
    """alpha * op(a) @ op(b) + beta * out for every transpose, alpha and beta:
    within rounding of the sum of |terms| of each dot product; with beta == 0
    the previous contents of out (NaN here) are not read."""
    a, b, c, alpha, beta = (case[k] for k in ("a", "b", "c", "alpha", "beta"))
    trans_a, trans_b = case["trans_a"], case["trans_b"]
    dtype = a.dtype
    out = put(backend, c.copy()) if case["give_out"] else None
    with simd(backend, case["simd"]):
        got = pk.ops.matmul(put(backend, a), put(backend, b), trans_a=trans_a, trans_b=trans_b,
                            alpha=alpha, beta=beta, out=out, **backend.kw)
    got = backend.get(got)
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    assert got.dtype == dtype and got.shape == (m, n)
    expected = mm_ref.matmul(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, c=c)
    op_a = np.abs(a.astype(np.float64).T if trans_a else a.astype(np.float64))
    op_b = np.abs(b.astype(np.float64).T if trans_b else b.astype(np.float64))
    scale = abs(alpha) * (op_a @ op_b) + (abs(beta) * np.abs(c.astype(np.float64)) if beta else 0)
    assert_close_scaled(got, expected, scale, factor=2 * (k + 2), dtype=dtype, what="matmul")


# ================================================================ linear

@st.composite
def linear_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    name = draw(st.sampled_from(LINEAR_ACT_NAMES))
    params = draw(activation_params(name, dtype))
    lead = draw(st.lists(dims(9), min_size=0, max_size=2).map(tuple))
    in_f, out_f = draw(dims(48)), draw(dims(48))
    x = draw(arrays(lead + (in_f,), dtype, log10_scale=[0, -1, 1]))
    w = draw(arrays((out_f, in_f), dtype, log10_scale=[0, -1]))
    if in_f:
        w = (w / np.sqrt(in_f)).astype(dtype)
    b = draw(st.none() | arrays((out_f,), dtype, log10_scale=[0, 1]))
    g = draw(arrays(lead + (out_f,), dtype, log10_scale=[0, -1, 1]))
    from_y = keeps_output(name, **params) and draw(st.booleans())
    return dict(name=name, params=params, x=x, w=w, b=b, grad_y=g, from_y=from_y,
                needs_input_grad=draw(st.booleans()), simd=draw(simd_paths()))


def _linear_tolerance_scale(x, w, b):
    """Sum of |terms| of z = x @ w.T + b."""
    s = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
    return s + np.abs(b.astype(np.float64)) if b is not None else s


@budget(120)
@given(case=linear_cases())
# pk.ops.linear reshaped a 1-D x with reshape(-1, 0), which NumPy cannot do:
# an x of shape (0,) with in_features == 0 raised instead of giving y = bias.
@example(case=dict(name="identity", params={}, x=np.zeros(0, np.float32),
                   w=np.zeros((3, 0), np.float32), b=np.arange(3, dtype=np.float32),
                   grad_y=np.ones(3, np.float32), from_y=False, needs_input_grad=True,
                   simd="generic"))
def test_linear_forward_and_backward(backend, case):
    """y = act(x @ w.T + b) with every fusable activation and its parameters,
    x of any number of leading axes; the backward from z (any activation) or
    from y (those whose derivative is a function of the output), with and
    without grad_x. z is checked against the GEMM reference, y against the
    activation of the kernel's own z (GEMM rounding near binary_step's jump
    would otherwise decide the test), and the gradients against
    g' = grad_y * act'(z) propagated through the reference GEMMs, within the
    error of g' (relative to its terms) plus the GEMMs' rounding."""
    name, params, x, w, b, g = (case[k] for k in ("name", "params", "x", "w", "b", "grad_y"))
    dtype = x.dtype
    out_f, in_f = w.shape
    lead = x.shape[:-1]
    d = {k: put(backend, v) for k, v in (("x", x), ("w", w))}
    bd = put(backend, b) if b is not None else None
    with simd(backend, case["simd"]):
        y, z = pk.ops.linear(d["x"], d["w"], bd, activation=name, return_pre_activation=True,
                             **params, **backend.kw)
    y, z = backend.get(y), backend.get(z)
    assert y.shape == z.shape == lead + (out_f,) and y.dtype == z.dtype == dtype
    rows = int(np.prod(lead, dtype=np.int64))
    x2 = x.reshape(rows, in_f).astype(np.float64)
    z_ref = x2 @ w.astype(np.float64).T + (b.astype(np.float64) if b is not None else 0.0)
    assert_close_scaled(z.reshape(rows, out_f), z_ref, _linear_tolerance_scale(x2, w, b),
                        factor=2 * (in_f + 2), dtype=dtype, what="z")
    z64 = z.astype(np.float64)
    assert_close_scaled(y, act_ref.forward(name, z64, **params), forward_scale(name, z64, params),
                        factor=16, dtype=dtype, what=f"y = {name}(z)")

    saved = {"y": put(backend, y)} if case["from_y"] else {"z": put(backend, z)}
    with simd(backend, case["simd"]):
        gx, gw, gb = pk.ops.linear_backward(put(backend, g), d["x"], d["w"], activation=name,
                                            needs_input_grad=case["needs_input_grad"], **saved,
                                            **params, **backend.kw)
    g2 = g.reshape(rows, out_f).astype(np.float64)
    z2 = z64.reshape(rows, out_f)
    gp = act_ref.backward(name, g2, z2, **params)
    # Error of the kernel's g' (relative to the terms of act'), plus, from y,
    # the absolute rounding of y that the output formulas (1 - y^2, y + alpha,
    # ...) carry: a few eps times max(1, |alpha|, selu's scale) and |z|.
    gp_err = np.abs(g2) * derivative_scale(name, z2, params)
    if case["from_y"]:
        gp_err = gp_err + np.abs(g2) * 4 * max(1.0, abs(params.get("alpha", 1.0)),
                                               1.76) * (1 + np.abs(z2))
    abs_gp = np.abs(gp) + gp_err
    w64, x64 = np.abs(w.astype(np.float64)), np.abs(x2)
    if case["needs_input_grad"]:
        gx = backend.get(gx)
        assert gx.shape == x.shape and gx.dtype == dtype
        assert_close_scaled(gx.reshape(rows, in_f), gp @ w.astype(np.float64), abs_gp @ w64,
                            factor=16 * (out_f + 2), dtype=dtype, what="grad_x")
    else:
        assert gx is None
    assert_close_scaled(backend.get(gw), gp.T @ x2, abs_gp.T @ x64, factor=16 * (rows + 2),
                        dtype=dtype, what="grad_weight")
    assert_close_scaled(backend.get(gb), gp.sum(axis=0), abs_gp.sum(axis=0),
                        factor=16 * (rows + 2), dtype=dtype, what="grad_bias")
