"""Sweep files and designs: strict validation with file/line errors; deterministic, correctly typed points."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from experiments import designs
from experiments.sweep_spec import SweepSpecError, load_sweep, yaml_value
from model import yamlio
from tests.sweep_helpers import write_sweep

PARAMS = """uncertain:
  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}
  - {path: sourcing.p_review, type: real, range: [0.05, 0.5], distribution: normal, mean: 0.2, sd: 0.1}
  - {path: firm_groups.0.count, type: integer, range: [10, 13]}
  - {path: recording.flows, type: categorical, values: [moves, all]}
  - {path: categories.0.certification, type: boolean}
"""


def spec_with(tmp_path, design: str, params: str = PARAMS, extra: str = ""):
    return load_sweep(write_sweep(tmp_path, f"name: t\nseed: 11\nreplications: 2\n{params}design: {design}\n{extra}"))


def error_of(tmp_path, body: str) -> SweepSpecError:
    with pytest.raises(SweepSpecError) as err:
        load_sweep(write_sweep(tmp_path, body))
    return err.value


def test_unknown_key_names_file_line_and_allowed_keys(tmp_path):
    body = "name: t\nseed: 1\nuncertain:\n  - {path: economy.export_growth, type: real, range: [0, 1], colour: red}\n"
    err = error_of(tmp_path, body)
    issue = err.errors[0]
    assert issue.line == 5  # write_sweep puts `base:` on line 1
    assert issue.path == "uncertain[0].colour" and issue.value == "red"
    assert "allowed keys" in issue.message and "distribution" in issue.message
    assert str(tmp_path / "sweep.yaml") + ":5:" in str(err)


@pytest.mark.parametrize("body, path, fragment", [
    ("name: t\nseed: 1\nuncertain:\n  - {path: a.b, type: reel, range: [0, 1]}\n", "uncertain[0].type", "allowed"),
    ("name: t\nseed: 1\nuncertain:\n  - {path: a.b, type: integer, range: [5, 2]}\n", "uncertain[0].range", "low < high"),
    ("name: t\nseed: 1\nuncertain:\n  - {path: a.b, type: real, range: [0, 1], distribution: normal, mean: 0}\n",
     "uncertain[0].distribution", "missing ['sd']"),
    ("name: t\nseed: 1\ndesign: {method: sobol, samples: 6}\nuncertain:\n  - {path: a.b, type: boolean}\n",
     "design.samples", "power of 2"),
    ("name: t\nseed: -1\n", "seed", "greater than or equal"),
    ("name: t\n", "seed", "required key is missing"),
    ("name: t\nseed: 1\npolicies: [{name: a}, {name: a}]\n", "policies[1].name", "duplicate policy"),
    ("name: t\nseed: 1\npolicies: [{name: a, scenario: nowhere.yaml}]\n", "policies[0].scenario", "not found"),
])
def test_invalid_sweep_files_are_explained(tmp_path, body, path, fragment):
    err = error_of(tmp_path, body)
    assert any(i.path == path and fragment in i.message for i in err.errors), str(err)
    assert all(i.file == str(tmp_path / "sweep.yaml") for i in err.errors)


def line_of(path, text: str, nth: int = 1) -> int:
    """The line number of the nth line of ``path`` that contains ``text``."""
    hits = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if text in line]
    return hits[nth - 1]


@pytest.mark.parametrize("body, key, needle, nth, value, fragment", [
    # a reversed range: at the range's own line, not the parameter's whole mapping
    ("name: t\nseed: 1\nuncertain:\n  - path: economy.export_growth\n    type: real\n    range: [0.1, 0.0]\n",
     "uncertain[0].range", "range:", 1, [0.1, 0.0], "low < high"),
    ("name: t\nseed: 1\nuncertain:\n  - path: firm_groups.0.count\n    type: integer\n    range: [9, 9]\n",
     "uncertain[0].range", "range:", 1, [9, 9], "low < high"),
    ("name: t\nseed: 1\nuncertain:\n  - path: economy.export_growth\n    type: real\n    range: [0.0, 0.1]\n"
     "    distribution: triangular\n    mode: 0.5\n", "uncertain[0].mode", "mode:", 1, 0.5, "within range"),
    ("name: t\nseed: 1\nuncertain:\n  - path: economy.export_growth\n    type: real\n    range: [0.0, 0.1]\n"
     "    mean: 0.05\n", "uncertain[0].mean", "mean:", 1, 0.05, "not used: ['mean']"),
    # duplicates: at the second one's own key and line
    ("name: t\nseed: 1\npolicies:\n  - name: fz\n  - name: other\n  - name: fz\n",
     "policies[2].name", "name: fz", 2, "fz", "duplicate policy name 'fz' (also policies[0])"),
    ("name: t\nseed: 1\nuncertain:\n  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}\n"
     "  - {path: sourcing.p_review, type: real, range: [0.1, 0.2]}\n"
     "  - {path: economy.export_growth, type: real, range: [0.0, 0.2]}\n",
     "uncertain[2].path", "export_growth", 2, "economy.export_growth", "duplicate parameter path"),
    ("name: t\nseed: 1\nuncertain:\n  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}\n"
     "  - path: learning.backward\n    type: real\n    range: [0.0, 0.01]\n    name: export_growth\n",
     "uncertain[1].name", "name: export_growth", 1, "export_growth", "duplicate parameter column"),
    ("name: t\nseed: 1\nuncertain:\n  - path: economy.export_growth\n    type: real\n    range: [0.0, 0.1]\n"
     "    name: seed\n", "uncertain[0].name", "name: seed", 1, "seed", "clashes with a result column"),
    ("name: t\nseed: 1\ndesign:\n  method: sobol\n  samples: 6\n", "design.samples", "samples:", 1, 6, "power of 2"),
    ("name: t\nseed: 1\ndesign:\n  method: morris\n  samples: 4\n", "design.method", "method:", 1, "morris",
     "needs at least one uncertain parameter"),
])
def test_a_cross_field_error_names_the_key_it_blames_at_its_line(tmp_path, body, key, needle, nth, value, fragment):
    """These errors used to name the whole item (`uncertain[0]: got {'path': ...}`, or the file's
    first line for duplicate names): now the key, its line and its value."""
    err = error_of(tmp_path, body)
    path = tmp_path / "sweep.yaml"
    assert len(err.errors) == 1, str(err)
    issue = err.errors[0]
    assert (issue.path, issue.line, issue.value) == (key, line_of(path, needle, nth), value), str(err)
    assert fragment in issue.message and "{" not in issue.message, issue.message
    assert f"{path}:{issue.line}: {key}: got " in str(err)


@pytest.mark.parametrize("values, fragment", [
    ("[2, '4', 8.0]", "values must all be one type (got int, str, float)"),
    ("[2, true]", "values must all be one type (got int, bool)"),
    ("[moves, 5]", "values must all be one type (got str, int)"),
    ("[1, 2, 1.0]", "values must be distinct: 1.0 is given twice"),  # numbers are one value column: 1 is 1.0
])
def test_categorical_values_must_be_one_type(tmp_path, values, fragment):
    """[2, '4', 8.0] passed, then the sweep crashed writing points.parquet (ArrowInvalid: Could not
    convert '4' with type str) and left a half-made sweep folder."""
    body = f"name: t\nseed: 1\nuncertain:\n  - path: sourcing.tender_rounds\n    type: categorical\n    values: {values}\n"
    err = error_of(tmp_path, body)
    issue = err.errors[0]
    assert issue.path.startswith("uncertain[0].values") and fragment in issue.message, str(err)
    assert issue.line == line_of(tmp_path / "sweep.yaml", "values:")


def test_categorical_numbers_may_mix_integers_and_reals(tmp_path):
    spec = spec_with(tmp_path, "{method: grid}", "uncertain:\n  - {path: economy.export_growth, type: categorical, "
                     "values: [0, 0.05, 0.1]}\n")
    points = designs.points_table(spec)
    assert points["export_growth"].tolist() == [0.0, 0.05, 0.1] and points["export_growth"].map(type).eq(float).all()


def test_yaml_values_round_trip_through_the_override_parser():
    for value in [0.1, 1e-05, 2.5e20, -3, True, False, "moves", "2024-12", "yes", [1, 2]]:
        data = {"k": None}
        yamlio.apply_overrides(data, {}, [f"k={yaml_value(value)}"])
        assert data["k"] == value and type(data["k"]) is type(value)


@pytest.mark.parametrize("design, n_points", [
    ("{method: grid, levels: 3}", 3 * 3 * 3 * 2 * 2),  # integer [10,13] has 4 values > 3 levels -> 3
    ("{method: lhs, samples: 7}", 7),
    ("{method: sobol, samples: 8}", 8 * (5 + 2)),
    ("{method: sobol, samples: 8, second_order: true}", 8 * (2 * 5 + 2)),
    ("{method: morris, samples: 3, levels: 4}", 3 * (5 + 1)),
])
def test_every_design_maps_each_type_correctly(tmp_path, design, n_points):
    spec = spec_with(tmp_path, design)
    points = designs.points_table(spec)
    assert len(points) == n_points
    assert points["export_growth"].between(0.0, 0.1).all()
    assert points["p_review"].between(0.05, 0.5).all()
    assert points["count"].map(type).eq(int).all() and points["count"].between(10, 13).all()
    assert set(points["flows"]) <= {"moves", "all"}
    assert points["certification"].map(type).eq(bool).all()
    # the value is what the unit coordinate says, for every design
    for p in spec.uncertain:
        assert designs.to_values(p, points[f"u_{p.column}"].to_numpy()) == list(points[p.column])
    # the same file gives the same points
    again = designs.points_table(spec_with(tmp_path, design))
    assert again.equals(points)


def test_grid_covers_every_discrete_value_and_the_range_ends(tmp_path):
    spec = spec_with(tmp_path, "{method: grid, levels: 4}")
    points = designs.points_table(spec)
    assert sorted(points["count"].unique()) == [10, 11, 12, 13]
    assert set(points["certification"]) == {False, True} and set(points["flows"]) == {"moves", "all"}
    assert points["export_growth"].min() == 0.0 and points["export_growth"].max() == 0.1
    assert len(points.drop(columns=[c for c in points if c.startswith("u_") or c == "point"]).drop_duplicates()) == len(points)


def test_integer_and_categorical_values_are_equally_likely(tmp_path):
    spec = spec_with(tmp_path, "{method: lhs, samples: 400}")
    points = designs.points_table(spec)
    counts = points["count"].value_counts()
    assert set(counts.index) == {10, 11, 12, 13} and counts.min() == counts.max()  # LHS strata
    assert points["certification"].sum() == 200


def test_distributions_shape_the_sample(tmp_path):
    params = """uncertain:
  - {path: economy.export_growth, type: real, range: [-0.2, 0.4], distribution: normal, mean: 0.05, sd: 0.02}
  - {path: economy.import_markup, type: real, range: [0.0, 1.0], distribution: triangular, mode: 0.9}
  - {path: economy.frontier_growth, type: real, range: [0.0, 0.2], distribution: lognormal, median: 0.02, sd: 0.5}
"""
    points = designs.points_table(spec_with(tmp_path, "{method: lhs, samples: 2000}", params))
    assert abs(points["export_growth"].mean() - 0.05) < 0.002 and abs(points["export_growth"].std() - 0.02) < 0.002
    assert abs(points["import_markup"].mean() - (0.0 + 1.0 + 0.9) / 3) < 0.01
    assert abs(points["frontier_growth"].median() - 0.02) < 0.001


def test_tasks_carry_overrides_and_seeds_keyed_by_point_and_replicate(tmp_path):
    spec = spec_with(tmp_path, "{method: lhs, samples: 3}",
                     extra="policies:\n  - {name: a}\n  - {name: b, set: {economy.import_markup: 0.2}}\n")
    tasks = designs.tasks_table(spec, designs.points_table(spec))
    assert len(tasks) == 2 * 3 * 2 and tasks["run_id"].is_unique
    # common random numbers: both policies use the same seed at a (point, replicate)
    a, b = (tasks[tasks.policy == p].set_index(["point", "replicate"])["seed"] for p in ("a", "b"))
    assert a.equals(b) and a.is_unique
    assert tasks["seed"].iloc[0] == int(np.random.SeedSequence(11, spawn_key=(0, 0)).generate_state(1, np.uint64)[0] >> 1)
    row = tasks[(tasks.policy == "b")].iloc[0]
    parsed = dict(o.split("=", 1) for o in row["overrides"])
    assert yaml.safe_load(parsed["economy.import_markup"]) == 0.2
    assert yaml.safe_load(parsed["firm_groups.0.count"]) == row["count"]
    assert yaml.safe_load(parsed["recording.flows"]) == row["flows"]
