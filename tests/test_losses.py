"""pk.ops.nll_loss, mse_loss, l1_loss and hinge_loss (multi-margin) against
float64 references, finite differences and PyTorch."""

import numpy as np
import pytest

import pykernels as pk
from conftest import assert_close
from reference import losses as ref


DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def _run(backend, fn, x, target, **kw):
    for name in ("weight", "grad_loss"):
        if kw.get(name) is not None:
            kw[name] = backend.put(kw[name])
    loss, grad = fn(backend.put(x), backend.put(target), **kw, **backend.kw)
    if kw.get("reduction") == "none":
        loss = backend.get(loss)
    else:
        assert isinstance(loss, float)
    return loss, backend.get(grad)


def _check(backend, name, x, target, dtype, **kw):
    loss, grad = _run(backend, getattr(pk.ops, name), x, target, **dict(kw))
    rloss, rgrad = getattr(ref, name)(x, target, **kw)
    assert grad.dtype == dtype and grad.shape == x.shape
    assert_close(np.asarray(loss), np.asarray(rloss), **TOL[dtype], what="loss")
    assert_close(grad, rgrad, **TOL[dtype], what="grad")
    return loss, grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (0,), (3, 5), (4097,), (2, 3, 1500), (9000,)])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_elementwise_losses(backend, rng, name, shape, dtype, reduction):
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.standard_normal(shape).astype(dtype)
    if x.size:
        t.reshape(-1)[::3] = x.reshape(-1)[::3]  # l1's gradient at 0 is 0
    gl = rng.standard_normal(shape).astype(dtype) if reduction == "none" else None
    _check(backend, name, x, t, dtype, reduction=reduction, grad_loss=gl)


def test_elementwise_mean_of_nothing_is_nan(backend):
    loss, grad = _run(backend, pk.ops.mse_loss, np.zeros(0), np.zeros(0))
    assert np.isnan(loss) and grad.shape == (0,)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (6, 3), (33, 1000), (0, 4)])
def test_nll_loss(backend, rng, shape, dtype, label_dtype, weighted, reduction):
    n, c = shape
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.integers(0, c, n).astype(label_dtype)
    t[::4] = -100
    w = rng.uniform(0.2, 2, c).astype(dtype) if weighted else None
    gl = rng.standard_normal(n).astype(dtype) if reduction == "none" else None
    _check(backend, "nll_loss", x, t, dtype, weight=w, reduction=reduction, grad_loss=gl)


def test_nll_all_ignored_mean_is_nan(backend):
    loss, grad = _run(backend, pk.ops.nll_loss, np.zeros((3, 2)), np.full(3, 1), ignore_index=1)
    assert np.isnan(loss) and not grad.any()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (17, 1000), (0, 3)])
def test_hinge_loss(backend, rng, shape, dtype, p, weighted, reduction):
    n, c = shape
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.integers(0, c, n)
    w = rng.uniform(0.2, 2, c).astype(dtype) if weighted else None
    gl = rng.standard_normal(n).astype(dtype) if reduction == "none" else None
    _check(backend, "hinge_loss", x, t, dtype, p=p, margin=0.7, weight=w, reduction=reduction,
           grad_loss=gl)


CASES = {
    "mse_loss": lambda rng: (rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), {}),
    "l1_loss": lambda rng: (rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), {}),
    "nll_loss": lambda rng: (rng.standard_normal((6, 4)), np.array([0, 3, -100, 1, 1, 2]),
                             {"weight": rng.uniform(0.5, 2, 4)}),
    "hinge_loss": lambda rng: (rng.standard_normal((6, 4)), np.array([0, 3, 2, 1, 1, 2]),
                               {"weight": rng.uniform(0.5, 2, 4), "p": 2, "margin": 1.3}),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences(backend, rng, name, reduction):
    x, t, kw = CASES[name](rng)
    kw["reduction"] = reduction
    fn = getattr(pk.ops, name)
    gl = rng.standard_normal(x.shape if name in ("mse_loss", "l1_loss") else x.shape[0]) \
        if reduction == "none" else None

    def f(v):
        loss, _ = _run(backend, fn, v, t, **dict(kw))
        return float(np.sum(loss * gl)) if gl is not None else loss

    _, grad = _run(backend, fn, x, t, grad_loss=gl, **dict(kw))
    h = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp_, xm_ = x.copy(), x.copy()
        xp_[idx] += h
        xm_[idx] -= h
        num[idx] = (f(xp_) - f(xm_)) / (2 * h)
    assert_close(grad, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(backend, rng, dtype, reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((11, 7)).astype(dtype)
    xt_ = rng.standard_normal((11, 7)).astype(dtype)
    labels = rng.integers(0, 7, 11)
    labels[2] = -100
    w = rng.uniform(0.3, 2, 7).astype(dtype)
    hinge_labels = np.abs(labels) % 7
    cases = [
        ("mse_loss", xt_, {}, lambda z: F.mse_loss(z, torch.tensor(xt_), reduction=reduction)),
        ("l1_loss", xt_, {}, lambda z: F.l1_loss(z, torch.tensor(xt_), reduction=reduction)),
        ("nll_loss", labels, {"weight": w},
         lambda z: F.nll_loss(z, torch.tensor(labels), weight=torch.tensor(w), reduction=reduction)),
        ("hinge_loss", hinge_labels, {"weight": w, "p": 2, "margin": 0.5},
         lambda z: F.multi_margin_loss(z, torch.tensor(hinge_labels), p=2, margin=0.5,
                                       weight=torch.tensor(w), reduction=reduction)),
        ("hinge_loss", hinge_labels, {},
         lambda z: F.multi_margin_loss(z, torch.tensor(hinge_labels), reduction=reduction)),
    ]
    for name, t, kw, tfn in cases:
        loss, grad = _run(backend, getattr(pk.ops, name), x, t, reduction=reduction, **kw)
        z = torch.tensor(x, requires_grad=True)
        lt = tfn(z)
        lt.sum().backward()
        assert_close(np.asarray(loss), lt.detach().numpy(), **TOL[dtype], what=name + " loss")
        assert_close(grad, z.grad.numpy(), **TOL[dtype], what=name + " grad")


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((700, 300)).astype(np.float32)
    t = rng.standard_normal((700, 300)).astype(np.float32)
    pk.set_num_threads(1)
    a = pk.ops.mse_loss(x, t)
    pk.set_num_threads(2)
    b = pk.ops.mse_loss(x, t)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


X = np.zeros((3, 4), np.float32)
T = np.array([0, 1, 2])
BAD = [
    ("nll label", lambda kw: pk.ops.nll_loss(X, np.array([0, 4, 1]), **kw), ValueError, "'target'"),
    ("nll weight", lambda kw: pk.ops.nll_loss(X, T, weight=np.ones(3, np.float32), **kw), ValueError, "'weight'"),
    ("nll reduction", lambda kw: pk.ops.nll_loss(X, T, reduction="max", **kw), ValueError, "'reduction'"),
    ("nll dtype", lambda kw: pk.ops.nll_loss(X, T.astype(np.float32), **kw), TypeError, "'target'"),
    ("hinge label", lambda kw: pk.ops.hinge_loss(X, np.array([0, -100, 1]), **kw), ValueError, "'target'"),
    ("hinge p", lambda kw: pk.ops.hinge_loss(X, T, p=3, **kw), ValueError, "'p'"),
    ("hinge weight", lambda kw: pk.ops.hinge_loss(X, T, weight=np.ones(5, np.float32), **kw),
     ValueError, "'weight'"),
    ("mse shape", lambda kw: pk.ops.mse_loss(X, np.zeros((3, 5), np.float32), **kw), ValueError, "'target'"),
    ("mse dtype", lambda kw: pk.ops.mse_loss(X, np.zeros((3, 4)), **kw), TypeError, "'target'"),
    ("l1 reduction", lambda kw: pk.ops.l1_loss(X, X.copy(), reduction="avg", **kw), ValueError, "'reduction'"),
    ("l1 int", lambda kw: pk.ops.l1_loss(T, T.copy(), **kw), TypeError, "'input'"),
]


@pytest.mark.parametrize("name,call,exc,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_the_argument(backend, name, call, exc, needle):
    with pytest.raises(exc, match=needle):
        call(backend.kw)


@pytest.mark.parametrize("mod_name", ["cpu", "cuda-emu"])
def test_binding_validates(mod_name):
    mod = pk._backends.module(mod_name)
    extra = {"stream": 0} if mod_name != "cpu" else {}
    g = np.empty_like(X)
    rl = np.empty(3)
    with pytest.raises(ValueError, match="'target'"):
        mod.nll_loss(X, np.array([5, 0, 0]), None, None, g, rl, -100, "mean", **extra)
    with pytest.raises(ValueError, match="'target'"):
        mod.hinge_loss(X, np.array([0, 0, 4]), None, None, g, rl, 1, 1.0, "mean", **extra)
    with pytest.raises(ValueError, match="'p'"):
        mod.hinge_loss(X, T, None, None, g, rl, 0, 1.0, "mean", **extra)
    with pytest.raises(ValueError, match="'reduction'"):
        mod.mse_loss(X, X.copy(), None, g, None, np.empty(1), "avg", **extra)
    with pytest.raises(ValueError, match="'partial'"):
        mod.mse_loss(X, X.copy(), None, g, None, np.empty(2), "mean", **extra)
    with pytest.raises(ValueError, match="'loss_out'"):
        mod.l1_loss(X, X.copy(), None, g, None, np.empty(1), "none", **extra)
