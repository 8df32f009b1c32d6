"""pk.ops.cross_entropy (fused softmax cross-entropy, loss and gradient)
against the float64 reference, finite differences and PyTorch."""

import numpy as np
import pytest

import pykernels as pk
from conftest import assert_close
from reference import cross_entropy as ref


DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(1, 1), (1, 3), (5, 1), (6, 3), (4, 1000), (3, 4099), (0, 7), (37, 17)]


def _tol(dtype, c=1):
    if dtype == np.float32:
        return dict(rtol=3e-5, atol=3e-6 * max(1.0, np.log(c + 1)))
    return dict(rtol=1e-11, atol=1e-13)


def _labels(rng, n, c, ignore_every=0, ignore_index=-100, dtype=np.int64):
    t = rng.integers(0, c, n).astype(dtype)
    if ignore_every:
        t[::ignore_every] = ignore_index
    return t


def _call(backend, logits, target, **kw):
    put = backend.put
    for name in ("weight", "grad_loss"):
        if kw.get(name) is not None:
            kw[name] = put(kw[name])
    loss, grad = pk.ops.cross_entropy(put(logits), put(target), **kw, **backend.kw)
    if kw.get("reduction") == "none":
        loss = backend.get(loss)
    return loss, backend.get(grad)


def _check(backend, logits, target, dtype, **kw):
    loss, grad = _call(backend, logits, target, **dict(kw))
    rloss, rgrad = ref.cross_entropy(logits, target, **kw)
    tol = _tol(dtype, logits.shape[1] if logits.ndim == 2 else 1)
    if kw.get("reduction", "mean") == "none":
        assert loss.dtype == dtype
    else:
        assert isinstance(loss, float)
    assert_close(np.asarray(loss), np.asarray(rloss), **tol, what="loss")
    assert grad.dtype == dtype
    assert_close(grad, rgrad, **tol, what="grad")
    return loss, grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_class_indices(backend, rng, shape, dtype, reduction):
    n, c = shape
    logits = (3 * rng.standard_normal(shape)).astype(dtype)
    _check(backend, logits, _labels(rng, n, c), dtype, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_smoothing_ignore_index(backend, rng, dtype, label_dtype, weighted, smoothing,
                                        reduction):
    n, c = 29, 11
    logits = (2 * rng.standard_normal((n, c))).astype(dtype)
    target = _labels(rng, n, c, ignore_every=4, ignore_index=-100, dtype=label_dtype)
    weight = rng.uniform(0.1, 2.0, c).astype(dtype) if weighted else None
    _check(backend, logits, target, dtype, weight=weight, label_smoothing=smoothing,
           reduction=reduction)


def test_ignore_index_inside_the_class_range(backend, rng):
    logits = rng.standard_normal((10, 4))
    target = np.array([0, 1, 2, 3, 2, 2, 1, 0, 3, 2])
    loss, grad = _check(backend, logits, target, np.float64, ignore_index=2, label_smoothing=0.2)
    assert not grad[target == 2].any()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_probability_targets(backend, rng, dtype, weighted, smoothing, reduction):
    n, c = 13, 1000
    logits = rng.standard_normal((n, c)).astype(dtype)
    target = rng.dirichlet(np.ones(c), n).astype(dtype)
    weight = rng.uniform(0.5, 1.5, c).astype(dtype) if weighted else None
    _check(backend, logits, target, dtype, weight=weight, label_smoothing=smoothing,
           reduction=reduction)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reduction_none_takes_an_upstream_gradient(backend, rng, dtype):
    logits = rng.standard_normal((8, 5)).astype(dtype)
    target = _labels(rng, 8, 5, ignore_every=3)
    grad_loss = rng.standard_normal(8).astype(dtype)
    _check(backend, logits, target, dtype, reduction="none", grad_loss=grad_loss,
           weight=np.arange(1, 6).astype(dtype), label_smoothing=0.1)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_all_targets_ignored(backend, rng, smoothing):
    logits = rng.standard_normal((4, 6))
    target = np.full(4, -100)
    loss, grad = _call(backend, logits, target, label_smoothing=smoothing)
    assert np.isnan(loss)
    assert not grad.any()
    loss, grad = _call(backend, logits, target, reduction="sum")
    assert loss == 0.0 and not grad.any()


def test_empty_batch_mean_is_nan(backend):
    loss, grad = _call(backend, np.zeros((0, 5), np.float32), np.zeros(0, np.int64))
    assert np.isnan(loss) and grad.shape == (0, 5)
    loss, _ = _call(backend, np.zeros((0, 5), np.float32), np.zeros((0, 5), np.float32))
    assert np.isnan(loss)


@pytest.mark.parametrize("dtype", DTYPES)
def test_equal_and_extreme_logits(backend, dtype):
    big = 1e30 if dtype == np.float64 else 1e37
    logits = np.array([[0.0, 0.0, 0.0, 0.0],
                       [5.0, 5.0, 5.0, 5.0],
                       [big, 0.0, -big, 1.0],
                       [-big, -big, 3.0, -big],
                       [1000.0, -1000.0, 0.0, 999.0]], dtype)
    target = np.array([1, 3, 0, 2, 1])
    loss, grad = _check(backend, logits, target, dtype, reduction="none")
    assert_close(loss[:2], np.full(2, np.log(4.0)), **_tol(dtype))
    assert np.isfinite(grad).all()
    _check(backend, logits, target, dtype, label_smoothing=0.1, reduction="none")


@pytest.mark.parametrize("kind", ["index", "prob"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradient_matches_finite_differences(backend, rng, kind, reduction):
    n, c = 5, 7
    logits = rng.standard_normal((n, c))
    if kind == "index":
        target = np.array([0, -100, 6, 3, 3])
        kw = dict(weight=rng.uniform(0.5, 2, c), label_smoothing=0.15, reduction=reduction)
    else:
        target = rng.dirichlet(np.ones(c), n)
        kw = dict(weight=rng.uniform(0.5, 2, c), label_smoothing=0.15, reduction=reduction)
    gl = rng.standard_normal(n) if reduction == "none" else None

    def f(z):
        loss, _ = _call(backend, z, target, **dict(kw))
        return float(np.sum(loss * gl)) if gl is not None else loss

    _, grad = _call(backend, logits, target, grad_loss=gl, **dict(kw))
    h = 1e-6
    num = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        zp, zm = logits.copy(), logits.copy()
        zp[idx] += h
        zm[idx] -= h
        num[idx] = (f(zp) - f(zm)) / (2 * h)
    assert_close(grad, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", ["index", "prob"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(backend, rng, dtype, reduction, kind):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    n, c = 23, 19
    logits = (3 * rng.standard_normal((n, c))).astype(dtype)
    weight = rng.uniform(0.2, 2.0, c).astype(dtype)
    if kind == "index":
        target = _labels(rng, n, c, ignore_every=5, ignore_index=4)
        tt = torch.tensor(target)
    else:
        target = rng.dirichlet(np.ones(c), n).astype(dtype)
        tt = torch.tensor(target)
    kw = dict(weight=weight, label_smoothing=0.2, reduction=reduction)
    if kind == "index":
        kw["ignore_index"] = 4
    loss, grad = _call(backend, logits, target, **dict(kw))
    zt = torch.tensor(logits, requires_grad=True)
    tkw = dict(kw, weight=torch.tensor(weight))
    lt = F.cross_entropy(zt, tt, **tkw)
    lt.sum().backward()
    tol = _tol(dtype, c)
    assert_close(np.asarray(loss), lt.detach().numpy(), **tol, what="loss")
    assert_close(grad, zt.grad.numpy(), **tol, what="grad")


def test_results_do_not_depend_on_thread_count(rng):
    logits = rng.standard_normal((513, 1000)).astype(np.float32)
    target = rng.integers(0, 1000, 513)
    pk.set_num_threads(1)
    l1, g1 = pk.ops.cross_entropy(logits, target, label_smoothing=0.1)
    pk.set_num_threads(2)
    l2, g2 = pk.ops.cross_entropy(logits, target, label_smoothing=0.1)
    assert l1 == l2
    np.testing.assert_array_equal(g1, g2)


Z = np.zeros((3, 4), np.float32)
T = np.array([0, 1, 2])
BAD = [
    ("label too large", lambda kw: pk.ops.cross_entropy(Z, np.array([0, 4, 1]), **kw), ValueError, "'target'"),
    ("negative label", lambda kw: pk.ops.cross_entropy(Z, np.array([0, -1, 1]), **kw), ValueError, "'target'"),
    ("label dtype", lambda kw: pk.ops.cross_entropy(Z, T.astype(np.uint8), **kw), TypeError, "'target'"),
    ("prob target dtype", lambda kw: pk.ops.cross_entropy(Z, Z.astype(np.float64), **kw), TypeError, "'target'"),
    ("prob target shape", lambda kw: pk.ops.cross_entropy(Z, np.zeros((3, 5), np.float32), **kw),
     ValueError, "'target'"),
    ("label count", lambda kw: pk.ops.cross_entropy(Z, np.array([0, 1]), **kw), ValueError, "'target'"),
    ("weight length", lambda kw: pk.ops.cross_entropy(Z, T, weight=np.ones(5, np.float32), **kw),
     ValueError, "'weight'"),
    ("weight dtype", lambda kw: pk.ops.cross_entropy(Z, T, weight=np.ones(4), **kw), TypeError, "'weight'"),
    ("reduction", lambda kw: pk.ops.cross_entropy(Z, T, reduction="avg", **kw), ValueError, "'reduction'"),
    ("smoothing", lambda kw: pk.ops.cross_entropy(Z, T, label_smoothing=1.5, **kw), ValueError,
     "'label_smoothing'"),
    ("logits ndim", lambda kw: pk.ops.cross_entropy(np.zeros(4, np.float32), T, **kw), ValueError, "'logits'"),
    ("logits dtype", lambda kw: pk.ops.cross_entropy(Z.astype(np.int32), T, **kw), TypeError, "'logits'"),
    ("grad_loss with mean", lambda kw: pk.ops.cross_entropy(Z, T, grad_loss=np.ones(3, np.float32), **kw),
     ValueError, "'grad_loss'"),
]


@pytest.mark.parametrize("name,call,exc,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_the_argument(backend, name, call, exc, needle):
    with pytest.raises(exc, match=needle):
        call(backend.kw)


@pytest.mark.parametrize("mod_name", ["cpu", "cuda-emu"])
def test_binding_validates_labels_and_shapes(mod_name):
    mod = pk._backends.module(mod_name)
    extra = {"stream": 0} if mod_name != "cpu" else {}
    g = np.empty_like(Z)
    rl = np.empty(3)
    for bad in ([0, 7, 1], [0, 1, -3], [-100, 2**40, 0]):
        with pytest.raises(ValueError, match="'target'"):
            mod.cross_entropy(Z, np.array(bad), None, None, g, rl, -100, 0.0, "mean", **extra)
    with pytest.raises(ValueError, match="'weight'"):
        mod.cross_entropy(Z, T, np.ones(3, np.float32), None, g, rl, -100, 0.0, "sum", **extra)
    with pytest.raises(ValueError, match="'reduction'"):
        mod.cross_entropy(Z, T, None, None, g, rl, -100, 0.0, "avg", **extra)
    with pytest.raises(ValueError, match="'row_loss'"):
        mod.cross_entropy(Z, T, None, None, g, np.empty(2), -100, 0.0, "sum", **extra)
    with pytest.raises(ValueError, match="'grad'"):
        mod.cross_entropy(Z, T, None, None, Z, rl, -100, 0.0, "sum", **extra)


@pytest.mark.parametrize("c", [1000, 4099])
def test_emulated_results_do_not_depend_on_thread_count(rng, c):
    logits = rng.standard_normal((67, c)).astype(np.float32)
    target = rng.integers(0, c, 67)
    pk.set_num_threads(1)
    l1, g1 = pk.ops.cross_entropy(logits, target, label_smoothing=0.1, device="cuda-emu")
    pk.set_num_threads(2)
    l2, g2 = pk.ops.cross_entropy(logits, target, label_smoothing=0.1, device="cuda-emu")
    assert l1 == l2
    np.testing.assert_array_equal(g1, g2)
