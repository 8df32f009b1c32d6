"""The CPU GEMM behind pk.ops.matmul (csrc/gemm/) against NumPy's matmul (its
BLAS) and torch.matmul on the CPU, same thread count, same run.

    python -m pytest benchmarks/bench_matmul.py --benchmark-only

Cases: square products, and the GEMMs of training an MLP layer (forward
x @ W^T, grad_x = g @ W, grad_W = g^T @ x) with transposes read in place by
every library. Each result records GFLOP/s and % of the FMA peak (`record`,
the register-only FMA loop of pykernels._cpu.peak_fma_gflops). The pykernels
entries also time NumPy interleaved with their own runs and record
ratio_vs_numpy (> 1: faster than NumPy), which a busy machine disturbs less
than the ratio of two separate benchmarks.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import pykernels as pk
from pykernels import _cpu

# (name, trans_a, trans_b, m, n, k)
CASES = [
    ("square 256", False, False, 256, 256, 256),
    ("square 1024", False, False, 1024, 1024, 1024),
    ("square 2048", False, False, 2048, 2048, 2048),
    ("fwd x.W^T 128x784 512", False, True, 128, 512, 784),
    ("fwd x.W^T 256x512 256", False, True, 256, 256, 512),
    ("fwd x.W^T 64x256 10", False, True, 64, 10, 256),
    ("grad_x g.W 128x512 784", False, False, 128, 784, 512),
    ("grad_x g.W 256x256 512", False, False, 256, 512, 256),
    ("grad_x g.W 64x10 256", False, False, 64, 256, 10),
    ("grad_W g^T.x 512x128 784", True, False, 512, 784, 128),
    ("grad_W g^T.x 256x256 512", True, False, 256, 512, 256),
    ("grad_W g^T.x 10x64 256", True, False, 10, 256, 64),
]
IDS = [c[0].replace(" ", "-").replace("^", "").replace(".", "") for c in CASES]
IMPLS = ["pykernels", "numpy", "torch"]


def _operands(case, dtype):
    _, trans_a, trans_b, m, n, k = case
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, np.empty((m, n), dtype)


def _median_time(fn, min_time=0.2, min_reps=5):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _callable(impl, case, a, b, out, baseline):
    trans_a, trans_b = case[1], case[2]
    op_a, op_b = (a.T if trans_a else a), (b.T if trans_b else b)
    if impl == "pykernels":
        return lambda: pk.ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, out=out)
    if impl == "numpy":
        return lambda: np.matmul(op_a, op_b, out=out)
    torch = baseline("torch", _CPU)
    ta, tb, to = torch.from_numpy(op_a), torch.from_numpy(op_b), torch.from_numpy(out)
    return lambda: torch.matmul(ta, tb, out=to)


class _Cpu:
    name = "cpu"


_CPU = _Cpu()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def bench_matmul(case, impl, dtype, benchmark, record, baseline):
    if dtype == "float64" and not case[0].startswith("square"):
        pytest.skip("float64 is timed on the square products only")
    a, b, out = _operands(case, np.dtype(dtype))
    fn = _callable(impl, case, a, b, out, baseline)
    m, n, k = case[3:]
    info = {}
    if impl == "pykernels":
        fn()
        op_a, op_b = (a.T if case[1] else a), (b.T if case[2] else b)
        ref = op_a.astype(np.float64) @ op_b.astype(np.float64)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))
        numpy_fn = _callable("numpy", case, a, b, np.empty_like(out), baseline)
        t_numpy = [_median_time(numpy_fn)]
    benchmark.group = f"matmul {case[0]} {dtype}"
    benchmark(fn)
    if impl == "pykernels":
        # NumPy before and after ours: the better of the two, so a burst of
        # load from elsewhere does not flatter us.
        t_numpy.append(_median_time(numpy_fn))
        t_ours = _median_time(fn)
        info.update(ratio_vs_numpy=round(min(t_numpy) / t_ours, 3),
                    numpy_gflops_interleaved=round(2.0 * m * n * k / min(t_numpy) / 1e9, 1),
                    kernel=_cpu.gemm_kernel_name(dtype))
    record(benchmark, flops=2.0 * m * n * k, device="cpu", op="matmul", dtype=dtype,
           shape=f"{m}x{k} @ {k}x{n}" + (" (A^T)" if case[1] else "") +
           (" (B^T)" if case[2] else ""), impl=impl, threads=pk.get_num_threads(), **info)
