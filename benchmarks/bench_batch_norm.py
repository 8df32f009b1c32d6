"""Batch norm training step (forward + backward) at 512x1024 and 64x64x32x32,
float32: pykernels vs the NumPy expression vs PyTorch CPU.

GB/s counts the compulsory traffic of forward + backward: read x, write y;
read x and dy, write dx (5 arrays). Each pykernels row also records its
speed-up over PyTorch and NumPy timed in the same run (extra_info).

    python -m pytest benchmarks/bench_batch_norm.py --benchmark-only -q
"""

import time

import numpy as np
import pytest

import pykernels as pk

SHAPES = [(512, 1024), (64, 64, 32, 32)]


def _data(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    return x, dy, np.ones(c, np.float32), np.zeros(c, np.float32), np.zeros(c, np.float32), \
        np.ones(c, np.float32)


def _median_seconds(fn, repeats=15):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _pykernels_step(shape):
    x, dy, w, b, rm, rv = _data(shape)

    def step():
        _, ctx = pk.ops.batch_norm(x, w, b, rm, rv, training=True)
        return pk.ops.batch_norm_backward(dy, ctx)
    return step


def _numpy_step(shape):
    x, dy, w, b, rm, rv = _data(shape)
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, -1) + (1,) * (x.ndim - 2)

    def step():
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        invstd = 1.0 / np.sqrt(var + 1e-5)
        x_hat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
        y = x_hat * w.reshape(bshape) + b.reshape(bshape)
        n = x.size // x.shape[1]
        rm[:] = 0.9 * rm + 0.1 * mean
        rv[:] = 0.9 * rv + 0.1 * var * n / (n - 1)
        gb = dy.sum(axis=axes)
        gw = (dy * x_hat).sum(axis=axes)
        gx = (w * invstd).reshape(bshape) * (dy - (gb / n).reshape(bshape)
                                             - x_hat * (gw / n).reshape(bshape))
        return y, gx, gw, gb
    return step


def _torch_step(shape):
    torch = pytest.importorskip("torch")
    x, dy, w, b, rm, rv = _data(shape)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    rmt, rvt, dyt = torch.tensor(rm), torch.tensor(rv), torch.tensor(dy)

    def step():
        xt.grad = wt.grad = bt.grad = None
        y = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=True)
        y.backward(dyt)
    return step


def _gbps(shape, seconds):
    return 5 * int(np.prod(shape)) * 4 / seconds / 1e9


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_pykernels(benchmark, shape):
    step = _pykernels_step(shape)
    benchmark.group = f"batch_norm train fwd+bwd {shape} float32"
    benchmark(step)
    t = benchmark.stats.stats.median
    benchmark.extra_info["GB/s"] = round(_gbps(shape, t), 2)
    benchmark.extra_info["speedup_vs_numpy"] = round(_median_seconds(_numpy_step(shape)) / t, 2)
    try:
        import torch
        torch.set_num_threads(pk.get_num_threads())
        benchmark.extra_info["speedup_vs_torch"] = round(_median_seconds(_torch_step(shape)) / t, 2)
    except ImportError:
        pass


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_numpy(benchmark, shape):
    benchmark.group = f"batch_norm train fwd+bwd {shape} float32"
    benchmark(_numpy_step(shape))
    benchmark.extra_info["GB/s"] = round(_gbps(shape, benchmark.stats.stats.median), 2)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_torch(benchmark, shape):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(pk.get_num_threads())
    benchmark.group = f"batch_norm train fwd+bwd {shape} float32"
    benchmark(_torch_step(shape))
    benchmark.extra_info["GB/s"] = round(_gbps(shape, benchmark.stats.stats.median), 2)
