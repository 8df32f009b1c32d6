"""Turning benchmark rows into a table, results.json, results.md and results.png.

Ratios are speedups of pykernels: baseline median time / pykernels median
time (above 1: pykernels is faster). "% of ceiling" is pykernels' GFLOP/s or
GB/s as a share of the machine ceiling measured in the same run (FMA peak or
cuBLAS matmul for GEMM, copy bandwidth for memory-bound ops). "GPU vs CPU" is
pykernels' CPU time over its GPU time for the same case.
"""

from __future__ import annotations

import json
import os
import platform
from collections import OrderedDict

from .ceilings import ceiling_for

COLUMNS = ("op", "shape", "device", "pykernels", "NumPy", "PyTorch", "CuPy", "vs NumPy",
           "vs PyTorch", "vs CuPy", "% of ceiling", "GPU vs CPU")
IMPL_COLUMNS = {"pykernels": "pykernels", "numpy": "NumPy", "torch": "PyTorch", "cupy": "CuPy"}
BASELINES = ("numpy", "torch", "cupy")


# ---------------------------------------------------------------- derived numbers


def annotate(results: dict) -> dict:
    """Add ratios, % of ceiling and GPU vs CPU to every row, in place."""
    ceilings = results.get("ceilings", {})
    by_key = {(r["op"], r["shape"], r["device"]): r for r in results.get("rows", [])}
    for row in results.get("rows", []):
        res = row["results"]
        pk = res.get("pykernels")
        row["ratios"] = {b: res[b]["median_s"] / pk["median_s"]
                         for b in BASELINES if pk and b in res}
        if row["kind"] in ("gemm", "memory"):
            name = ceiling_for(row["kind"], row["device"])
            ceiling = ceilings.get(name, {}).get("value")
            row["ceiling"] = name
            for r in res.values():
                r["pct_of_ceiling"] = 100.0 * r["rate"] / ceiling if ceiling else None
        if row["device"] == "cuda":
            cpu = by_key.get((row["op"], row["shape"], "cpu"))
            cpu_pk = cpu and cpu["results"].get("pykernels")
            row["gpu_vs_cpu"] = cpu_pk["median_s"] / pk["median_s"] if (cpu_pk and pk) else None
    return results


def machine_info() -> dict:
    """What the numbers were measured on."""
    import numpy as np
    from .. import __version__
    from .._backends import backends
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "numpy": np.__version__,
            "pykernels": __version__}
    try:
        b = backends()
        info.update(simd=b["cpu"]["simd"], threads=b["cpu"]["threads"],
                    openmp=b["cpu"]["openmp"], cuda_built=b["cuda"]["built"],
                    cuda_available=b["cuda"]["available"], gpus=b["cuda"].get("devices", []))
    except Exception as exc:  # pragma: no cover - the CPU module always loads when installed
        info["backends_error"] = str(exc)
    for name in ("torch", "cupy", "matplotlib"):
        info[name] = _version(name)
    return info


def _version(module: str):
    """Installed version of a library without importing it (importing PyTorch
    takes seconds); None when absent."""
    import sys
    from importlib import metadata
    mod = sys.modules.get(module)
    if mod is not None and hasattr(mod, "__version__"):
        return mod.__version__
    names = [module] + ([f"cupy-cuda{v}" for v in ("13x", "12x", "11x")] if module == "cupy"
                        else [])
    for dist in names:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------- formatting


def _fmt_rate(value: float, unit: str) -> str:
    if value >= 100:
        s = f"{value:.0f}"
    elif value >= 10:
        s = f"{value:.1f}"
    else:
        s = f"{value:.2f}"
    return f"{s} {unit}"


def _cell(row, impl) -> str:
    r = row["results"].get(impl)
    if r is None:
        return "-"
    if row["kind"] == "step":
        return f"{r['median_s'] * 1e3:.2f} ms"
    return _fmt_rate(r["rate"], row["unit"])


def _ratio(x) -> str:
    return "-" if x is None else f"{x:.2f}x"


def table_rows(results: dict) -> list:
    """One list of strings per row, in COLUMNS order."""
    out = []
    for row in results.get("rows", []):
        pk = row["results"].get("pykernels")
        pct = pk.get("pct_of_ceiling") if pk else None
        out.append([
            row["op"], row["shape"], row["device"],
            _cell(row, "pykernels"), _cell(row, "numpy"), _cell(row, "torch"),
            _cell(row, "cupy"),
            *(_ratio(row.get("ratios", {}).get(b)) for b in BASELINES),
            "-" if pct is None else f"{pct:.0f}%",
            _ratio(row.get("gpu_vs_cpu")),
        ])
    return out


def format_table(results: dict) -> str:
    """Plain-text table, columns padded to their widest cell."""
    rows = [list(COLUMNS)] + table_rows(results)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def skipped_summary(results: dict) -> list:
    """'impl on device: reason (n cases)' lines, one per distinct reason."""
    counts = OrderedDict()
    for row in results.get("rows", []):
        for impl, why in row.get("skipped", {}).items():
            key = (impl, row["device"], why)
            counts[key] = counts.get(key, 0) + 1
    lines = [f"{device}: nothing run: {why}"
             for device, why in results.get("skipped_devices", {}).items()]
    return lines + [f"{impl} on {device}: {why} ({n} case{'s' if n > 1 else ''})"
                    for (impl, device, why), n in counts.items()]


def _ceiling_lines(results: dict) -> list:
    lines = []
    for name, c in results.get("ceilings", {}).items():
        if c.get("value") is None:
            lines.append(f"{name}: not measured ({c.get('error', '')})")
        else:
            note = f" [{c['note']}]" if c.get("note") else ""
            lines.append(f"{name}: {_fmt_rate(c['value'], c['unit'])} - {c['method']}{note}")
    return lines


def _step_verdict(row) -> str | None:
    """Whether the training step meets its speedup target over PyTorch, and
    which pykernels phases take the most time."""
    ratio = row.get("ratios", {}).get("torch")
    target = row.get("target_vs_torch")
    if ratio is None or target is None:
        return None
    met = "met" if ratio >= target else "not met"
    text = (f"{row['device']}, {row['shape']}: pykernels is {ratio:.2f}x PyTorch per step "
            f"(target {target:g}x: {met}).")
    phases = row["results"]["pykernels"].get("phases_ms")
    if phases:
        total = sum(phases.values()) or 1.0
        top = sorted(phases.items(), key=lambda kv: -kv[1])[:3]
        text += " Largest pykernels phases: " + ", ".join(
            f"{name} {100 * ms / total:.0f}%" for name, ms in top) + "."
    return text


def _failed_checks(results: dict) -> list:
    return [f"{r['op']} [{r['shape']}] {r['device']}: {r['check']}"
            for r in results.get("rows", []) if r.get("check") not in (None, "ok")]


def to_markdown(results: dict, *, level: int = 1) -> str:
    """results.md; `level` is the heading level of the title (its sections one
    deeper), level > 1 leaves the title out (for embedding under a heading)."""
    m = results.get("machine", {})
    sub = "#" * (level + 1) + " "
    lines = ["# pykernels benchmark results", ""] if level == 1 else []
    if m:
        gpus = ", ".join(m.get("gpus") or []) or "none"
        lines += [f"Machine: {m.get('cpu')} ({m.get('logical_cpus')} logical CPUs, "
                  f"{m.get('threads')} pykernels threads, SIMD {m.get('simd')}); GPU: {gpus}.",
                  f"NumPy {m.get('numpy')}, PyTorch {m.get('torch') or 'not installed'}, "
                  f"CuPy {m.get('cupy') or 'not installed'}, Python {m.get('python')}.", ""]
    s = results.get("settings", {})
    if s:
        lines += [f"Command: `{s.get('command', '')}`; median of {s.get('repeat')} repeats "
                  "after warm-up (each repeat long enough to time; GPU timed with CUDA events).",
                  ""]
    lines += ["Ratios are pykernels' speedup (baseline time / pykernels time; above 1 means "
              "pykernels is faster). GB/s count compulsory traffic (inputs read once, outputs "
              "written once).", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |",
              "|" + "|".join("---" if i < 3 else "---:" for i in range(len(COLUMNS))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(results)]
    steps = [r for r in results.get("rows", []) if r["kind"] == "step"]
    if steps:
        lines += ["", sub + "End-to-end training step", ""]
        model = steps[0].get("model", "")
        lines += [f"{model}; time per step (zero_grad, forward, loss, backward, optimizer).", "",
                  "| device | batch | pykernels | PyTorch | pykernels speedup |",
                  "|---|---|---:|---:|---:|"]
        for r in steps:
            lines.append(f"| {r['device']} | {r['shape'].replace('batch ', '')} | "
                         f"{_cell(r, 'pykernels')} | {_cell(r, 'torch')} | "
                         f"{_ratio(r.get('ratios', {}).get('torch'))} |")
    for r in steps:
        verdict = _step_verdict(r)
        if verdict:
            lines += ["", verdict]
    for r in steps:
        for impl in ("pykernels", "torch"):
            phases = r["results"].get(impl, {}).get("phases_ms")
            if phases:
                total = sum(phases.values()) or 1.0
                lines += ["", f"Where the time goes: {IMPL_COLUMNS[impl]}, {r['device']}, "
                              f"{r['shape']} (median ms per phase, device synchronised "
                              "after each)", "", "| phase | ms | share |", "|---|---:|---:|"]
                lines += [f"| {name} | {ms:.3f} | {100 * ms / total:.0f}% |"
                          for name, ms in phases.items()]
    ceil = _ceiling_lines(results)
    if ceil:
        lines += ["", sub + "Ceilings (measured in the same run)", ""] + [f"- {c}" for c in ceil]
    notes = OrderedDict()
    for r in results.get("rows", []):
        for impl, note in r.get("notes", {}).items():
            notes.setdefault((r["op"], impl, note), None)
    if notes:
        lines += ["", sub + "Baselines", ""]
        lines += [f"- {op}, {IMPL_COLUMNS.get(impl, impl)}: {note}" for op, impl, note in notes]
    bad = _failed_checks(results)
    if bad:
        lines += ["", sub + "pykernels results that differ from the reference", ""]
        lines += [f"- {b}" for b in bad]
    skipped = skipped_summary(results)
    if skipped:
        lines += ["", sub + "Not run", ""] + [f"- {s}" for s in skipped]
    return "\n".join(lines) + "\n"


def write_png(results: dict, path) -> str | None:
    """Bar chart of pykernels' speedup over each baseline; returns None, or a
    message when matplotlib is absent (nothing is written then)."""
    try:
        import matplotlib
    except ImportError:
        return "matplotlib is not installed: results.png not written (pip install matplotlib)"
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = [r for r in results.get("rows", []) if r.get("ratios")]
    labels = [f"{r['op']} [{r['shape']}] {r['device']}" for r in rows]
    present = [b for b in BASELINES if any(b in r["ratios"] for r in rows)]
    height = max(3.0, 0.32 * len(rows) * max(1, len(present)) ** 0.5 + 1.6)
    fig, ax = plt.subplots(figsize=(11, height))
    if not rows:
        ax.text(0.5, 0.5, "no case ran with pykernels and a baseline", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        colors = {"numpy": "#4c72b0", "torch": "#dd8452", "cupy": "#55a868"}
        bar = 0.8 / len(present)
        for k, b in enumerate(present):
            ys = [i - 0.4 + bar * (k + 0.5) for i in range(len(rows))]
            xs = [r["ratios"].get(b, float("nan")) for r in rows]
            ax.barh(ys, xs, height=bar, color=colors[b], label=f"vs {IMPL_COLUMNS[b]}")
            for y, x in zip(ys, xs):
                if x == x:  # not NaN
                    ax.annotate(f"{x:.2f}x", (x, y), xytext=(3, 0), textcoords="offset points",
                                va="center", fontsize=6)
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xscale("log")
        finite = [v for r in rows for v in r["ratios"].values() if v > 0]
        ax.set_xlim(min(finite + [1.0]) / 1.6, max(finite + [1.0]) * 1.6)
        fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x")
        ax.xaxis.set_major_formatter(fmt)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1, 2, 5)))
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("pykernels speedup (baseline time / pykernels time, log scale; "
                      "right of 1 = pykernels faster)")
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        m = results.get("machine", {})
        ax.set_title(f"pykernels vs baselines - {m.get('cpu', '')}, "
                     f"threads: {m.get('threads', '?')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


README_START = "<!-- bench-results:start -->"
README_END = "<!-- bench-results:end -->"


def update_readme(results: dict, path) -> None:
    """Replace what lies between the bench-results markers of a README with
    these results (sections under the README's own "### Results" heading)."""
    with open(path) as f:
        text = f.read()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{path} has no {README_START} ... {README_END} markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    body = to_markdown(annotate(results), level=3).strip()
    with open(path, "w") as f:
        f.write(f"{head}{README_START}\n{body}\n{README_END}{tail}")


def load_results(data: dict) -> dict:
    """Results from either JSON this package writes: results.json of
    `pykernels bench`, or pytest-benchmark's JSON of benchmarks/."""
    if "rows" in data:
        return annotate(data)
    return from_pytest_benchmark(data)


def from_pytest_benchmark(data: dict) -> dict:
    """Results (as `run` makes them) from a pytest-benchmark JSON file saved by
    the benchmarks/ suite: its extra_info says which case and implementation
    each benchmark is, and the suite stores the ceilings beside them."""
    rows = OrderedDict()
    for b in data.get("benchmarks", []):
        info = b.get("extra_info", {})
        if "impl" not in info or "op" not in info or info.get("op", "").startswith(
                ("cpu_", "gpu_")):
            continue
        kind = info.get("kind", "memory")
        key = (info["op"], info.get("shape", ""), info.get("device", "cpu"))
        row = rows.setdefault(key, {
            "op": key[0], "shape": key[1], "device": key[2], "kind": kind,
            "unit": {"gemm": "GFLOP/s", "memory": "GB/s"}.get(kind, "ms/step"),
            "flops": info.get("flops", 0.0), "bytes": info.get("bytes", 0.0),
            "results": {}, "skipped": {}, "notes": {}})
        if "model" in info:
            row["model"] = info["model"]
        if kind == "step" and key[2] == "cpu":
            from .train_step import TARGETS
            batch = int(key[1].split()[-1]) if key[1].split()[-1].isdigit() else None
            if batch in TARGETS:
                row["target_vs_torch"] = TARGETS[batch]
        st = b["stats"]
        median = st["median"]
        work = row["flops"] if kind == "gemm" else row["bytes"]
        row["results"][info["impl"]] = {
            "median_s": median, "iqr_s": st.get("iqr", 0.0), "repeats": st.get("rounds"),
            "number": st.get("iterations", 1),
            "rate": median * 1e3 if kind == "step" else work / median / 1e9}
    extra = data.get("pykernels", {})
    devices = sorted({r["device"] for r in rows.values()})
    results = {"schema": 1, "created": data.get("datetime", ""),
               "machine": extra.get("machine", {}), "ceilings": extra.get("ceilings", {}),
               "settings": {"command": "pytest benchmarks/ --benchmark-only "
                                       "(converted from its JSON)",
                            "repeat": "pytest-benchmark rounds", "devices": devices},
               "rows": list(rows.values())}
    return annotate(results)


def write_all(results: dict, out_dir) -> dict:
    """results.json, results.md and results.png in out_dir; returns the paths
    written and, under "messages", anything that was not."""
    os.makedirs(out_dir, exist_ok=True)
    annotate(results)
    paths = {"json": os.path.join(out_dir, "results.json"),
             "md": os.path.join(out_dir, "results.md"),
             "png": os.path.join(out_dir, "results.png")}
    with open(paths["json"], "w") as f:
        json.dump(results, f, indent=1, default=float)
    with open(paths["md"], "w") as f:
        f.write(to_markdown(results))
    msg = write_png(results, paths["png"])
    if msg:
        del paths["png"]
        paths["messages"] = [msg]
    return paths
