"""End-to-end training step of the reference MLP (784-512-256-10, BatchNorm,
ReLU, Dropout 0.1, CrossEntropyLoss, Adam, float32) in pykernels and PyTorch,
at batch 128 and 1024, on the CPU and on a GPU when present. The two
implementations of one batch size and device share a benchmark group; the
ratio of their medians is the end-to-end speedup.
"""

from __future__ import annotations

import pytest

from pykernels.bench.train_step import MODEL, STEPS


@pytest.mark.parametrize("batch", [128, 1024])
@pytest.mark.parametrize("impl", list(STEPS))
def bench_train_step(impl, batch, backend, benchmark, baseline):
    if impl == "torch":
        baseline("torch", backend)
    step = STEPS[impl](batch, backend.name)
    if isinstance(step, str):
        pytest.skip(f"{impl} on {backend.name}: {step}")
    benchmark.group = f"train step [batch {batch}] {backend.name}"
    benchmark(backend.sync(step))
    benchmark.extra_info.update(op="train step", shape=f"batch {batch}", kind="step",
                                device=backend.name, impl=impl, model=MODEL)
