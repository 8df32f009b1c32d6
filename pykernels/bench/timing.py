"""Timing a callable: warm-up, several repeats, the median and the spread.

Each repeat runs the callable `number` times back to back and divides, with
`number` chosen so that one repeat lasts at least `min_time` (timer resolution
and call overhead then stay small against what is measured). The result is
the median over repeats, with the interquartile range as the noise estimate:
a single measurement is never reported.

On the GPU, kernel launches return before the work is done, so each repeat is
bracketed by CUDA events recorded on the current stream and the end event is
synchronised before it is read (CuPy events, or PyTorch's when CuPy is absent).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Timing:
    """Seconds per call: the median over repeats and the spread around it."""

    times: list = field(default_factory=list)  # seconds per call, one per repeat
    number: int = 1  # calls per repeat
    warmup: int = 0  # calls made before the first repeat

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def q1(self) -> float:
        return _quantile(self.times, 0.25)

    @property
    def q3(self) -> float:
        return _quantile(self.times, 0.75)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def repeats(self) -> int:
        return len(self.times)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(median=self.median, iqr=self.iqr, q1=self.q1, q3=self.q3, min=self.min,
                 repeats=self.repeats)
        return d


def _quantile(values, q: float) -> float:
    """Linear interpolation between order statistics (NumPy's default method)."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no timings")
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _calls_per_repeat(one_call: float, min_time: float, max_number: int) -> int:
    if one_call <= 0:
        return max_number
    return int(max(1, min(max_number, math.ceil(min_time / one_call))))


def time_cpu(fn, *, repeat: int = 7, warmup: int = 2, min_time: float = 0.02,
             max_number: int = 10_000, clock=time.perf_counter) -> Timing:
    """Median seconds per call of fn() on the host.

    `warmup` calls (at least one) are made first and timed to choose `number`;
    then `repeat` repeats of `number` calls each are timed.
    """
    if repeat < 1:
        raise ValueError(f"argument 'repeat' must be at least 1, got {repeat}")
    warmup = max(1, int(warmup))
    one = math.inf
    for _ in range(warmup):
        t0 = clock()
        fn()
        one = min(one, clock() - t0)
    number = _calls_per_repeat(one, min_time, max_number)
    times = []
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            fn()
        times.append((clock() - t0) / number)
    return Timing(times=times, number=number, warmup=warmup)


class _CupyEvents:
    def __init__(self):
        import cupy
        self.cupy = cupy

    def event(self):
        return self.cupy.cuda.Event()

    def record(self, ev):
        ev.record(self.cupy.cuda.get_current_stream())

    def seconds(self, start, end) -> float:
        end.synchronize()
        return self.cupy.cuda.get_elapsed_time(start, end) / 1e3

    def synchronize(self):
        self.cupy.cuda.get_current_stream().synchronize()


class _TorchEvents:
    def __init__(self):
        import torch
        self.torch = torch

    def event(self):
        return self.torch.cuda.Event(enable_timing=True)

    def record(self, ev):
        ev.record()

    def seconds(self, start, end) -> float:
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    def synchronize(self):
        self.torch.cuda.synchronize()


def gpu_events(prefer: str = "cupy"):
    """CUDA event helpers from CuPy, or PyTorch when CuPy is absent (or when
    prefer="torch", for work queued on PyTorch's current stream)."""
    order = (_CupyEvents, _TorchEvents) if prefer == "cupy" else (_TorchEvents, _CupyEvents)
    for cls in order:
        try:
            return cls()
        except ImportError:
            continue
    raise RuntimeError("GPU timing needs CuPy or PyTorch with CUDA")


def time_gpu(fn, *, repeat: int = 7, warmup: int = 2, min_time: float = 0.02,
             max_number: int = 10_000, events=None) -> Timing:
    """Median seconds per call of fn() on the GPU, timed with CUDA events.

    Work is queued on the current stream; each repeat records an event before
    and after its `number` calls and waits for the second one.
    """
    if repeat < 1:
        raise ValueError(f"argument 'repeat' must be at least 1, got {repeat}")
    ev = events or gpu_events()
    warmup = max(1, int(warmup))
    one = math.inf
    for _ in range(warmup):
        start, end = ev.event(), ev.event()
        ev.record(start)
        fn()
        ev.record(end)
        one = min(one, ev.seconds(start, end))
    ev.synchronize()
    number = _calls_per_repeat(one, min_time, max_number)
    times = []
    for _ in range(repeat):
        start, end = ev.event(), ev.event()
        ev.record(start)
        for _ in range(number):
            fn()
        ev.record(end)
        times.append(ev.seconds(start, end) / number)
    ev.synchronize()
    return Timing(times=times, number=number, warmup=warmup)


def measure(fn, device: str = "cpu", **kw) -> Timing:
    """time_gpu for device "cuda" (the callable queues GPU work), else time_cpu."""
    if device == "cuda":
        return time_gpu(fn, **kw)
    return time_cpu(fn, **kw)
