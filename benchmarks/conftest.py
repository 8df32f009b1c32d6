"""Shared benchmark machinery: where to run, what is installed, and how to
record throughput.

    def bench_my_op(benchmark, backend, record):
        x = backend.put(np.ones(1 << 24, np.float32))
        benchmark(backend.sync(lambda: pk.ops.my_op(x)))
        record(benchmark, bytes=2 * x.nbytes)      # GB/s and % of copy bandwidth

`backend` is cpu, or cuda when a device and CuPy are present (skipped with the
reason otherwise); `baseline("torch", backend)` returns the module or skips
with the reason; `record` writes GB/s or GFLOP/s, the median time and the
share of the ceiling measured in this run into benchmark.extra_info, so the
saved JSON (--benchmark-json) is enough to make the report:
`pykernels bench --from-json FILE --out DIR`.
"""

from __future__ import annotations

import numpy as np
import pytest

from pykernels.bench import ceilings as _ceilings
from pykernels.bench.report import machine_info
from pykernels.bench.runner import device_unavailable, torch_threads, unavailable


def pytest_addoption(parser):
    parser.addoption("--bench-threads", type=int, default=None,
                     help="CPU threads for pykernels, PyTorch and NumPy's BLAS "
                          "(default: pykernels' setting)")


def pytest_configure(config):
    threads = config.getoption("--bench-threads")
    if threads:
        import pykernels as pk
        pk.set_num_threads(threads)
        try:
            from threadpoolctl import threadpool_limits
            config._pk_blas_limit = threadpool_limits(threads)
        except ImportError:
            pass


class Backend:
    """A device to benchmark on: moving data there and waiting for it."""

    def __init__(self, name: str):
        self.name = name

    def put(self, x):
        if self.name == "cuda":
            import cupy
            return cupy.asarray(x)
        return np.ascontiguousarray(x)

    def sync(self, fn):
        """fn followed by a device synchronisation, so that host timers see the
        GPU work finish (identity on the CPU)."""
        if self.name != "cuda":
            return fn
        import cupy

        def synced():  # the whole device: PyTorch may queue on a stream of its own
            out = fn()
            cupy.cuda.runtime.deviceSynchronize()
            return out
        return synced

    def __repr__(self):
        return self.name


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)], scope="session")
def backend(request) -> Backend:
    why = device_unavailable(request.param)
    if why:
        pytest.skip(f"{request.param}: {why}")
    return Backend(request.param)


@pytest.fixture(scope="session")
def baseline():
    """baseline(name, backend) -> the library module, or skip saying why not."""
    def get(name: str, backend: Backend):
        why = unavailable(name, backend.name)
        if why:
            pytest.skip(f"{name} on {backend.name}: {why}")
        mod = __import__(name)
        if name == "torch":
            torch_threads()
        return mod
    return get


class Ceilings:
    """Machine ceilings, each measured once per session on first use."""

    JOBS = {"cpu_fma": _ceilings.cpu_fma_peak, "cpu_copy": _ceilings.cpu_copy_bandwidth,
            "gpu_copy": _ceilings.gpu_copy_bandwidth,
            "gpu_matmul": _ceilings.gpu_matmul_throughput}

    def __init__(self):
        self.values = {}

    def get(self, name: str) -> dict:
        if name not in self.values:
            try:
                self.values[name] = self.JOBS[name]()
            except Exception as exc:
                self.values[name] = {"value": None, "error": f"{type(exc).__name__}: {exc}"}
        return self.values[name]


_CEILINGS = Ceilings()


@pytest.fixture(scope="session")
def ceilings() -> Ceilings:
    return _CEILINGS


def _median(benchmark):
    stats = getattr(benchmark, "stats", None)
    stats = getattr(stats, "stats", None)
    return getattr(stats, "median", None)


@pytest.fixture
def record(ceilings):
    """record(benchmark, bytes=..., flops=..., device="cpu", **info): after
    benchmark(fn), put the median, GB/s or GFLOP/s and % of the ceiling in
    extra_info (plus any identifying info: op, shape, impl...)."""
    def rec(benchmark, *, bytes=None, flops=None, device="cpu", **info):
        if (bytes is None) == (flops is None):
            raise ValueError("record needs exactly one of 'bytes' and 'flops'")
        kind = "gemm" if flops is not None else "memory"
        extra = benchmark.extra_info
        extra.update(info)
        extra.update(kind=kind, device=str(device), flops=flops or 0.0, bytes=bytes or 0.0)
        median = _median(benchmark)
        if not median:
            return extra  # benchmarks disabled: nothing was timed
        extra["median_s"] = median
        work, unit = (flops, "GFLOP/s") if flops is not None else (bytes, "GB/s")
        rate = work / median / 1e9
        extra["unit"] = unit
        extra["rate"] = rate
        extra["gflops" if flops is not None else "gbps"] = rate
        name = _ceilings.ceiling_for(kind, str(device))
        ceiling = _CEILINGS.get(name)
        if ceiling.get("value"):
            extra["ceiling"] = name
            extra["pct_of_ceiling"] = 100.0 * rate / ceiling["value"]
        return extra
    return rec


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Store the ceilings measured in this run and the machine next to the
    benchmarks, so the JSON alone can be turned into the report."""
    output_json["pykernels"] = {"ceilings": _CEILINGS.values, "machine": machine_info()}


def pytest_terminal_summary(terminalreporter, config):
    """The throughput table (GB/s, GFLOP/s, ratios, % of ceiling), which
    pytest-benchmark's own table of times does not show."""
    session = getattr(config, "_benchmarksession", None)
    benches = [b for b in getattr(session, "benchmarks", []) if b]
    if not benches:
        return
    from pykernels.bench.report import format_table, from_pytest_benchmark
    data = {"benchmarks": [b.as_dict(include_data=False) for b in benches],
            "pykernels": {"ceilings": _CEILINGS.values}}
    results = from_pytest_benchmark(data)
    if results["rows"]:
        terminalreporter.write_sep("-", "throughput (pykernels speedup = baseline time / "
                                        "pykernels time)")
        terminalreporter.write_line(format_table(results))
