"""Softmax forward along the last axis at 4096 x 1000 float32: pykernels vs
NumPy vs PyTorch CPU. Compulsory traffic: read x, write y (2 * N * C * 4
bytes); extra_info records GB/s on that basis."""

import numpy as np
import pytest

import pykernels as pk

N, C = 4096, 1000
BYTES = 2 * N * C * 4


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).standard_normal((N, C)).astype(np.float32)


def _record(benchmark, name):
    benchmark.extra_info["impl"] = name
    benchmark.extra_info["GB/s"] = BYTES / benchmark.stats.stats.median / 1e9


def numpy_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.benchmark(group="softmax 4096x1000 f32")
def test_pykernels_softmax(benchmark, x):
    benchmark(pk.ops.softmax, x)
    _record(benchmark, "pykernels")


@pytest.mark.benchmark(group="softmax 4096x1000 f32")
def test_pykernels_log_softmax(benchmark, x):
    benchmark(pk.ops.log_softmax, x)
    _record(benchmark, "pykernels log_softmax")


@pytest.mark.benchmark(group="softmax 4096x1000 f32")
def test_numpy_softmax(benchmark, x):
    benchmark(numpy_softmax, x)
    _record(benchmark, "numpy")


@pytest.mark.benchmark(group="softmax 4096x1000 f32")
def test_torch_softmax(benchmark, x):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(pk.get_num_threads())
    xt = torch.from_numpy(x)
    benchmark(torch.softmax, xt, -1)
    _record(benchmark, "torch")
