"""Machine ceilings, measured in the same run as the benchmarks they judge.

    cpu_fma     GFLOP/s: pykernels._cpu.peak_fma_gflops (a register-only FMA
                loop on every thread, best of 3 runs) when the build has it;
                otherwise a large NumPy float32 matmul, a lower bound on the peak.
    cpu_copy    GB/s: an array copy (bytes read + bytes written) of 64 MiB, the
                size of the large memory-bound cases' arrays, split over the
                CPU threads; the best of single- and multi-threaded.
    gpu_copy    GB/s: a device-to-device copy of a large CuPy array.
    gpu_matmul  GFLOP/s: cupy.matmul of large float32 matrices.

Each result is a dict: value, unit, method (what was run) and, where the
number is not a true ceiling, a note saying so. GB/s count compulsory traffic
only (each byte read or written once), as the memory-bound benchmarks do.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .timing import time_cpu, time_gpu

UNITS = {"cpu_fma": "GFLOP/s", "cpu_copy": "GB/s", "gpu_copy": "GB/s", "gpu_matmul": "GFLOP/s"}


def _threads() -> int:
    from .._backends import get_num_threads
    return get_num_threads()


def cpu_fma_peak(*, repeat: int = 5, quick: bool = False) -> dict:
    """Peak float32 FMA throughput of the CPU over all pykernels threads."""
    threads = _threads()
    try:
        from .. import _cpu
    except ImportError:
        _cpu = None
    peak = getattr(_cpu, "peak_fma_gflops", None)
    if peak is not None:
        # peak_fma_gflops(seconds) runs the loop on every pykernels thread; a
        # peak is the best rate reached, so the largest of the runs is kept
        values = [float(peak(0.1 if quick else 0.2)) for _ in range(3)]
        return {"value": max(values), "unit": "GFLOP/s",
                "method": f"register-only FMA loop on {threads} threads "
                          f"(pykernels._cpu.peak_fma_gflops), best of {len(values)}",
                "lower_bound": False}
    n = 1024 if quick else 2048
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    t = time_cpu(lambda: np.matmul(a, b, out=out), repeat=repeat, min_time=0.05)
    return {"value": 2 * n**3 / t.median / 1e9, "unit": "GFLOP/s",
            "method": f"NumPy float32 matmul {n}x{n}x{n} (BLAS threads as configured)",
            "lower_bound": True,
            "note": "lower bound: this build has no pykernels._cpu.peak_fma_gflops"}


def cpu_copy_bandwidth(*, mib: int = 64, repeat: int = 7) -> dict:
    """Large-array copy, bytes read + bytes written; NumPy releases the GIL
    while copying, so chunks copied from a thread pool run in parallel."""
    n = mib * (1 << 20) // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    threads = _threads()
    best, how = 0.0, ""
    variants = [1] + ([threads] if threads > 1 else [])
    for k in variants:
        bounds = np.linspace(0, n, k + 1).astype(np.int64)
        chunks = [(dst[lo:hi], src[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
        if k == 1:
            def run():
                np.copyto(dst, src)
        else:
            pool = ThreadPoolExecutor(k)

            def run(chunks=chunks, pool=pool):
                list(pool.map(lambda c: np.copyto(c[0], c[1]), chunks))
        try:
            t = time_cpu(run, repeat=repeat, warmup=1, min_time=0.0)
        finally:
            if k > 1:
                pool.shutdown()
        rate = 2 * src.nbytes / t.median / 1e9
        if rate > best:
            best, how = rate, f"{k} thread{'s' if k > 1 else ''}"
    return {"value": best, "unit": "GB/s",
            "method": f"np.copyto of {mib} MiB float32, read + write counted, best of "
                      f"1 and {threads} threads ({how})", "lower_bound": False}


def gpu_copy_bandwidth(*, mib: int = 1024, repeat: int = 7) -> dict:
    import cupy
    n = mib * (1 << 20) // 4
    src = cupy.ones(n, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    t = time_gpu(lambda: cupy.copyto(dst, src), repeat=repeat, min_time=0.01)
    value = 2 * src.nbytes / t.median / 1e9
    del src, dst
    return {"value": value, "unit": "GB/s",
            "method": f"cupy.copyto device to device, {mib} MiB float32, read + write counted",
            "lower_bound": False}


def gpu_matmul_throughput(*, n: int = 8192, repeat: int = 7) -> dict:
    import cupy
    a = cupy.random.default_rng(0).standard_normal((n, n), dtype=cupy.float32)
    b = cupy.random.default_rng(1).standard_normal((n, n), dtype=cupy.float32)
    out = cupy.empty_like(a)
    t = time_gpu(lambda: cupy.matmul(a, b, out=out), repeat=repeat, min_time=0.05)
    return {"value": 2 * n**3 / t.median / 1e9, "unit": "GFLOP/s",
            "method": f"cupy.matmul float32 {n}x{n}x{n} (cuBLAS)", "lower_bound": False}


def measure_ceilings(devices=("cpu",), *, quick: bool = False, log=None) -> dict:
    """The ceilings for the devices benchmarked; a ceiling that cannot be
    measured is recorded with the reason instead of a value."""
    jobs = []
    if "cpu" in devices:
        jobs += [("cpu_fma", lambda: cpu_fma_peak(quick=quick)),
                 ("cpu_copy", lambda: cpu_copy_bandwidth(repeat=5 if quick else 9))]
    if "cuda" in devices:
        jobs += [("gpu_copy", lambda: gpu_copy_bandwidth(mib=512 if quick else 1024)),
                 ("gpu_matmul", lambda: gpu_matmul_throughput(n=4096 if quick else 8192))]
    result = {}
    for name, job in jobs:
        try:
            result[name] = job()
        except Exception as exc:  # a missing ceiling leaves "% of ceiling" blank
            result[name] = {"value": None, "unit": UNITS[name],
                            "error": f"{type(exc).__name__}: {exc}"}
        if log:
            r = result[name]
            if r.get("value") is not None:
                extra = " (lower bound)" if r.get("lower_bound") else ""
                log(f"ceiling {name}: {r['value']:.1f} {r['unit']}{extra}: {r['method']}")
            else:
                log(f"ceiling {name}: not measured: {r['error']}")
    return result


def ceiling_for(kind: str, device: str) -> str:
    """Which ceiling judges a case: FMA peak (or cuBLAS) for GEMM, copy
    bandwidth for memory-bound ops."""
    if device == "cuda":
        return "gpu_matmul" if kind == "gemm" else "gpu_copy"
    return "cpu_fma" if kind == "gemm" else "cpu_copy"
