"""Ops called from several Python threads at once: the same bits as one call
after another (every op family, cpu and cuda-emu, kernels using OpenMP inside
each call), the GIL released while kernels run (two long kernels overlap in
time), pk.set_num_threads being process-wide and safe to change while other
threads compute, and tensor lists emptied by another thread while a kernel
still reads them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import pykernels as pk
from op_families import CASES, copy_inputs, first_difference, fingerprint

THREADS = 8
KW = {"cpu": {}, "cuda-emu": {"device": "cuda-emu"}}
# (rows, cols): on cpu large enough that several kernels split work over
# OpenMP threads inside each call; the emulator is about 100x slower.
SHAPES = {"cpu": (192, 160), "cuda-emu": (8, 40)}


def _run_all(inputs_by_case, kw):
    """Every case on fresh copies of its inputs: results and updated inputs."""
    out = {}
    for case in CASES:
        fresh = copy_inputs(inputs_by_case[case.name])
        out[case.name] = fingerprint((case.run(fresh, kw), fresh))
    return out


def _run_threads(target, n):
    """Runs target(i) on n threads started together; re-raises the first error."""
    barrier = threading.Barrier(n)
    errors = []

    def body(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread did not finish (deadlock?)"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("omp_threads", [1, 2])
@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
def test_concurrent_calls_match_sequential(device, omp_threads):
    pk.set_num_threads(omp_threads)
    rows, cols = SHAPES[device]
    kw = KW[device]
    # A different problem per thread (seed, dtype, size), so results cannot be
    # right by reading another thread's arrays.
    problems = []
    for i in range(THREADS):
        rng = np.random.default_rng(100 + i)
        dtype = np.float64 if i % 2 else np.float32
        problems.append({c.name: c.make(rng, rows + i, cols, dtype) for c in CASES})
    expected = [_run_all(p, kw) for p in problems]
    got = [None] * THREADS
    rounds = 2 if device == "cpu" else 1

    def work(i):
        for _ in range(rounds):
            got[i] = _run_all(problems[i], kw)

    _run_threads(work, THREADS)
    for i in range(THREADS):
        for case in CASES:
            a, b = got[i][case.name], expected[i][case.name]
            assert a == b, (f"thread {i}, {case.name} on {device}: concurrent result differs from "
                            f"the sequential one: {first_difference(a, b)}")


def _long_kernel(device):
    """A call taking 0.1 to 0.3 s of CPU on one core."""
    if device == "cpu":
        a = np.random.default_rng(0).standard_normal((2400, 2400)).astype(np.float32)
        return lambda: pk.ops.matmul(a, a)
    x = np.random.default_rng(0).standard_normal(8_000_000).astype(np.float32)
    return lambda: pk.ops.activation("gelu", x, device="cuda-emu")


@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
def test_kernels_release_the_gil(device):
    """Two threads each run one long kernel (one kernel thread each) while the
    main thread samples, every millisecond, the wall clock and the CPU clock of
    each of the two threads (the kernel runs on the calling thread).

    Taking a sample needs the GIL. Were it held by a kernel, no sample could
    be taken while that kernel runs, so no interval between two samples could
    be shorter than a whole kernel and still show kernel CPU time. Short
    stretches of samples (shorter than a kernel) in which both threads' CPU
    clocks advance show the two kernels running at the same time, with the
    GIL free. This holds on a busy machine too (the kernels then share cores
    with other processes), where a speedup would not show. The intervals taken
    around the calls must overlap as well (necessary, not sufficient: with
    the GIL held, a thread waiting for it after its kernel returned is still
    inside its interval)."""
    pk.set_num_threads(1)
    call = _long_kernel(device)
    c0 = time.thread_time()
    call()
    solo_cpu = time.thread_time() - c0
    done = [threading.Event(), threading.Event()]
    release = threading.Event()
    intervals = [None, None]
    barrier = threading.Barrier(3)

    def work(i):
        try:
            barrier.wait()
            t0 = time.perf_counter()
            call()
            intervals[i] = (t0, time.perf_counter())
        finally:
            done[i].set()
        release.wait(60)  # keep the thread (and its CPU clock) alive until sampling ends

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    clocks = [time.pthread_getcpuclockid(t.ident) for t in threads]
    barrier.wait()
    samples = []
    try:
        deadline = time.perf_counter() + 120
        while not all(d.is_set() for d in done) and time.perf_counter() < deadline:
            samples.append((time.perf_counter(), *(time.clock_gettime(c) for c in clocks)))
            time.sleep(0.001)
        samples.append((time.perf_counter(), *(time.clock_gettime(c) for c in clocks)))
    finally:
        release.set()
        for t in threads:
            t.join(60)
    # Blocks of consecutive samples spanning less than a kernel's wall time
    # (which is at least its CPU time): CPU time gained inside a block was
    # gained while samples were being taken, i.e. without the GIL.
    window = 0.25 * solo_cpu
    blocks = {}
    for w, a, b in samples:
        blocks.setdefault(int((w - samples[0][0]) / window), []).append((a, b))
    both = sum(min(blk[-1][0] - blk[0][0], blk[-1][1] - blk[0][1]) for blk in blocks.values())
    assert None not in intervals, "a kernel call failed or did not finish"
    (s0, e0), (s1, e1) = intervals
    overlap = min(e0, e1) - max(s0, s1)
    print(f"\n{device}: solo kernel {solo_cpu:.3f} s CPU; {len(samples)} samples; both kernels "
          f"progressing together for {both:.3f} s of CPU each in {window * 1e3:.0f} ms blocks; "
          f"calls [{0:.3f}, {e0 - s0:.3f}] and [{s1 - s0:.3f}, {e1 - s0:.3f}] s overlap {overlap:.3f} s")
    assert solo_cpu > 0.05, "the kernel is too short to show anything"
    assert overlap > 0, "the two calls did not overlap in time"
    assert both >= 0.2 * solo_cpu, (
        f"the two kernels never ran at the same time (only {both:.4f} s of CPU in common "
        f"windows): is the GIL held while they run?")


def test_set_num_threads_is_process_wide():
    pk.set_num_threads(1)
    seen = []
    t = threading.Thread(target=lambda: seen.append(pk.get_num_threads()))
    t.start()
    t.join()
    assert seen == [1]

    def set_two():
        pk.set_num_threads(2)

    t = threading.Thread(target=set_two)
    t.start()
    t.join()
    assert pk.get_num_threads() == 2
    assert pk.backends()["cpu"]["threads"] == 2


@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
def test_changing_thread_count_while_other_threads_compute(device):
    """One thread flips pk.set_num_threads between 1, 2 and 3 while four others
    run kernels that use OpenMP (or the emulator's block pool): results stay
    exact (they do not depend on the thread count) and nothing crashes."""
    rows, cols = SHAPES[device]
    kw = KW[device]
    names = ["matmul", "softmax", "cross_entropy", "adam_step", "batch_norm_train",
             "global_norm_clip", "activation_forward"]
    problems = [{n: next(c for c in CASES if c.name == n).make(np.random.default_rng(i), rows, cols,
                                                              np.float32) for n in names}
                for i in range(4)]
    by_name = {c.name: c for c in CASES}

    def run(p):
        out = {}
        for n in names:
            fresh = copy_inputs(p[n])
            out[n] = fingerprint((by_name[n].run(fresh, kw), fresh))
        return out

    pk.set_num_threads(2)
    expected = [run(p) for p in problems]
    stop = threading.Event()
    got = [None] * 4
    finished = []

    def work(i):
        if i == 4:
            k = 0
            while not stop.is_set():
                pk.set_num_threads(1 + k % 3)
                k += 1
                time.sleep(0.0005)
            return
        try:
            for _ in range(3 if device == "cpu" else 1):
                got[i] = run(problems[i])
        finally:
            finished.append(i)  # list.append is atomic
            if len(finished) == 4:
                stop.set()

    _run_threads(work, 5)
    for i in range(4):
        for n in names:
            assert got[i][n] == expected[i][n], f"{n}: {first_difference(got[i][n], expected[i][n])}"


EMPTIED_LIST = """
import sys, threading, time, weakref
import numpy as np
import pykernels as pk
pk.set_num_threads(1)
device = sys.argv[1]
kw = {} if device == "cpu" else {"device": device}
n = 4_000_000 if device == "cpu" else 400_000
lists = [[np.full(n, 1.0, np.float32)] for _ in range(4)]
refs = [weakref.ref(l[0]) for l in lists]
pk.ops.adam_step(*lists, step=1, lr=0.1, **kw)
t0 = time.perf_counter(); pk.ops.adam_step(*lists, step=1, lr=0.1, **kw)
step = time.perf_counter() - t0
started = threading.Event()
def work():
    started.set()
    pk.ops.adam_step(*lists, step=2, lr=0.1, **kw)
th = threading.Thread(target=work)
th.start()
started.wait()
time.sleep(step / 4)
for l in lists:
    l.clear()  # the only references to the arrays, while the kernel may still read them
junk = [np.full(n, 7.0, np.float32) for _ in range(4)]  # reuse the freed memory
th.join()
assert all(r() is None for r in refs), "arrays kept alive after the call"
print("ok", round(step, 3))
"""


@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
def test_list_emptied_by_another_thread_during_a_step(device, tmp_path):
    """The multi-tensor bindings keep a reference to every array of their
    lists while the kernel runs without the GIL: another thread emptying the
    list meanwhile used to free the arrays under the kernel (a segfault)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(EMPTIED_LIST), device],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, (f"exit status {proc.returncode}\nstdout: {proc.stdout}\n"
                                  f"stderr: {proc.stderr[-2000:]}")
    assert proc.stdout.startswith("ok")
