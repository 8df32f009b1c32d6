"""pk.ops.matmul on every backend against the float64 NumPy reference."""

import numpy as np
import pytest

import pykernels as pk
from pykernels import _backends
from conftest import assert_close
from reference import matmul as ref

SHAPES = [(1, 1, 1), (17, 33, 65), (128, 256, 64), (0, 5, 7), (5, 0, 7), (5, 7, 0), (3, 1, 200),
          (65, 70, 17), (2, 97, 31)]
DTYPES = [np.float32, np.float64]


def _operands(rng, m, n, k, dtype, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_matmul_matches_reference(backend, rng, m, n, k, dtype, trans_a, trans_b):
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    out = pk.ops.matmul(backend.put(a), backend.put(b), trans_a=trans_a, trans_b=trans_b,
                        **backend.kw)
    expected = ref.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
    got = backend.get(out)
    assert got.dtype == dtype
    assert_close(got, expected, atol=ref.tolerance(dtype, k, 4.0), rtol=ref.tolerance(dtype, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.0), (0.0, 3.0)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_matmul_alpha_beta_out(backend, rng, dtype, alpha, beta, trans_a, trans_b):
    m, n, k = 33, 19, 40
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    out = backend.put(c.copy())
    result = pk.ops.matmul(backend.put(a), backend.put(b), trans_a=trans_a, trans_b=trans_b,
                           alpha=alpha, beta=beta, out=out, **backend.kw)
    assert result is out
    expected = ref.matmul(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, c=c)
    assert_close(backend.get(out), expected, atol=ref.tolerance(dtype, k, 8.0),
                 rtol=ref.tolerance(dtype, 1))


def test_beta_zero_ignores_nan_in_out(backend, rng):
    a = rng.standard_normal((9, 4)).astype(np.float32)
    b = rng.standard_normal((4, 6)).astype(np.float32)
    out = backend.put(np.full((9, 6), np.nan, np.float32))
    pk.ops.matmul(backend.put(a), backend.put(b), out=out, **backend.kw)
    assert np.isfinite(backend.get(out)).all()


def test_k_zero_scales_out_by_beta(backend):
    a = np.zeros((4, 0), np.float64)
    b = np.zeros((0, 3), np.float64)
    c = np.arange(12, dtype=np.float64).reshape(4, 3)
    out = backend.put(c.copy())
    pk.ops.matmul(backend.put(a), backend.put(b), beta=2.0, out=out, **backend.kw)
    assert_close(backend.get(out), 2.0 * c)


def test_cpu_results_do_not_depend_on_thread_count(rng):
    a = rng.standard_normal((300, 257)).astype(np.float32)
    b = rng.standard_normal((257, 190)).astype(np.float32)
    pk.set_num_threads(1)
    one = pk.ops.matmul(a, b)
    pk.set_num_threads(2)
    two = pk.ops.matmul(a, b)
    np.testing.assert_array_equal(one, two)


def test_emulated_results_do_not_depend_on_thread_count(rng):
    a = rng.standard_normal((130, 70)).astype(np.float32)
    b = rng.standard_normal((70, 129)).astype(np.float32)
    pk.set_num_threads(1)
    one = pk.ops.matmul(a, b, device="cuda-emu")
    pk.set_num_threads(2)
    two = pk.ops.matmul(a, b, device="cuda-emu")
    np.testing.assert_array_equal(one, two)


# Shapes for the CUDA kernels' two tile sizes (large: 128 x 128 x 8 float,
# 128 x 64 x 8 double; small: 64 x 64 x 16): exact multiples of the tiles,
# one element, one less and one more than a tile, k = 1, and odd sizes whose
# leading dimensions (k for a, n for b, or m / k when transposed) are not
# multiples of the 16-byte vector width, which selects the scalar loads.
TILE_SHAPES = [(128, 128, 8), (256, 128, 16), (64, 64, 32), (1, 1, 1), (1, 129, 8),
               (129, 1, 9), (127, 129, 257), (129, 127, 1), (257, 65, 24), (33, 257, 127)]


def _gpu_backends():
    params = [pytest.param("cuda-emu")]
    params.append(pytest.param("cuda", marks=pytest.mark.gpu))
    return params


def _cuda_module(name):
    try:
        mod = _backends.module(name)
    except _backends.BackendUnavailable as exc:
        pytest.skip(str(exc))
    if name == "cuda":
        pytest.importorskip("cupy", reason="CuPy is not installed")
    return mod


def _put(name, x):
    if name == "cuda":
        import cupy
        return cupy.asarray(x)
    return x


def _get(name, x):
    if name == "cuda":
        import cupy
        return cupy.asnumpy(x)
    return x


@pytest.mark.parametrize("device", _gpu_backends())
@pytest.mark.parametrize("tile", ["large", "small"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", TILE_SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False),
                                             (True, True)])
def test_cuda_tiles_match_reference(rng, device, tile, m, n, k, dtype, trans_a, trans_b):
    mod = _cuda_module(device)
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    out = _put(device, c.copy())
    mod.matmul(_put(device, a), _put(device, b), out, trans_a, trans_b, 0.5, -1.5, tile=tile)
    expected = ref.matmul(a, b, trans_a=trans_a, trans_b=trans_b, alpha=0.5, beta=-1.5, c=c)
    assert_close(_get(device, out), expected, atol=ref.tolerance(dtype, k, 8.0),
                 rtol=ref.tolerance(dtype, 1))


def _misaligned(x):
    """A C-contiguous copy of x whose data starts one element past a 16-byte
    boundary: the kernels must take their scalar loads and stores."""
    buf = np.empty(x.size + 4, x.dtype)
    start = next(i for i in range(4) if (buf[i:].ctypes.data % 16) == x.itemsize)
    view = buf[start:start + x.size].reshape(x.shape)
    view[...] = x
    assert view.flags.c_contiguous and view.ctypes.data % 16 != 0
    return view


@pytest.mark.parametrize("tile", ["large", "small"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_emulated_misaligned_operands(rng, tile, dtype, trans_a, trans_b):
    mod = _cuda_module("cuda-emu")
    m, n, k = 130, 136, 40  # vector-friendly sizes: only the pointers disable vectors
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    out = _misaligned(c)
    mod.matmul(_misaligned(a), _misaligned(b), out, trans_a, trans_b, 1.0, 1.0, tile=tile)
    expected = ref.matmul(a, b, trans_a=trans_a, trans_b=trans_b, beta=1.0, c=c)
    assert_close(out, expected, atol=ref.tolerance(dtype, k, 8.0), rtol=ref.tolerance(dtype, 1))


def test_emulated_tile_argument_is_checked(rng):
    mod = _cuda_module("cuda-emu")
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="'tile'"):
        mod.matmul(a, a, np.empty((2, 2), np.float32), tile="huge")


@pytest.mark.parametrize("tile", ["large", "small"])
def test_emulated_tiles_agree_on_integers(rng, tile):
    """Small integers multiply exactly in float32: both kernels must give the
    exact product, including the padded edge tiles."""
    mod = _cuda_module("cuda-emu")
    a = rng.integers(-3, 4, (131, 77)).astype(np.float32)
    b = rng.integers(-3, 4, (77, 140)).astype(np.float32)
    out = np.full((131, 140), np.nan, np.float32)
    mod.matmul(a, b, out, tile=tile)
    np.testing.assert_array_equal(out, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32))
