"""Activation forward and backward on 16M float32 elements: pykernels vs
PyTorch CPU (same thread count) vs the NumPy expression.

Compulsory traffic: forward reads x and writes y (8 bytes per element),
backward reads grad_y and x and writes grad_x (12 bytes). Each result records
GB/s in benchmark.extra_info together with the copy bandwidth of this machine
(np.copyto of a 256 MiB array, 8 bytes moved per float32 element), so the
fraction of memory bandwidth reached can be read off directly.

    python -m pytest benchmarks/bench_activation.py --benchmark-only
"""

import math
import time

import numpy as np
import pytest

import pykernels as pk

N = 16 * 1024 * 1024
NAMES = ["gelu", "silu", "relu"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N, dtype=np.float32) * 3
    g = rng.standard_normal(N, dtype=np.float32)
    return x, g


@pytest.fixture(scope="module")
def copy_gbps():
    src = np.ones(64 * 1024 * 1024, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.nbytes / best / 1e9


def _record(benchmark, nbytes, copy_gbps):
    t = benchmark.stats.stats.median
    gbps = nbytes / t / 1e9
    benchmark.extra_info.update(GBps=round(gbps, 2), copy_GBps=round(copy_gbps, 2),
                                fraction_of_copy=round(gbps / copy_gbps, 3))


def _numpy_forward(name, x):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "silu":
        return x / (1 + np.exp(-x))
    special = pytest.importorskip("scipy.special")
    return 0.5 * x * (1 + special.erf(x * np.float32(1 / math.sqrt(2))))


def _numpy_backward(name, g, x):
    if name == "relu":
        return np.where(x > 0, g, np.float32(0))
    if name == "silu":
        s = 1 / (1 + np.exp(-x))
        return g * s * (1 + x * (1 - s))
    special = pytest.importorskip("scipy.special")
    cdf = 0.5 * (1 + special.erf(x * np.float32(1 / math.sqrt(2))))
    pdf = np.exp(-0.5 * x * x) * np.float32(1 / math.sqrt(2 * math.pi))
    return g * (cdf + x * pdf)


def _torch_fns(torch, name):
    aten = torch.ops.aten
    if name == "relu":
        return torch.relu, lambda g, x: aten.threshold_backward(g, x, 0)
    if name == "silu":
        return torch.nn.functional.silu, aten.silu_backward
    return torch.nn.functional.gelu, aten.gelu_backward


@pytest.mark.parametrize("impl", ["pykernels", "torch", "numpy"])
@pytest.mark.parametrize("name", NAMES)
def test_forward(benchmark, data, copy_gbps, name, impl):
    x, _ = data
    benchmark.group = f"{name} forward, 16M float32"
    if impl == "pykernels":
        benchmark(pk.ops.activation, name, x)
    elif impl == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(pk.get_num_threads())
        fwd, _ = _torch_fns(torch, name)
        tx = torch.from_numpy(x)
        benchmark(fwd, tx)
    else:
        benchmark(_numpy_forward, name, x)
    _record(benchmark, 8 * N, copy_gbps)


@pytest.mark.parametrize("impl", ["pykernels", "torch", "numpy"])
@pytest.mark.parametrize("name", NAMES)
def test_backward(benchmark, data, copy_gbps, name, impl):
    x, g = data
    benchmark.group = f"{name} backward, 16M float32"
    if impl == "pykernels":
        benchmark(pk.ops.activation_backward, name, g, x)
    elif impl == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(pk.get_num_threads())
        _, bwd = _torch_fns(torch, name)
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)
        benchmark(bwd, tg, tx)
    else:
        benchmark(_numpy_backward, name, g, x)
    _record(benchmark, 12 * N, copy_gbps)
