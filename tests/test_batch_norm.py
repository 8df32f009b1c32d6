"""pk.ops.batch_norm and batch_norm_backward against the float64 NumPy
reference (tests/reference/batch_norm.py), finite differences, and PyTorch
when it is installed."""

import numpy as np
import pytest

import pykernels as pk
from conftest import assert_close
from pykernels import _backends
from reference import batch_norm as ref

DTYPES = [np.float32, np.float64]
# (N, C, *spatial): C = 1 and 3, spatial 1x1 and 5x7, N * spatial prime (31, 3 * 13 + ...),
# rows crossing the 32-row blocks / 128-channel tiles / row groups of the CPU plan,
# spatial sizes crossing the 2048-value pieces.
SHAPES = [(2, 1), (2, 3), (7, 3), (31, 1), (5, 3, 1, 1), (4, 3, 5, 7), (1, 2, 31), (2, 1, 5, 7),
          (3, 2, 2053), (600, 5), (517, 131), (37, 300)]


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def _inputs(rng, shape, dtype, affine, loc=0.0, scale=1.0):
    c = shape[1]
    x = (loc + scale * rng.standard_normal(shape)).astype(dtype)
    w = rng.uniform(0.5, 1.5, c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, w, b, rm, rv


def _put(backend, a):
    return None if a is None else backend.put(a.copy())


def _get(backend, a):
    return None if a is None else backend.get(a)


def _check_grads(got, expected, dtype, dy, x_hat_scale=1.0, what=""):
    """Gradients: rounding grows with the size of the per-channel sums."""
    gx, gw, gb = got
    ex, ew, eb = expected
    e = _eps(dtype)
    n = dy.size // dy.shape[1]
    big = np.abs(dy.astype(np.float64)).max() * x_hat_scale
    assert_close(gx, ex, rtol=64 * e, atol=64 * e * big, what=what + "grad_x")
    if gw is not None:
        assert_close(gw, ew, rtol=64 * e, atol=16 * e * n * big, what=what + "grad_weight")
    if gb is not None:
        assert_close(gb, eb, rtol=64 * e, atol=16 * e * n * big, what=what + "grad_bias")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_matches_reference(backend, rng, shape, dtype, affine, training):
    x, w, b, rm, rv = _inputs(rng, shape, dtype, affine, loc=0.5, scale=2.0)
    momentum, eps = 0.3, 1e-3
    rm_d, rv_d = _put(backend, rm), _put(backend, rv)
    y, ctx = pk.ops.batch_norm(backend.put(x), _put(backend, w), _put(backend, b), rm_d, rv_d,
                               training=training, momentum=momentum, eps=eps, **backend.kw)
    ey, erm, erv, mean, invstd = ref.batch_norm(x, w, b, rm, rv, training=training,
                                                momentum=momentum, eps=eps)
    e = _eps(dtype)
    got_y = backend.get(y)
    assert got_y.dtype == dtype and got_y.shape == shape
    assert_close(got_y, ey, rtol=16 * e, atol=16 * e * 4, what="y")
    assert_close(backend.get(rm_d), erm, rtol=4 * e, atol=4 * e, what="running_mean")
    assert_close(backend.get(rv_d), erv, rtol=4 * e, atol=4 * e, what="running_var")

    dy = rng.standard_normal(shape).astype(dtype)
    got = pk.ops.batch_norm_backward(backend.put(dy), ctx)
    assert (got[1] is None) == (not affine) and (got[2] is None) == (not affine)
    expected = ref.batch_norm_backward(dy, x, w, mean, invstd, batch_stats=training)
    _check_grads([_get(backend, g) for g in got], expected, dtype, dy, x_hat_scale=4.0)
    if affine:
        assert backend.get(got[1]).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_without_running_stats(backend, rng, dtype, training):
    """running_mean = running_var = None: batch statistics in both modes (as
    BatchNorm with track_running_stats=False), and the training backward."""
    shape = (6, 4, 3)
    x, w, b, _, _ = _inputs(rng, shape, dtype, True)
    y, ctx = pk.ops.batch_norm(backend.put(x), backend.put(w), backend.put(b), None, None,
                               training=training, **backend.kw)
    ey, _, _, mean, invstd = ref.batch_norm(x, w, b, None, None, training=True)
    assert_close(backend.get(y), ey, rtol=16 * _eps(dtype), atol=64 * _eps(dtype))
    dy = rng.standard_normal(shape).astype(dtype)
    got = pk.ops.batch_norm_backward(backend.put(dy), ctx)
    expected = ref.batch_norm_backward(dy, x, w, mean, invstd, batch_stats=True)
    _check_grads([_get(backend, g) for g in got], expected, dtype, dy, x_hat_scale=4.0)


@pytest.mark.parametrize("momentum", [0.0, 0.1, 1.0])
def test_running_stats_momentum(backend, rng, momentum):
    x, w, b, rm, rv = _inputs(rng, (9, 3, 4), np.float64, True, loc=3.0, scale=0.5)
    rm_d, rv_d = backend.put(rm.copy()), backend.put(rv.copy())
    for step in range(3):  # updates compound over steps
        pk.ops.batch_norm(backend.put(x), None, None, rm_d, rv_d, training=True,
                          momentum=momentum, **backend.kw)
        _, rm, rv, _, _ = ref.batch_norm(x, None, None, rm, rv, training=True, momentum=momentum)
    assert_close(backend.get(rm_d), rm, what="running_mean")
    assert_close(backend.get(rv_d), rv, what="running_var")


def test_eval_does_not_touch_running_stats(backend, rng):
    x, w, b, rm, rv = _inputs(rng, (5, 3, 2), np.float32, True)
    rm_d, rv_d = backend.put(rm.copy()), backend.put(rv.copy())
    pk.ops.batch_norm(backend.put(x), backend.put(w), backend.put(b), rm_d, rv_d, training=False,
                      **backend.kw)
    np.testing.assert_array_equal(backend.get(rm_d), rm)
    np.testing.assert_array_equal(backend.get(rv_d), rv)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 7)], ids=str)
def test_zero_variance_channel(backend, rng, dtype, shape):
    """A constant channel normalises to exactly bias (x - mean = 0), invstd = 1/sqrt(eps)."""
    x, w, b, rm, rv = _inputs(rng, shape, dtype, True)
    x[:, 1] = dtype(2.75)
    y, ctx = pk.ops.batch_norm(backend.put(x), backend.put(w), backend.put(b), _put(backend, rm),
                               _put(backend, rv), training=True, **backend.kw)
    got = backend.get(y)
    np.testing.assert_array_equal(got[:, 1], np.broadcast_to(b[1], got[:, 1].shape))
    ey, _, _, mean, invstd = ref.batch_norm(x, w, b, rm, rv, training=True)
    assert_close(got, ey, rtol=16 * _eps(dtype), atol=64 * _eps(dtype))
    dy = rng.standard_normal(shape).astype(dtype)
    grads = [_get(backend, g) for g in pk.ops.batch_norm_backward(backend.put(dy), ctx)]
    assert all(np.isfinite(g).all() for g in grads)
    expected = ref.batch_norm_backward(dy, x, w, mean, invstd, batch_stats=True)
    # invstd = 1/sqrt(1e-5) ~ 316 in the constant channel: grad_x is dy * 316 there.
    _check_grads(grads, expected, dtype, dy, x_hat_scale=400.0)


@pytest.mark.parametrize("shape", [(4096, 3), (64, 3, 11, 13)], ids=str)
def test_large_mean_small_std_float32(backend, rng, shape):
    """mean 1e4, std 1e-2: var is 1e-12 of mean^2, below float32's resolution
    of x^2; statistics in double and the split mean keep y accurate."""
    x, w, b, rm, rv = _inputs(rng, shape, np.float32, True, loc=1e4, scale=1e-2)
    rm_d, rv_d = backend.put(rm.copy()), backend.put(rv.copy())
    y, ctx = pk.ops.batch_norm(backend.put(x), backend.put(w), backend.put(b), rm_d, rv_d,
                               training=True, eps=1e-10, **backend.kw)
    ey, erm, erv, mean, invstd = ref.batch_norm(x, w, b, rm, rv, training=True, eps=1e-10)
    assert_close(backend.get(y), ey, rtol=1e-5, atol=2e-5, what="y")
    assert_close(backend.get(rm_d), erm, rtol=1e-6, what="running_mean")
    assert_close(backend.get(rv_d), erv, rtol=1e-5, atol=1e-8, what="running_var")
    got_std = backend.get(y)[:, 0].std()
    assert abs(got_std / w[0] - 1) < 1e-3
    dy = rng.standard_normal(shape).astype(np.float32)
    grads = [_get(backend, g) for g in pk.ops.batch_norm_backward(backend.put(dy), ctx)]
    expected = ref.batch_norm_backward(dy, x, w, mean, invstd, batch_stats=True)
    # grad_x is of order w * invstd * dy = 1e2 * dy here.
    assert_close(grads[0], expected[0], rtol=1e-4, atol=1e-3 * 100, what="grad_x")
    assert_close(grads[1], expected[1], rtol=1e-4, atol=1e-3, what="grad_weight")
    assert_close(grads[2], expected[2], rtol=1e-5, atol=1e-3, what="grad_bias")


def _numeric_grad(f, a, h=1e-6):
    g = np.zeros_like(a)
    flat, gflat = a.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)], ids=str)
def test_finite_difference_gradients(backend, rng, training, shape):
    """float64: d sum(y * r) / d(x, weight, bias) by central differences."""
    x, w, b, rm, rv = _inputs(rng, shape, np.float64, True)
    r = rng.standard_normal(shape)

    def loss():
        y, _ = pk.ops.batch_norm(backend.put(x), backend.put(w), backend.put(b),
                                 backend.put(rm.copy()), backend.put(rv.copy()),
                                 training=training, **backend.kw)
        return float((backend.get(y) * r).sum())

    _, ctx = pk.ops.batch_norm(backend.put(x), backend.put(w), backend.put(b),
                               backend.put(rm.copy()), backend.put(rv.copy()), training=training,
                               **backend.kw)
    gx, gw, gb = (backend.get(g) for g in pk.ops.batch_norm_backward(backend.put(r), ctx))
    assert_close(gx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-7, what="grad_x")
    assert_close(gw, _numeric_grad(loss, w), rtol=1e-6, atol=1e-7, what="grad_weight")
    assert_close(gb, _numeric_grad(loss, b), rtol=1e-6, atol=1e-7, what="grad_bias")


def test_batch_of_one_in_training_raises(backend):
    for shape in [(1, 3), (1, 3, 1), (1, 2, 1, 1)]:
        x = np.ones(shape, np.float32)
        rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            pk.ops.batch_norm(backend.put(x), None, None, backend.put(rm), backend.put(rv),
                              training=True, **backend.kw)
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
            pk.ops.batch_norm(backend.put(x), None, None, None, None, training=False, **backend.kw)
        y, _ = pk.ops.batch_norm(backend.put(x), None, None, backend.put(rm), backend.put(rv),
                                 training=False, **backend.kw)
        assert_close(backend.get(y), x / np.sqrt(1 + 1e-5))


def test_empty_batch(backend):
    """N = 0: empty output, running statistics unchanged (as PyTorch)."""
    x = np.zeros((0, 3, 4), np.float32)
    rm, rv = np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32)
    rm_d, rv_d = backend.put(rm.copy()), backend.put(rv.copy())
    y, ctx = pk.ops.batch_norm(backend.put(x), None, None, rm_d, rv_d, training=True, **backend.kw)
    assert backend.get(y).shape == (0, 3, 4)
    np.testing.assert_array_equal(backend.get(rm_d), rm)
    np.testing.assert_array_equal(backend.get(rv_d), rv)
    gx, _, _ = pk.ops.batch_norm_backward(backend.put(x), ctx)
    assert backend.get(gx).shape == (0, 3, 4)


@pytest.mark.parametrize("shape", [(2000, 300), (40, 3, 17, 19), (3, 1, 9000)], ids=str)
def test_results_do_not_depend_on_thread_count(backend, rng, shape):
    x, w, b, rm, rv = _inputs(rng, shape, np.float32, True, loc=1.0)
    dy = rng.standard_normal(shape).astype(np.float32)
    results = []
    for threads in (1, 2):
        pk.set_num_threads(threads)
        rm_d, rv_d = backend.put(rm.copy()), backend.put(rv.copy())
        y, ctx = pk.ops.batch_norm(backend.put(x), backend.put(w), backend.put(b), rm_d, rv_d,
                                   training=True, **backend.kw)
        grads = pk.ops.batch_norm_backward(backend.put(dy), ctx)
        results.append([backend.get(a) for a in (y, rm_d, rv_d, *grads)])
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


@pytest.fixture(params=["avx512", "avx2", "generic"])
def simd_path(request):
    """Forces one CPU loop path for the test, then restores the one in use."""
    from pykernels import _cpu
    order = {"generic": 0, "avx2": 1, "avx512": 2}
    before = _cpu.simd_path()
    if order[request.param] > order[_cpu.best_simd_path()]:
        pytest.skip(f"this CPU has no {request.param}")
    _cpu.set_simd_path(request.param)
    yield request.param
    _cpu.set_simd_path(before)


# The training shapes of the benchmarks (row groups, blocks of rows and
# 2048-value pieces all split), odd channel counts (vector tails), and one
# channel per row group.
CPU_PLAN_SHAPES = [(512, 1024), (64, 64, 32, 32), (1100, 37), (70, 4099), (9, 5, 4500), (3000, 1)]


@pytest.mark.parametrize("shape", CPU_PLAN_SHAPES, ids=str)
def test_cpu_paths_threads_and_large_mean(simd_path, rng, shape):
    """Each SIMD path: close to the reference with mean 1e4, std 1e-2 (where
    one-pass float sums would lose var), and bit-identical for 1, 2 and 3
    threads."""
    x, w, b, rm, rv = _inputs(rng, shape, np.float32, True, loc=1e4, scale=1e-2)
    dy = rng.standard_normal(shape).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        pk.set_num_threads(threads)
        rm_d, rv_d = rm.copy(), rv.copy()
        y, ctx = pk.ops.batch_norm(x, w, b, rm_d, rv_d, training=True, eps=1e-10, device="cpu")
        grads = pk.ops.batch_norm_backward(dy, ctx)
        results.append([y, rm_d, rv_d, ctx.mean, ctx.invstd, *grads])
    for one, other in zip(results[0], results[1] + results[2]):
        np.testing.assert_array_equal(one, other)
    y, rm_d, rv_d, mean, invstd, gx, gw, gb = results[0]
    ey, erm, erv, emean, einvstd = ref.batch_norm(x, w, b, rm, rv, training=True, eps=1e-10)
    assert_close(mean, emean, rtol=1e-12, what="mean")
    assert_close(invstd, einvstd, rtol=1e-9, what="invstd")
    assert_close(y, ey, rtol=1e-5, atol=4e-5, what="y")
    assert_close(rv_d, erv, rtol=1e-5, atol=1e-8, what="running_var")
    expected = ref.batch_norm_backward(dy, x, w, emean, einvstd, batch_stats=True)
    n = x.size // shape[1]
    assert_close(gx, expected[0], rtol=1e-4, atol=1e-3 * 150, what="grad_x")
    assert_close(gw, expected[1], rtol=1e-4, atol=1e-5 * n, what="grad_weight")
    assert_close(gb, expected[2], rtol=1e-5, atol=1e-5 * n, what="grad_bias")


# ---------------------------------------------------------------- PyTorch

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 5, 7), (2, 4, 3, 2, 2)], ids=str)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_matches_torch(backend, rng, dtype, shape, training, affine):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, rm, rv = _inputs(rng, shape, dtype, affine, loc=-1.0, scale=3.0)
    dy = rng.standard_normal(shape).astype(dtype)
    rm_d, rv_d = backend.put(rm.copy()), backend.put(rv.copy())
    y, ctx = pk.ops.batch_norm(backend.put(x), _put(backend, w), _put(backend, b), rm_d, rv_d,
                               training=training, momentum=0.2, eps=1e-4, **backend.kw)
    gx, gw, gb = pk.ops.batch_norm_backward(backend.put(dy), ctx)

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True) if affine else None
    bt = torch.tensor(b, requires_grad=True) if affine else None
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    yt = F.batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=0.2, eps=1e-4)
    yt.backward(torch.tensor(dy))
    e = _eps(dtype)
    assert_close(backend.get(y), yt.detach().numpy(), rtol=64 * e, atol=64 * e, what="y")
    assert_close(backend.get(rm_d), rmt.numpy(), rtol=8 * e, atol=8 * e, what="running_mean")
    assert_close(backend.get(rv_d), rvt.numpy(), rtol=8 * e, atol=8 * e, what="running_var")
    n = x.size // shape[1]
    assert_close(backend.get(gx), xt.grad.numpy(), rtol=256 * e, atol=256 * e, what="grad_x")
    if affine:
        assert_close(backend.get(gw), wt.grad.numpy(), rtol=64 * e, atol=16 * n * e)
        assert_close(backend.get(gb), bt.grad.numpy(), rtol=64 * e, atol=16 * n * e)


def test_matches_torch_module_without_running_stats(backend, rng):
    """BatchNorm2d(track_running_stats=False) in eval mode normalises with batch statistics."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * 2 + 1
    bn = torch.nn.BatchNorm2d(3, track_running_stats=False, affine=False).eval()
    expected = bn(torch.tensor(x)).numpy()
    y, _ = pk.ops.batch_norm(backend.put(x), None, None, None, None, training=False, **backend.kw)
    assert_close(backend.get(y), expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- bad input

X = np.ones((4, 3, 2), np.float32)
C3 = np.ones(3, np.float32)


def _bn(x=X, w=C3, b=C3, rm=C3, rv=C3, training=True, **kw):
    copy = lambda a: None if a is None else np.array(a)  # noqa: E731
    return pk.ops.batch_norm(x, copy(w), copy(b), copy(rm), copy(rv), training=training, **kw)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


BAD = [
    ("x int dtype", lambda d: _bn(x=X.astype(np.int32), **d), TypeError, "'x'"),
    ("x 1-D", lambda d: _bn(x=np.ones(3, np.float32), **d), ValueError, "'x'"),
    ("weight length", lambda d: _bn(w=np.ones(4, np.float32), **d), ValueError, "'weight'"),
    ("weight dtype", lambda d: _bn(w=C3.astype(np.float64), **d), TypeError, "'weight'"),
    ("bias length", lambda d: _bn(b=np.ones(2, np.float32), **d), ValueError, "'bias'"),
    ("running_var shape", lambda d: _bn(rv=np.ones((3, 1), np.float32), **d), ValueError,
     "'running_var'"),
    ("running_mean length", lambda d: _bn(rm=np.ones(5, np.float32), **d), ValueError,
     "'running_mean'"),
    ("only running_mean", lambda d: _bn(rv=None, **d), ValueError, "'running_var'"),
    ("read-only running_mean", lambda d: pk.ops.batch_norm(X, None, None, _readonly(C3), C3.copy(),
                                                           training=True, **d),
     ValueError, "'running_mean'"),
    ("non-contiguous x", lambda d: _bn(x=np.ones((3, 4), np.float32).T, w=None, b=None,
                                       rm=None, rv=None, **d), ValueError, "'x'"),
    ("batch of one", lambda d: _bn(x=np.ones((1, 3), np.float32), **d), ValueError,
     "more than 1 value per channel"),
]


@pytest.mark.parametrize("device", [None, "cuda-emu"])
@pytest.mark.parametrize("name,call,exc,needle", BAD, ids=[c[0] for c in BAD])
def test_bad_input_names_the_argument(device, name, call, exc, needle):
    kw = {"device": device} if device else {}
    with pytest.raises(exc, match=needle):
        call(kw)


@pytest.mark.parametrize("device", [None, "cuda-emu"])
def test_backward_bad_grad_y(device):
    kw = {"device": device} if device else {}
    _, ctx = _bn(**kw)
    with pytest.raises(ValueError, match="'grad_y'"):
        pk.ops.batch_norm_backward(np.ones((4, 3), np.float32), ctx)
    with pytest.raises(TypeError, match="'grad_y'"):
        pk.ops.batch_norm_backward(np.ones((4, 3, 2), np.float64), ctx)


@pytest.mark.parametrize("mod_name", ["cpu", "cuda-emu"])
def test_binding_boundary_validates_without_python(mod_name):
    mod = _backends.module(mod_name)
    extra = {"stream": 0, "workspace": np.empty(4096)} if mod_name == "cuda-emu" else {}
    y = np.empty_like(X)
    sm, si = np.empty(3), np.empty(3)
    with pytest.raises(ValueError, match="'weight'"):
        mod.batch_norm_forward(X, np.ones(2, np.float32), None, None, None, y, sm, si, True,
                               0.1, 1e-5, **extra)
    with pytest.raises(ValueError, match="'running_var'"):
        mod.batch_norm_forward(X, None, None, C3.copy(), np.ones(4, np.float32), y, sm, si, True,
                               0.1, 1e-5, **extra)
    with pytest.raises(TypeError, match="'save_mean'"):
        mod.batch_norm_forward(X, None, None, None, None, y, sm.astype(np.float32), si, True,
                               0.1, 1e-5, **extra)
    with pytest.raises(ValueError, match="'running_mean'"):
        mod.batch_norm_forward(X, None, None, None, None, y, sm, si, False, 0.1, 1e-5, **extra)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        mod.batch_norm_forward(np.ones((1, 3), np.float32), None, None, None, None,
                               np.empty((1, 3), np.float32), sm, si, True, 0.1, 1e-5, **extra)
    with pytest.raises(ValueError, match="'y'"):
        mod.batch_norm_forward(X, None, None, None, None, X, sm, si, True, 0.1, 1e-5, **extra)
    gx = np.empty_like(X)
    with pytest.raises(ValueError, match="'grad_weight'"):
        mod.batch_norm_backward(X, X, None, sm, si, gx, np.empty(2, np.float32), None, True,
                                **extra)
    with pytest.raises(ValueError, match="'grad_x'"):
        mod.batch_norm_backward(X, X, None, sm, si, np.empty((4, 3), np.float32), None, None,
                                True, **extra)
    if mod_name == "cuda-emu":
        with pytest.raises(ValueError, match="'workspace'"):
            mod.batch_norm_forward(X, None, None, None, None, y, sm, si, True, 0.1, 1e-5,
                                   workspace=np.empty(2), stream=0)
