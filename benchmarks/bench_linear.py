"""Fused Linear (GEMM + bias + activation epilogue) against the unfused NumPy
sequence ``act(x @ W.T + b)`` and torch's ``F.linear`` + activation, float32,
same run; and the Linear backward (derivative, grad_x, grad_W, grad_b).

    python -m pytest benchmarks/bench_linear.py --benchmark-only

NumPy has no erf, so GELU is compared in its tanh form (approximate="tanh"),
the same function in all three implementations. The pykernels forward entries
also time the NumPy sequence interleaved with their own runs and record
ratio_vs_numpy (> 1: faster), which a busy machine disturbs less than the
ratio of two separate benchmarks.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import pykernels as pk

# (rows, in_features, out_features)
SHAPES = [(256, 1024, 1024), (128, 784, 512), (256, 512, 256), (64, 256, 10)]
ACTS = [("relu", {}), ("gelu", {"approximate": "tanh"})]
SQRT_2_OVER_PI = np.float32(np.sqrt(2.0 / np.pi))


def _numpy_act(name, z):
    if name == "relu":
        return np.maximum(z, 0, out=z)
    u = SQRT_2_OVER_PI * (z + np.float32(0.044715) * z * z * z)
    return 0.5 * z * (1.0 + np.tanh(u))


def _numpy_act_grad(name, z):
    if name == "relu":
        return (z > 0).astype(z.dtype)
    u = SQRT_2_OVER_PI * (z + np.float32(0.044715) * z ** 3)
    t = np.tanh(u)
    du = SQRT_2_OVER_PI * (1.0 + 3 * np.float32(0.044715) * z * z)
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du


def _median_time(fn, min_time=0.2, min_reps=5):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _operands(shape):
    n, k, m = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, k)).astype(np.float32)
    w = (rng.standard_normal((m, k)) / np.sqrt(k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    g = rng.standard_normal((n, m)).astype(np.float32)
    return x, w, b, g


@pytest.mark.parametrize("impl", ["pykernels", "numpy", "torch"])
@pytest.mark.parametrize("act", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def bench_linear_forward(shape, act, impl, benchmark, record, baseline, backend):
    if backend.name != "cpu":
        pytest.skip("the CPU Linear; bench_matmul_cuda.py times the CUDA one")
    name, params = act
    x, w, b, _ = _operands(shape)
    if impl == "pykernels":
        fn = lambda: pk.ops.linear(x, w, b, activation=name, **params)  # noqa: E731
        ref = _numpy_act(name, x.astype(np.float64) @ w.T.astype(np.float64) + b)
        np.testing.assert_allclose(fn(), ref, rtol=1e-3, atol=1e-3)
    elif impl == "numpy":
        fn = lambda: _numpy_act(name, x @ w.T + b)  # noqa: E731
    else:
        torch = baseline("torch", backend)
        tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        f = torch.relu if name == "relu" else (lambda z: torch.nn.functional.gelu(z, approximate="tanh"))
        fn = lambda: f(torch.nn.functional.linear(tx, tw, tb))  # noqa: E731
    n, k, m = shape
    info = {}
    if impl == "pykernels":
        numpy_fn = lambda: _numpy_act(name, x @ w.T + b)  # noqa: E731
        t_numpy = [_median_time(numpy_fn)]
    benchmark.group = f"linear+{name} {n}x{k}->{m}"
    benchmark(fn)
    if impl == "pykernels":
        # NumPy before and after ours: the better of the two.
        t_numpy.append(_median_time(numpy_fn))
        info["ratio_vs_numpy"] = round(min(t_numpy) / _median_time(fn), 3)
    record(benchmark, flops=2.0 * n * k * m, device="cpu", op=f"linear+{name}",
           shape=f"{n}x{k} -> {m}", impl=impl, threads=pk.get_num_threads(), **info)


@pytest.mark.parametrize("impl", ["pykernels", "numpy", "torch"])
@pytest.mark.parametrize("act", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def bench_linear_backward(shape, act, impl, benchmark, record, baseline, backend):
    if backend.name != "cpu":
        pytest.skip("the CPU Linear; bench_matmul_cuda.py times the CUDA one")
    name, params = act
    x, w, b, g = _operands(shape)
    y, z = pk.ops.linear(x, w, b, activation=name, return_pre_activation=True, **params)
    if impl == "pykernels":
        fn = lambda: pk.ops.linear_backward(g, x, w, y=y, z=z, activation=name, **params)  # noqa: E731
    elif impl == "numpy":
        def fn():
            gz = g * _numpy_act_grad(name, z)
            return gz @ w, gz.T @ x, gz.sum(0)
    else:
        torch = baseline("torch", backend)
        tx = torch.from_numpy(x).requires_grad_()
        tw, tb = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
        f = torch.relu if name == "relu" else (lambda t: torch.nn.functional.gelu(t, approximate="tanh"))
        tg = torch.from_numpy(g)

        out = f(torch.nn.functional.linear(tx, tw, tb))

        def fn():  # the backward alone: the graph is kept and walked again each time
            return torch.autograd.grad(out, (tx, tw, tb), tg, retain_graph=True)
    n, k, m = shape
    benchmark.group = f"linear+{name} backward {n}x{k}->{m}"
    benchmark(fn)
    record(benchmark, flops=4.0 * n * k * m, device="cpu", op=f"linear+{name} backward",
           shape=f"{n}x{k} -> {m}", impl=impl, threads=pk.get_num_threads())
