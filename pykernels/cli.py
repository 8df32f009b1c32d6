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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pykernels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="backends, SIMD path, threads, CUDA build and devices")
    info.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
