"""The SIMT emulator (cuda/simt/) runs CUDA kernels on the CPU with CUDA's
execution model: threads of a block interleave at barriers, warps exchange
values through shuffles, blocks run in parallel with private shared memory."""

import numpy as np
import pytest

from pykernels import _simt_test as simt


@pytest.fixture
def two_os_threads():
    before = simt.get_num_threads()
    simt.set_num_threads(2)
    yield
    simt.set_num_threads(before)


def test_block_reduction_needs_its_barriers():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 100, size=8 * 256).astype(np.float32)
    expected = x.reshape(8, 256).sum(axis=1)

    np.testing.assert_array_equal(simt.block_reduce(x, True), expected)
    # Without __syncthreads each thread would run its whole loop before the
    # next starts, reading partial sums nobody has written yet.
    assert np.any(simt.block_reduce(x, False) != expected)


# CUDA's documented shuffle semantics, lane by lane, for one warp of 32.
def reference_source(op, lane, arg, width):
    segment = lane // width * width
    if op == simt.SHFL:
        return segment + arg % width
    if op == simt.SHFL_UP:
        return lane - arg if lane - segment >= arg else lane
    if op == simt.SHFL_DOWN:
        return lane + arg if lane - segment + arg < width else lane
    if op == simt.SHFL_XOR:
        src = lane ^ arg
        return lane if src // width > lane // width else src  # no later segments
    raise ValueError(op)


def reference_shuffle(op, values, arg, width):
    out = values.copy()
    for i in range(len(values)):
        warp = i // 32 * 32
        src = warp + reference_source(op, i - warp, arg, width)
        # A lane beyond the end of the block does not exist: own value.
        out[i] = values[src] if src < len(values) else values[i]
    return out


SHUFFLE_CASES = [
    (simt.SHFL, [0, 3, 7, 9, 31, 33, -1]),
    (simt.SHFL_UP, [0, 1, 2, 5, 8, 16, 31]),
    (simt.SHFL_DOWN, [0, 1, 2, 5, 8, 16, 31]),
    (simt.SHFL_XOR, [1, 2, 4, 5, 8, 16, 31]),
]


@pytest.mark.parametrize("width", [32, 8])
@pytest.mark.parametrize("op,args", SHUFFLE_CASES, ids=["idx", "up", "down", "xor"])
@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.float64, np.int64])
def test_shuffles_exchange_cuda_lanes(op, args, width, dtype):
    values = (np.arange(64) * 3 + 1).astype(dtype)
    if dtype == np.int64:
        values += 1 << 40  # all 8 bytes must travel
    if dtype == np.float64:
        values += 0.125
    for arg in args:
        got = simt.shuffle(op, values, arg, width)
        np.testing.assert_array_equal(got, reference_shuffle(op, values, arg, width),
                                      err_msg=f"op {op} arg {arg} width {width}")


def test_shuffle_in_partial_warp():
    values = np.arange(40, dtype=np.int32) * 7
    for op, args in SHUFFLE_CASES:
        for arg in args:
            np.testing.assert_array_equal(simt.shuffle(op, values, arg, 32),
                                          reference_shuffle(op, values, arg, 32))


def test_ballot():
    rng = np.random.default_rng(1)
    predicates = rng.integers(0, 2, size=64).astype(np.int64)
    got = simt.shuffle(simt.BALLOT, predicates)
    for warp in range(2):
        bits = predicates[warp * 32:(warp + 1) * 32]
        expected = sum(int(b) << lane for lane, b in enumerate(bits))
        assert np.all(got[warp * 32:(warp + 1) * 32] == expected)


def test_shared_memory_is_private_to_each_block(two_os_threads):
    errors, os_threads = simt.shared_isolation(256)
    assert np.all(errors == 0)
    assert len(set(os_threads.tolist())) > 1  # blocks really ran concurrently


def test_blocks_run_on_several_os_threads(two_os_threads):
    os_threads = simt.record_os_threads(32)
    assert set(os_threads.tolist()) == {0, 1}


def test_atomics_across_blocks(two_os_threads):
    blocks, threads = 64, 256
    n = blocks * threads
    r = simt.atomics(blocks, threads)
    assert r["fsum"] == float(n)
    assert r["dsum"] == n / 2
    assert r["isum"] == n
    assert r["usum"] == n
    assert r["imax"] == n - 1
    assert r["umax"] == 3 * (n - 1)
    assert r["imin"] == -(n - 1)


def test_syncthreads_reductions_and_returned_threads():
    assert simt.syncthreads_reductions(256, 3, 256) == (86, 0, 1)
    assert simt.syncthreads_reductions(256, 1, 256) == (256, 1, 1)
    # Threads that returned do not hold the barrier back.
    assert simt.syncthreads_reductions(256, 3, 100) == (34, 0, 1)
    assert simt.syncthreads_reductions(64, 1, 17) == (17, 1, 1)
    assert simt.syncthreads_reductions(1024, 7, 1024) == (147, 0, 1)


def test_thread_and_block_coordinates():
    gx, gy, bx, by, bz = 3, 2, 4, 3, 2
    got = simt.coordinates(gx, gy, bx, by, bz).reshape(gy, gx, bz, by, bx)
    for yb in range(gy):
        for xb in range(gx):
            for z in range(bz):
                for y in range(by):
                    for x in range(bx):
                        expected = x + 100 * y + 10000 * z + 1000000 * xb + 100000000 * yb
                        assert got[yb, xb, z, y, x] == expected


def test_dynamic_shared_memory_is_poisoned():
    floats, ints = simt.read_uninitialised(64)
    assert np.all(np.isnan(floats))
    assert np.all(ints == -1)


@pytest.mark.parametrize("which,message", [
    (0, r"block \(1025,1,1\).*at most 1024 threads per block"),
    (4, "at most 227 KiB of dynamic shared memory"),
])
def test_invalid_launch_configuration_raises(which, message):
    with pytest.raises(RuntimeError, match=message):
        simt.failing_launch(which)


@pytest.mark.parametrize("which,message", [
    (1, "deadlock"),
    (2, "__trap"),
    (3, "inconsistent warp-level operation"),
])
def test_broken_kernels_raise_instead_of_hanging(two_os_threads, which, message):
    with pytest.raises(RuntimeError, match=message):
        simt.failing_launch(which)
    # The emulator is still usable afterwards.
    x = np.ones(4 * 256, dtype=np.float32)
    np.testing.assert_array_equal(simt.block_reduce(x, True), np.full(4, 256.0))
