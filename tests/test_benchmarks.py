"""The benchmark's world scaler and its report format (the timings themselves are not tested)."""

from __future__ import annotations

import json

import pytest

from benchmarks import run
from benchmarks.worlds import baseline_firms, scaled_world


@pytest.mark.parametrize("n", [1_000, 5_000, 20_000, 100_000])
def test_scaled_world_has_about_n_firms(n):
    sc = scaled_world(n)
    assert abs(baseline_firms(sc) - n) / n < 0.03
    assert sum(d.working_age for d in sc.geography.districts) > 0


def test_scaled_world_scales_workers_with_firms():
    small, big = scaled_world(1_000), scaled_world(20_000)
    ratio = sum(d.working_age for d in big.geography.districts) / sum(d.working_age for d in small.geography.districts)
    assert ratio == pytest.approx(20, rel=0.01)
    lead_staff = [sum(x.employees for x in sc.lead_firms) for sc in (small, big)]
    assert lead_staff[1] / lead_staff[0] == pytest.approx(20, rel=0.02)


def _fake_spawn(kind, **kw):
    firms = {"baseline": 3496, "1k": 1000, "5k": 5000, "20k": 20000, "100k": 100000}
    if kind == "model":
        n = firms[kw["world"]]
        return {"world": kw["world"], "firms": n, "workers": 250 * n, "months": 96, "init_s": 0.1,
                "run_s": n / 1000, "cpu_s": n / 1000, "step_s": n / 96000,
                "phases_s": dict.fromkeys(run.PHASES, n / 700000), "firms_end": n, "contracts_end": 20 * n,
                "drawn_start": 300 * n, "drawn_month": 15 * n,
                "peak_mib": 300.0, "warning": None}
    if kind == "reference":
        return {"world": kw["world"], "months": kw["months"], "model_step_s": 0.01, "reference_step_s": 0.3,
                "ratio": 30.0, "model_localisation": 0.07, "reference_localisation": 0.07}
    return {"world": "baseline", "off_s": 1.0, "on_s": 1.05, "write_s": 0.05, "overhead": 0.0909,
            "off_cpu_s": 1.0, "on_cpu_s": 1.04, "write_cpu_s": 0.04, "overhead_cpu": 0.0741, "rows": {}}


@pytest.mark.parametrize("quick", [True, False])
def test_report_and_json_keys(tmp_path, monkeypatch, capsys, quick):
    monkeypatch.setattr(run, "_spawn", _fake_spawn)
    out = tmp_path / "bench.json"
    assert run.main((["--quick"] if quick else []) + ["--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    keys = ("baseline_run_s", "speedup_vs_mesa_reference", "scaling_exponent", "run_100k_s", "peak_mib_100k",
            "recording_overhead")
    assert all(k in figures for k in keys)
    assert figures["scaling_exponent"] == pytest.approx(1.0)
    if quick:
        assert figures["run_100k_s"] is None and figures["recording_overhead"] is None
        assert figures["speedup_world"] == "1k"
    else:
        assert figures["run_100k_s"] == pytest.approx(100.0) and figures["speedup_world"] == "5k"
    out_text = capsys.readouterr().out
    assert "Scaling exponent" in out_text
    assert "Tender candidates drawn" in out_text and " 1500000 " in out_text  # 100k x 15 a month


def test_compare_summary_takes_medians_and_flags_changed_results():
    from benchmarks import compare

    def runs(times, contracts=100):
        return [{"run_s": t, "init_s": t / 10, "phases_ms": {"sourcing": 10 * t, "record": t},
                 "contracts": contracts} for t in times]

    old, new = runs([2.0, 4.0, 3.0]), runs([1.5, 1.0, 9.0])
    s = compare.summarise(old, new)
    assert (s["old_run_s"], s["new_run_s"]) == (3.0, 1.5)  # medians, not means: one slow run moves neither
    assert s["ratio"] == pytest.approx(0.5)
    assert s["phases"]["sourcing"] == (30.0, 15.0)
    assert s["same_contracts"]
    text = compare.report("abc1234", list(zip(old, new, strict=True)), s)
    assert "+50.0% time saved" in text and "warning" not in text
    changed = compare.summarise(old, runs([1.0, 1.0, 1.0], contracts=101))
    assert not changed["same_contracts"]
    assert "changed results" in compare.report("abc1234", list(zip(old, new, strict=True)), changed)


def test_compare_refuses_an_unknown_revision(capsys):
    from benchmarks import compare

    assert compare.main(["no-such-revision-xyz"]) == 2
    assert "cannot check out 'no-such-revision-xyz'" in capsys.readouterr().err


@pytest.mark.parametrize("quick", [True, False])
def test_plot_draws_what_the_json_holds(tmp_path, monkeypatch, capsys, quick):
    from benchmarks import plot

    monkeypatch.setattr(run, "_spawn", _fake_spawn)
    js, png = tmp_path / "bench.json", tmp_path / "bench.png"
    assert run.main((["--quick"] if quick else []) + ["--json", str(js), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    again = tmp_path / "again.png"
    assert plot.main([str(js), "-o", str(again)]) == 0  # a saved run drawn again
    assert again.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_refuses_a_file_that_is_not_benchmark_figures(tmp_path, capsys):
    from benchmarks import plot

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"baseline_run_s": 3.0}))
    assert plot.main([str(bad)]) == 2
    assert "has no world runs" in capsys.readouterr().err
    bad.write_text("{not json")
    assert plot.main([str(bad)]) == 2
    assert f"cannot read {bad}" in capsys.readouterr().err
    assert not bad.with_suffix(".png").exists()


def test_run_refuses_an_output_folder_that_does_not_exist_before_measuring(tmp_path, monkeypatch, capsys):
    def no_spawn(kind, **kw):
        raise AssertionError("measured before checking where the figures go")

    monkeypatch.setattr(run, "_spawn", no_spawn)
    with pytest.raises(SystemExit) as e:
        run.main(["--quick", "--plot", str(tmp_path / "missing" / "b.png")])
    assert e.value.code == 2
    assert "does not exist" in capsys.readouterr().err
