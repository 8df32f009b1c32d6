"""Running cases: which implementations can run where, moving inputs to each
library, checking pykernels against NumPy once, then timing each one.

Implementations per device:
    cpu   pykernels (CPU kernels), numpy, torch (CPU)
    cuda  pykernels (CUDA kernels on CuPy arrays), torch (CUDA), cupy
An implementation that cannot run here is recorded with the reason.
"""

from __future__ import annotations

import importlib
import time

import numpy as np

from .timing import gpu_events, measure

IMPLS = {"cpu": ("pykernels", "numpy", "torch"), "cuda": ("pykernels", "torch", "cupy")}
BASELINES = ("numpy", "torch", "cupy")
REFERENCE = {"cpu": "numpy", "cuda": "cupy"}  # what pykernels is checked against before timing


def _try_import(name):
    try:
        return importlib.import_module(name), None
    except ImportError as exc:
        return None, f"{name} is not installed ({exc})"


def torch_threads(threads: int | None = None) -> None:
    """Give PyTorch the same number of CPU threads as pykernels."""
    import torch
    from .._backends import get_num_threads
    torch.set_num_threads(threads or get_num_threads())


def unavailable(impl: str, device: str):
    """Why `impl` cannot run on `device` here, or None when it can."""
    if impl not in IMPLS.get(device, ()):
        return f"{impl} does not run on {device}"
    if impl == "pykernels":
        from .._backends import backends
        info = backends()["cuda" if device == "cuda" else "cpu"]
        if not info["available"]:
            return f"pykernels {device} backend not available: {info.get('reason', '')}"
        if device == "cuda":
            return _try_import("cupy")[1]
        return None
    if impl == "numpy":
        return None
    if impl == "cupy":
        mod, why = _try_import("cupy")
        if why:
            return why
        try:
            return None if mod.cuda.runtime.getDeviceCount() > 0 else "no CUDA device"
        except Exception as exc:
            return f"no usable CUDA device ({type(exc).__name__}: {exc})"
    if impl == "torch":
        mod, why = _try_import("torch")
        if why:
            return why
        if device == "cuda" and not mod.cuda.is_available():
            return "PyTorch has no CUDA device (CPU-only build or no GPU)"
        return None
    raise ValueError(f"unknown implementation {impl!r}")


def device_unavailable(device: str):
    """Why nothing can be benchmarked on `device`, or None."""
    if device == "cpu":
        return None
    if device != "cuda":
        raise ValueError(f"argument 'device' must be 'cpu' or 'cuda', got {device!r}")
    return unavailable("pykernels", "cuda")


def _convert(value, impl: str, device: str):
    if isinstance(value, list):
        return [_convert(v, impl, device) for v in value]
    if not isinstance(value, np.ndarray):
        return value
    if impl == "torch":
        import torch
        t = torch.from_numpy(value.copy())
        return t.to("cuda") if device == "cuda" else t
    if impl == "cupy" or (impl == "pykernels" and device == "cuda"):
        import cupy
        return cupy.asarray(value)
    return value.copy()


def inputs_for(case, impl: str, device: str, host_inputs: dict) -> dict:
    return {k: _convert(v, impl, device) for k, v in host_inputs.items()}


def build(case, impl: str, device: str, host_inputs: dict):
    """The zero-argument callable running `case` with `impl`, or a str saying
    why there is none."""
    why = unavailable(impl, device)
    if why:
        return why
    d = inputs_for(case, impl, device, host_inputs)
    if impl == "pykernels":
        import pykernels
        missing = case.missing(pykernels.ops)
        if missing:
            return "not in pk.ops yet: " + ", ".join(missing)
        return case.pk(d)
    if impl in ("numpy", "cupy"):
        if case.xp is None:
            return f"no {impl} expression for this op"
        fn = case.xp(importlib.import_module(impl), d)
        return fn if fn is not None else f"no {impl} expression here ({case.notes.get(impl, '')})"
    if impl == "torch":
        if case.torch is None:
            return "no PyTorch equivalent"
        import torch
        return case.torch(torch, d)
    raise ValueError(f"unknown implementation {impl!r}")


def _host_arrays(out) -> list:
    """The arrays in a result (array, scalar or tuple), as NumPy, in order."""
    items = out if isinstance(out, (tuple, list)) else (out,)
    arrays = []
    for item in items:
        if item is None:
            continue
        if hasattr(item, "detach"):
            item = item.detach().cpu().numpy()
        elif hasattr(item, "__cuda_array_interface__"):
            import cupy
            item = cupy.asnumpy(item)
        arrays.append(np.asarray(item, dtype=np.float64))
    return arrays


def agree(a, b, rtol=1e-3, atol=1e-4) -> str | None:
    """None when two results match to float32 tolerance (relative to the
    largest magnitude), else what differs."""
    xs, ys = _host_arrays(a), _host_arrays(b)
    if len(xs) != len(ys):
        return f"{len(xs)} outputs against {len(ys)}"
    for i, (x, y) in enumerate(zip(xs, ys)):
        if x.shape != y.shape:
            return f"output {i}: shape {x.shape} against {y.shape}"
        scale = max(1.0, float(np.max(np.abs(y))) if y.size else 1.0)
        err = float(np.max(np.abs(x - y))) if x.size else 0.0
        if not err <= atol * scale + rtol * scale:
            return f"output {i}: max abs difference {err:.3g} (scale {scale:.3g})"
    return None


def time_impl(fn, impl: str, device: str, *, repeat: int, min_time: float, warmup: int = 2):
    if device == "cuda":
        events = gpu_events("torch" if impl == "torch" else "cupy")
        return measure(fn, "cuda", repeat=repeat, min_time=min_time, warmup=warmup,
                       events=events)
    return measure(fn, "cpu", repeat=repeat, min_time=min_time, warmup=warmup)


def run_case(case, device: str, *, repeat: int = 7, min_time: float = 0.02, seed: int = 0,
             impls=None) -> dict:
    """Time every implementation of `case` on `device`; a JSON-ready row."""
    row = {"op": case.op, "shape": case.shape, "kind": case.kind, "device": device,
           "unit": case.unit, "flops": case.flops, "bytes": case.bytes,
           "results": {}, "skipped": {}, "notes": dict(case.notes)}
    host = case.make_inputs(np.random.default_rng(seed))
    fns = {}
    for impl in impls or IMPLS[device]:
        try:
            fn = build(case, impl, device, host)
        except Exception as exc:
            fn = f"setup failed: {type(exc).__name__}: {exc}"
        if isinstance(fn, str):
            row["skipped"][impl] = fn
        else:
            fns[impl] = fn
    ref = REFERENCE[device]
    if case.check and "pykernels" in fns and ref in fns:
        try:
            row["check"] = agree(fns["pykernels"](), fns[ref]()) or "ok"
        except Exception as exc:
            row["check"] = f"{type(exc).__name__}: {exc}"
    for impl, fn in fns.items():
        try:
            t = time_impl(fn, impl, device, repeat=repeat, min_time=min_time)
        except Exception as exc:
            row["skipped"][impl] = f"failed: {type(exc).__name__}: {exc}"
            continue
        row["results"][impl] = {"median_s": t.median, "iqr_s": t.iqr, "repeats": t.repeats,
                                "number": t.number, "rate": case.rate(t.median)}
    return row


def run_cases(cases, devices, *, repeat: int = 7, min_time: float = 0.02, log=print,
              baselines=BASELINES) -> list:
    rows = []
    todo = [(c, d) for d in devices for c in cases]
    for i, (case, device) in enumerate(todo, 1):
        t0 = time.perf_counter()
        impls = [i for i in IMPLS[device] if i == "pykernels" or i in baselines]
        row = run_case(case, device, repeat=repeat, min_time=min_time, impls=impls)
        rows.append(row)
        if log:
            log(f"[{i}/{len(todo)}] {progress_line(row)} ({time.perf_counter() - t0:.1f} s)")
    return rows


def progress_line(row) -> str:
    parts = []
    for impl in ("pykernels",) + BASELINES:
        if impl in row["results"]:
            parts.append(f"{impl} {row['results'][impl]['rate']:.3g} {row['unit']}")
    if "pykernels" in row["skipped"]:
        parts.insert(0, f"pykernels skipped: {row['skipped']['pykernels']}")
    check = row.get("check")
    if check and check != "ok":
        parts.append(f"CHECK FAILED: {check}")
    return f"{row['op']} [{row['shape']}] {row['device']}: " + ", ".join(parts)
