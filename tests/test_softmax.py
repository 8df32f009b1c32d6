"""pk.ops.softmax / log_softmax and their backward against float64 NumPy
references, finite differences and PyTorch."""

import numpy as np
import pytest

import pykernels as pk
from conftest import assert_close
from reference import softmax as ref


DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1), (1, 3), (7, 1), (5, 3), (3, 1000), (2, 4099), (0, 5), (4, 0), (17,), (2, 3, 33)]
TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _ops(log):
    if log:
        return pk.ops.log_softmax, pk.ops.log_softmax_backward, ref.log_softmax, ref.log_softmax_backward
    return pk.ops.softmax, pk.ops.softmax_backward, ref.softmax, ref.softmax_backward


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_backward_match_reference(backend, rng, shape, dtype, log):
    fwd, bwd, rfwd, rbwd = _ops(log)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    y = backend.get(fwd(backend.put(x), **backend.kw))
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, rfwd(x), **TOL[dtype], what="forward")
    gy = rng.standard_normal(shape).astype(dtype)
    gx = backend.get(bwd(backend.put(gy), backend.put(y), **backend.kw))
    assert gx.dtype == dtype
    assert_close(gx, rbwd(gy, y), **TOL[dtype], what="backward")


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -3])
def test_other_axes_move_the_axis_last(backend, rng, axis, log):
    fwd, bwd, rfwd, rbwd = _ops(log)
    x = rng.standard_normal((4, 6, 5))
    y = backend.get(fwd(backend.put(x), axis=axis, **backend.kw))
    assert y.flags.c_contiguous
    assert_close(y, rfwd(x, axis))
    gy = rng.standard_normal(x.shape)
    gx = backend.get(bwd(backend.put(gy), backend.put(y), axis=axis, **backend.kw))
    assert_close(gx, rbwd(gy, y, axis))


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_stay_finite(backend, dtype):
    x = np.array([[0.0, 0.0, 0.0, 0.0],
                  [1e30, 0.0, -1e30, 1e30],
                  [-1e30, -1e30, 5.0, -1e30],
                  [88.0, 89.0, 90.0, -90.0],
                  [-1000.0, -1001.0, -1002.0, -1003.0]], dtype)
    if dtype == np.float32:
        x[1] = [1e38, 0.0, -1e38, 1e38]  # x - max stays finite in float32
    y = backend.get(pk.ops.softmax(backend.put(x), **backend.kw))
    assert np.isfinite(y).all()
    assert_close(y, ref.softmax(x), **TOL[dtype])
    assert_close(y[0], np.full(4, 0.25), **TOL[dtype])
    ly = backend.get(pk.ops.log_softmax(backend.put(x), **backend.kw))
    assert_close(ly, ref.log_softmax(x), **TOL[dtype])


def test_nan_propagates_through_its_row(backend):
    x = np.array([[0.0, np.nan, 1.0], [1.0, 2.0, 3.0]])
    y = backend.get(pk.ops.softmax(backend.put(x), **backend.kw))
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()


@pytest.mark.parametrize("log", [False, True])
def test_backward_matches_finite_differences(backend, rng, log):
    fwd, bwd, _, _ = _ops(log)
    x = rng.standard_normal((3, 7))
    gy = rng.standard_normal(x.shape)
    y = backend.get(fwd(backend.put(x), **backend.kw))
    gx = backend.get(bwd(backend.put(gy), backend.put(y), **backend.kw))
    h = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp_, xm_ = x.copy(), x.copy()
        xp_[idx] += h
        xm_[idx] -= h
        fp = backend.get(fwd(backend.put(xp_), **backend.kw))
        fm = backend.get(fwd(backend.put(xm_), **backend.kw))
        num[idx] = np.sum(gy * (fp - fm)) / (2 * h)
    assert_close(gx, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(backend, rng, dtype, log):
    torch = pytest.importorskip("torch")
    fwd, bwd, _, _ = _ops(log)
    x = (4 * rng.standard_normal((9, 130))).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.log_softmax(xt, -1) if log else torch.softmax(xt, -1)
    yt.backward(torch.tensor(gy))
    y = backend.get(fwd(backend.put(x), **backend.kw))
    gx = backend.get(bwd(backend.put(gy), backend.put(y), **backend.kw))
    assert_close(y, yt.detach().numpy(), **TOL[dtype])
    assert_close(gx, xt.grad.numpy(), **TOL[dtype])


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((300, 517)).astype(np.float32)
    pk.set_num_threads(1)
    one = pk.ops.softmax(x)
    pk.set_num_threads(2)
    np.testing.assert_array_equal(one, pk.ops.softmax(x))


def test_zero_dim_array(backend):
    y = backend.get(pk.ops.softmax(np.array(3.0), **backend.kw))  # put() would make it 1-d
    assert y.shape == () and y == 1.0


BAD = [
    ("int dtype", lambda kw: pk.ops.softmax(np.ones((2, 3), np.int32), **kw), TypeError, "'x'"),
    ("not an array", lambda kw: pk.ops.softmax([[1.0, 2.0]], **kw), TypeError, "'x'"),
    ("axis out of range", lambda kw: pk.ops.softmax(np.ones((2, 3)), axis=2, **kw), ValueError, "'axis'"),
    ("non-contiguous", lambda kw: pk.ops.softmax(np.ones((4, 3)).T, **kw), ValueError, "'x'"),
    ("backward dtypes", lambda kw: pk.ops.softmax_backward(np.ones((2, 3), np.float32),
                                                           np.ones((2, 3)), **kw), TypeError, "'grad_y'"),
    ("backward shapes", lambda kw: pk.ops.log_softmax_backward(np.ones((2, 4)), np.ones((2, 3)), **kw),
     ValueError, "'grad_y'"),
]


@pytest.mark.parametrize("name,call,exc,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_the_argument(backend, name, call, exc, needle):
    with pytest.raises(exc, match=needle):
        call(backend.kw)


@pytest.mark.parametrize("mod_name", ["cpu", "cuda-emu"])
def test_binding_validates(mod_name):
    mod = pk._backends.module(mod_name)
    extra = {"stream": 0} if mod_name != "cpu" else {}
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="'out'"):
        mod.softmax(x, np.empty((2, 3)), False, **extra)
    with pytest.raises(ValueError, match="'out'"):
        mod.softmax(x, np.empty((3, 2), np.float32), False, **extra)
    with pytest.raises(ValueError, match="'out'"):
        mod.softmax(x, x, False, **extra)
    with pytest.raises(ValueError, match="'grad_y'"):
        mod.softmax_backward(np.ones((2, 2), np.float32), x, np.empty_like(x), True, **extra)
