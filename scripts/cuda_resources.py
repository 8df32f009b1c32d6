#!/usr/bin/env python3
"""Static resource check of every CUDA kernel, without a GPU.

Compiles each cuda/*.cu for sm_90 with `ptxas -v` and reads its report:
registers per thread, spill stores/loads, stack frame and static shared memory
of every kernel. Fails (exit 1) when a kernel spills, has a local-memory stack
frame, or uses more static shared memory than a block may have on sm_80
without opting in (48 KiB). Prints one line per kernel.

    python scripts/cuda_resources.py [--nvcc PATH] [--arch sm_90]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SM80_STATIC_SMEM_LIMIT = 48 * 1024

FUNC_RE = re.compile(r"Function properties for (\S+)")
FRAME_RE = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")


def demangle(names):
    filt = shutil.which("c++filt")
    if not filt or not names:
        return {n: n for n in names}
    out = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True).stdout
    return dict(zip(names, out.splitlines()))


def compile_report(nvcc: str, arch: str, source: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, "-std=c++17", "-O3", "--expt-relaxed-constexpr", f"-arch={arch}",
               "-Xptxas=-v", "-I", str(ROOT / "cuda"), "-I", str(ROOT / "csrc"),
               "-c", str(source), "-o", str(Path(tmp) / "k.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nvcc failed on {source.name}:\n{proc.stderr}")
    return proc.stderr


def parse(report: str):
    """Kernel name -> dict(registers, smem, stack, spill_stores, spill_loads)."""
    kernels: dict[str, dict] = {}
    current = None
    for line in report.splitlines():
        m = re.search(r"Compiling entry function '(\S+)'", line)
        if m:
            current = m.group(1)
            kernels.setdefault(current, {})
            continue
        m = FUNC_RE.search(line)
        if m:
            current = m.group(1)
            kernels.setdefault(current, {})
            continue
        m = FRAME_RE.search(line)
        if m and current is not None:
            kernels[current].update(stack=int(m.group(1)), spill_stores=int(m.group(2)),
                                    spill_loads=int(m.group(3)))
            continue
        m = re.search(r"Used (\d+) registers", line)
        if m and current is not None:
            kernels[current]["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            kernels[current]["smem"] = int(s.group(1)) if s else 0
    return {k: v for k, v in kernels.items() if "registers" in v}


def check(nvcc: str, arch: str = "sm_90", verbose: bool = True) -> list[str]:
    sources = sorted((ROOT / "cuda").glob("*.cu"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda s: compile_report(nvcc, arch, s), sources))
    problems = []
    for source, report in zip(sources, reports):
        kernels = parse(report)
        names = demangle(list(kernels))
        for mangled, info in sorted(kernels.items(), key=lambda kv: names[kv[0]]):
            name = names[mangled]
            if verbose:
                print(f"{source.name:24s} regs={info['registers']:3d} smem={info['smem']:6d} "
                      f"stack={info.get('stack', 0)} spills={info.get('spill_stores', 0)}/"
                      f"{info.get('spill_loads', 0)}  {name}")
            if info.get("spill_stores", 0) or info.get("spill_loads", 0):
                problems.append(f"{name}: spills registers on {arch}")
            if info.get("stack", 0):
                problems.append(f"{name}: {info['stack']} bytes of local-memory stack frame on {arch}")
            if info["smem"] > SM80_STATIC_SMEM_LIMIT:
                problems.append(f"{name}: {info['smem']} bytes of static shared memory "
                                f"(sm_80 allows {SM80_STATIC_SMEM_LIMIT})")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvcc", default=shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc")
    parser.add_argument("--arch", default="sm_90")
    args = parser.parse_args(argv)
    if not Path(args.nvcc).exists():
        print("nvcc not found", file=sys.stderr)
        return 2
    problems = check(args.nvcc, args.arch)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
