"""Dropout forward (p = 0.5, mask drawn in the kernel) and backward at 512x1024
and 64x64x32x32, float32: pykernels vs NumPy (Generator.random mask) vs
PyTorch CPU (torch.nn.functional.dropout / native_dropout_backward).

GB/s counts compulsory traffic: forward reads x, writes y and the uint8 mask
(9 bytes per element); backward reads dy and the mask, writes dx (9 bytes).

    python -m pytest benchmarks/bench_dropout.py --benchmark-only -q
"""

import time

import numpy as np
import pytest

import pykernels as pk

SHAPES = [(512, 1024), (64, 64, 32, 32)]
P = 0.5


def _x(shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _median_seconds(fn, repeats=15):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _steps(shape):
    x = _x(shape)
    _, mask = pk.ops.dropout(x, P, seed=1)
    rng = np.random.default_rng(1)
    np_mask = rng.random(shape) >= P
    steps = {
        "pykernels forward": lambda: pk.ops.dropout(x, P, seed=1),
        "pykernels backward": lambda: pk.ops.dropout_backward(x, mask, P),
        "numpy forward": lambda: (lambda m: (x * m / (1 - P), m))(rng.random(shape, np.float32) >= P),
        "numpy backward": lambda: x * np_mask / (1 - P),
    }
    try:
        import torch
        torch.set_num_threads(pk.get_num_threads())
        xt = torch.tensor(x)
        _, tmask = torch.native_dropout(xt, P, True)
        steps["torch forward"] = lambda: torch.native_dropout(xt, P, True)
        steps["torch backward"] = lambda: torch.ops.aten.native_dropout_backward(xt, tmask, 1 / (1 - P))
    except ImportError:
        pass
    return steps


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("impl", ["pykernels", "numpy", "torch"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_dropout(benchmark, shape, impl, direction):
    steps = _steps(shape)
    name = f"{impl} {direction}"
    if name not in steps:
        pytest.skip("torch is not installed")
    benchmark.group = f"dropout {direction} {shape} float32 p={P}"
    benchmark(steps[name])
    t = benchmark.stats.stats.median
    benchmark.extra_info["GB/s"] = round(9 * int(np.prod(shape)) / t / 1e9, 2)
    if impl == "pykernels":
        for base in ("numpy", "torch"):
            other = steps.get(f"{base} {direction}")
            if other is not None:
                benchmark.extra_info[f"speedup_vs_{base}"] = round(_median_seconds(other) / t, 2)
