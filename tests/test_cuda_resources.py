"""Every CUDA kernel compiles for sm_90 with no register spills, no local-memory
stack frame and static shared memory within sm_80's limit (ptxas report; needs
nvcc, not a GPU). The table of registers per kernel is printed."""

import importlib.util
import shutil
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "cuda_resources.py"


def _nvcc():
    return shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc"
                                    if Path("/usr/local/cuda/bin/nvcc").exists() else None)


@pytest.mark.skipif(_nvcc() is None, reason="nvcc is not installed: nothing to compile")
def test_kernels_do_not_spill_and_fit_shared_memory(capsys):
    spec = importlib.util.spec_from_file_location("cuda_resources", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with capsys.disabled():
        print("\nptxas report, sm_90:")
        problems = mod.check(_nvcc(), "sm_90")
    assert not problems, "\n".join(problems)
