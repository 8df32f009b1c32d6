"""pk.ops.dropout, dropout_backward, dropout_mask and the Philox4x32-10
generator behind them, against the pure-Python Philox of
tests/reference/philox.py (written from the paper) and Random123's
known-answer vectors."""

import math

import numpy as np
import pytest

import pykernels as pk
from conftest import assert_close
from pykernels import _backends
from reference import philox as ref

DTYPES = [np.float32, np.float64]
SHAPES = [(1,), (3,), (4,), (5,), (7, 13), (2, 3, 5, 7), (1031,), (64, 65)]
U64 = (1 << 64) - 1


# ---------------------------------------------------------------- the generator

@pytest.mark.parametrize("counter,key,expected", ref.KAT_VECTORS)
def test_reference_philox_known_answers(counter, key, expected):
    assert ref.philox4x32_10(counter, key) == expected


@pytest.mark.parametrize("counter,key,expected", ref.KAT_VECTORS)
def test_philox_known_answers(counter, key, expected):
    """csrc/common/philox.h through the test hook of the _cpu module."""
    got = _backends.module("cpu").philox4x32_10(list(counter), list(key))
    assert tuple(got) == expected, [hex(v) for v in got]


def test_reference_vectorised_philox_matches_scalar():
    rng = np.random.default_rng(3)
    for _ in range(5):
        seed = int(rng.integers(0, 1 << 63)) * 2 + 1
        offset = int(rng.integers(0, 1 << 63)) * 2
        blocks = ref._philox_blocks(3, seed, offset)
        for j in range(3):
            b = (offset + j) & U64
            assert tuple(int(v) for v in blocks[j]) == ref.philox4x32_10(
                (b & 0xFFFFFFFF, b >> 32, 0, 0), (seed & 0xFFFFFFFF, seed >> 32))


# ---------------------------------------------------------------- masks

SEED_OFFSETS = [(0, 0), (1, 0), (20261122, 7), ((1 << 40) + 3, 0xFFFFFFFF), (U64, U64 - 1),
                (0xDEADBEEFCAFEF00D, 123456789)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("seed,offset", SEED_OFFSETS)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.875])
def test_mask_matches_reference(backend, shape, seed, offset, p):
    """The 2**32 and 2**64 offsets check that the 64-bit counter carries into
    word 1 and wraps as documented."""
    mask = pk.ops.dropout_mask(shape, p, seed=seed, offset=offset, device=backend.name)
    got = backend.get(mask)
    assert got.dtype == np.uint8 and got.shape == shape
    np.testing.assert_array_equal(got, ref.dropout_mask(shape, p, seed, offset))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.99])
def test_dropout_matches_reference(backend, rng, dtype, shape, p):
    x = rng.standard_normal(shape).astype(dtype)
    y, mask = pk.ops.dropout(backend.put(x), p, seed=1234, offset=5, **backend.kw)
    ey, emask = ref.dropout(x, p, 1234, 5)
    np.testing.assert_array_equal(backend.get(mask), emask)
    got = backend.get(y)
    assert got.dtype == dtype
    assert_close(got, ey, rtol=2 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_array_equal(got == 0, (emask == 0) | (x == 0))


def test_mask_equals_dropout_mask(backend, rng):
    x = rng.standard_normal((33, 17)).astype(np.float32)
    _, mask = pk.ops.dropout(backend.put(x), 0.4, seed=99, offset=3, **backend.kw)
    np.testing.assert_array_equal(
        backend.get(mask), backend.get(pk.ops.dropout_mask(x.shape, 0.4, seed=99, offset=3,
                                                           device=backend.name)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_fraction(backend, p):
    """Kept fraction within 5 sigma of 1 - p; each of the 4 Philox words, too."""
    n = 1 << 18
    mask = backend.get(pk.ops.dropout_mask((n,), p, seed=777, device=backend.name))
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(mask.mean() - (1 - p)) < 5 * sigma
    for word in range(4):
        assert abs(mask[word::4].mean() - (1 - p)) < 5 * 2 * sigma


def test_neighbouring_elements_are_uncorrelated(backend):
    n = 1 << 18
    m = backend.get(pk.ops.dropout_mask((n,), 0.5, seed=5, device=backend.name)).astype(np.float64)
    for lag in (1, 2, 3, 4, 5):
        corr = np.corrcoef(m[:-lag], m[lag:])[0, 1]
        assert abs(corr) < 5 / math.sqrt(n)


def test_same_seed_offset_same_mask_different_otherwise(backend):
    def mask(seed, offset, shape=(1000,)):
        return backend.get(pk.ops.dropout_mask(shape, 0.5, seed=seed, offset=offset,
                                               device=backend.name))
    np.testing.assert_array_equal(mask(11, 0), mask(11, 0))
    assert (mask(11, 0) != mask(11, 250)).mean() > 0.4  # disjoint counters
    assert (mask(11, 0) != mask(12, 0)).mean() > 0.4
    # offset counts 4-element blocks: offset k is the stream shifted by 4 k elements.
    np.testing.assert_array_equal(mask(11, 3)[:988], mask(11, 0)[12:1000])
    # the mask of an array is a function of the flat index only.
    np.testing.assert_array_equal(mask(11, 0, (10, 100)).reshape(-1), mask(11, 0))


def test_mask_does_not_depend_on_thread_count(backend):
    shape = (3, 100003)
    x = np.ones(shape, np.float32)
    results = []
    for threads in (1, 2):
        pk.set_num_threads(threads)
        y, mask = pk.ops.dropout(backend.put(x), 0.3, seed=42, offset=9, **backend.kw)
        results.append((backend.get(y), backend.get(mask)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_masks_identical_on_cpu_and_cuda_emu():
    for seed, offset in SEED_OFFSETS:
        for shape in [(1,), (7,), (5, 13), (3, 4, 1029)]:
            for p in (0.2, 0.5):
                cpu = pk.ops.dropout_mask(shape, p, seed=seed, offset=offset, device="cpu")
                emu = pk.ops.dropout_mask(shape, p, seed=seed, offset=offset, device="cuda-emu")
                np.testing.assert_array_equal(cpu, emu)


# ---------------------------------------------------------------- SIMD paths

SIMD_RANK = {"generic": 0, "avx2": 1, "avx512": 2}


@pytest.fixture
def simd_path(request):
    """Forces a CPU code path for one test (like PYKERNELS_SIMD), restoring it after."""
    cpu = _backends.module("cpu")
    before = cpu.simd_path()
    path = request.param
    if SIMD_RANK[path] > SIMD_RANK[cpu.best_simd_path()]:
        pytest.skip(f"this CPU has no {path}")
    cpu.set_simd_path(path)
    yield path
    cpu.set_simd_path(before)


# Sizes around the AVX2 (32) and AVX-512 (64) steps and the 32768-element
# ranges given to threads; offsets not multiples of 4, 8 or 16 blocks, one whose
# low counter word wraps inside a vector of the second range, one wrapping 2**64.
SIMD_SIZES = [1, 3, 5, 17, 31, 33, 63, 65, 127, 32771, 1000003]
SIMD_OFFSETS = [0, 1, 3, 6, (1 << 32) - 8192 - 5, U64 - 2]
SIMD_PS = [0.0, 0.3, 0.875, 1 - 2.0**-30]  # the last drops everything: threshold 2**24


def _simd_case(n, dtype, rng):
    """Normal values with infinities, NaN, signed zeros and a subnormal sprinkled in."""
    x = rng.standard_normal(n).astype(dtype)
    for j, v in enumerate([np.inf, -np.inf, np.nan, -0.0, 0.0, 1e-40, -3.0]):
        x[j::101] = v
    return x


@pytest.mark.parametrize("simd_path", ["avx512", "avx2", "generic"], indirect=True)
@pytest.mark.parametrize("n", SIMD_SIZES)
def test_simd_paths_match_scalar_formula(simd_path, rng, n):
    """Each forced path writes exactly the mask of the reference Philox and
    y = x * (mask ? scale : 0), grad_x alike, for float32 and float64."""
    cpu = _backends.module("cpu")
    for offset in SIMD_OFFSETS:
        seed = 0x9E3779B97F4A7C15 ^ offset
        for p in SIMD_PS:
            expected = ref.dropout_mask((n,), p, seed, offset)
            got = pk.ops.dropout_mask((n,), p, seed=seed, offset=offset)
            np.testing.assert_array_equal(got, expected, err_msg=f"{simd_path} {offset=} {p=}")
            for dtype in DTYPES:
                x = _simd_case(n, dtype, rng)
                scale = dtype(1 / (1 - p))
                with np.errstate(invalid="ignore"):  # inf * 0 = NaN, as the kernel does
                    ey = x * np.where(expected == 1, scale, dtype(0))
                y, mask = pk.ops.dropout(x, p, seed=seed, offset=offset)
                np.testing.assert_array_equal(mask, expected)
                np.testing.assert_array_equal(y, ey, err_msg=f"{simd_path} {dtype} {offset=} {p=}")
                gx = np.empty_like(x)
                cpu.dropout_backward(x, mask, gx, p)
                np.testing.assert_array_equal(gx, ey)


@pytest.mark.parametrize("simd_path", ["avx512", "avx2"], indirect=True)
def test_simd_paths_equal_generic_path_and_any_thread_count(simd_path, rng):
    """Large draws against the scalar loops themselves, 1 and 2 threads, and a
    backward mask with values other than 0 and 1 (any nonzero keeps)."""
    cpu = _backends.module("cpu")
    n = 3 * 65536 + 45
    x = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n)
    m = rng.integers(0, 4, n).astype(np.uint8)
    threads = pk.get_num_threads()
    got = []
    try:
        for path, t in [(simd_path, 1), (simd_path, 2), ("generic", 1)]:
            cpu.set_simd_path(path)
            pk.set_num_threads(t)
            y, mask = pk.ops.dropout(x, 0.4, seed=77, offset=(1 << 32) - 12345)
            gx = pk.ops.dropout_backward(g, m, 0.4)
            got.append((y, mask, gx))
    finally:
        pk.set_num_threads(threads)
    for y, mask, gx in got[:2]:
        np.testing.assert_array_equal(y, got[2][0])
        np.testing.assert_array_equal(mask, got[2][1])
        np.testing.assert_array_equal(gx, got[2][2])
    np.testing.assert_array_equal(got[2][2], g * np.where(m != 0, 1 / (1 - 0.4), 0.0))


@pytest.mark.parametrize("simd_path", ["avx512", "avx2", "generic"], indirect=True)
@pytest.mark.parametrize("dtype", DTYPES)
def test_simd_paths_any_alignment(simd_path, rng, dtype):
    """Outputs and masks starting at every offset within 64 bytes: the SIMD
    loops first step to an aligned address (whole Philox blocks only)."""
    cpu = _backends.module("cpu")
    n, p, seed, offset = 1000, 0.3, 4321, 7
    expected = ref.dropout_mask((n,), p, seed, offset)
    scale = dtype(1 / (1 - p))
    for k in range(16):
        x = np.empty(n + 16, dtype)[k:k + n]
        x[:] = rng.standard_normal(n)
        y = np.empty(n + 16, dtype)[15 - k:15 - k + n]
        mask = np.empty(n + 64, np.uint8)[3 * k:3 * k + n]
        cpu.dropout(x, y, mask, p, seed, offset)
        np.testing.assert_array_equal(mask, expected, err_msg=f"{simd_path} {k=}")
        np.testing.assert_array_equal(y, x * np.where(expected == 1, scale, dtype(0)))
        mask2 = np.empty(n + 64, np.uint8)[4 * k:4 * k + n]
        cpu.dropout_mask(mask2, p, seed, offset)
        np.testing.assert_array_equal(mask2, expected)
        gx = np.empty(n + 16, dtype)[k:k + n]
        cpu.dropout_backward(x, mask, gx, p)
        np.testing.assert_array_equal(gx, x * np.where(expected == 1, scale, dtype(0)))


# ---------------------------------------------------------------- semantics

@pytest.mark.parametrize("dtype", DTYPES)
def test_p_zero_is_identity(backend, rng, dtype):
    x = rng.standard_normal((17, 5)).astype(dtype)
    y, mask = pk.ops.dropout(backend.put(x), 0.0, seed=3, **backend.kw)
    np.testing.assert_array_equal(backend.get(y), x)
    assert (backend.get(mask) == 1).all()
    gx = pk.ops.dropout_backward(backend.put(x), mask, 0.0)
    np.testing.assert_array_equal(backend.get(gx), x)


def test_eval_is_identity(backend, rng):
    x = rng.standard_normal((6, 7)).astype(np.float32)
    y, mask = pk.ops.dropout(backend.put(x), 0.5, training=False, **backend.kw)
    assert mask is None
    np.testing.assert_array_equal(backend.get(y), x)
    g = rng.standard_normal((6, 7)).astype(np.float32)
    np.testing.assert_array_equal(backend.get(pk.ops.dropout_backward(backend.put(g), None, 0.5,
                                                                      **backend.kw)), g)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward(backend, rng, dtype):
    x = rng.standard_normal((9, 11)).astype(dtype)
    g = rng.standard_normal((9, 11)).astype(dtype)
    _, mask = pk.ops.dropout(backend.put(x), 0.25, seed=8, **backend.kw)
    gx = backend.get(pk.ops.dropout_backward(backend.put(g), mask, 0.25))
    assert gx.dtype == dtype
    assert_close(gx, g.astype(np.float64) * backend.get(mask) / 0.75,
                 rtol=2 * np.finfo(dtype).eps, atol=0)


def test_finite_difference_gradient(backend, rng):
    """float64: d sum(dropout(x) * r) / dx by central differences, fixed seed."""
    x = rng.standard_normal((3, 7))
    r = rng.standard_normal((3, 7))

    def loss(xv):
        y, _ = pk.ops.dropout(backend.put(xv), 0.4, seed=17, offset=2, **backend.kw)
        return float((backend.get(y) * r).sum())

    h = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        numeric[i] = (loss(xp) - loss(xm)) / (2 * h)
    _, mask = pk.ops.dropout(backend.put(x), 0.4, seed=17, offset=2, **backend.kw)
    gx = backend.get(pk.ops.dropout_backward(backend.put(r), mask, 0.4))
    assert_close(gx, numeric, rtol=1e-7, atol=1e-8)


def test_non_finite_values(backend):
    """Dropped inf becomes NaN (x * 0), kept inf stays inf: PyTorch's x * mask * scale."""
    x = np.full(64, np.inf, np.float32)
    y, mask = pk.ops.dropout(backend.put(x), 0.5, seed=1, **backend.kw)
    y, mask = backend.get(y), backend.get(mask)
    assert np.isinf(y[mask == 1]).all() and np.isnan(y[mask == 0]).all()
    assert 0 < mask.sum() < 64


def test_empty(backend):
    x = np.zeros((0, 5), np.float32)
    y, mask = pk.ops.dropout(backend.put(x), 0.5, seed=1, **backend.kw)
    assert backend.get(y).shape == (0, 5) and backend.get(mask).shape == (0, 5)


# ---------------------------------------------------------------- package generator

def test_manual_seed_reproduces_and_advances(backend, rng):
    x = backend.put(np.ones((10, 10), np.float32))
    pk.manual_seed(2024)
    _, a1 = pk.ops.dropout(x, 0.5, **backend.kw)
    _, a2 = pk.ops.dropout(x, 0.5, **backend.kw)
    pk.manual_seed(2024)
    _, b1 = pk.ops.dropout(x, 0.5, **backend.kw)
    _, b2 = pk.ops.dropout(x, 0.5, **backend.kw)
    a1, a2, b1, b2 = (backend.get(m) for m in (a1, a2, b1, b2))
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert (a1 != a2).any()
    # The package generator hands out consecutive counters: seed 2024, offsets 0 and 25.
    np.testing.assert_array_equal(a1, ref.dropout_mask((10, 10), 0.5, 2024, 0))
    np.testing.assert_array_equal(a2, ref.dropout_mask((10, 10), 0.5, 2024, 25))
    assert pk.initial_seed() == 2024


def test_manual_seed_values():
    assert pk.manual_seed(5) == 5
    assert pk.manual_seed(-1) == U64 - 1  # torch's mapping: 0xffff_ffff_ffff_ffff + seed
    assert pk.manual_seed(U64) == U64
    with pytest.raises(ValueError, match="'seed'"):
        pk.manual_seed(1 << 64)
    with pytest.raises(TypeError, match="'seed'"):
        pk.manual_seed(1.5)
    pk.manual_seed(0)


# ---------------------------------------------------------------- bad input

F = np.ones((4, 3), np.float32)
M = np.ones((4, 3), np.uint8)

BAD = [
    ("p negative", lambda d: pk.ops.dropout(F, -0.1, seed=1, **d), ValueError, "'p'"),
    ("p one", lambda d: pk.ops.dropout(F, 1.0, seed=1, **d), ValueError, "'p'"),
    ("p nan", lambda d: pk.ops.dropout(F, float("nan"), seed=1, **d), ValueError, "'p'"),
    ("p not a number", lambda d: pk.ops.dropout(F, "0.5", seed=1, **d), TypeError, "'p'"),
    ("x int", lambda d: pk.ops.dropout(F.astype(np.int32), 0.5, seed=1, **d), TypeError, "'x'"),
    ("x not contiguous", lambda d: pk.ops.dropout(F.T, 0.5, seed=1, **d), ValueError, "'x'"),
    ("seed negative too far", lambda d: pk.ops.dropout(F, 0.5, seed=-(1 << 64), **d), ValueError,
     "'seed'"),
    ("offset negative", lambda d: pk.ops.dropout(F, 0.5, seed=1, offset=-1, **d), ValueError,
     "'offset'"),
    ("backward p", lambda d: pk.ops.dropout_backward(F, M, 1.5, **d), ValueError, "'p'"),
    ("backward mask dtype", lambda d: pk.ops.dropout_backward(F, M.astype(np.int32), 0.5, **d),
     TypeError, "'mask'"),
    ("backward mask shape", lambda d: pk.ops.dropout_backward(F, M[:3], 0.5, **d), ValueError,
     "'mask'"),
    ("backward grad dtype", lambda d: pk.ops.dropout_backward(F.astype(np.int64), M, 0.5, **d),
     TypeError, "'grad_y'"),
    ("mask p", lambda d: pk.ops.dropout_mask((3,), 1.0, seed=1, device=d.get("device") or "cpu"),
     ValueError, "'p'"),
    ("mask shape", lambda d: pk.ops.dropout_mask((-3,), 0.5, seed=1,
                                                 device=d.get("device") or "cpu"),
     ValueError, "'shape'"),
]


@pytest.mark.parametrize("device", [None, "cuda-emu"])
@pytest.mark.parametrize("name,call,exc,needle", BAD, ids=[c[0] for c in BAD])
def test_bad_input_names_the_argument(device, name, call, exc, needle):
    kw = {"device": device} if device else {}
    with pytest.raises(exc, match=needle):
        call(kw)


@pytest.mark.parametrize("mod_name", ["cpu", "cuda-emu"])
def test_binding_boundary_validates_without_python(mod_name):
    mod = _backends.module(mod_name)
    extra = {"stream": 0} if mod_name == "cuda-emu" else {}
    y = np.empty_like(F)
    for p in (-0.5, 1.0, float("nan")):
        with pytest.raises(ValueError, match="'p'"):
            mod.dropout(F, y, M.copy(), p, 1, 0, **extra)
        with pytest.raises(ValueError, match="'p'"):
            mod.dropout_mask(M.copy(), p, 1, 0, **extra)
        with pytest.raises(ValueError, match="'p'"):
            mod.dropout_backward(F, M, y, p, **extra)
    with pytest.raises(TypeError, match="'mask'"):
        mod.dropout(F, y, np.ones((4, 3), np.int32), 0.5, 1, 0, **extra)
    with pytest.raises(ValueError, match="'mask'"):
        mod.dropout(F, y, np.ones((3, 4), np.uint8), 0.5, 1, 0, **extra)
    with pytest.raises(ValueError, match="'y'"):
        mod.dropout(F, F, M.copy(), 0.5, 1, 0, **extra)
    with pytest.raises(TypeError, match="'x'"):
        mod.dropout(F.astype(np.int32), y, M.copy(), 0.5, 1, 0, **extra)
