"""The CPU GEMM behind pk.ops.matmul (csrc/gemm/), against the float64 NumPy
reference: every micro-kernel path (avx512, avx2, generic, forced one at a
time), every transpose combination, alpha/beta, dimensions that are not
multiples of any tile or cache block, empty operands, and results that do not
depend on the number of threads."""

import numpy as np
import pytest

import pykernels as pk
from pykernels import _cpu
from conftest import assert_close
from reference import matmul as ref

PATHS = ["avx512", "avx2", "generic"]
_ORDER = {"generic": 0, "avx2": 1, "avx512": 2}
DTYPES = [np.float32, np.float64]
TRANS = [(False, False), (False, True), (True, False), (True, True)]

# Sizes straddle every register tile (MR 4..12, NR 8..32), the small-matrix
# cutoff (32) and the cache blocks (KC 256, MC 72..480, NC 2048..4080).
SHAPES = [
    (1, 1, 1), (2, 7, 31), (7, 2, 33), (31, 33, 97), (33, 31, 2), (97, 97, 97),
    (33, 97, 300), (97, 33, 300), (130, 97, 33), (1, 97, 1000), (97, 1, 1000),
    (300, 257, 600), (1025, 97, 33), (97, 1025, 40), (33, 1000, 31), (1000, 33, 7),
    (520, 100, 260),
]


@pytest.fixture(params=PATHS)
def simd_path(request):
    """Forces one micro-kernel path for the test, then restores the best one."""
    best = _cpu.best_simd_path()
    if _ORDER[request.param] > _ORDER[best]:
        pytest.skip(f"this CPU has no {request.param} (best path: {best})")
    _cpu.set_simd_path(request.param)
    yield request.param
    _cpu.set_simd_path(best)


def _operands(rng, m, n, k, dtype, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def _gemm(a, b, out, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    _cpu.matmul(a, b, out, trans_a, trans_b, alpha, beta)
    return out


def _check(got, a, b, trans_a, trans_b, alpha=1.0, beta=0.0, c=None):
    k = a.shape[0] if trans_a else a.shape[1]
    expected = ref.matmul(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, c=c)
    magnitude = 4.0 * max(1.0, abs(alpha)) + 4.0 * abs(beta)
    assert_close(got, expected, atol=ref.tolerance(got.dtype, k, magnitude),
                 rtol=ref.tolerance(got.dtype, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", TRANS)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gemm_matches_reference(simd_path, rng, m, n, k, trans_a, trans_b, dtype):
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    out = np.full((m, n), np.nan, dtype)  # beta == 0: never read
    _check(_gemm(a, b, out, trans_a, trans_b), a, b, trans_a, trans_b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", TRANS)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.75, 0.5), (2.0, -1.0), (0.5, 0.0)])
@pytest.mark.parametrize("m,n,k", [(7, 33, 31), (97, 130, 300), (260, 33, 600), (31, 1, 2)])
def test_gemm_alpha_beta(simd_path, rng, m, n, k, alpha, beta, trans_a, trans_b, dtype):
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    got = _gemm(a, b, c.copy(), trans_a, trans_b, alpha, beta)
    _check(got, a, b, trans_a, trans_b, alpha, beta, c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(0, 5, 7), (5, 0, 7), (0, 0, 0), (5, 7, 0), (40, 300, 0)])
@pytest.mark.parametrize("beta", [0.0, 1.0, -2.5])
def test_gemm_empty(simd_path, m, n, k, beta, dtype):
    a = np.ones((m, k), dtype)
    b = np.ones((k, n), dtype)
    c = np.arange(m * n, dtype=dtype).reshape(m, n)
    got = _gemm(a, b, c.copy(), beta=beta)
    # k == 0: the product is empty, so C = beta * C (and exactly 0 when beta == 0).
    np.testing.assert_array_equal(got, beta * c if beta != 0 else np.zeros_like(c))


def test_gemm_alpha_zero_reads_neither_operand(simd_path):
    a = np.full((40, 50), np.inf, np.float32)
    b = np.full((50, 60), np.nan, np.float32)
    c = np.ones((40, 60), np.float32)
    np.testing.assert_array_equal(_gemm(a, b, c.copy(), alpha=0.0, beta=3.0), 3.0 * c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", TRANS)
@pytest.mark.parametrize("m,n,k", [(300, 257, 600), (1025, 97, 33), (31, 500, 400),
                                   (400, 20, 300), (97, 3300, 40), (128, 512, 784)])
def test_gemm_same_bits_for_any_thread_count(simd_path, rng, m, n, k, trans_a, trans_b, dtype):
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    results = []
    for threads in (1, 2, 3, 4):
        pk.set_num_threads(threads)
        results.append(_gemm(a, b, c.copy(), trans_a, trans_b, 1.5, 0.5))
    for threads, r in zip((2, 3, 4), results[1:]):
        np.testing.assert_array_equal(r, results[0], err_msg=f"{threads} threads vs 1")
    _check(results[0], a, b, trans_a, trans_b, 1.5, 0.5, c)


@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_gemm_repeated_parallel_runs_agree(simd_path, rng, trans_a, trans_b):
    # Races between threads (packing buffers reused across k blocks of unequal
    # size) show up only some of the time: repeat a shape with a short last
    # k block, split by columns (m small) and by rows (n small).
    for m, n, k in [(128, 512, 784), (600, 64, 300)]:
        a, b = _operands(rng, m, n, k, np.float32, trans_a, trans_b)
        pk.set_num_threads(1)
        one = _gemm(a, b, np.empty((m, n), np.float32), trans_a, trans_b)
        pk.set_num_threads(2)
        for _ in range(10):
            np.testing.assert_array_equal(_gemm(a, b, np.empty((m, n), np.float32), trans_a,
                                                trans_b), one)


def test_gemm_square_1024_all_paths_agree_with_reference(simd_path, rng):
    a, b = _operands(rng, 1024, 1024, 1024, np.float32, False, False)
    _check(_gemm(a, b, np.empty((1024, 1024), np.float32)), a, b, False, False)


def test_kernel_name_follows_forced_path(simd_path):
    assert _cpu.gemm_kernel_name("float32").startswith(f"sgemm_{simd_path}_")
    assert _cpu.gemm_kernel_name("float64").startswith(f"dgemm_{simd_path}_")


def test_peak_fma_is_positive():
    assert _cpu.peak_fma_gflops(0.01) > 0
