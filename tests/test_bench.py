"""The benchmark machinery (pykernels.bench): timing statistics, report
files from fake results, the pytest-benchmark JSON conversion, and
`pykernels bench` on a tiny subset."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from pykernels import cli
from pykernels.bench import cases, report, timing
from pykernels.bench.runner import agree, run_case
from pykernels.bench.train_step import run_train_step  # noqa: F401 (monkeypatched module)


class FakeClock:
    """A clock that advances only when the timed function says so."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = list(durations)
        self.calls = 0

    def __call__(self):
        return self.now

    def fn(self):
        self.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1


def test_time_cpu_median_of_repeats_with_calibrated_number():
    # warm-up call lasts 4 ms -> number = ceil(10 ms / 4 ms) = 3 calls per repeat
    clock = FakeClock([0.004, 0.001, 0.001, 0.001, 0.002, 0.002, 0.002, 0.009, 0.009, 0.009])
    t = timing.time_cpu(clock.fn, repeat=3, warmup=1, min_time=0.01, clock=clock)
    assert t.number == 3 and t.warmup == 1 and t.repeats == 3
    assert t.times == pytest.approx([0.001, 0.002, 0.009])
    assert t.median == pytest.approx(0.002)
    assert t.min == pytest.approx(0.001)
    assert t.iqr == pytest.approx(np.percentile(t.times, 75) - np.percentile(t.times, 25))
    assert clock.calls == 1 + 3 * 3


def test_time_cpu_warmup_uses_fastest_call_and_caps_number():
    clock = FakeClock([1.0, 0.0])  # a slow first call, then calls that take no time
    t = timing.time_cpu(clock.fn, repeat=2, warmup=2, min_time=0.5, max_number=7, clock=clock)
    assert t.number == 7  # zero-duration warm-up -> max_number


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_quantiles_match_numpy(n, rng):
    xs = list(rng.random(n))
    t = timing.Timing(times=xs)
    assert t.median == pytest.approx(np.median(xs))
    assert t.q1 == pytest.approx(np.percentile(xs, 25))
    assert t.q3 == pytest.approx(np.percentile(xs, 75))
    d = t.to_dict()
    assert d["median"] == pytest.approx(np.median(xs)) and d["repeats"] == n


def test_time_cpu_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeat"):
        timing.time_cpu(lambda: None, repeat=0)


def test_case_registry():
    all_ = cases.all_cases()
    ids = [(c.op, c.shape) for c in all_]
    assert len(ids) == len(set(ids))
    quick = cases.select_cases(quick=True)
    assert 0 < len(quick) < len(all_)
    for c in all_:
        assert c.kind in ("gemm", "memory")
        assert (c.flops if c.kind == "gemm" else c.bytes) > 0, c.id
        assert c.requires, c.id
    only = cases.select_cases(filter="softmax, batch_norm")
    assert only and all("softmax" in c.op or "batch_norm" in c.op for c in only)


def test_agree_reports_differences():
    a = np.ones((3, 4))
    assert agree((a, 2.0), (a.copy(), 2.0)) is None
    assert "output 1" in agree((a, 2.0), (a, 3.0))
    assert "shape" in agree(a, np.ones((4, 3)))
    assert "outputs" in agree((a, a), a)


def test_run_case_skips_ops_not_built_with_reason():
    case = cases.Case(op="not_an_op", shape="4", kind="memory", bytes=32.0,
                      make_inputs=lambda rng: {"x": np.ones(4, np.float32)},
                      pk=lambda d: (lambda: d["x"]), xp=lambda xp, d: (lambda: d["x"] * 2),
                      requires=("surely_missing_op",))
    row = run_case(case, "cpu", repeat=2, min_time=0.0, impls=("pykernels", "numpy"))
    assert row["skipped"]["pykernels"] == "not in pk.ops yet: surely_missing_op"
    assert row["results"]["numpy"]["repeats"] == 2
    assert row["results"]["numpy"]["rate"] > 0


def test_run_case_matmul_checks_against_numpy():
    case = cases._matmul_case(8, 16, 4)
    row = run_case(case, "cpu", repeat=2, min_time=0.0, impls=("pykernels", "numpy"))
    assert row["check"] == "ok"
    assert set(row["results"]) == {"pykernels", "numpy"}


def _fake_results():
    def res(median, rate):
        return {"median_s": median, "iqr_s": median / 10, "repeats": 5, "number": 3,
                "rate": rate}
    rows = [
        {"op": "matmul", "shape": "64x64 @ 64x64", "kind": "gemm", "device": "cpu",
         "unit": "GFLOP/s", "flops": 2 * 64**3, "bytes": 0,
         "results": {"pykernels": res(1e-4, 5.0), "numpy": res(2e-4, 2.5),
                     "torch": res(5e-5, 10.0)}, "skipped": {"cupy": "cupy is not installed"},
         "notes": {}},
        {"op": "matmul", "shape": "64x64 @ 64x64", "kind": "gemm", "device": "cuda",
         "unit": "GFLOP/s", "flops": 2 * 64**3, "bytes": 0,
         "results": {"pykernels": res(1e-5, 50.0), "cupy": res(1e-5, 50.0)}, "skipped": {},
         "notes": {}},
        {"op": "relu", "shape": "1024", "kind": "memory", "device": "cpu", "unit": "GB/s",
         "flops": 0, "bytes": 8192, "results": {"numpy": res(1e-6, 8.0)},
         "skipped": {"pykernels": "not in pk.ops yet: activation"}, "notes": {}},
        {"op": "train step", "shape": "batch 128", "kind": "step", "device": "cpu",
         "unit": "ms/step", "model": "MLP", "target_vs_torch": 1.3,
         "results": {"pykernels": {**res(0.002, 2.0), "phases_ms": {"fwd": 0.5, "opt": 1.5}},
                     "torch": res(0.003, 3.0)},
         "skipped": {}, "notes": {}},
    ]
    return {"machine": {"cpu": "Test CPU", "threads": 2}, "settings": {"repeat": 5,
                                                                      "command": "x"},
            "ceilings": {"cpu_fma": {"value": 10.0, "unit": "GFLOP/s", "method": "m"},
                         "cpu_copy": {"value": 16.0, "unit": "GB/s", "method": "c"},
                         "gpu_matmul": {"value": None, "unit": "GFLOP/s", "error": "none"}},
            "skipped_devices": {}, "rows": rows}


def test_annotate_ratios_ceiling_and_gpu_vs_cpu():
    r = report.annotate(_fake_results())
    cpu, cuda, relu, step = r["rows"]
    assert cpu["ratios"] == pytest.approx({"numpy": 2.0, "torch": 0.5})
    assert cpu["results"]["pykernels"]["pct_of_ceiling"] == pytest.approx(50.0)
    assert cuda["gpu_vs_cpu"] == pytest.approx(10.0)
    assert cuda["results"]["pykernels"]["pct_of_ceiling"] is None  # ceiling not measured
    assert relu["ratios"] == {}
    assert step["ratios"] == pytest.approx({"torch": 1.5})


def test_write_all_makes_the_three_files(tmp_path):
    pytest.importorskip("matplotlib")
    paths = report.write_all(_fake_results(), tmp_path / "out")
    assert "messages" not in paths
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["rows"][0]["ratios"]["numpy"] == pytest.approx(2.0)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| op | shape | device | pykernels |" in md
    assert "2.00x" in md and "1.50x" in md and "End-to-end training step" in md
    assert "not in pk.ops yet: activation" in md
    assert "1.50x PyTorch per step (target 1.3x: met). Largest pykernels phases: opt 75%" in md
    png = (tmp_path / "out" / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_png_skipped_with_message_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    paths = report.write_all(_fake_results(), tmp_path)
    assert "png" not in paths and "matplotlib" in paths["messages"][0]
    assert not (tmp_path / "results.png").exists()
    assert (tmp_path / "results.md").exists() and (tmp_path / "results.json").exists()


def test_format_table_aligns_columns():
    lines = report.format_table(report.annotate(_fake_results())).splitlines()
    assert lines[0].startswith("op") and set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + 4
    assert "0.50x" in lines[2]


def test_from_pytest_benchmark_json():
    def bench(impl, median, **info):
        base = {"op": "matmul", "shape": "8x8", "kind": "gemm", "device": "cpu",
                "flops": 1024.0, "bytes": 0.0, "impl": impl}
        return {"stats": {"median": median, "iqr": 0.0, "rounds": 5, "iterations": 1},
                "extra_info": {**base, **info}}
    data = {"benchmarks": [bench("pykernels", 1e-6), bench("numpy", 3e-6),
                           bench("numpy", 1e-3, op="cpu_copy"),
                           {"stats": {"median": 1.0}, "extra_info": {}}],
            "pykernels": {"ceilings": {"cpu_fma": {"value": 2.048, "unit": "GFLOP/s"}},
                          "machine": {"cpu": "x"}}}
    r = report.from_pytest_benchmark(data)
    (row,) = r["rows"]
    assert row["ratios"]["numpy"] == pytest.approx(3.0)
    assert row["results"]["pykernels"]["rate"] == pytest.approx(1.024)
    assert row["results"]["pykernels"]["pct_of_ceiling"] == pytest.approx(50.0)


def test_train_step_row(monkeypatch):
    from pykernels.bench import train_step
    calls = []
    monkeypatch.setattr(train_step, "STEPS", {
        "pykernels": lambda batch, device: (lambda: calls.append(batch)),
        "torch": lambda batch, device: "torch is not installed (test)"})
    row = run_train_step(8, "cpu", repeat=3, min_time=0.0, warmup=2)
    assert row["kind"] == "step" and row["shape"] == "batch 8"
    assert row["results"]["pykernels"]["repeats"] == 3
    assert row["skipped"] == {"torch": "torch is not installed (test)"}
    assert calls and set(calls) == {8}


def test_train_step_phases(monkeypatch):
    from pykernels.bench import train_step
    calls = []
    step = train_step.Step([("a", lambda: calls.append("a")), ("b", lambda: calls.append("b"))])
    monkeypatch.setattr(train_step, "STEPS", {"pykernels": lambda batch, device: step})
    row = run_train_step(4, "cpu", repeat=2, min_time=0.0, warmup=1)
    phases = row["results"]["pykernels"]["phases_ms"]
    assert list(phases) == ["a", "b"] and all(v >= 0 for v in phases.values())
    assert calls[:4] == ["a", "b", "a", "b"]
    md = report.to_markdown(report.annotate({"rows": [row]}))
    assert "Where the time goes: pykernels, cpu, batch 4" in md and "| a |" in md


def test_train_step_pykernels_builds_or_says_why():
    from pykernels.bench.train_step import pykernels_step
    step = pykernels_step(4)
    if isinstance(step, str):
        assert "pk." in step or "failed" in step
    else:
        step()


def test_cli_bench_quick_tiny_subset(tmp_path, capsys):
    out = tmp_path / "res"
    rc = cli.main(["bench", "--quick", "--device", "cpu", "--filter", "matmul [128x784",
                   "--repeat", "2", "--no-train", "--threads", "1", "--baselines", "numpy",
                   "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "[1/1] matmul [128x784 @ 784x512] cpu" in text
    assert "ceiling cpu_copy" in text and "vs NumPy" in text
    data = json.loads((out / "results.json").read_text())
    (row,) = data["rows"]
    assert row["results"]["pykernels"]["repeats"] == 2
    assert "numpy" in row["results"]
    assert data["ceilings"]["cpu_copy"]["value"] > 0
    assert (out / "results.md").exists()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in text
    else:
        assert (out / "results.png").exists()


def test_cli_bench_explicit_cuda_without_device(capsys):
    import pykernels as pk
    if pk.backends()["cuda"]["available"]:
        pytest.skip("a CUDA device is present")
    assert cli.main(["bench", "--device", "cuda", "--out", "unused"]) == 2
    assert "cannot benchmark on cuda" in capsys.readouterr().err


def test_update_readme_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n### Results\n\n<!-- bench-results:start -->\nold\n"
                      "<!-- bench-results:end -->\n\nafter\n")
    report.update_readme(_fake_results(), readme)
    text = readme.read_text()
    assert "old" not in text and text.endswith("<!-- bench-results:end -->\n\nafter\n")
    assert "#### End-to-end training step" in text and "# pykernels benchmark" not in text
    assert "| matmul | 64x64 @ 64x64 | cpu |" in text
    (tmp_path / "bad.md").write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(_fake_results(), tmp_path / "bad.md")


def test_render_from_saved_results_json(tmp_path, capsys):
    paths = report.write_all(_fake_results(), tmp_path / "a")
    assert cli.main(["bench", "--from-json", paths["json"], "--out", str(tmp_path / "b")]) == 0
    assert "matmul" in capsys.readouterr().out
    assert (tmp_path / "b" / "results.md").read_text() == \
        (tmp_path / "a" / "results.md").read_text()


def test_cpu_fma_ceiling_uses_the_fma_loop_when_built(monkeypatch):
    from pykernels import _cpu
    from pykernels.bench import ceilings
    runs = iter([10.0, 30.0, 20.0])
    asked = []

    def fake_peak(seconds):
        asked.append(seconds)
        return next(runs)
    monkeypatch.setattr(_cpu, "peak_fma_gflops", fake_peak, raising=False)
    c = ceilings.cpu_fma_peak(quick=True)
    assert c["value"] == 30.0 and not c["lower_bound"] and len(asked) == 3
    monkeypatch.setattr(_cpu, "peak_fma_gflops", None)
    c = ceilings.cpu_fma_peak(quick=True, repeat=1)
    assert c["lower_bound"] and "lower bound" in c["note"] and c["value"] > 0
