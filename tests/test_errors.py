"""Bad input raises TypeError/ValueError naming the argument, in Python and at
the C++ binding boundary (called directly, bypassing the Python checks)."""

import numpy as np
import pytest

import pykernels as pk
from pykernels import _backends


class FakeCudaArray:
    """Host memory dressed as a CUDA array: enough to exercise device checks
    without a GPU (nothing ever dereferences it)."""

    def __init__(self, a):
        self._a = a
        self.shape = a.shape
        self.ndim = a.ndim
        self.dtype = a.dtype

    @property
    def __cuda_array_interface__(self):
        return {"shape": self._a.shape, "typestr": self._a.dtype.str,
                "data": (self._a.ctypes.data, False), "version": 3, "strides": None}


F32 = np.ones((4, 3), np.float32)
G32 = np.ones((3, 5), np.float32)

PY_CASES = [
    ("wrong dtype", lambda d: pk.ops.matmul(F32.astype(np.int32), G32.astype(np.int32), **d),
     TypeError, "'a'"),
    ("mismatched dtypes", lambda d: pk.ops.matmul(F32, G32.astype(np.float64), **d), TypeError, "'b'"),
    ("non-contiguous", lambda d: pk.ops.matmul(np.ones((3, 4), np.float32).T, G32, **d),
     ValueError, "'a'"),
    ("inner dimension", lambda d: pk.ops.matmul(F32, F32, **d), ValueError, "'b'"),
    ("ndim", lambda d: pk.ops.matmul(np.ones(3, np.float32), G32, **d), ValueError, "'a'"),
    ("out shape", lambda d: pk.ops.matmul(F32, G32, out=np.empty((4, 4), np.float32), **d),
     ValueError, "'out'"),
    ("out dtype", lambda d: pk.ops.matmul(F32, G32, out=np.empty((4, 5), np.float64), **d),
     TypeError, "'out'"),
    ("out aliases input", lambda d: _alias(d), ValueError, "'out'"),
    ("beta without out", lambda d: pk.ops.matmul(F32, G32, beta=1.0, **d), ValueError, "'beta'"),
    ("not an array", lambda d: pk.ops.matmul([[1.0]], G32, **d), TypeError, "'a'"),
    ("read-only out", lambda d: pk.ops.matmul(F32, G32, out=_readonly((4, 5)), **d),
     ValueError, "'out'"),
]


def _readonly(shape):
    x = np.zeros(shape, np.float32)
    x.flags.writeable = False
    return x


def _alias(d):
    x = np.ones((3, 3), np.float32)
    return pk.ops.matmul(x, np.eye(3, dtype=np.float32), out=x, **d)


@pytest.mark.parametrize("device", [None, "cuda-emu"])
@pytest.mark.parametrize("name,call,exc,needle", PY_CASES, ids=[c[0] for c in PY_CASES])
def test_bad_input_names_the_argument(device, name, call, exc, needle):
    kw = {"device": device} if device else {}
    with pytest.raises(exc, match=needle):
        call(kw)


@pytest.mark.parametrize("mod_name", ["cpu", "cuda-emu"])
def test_binding_boundary_validates_without_python(mod_name):
    mod = _backends.module(mod_name)
    extra = {"stream": 0} if mod_name == "cuda-emu" else {}
    out = np.empty((4, 5), np.float32)
    with pytest.raises(TypeError, match="'b'"):
        mod.matmul(F32, G32.astype(np.float64), out, False, False, 1.0, 0.0, **extra)
    with pytest.raises(ValueError, match="'a'"):
        mod.matmul(np.ones((3, 4), np.float32).T, G32, out, False, False, 1.0, 0.0, **extra)
    with pytest.raises(ValueError, match="'out'"):
        mod.matmul(F32, G32, np.empty((5, 4), np.float32), False, False, 1.0, 0.0, **extra)
    with pytest.raises(ValueError, match="'b'"):
        mod.matmul(F32, F32, out, False, False, 1.0, 0.0, **extra)
    with pytest.raises(TypeError, match="'a'.*CUDA array"):
        mod.matmul(FakeCudaArray(F32), G32, out, False, False, 1.0, 0.0, **extra)


def test_cuda_array_with_device_cpu_is_rejected():
    with pytest.raises(TypeError, match="'a'.*CUDA array"):
        pk.ops.matmul(FakeCudaArray(F32), FakeCudaArray(G32), device="cpu")


def test_mixed_devices_are_rejected():
    with pytest.raises(TypeError, match="'a'.*'b'|'b'.*'a'"):
        pk.ops.matmul(FakeCudaArray(F32), G32)


def test_numpy_array_with_device_cuda_is_rejected():
    with pytest.raises(TypeError, match="'a'"):
        pk.ops.matmul(F32, G32, device="cuda")


def test_unknown_device():
    with pytest.raises(ValueError, match="'device'"):
        pk.ops.matmul(F32, G32, device="tpu")


def test_cuda_binding_rejects_host_arrays():
    """_cuda validates at its boundary too: NumPy arrays are refused by name
    before anything is launched (works without a GPU)."""
    info = pk.backends()["cuda"]
    if not info["built"]:
        pytest.skip("the cuda backend is not built: " + info.get("reason", ""))
    from pykernels import _cuda
    out = np.empty((4, 5), np.float32)
    with pytest.raises(TypeError, match="'a'.*NumPy"):
        _cuda.matmul(F32, G32, out, False, False, 1.0, 0.0, stream=0)
    with pytest.raises(TypeError, match="'b'"):
        _cuda.matmul(FakeCudaArray(F32), FakeCudaArray(G32.astype(np.float64)),
                     FakeCudaArray(out), False, False, 1.0, 0.0, stream=0)
    with pytest.raises(ValueError, match="'out'"):
        _cuda.matmul(FakeCudaArray(F32), FakeCudaArray(G32),
                     FakeCudaArray(np.empty((5, 4), np.float32)), False, False, 1.0, 0.0, stream=0)
