"""The host block cache of pykernels.memory: large CPU results reuse the blocks
of results that died, and every kernel writes all of a reused (dirty) block."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import pykernels as pk
from pykernels.memory import MIN_CACHED_BYTES, host_empty

from conftest import assert_close
from op_families import CASES, copy_inputs, first_difference, fingerprint
from reference import activation as act_ref
from reference import softmax as softmax_ref

# Families whose results are scalars or updated inputs (no large result of their own).
IN_PLACE = {"sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "global_norm_clip"}
BIG = MIN_CACHED_BYTES // 4 + 1024  # float32 elements just over the threshold


@pytest.fixture
def cache():
    """A cache with the default limit, emptied before and after the test."""
    info = pk.memory.cache_info()
    pk.memory.empty_cache()
    yield pk.memory
    pk.memory.set_cache_limit(info["limit_bytes"])
    pk.memory.empty_cache()


def _address(a):
    return a.__array_interface__["data"][0]


def test_small_results_are_plain_numpy_arrays(cache):
    before = cache.cache_info()
    a = host_empty((3, 5), np.float32)
    assert type(a) is np.ndarray and a.base is None and a.shape == (3, 5)
    assert host_empty(7, "float64").shape == (7,)
    assert host_empty([2, 0], np.float32).shape == (2, 0)
    assert cache.cache_info()["misses"] == before["misses"]


def test_large_result_is_reused_after_it_dies(cache):
    before = cache.cache_info()
    a = host_empty((BIG,), np.float32)
    assert type(a) is np.ndarray and a.flags.c_contiguous and a.flags.writeable
    assert a.dtype == np.float32 and a.shape == (BIG,)
    assert _address(a) % (2 << 20) == 0  # huge-page aligned
    a[:] = 1.0
    address = _address(a)
    del a
    info = cache.cache_info()
    assert info["cached_blocks"] == 1 and info["cached_bytes"] >= BIG * 4
    b = host_empty((BIG // 2 - 1, 2), np.float32)  # a little smaller: same block
    assert _address(b) == address
    info = cache.cache_info()
    assert (info["hits"] - before["hits"], info["misses"] - before["misses"],
            info["cached_blocks"]) == (1, 1, 0)


def test_much_smaller_request_does_not_take_a_large_block(cache):
    a = host_empty((16 * BIG,), np.float32)
    del a
    b = host_empty((BIG,), np.float32)
    assert cache.cache_info()["cached_blocks"] == 1  # the big block stays cached
    del b


def test_views_keep_the_block(cache):
    a = host_empty((BIG,), np.float32)
    view = a[10:20]
    view[:] = 3.0
    del a
    gc.collect()
    assert cache.cache_info()["cached_blocks"] == 0
    c = host_empty((BIG,), np.float32)  # must not be handed view's memory
    c[:] = 0.0
    assert np.all(view == 3.0)
    del view, c
    assert cache.cache_info()["cached_blocks"] == 2


def test_limit_and_empty_cache(cache):
    cache.set_cache_limit(0)
    a = host_empty((BIG,), np.float32)
    del a
    assert cache.cache_info()["cached_blocks"] == 0
    cache.set_cache_limit(3 * BIG * 4 + (8 << 20))
    blocks = [host_empty((BIG,), np.float32) for _ in range(5)]
    del blocks
    info = cache.cache_info()
    assert 0 < info["cached_bytes"] <= info["limit_bytes"]
    cache.empty_cache()
    assert cache.cache_info()["cached_bytes"] == 0
    with pytest.raises(ValueError, match="'bytes'"):
        cache.set_cache_limit(-1)


def test_bad_shapes_raise(cache):
    with pytest.raises(ValueError):
        host_empty((-1, BIG), np.float32)
    cpu = pk._backends.module("cpu")
    with pytest.raises(ValueError, match="'shape'"):
        cpu.cached_empty((BIG, -2), np.dtype(np.float32))
    with pytest.raises(ValueError, match="'shape'"):
        cpu.cached_empty((1 << 40, 1 << 40), np.dtype(np.float32))
    assert cpu.cached_empty((0, BIG), np.dtype(np.float32)).shape == (0, BIG)


def test_threads_allocating_and_freeing_together(cache):
    errors = []
    before = cache.cache_info()

    def work(k):
        try:
            for i in range(40):
                a = host_empty((BIG + 1000 * (i % 3),), np.float32)
                a[::4096] = k
                if not np.all(a[::4096] == k):
                    errors.append(k)
                del a
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    info = cache.cache_info()
    hits, misses = info["hits"] - before["hits"], info["misses"] - before["misses"]
    assert hits + misses == 8 * 40 and hits > 0


def test_limit_from_the_environment(tmp_path):
    code = "import pykernels as pk; print(pk.memory.cache_info()['limit_bytes'])"
    env = dict(os.environ, PYKERNELS_HOST_CACHE_MB="3")
    # run outside the source tree, whose pykernels/ has no compiled modules
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert int(out) == 3 << 20


def _poison(n_bytes):
    """Leaves cached blocks full of NaN, so the next results are made from them."""
    blocks = [host_empty((n_bytes // 4,), np.float32) for _ in range(3)]
    for b in blocks:
        b.fill(np.nan)
    del blocks


@pytest.mark.parametrize("device", ["cpu", "cuda-emu"])
def test_ops_overwrite_every_element_of_a_reused_block(cache, rng, device):
    """Fresh pages from the OS are zero; blocks from the cache are not. Every
    result must be fully written by its kernel."""
    rows, cols = (1031, 1021) if device == "cpu" else (257, 4099)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    g = rng.standard_normal((rows, cols)).astype(np.float32)
    kw = {"device": device}

    before = cache.cache_info()
    _poison(x.nbytes)
    y = pk.ops.activation("gelu", x, **kw)
    assert_close(y, act_ref.forward("gelu", x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    gx = pk.ops.activation_backward("silu", g, x, **kw)
    expected = g.astype(np.float64) * act_ref.derivative("silu", x.astype(np.float64))
    assert_close(gx, expected, rtol=1e-5, atol=1e-5)

    _poison(x.nbytes)
    s = pk.ops.softmax(x, **kw)
    assert_close(s, softmax_ref.softmax(x.astype(np.float64)), rtol=1e-5, atol=1e-7)

    _poison(x.nbytes)
    y, mask = pk.ops.dropout(x, 0.25, seed=7, **kw)
    keep = mask.astype(bool)
    assert_close(y[keep], x[keep] / 0.75, rtol=1e-6, atol=0)
    assert np.all(y[~keep] == 0) and 0.7 < keep.mean() < 0.8

    _poison(x.nbytes)
    if device == "cpu":
        a = rng.standard_normal((rows, 129)).astype(np.float32)
        b = rng.standard_normal((129, cols)).astype(np.float32)
        c = pk.ops.matmul(a, b, **kw)
        assert_close(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    assert cache.cache_info()["hits"] >= before["hits"] + 8


def _arrays(obj):
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _arrays(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _arrays(o)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_op_family_same_bits_on_reused_dirty_blocks(cache, case):
    """Run each op family at sizes whose results come from the cache, fill those
    results with NaN and drop them (their blocks go back dirty), run again on
    the same inputs: the bits must not change."""
    inputs = case.make(np.random.default_rng(7), 1031, 1031, np.float32)
    first_inputs = copy_inputs(inputs)
    results = case.run(first_inputs, {})
    expected = fingerprint((results, first_inputs))
    assert any(a.nbytes >= MIN_CACHED_BYTES for a in _arrays(results)) or case.name in IN_PLACE
    for a in _arrays(results):
        if a.flags.writeable and a.dtype.kind == "f":
            a.fill(np.nan)
        elif a.flags.writeable:
            a.fill(0xA5)
    del results, first_inputs
    before = cache.cache_info()
    again = copy_inputs(inputs)
    got = fingerprint((case.run(again, {}), again))
    assert got == expected, first_difference(got, expected)
    if case.name not in IN_PLACE:
        assert cache.cache_info()["hits"] > before["hits"]
