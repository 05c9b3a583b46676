"""Worlds of N firms with the baseline's structure, for benchmarks and scaling tests.

``scaled_world(n_firms)`` multiplies everything that sizes the baseline region by one factor
``f = n_firms / baseline firms``: every firm group's count, the lead firms' followers (and, below
the baseline size, their workforce and output), the institutions' graduates and partnerships, the
districts' working-age populations (so workers scale with firms), the parks' land, and the FDI
arrival rate. Above the baseline size each lead firm is replicated ``round(f)`` times across the
open parks of its province that admit its sector, each copy carrying ``f / copies`` of the
original's workforce, output and followers. No model code changes: the result is validated by
``Scenario.model_validate`` like any scenario file.
"""

from __future__ import annotations

import copy
from pathlib import Path

from model.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
MAX_WORKING_AGE = 50_000_000  # the schema's bound per district; larger pools are split into clones


def baseline_firms(sc: Scenario | None = None) -> int:
    """Firms the baseline starts with: lead firms, their followers and every firm group."""
    sc = sc or load_scenario(BASELINE)
    return sc.starting_firms()


def scaled_world(n_firms: int, end: str | None = None, base: Path | str = BASELINE) -> Scenario:
    """The baseline scaled to about ``n_firms`` firms at the start (see the module docstring)."""
    sc = load_scenario(base)
    f = n_firms / baseline_firms(sc)
    d = copy.deepcopy(sc.resolved_dict())
    d["name"] = f"{sc.name}_x{f:.3g}".replace("+", "")
    if end:
        d["end"] = end
    geo = d["geography"]
    _scale_geography(geo, f)
    d["lead_firms"] = _scale_leads(d["lead_firms"], geo, f)
    for g in d["firm_groups"]:
        g["count"] = max(1, round(g["count"] * f)) if g["count"] else 0
    for inst in d["institutions"]:
        inst["graduates"] = {k: v * f for k, v in inst["graduates"].items()}
        inst["partnerships"] = round(inst["partnerships"] * f)
    d["demography"]["fdi_arrivals_per_year"] = d["demography"]["fdi_arrivals_per_year"] * f
    return Scenario.model_validate(d)


def _scale_geography(geo: dict, f: float) -> None:
    for loc in geo["locations"]:
        loc["area_ha"] *= f
        loc["occupied_ha"] *= f
    extra, extra_km = [], []
    for dist in geo["districts"]:
        total = dist["working_age"] * f
        parts = max(1, int(-(-total // MAX_WORKING_AGE)))
        dist["working_age"] = int(round(total / parts))
        for j in range(1, parts):  # a clone at the same point: same reach, same roads
            clone = dict(dist, id=f"{dist['id']}_part{j + 1}")
            extra.append(clone)
            extra_km += [dict(o, a=clone["id"]) if o["a"] == dist["id"] else dict(o, b=clone["id"])
                         for o in geo["distances"] if dist["id"] in (o["a"], o["b"])]
    geo["districts"] += extra
    geo["distances"] += extra_km


def _scale_leads(leads: list[dict], geo: dict, f: float) -> list[dict]:
    copies = max(1, round(f))
    share = f / copies
    district_province = {x["id"]: x["province"] for x in geo["districts"]}
    locs = {x["id"]: x for x in geo["locations"]}
    out = []
    for lead in leads:
        home = locs[lead["location"]]
        province = district_province[home["district"]]
        parks = [x["id"] for x in geo["locations"]
                 if x["kind"] in ("kcn", "hitech") and district_province[x["district"]] == province
                 and x["opens"] <= "2023-01" and (not x["sectors"] or lead["sector"] in x["sectors"])
                 and not (x["clean_only"] and lead["sector"] != "semiconductors")]
        parks = [lead["location"]] + [p for p in parks if p != lead["location"]]
        for j in range(copies):
            c = dict(lead)
            if j:
                c["name"] = f"{lead['name']} #{j + 1}"
                c["location"] = parks[j % len(parks)]
            c["employees"] = max(1, round(lead["employees"] * share))
            c["output"] = lead["output"] * share
            c["followers"] = round(lead["followers"] * share)
            out.append(c)
    return out


WORLDS = {"1k": 1_000, "5k": 5_000, "20k": 20_000, "100k": 100_000}
