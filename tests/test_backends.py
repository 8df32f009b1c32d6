"""The package imports everywhere and reports its backends truthfully."""

import os
import subprocess
import sys

import numpy as np
import pytest

import pykernels as pk


def test_backends_report_cpu_and_emulator():
    report = pk.backends()
    assert set(report) >= {"cpu", "cuda", "cuda-emu"}
    for name in ("cpu", "cuda-emu"):
        assert report[name]["built"] and report[name]["available"], report[name]
    assert report["cpu"]["simd"] in ("avx512", "avx2", "generic")
    cuda = report["cuda"]
    assert isinstance(cuda["built"], bool) and isinstance(cuda["available"], bool)
    if not cuda["available"]:
        assert cuda.get("reason"), "an unavailable backend must say why"


def test_cuda_unavailable_without_device_is_reported_not_raised():
    cuda = pk.backends()["cuda"]
    if cuda["available"]:
        pytest.skip("a CUDA device is present")
    with pytest.raises(pk._backends.BackendUnavailable, match="cuda"):
        pk._backends.module("cuda")


def test_thread_setting_roundtrip():
    pk.set_num_threads(1)
    assert pk.get_num_threads() == 1
    assert pk.backends()["cpu"]["threads"] == 1
    pk.set_num_threads(2)
    assert pk.get_num_threads() == 2


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-3, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_thread_setting_rejects_bad_values(bad, exc):
    with pytest.raises(exc, match="'n'"):
        pk.set_num_threads(bad)


def test_simd_path_can_be_forced_lower(tmp_path):
    code = "import pykernels as pk; print(pk.backends()['cpu']['simd'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYKERNELS_SIMD": "generic"}, cwd=tmp_path)
    assert out.stdout.strip() == "generic"


def test_cli_info_runs():
    out = subprocess.run([sys.executable, "-m", "pykernels.cli", "info"], capture_output=True,
                         text=True, check=True, cwd="/")
    for word in ("cpu", "cuda", "cuda-emu", "simd", "threads"):
        assert word in out.stdout


def test_results_have_input_kind():
    a = np.ones((2, 2), np.float32)
    assert type(pk.ops.matmul(a, a)) is np.ndarray
    assert type(pk.ops.matmul(a, a, device="cuda-emu")) is np.ndarray
