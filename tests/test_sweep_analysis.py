"""Query views and analysis on sweep folders of fake runs whose outcome is a known function of the parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import OutcomeSpec, analyze, morris_indices, point_means, sobol_indices
from experiments.prim import prim
from experiments.query import export_csv, query
from experiments.sweep import sweep_status
from tests.sweep_helpers import fake_runs, write_sweep

PARAMS = """uncertain:
  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}
  - {path: sourcing.p_review, type: real, range: [0.05, 0.3]}
  - {path: recording.flows, type: categorical, values: [moves, all]}
"""


def outcome(row: dict) -> float:
    """Strong effect of export growth, a step for flows='all', none of p_review; policy b adds 0.1."""
    return 10 * row["export_growth"] + (0.3 if row["flows"] == "all" else 0.0) + (0.1 if row["policy"] == "b" else 0)


def sweep_folder(tmp_path, design: str, fail=lambda row: False):
    body = f"name: fk\nseed: 5\nreplications: 2\npolicies: [{{name: a}}, {{name: b}}]\n{PARAMS}design: {design}\n"
    return fake_runs(write_sweep(tmp_path, body), tmp_path / "out", outcome, fail)


def test_views_join_runs_with_their_parameters_and_skip_failed_runs(tmp_path):
    folder = sweep_folder(tmp_path, "{method: lhs, samples: 6}", fail=lambda r: r["point"] == 2)
    runs = query(folder.root, "SELECT * FROM runs ORDER BY run_id")
    assert len(runs) == 2 * 6 * 2 and {"export_growth", "p_review", "flows", "seed", "status"} <= set(runs.columns)
    assert set(runs.loc[runs["point"] == 2, "status"]) == {"failed"}
    by_policy = query(folder.root, "SELECT policy, median(localisation_rate) AS m, count(DISTINCT run_id) AS n "
                                   "FROM indicators WHERE date = '2023-03' GROUP BY policy ORDER BY policy")
    assert list(by_policy["n"]) == [10, 10]  # 12 runs per policy minus the two failed ones
    assert by_policy["m"].iloc[1] - by_policy["m"].iloc[0] == pytest.approx(0.1)
    ind = query(folder.root, "SELECT * FROM indicators WHERE step = 3")
    assert np.allclose(ind["localisation_rate"], [outcome(r) for r in ind.to_dict("records")])
    firms = query(folder.root, "SELECT count(*) AS n FROM firms")
    assert firms["n"].iloc[0] == 20
    path = tmp_path / "x.csv"
    assert export_csv(folder.root, "SELECT run_id, policy FROM runs", path) == 24
    assert len(pd.read_csv(path)) == 24
    # a one-number result: its header looks like data, which once made the count read back 2
    assert export_csv(folder.root, "SELECT 1", path) == 1 and len(pd.read_csv(path)) == 1


def test_a_half_written_run_folder_is_invisible(tmp_path):
    folder = sweep_folder(tmp_path, "{method: lhs, samples: 2}")
    tmp = folder.runs / ".tmp-a-p0000-r00-999"
    tmp.mkdir()
    (tmp / "indicators.parquet").write_bytes(b"half a file")
    assert query(folder.root, "SELECT count(DISTINCT run_id) AS n FROM indicators")["n"].iloc[0] == 8


def test_sobol_ranks_parameters_and_drops_blocks_with_failed_runs(tmp_path):
    folder = sweep_folder(tmp_path, "{method: sobol, samples: 32}", fail=lambda r: r["point"] == 4)
    meta = folder.read_meta()
    values = query(folder.root, "SELECT r.point, r.replicate, i.localisation_rate AS value, r.policy FROM runs r "
                                "LEFT JOIN indicators i ON i.run_id = r.run_id AND i.step = 3 WHERE r.policy = 'a'")
    y, n = point_means(values, meta["n_points"])
    assert np.isnan(y[4]) and n[4] == 0 and (n[np.arange(len(n)) != 4] == 2).all()
    table, used, total = sobol_indices(meta, y, seed=1)
    assert (used, total) == (31, 32)
    st = table.set_index("parameter")["ST"]
    assert st["export_growth"] > st["flows"] > 0.0 and st["p_review"] == pytest.approx(0.0, abs=1e-9)
    assert (table["ST_conf"] >= 0).all()


def test_morris_finds_the_inert_parameter(tmp_path):
    folder = sweep_folder(tmp_path, "{method: morris, samples: 10}")
    meta = folder.read_meta()
    points = pd.read_parquet(folder.points)
    values = query(folder.root, "SELECT r.point, i.localisation_rate AS value FROM runs r JOIN indicators i "
                                "USING (run_id) WHERE i.step = 3 AND r.policy = 'b'")
    y, _ = point_means(values, meta["n_points"])
    table, used, total = morris_indices(meta, points[[f"u_{c}" for c in meta["problem"]["names"]]].to_numpy(), y, 1)
    mu = table.set_index("parameter")["mu_star"]
    assert used == total == 10
    assert mu["p_review"] == pytest.approx(0.0) and mu["export_growth"] > 0 and mu["flows"] > 0


def test_prim_recovers_a_known_box():
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"a": rng.uniform(0, 1, 2000), "b": rng.uniform(0, 1, 2000),
                      "c": rng.choice(["x", "y", "z"], 2000)})
    y = ((x["a"] > 0.6) & (x["c"] != "z")).to_numpy()
    res = prim(x, y)
    box = res.box_table().set_index("parameter")
    assert set(box.index) == {"a", "c"}
    lo = float(box.loc["a", "restriction"].split(" .. ")[0])
    assert 0.55 < lo < 0.65 and "z" not in box.loc["c", "restriction"]
    chosen = res.trajectory.iloc[res.chosen]
    assert chosen["density"] > 0.9 and chosen["coverage"] >= 0.5
    assert res.trajectory["mass"].is_monotonic_decreasing


def test_analyze_writes_report_figures_and_tables_and_names_failed_runs(tmp_path):
    folder = sweep_folder(tmp_path, "{method: sobol, samples: 16}", fail=lambda r: r["point"] == 1)
    report = analyze(folder.root, [OutcomeSpec.parse("localisation_rate@end"), OutcomeSpec.parse("localisation_rate@2023-02")])
    text = report.read_text()
    dest = report.parent
    assert "a-p0001-r00" in text and "15 of 16 Saltelli blocks" in text
    for name in ("sobol_localisation_rate_end_a.csv", "sobol_localisation_rate_end_b.png", "prim_localisation_rate_end.csv",
                 "fan_localisation_rate.png", "fan_localisation_rate.csv", "failed_runs.csv"):
        assert (dest / name).is_file(), name
    prim_rows = text.split("Scenario discovery")[1].split("###")[0]
    assert "export_growth" in prim_rows and "p_review" not in prim_rows
    fan = pd.read_csv(dest / "fan_localisation_rate.csv")
    assert (fan["q05"] <= fan["q50"]).all() and (fan["q50"] <= fan["q95"]).all()
    assert set(sweep_status(folder.root)["status"]) == {"complete", "failed"}
    with pytest.raises(ValueError, match="unknown indicator"):
        analyze(folder.root, [OutcomeSpec.parse("no_such_thing")])


@pytest.mark.parametrize("change, needle", [
    ({"parameters": [{"column": 5}], "outcomes": "x"}, "parameters[0].column is 5; str is expected"),
    ({"outcomes": "x"}, "outcomes is 'x'; list is expected"),
    ({"outcomes": [{"indicator": "localisation_rate"}]}, "outcomes[0].at is missing; str is expected"),
    ({"parameters": [{"column": 5}]}, "parameters[0].column is 5; str is expected"),
    ({"problem": {"num_vars": 3, "names": "abc"}}, "problem.names is 'abc'; list is expected"),
    ({"design": {"method": "morris"}}, "design.levels is missing; int is expected"),
])
def test_analyze_names_a_damaged_sweep_json_instead_of_a_traceback(tmp_path, change, needle):
    """sweep.json with "outcomes": "x" made analyze crash (TypeError: string indices must be
    integers, analysis.py:163): its shape is checked in one place, SweepFolder.read_meta."""
    import json

    from typer.testing import CliRunner

    from tests.test_sweep_cli import app

    folder = sweep_folder(tmp_path, "{method: lhs, samples: 2}")
    meta = json.loads(folder.meta.read_text())
    folder.meta.write_text(json.dumps({**meta, **change}))
    res = CliRunner().invoke(app(), ["analyze", str(folder.root)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert f"{folder.meta}: {needle} (the sweep folder is damaged)" in " ".join(res.output.split()), res.output
