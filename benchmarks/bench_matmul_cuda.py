"""GEMM on the GPU: pykernels' CUDA SGEMM vs cuBLAS (cupy.matmul) at
m = n = k = 4096, float32, and the fused Linear forward (GEMM + bias + GELU in
the epilogue) vs CuPy's three-step equivalent.

Times come from CUDA events around each call on the current stream (median of
repeats, after warm-up); pytest-benchmark's own timer also measures the call
with a device synchronisation. Each result records in benchmark.extra_info
the event median, GFLOP/s (2 m n k per call) and, for pykernels, the ratio to
cuBLAS measured in the same session ("pct_of_cublas"). Skipped, with the
reason, without a CUDA device or CuPy. Results are checked against CuPy
before anything is timed.

    python -m pytest benchmarks/bench_matmul_cuda.py --benchmark-only
"""

import statistics

import numpy as np
import pytest

import pykernels as pk
from pykernels import _backends

M = N = K = 4096
FLOPS = 2.0 * M * N * K
REPEATS = 20


def _skip_reason():
    info = pk.backends()["cuda"]
    if not info["built"]:
        return "the cuda backend is not built: " + info.get("reason", "")
    if not info["available"]:
        return "no usable CUDA device: " + info.get("reason", "")
    return None


_reason = _skip_reason()
if _reason:
    pytest.skip(_reason, allow_module_level=True)
cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install pykernels[cuda])")


def _event_ms(fn, repeats=REPEATS, warmup=3):
    """Median milliseconds of fn() between two CUDA events on the current stream."""
    for _ in range(warmup):
        fn()
    cupy.cuda.get_current_stream().synchronize()
    times = []
    for _ in range(repeats):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end))
    return statistics.median(times)


def _synced(fn):
    def run():
        out = fn()
        cupy.cuda.get_current_stream().synchronize()
        return out
    return run


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(0)
    a = cupy.asarray(rng.standard_normal((M, K), dtype=np.float32))
    b = cupy.asarray(rng.standard_normal((K, N), dtype=np.float32))
    bias = cupy.asarray(rng.standard_normal(N, dtype=np.float32))
    return a, b, bias


@pytest.fixture(scope="module")
def cublas_ms(operands):
    a, b, _ = operands
    out = cupy.empty((M, N), np.float32)
    return _event_ms(lambda: cupy.matmul(a, b, out=out))


def _record(benchmark, ms, cublas=None):
    gflops = FLOPS / (ms * 1e-3) / 1e9
    info = {"event_ms": round(ms, 4), "GFLOPs": round(gflops, 1), "m": M, "n": N, "k": K}
    if cublas is not None:
        info["cublas_event_ms"] = round(cublas, 4)
        info["pct_of_cublas"] = round(100.0 * cublas / ms, 1)
    benchmark.extra_info.update(info)


def _close(got, expected, k):
    err = float(cupy.max(cupy.abs(got - expected)))
    scale = float(cupy.max(cupy.abs(expected)))
    assert err <= 1e-4 * scale + 4 * np.finfo(np.float32).eps * k, (err, scale)


def test_cupy_matmul_4096(benchmark, operands, cublas_ms):
    a, b, _ = operands
    out = cupy.empty((M, N), np.float32)
    benchmark(_synced(lambda: cupy.matmul(a, b, out=out)))
    _record(benchmark, cublas_ms)


@pytest.mark.parametrize("trans_b", [False, True], ids=["nn", "nt"])
def test_pykernels_matmul_4096(benchmark, operands, cublas_ms, trans_b):
    a, b, _ = operands
    b_op = cupy.ascontiguousarray(b.T) if trans_b else b
    out = cupy.empty((M, N), np.float32)
    pk.ops.matmul(a, b_op, trans_b=trans_b, out=out)
    _close(out, cupy.matmul(a, b), K)
    ms = _event_ms(lambda: pk.ops.matmul(a, b_op, trans_b=trans_b, out=out))
    benchmark(_synced(lambda: pk.ops.matmul(a, b_op, trans_b=trans_b, out=out)))
    _record(benchmark, ms, cublas_ms)


def _cupy_linear_gelu(x, w, bias):
    z = cupy.matmul(x, w.T) + bias
    return 0.5 * z * (1 + cupy.tanh(0.7978845608028654 * (z + 0.044715 * z * z * z)))


def test_linear_gelu_4096(benchmark, operands, cublas_ms):
    """Fused forward act(x @ W.T + b) vs CuPy's matmul, bias add and GELU."""
    x, w, bias = operands
    out = cupy.empty((M, N), np.float32)
    binding = _backends.module("cuda")
    stream = cupy.cuda.get_current_stream().ptr

    def run():
        binding.linear(x, w, bias, out, "gelu", approximate="tanh", stream=stream)
        return out
    run()
    _close(out, _cupy_linear_gelu(x, w, bias), K)
    ms = _event_ms(run)
    cupy_ms = _event_ms(lambda: _cupy_linear_gelu(x, w, bias))
    benchmark(_synced(run))
    _record(benchmark, ms, cublas_ms)
    benchmark.extra_info.update(cupy_linear_event_ms=round(cupy_ms, 4),
                                speedup_vs_cupy_linear=round(cupy_ms / ms, 2))
