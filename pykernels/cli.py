"""The `pykernels` command line."""

from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    from . import __version__
    from ._backends import backends

    report = backends()
    print(f"pykernels {__version__}")
    cpu = report["cpu"]
    print(f"cpu       built={cpu['built']} available={cpu['available']} simd={cpu['simd']} "
          f"(best on this CPU: {cpu['best_simd']}) threads={cpu['threads']} openmp={cpu['openmp']}")
    cuda = report["cuda"]
    line = f"cuda      built={cuda['built']} available={cuda['available']} build: {cuda['build']}"
    print(line)
    if cuda.get("runtime_version"):
        print(f"          runtime {cuda['runtime_version']} driver {cuda['driver_version']}")
    for name in cuda["devices"]:
        print(f"          device: {name}")
    if cuda.get("reason"):
        print(f"          not available: {cuda['reason']}")
    emu = report["cuda-emu"]
    print(f"cuda-emu  built={emu['built']} available={emu['available']} threads={emu['threads']}")
    if emu.get("reason"):
        print(f"          not available: {emu['reason']}")
    return 0


def _bench(args) -> int:
    from .bench import main_bench
    return main_bench(args)


def _add_bench(sub) -> None:
    bench = sub.add_parser(
        "bench", help="benchmark pykernels against NumPy, PyTorch and CuPy, CPU and GPU")
    bench.add_argument("--quick", action="store_true",
                       help="a curated subset with fewer repeats (a few minutes)")
    bench.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                       help="where to run (default all: cuda is skipped when absent)")
    bench.add_argument("--out", default="bench-results", metavar="DIR",
                       help="folder for results.json, results.md, results.png")
    bench.add_argument("--filter", default=None, metavar="SUBSTR[,SUBSTR]",
                       help="only cases whose op or shape contains one of these")
    bench.add_argument("--repeat", type=int, default=None,
                       help="timed repeats per measurement (default 5 quick, 9 full)")
    bench.add_argument("--threads", type=int, default=None,
                       help="CPU threads for pykernels and PyTorch (default: pykernels' setting)")
    bench.add_argument("--baselines", default="numpy,torch,cupy", metavar="NAMES",
                       help="comma-separated baselines to run (default numpy,torch,cupy)")
    bench.add_argument("--no-train", action="store_true",
                       help="leave out the end-to-end training step")
    bench.add_argument("--from-json", default=None, metavar="FILE",
                       help="run nothing: render the table and files from a saved "
                            "results.json, or from pytest benchmarks/ --benchmark-json=FILE")
    bench.add_argument("--readme", default=None, metavar="PATH",
                       help="also put the results between the bench-results markers of "
                            "this README")
    bench.set_defaults(func=_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pykernels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="backends, SIMD path, threads, CUDA build and devices")
    info.set_defaults(func=_info)
    _add_bench(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
