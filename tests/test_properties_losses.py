"""Property tests (hypothesis) for the losses: cross_entropy (class indices
and class probabilities, weight, ignore_index, label_smoothing), nll_loss,
mse_loss, l1_loss and hinge_loss (multi-margin), every reduction and an
upstream gradient for reduction="none", on every backend, against
tests/reference/cross_entropy.py and tests/reference/losses.py.
Strategies and the error-scaled comparison: tests/test_properties.py."""

import numpy as np
from hypothesis import assume, example, given
from hypothesis import strategies as st

import pykernels as pk
from reference import cross_entropy as ce_ref
from reference import losses as ref
from test_properties import (DTYPES, arrays, assert_close_scaled, budget, dims, eps, f32,
                             log_scales, put, shapes)

REDUCTIONS = ["mean", "sum", "none"]


@st.composite
def class_targets(draw, n, c, *, allow_ignore=True):
    """(target, ignore_index): labels in [0, c), some rows set to ignore_index
    (PyTorch's -100, another negative value, or a valid class, which then
    means 'ignore that class')."""
    label_dtype = draw(st.sampled_from([np.int64, np.int32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    target = rng.integers(0, c, n) if c else np.zeros(n, np.int64)
    ignore_index = draw(st.sampled_from([-100, -1]) | st.integers(0, max(c - 1, 0)))
    if allow_ignore and n:
        rows = draw(st.lists(st.integers(0, n - 1), max_size=n))
        target[rows] = ignore_index
    return target.astype(label_dtype), ignore_index


@st.composite
def class_weights(draw, c, dtype):
    """None or per-class weights >= 0 (zeros included: a row of weight 0 adds
    nothing, and all of them make the mean 0 / 0)."""
    if not draw(st.booleans()):
        return None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.uniform(0.0, 2.0, c)
    if c and draw(st.booleans()):
        w[draw(st.integers(0, c - 1))] = 0.0
    return w.astype(dtype)


def _grad_loss(draw, reduction, n, dtype):
    if reduction != "none" or not draw(st.booleans()):
        return None
    return draw(arrays((n,), dtype, log10_scale=[0, 1]))


def _row_factors(reduction, n, denom, grad_loss):
    """d(returned loss)/d(row loss), as used for the error scales (0 where the
    mean divides by 0: the reference gives NaN or inf there, compared as such)."""
    if reduction == "none":
        return np.ones(n) if grad_loss is None else np.abs(grad_loss.astype(np.float64))
    if reduction == "sum" or denom is None:
        return np.ones(n) / (n if reduction == "mean" and n else 1)
    return np.full(n, 1.0 / abs(denom) if denom else 0.0)


def _check_loss(got, expected, scale, *, factor, dtype, reduction, what, terms=1):
    """A loss within factor roundings of dtype of its scale; a reduced loss
    also within the float64 rounding of its sum of `terms` values (which
    matters for float64 data)."""
    if reduction != "none":
        factor = factor + 4 * terms * eps(np.float64) / eps(dtype)
    if reduction == "none":
        got = np.asarray(got)
        assert got.dtype == dtype
    else:
        assert isinstance(got, float), f"{what}: a reduced loss is a Python float"
    # The terms are computed in dtype (and summed in float64): dtype's eps.
    assert_close_scaled(np.float64(got) if reduction != "none" else got, expected, scale,
                        factor=factor, dtype=dtype, what=what)


# ---------------------------------------------------------------- cross_entropy

@st.composite
def cross_entropy_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n, c = draw(dims(40)), draw(dims(40, min_size=1))
    z = draw(arrays((n, c), dtype, log10_scale=[0, 1, -1, 2],
                    specials=st.sampled_from([0.0, 50.0, -50.0, 1e4, -1e4, 1e30, -1e30])))
    probabilities = draw(st.booleans())
    if probabilities:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        t = rng.dirichlet(np.full(c, draw(st.sampled_from([0.1, 1.0, 10.0]))), n)
        target, ignore_index = t.astype(dtype), -100
    else:
        target, ignore_index = draw(class_targets(n, c))
    reduction = draw(st.sampled_from(REDUCTIONS))
    return dict(logits=z, target=target, ignore_index=ignore_index,
                weight=draw(class_weights(c, dtype)),
                label_smoothing=draw(st.sampled_from([0.0]) | st.floats(0.0, 1.0)),
                reduction=reduction, grad_loss=_grad_loss(draw, reduction, n, dtype))


@budget(200)
@given(case=cross_entropy_cases())
# The mean with a zero denominator (every kept target of weight 0) under
# label smoothing was +inf (total / 0); PyTorch's is NaN (its NLL term is
# 0 / 0), and so is the gradient of every kept row.
@example(case=dict(logits=np.array([[0.125, 0.3], [0.2, 0.1]], np.float32),
                   target=np.array([0, -100]), ignore_index=-100,
                   weight=np.array([0.0, 1.0], np.float32), label_smoothing=0.3,
                   reduction="mean", grad_loss=None))
def test_cross_entropy(backend, case):
    """Loss and gradient of the fused softmax cross-entropy. The error of
    log p[n, c] is relative to |z[n, c]| + max|z[n]| + log C (the rounding of
    the shift by the row maximum), weighted by the class distribution a[n, c]
    that the reference builds from target, weight and smoothing."""
    z, target, weight = case["logits"], case["target"], case["weight"]
    reduction, grad_loss = case["reduction"], case["grad_loss"]
    dtype = z.dtype
    n, c = z.shape
    kw = dict(weight=put(backend, weight), ignore_index=case["ignore_index"],
              label_smoothing=case["label_smoothing"], reduction=reduction)
    loss, grad = pk.ops.cross_entropy(put(backend, z), put(backend, target),
                                      grad_loss=put(backend, grad_loss), **kw, **backend.kw)
    if reduction == "none":
        loss = backend.get(loss)
    grad = backend.get(grad)
    assert grad.dtype == dtype and grad.shape == z.shape
    kw["weight"] = weight
    e_loss, e_grad = ce_ref.cross_entropy(z, target, grad_loss=grad_loss, **kw)

    a, denom = ce_ref.class_distribution(target, c, weight, case["ignore_index"],
                                         case["label_smoothing"])
    z64 = z.astype(np.float64)
    shift = np.abs(z64) + np.max(np.abs(z64), axis=1, keepdims=True) + np.log(c) + 1
    f = _row_factors(reduction, n, denom, grad_loss)
    row_scale = np.sum(np.abs(a) * shift, axis=1)
    p = np.exp(ce_ref.log_softmax(z64))
    grad_scale = f[:, None] * (p * np.sum(np.abs(a), axis=1, keepdims=True) * shift + np.abs(a))
    factor = 4 * (c + 4)
    _check_loss(loss, e_loss, row_scale if reduction == "none" else np.sum(f * row_scale),
                factor=factor, dtype=dtype, reduction=reduction, what="cross_entropy loss",
                terms=n)
    assert_close_scaled(grad, e_grad, grad_scale, factor=factor, dtype=dtype,
                        what="cross_entropy grad")


# ---------------------------------------------------------------- nll_loss

@st.composite
def nll_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n, c = draw(dims(40)), draw(dims(40, min_size=1))
    x = draw(arrays((n, c), dtype, log10_scale=log_scales(dtype)))
    target, ignore_index = draw(class_targets(n, c))
    reduction = draw(st.sampled_from(REDUCTIONS))
    return dict(log_probs=x, target=target, ignore_index=ignore_index,
                weight=draw(class_weights(c, dtype)), reduction=reduction,
                grad_loss=_grad_loss(draw, reduction, n, dtype))


@budget(120)
@given(case=nll_cases())
# Zero total weight: NaN loss and NaN gradient on the kept rows, as PyTorch.
@example(case=dict(log_probs=np.array([[0.125, -1.0], [0.5, 2.0]], np.float32),
                   target=np.array([0, 1]), ignore_index=1,
                   weight=np.array([0.0, 1.0], np.float32), reduction="mean", grad_loss=None))
def test_nll_loss(backend, case):
    x, target, weight = case["log_probs"], case["target"], case["weight"]
    reduction, grad_loss = case["reduction"], case["grad_loss"]
    dtype = x.dtype
    n, c = x.shape
    kw = dict(ignore_index=case["ignore_index"], reduction=reduction)
    loss, grad = pk.ops.nll_loss(put(backend, x), put(backend, target),
                                 weight=put(backend, weight), grad_loss=put(backend, grad_loss),
                                 **kw, **backend.kw)
    if reduction == "none":
        loss = backend.get(loss)
    grad = backend.get(grad)
    assert grad.dtype == dtype and grad.shape == x.shape
    e_loss, e_grad = ref.nll_loss(x, target, weight=weight, grad_loss=grad_loss, **kw)
    keep = target != case["ignore_index"]
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    wy = np.where(keep, w[np.where(keep, target, 0)], 0.0)
    picked = np.abs(x.astype(np.float64)[np.arange(n), np.where(keep, target, 0)])
    f = _row_factors(reduction, n, wy.sum() if reduction == "mean" else None, grad_loss)
    row_scale = wy * picked
    _check_loss(loss, e_loss, row_scale if reduction == "none" else np.sum(f * row_scale),
                factor=4 * (n + 2), dtype=dtype, reduction=reduction, what="nll_loss loss",
                terms=n)
    assert_close_scaled(grad, e_grad, np.abs(e_grad) + (f * wy)[:, None], factor=4, dtype=dtype,
                        what="nll_loss grad")


# ---------------------------------------------------------------- mse / l1

@st.composite
def elementwise_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=40, max_size=5000))
    scales = log_scales(dtype)
    x = draw(arrays(shape, dtype, log10_scale=scales))
    t = draw(arrays(shape, dtype, log10_scale=scales))
    if x.size and draw(st.booleans()):  # exact ties: the l1 gradient is 0 there
        idx = draw(st.lists(st.integers(0, x.size - 1), max_size=8))
        t.flat[idx] = x.flat[idx]
    reduction = draw(st.sampled_from(REDUCTIONS))
    grad_loss = None
    if reduction == "none" and draw(st.booleans()):
        grad_loss = draw(arrays(shape, dtype, log10_scale=[0, 1]))
    return dict(name=draw(st.sampled_from(["mse_loss", "l1_loss"])), input=x, target=t,
                reduction=reduction, grad_loss=grad_loss)


@budget(160)
@given(case=elementwise_cases())
def test_mse_and_l1_loss(backend, case):
    """Elementwise losses of any shape (0-d and empty too): d = input - target
    is rounded relative to |input| + |target|, which bounds the error of
    d^2, |d| and their gradients."""
    name, x, t = case["name"], case["input"], case["target"]
    reduction, grad_loss = case["reduction"], case["grad_loss"]
    dtype = x.dtype
    fn = getattr(pk.ops, name)
    loss, grad = fn(put(backend, x), put(backend, t), reduction, grad_loss=put(backend, grad_loss),
                    **backend.kw)
    if reduction == "none":
        loss = backend.get(loss)
        assert loss.shape == x.shape
    grad = backend.get(grad)
    assert grad.dtype == dtype and grad.shape == x.shape
    e_loss, e_grad = getattr(ref, name)(x, t, reduction, grad_loss=grad_loss)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    d, mag = np.abs(x64 - t64), np.abs(x64) + np.abs(t64)
    if reduction == "none":
        f = np.ones(x.shape) if grad_loss is None else np.abs(grad_loss.astype(np.float64))
    else:
        f = np.full(x.shape, 1.0 / x.size if reduction == "mean" and x.size else 1.0)
    elem = 2 * d * mag if name == "mse_loss" else mag
    g_scale = f * (2 * mag if name == "mse_loss" else 1.0)
    if reduction == "none":
        _check_loss(loss, e_loss, elem, factor=4, dtype=dtype, reduction=reduction,
                    what=name + " loss")
    elif x.size:
        _check_loss(loss, e_loss, np.sum(f * elem), factor=4, dtype=dtype, reduction=reduction,
                    what=name + " loss", terms=x.size)
    else:  # the mean of nothing is NaN, as in PyTorch; the sum is 0
        assert np.isnan(loss) if reduction == "mean" else loss == 0.0
    assert_close_scaled(grad, e_grad, g_scale, factor=4, dtype=dtype, what=name + " grad")


# ---------------------------------------------------------------- hinge

@st.composite
def hinge_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n, c = draw(dims(40)), draw(dims(40, min_size=1))
    x = draw(arrays((n, c), dtype, log10_scale=[0, 1, -1]))
    target, _ = draw(class_targets(n, c, allow_ignore=False))
    reduction = draw(st.sampled_from(REDUCTIONS))
    return dict(input=x, target=target, p=draw(st.sampled_from([1, 2])),
                margin=draw(st.sampled_from([1.0, 0.0]) | f32(0.0, 3.0)),
                weight=draw(class_weights(c, dtype)), reduction=reduction,
                grad_loss=_grad_loss(draw, reduction, n, dtype))


@budget(160)
@given(case=hinge_cases())
def test_hinge_loss(backend, case):
    """Multi-class margin loss, p = 1 and 2, with a margin and class weights.
    A margin term z = margin - x[y] + x[i] that is within rounding of 0 but
    not exactly 0 decides between a gradient and none by its rounding:
    such examples are rejected (ties that are exact, from the grid values,
    are kept: z == 0 exactly gives no gradient in both)."""
    x, target, weight, p, margin = (case[k] for k in ("input", "target", "weight", "p",
                                                       "margin"))
    reduction, grad_loss = case["reduction"], case["grad_loss"]
    dtype = x.dtype
    n, c = x.shape
    x64 = x.astype(np.float64)
    rows = np.arange(n)
    xy = x64[rows, target][:, None]
    z = margin - xy + x64
    err = 16 * eps(dtype) * (margin + np.abs(xy) + np.abs(x64))
    assume(not np.any((z != 0) & (np.abs(z) < err)))
    loss, grad = pk.ops.hinge_loss(put(backend, x), put(backend, target), p=p, margin=margin,
                                   weight=put(backend, weight), reduction=reduction,
                                   grad_loss=put(backend, grad_loss), **backend.kw)
    if reduction == "none":
        loss = backend.get(loss)
    grad = backend.get(grad)
    assert grad.dtype == dtype and grad.shape == x.shape
    e_loss, e_grad = ref.hinge_loss(x, target, p=p, margin=margin, weight=weight,
                                    reduction=reduction, grad_loss=grad_loss)
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    wy = w[target][:, None] if n else np.zeros((0, 1))
    pos = np.maximum(z, 0.0)
    zmag = margin + np.abs(xy) + np.abs(x64)
    elem = wy * (zmag if p == 1 else (2 * pos * zmag + pos * pos)) / c
    elem[rows, target] = 0.0
    f = _row_factors(reduction, n, None, grad_loss)
    row_scale = elem.sum(axis=1)
    _check_loss(loss, e_loss, row_scale if reduction == "none" else np.sum(f * row_scale),
                factor=4 * (c + 2), dtype=dtype, reduction=reduction, what="hinge loss",
                terms=n)
    gmag = f[:, None] * wy * (1.0 if p == 1 else 2 * (pos + zmag)) / c * (z > 0)
    gmag[rows, target] = gmag.sum(axis=1)
    assert_close_scaled(grad, e_grad, gmag, factor=4 * (c + 2), dtype=dtype, what="hinge grad")
