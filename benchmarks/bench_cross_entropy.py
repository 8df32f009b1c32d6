"""Fused softmax cross-entropy, forward + backward, at 4096 x 1000 float32:
pykernels (one pass per row) vs the NumPy expression vs PyTorch CPU
(F.cross_entropy + backward). Compulsory traffic: read the logits, write the
gradient (2 * N * C * 4 bytes); extra_info records GB/s on that basis."""

import numpy as np
import pytest

import pykernels as pk

N, C = 4096, 1000
BYTES = 2 * N * C * 4


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, C)).astype(np.float32), rng.integers(0, C, N)


def _record(benchmark, name):
    benchmark.extra_info["impl"] = name
    benchmark.extra_info["GB/s"] = BYTES / benchmark.stats.stats.median / 1e9


def numpy_cross_entropy(z, t):
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - z[np.arange(len(t)), t]))
    grad = e / s
    grad[np.arange(len(t)), t] -= 1
    grad /= len(t)
    return loss, grad


@pytest.mark.benchmark(group="cross_entropy fwd+bwd 4096x1000 f32")
def test_pykernels(benchmark, data):
    z, t = data
    benchmark(pk.ops.cross_entropy, z, t)
    _record(benchmark, "pykernels")


@pytest.mark.benchmark(group="cross_entropy fwd+bwd 4096x1000 f32")
def test_pykernels_label_smoothing(benchmark, data):
    z, t = data
    benchmark(pk.ops.cross_entropy, z, t, label_smoothing=0.1)
    _record(benchmark, "pykernels (label_smoothing=0.1)")


@pytest.mark.benchmark(group="cross_entropy fwd+bwd 4096x1000 f32")
def test_numpy(benchmark, data):
    z, t = data
    benchmark(numpy_cross_entropy, z, t)
    _record(benchmark, "numpy")


@pytest.mark.benchmark(group="cross_entropy fwd+bwd 4096x1000 f32")
def test_torch(benchmark, data):
    torch = pytest.importorskip("torch")
    z, t = data
    zt, tt = torch.from_numpy(z), torch.from_numpy(t)
    torch.set_num_threads(pk.get_num_threads())

    def step():
        x = zt.detach().requires_grad_()
        loss = torch.nn.functional.cross_entropy(x, tt)
        loss.backward()
        return loss.item(), x.grad

    benchmark(step)
    _record(benchmark, "torch")
