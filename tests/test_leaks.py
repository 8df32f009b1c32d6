"""No leaks: thousands of calls of every op family (and of calls that fail
inside the C++ bindings) leave the reference count of every input array
unchanged (the classic pybind11 bug: a reference taken and never released
keeps an array alive forever), let every result array be freed once dropped,
and keep memory flat: the process's RSS within a few MiB, and, exactly, the
bytes in use by malloc (C++ objects, NumPy data), the blocks of Python's
small-object allocator and the objects tracked by the garbage collector.

Counts: 10,000 calls per family on the cpu backend. The emulator (cuda-emu)
runs every CUDA thread of a launch as a fiber on the host, so a call there
costs 0.1 to 10 ms instead of microseconds: 400 calls per family keep this
file within its time budget. The reference-count and freed-result checks are
exact for any number of calls, and the allocator counters see a leak of a
few hundred bytes or one Python object per call even over 400 calls.

Kernels run with one thread here: on a busy machine every parallel region
costs a thread wake-up, and the memory of the thread pool is allocated once,
in the warm-up, whatever the count.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import weakref

import numpy as np
import pytest

import pykernels as pk
from op_families import CASES
from pykernels import _backends

CALLS = {"cpu": 10_000, "cuda-emu": 400}
SHAPES = {"cpu": (32, 32), "cuda-emu": (8, 32)}  # (rows, cols) of the case inputs
# Growth allowed after the warm-up. Measured (glibc 2.36): RSS 0 to 0.3 MiB,
# malloc'ed bytes 0 to 1.6 KiB, Python blocks and gc objects under 10.
MAX_RSS_GROWTH = 3 << 20  # bytes
MAX_MALLOC_GROWTH = 64 << 10  # bytes: 6 bytes a call over 10,000 calls
MAX_BLOCKS_GROWTH = 200  # blocks of Python's small-object allocator (sys.getallocatedblocks)
MAX_GC_GROWTH = 50  # container objects tracked by the garbage collector
KW = {"cpu": {}, "cuda-emu": {"device": "cuda-emu"}}

_PAGE = os.sysconf("SC_PAGE_SIZE")


try:
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):  # not glibc
    _malloc_trim = None


def rss() -> int:
    """Resident set size of this process in bytes (Linux /proc/self/statm),
    after collecting garbage and handing free heap memory back to the system
    (otherwise memory freed by earlier tests could absorb a leak unseen)."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _arrays(obj):
    """Every NumPy array in a nested result (skipping floats, None...)."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _arrays(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _arrays(v)


def _refcounts(inputs):
    """sys.getrefcount of every input array and list, by name."""
    counts = {}
    for name, v in inputs.items():
        counts[name] = sys.getrefcount(v)
        if isinstance(v, list):
            for i, a in enumerate(v):
                counts[f"{name}[{i}]"] = sys.getrefcount(a)
    return counts


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


try:
    _mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2  # glibc 2.33+
    _mallinfo2.restype = _MallInfo2
except (OSError, AttributeError):
    _mallinfo2 = None


def malloc_in_use():
    """Bytes the C allocator has handed out and not had back (heap chunks in
    use plus mmapped chunks): C++ objects, NumPy data. None if not glibc."""
    if _mallinfo2 is None:
        return None
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


def memory():
    """(RSS, malloc bytes in use, Python allocator blocks, gc-tracked objects)."""
    resident = rss()
    return resident, malloc_in_use(), sys.getallocatedblocks(), len(gc.get_objects())


def check_no_leak(call, calls, inputs, what):
    """Runs call() ``calls`` times after a warm-up, then checks, reporting every
    failure at once: the inputs' reference counts are unchanged; the last
    call's result arrays are freed when dropped; and memory is flat: RSS (within
    MAX_RSS_GROWTH), bytes in use by malloc, blocks of Python's allocator and
    gc-tracked objects (the last three byte- or object-exact, so a leak of a
    few bytes or one object per call shows). Returns the four growths."""
    warmup = max(calls // 20, 20)
    for _ in range(warmup):
        call()
    refs_before = _refcounts(inputs)
    before = memory()
    for _ in range(calls - 1):
        call()
    result = call()
    own = {id(a) for a in _arrays(inputs)}  # in-place results (e.g. matmul's out) stay alive
    alive = [weakref.ref(a) for a in _arrays(result) if id(a) not in own]
    del result
    after = memory()
    refs_after = _refcounts(inputs)
    growth = tuple(None if b is None else a - b for a, b in zip(after, before))
    failures = []
    changed = {k: (refs_before[k], refs_after[k]) for k in refs_before if refs_before[k] != refs_after[k]}
    if changed:
        failures.append(f"reference counts of inputs changed (before, after): {changed}")
    kept = sum(r() is not None for r in alive)
    if kept:
        failures.append(f"{kept} result arrays are still referenced after being dropped")
    rss_growth, malloc_growth, blocks_growth, objects_growth = growth
    if rss_growth > MAX_RSS_GROWTH:
        failures.append(f"RSS grew by {rss_growth / 2**20:.2f} MiB")
    if malloc_growth is not None and malloc_growth > MAX_MALLOC_GROWTH:
        failures.append(f"malloc'ed memory in use grew by {malloc_growth} bytes")
    if blocks_growth > MAX_BLOCKS_GROWTH:
        failures.append(f"{blocks_growth} more blocks allocated by Python")
    if objects_growth > MAX_GC_GROWTH:
        failures.append(f"{objects_growth} more gc-tracked objects")
    assert not failures, f"{what}, after {calls} calls: " + "; ".join(failures)
    return growth


@pytest.fixture(autouse=True)
def _one_thread():
    pk.set_num_threads(1)  # restored by conftest's _restore_threads


@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_op_family_does_not_leak(case, device):
    rows, cols = SHAPES[device]
    inputs = case.make(np.random.default_rng(7), rows, cols, np.float32)
    kw = KW[device]
    check_no_leak(lambda: case.run(inputs, kw), CALLS[device], inputs, f"{case.name} on {device}")


# ---------------------------------------------------------------- error paths
#
# Calls that raise inside the C++ binding: after the arguments were converted
# (views taken, lists walked), so every early exit must release what it took.

F32 = np.ones((32, 32), np.float32)
F64 = np.ones((32, 32), np.float64)
OUT = np.empty((32, 32), np.float32)
LOGITS = np.zeros((8, 32), np.float32)
BAD_LABELS = np.full(8, 40, np.int64)  # out of range [0, 32): found while computing
PARAMS = [np.ones(100, np.float32), np.ones((4, 25), np.float32)]
GRADS_BAD = [np.ones(100, np.float32), np.ones((5, 20), np.float32)]  # second has the wrong shape
ERR_INPUTS = {"F32": F32, "F64": F64, "OUT": OUT, "LOGITS": LOGITS, "BAD_LABELS": BAD_LABELS,
              "PARAMS": PARAMS, "GRADS_BAD": GRADS_BAD}


def _binding_errors(device):
    mod = _backends.module(device)
    extra = {"stream": 0} if device == "cuda-emu" else {}
    kw = KW[device]

    def call():
        raised = 0
        try:  # dtype mismatch: TypeError after both views were made
            mod.matmul(F32, F64, OUT, False, False, 1.0, 0.0, **extra)
        except TypeError:
            raised += 1
        try:  # shape mismatch: ValueError from the checks
            mod.matmul(F32, F32[:5], OUT, False, False, 1.0, 0.0, **extra)
        except ValueError:
            raised += 1
        try:  # a bad class label: ValueError found by the kernel (on the device for cuda-emu)
            pk.ops.cross_entropy(LOGITS, BAD_LABELS, **kw)
        except ValueError:
            raised += 1
        try:  # a list whose second element is bad: raised while walking the lists
            pk.ops.adam_step(PARAMS, GRADS_BAD, [p.copy() for p in PARAMS],
                             [p.copy() for p in PARAMS], step=1, lr=0.1, **kw)
        except ValueError:
            raised += 1
        try:  # a non-array where an array is expected
            mod.softmax([[1.0]], OUT, False, **extra)
        except TypeError:
            raised += 1
        assert raised == 5
        return None

    return call


@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
def test_errors_raised_in_bindings_do_not_leak(device):
    calls = CALLS[device] if device == "cpu" else 1000
    check_no_leak(_binding_errors(device), calls, ERR_INPUTS, f"binding errors on {device}")


# ---------------------------------------------------------------- the checker itself

LEAKED = []


def test_checker_sees_memory_growth():
    def leaky():
        LEAKED.append(np.ones(2048, np.float32))  # 8 KiB per call, never freed
    try:
        with pytest.raises(AssertionError, match="RSS grew.*malloc.*more blocks"):
            check_no_leak(leaky, 5000, {}, "leaky")
    finally:
        LEAKED.clear()


@pytest.mark.skipif(_mallinfo2 is None, reason="malloc statistics need glibc 2.33 or later")
def test_checker_sees_small_c_leaks():
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    pointers = []
    try:
        with pytest.raises(AssertionError, match="malloc'ed memory in use grew"):
            check_no_leak(lambda: pointers.append(libc.malloc(24)), 10_000, {}, "leaky")
    finally:
        libc.free.argtypes = [ctypes.c_void_p]
        for ptr in pointers:
            libc.free(ptr)


def test_checker_sees_python_object_leaks():
    try:
        with pytest.raises(AssertionError, match="more blocks allocated by Python"):
            check_no_leak(lambda: LEAKED.append(float(len(LEAKED)) + 0.5), 10_000, {}, "leaky")
    finally:
        LEAKED.clear()


def test_checker_sees_input_reference_leaks():
    x = np.ones(4, np.float32)
    try:
        with pytest.raises(AssertionError, match="reference counts of inputs changed"):
            check_no_leak(lambda: LEAKED.append(x), 100, {"x": x}, "leaky")
    finally:
        LEAKED.clear()


def test_checker_sees_results_kept_alive():
    def keeps_result():
        y = np.ones(4, np.float32)
        LEAKED.append(y)
        return (y,)
    try:
        with pytest.raises(AssertionError, match="still referenced"):
            check_no_leak(keeps_result, 100, {}, "leaky")
    finally:
        LEAKED.clear()
