"""End-to-end training step of one MLP, in pykernels and in PyTorch.

    784 -> Linear 512 -> BatchNorm1d -> ReLU -> Dropout(0.1)
        -> Linear 256 -> BatchNorm1d -> ReLU -> Dropout(0.1)
        -> Linear 10, CrossEntropyLoss, Adam(lr=1e-3), float32

One step is what a training loop does per batch: zero the gradients, forward,
loss, backward, optimizer step. The batch stays the same from step to step
(no data loading is timed). PyTorch runs with the same number of CPU threads
as pykernels and its default Adam implementation.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

LAYERS = (784, 512, 256, 10)
DROPOUT = 0.1
LR = 1e-3
MODEL = "MLP 784-512-256-10, BatchNorm, ReLU, Dropout 0.1, Adam"
# Speedup over PyTorch CPU per step that pykernels aims for, by batch size.
TARGETS = {128: 1.3, 1024: 1.0}


def _batch(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, LAYERS[0]), dtype=np.float32)
    y = rng.integers(0, LAYERS[-1], batch, dtype=np.int64)
    return x, y


def pykernels_step(batch: int, device: str = "cpu"):
    """A zero-argument callable making one pykernels training step, or a str
    saying why it cannot be built here."""
    import pykernels as pk
    missing = [name for name in ("nn", "optim") if not hasattr(pk, name)]
    if missing:
        return "needs " + " and ".join(f"pk.{m}" for m in missing) + " (not in this build yet)"
    if not hasattr(pk.optim, "Adam"):
        return "needs pk.optim.Adam (not in this build yet)"
    nn = pk.nn
    if hasattr(pk, "manual_seed"):
        pk.manual_seed(0)
    layers = []
    for i, (fin, fout) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        layers.append(nn.Linear(fin, fout))
        if i < len(LAYERS) - 2:
            layers += [nn.BatchNorm1d(fout), nn.ReLU(), nn.Dropout(DROPOUT)]
    model = nn.Sequential(*layers)
    if device != "cpu":
        model.to(device)
    model.train()
    criterion = nn.CrossEntropyLoss()
    opt = pk.optim.Adam(model.parameters(), lr=LR)
    x, y = _batch(batch)
    if device == "cuda":
        import cupy
        x, y = cupy.asarray(x), cupy.asarray(y)
    step = Step(_pykernels_phases(model, criterion, opt, x, y))
    try:
        step()
    except Exception as exc:  # an op the layers need is not merged yet
        return f"pykernels step failed: {type(exc).__name__}: {exc}"
    return step


def _layer_name(i, m) -> str:
    name = type(m).__name__
    if hasattr(m, "in_features"):
        name += f" {m.in_features}-{m.out_features}"
    elif hasattr(m, "num_features"):
        name += f" {m.num_features}"
    return f"{i} {name}"


def _pykernels_phases(model, criterion, opt, x, y):
    """The step as one phase per layer and direction (the same calls
    Sequential.forward/backward make), so its time can be split by kernel."""
    layers = list(model)
    model.needs_input_grad = False  # as in PyTorch, where the input batch needs no gradient
    state = {}

    def zero_grad():
        opt.zero_grad()
        state["h"] = x

    def fwd(m):
        def run():
            state["h"] = m(state["h"])
        return run

    def loss():
        state["loss"] = criterion(state["h"], y)
        state["g"] = criterion.backward()

    def bwd(m):
        def run():
            state["g"] = m.backward(state["g"])
        return run
    phases = [("zero_grad", zero_grad)]
    phases += [(f"forward {_layer_name(i, m)}", fwd(m)) for i, m in enumerate(layers)]
    phases.append(("loss (cross_entropy)", loss))
    phases += [(f"backward {_layer_name(i, m)}", bwd(m))
               for i, m in reversed(list(enumerate(layers)))]
    phases.append(("optimizer (Adam)", opt.step))
    return phases


def torch_step(batch: int, device: str = "cpu"):
    """The same step in PyTorch, or a str saying why not."""
    try:
        import torch
    except ImportError as exc:
        return f"torch is not installed ({exc})"
    if device == "cuda" and not torch.cuda.is_available():
        return "PyTorch has no CUDA device"
    from .._backends import get_num_threads
    torch.set_num_threads(get_num_threads())
    torch.manual_seed(0)
    nn = torch.nn
    layers = []
    for i, (fin, fout) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        layers.append(nn.Linear(fin, fout))
        if i < len(LAYERS) - 2:
            layers += [nn.BatchNorm1d(fout), nn.ReLU(), nn.Dropout(DROPOUT)]
    model = nn.Sequential(*layers).to(device).train()
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xh, yh = _batch(batch)
    x, y = torch.from_numpy(xh).to(device), torch.from_numpy(yh).to(device)
    state = {}

    def zero_grad():
        opt.zero_grad()

    def forward():
        state["out"] = model(x)

    def loss():
        state["loss"] = criterion(state["out"], y)

    def backward():
        state["loss"].backward()

    return Step([("zero_grad", zero_grad), ("forward", forward), ("loss (cross_entropy)", loss),
                 ("backward", backward), ("optimizer (Adam)", opt.step)])


class Step:
    """One training step as named phases run in order; calling it runs them all."""

    def __init__(self, phases):
        self.phases = phases

    def __call__(self):
        for _, fn in self.phases:
            fn()


def _synchronize(device: str):
    if device != "cuda":
        return lambda: None
    try:
        import cupy
        return cupy.cuda.runtime.deviceSynchronize
    except ImportError:
        import torch
        return torch.cuda.synchronize


def phase_times(step: Step, device: str, *, steps: int = 7, warmup: int = 2) -> dict:
    """Median milliseconds of each phase over `steps` steps, the device
    synchronised after each phase (so the sum exceeds a free-running step a
    little on the GPU): which part of the step the time goes to."""
    sync = _synchronize(device)
    times = {name: [] for name, _ in step.phases}
    for i in range(warmup + steps):
        for name, fn in step.phases:
            t0 = time.perf_counter()
            fn()
            sync()
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


STEPS = {"pykernels": pykernels_step, "torch": torch_step}


def run_train_step(batch: int, device: str, *, repeat: int = 7, min_time: float = 0.05,
                   warmup: int = 3, torch: bool = True, phases: bool = True) -> dict:
    """Median seconds per step for pykernels and PyTorch, and (phases) the
    median time of each phase of the step; a JSON-ready row."""
    from .runner import device_unavailable, time_impl
    row = {"op": "train step", "shape": f"batch {batch}", "kind": "step", "device": device,
           "unit": "ms/step", "model": MODEL, "batch": batch, "results": {}, "skipped": {},
           "notes": {}}
    if device == "cpu" and batch in TARGETS:
        row["target_vs_torch"] = TARGETS[batch]
    why = device_unavailable(device)
    for impl, make in STEPS.items():
        if impl == "torch" and not torch:
            row["skipped"][impl] = "not asked for (--baselines)"
            continue
        try:
            fn = why if (why and impl == "pykernels") else make(batch, device)
        except Exception as exc:
            fn = f"setup failed: {type(exc).__name__}: {exc}"
        if isinstance(fn, str):
            row["skipped"][impl] = fn
            continue
        t = time_impl(fn, impl, device, repeat=repeat, min_time=min_time, warmup=warmup)
        row["results"][impl] = {"median_s": t.median, "iqr_s": t.iqr, "repeats": t.repeats,
                                "number": t.number, "rate": t.median * 1e3}
        if phases and isinstance(fn, Step):
            row["results"][impl]["phases_ms"] = phase_times(fn, device, steps=repeat)
    return row
