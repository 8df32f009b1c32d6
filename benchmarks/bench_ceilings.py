"""Machine ceilings, measured in the same run as the op benchmarks: CPU FMA
peak and copy bandwidth; on a GPU, device-to-device copy bandwidth and
cupy.matmul throughput. The op benchmarks' "% of ceiling" uses the ceilings
measured once per session by the `ceilings` fixture; these benchmarks show
them in the table (and the saved JSON) with their spread.
"""

from __future__ import annotations

import numpy as np
import pytest

import pykernels as pk
from conftest import Backend


def bench_cpu_fma_peak(benchmark, record):
    """The register-only FMA loop when the build has it, else a large NumPy
    float32 matmul (a lower bound on the peak)."""
    benchmark.group = "ceilings cpu"
    peak = getattr(getattr(pk, "_cpu", None), "peak_fma_gflops", None)
    if peak is not None:
        value = benchmark.pedantic(peak, args=(0.1,), rounds=3, iterations=1)
        benchmark.extra_info.update(ceiling="cpu_fma", gflops=float(value), lower_bound=False,
                                    method="pykernels._cpu.peak_fma_gflops")
        return
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    benchmark(lambda: np.matmul(a, b, out=out))
    record(benchmark, flops=2.0 * n**3, device="cpu", op="cpu_fma (NumPy matmul)",
           shape=f"{n}x{n}x{n}", impl="numpy", lower_bound=True,
           note="lower bound: this build has no pykernels._cpu.peak_fma_gflops")


def bench_cpu_copy_bandwidth(benchmark, record):
    """np.copyto of 64 MiB, the array size of the large memory-bound cases
    (bytes read + written), one thread."""
    benchmark.group = "ceilings cpu"
    src = np.ones((64 << 20) // 4, dtype=np.float32)
    dst = np.empty_like(src)
    benchmark(lambda: np.copyto(dst, src))
    record(benchmark, bytes=2.0 * src.nbytes, device="cpu", op="cpu_copy", shape="64 MiB",
           impl="numpy")


@pytest.mark.gpu
def bench_gpu_copy_bandwidth(benchmark, record, baseline):
    cuda = Backend("cuda")
    cupy = baseline("cupy", cuda)
    benchmark.group = "ceilings cuda"
    src = cupy.ones((1 << 30) // 4, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    benchmark(cuda.sync(lambda: cupy.copyto(dst, src)))
    record(benchmark, bytes=2.0 * src.nbytes, device="cuda", op="gpu_copy", shape="1 GiB",
           impl="cupy")


@pytest.mark.gpu
def bench_gpu_matmul(benchmark, record, baseline):
    cuda = Backend("cuda")
    cupy = baseline("cupy", cuda)
    benchmark.group = "ceilings cuda"
    n = 8192
    a = cupy.ones((n, n), dtype=cupy.float32)
    b = cupy.ones((n, n), dtype=cupy.float32)
    out = cupy.empty_like(a)
    benchmark(cuda.sync(lambda: cupy.matmul(a, b, out=out)))
    record(benchmark, flops=2.0 * n**3, device="cuda", op="gpu_matmul", shape=f"{n}^3",
           impl="cupy")
