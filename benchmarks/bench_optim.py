"""Fused Adam step on 16M float32 parameters split over 10 tensors:
pk.ops.adam_step vs torch.optim.Adam(fused=True), Adam(foreach=True) and the
NumPy expression, on the CPU.

Napkin math: an Adam step reads param, grad, exp_avg, exp_avg_sq and writes
param, exp_avg, exp_avg_sq: 7 x 4 = 28 bytes per float32 parameter, for about
ten flops; the step is memory-bound and GB/s = 28 * N / time is the figure of
merit (the machine's stream bandwidth is the ceiling).

    cd /tmp && PYTHONPATH=<build>/site python -m pytest <repo>/benchmarks/bench_optim.py \
        --benchmark-only -q -p no:cacheprovider
"""

import numpy as np
import pytest

import pykernels as pk

N_TOTAL = 16 * 1024 * 1024
N_TENSORS = 10
BYTES_PER_PARAM = 28
HP = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)


def _sizes():
    # unequal sizes, as in a real model: a few big matrices, some small ones
    weights = np.array([8, 1, 6, 1, 4, 1, 3, 1, 2, 5], dtype=np.float64)
    sizes = np.floor(weights / weights.sum() * N_TOTAL).astype(np.int64)
    sizes[0] += N_TOTAL - sizes.sum()
    return [int(s) for s in sizes]


def _tensors(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n, dtype=np.float32) for n in _sizes()]
    grads = [rng.standard_normal(n, dtype=np.float32) for n in _sizes()]
    return params, grads


def _record(benchmark, impl):
    t = benchmark.stats.stats.median
    gbps = BYTES_PER_PARAM * N_TOTAL / t / 1e9
    benchmark.extra_info.update({
        "impl": impl, "params": N_TOTAL, "tensors": N_TENSORS, "dtype": "float32",
        "GB/s": round(gbps, 2), "bytes_per_param": BYTES_PER_PARAM,
        "threads": pk.get_num_threads()})
    return t


_medians = {}


def _ratio_note(benchmark, impl, t):
    _medians[impl] = t
    if "pykernels" in _medians:
        for other, tt in _medians.items():
            if other != "pykernels":
                benchmark.extra_info[f"pykernels_speedup_vs_{other}"] = round(
                    tt / _medians["pykernels"], 3)


@pytest.mark.benchmark(group="adam-16M-f32")
def test_adam_pykernels(benchmark):
    params, grads = _tensors()
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    step = [0]

    def run():
        step[0] += 1
        pk.ops.adam_step(params, grads, ms, vs, step=step[0], **HP)

    benchmark.pedantic(run, rounds=15, warmup_rounds=2, iterations=1)
    _ratio_note(benchmark, "pykernels", _record(benchmark, "pykernels"))


def _torch_adam(benchmark, mode):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(pk.get_num_threads())
    params, grads = _tensors()
    tp = [torch.from_numpy(p).requires_grad_() for p in params]
    for p, g in zip(tp, grads):
        p.grad = torch.from_numpy(g)
    opt = torch.optim.Adam(tp, lr=HP["lr"], betas=(HP["beta1"], HP["beta2"]), eps=HP["eps"],
                           **{mode: True})

    def run():
        opt.step()

    benchmark.pedantic(run, rounds=15, warmup_rounds=2, iterations=1)
    name = f"torch_{mode}"
    benchmark.extra_info["torch_threads"] = torch.get_num_threads()
    _ratio_note(benchmark, name, _record(benchmark, name))


@pytest.mark.benchmark(group="adam-16M-f32")
def test_adam_torch_fused(benchmark):
    _torch_adam(benchmark, "fused")


@pytest.mark.benchmark(group="adam-16M-f32")
def test_adam_torch_foreach(benchmark):
    _torch_adam(benchmark, "foreach")


@pytest.mark.benchmark(group="adam-16M-f32")
def test_adam_numpy(benchmark):
    params, grads = _tensors()
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    b1, b2, lr, eps = HP["beta1"], HP["beta2"], HP["lr"], HP["eps"]
    step = [0]

    def run():
        step[0] += 1
        t = step[0]
        step_size = lr / (1 - b1 ** t)
        bc2_sqrt = (1 - b2 ** t) ** 0.5
        for p, g, m, v in zip(params, grads, ms, vs):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= step_size * m / (np.sqrt(v) / bc2_sqrt + eps)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1, iterations=1)
    _ratio_note(benchmark, "numpy", _record(benchmark, "numpy"))


@pytest.mark.benchmark(group="global-norm-16M-f32")
def test_global_norm_pykernels(benchmark):
    _, grads = _tensors()
    benchmark.pedantic(lambda: pk.ops.global_norm(grads), rounds=15, warmup_rounds=2,
                       iterations=1)
    t = benchmark.stats.stats.median
    benchmark.extra_info.update({"impl": "pykernels", "GB/s": round(4 * N_TOTAL / t / 1e9, 2)})


@pytest.mark.benchmark(group="global-norm-16M-f32")
def test_global_norm_torch(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(pk.get_num_threads())
    _, grads = _tensors()
    tg = [torch.from_numpy(g) for g in grads]
    benchmark.pedantic(
        lambda: float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                             for g in tg]))),
        rounds=15, warmup_rounds=2, iterations=1)
    t = benchmark.stats.stats.median
    benchmark.extra_info.update({"impl": "torch", "GB/s": round(4 * N_TOTAL / t / 1e9, 2)})
