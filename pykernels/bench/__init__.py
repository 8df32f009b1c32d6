"""Benchmarks of pykernels against NumPy, PyTorch and CuPy, CPU and GPU.

    from pykernels.bench import run
    results = run(quick=True, devices="all", out="bench-results")

is what `pykernels bench` does: measure the machine ceilings, time every
case (pykernels and each baseline that is installed, on each device that is
present), time the end-to-end training step, print the table and write
results.json, results.md and results.png. The pytest-benchmark suite in
benchmarks/ uses the same cases and ceilings.
"""

from __future__ import annotations

import sys
import time

from .cases import Case, all_cases, select_cases
from .ceilings import measure_ceilings
from .report import annotate, format_table, machine_info, skipped_summary, write_all
from .runner import device_unavailable, run_cases, torch_threads
from .timing import Timing, measure, time_cpu, time_gpu
from .train_step import run_train_step

__all__ = ["run", "Case", "all_cases", "select_cases", "measure_ceilings", "run_cases",
           "run_train_step", "Timing", "measure", "time_cpu", "time_gpu", "write_all",
           "format_table"]

TRAIN_BATCHES = (128, 1024)
SETTINGS = {True: {"repeat": 5, "min_time": 0.01}, False: {"repeat": 9, "min_time": 0.05}}


def _devices(device: str):
    """(devices to run, {device: why skipped}); ValueError for an explicit
    device that is not present."""
    wanted = ["cpu", "cuda"] if device == "all" else [device]
    run, skipped = [], {}
    for d in wanted:
        why = device_unavailable(d)
        if why is None:
            run.append(d)
        elif device == "all":
            skipped[d] = why
        else:
            raise ValueError(f"cannot benchmark on {d}: {why}")
    return run, skipped


def run(*, quick: bool = False, device: str = "all", out: str | None = "bench-results",
        filter: str | None = None, repeat: int | None = None, train: bool = True,
        threads: int | None = None, baselines=("numpy", "torch", "cupy"), command: str = "",
        log=print) -> dict:
    """Run the suite; returns the results dict (also written to `out` unless None).
    `threads` sets pykernels' and PyTorch's CPU threads (default: pykernels' current)."""
    t_start = time.perf_counter()
    limiter = None
    if threads is not None:
        from .._backends import set_num_threads
        set_num_threads(threads)
        try:  # NumPy's BLAS gets the same number of threads
            from threadpoolctl import threadpool_limits
            limiter = threadpool_limits(threads)
        except ImportError:
            log("threadpoolctl is not installed: NumPy's BLAS keeps its own thread count")
    try:
        return _run(quick=quick, device=device, out=out, filter=filter, repeat=repeat,
                    train=train, baselines=tuple(baselines), command=command, log=log,
                    t_start=t_start)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()


def _run(*, quick, device, out, filter, repeat, train, baselines, command, log,
         t_start) -> dict:
    settings = dict(SETTINGS[bool(quick)])
    if repeat is not None:
        settings["repeat"] = int(repeat)
    devices, skipped_devices = _devices(device)
    for d, why in skipped_devices.items():
        log(f"{d}: skipped ({why})")
    unknown = set(baselines) - {"numpy", "torch", "cupy"}
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}: choose from numpy, torch, cupy")
    if "torch" in baselines:
        try:
            torch_threads()
        except ImportError:
            pass
    results = {"schema": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": machine_info(),
               "settings": {"quick": bool(quick), "devices": devices, "filter": filter,
                            "baselines": list(baselines),
                            "command": command, **settings},
               "skipped_devices": skipped_devices}
    log(f"measuring ceilings on {', '.join(devices)} ...")
    results["ceilings"] = measure_ceilings(devices, quick=quick, log=log)
    cases = select_cases(quick=quick, filter=filter)
    rows = run_cases(cases, devices, log=log, baselines=baselines, **settings)
    if train and (not filter or any(k.strip() and k.strip().lower() in "train step"
                                    for k in filter.split(","))):
        for d in devices:
            for batch in TRAIN_BATCHES:
                t0 = time.perf_counter()
                row = run_train_step(batch, d, repeat=settings["repeat"],
                                     torch="torch" in baselines,
                                     min_time=max(settings["min_time"], 0.05))
                rows.append(row)
                parts = [f"{k} {v['median_s'] * 1e3:.2f} ms" for k, v in row["results"].items()]
                parts += [f"{k} skipped: {v}" for k, v in row["skipped"].items()]
                log(f"train step batch {batch} {d}: {', '.join(parts)} "
                    f"({time.perf_counter() - t0:.1f} s)")
    results["rows"] = rows
    results["elapsed_s"] = time.perf_counter() - t_start
    annotate(results)
    if log:
        log("")
        log(format_table(results))
        skipped = skipped_summary(results)
        if skipped:
            log("\nnot run:")
            for s in skipped:
                log(f"  {s}")
    if out is not None:
        paths = write_all(results, out)
        for msg in paths.pop("messages", []):
            log(msg)
        log("\nwrote " + ", ".join(paths.values()))
    log(f"total {results['elapsed_s']:.0f} s")
    return results


def render(json_path: str, out: str | None, log=print) -> dict:
    """Table and files from a saved JSON: results.json of `pykernels bench`
    or the pytest-benchmark JSON of benchmarks/."""
    import json
    from .report import load_results
    with open(json_path) as f:
        results = load_results(json.load(f))
    log(format_table(results))
    if out is not None:
        paths = write_all(results, out)
        for msg in paths.pop("messages", []):
            log(msg)
        log("\nwrote " + ", ".join(paths.values()))
    return results


def main_bench(args) -> int:
    """The `pykernels bench` subcommand."""
    from .report import update_readme
    if args.from_json:
        results = render(args.from_json, args.out)
        if args.readme:
            update_readme(results, args.readme)
            print(f"updated the results in {args.readme}")
        return 0
    command = "pykernels " + " ".join(sys.argv[1:]) if sys.argv[1:] else "pykernels bench"
    try:
        results = run(quick=args.quick, device=args.device, out=args.out, filter=args.filter,
            repeat=args.repeat, train=not args.no_train, threads=args.threads,
            baselines=[b.strip() for b in args.baselines.split(",") if b.strip()],
            command=command,
            log=lambda s: print(s, flush=True))
    except ValueError as exc:
        print(f"pykernels bench: {exc}", file=sys.stderr)
        return 2
    if args.readme:
        update_readme(results, args.readme)
        print(f"updated the results in {args.readme}")
    return 0
