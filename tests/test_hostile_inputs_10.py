"""Hostile input, part 10 (fuzzing round 7): indicators undefined at the end of some or all runs,
policy blocks that overlap, empty worlds in the dashboard."""

from __future__ import annotations

import math

import pandas as pd

from experiments.analysis import OutcomeSpec, analyze, outcome_values
from experiments.query import connect
from tests.sweep_helpers import fake_runs, write_sweep

SWEEP = """name: nan
seed: 5
policies: [{name: a}]
uncertain:
  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}
design: {method: lhs, samples: 6}
"""


def test_an_outcome_at_the_end_is_the_last_months_value_even_when_undefined(tmp_path):
    """`X@end` took a run's last *defined* value (DuckDB's arg_max skips NULL): a run whose SMEs had
    all closed reported its tech of months before as its end, and counted as giving a value."""
    folder = fake_runs(write_sweep(tmp_path, SWEEP), tmp_path / "out", lambda row: 0.5)  # 0 .. 0.5 in 3 months
    for run in sorted(folder.runs.iterdir())[::2]:  # three runs whose indicator is undefined at the end
        table = pd.read_parquet(run / "indicators.parquet")
        table.loc[table["step"] == 3, "localisation_rate"] = math.nan
        table.to_parquet(run / "indicators.parquet")
    con = connect(folder.root)
    values = outcome_values(con, OutcomeSpec.parse("localisation_rate@end")).set_index("run_id")
    con.close()
    assert values["value"].isna().sum() == 3 and (values["value"].dropna() == 0.5).all()
    text = analyze(folder.root, [OutcomeSpec.parse("localisation_rate@end")]).read_text()
    assert "3 of 6 runs give a value; 3 do not (0 not complete, 3 complete with no value then" in text


def test_analyze_draws_a_gap_for_a_month_no_run_has_a_value(tmp_path):
    """A month where the indicator was undefined in every run crashed analyze with pandas's "Shape of
    passed values is (18, 1), indices imply (18, 5)" (exit 2, as for bad input)."""
    folder = fake_runs(write_sweep(tmp_path, SWEEP), tmp_path / "out", lambda row: math.nan)
    report = analyze(folder.root, [OutcomeSpec.parse("localisation_rate@end")])
    fan = pd.read_csv(report.parent / "fan_localisation_rate.csv")
    assert list(fan["n"]) == [0, 0, 0] and fan[["q05", "q25", "q50", "q75", "q95"]].isna().all().all()
    assert (report.parent / "fan_localisation_rate.png").is_file()
