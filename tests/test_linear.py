"""The fused Linear kernels of every backend (csrc/linear.cpp, cuda/linear.cu):
linear = act(x @ W.T + b) in one GEMM with an epilogue, and
linear_backward = (g' @ W, g'.T @ x, g'.sum(0)) with g' = grad_y * act'(z),
called on each backend's binding module against float64 NumPy references
(tests/reference/activation.py for the activations), on shapes that take the
small and the blocked GEMM paths (and, on the CUDA kernels, both tile sizes)."""

import numpy as np
import pytest

import pykernels as pk
from pykernels import _backends
from conftest import assert_close
from reference import activation as act_ref
from reference import matmul as mm_ref

# Every activation Linear can fuse, with non-default parameters where it has any.
ACTIVATIONS = [
    ("identity", {}), ("sigmoid", {}), ("tanh", {}), ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("selu", {}),
    ("celu", {"alpha": 1.3}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}), ("mish", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 0.8}), ("softsign", {}), ("gaussian", {}),
    ("gcu", {}), ("binary_step", {}),
]
ACT_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items())}" if p else n for n, p in ACTIVATIONS]
# (batch, in_features, out_features): small-path and blocked-path GEMMs, edges.
SHAPES = [(64, 256, 10), (128, 784, 512), (33, 97, 130), (5, 3, 7), (300, 40, 33)]
DTYPES = [np.float32, np.float64]
# Output-derivative activations: the backward may be given y instead of z.
FROM_OUTPUT = {"identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "celu",
               "hardtanh", "softsign", "binary_step"}


# Positions of the output arrays among each binding's positional arguments.
_OUTPUTS = {"linear": (3, 5), "linear_backward": (3, 4, 5), "matmul": (2,)}


class _Kernels:
    """A backend's binding module called with NumPy arrays. On cuda the arrays
    are copied to the device, the kernel runs on CuPy's current stream, and
    the outputs are copied back into the NumPy arrays given."""

    def __init__(self, backend):
        self.name = backend.name
        self.mod = _backends.module(backend.name)

    def __getattr__(self, fn):
        kernel = getattr(self.mod, fn)
        if self.name != "cuda":
            return kernel

        def on_device(*args, **kwargs):
            import cupy
            put = lambda a: cupy.asarray(a) if isinstance(a, np.ndarray) else a  # noqa: E731
            dargs = [put(a) for a in args]
            kernel(*dargs, **{k: put(v) for k, v in kwargs.items()},
                   stream=cupy.cuda.get_current_stream().ptr)
            for i in _OUTPUTS[fn]:
                if i < len(args) and isinstance(args[i], np.ndarray):
                    args[i][...] = cupy.asnumpy(dargs[i])
        return on_device


@pytest.fixture
def kernels(backend):
    return _Kernels(backend)


def _data(rng, batch, in_f, out_f, dtype):
    x = rng.standard_normal((batch, in_f)).astype(dtype)
    w = (rng.standard_normal((out_f, in_f)) / np.sqrt(max(in_f, 1))).astype(dtype)
    b = rng.standard_normal(out_f).astype(dtype)
    return x, w, b


def _z_ref(x, w, b):
    z = mm_ref.matmul(x, w, trans_b=True)
    return z if b is None else z + b.astype(np.float64)


def _tol(dtype, k):
    # GEMM rounding (grows with k), times the activation's slope (<= ~5 for
    # z ~ N(0, 1); gcu is the steepest), plus the activation's own rounding.
    return 8.0 * mm_ref.tolerance(dtype, k, 4.0), (1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,in_f,out_f", SHAPES)
@pytest.mark.parametrize("name,params", ACTIVATIONS, ids=ACT_IDS)
def test_linear_forward(kernels, rng, name, params, batch, in_f, out_f, dtype):
    x, w, b = _data(rng, batch, in_f, out_f, dtype)
    out = np.full((batch, out_f), np.nan, dtype)
    z = np.full((batch, out_f), np.nan, dtype)
    kernels.linear(x, w, b, out, name, z, **params)
    z_ref = _z_ref(x, w, b)
    atol, rtol = _tol(dtype, in_f)
    assert_close(z, z_ref, atol=atol, rtol=rtol, what="pre_activation")
    # The activation of our own z: isolates the epilogue from GEMM rounding
    # (binary_step jumps at 0).
    assert_close(out, act_ref.forward(name, z.astype(np.float64), **params), atol=atol,
                 rtol=rtol, what="out")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,in_f,out_f", [(64, 256, 10), (300, 40, 33)])
def test_linear_without_bias_or_activation_is_a_matmul(kernels, rng, batch, in_f, out_f, dtype):
    x, w, _ = _data(rng, batch, in_f, out_f, dtype)
    out = np.empty((batch, out_f), dtype)
    kernels.linear(x, w, None, out)
    expected = np.empty_like(out)
    kernels.matmul(x, w, expected, False, True, 1.0, 0.0)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,in_f,out_f", SHAPES)
@pytest.mark.parametrize("name,params", ACTIVATIONS, ids=ACT_IDS)
def test_linear_backward(kernels, rng, name, params, batch, in_f, out_f, dtype):
    x, w, b = _data(rng, batch, in_f, out_f, dtype)
    z = np.empty((batch, out_f), dtype)
    y = np.empty((batch, out_f), dtype)
    kernels.linear(x, w, b, y, name, z, **params)
    g = rng.standard_normal((batch, out_f)).astype(dtype)
    g_prime = act_ref.backward(name, g.astype(np.float64), z.astype(np.float64), **params)
    savers = [{"z": z}] + ([{"y": y}] if name in FROM_OUTPUT else [])
    for saved in savers:
        gx = np.full((batch, in_f), np.nan, dtype)
        gw = np.full((out_f, in_f), np.nan, dtype)
        gb = np.full(out_f, np.nan, dtype)
        kernels.linear_backward(g, x, w, gx, gw, gb, name, **saved, **params)
        what = "from " + next(iter(saved))
        atol, rtol = _tol(dtype, out_f)
        assert_close(gx, g_prime @ w.astype(np.float64), atol=atol, rtol=rtol,
                     what="grad_x " + what)
        atol, rtol = _tol(dtype, batch)
        assert_close(gw, g_prime.T @ x.astype(np.float64), atol=atol, rtol=rtol,
                     what="grad_weight " + what)
        assert_close(gb, g_prime.sum(axis=0), atol=atol, rtol=rtol, what="grad_bias " + what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_backward_optional_outputs(kernels, rng, dtype):
    x, w, b = _data(rng, 70, 50, 40, dtype)
    y = np.empty((70, 40), dtype)
    kernels.linear(x, w, b, y, "tanh")
    g = rng.standard_normal((70, 40)).astype(dtype)
    full = [np.empty((70, 50), dtype), np.empty((40, 50), dtype), np.empty(40, dtype)]
    kernels.linear_backward(g, x, w, *full, "tanh", y=y)
    gb_only = np.empty(40, dtype)
    kernels.linear_backward(g, x, w, None, None, gb_only, "tanh", y=y)
    atol, rtol = _tol(dtype, 70)
    assert_close(gb_only, full[2], atol=atol, rtol=rtol)
    gw_only = np.empty((40, 50), dtype)
    kernels.linear_backward(g, x, w, None, gw_only, None, "tanh", y=y)
    np.testing.assert_array_equal(gw_only, full[1])


@pytest.mark.parametrize("batch,in_f,out_f", [(0, 5, 7), (4, 0, 3), (4, 5, 0)])
def test_linear_empty(kernels, batch, in_f, out_f):
    x = np.ones((batch, in_f), np.float32)
    w = np.ones((out_f, in_f), np.float32)
    b = np.arange(out_f, dtype=np.float32) - 1
    y = np.empty((batch, out_f), np.float32)
    kernels.linear(x, w, b, y, "relu")
    np.testing.assert_array_equal(y, np.broadcast_to(np.maximum(b, 0), (batch, out_f)))
    g = np.ones((batch, out_f), np.float32)
    gx = np.empty((batch, in_f), np.float32)
    gw = np.empty((out_f, in_f), np.float32)
    gb = np.empty(out_f, np.float32)
    kernels.linear_backward(g, x, w, gx, gw, gb, "relu", y=y)
    np.testing.assert_array_equal(gx, np.zeros_like(gx))
    # in_features == 0: z = b, so g' = g where b > 0
    np.testing.assert_array_equal(gb, batch * (b > 0).astype(np.float32))
    np.testing.assert_array_equal(gw, np.zeros_like(gw))


@pytest.mark.parametrize("shape", [(128, 784, 512), (64, 256, 10), (300, 40, 33)])
def test_linear_same_bits_for_any_thread_count(kernels, rng, shape):
    x, w, b = _data(rng, *shape, np.float32)
    g = rng.standard_normal((shape[0], shape[2])).astype(np.float32)
    runs = []
    for threads in (1, 2, 3):
        pk.set_num_threads(threads)
        y = np.empty((shape[0], shape[2]), np.float32)
        kernels.linear(x, w, b, y, "gelu")
        grads = [np.empty((shape[0], shape[1]), np.float32),
                 np.empty((shape[2], shape[1]), np.float32), np.empty(shape[2], np.float32)]
        z = np.empty_like(y)
        kernels.linear(x, w, b, y, "gelu", z)
        kernels.linear_backward(g, x, w, *grads, "gelu", z=z)
        runs.append([y] + grads)
    for threads, run in zip((2, 3), runs[1:]):
        for a, b1 in zip(run, runs[0]):
            np.testing.assert_array_equal(a, b1, err_msg=f"{threads} threads vs 1")


def test_linear_rejects_prelu_and_missing_saved_values(kernels, rng):
    x, w, b = _data(rng, 4, 3, 2, np.float32)
    y = np.empty((4, 2), np.float32)
    with pytest.raises(ValueError, match="prelu"):
        kernels.linear(x, w, b, y, "prelu")
    with pytest.raises(ValueError, match="unknown activation"):
        kernels.linear(x, w, b, y, "nope")
    kernels.linear(x, w, b, y, "gelu")
    g = np.ones((4, 2), np.float32)
    gx, gw, gb = np.empty((4, 3), np.float32), np.empty((2, 3), np.float32), np.empty(2, np.float32)
    with pytest.raises(ValueError, match="'z'"):
        kernels.linear_backward(g, x, w, gx, gw, gb, "gelu", y=y)
    with pytest.raises(ValueError, match="'y'"):
        kernels.linear_backward(g, x, w, gx, gw, gb, "relu")


def test_linear_checks_shapes(kernels, rng):
    x, w, b = _data(rng, 4, 3, 2, np.float32)
    with pytest.raises(ValueError, match="'weight'"):
        kernels.linear(x, w[:, :2].copy(), b, np.empty((4, 2), np.float32))
    with pytest.raises(ValueError, match="'bias'"):
        kernels.linear(x, w, b[:1].copy(), np.empty((4, 2), np.float32))
    with pytest.raises(ValueError, match="'out'"):
        kernels.linear(x, w, b, np.empty((4, 3), np.float32))
    with pytest.raises(TypeError):
        kernels.linear(x, w.astype(np.float64), b, np.empty((4, 2), np.float32))


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_ops_linear_round_trip(backend, rng, name):
    """pk.ops.linear / linear_backward dispatch to the backend's kernels."""
    x, w, b = _data(rng, 37, 20, 45, np.float64)
    y, z = pk.ops.linear(backend.put(x), backend.put(w), backend.put(b), activation=name,
                         return_pre_activation=True, **backend.kw)
    z_ref = _z_ref(x, w, b)
    atol, rtol = _tol(np.float64, 20)
    assert_close(backend.get(z), z_ref, atol=atol, rtol=rtol, what="z")
    assert_close(backend.get(y), act_ref.forward(name, z_ref), atol=atol, rtol=rtol, what="y")
    g = rng.standard_normal((37, 45))
    gx, gw, gb = pk.ops.linear_backward(backend.put(g), backend.put(x), backend.put(w), z=z,
                                        activation=name, **backend.kw)
    g_prime = act_ref.backward(name, g, backend.get(z).astype(np.float64))
    atol, rtol = _tol(np.float64, 45)
    assert_close(backend.get(gx), g_prime @ w, atol=atol, rtol=rtol, what="grad_x")
    assert_close(backend.get(gw), g_prime.T @ x, atol=atol, rtol=rtol, what="grad_weight")
    assert_close(backend.get(gb), g_prime.sum(axis=0), atol=atol, rtol=rtol, what="grad_bias")


# The CUDA kernels' two tile sizes, forced on shapes with partial edge tiles
# (both operands' leading dimensions odd or even), one row, and more than one
# tile of rows summed into grad_bias by the grad_weight GEMM.
@pytest.mark.parametrize("device", ["cuda-emu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("tile", ["large", "small"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,in_f,out_f", [(130, 67, 129), (257, 128, 64), (1, 9, 300)])
@pytest.mark.parametrize("name,params", [("gelu", {}), ("relu", {}), ("gcu", {})])
def test_cuda_tiles(rng, device, tile, name, params, batch, in_f, out_f, dtype):
    from conftest import Device, _cuda_skip_reason
    if device == "cuda" and _cuda_skip_reason():
        pytest.skip(_cuda_skip_reason())
    kernels = _Kernels(Device(device))
    x, w, b = _data(rng, batch, in_f, out_f, dtype)
    y = np.full((batch, out_f), np.nan, dtype)
    z = np.full((batch, out_f), np.nan, dtype)
    kernels.linear(x, w, b, y, name, z, tile=tile, **params)
    atol, rtol = _tol(dtype, in_f)
    assert_close(z, _z_ref(x, w, b), atol=atol, rtol=rtol, what="pre_activation")
    assert_close(y, act_ref.forward(name, z.astype(np.float64), **params), atol=atol, rtol=rtol,
                 what="out")
    g = rng.standard_normal((batch, out_f)).astype(dtype)
    g_prime = act_ref.backward(name, g.astype(np.float64), z.astype(np.float64), **params)
    gx = np.full((batch, in_f), np.nan, dtype)
    gw = np.full((out_f, in_f), np.nan, dtype)
    gb = np.full(out_f, np.nan, dtype)
    kernels.linear_backward(g, x, w, gx, gw, gb, name, z=z, tile=tile, **params)
    atol, rtol = _tol(dtype, max(out_f, batch))
    assert_close(gx, g_prime @ w.astype(np.float64), atol=atol, rtol=rtol, what="grad_x")
    assert_close(gw, g_prime.T @ x.astype(np.float64), atol=atol, rtol=rtol, what="grad_weight")
    assert_close(gb, g_prime.sum(axis=0), atol=atol, rtol=rtol, what="grad_bias")


def test_backward_without_input_grad_skips_grad_x(backend, rng):
    x = rng.standard_normal((13, 9))
    w = rng.standard_normal((5, 9))
    b = rng.standard_normal(5)
    g = rng.standard_normal((13, 5))
    y = pk.ops.linear(backend.put(x), backend.put(w), backend.put(b), activation="relu",
                      **backend.kw)
    full = pk.ops.linear_backward(backend.put(g), backend.put(x), backend.put(w), y=y,
                                  activation="relu", **backend.kw)
    skip = pk.ops.linear_backward(backend.put(g), backend.put(x), backend.put(w), y=y,
                                  activation="relu", needs_input_grad=False, **backend.kw)
    assert skip[0] is None
    np.testing.assert_array_equal(backend.get(skip[1]), backend.get(full[1]))
    np.testing.assert_array_equal(backend.get(skip[2]), backend.get(full[2]))
