"""Shared test machinery: the backend fixture and the one checker.

Every op test takes `backend` (cpu, cuda-emu, and cuda when a device and CuPy
are present; otherwise that case is skipped with the reason) and compares with
a NumPy reference from tests/reference/, written independently of the kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

import pykernels as pk

TOLERANCES = {  # (rtol, atol) for elementwise results, per dtype
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(np.float64): (1e-12, 1e-13),
}


def _cuda_skip_reason():
    info = pk.backends()["cuda"]
    if not info["built"]:
        return "the cuda backend is not built: " + info.get("reason", "")
    if not info["available"]:
        return "no usable CUDA device: " + info.get("reason", "")
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "CuPy is not installed (pip install pykernels[cuda])"
    return None


class Device:
    """Moves test data to a backend and back, and says how to call ops there."""

    def __init__(self, name: str):
        self.name = name

    def put(self, x):
        if self.name == "cuda":
            import cupy
            return cupy.asarray(x)
        return np.ascontiguousarray(x)

    def get(self, x):
        if self.name == "cuda":
            import cupy
            return cupy.asnumpy(x)
        return x

    @property
    def kw(self) -> dict:
        """Keyword arguments that route an op with NumPy inputs to this backend."""
        return {"device": "cuda-emu"} if self.name == "cuda-emu" else {}

    def __repr__(self):
        return self.name


@pytest.fixture(params=["cpu", "cuda-emu", pytest.param("cuda", marks=pytest.mark.gpu)])
def backend(request) -> Device:
    if request.param == "cuda":
        reason = _cuda_skip_reason()
        if reason:
            pytest.skip(reason)
    return Device(request.param)


def assert_close(actual, expected, *, rtol=None, atol=None, dtype=None, what="result"):
    """|actual - expected| <= atol + rtol * |expected| everywhere, else fail
    showing the first mismatching indices and values."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    dt = np.dtype(dtype) if dtype is not None else actual.dtype
    default_rtol, default_atol = TOLERANCES.get(dt, (1e-5, 1e-6))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    exp64 = expected.astype(np.float64)
    err = np.abs(actual.astype(np.float64) - exp64)
    bad = ~(err <= atol + rtol * np.abs(exp64))
    bad &= ~(np.isnan(actual) & np.isnan(expected))
    bad &= ~(np.isinf(exp64) & (actual.astype(np.float64) == exp64))
    if bad.any():
        idx = np.argwhere(bad)[:5]
        lines = [f"  at {tuple(int(v) for v in i)}: got {actual[tuple(i)]!r}, expected "
                 f"{expected[tuple(i)]!r}" for i in idx]
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} elements differ beyond atol={atol:g} "
            f"rtol={rtol:g} (max abs error {err.max():.3g}):\n" + "\n".join(lines))


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


@pytest.fixture(autouse=True)
def _restore_threads():
    before = pk.get_num_threads()
    yield
    pk.set_num_threads(before)
