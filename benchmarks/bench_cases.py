"""Every case of pykernels.bench.cases (every op, forward and backward, at
MLP-training and large memory-bound shapes), run by pykernels and by each
baseline: NumPy on the CPU, PyTorch on CPU and GPU, CuPy on the GPU.

Per test: one case, one device, one implementation; pykernels is first
checked against NumPy (CuPy on the GPU): a benchmark of a wrong result fails.
Results of one case on one device share a benchmark group, and extra_info
holds the op, shape, implementation, GB/s or GFLOP/s and % of the ceiling.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from pykernels.bench.cases import all_cases
from conftest import Backend
from pykernels.bench.runner import IMPLS, REFERENCE, agree, build, device_unavailable

CASES = all_cases()


def _id(case) -> str:
    return re.sub(r"[^\w.+-]+", "_", f"{case.op}-{case.shape}").strip("_")


TARGETS = [pytest.param((device, impl), id=f"{device}-{impl}",
                         marks=[pytest.mark.gpu] if device == "cuda" else [])
           for device, impls in IMPLS.items() for impl in impls]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
@pytest.mark.parametrize("target", TARGETS)
def bench_case(case, target, benchmark, record, baseline):
    device, impl = target
    why = device_unavailable(device)
    if why:
        pytest.skip(f"{device}: {why}")
    backend = Backend(device)
    if impl != "pykernels":
        baseline(impl, backend)
    host = case.make_inputs(np.random.default_rng(0))
    fn = build(case, impl, device, host)
    if isinstance(fn, str):
        pytest.skip(f"{impl} on {device}: {fn}")
    if impl == "pykernels" and case.check and case.xp is not None:
        ref = build(case, REFERENCE[device], device, host)
        if not isinstance(ref, str):
            diff = agree(fn(), ref())
            assert diff is None, f"pykernels differs from {REFERENCE[device]}: {diff}"
    benchmark.group = f"{case.op} [{case.shape}] {device}"
    benchmark(backend.sync(fn))
    work = {"flops": case.flops} if case.kind == "gemm" else {"bytes": case.bytes}
    record(benchmark, device=device, op=case.op, shape=case.shape, impl=impl, **work)
