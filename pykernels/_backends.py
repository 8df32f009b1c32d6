"""Loading the compiled modules and reporting what each backend can do.

The CUDA module is imported lazily: a machine without a GPU, a driver or the
CUDA toolkit still imports pykernels, and backends() says why "cuda" is not
available.
"""

from __future__ import annotations

import importlib
import threading

_MODULE_NAMES = {"cpu": "_cpu", "cuda": "_cuda", "cuda-emu": "_cuda_emu"}
_loaded: dict[str, object] = {}
_import_errors: dict[str, str] = {}
_lock = threading.RLock()


class BackendUnavailable(RuntimeError):
    """Raised when an op is asked to run on a backend that cannot run here."""


def _import(name: str):
    with _lock:
        if name in _loaded:
            return _loaded[name]
        if name in _import_errors:
            return None
        try:
            mod = importlib.import_module(f"pykernels.{_MODULE_NAMES[name]}")
        except ImportError as exc:
            _import_errors[name] = f"{type(exc).__name__}: {exc}"
            return None
        _loaded[name] = mod
        if name == "cuda-emu":
            mod.set_num_threads(get_num_threads())
        return mod


def module(name: str):
    """The compiled module of a backend, or BackendUnavailable saying why not."""
    if name not in _MODULE_NAMES:
        raise ValueError(f"argument 'device' must be one of {sorted(_MODULE_NAMES)}, got {name!r}")
    mod = _import(name)
    if mod is None:
        raise BackendUnavailable(f"the {name} backend is not available: {_import_errors[name]}")
    if name == "cuda":
        info = mod.device_info()
        if info["error"]:
            raise BackendUnavailable(f"the cuda backend is built but cannot run: {info['error']}")
    return mod


def _build_info():
    try:
        from . import _build_info as info
    except ImportError:
        return None
    return info


def backends() -> dict:
    """What each backend is: built (compiled into this install) and available
    (able to run here), with the details that explain it."""
    report = {}
    cpu = _import("cpu")
    report["cpu"] = {
        "built": cpu is not None,
        "available": cpu is not None,
        "simd": cpu.simd_path() if cpu else None,
        "best_simd": cpu.best_simd_path() if cpu else None,
        "openmp": bool(cpu.openmp) if cpu else False,
        "threads": get_num_threads(),
    }
    if cpu is None:
        report["cpu"]["reason"] = _import_errors.get("cpu")

    cuda = _import("cuda")
    build = _build_info()
    entry = {"built": cuda is not None, "available": False,
             "build": build.cuda_status if build else "unknown", "devices": []}
    if cuda is None:
        entry["reason"] = _import_errors.get("cuda", "not built")
    else:
        info = cuda.device_info()
        entry["devices"] = list(info["devices"])
        entry["runtime_version"] = info["runtime_version"]
        entry["driver_version"] = info["driver_version"]
        entry["available"] = not info["error"]
        if info["error"]:
            entry["reason"] = info["error"]
    report["cuda"] = entry

    emu = _import("cuda-emu")
    report["cuda-emu"] = {"built": emu is not None, "available": emu is not None,
                          "threads": get_num_threads()}
    if emu is None:
        report["cuda-emu"]["reason"] = _import_errors.get("cuda-emu")
    return report


_num_threads = None


def set_num_threads(n: int) -> None:
    """Threads used by CPU kernels and by the emulator's block scheduler."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"argument 'n' must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"argument 'n' must be at least 1, got {n}")
    _num_threads = n
    for name in ("cpu", "cuda-emu"):
        mod = _import(name)
        if mod is not None:
            mod.set_num_threads(n)


def get_num_threads() -> int:
    if _num_threads is not None:
        return _num_threads
    cpu = _loaded.get("cpu") or _import("cpu")
    return cpu.get_num_threads() if cpu is not None else 1
