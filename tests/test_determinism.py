"""Determinism: every op family gives bit-identical results with 1, 2 and 3
threads and across repeated calls, on cpu and cuda-emu, at sizes that cross
the CPU kernels' parallel thresholds (see tests/op_families.py); and a full
training run (pk.train.fit: Linear, BatchNorm1d, ReLU, Dropout, Adam, a
learning-rate schedule, gradient clipping, shuffled batches) with the same
pk.manual_seed gives bit-identical weights, optimizer state and history when
repeated and with 1 or 2 threads.

The kernels reduce in a fixed order that depends on the sizes only
(fixed-size chunks added in index order, never per-thread partial sums), and
the emulator's results do not depend on how its blocks are spread over threads.
"""

from __future__ import annotations

import numpy as np
import pytest

import pykernels as pk
from op_families import CASES, copy_inputs, first_difference, fingerprint
from pykernels import data, nn, optim, train
from pykernels.optim import lr_scheduler

KW = {"cpu": {}, "cuda-emu": {"device": "cuda-emu"}}
# (rows, cols): on cpu 82K-element activations (GEMMs of 26 MFLOP): every
# kernel splits its work over threads; on the emulator, many blocks per launch.
SHAPES = {"cpu": (512, 160), "cuda-emu": (48, 96)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_same_bits_for_any_thread_count_and_repeated_calls(case, device, dtype):
    rows, cols = SHAPES[device]
    inputs = case.make(np.random.default_rng(2024), rows, cols, dtype)
    runs = []
    for threads in (1, 2, 2, 3):
        pk.set_num_threads(threads)
        fresh = copy_inputs(inputs)
        runs.append((threads, fingerprint((case.run(fresh, KW[device]), fresh))))
    (_, first), rest = runs[0], runs[1:]
    for threads, other in rest:
        assert other == first, (f"{case.name} on {device} with {threads} threads differs from 1 "
                                f"thread: {first_difference(other, first)}")


def _training_run(threads, device="cpu", width=256, samples=1024, epochs=3, seed=1234):
    """A seeded training run; everything it produces, as exact bits."""
    pk.set_num_threads(threads)
    pk.manual_seed(seed)
    x, y = data.make_spiral(samples, noise=0.1, n_classes=3, seed=5)
    train_set, val_set = data.random_split(data.TensorDataset(x, y), [0.75, 0.25])
    loader = data.DataLoader(train_set, batch_size=samples // 4, shuffle=True)
    val_loader = data.DataLoader(val_set, batch_size=samples)
    model = nn.Sequential(
        nn.Linear(2, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(width, 3)).to(device)
    opt = optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    history = train.fit(model, nn.CrossEntropyLoss().to(device), opt, loader, epochs=epochs,
                        val_loader=val_loader, scheduler=sched, clip_grad_norm=1.0, progress=False)
    hist = {k: v for k, v in history.history.items() if k != "time"}
    return {"model": fingerprint(model.state_dict()), "optimizer": fingerprint(opt.state_dict()),
            "history": fingerprint(hist)}


def _assert_same_run(a, b, what):
    for key in a:
        assert a[key] == b[key], f"{what}: {key} differs: {first_difference(a[key], b[key])}"


def test_training_run_is_bit_identical_repeated_and_for_1_or_2_threads():
    first = _training_run(threads=2)
    _assert_same_run(_training_run(threads=2), first, "second run with 2 threads")
    _assert_same_run(_training_run(threads=1), first, "run with 1 thread")


def test_training_run_on_the_emulator_is_bit_identical():
    first = _training_run(threads=2, device="cuda-emu", width=32, samples=256, epochs=2)
    _assert_same_run(_training_run(threads=2, device="cuda-emu", width=32, samples=256, epochs=2),
                     first, "second emulator run")
    _assert_same_run(_training_run(threads=1, device="cuda-emu", width=32, samples=256, epochs=2),
                     first, "emulator run with 1 thread")


def test_training_runs_with_other_seeds_differ():
    """The comparison can fail: another seed gives other weights."""
    small = {"width": 32, "samples": 256, "epochs": 1}
    assert _training_run(threads=2, seed=99, **small)["model"] != \
        _training_run(threads=2, **small)["model"]
