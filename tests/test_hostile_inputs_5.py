"""Hostile input, part 5 (a fuzzing round of 578 cases): weights that overflow, geography distances
that name no district or join a district to itself, duplicate provinces, alias bombs and merge keys
through ``--set``, special files, undecodable bytes, and a horizon error blamed on the key written last."""

from __future__ import annotations

import os

import numpy as np
import pytest

from model.cluster_model import ClusterModel
from model.scenario import load_scenario
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import DATA, TINY
from tests.test_hostile_inputs import TINY_TEXT, line_of, problems, write

GEO_TEXT = (DATA / "tiny_geo.yaml").read_text(encoding="utf-8")


def _with_geography(tmp_path, geo_text: str):
    path = write(tmp_path, TINY_TEXT)
    (tmp_path / "tiny_geo.yaml").write_text(geo_text, encoding="utf-8")
    return path


# -- weights ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, key", [
    (TINY_TEXT.replace("locations: {park_b: 1}", "locations: {park_b: 1.0e+308}"), "firm_groups[1].locations.park_b"),
    (TINY_TEXT + "demography:\n  fdi_sector_shares: {semiconductors: 1.0e+308, electronics_assembly: 1.0e+308}\n",
     "demography.fdi_sector_shares.semiconductors"),
    (TINY_TEXT + "sourcing:\n  supplier_bom: {packaging: 1.0e+308}\n", "sourcing.supplier_bom.packaging"),
    (TINY_TEXT + "policies:\n  - {type: investment_promotion, sector_shares: {semiconductors: 1.0e+308}}\n",
     "policies[0].sector_shares.semiconductors"),
])
def test_a_weight_too_large_to_sum_is_refused_at_its_line(tmp_path, text, key):
    """Weights of 1e308 overflowed their sum: a traceback, a crash in the run, or tier-2 demand gone."""
    path = write(tmp_path, text)
    found = {i.path: i for i in problems(path)}
    assert key in found
    assert found[key].line == line_of(text, "1.0e+308")
    assert "allowed range: 0 .. 1000000" in found[key].message
    res = invoke("validate", path)
    no_traceback(res)
    assert res.exit_code == 2


# -- geography --------------------------------------------------------------------------------------------
def test_a_distance_to_an_unknown_district_is_refused_at_load(tmp_path):
    """It passed validation and then crashed the run with KeyError."""
    geo = GEO_TEXT + "distances:\n  - {a: d_a, b: atlantis, km: 75}\n"
    issue, = problems(_with_geography(tmp_path, geo))
    assert issue.path == "geography.distances[0].b" and issue.line == line_of(geo, "atlantis")
    assert "unknown district; allowed: d_a, d_b" in issue.message


def test_a_district_distance_to_itself_or_given_twice_is_refused(tmp_path):
    geo = GEO_TEXT + "distances:\n  - {a: d_a, b: d_a, km: 5}\n  - {a: d_a, b: d_b, km: 40}\n  - {a: d_b, b: d_a, km: 9}\n"
    found = {i.path: i.message for i in problems(_with_geography(tmp_path, geo))}
    assert "two different districts" in found["geography.distances[0].b"]
    assert "second distance between d_b and d_a (the first is distances[1])" in found["geography.distances[2]"]


def test_districts_drawn_at_one_point_take_the_given_distance(tmp_path):
    """A distance between two districts with the same coordinates scaled a zero estimate by km / 1e-9."""
    geo = GEO_TEXT.replace("lat: 21.30, lon: 106.05", "lat: 21.40, lon: 105.85") + \
        "distances:\n  - {a: d_a, b: d_b, km: 30}\n"
    sc = load_scenario(_with_geography(tmp_path, geo))
    g = ClusterModel(sc, seed=1).geo
    between = g.km[np.ix_(g.district == 0, g.district == 1)]
    assert np.allclose(between, 30.0)


def test_a_province_listed_twice_is_refused(tmp_path):
    """It gave every month two rows for the province in indicators_province, one of them all zeros."""
    geo = GEO_TEXT.replace("provinces: [Thái Nguyên, Bắc Giang]", "provinces: [Thái Nguyên, Bắc Giang, Thái Nguyên]")
    issue, = problems(_with_geography(tmp_path, geo))
    assert issue.path == "geography.provinces[2]" and "duplicate province" in issue.message


# -- YAML -------------------------------------------------------------------------------------------------
def test_an_alias_bomb_through_set_is_refused_quickly():
    """Files had a node limit, --set values did not: nine levels took minutes and gigabytes."""
    levels = ["&a [" + ",".join("x" * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    issue, = problems(TINY, (f"description=[{', '.join(levels)}]",))
    assert (issue.file, issue.path) == ("--set", "description")
    assert "value too complex" in issue.message


def test_a_set_value_that_is_not_yaml_is_still_text():
    sc = load_scenario(TINY, ["description=[unclosed: a"])
    assert sc.description == "[unclosed: a"


def test_a_merge_key_is_named_as_unsupported(tmp_path):
    text = TINY_TEXT + "x_defaults: &d {count: 3}\nnotes:\n  <<: *d\n"
    issue = next(i for i in problems(write(tmp_path, text)) if "merge" in i.message)
    assert issue.line == line_of(text, "<<:") and "merge keys (<<: *anchor) are not supported" in issue.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_pipe_or_device_is_refused_without_reading_it(tmp_path):
    """validate hung on a FIFO and read /dev/zero until memory ran out."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for target in (fifo, "/dev/zero"):
        issue, = problems(target)
        assert "not a regular file" in issue.message


def test_undecodable_bytes_and_control_characters_name_their_line(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(TINY_TEXT.encode() + "description: caf\xe9\n".encode("latin-1"))
    issue, = problems(bad)
    assert issue.line == len(TINY_TEXT.splitlines()) + 1 and "not UTF-8" in issue.message
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(TINY_TEXT.encode() + b"description: a\x00b\n")
    issue, = problems(nul)
    assert issue.line == len(TINY_TEXT.splitlines()) + 1


# -- cross-field blame --------------------------------------------------------------------------------------
def test_a_start_after_the_parents_end_is_blamed_on_the_childs_start(tmp_path):
    """The child's start was reported at the parent file's end line."""
    write(tmp_path, TINY_TEXT, "parent.yaml")
    child = tmp_path / "child.yaml"
    child.write_text("extends: parent.yaml\nname: child\nstart: 2024-06\n", encoding="utf-8")
    issue, = problems(child)
    assert (issue.file, issue.line, issue.path) == (str(child), 3, "start")
    issue, = problems(child, ("end=2024-01",))  # written last: by --set
    assert (issue.file, issue.path) == ("--set", "end")
