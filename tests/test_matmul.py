"""pk.ops.matmul on every backend against the float64 NumPy reference."""

import numpy as np
import pytest

import pykernels as pk
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
