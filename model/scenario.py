"""The scenario: a strict pydantic schema and the loader that names file, line and key on error.

A scenario file sets the starting population (lead firms, supplier and SME groups, institutions),
references a geography file, may override any mechanism parameter, and lists policies on a
timeline. ``load_scenario(path, overrides)`` returns a frozen ``Scenario`` or raises
``ScenarioError`` whose message lists every problem as ``file:line: key.path: got X; allowed``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from model import yamlio
from model.params import (
    DEFAULT_CATEGORIES,
    DEFAULT_SECTORS,
    TYPE_ERRORS,
    Category,
    Demography,
    Economy,
    FieldProblem,
    Finance,
    LabourParams,
    Learning,
    P,
    Sector,
    SkillTriple,
    Sourcing,
    Strict,
    Weight,
    check_weights,
    type_message,
)
from model.policy_schema import UNTARGETED, Policy, YearMonth, policy_label
from model.yamlio import ConfigError as ScenarioError
from model.yamlio import ConfigIssue as ScenarioIssue

__all__ = ["Scenario", "ScenarioError", "ScenarioIssue", "load_scenario"]

LAST_MONTH = "2045-12"
MAX_CATEGORIES = 64  # the contract book packs a category into 6 bits of its (buyer, supplier, category) key


class Point(Strict):
    lat: float = Field(ge=-90, le=90, description="degrees")
    lon: float = Field(ge=-180, le=180, description="degrees")


class District(Strict):
    """A labour catchment: a district (or city) with its working-age population."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="identifier")
    name: str = Field(min_length=1, description="name with diacritics")
    province: str = Field(description="province name")
    lat: float = Field(ge=-90, le=90, description="degrees")
    lon: float = Field(ge=-180, le=180, description="degrees")
    working_age: int = Field(ge=0, le=50_000_000, description="persons aged 15–64")


class Location(Strict):
    """A place firms sit: an industrial park (KCN), cluster (CCN), high-tech park, or outside parks."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="identifier")
    name: str = Field(min_length=1, description="name with diacritics")
    kind: Literal["kcn", "ccn", "hitech", "outside"] = Field(description="type of place")
    district: str = Field(description="district id")
    lat: float | None = Field(None, ge=-90, le=90, description="degrees; default: the district's point")
    lon: float | None = Field(None, ge=-180, le=180, description="degrees; default: the district's point")
    area_ha: float = Field(0, ge=0, le=100_000, description="ha of industrial land (ignored for 'outside')")
    occupied_ha: float = Field(0, ge=0, le=100_000, description="ha occupied at the start")
    opens: YearMonth = Field("2000-01", description="month the park opens (planned parks open later)")
    sectors: list[str] = Field(default_factory=list, description="sectors allowed (empty = all)")
    clean_only: bool = Field(False, description="only non-polluting projects allowed")

    @model_validator(mode="after")
    def _occupancy(self) -> Location:
        if self.kind != "outside" and self.occupied_ha > self.area_ha:
            raise FieldProblem("occupied_ha", f"occupied_ha {self.occupied_ha} exceeds area_ha {self.area_ha}")
        return self


class DistanceOverride(Strict):
    a: str = Field(description="district id")
    b: str = Field(description="district id")
    km: float = Field(ge=0, le=5000, description="road km")


class Geography(Strict):
    """Places, catchments and distances; usually its own file referenced by the scenario."""

    provinces: list[str] = Field(min_length=1, description="province names with diacritics")
    districts: list[District] = Field(min_length=1, description="labour catchments")
    locations: list[Location] = Field(min_length=1, description="parks, clusters and outside-park places")
    road_factor: float = P(1.3, 1, 3, unit="road km per straight-line km", source="Assumption: typical detour factor")
    distances: list[DistanceOverride] = Field(default_factory=list, description="road km that replace the estimate")
    hanoi: Point = Field(default_factory=lambda: Point(lat=21.028, lon=105.854), description="Hà Nội centre")
    port: Point = Field(default_factory=lambda: Point(lat=20.86, lon=106.68), description="Hải Phòng port")


class LeadFirmSpec(Strict):
    """A named FDI lead firm and the foreign suppliers that followed it."""

    name: str = Field(min_length=1, description="firm name")
    sector: str = Field(description="sector id")
    location: str = Field(description="location id")
    employees: int = Field(ge=1, le=500_000, description="persons at the start")
    output: float = Field(ge=0, le=1e7, description="VND bn per month at the start")
    tech: float = P(0.9, 0, 1, unit="τ relative to the world frontier", source="Assumption: lead firms near their parent's frontier")
    followers: int = P(0, 0, 1000, unit="foreign tier-1 suppliers that followed it", source="Tuổi Trẻ 2014 (>50 Korean suppliers to SEV)")
    follower_employees: float = P(600, 1, 100_000, unit="persons, median follower size", source="Assumption")
    follower_tech: float = P(0.7, 0, 1, unit="mean τ of followers", source="Assumption")
    follower_output_per_worker: float = P(0.12, 0.001, 100, unit="VND bn/month per worker", source="Assumption")


class FirmGroup(Strict):
    """A group of similar firms drawn at random: domestic SMEs, foreign suppliers or small FDI assemblers."""

    label: str = Field(min_length=1, description="name of the group")
    kind: Literal["domestic_sme", "fdi_supplier", "fdi_lead"] = Field(description="agent type")
    count: int = Field(ge=0, le=1_000_000, description="number of firms")
    locations: dict[str, Weight] = Field(min_length=1, description="location id → weight")
    sectors: dict[str, Weight] = Field(min_length=1, description="sector id → weight")
    employees_median: float = P(60, 1, 100_000, unit="persons", source="see the scenario file")
    employees_sigma: float = P(0.9, 0, 5, unit="s.d. of log employees", source="Assumption: firm sizes are log-normal")
    tech_mean: float = P(0.3, 0, 1, unit="mean τ", source="see the scenario file")
    tech_sd: float = P(0.1, 0, 1, unit="s.d. of τ", source="Assumption")
    output_per_worker: float = P(0.05, 0.0001, 100, unit="VND bn/month per worker", source="see the scenario file")
    certified_share: float = P(0.2, 0, 1, unit="share certified at the start", source="VASI: ~100 tier-1 of ~5,000 SI firms")

    @model_validator(mode="after")
    def _weights(self) -> FirmGroup:
        for name, weights in (("locations", self.locations), ("sectors", self.sectors)):
            check_weights(name, weights)
        return self


class InstitutionSpec(Strict):
    """A university or training centre."""

    name: str = Field(min_length=1, description="name")
    kind: Literal["university", "training_centre"] = Field(description="type")
    location: str = Field(description="location id")
    graduates: SkillTriple = Field(description="graduates per year by skill")
    quality: float = P(0.5, 0, 1, unit="training and research quality (0–1)", source="see the scenario file")
    partnerships: int = P(0, 0, 10_000, unit="firm partnerships at the start", source="see the scenario file")


class Recording(Strict):
    """What a run records beyond the monthly indicators."""

    snapshot_every: int = P(12, 1, 600, unit="months between firm snapshots (the last month is always kept)",
                            source="Design choice")
    flows: Literal["moves", "all"] = Field("all", description="'moves': firm-to-firm moves and spin-offs only; 'all': also hires, separations, exits, new firms' starting staff")


class Scenario(Strict):
    """A complete, validated scenario."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="short name used in run ids")
    description: str = Field("", description="what the scenario is")
    question: str = Field("", description="the question the scenario answers")
    source_policy: str = Field("", description="which source-document policy it represents")
    start: YearMonth = Field("2023-01", description="first simulated month")
    end: YearMonth = Field("2030-12", description=f"last simulated month (at most {LAST_MONTH})")
    geography: Geography
    economy: Economy = Field(default_factory=Economy)
    sourcing: Sourcing = Field(default_factory=Sourcing)
    learning: Learning = Field(default_factory=Learning)
    labour: LabourParams = Field(default_factory=LabourParams)
    finance: Finance = Field(default_factory=Finance)
    demography: Demography = Field(default_factory=Demography)
    categories: list[Category] = Field(default_factory=lambda: [Category(**c) for c in DEFAULT_CATEGORIES],
                                       min_length=1, description=f"component categories (1 .. {MAX_CATEGORIES})")
    sectors: list[Sector] = Field(default_factory=lambda: [Sector(**s) for s in DEFAULT_SECTORS], min_length=1)
    lead_firms: list[LeadFirmSpec] = Field(default_factory=list)
    firm_groups: list[FirmGroup] = Field(default_factory=list)
    institutions: list[InstitutionSpec] = Field(default_factory=list)
    policies: list[Policy] = Field(default_factory=list)
    recording: Recording = Field(default_factory=Recording)

    _source: str | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _policies_start_with_the_scenario(cls, data: Any) -> Any:
        """A policy block without ``start`` starts when the scenario does (not at a fixed month)."""
        if isinstance(data, dict) and isinstance(data.get("policies"), list):
            start = data.get("start", cls.model_fields["start"].default)
            data = {**data, "policies": [{**b, "start": start} if isinstance(b, dict) and "start" not in b else b
                                         for b in data["policies"]]}
        return data

    @model_validator(mode="after")
    def _category_count(self) -> Scenario:
        if len(self.categories) > MAX_CATEGORIES:
            raise FieldProblem("categories", f"{len(self.categories)} component categories; at most {MAX_CATEGORIES} "
                                             f"are allowed (allowed range: 1 .. {MAX_CATEGORIES})")
        return self

    @model_validator(mode="after")
    def _horizon(self) -> Scenario:
        if self.end < self.start:  # end is the last month simulated: end = start is a one-month run
            raise FieldProblem(("end", "start"), f"start {self.start} must be before end {self.end} or the same month "
                                      f"(end is the last month simulated; end = start runs one month)")
        if self.end > LAST_MONTH or self.start < "2000-01":
            raise FieldProblem("end" if self.end > LAST_MONTH else "start",
                               f"the horizon must lie within 2000-01 .. {LAST_MONTH}")
        return self

    @property
    def source_path(self) -> str | None:
        return self._source

    def starting_firms(self) -> int:
        """Firms the world starts with: lead firms, their followers and every firm group."""
        return len(self.lead_firms) + sum(x.followers for x in self.lead_firms) + sum(g.count for g in self.firm_groups)

    def load_warnings(self) -> list[str]:
        """What is valid but likely a mistake: policies that never act, a world bigger than its people."""
        return self.idle_policies() + self._oversized()

    def _oversized(self) -> list[str]:
        """A warning if the starting firms employ more people than the districts have of working age
        (sizes are log-normal: a group's mean is its median × exp(σ²/2), a follower's
        follower_employees × exp(0.7²/2), as ``population`` draws them)."""
        workers = (sum(f.employees + f.followers * f.follower_employees * math.exp(0.7 ** 2 / 2) for f in self.lead_firms)
                   + sum(g.count * g.employees_median * math.exp(g.employees_sigma ** 2 / 2) for g in self.firm_groups))
        people = sum(d.working_age for d in self.geography.districts)
        if workers <= people:
            return []
        shown = f"{workers:,.0f}" if workers < 1e12 else f"{workers:.3g}"
        return [f"the starting firms employ about {shown} persons, more than the {people:,} people of working age "
                "in the geography's districts: check the firm groups' employees_median and employees_sigma"]

    def idle_policies(self) -> list[str]:
        """Policies that never act in the simulated months (a start after the end, or an end before
        the start): valid, as a short test run of a long scenario has them, but worth a warning."""
        out = []
        for i, pol in enumerate(self.policies):
            name = policy_label(pol, i)
            if pol.start > self.end:
                out.append(f"policy {name!r} starts {pol.start}, after the scenario's end {self.end}: it never acts")
            elif pol.end is not None and pol.end < self.start:
                out.append(f"policy {name!r} ends {pol.end}, before the scenario's start {self.start}: it never acts")
            elif pol.type == "environmental_standard" and pol.relocate_from:
                out += self._nowhere_to_move(name, pol.relocate_from)
        return out

    def _nowhere_to_move(self, name: str, emptied: list[str]) -> list[str]:
        """Relocation moves plants to a park of their own province outside the emptied districts:
        a province with none keeps its plants (``demography.relocate``)."""
        g = self.geography
        province = {d.id: d.province for d in g.districts}
        has_park = {province[loc.district] for loc in g.locations
                    if loc.kind != "outside" and loc.district not in emptied}
        stuck = sorted({province[d] for d in emptied if d in province} - has_park)
        return [f"policy {name!r} moves plants out of {', '.join(emptied)}, but {p} has no park outside those "
                "districts, and plants move only within their province: none of its plants will move" for p in stuck]

    def resolved_dict(self) -> dict[str, Any]:
        """The full merged configuration as JSON-able data."""
        return self.model_dump(mode="json")

    def config_hash(self) -> str:
        text = json.dumps(self.resolved_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, merge (``extends:``), override (``--set``) and validate a scenario file."""
    file = str(path)
    data, lines = yamlio.load_with_extends(path)
    if other := yamlio.wrong_kind(data, lines, file, "scenario"):
        raise ScenarioError(other)
    _inline_geography(data, lines, Path(path))
    _fill_parameter_defaults(data)
    yamlio.apply_overrides(data, lines, overrides)
    _inline_geography(data, lines, Path(path))  # `--set geography=FILE` (relative to the working folder)
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_issues(err, data, lines, file)) from None
    found = _same_name_once(_defaults_missing_categories(_cross_references(sc), lines, [c.id for c in sc.categories]))
    issues = [yamlio.ConfigIssue(*_where(data, lines, file, p), v, m) for p, v, m in found]
    if issues:
        raise ScenarioError(issues)
    sc._source = file
    return sc


PARAMETER_BLOCKS = {"economy": Economy, "sourcing": Sourcing, "learning": Learning, "labour": LabourParams,
                    "finance": Finance, "demography": Demography, "recording": Recording}


def _fill_parameter_defaults(data: dict) -> None:
    """Start every parameter block from its defaults, so a file or ``--set`` may change one
    nested value (``labour.p_search.operator``) and keep the others; likewise the default
    ``categories`` and ``sectors`` lists of a file without its own (``sectors[0].polluting_share``)."""
    for key, cls, defaults in (("categories", Category, DEFAULT_CATEGORIES), ("sectors", Sector, DEFAULT_SECTORS)):
        if key not in data:
            data[key] = [cls(**d).model_dump(mode="json") for d in defaults]
    for key, block in PARAMETER_BLOCKS.items():
        given = data.get(key, {})
        if isinstance(given, dict):
            merged = yamlio.deep_merge(block().model_dump(mode="json"), given)
            for name, field in block.model_fields.items():
                if get_origin(field.annotation) is dict and name in given:
                    merged[name] = given[name]  # a mapping of shares is replaced whole, not merged
            data[key] = merged


def _where(data: Any, lines: yamlio.LineMap, file: str, path: tuple) -> tuple[str, int | None, str]:
    f, line, p, _ = yamlio.locate(data, path, lines, file)
    return f, line, yamlio.format_path(p)


def _inline_geography(data: dict, lines: yamlio.LineMap, scenario_path: Path) -> None:
    """Replace ``geography: FILE`` by the file's content (relative to the scenario file)."""
    ref = data.get("geography")
    if not isinstance(ref, str):
        return
    # relative to the file that names it (a parent scenario's geography stays the parent's)
    origin = lines.get(("geography",), (str(scenario_path), None))[0]
    base = Path(origin).parent if origin != "--set" else Path.cwd()
    try:
        geo, geo_lines = yamlio.read_yaml(base / ref)
        if other := yamlio.wrong_kind(geo, geo_lines, str(base / ref), "geography"):
            raise ScenarioError(other)
    except ScenarioError as err:
        raise yamlio.referenced_file_error(err, base / ref, str(scenario_path), lines, ("geography",), ref) from None
    data["geography"] = geo
    for p, loc in geo_lines.items():
        lines[("geography",) + p] = loc


def _issues(err: ValidationError, data: Any, lines: yamlio.LineMap, file: str) -> list[ScenarioIssue]:
    out = []
    for e in err.errors(include_url=False):
        problem = (e.get("ctx") or {}).get("error")
        if isinstance(problem, FieldProblem):  # a cross-field check: point at the key it blames
            key = _written_last(problem.keys, tuple(e["loc"]), lines, file)
            e = {**e, "loc": (*e["loc"], key), "msg": str(problem)}
        f, line, path, value = yamlio.locate(data, e["loc"], lines, file)
        out.append(ScenarioIssue(f, line, yamlio.format_path(path), value, _explain(e, path, data)))
    return out


def _written_last(keys: tuple[str, ...], at: tuple, lines: yamlio.LineMap, file: str) -> str:
    """Of the keys a cross-field check blames, the one the user wrote last: by ``--set``, else in the
    file loaded, else in a file it extends; among equals the first listed (none written: the first)."""
    def rank(k: str) -> int:
        where = lines.get((*at, k))
        return 3 if where is None else 0 if where[0] == "--set" else 1 if where[0] == file else 2

    return min(keys, key=rank)


def _explain(e: dict, path: tuple, data: Any) -> str:
    """Turn a pydantic error into 'what is allowed'."""
    kind, ctx = e["type"], e.get("ctx") or {}
    if kind == "extra_forbidden":
        model, _ = _field_info(path[:-1], data)
        hint = yamlio.did_you_mean(path[-1], getattr(model, "model_fields", ())) if path else ""
        lever = getattr(model, "model_fields", {}).get("type")
        if path and path[-1] == "provinces" and lever is not None:  # a policy block's lever acting region-wide
            why = UNTARGETED.get(get_args(lever.annotation)[0], "")
            hint = f" ({get_args(lever.annotation)[0]} takes no provinces: {why})" if why else hint
        return f"unknown key '{path[-1] if path else ''}'{hint}; allowed keys: {_allowed_keys(path, data)}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{e['msg'].lower()} (allowed range: {_bounds(path, data)})"
    if kind == "literal_error":
        return f"allowed values: {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return f"unknown policy type {ctx.get('tag')!r}{yamlio.tag_hint(ctx)}; allowed: {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        _, field = _field_info(path, data)
        tags = ", ".join(repr(t) for t in _tags(_inner_models(field.annotation) if field else []))
        return f"required key 'type' is missing; allowed types: {tags}"
    if kind in TYPE_ERRORS:
        return type_message(e)
    if kind == "string_pattern_mismatch":
        return "must look like YYYY-MM" if "4" in str(ctx.get("pattern")) else f"must match {ctx.get('pattern')}"
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return str(ctx["error"])  # our own check's message, without pydantic's "Value error, "
    return e["msg"]


def _field_info(path: tuple, data: Any):
    """The pydantic model and field that a data path points at (None when unknown). Where the
    schema has a union of models (a policy block), the data's ``type`` picks the member."""
    models: list = [Scenario]
    field, node = None, data
    for part in path:
        if not isinstance(part, int):
            model = _member(models, node)
            fields = getattr(model, "model_fields", None)
            if fields is None or part not in fields:
                return model, None
            field = fields[part]
            models = _inner_models(field.annotation)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return _member(models, node), field


def _inner_models(ann: Any) -> list:
    """The pydantic models an annotation holds (``list[X]``, ``X | None``, a union of blocks)."""
    from typing import get_args

    if hasattr(ann, "model_fields"):
        return [ann]
    return [m for arg in get_args(ann) for m in _inner_models(arg)]


def _tags(models: list) -> list[str]:
    """The ``type`` values of a discriminated union's members."""
    from typing import get_args

    return [t for m in models if "type" in m.model_fields for t in get_args(m.model_fields["type"].annotation)]


def _member(models: list, node: Any) -> Any:
    """The one model of ``models`` that ``node`` is: the only one, or the one its ``type`` names."""
    if len(models) <= 1:
        return models[0] if models else None
    tag = node.get("type") if isinstance(node, dict) else None
    return next((m for m in models if tag in _tags([m])), None)


def _allowed_keys(path: tuple, data: Any) -> str:
    model, _ = _field_info(path[:-1], data)
    if model is None or not hasattr(model, "model_fields"):
        return "(see docs/ODD.md)"
    keys = [k for k in model.model_fields if not (k == "budget" and getattr(model, "spends", True) is False)]
    return ", ".join(sorted(keys))


def _bounds(path: tuple, data: Any) -> str:
    _, field = _field_info(path, data)
    metadata = list(getattr(field, "metadata", []) if field else [])
    _, owner = _field_info(path[:-1], data) if field is None and path else (None, None)
    if owner is not None and get_origin(owner.annotation) is dict:  # a map's values carry the bounds (Weight)
        field = owner
        value_type = get_args(owner.annotation)[1]
        metadata += [m for meta in get_args(value_type)[1:] for m in getattr(meta, "metadata", [meta])]
    lo = hi = None
    for m in metadata:
        lo = getattr(m, "ge", lo) if getattr(m, "ge", None) is not None else lo
        hi = getattr(m, "le", hi) if getattr(m, "le", None) is not None else hi
    unit = f"; {field.description}" if field is not None and field.description else ""
    return f"{lo} .. {hi}{unit}"


UNKNOWN_CATEGORY = "unknown component category"
DEFAULT_CATEGORY_USERS = (("sectors",), ("sourcing", "supplier_bom"))  # lists of categories a file may leave out


def _defaults_missing_categories(found: list[tuple[tuple, Any, str]], lines: yamlio.LineMap,
                                 given: list[str]) -> list[tuple[tuple, Any, str]]:
    """A ``categories:`` list that replaces the default one leaves the default sectors' bills of
    materials (and the default supplier mix) naming categories it lacks: one problem, said at
    ``categories``, instead of one per sector and category at no line of the user's files."""
    def from_defaults(path: tuple) -> bool:
        return any(path[: len(root)] == root and root not in lines for root in DEFAULT_CATEGORY_USERS)

    missing = [(p, v) for p, v, m in found if m.startswith(UNKNOWN_CATEGORY) and from_defaults(p)]
    if not missing:
        return found
    names = sorted({str(v) for _, v in missing})
    users = " and ".join(".".join(root) for root in DEFAULT_CATEGORY_USERS if any(p[: len(root)] == root for p, _ in missing))
    rest = [(p, v, m) for p, v, m in found if not (m.startswith(UNKNOWN_CATEGORY) and from_defaults(p))]
    if ("categories",) not in lines:  # the default list, changed by --set (it was filled in for that)
        edited = [p for p, (file, _) in lines.items() if p[:1] == ("categories",) and file == "--set"]
        message = (f"this changes the default categories, but the default {users} (not set in the scenario) use "
                   f"categories it then lacks: {', '.join(names)}; keep their ids, or give the scenario categories: "
                   f"and {users} of its own")
        return [(edited[0] if edited else ("categories",), given, message), *rest]
    message = (f"this list replaces the default categories, but the default {users} (not set in the scenario) use "
               f"categories it lacks: {', '.join(names)}; add them here, or give {users} of your own")
    return [(("categories",), given, message), *rest]


def _same_name_once(found: list[tuple[tuple, Any, str]]) -> list[tuple[tuple, Any, str]]:
    """One problem per unknown name, at its first use, naming a few of the other places that use it
    (a ``sectors:`` list that drops a sector the geography uses would otherwise give dozens)."""
    groups: dict[tuple[str, str], list[tuple[tuple, Any]]] = {}
    for path, value, message in found:
        groups.setdefault((repr(value), message), []).append((path, value))
    out = []
    for (_, message), uses in groups.items():
        (path, value), rest = uses[0], uses[1:]
        if rest:
            others = ", ".join(yamlio.format_path(p) for p, _ in rest[:3])
            more = f" and {len(rest) - 3} more" if len(rest) > 3 else ""
            message = f"{message} (also used at {others}{more})"
        out.append((path, value, message))
    return out


def _cross_references(sc: Scenario) -> list[tuple[tuple, Any, str]]:
    """Check names that refer to other parts of the scenario; return (path, value, message)."""
    g = sc.geography
    provinces, districts = set(g.provinces), {d.id: d for d in g.districts}
    locs = {loc.id: loc for loc in g.locations}
    sectors, cats = {s.id for s in sc.sectors}, {c.id for c in sc.categories}
    leads, insts = {f.name for f in sc.lead_firms}, {i.name for i in sc.institutions}
    out: list[tuple[tuple, Any, str]] = []

    def need(value: Any, allowed: set | dict, path: tuple, what: str) -> None:
        if value not in allowed:
            names = {k: getattr(v, "name", "") for k, v in allowed.items()} if isinstance(allowed, dict) else None
            hint = yamlio.did_you_mean(value, allowed, names)
            out.append((path, value, f"unknown {what}{hint}; allowed: {', '.join(sorted(allowed)) or '(none)'}"))

    for kind, items in (("district", g.districts), ("location", g.locations), ("category", sc.categories),
                        ("sector", sc.sectors), ("lead firm", sc.lead_firms), ("institution", sc.institutions)):
        seen: set = set()
        for i, it in enumerate(items):
            key = getattr(it, "id", None) or it.name
            if key in seen:
                out.append((_collection(kind) + (i,), key, f"duplicate {kind} id"))
            seen.add(key)
    for i, name in enumerate(g.provinces):
        if name in g.provinces[:i]:
            out.append((("geography", "provinces", i), name, "duplicate province (each province is listed once)"))
    for i, d in enumerate(g.districts):
        need(d.province, provinces, ("geography", "districts", i, "province"), "province")
    pairs: dict[frozenset, int] = {}
    for i, o in enumerate(g.distances):
        at = ("geography", "distances", i)
        need(o.a, districts, at + ("a",), "district")
        need(o.b, districts, at + ("b",), "district")
        if o.a == o.b:
            out.append((at + ("b",), o.b, "a distance joins two different districts (within a district, places "
                                          "are as far apart as their coordinates say)"))
        elif frozenset((o.a, o.b)) in pairs:
            out.append((at, f"{o.a}–{o.b}", f"a second distance between {o.a} and {o.b} (the first is "
                                            f"distances[{pairs[frozenset((o.a, o.b))]}]); give each pair once"))
        else:
            pairs[frozenset((o.a, o.b))] = i
    for i, loc in enumerate(g.locations):
        need(loc.district, districts, ("geography", "locations", i, "district"), "district")
        for j, s in enumerate(loc.sectors):
            need(s, sectors, ("geography", "locations", i, "sectors", j), "sector")
    for i, s in enumerate(sc.sectors):
        for c in s.bom:
            need(c, cats, ("sectors", i, "bom", c), "component category")
    for i, f in enumerate(sc.lead_firms):
        need(f.sector, sectors, ("lead_firms", i, "sector"), "sector")
        need(f.location, locs, ("lead_firms", i, "location"), "location")
    for i, grp in enumerate(sc.firm_groups):
        for loc in grp.locations:
            need(loc, locs, ("firm_groups", i, "locations", loc), "location")
        for s in grp.sectors:
            need(s, sectors, ("firm_groups", i, "sectors", s), "sector")
    for i, inst in enumerate(sc.institutions):
        need(inst.location, locs, ("institutions", i, "location"), "location")
    for s in sc.demography.fdi_sector_shares:
        need(s, sectors, ("demography", "fdi_sector_shares", s), "sector")
    for c in sc.sourcing.supplier_bom:
        need(c, cats, ("sourcing", "supplier_bom", c), "component category")
    labels = [pol.label for pol in sc.policies]
    for i, label in enumerate(labels):
        if label is not None and label in labels[:i]:
            out.append((("policies", i, "label"), label, "duplicate policy label (a label names one policy's rows "
                                                         "in policy.parquet)"))
    for i, pol in enumerate(sc.policies):
        _check_policy(pol, ("policies", i), need, provinces, districts, locs, sectors, cats, leads, insts)
        if pol.type == "infrastructure":
            out.extend(_infrastructure_problems(pol, ("policies", i), g))
    out.extend(_overlapping_levers(sc))
    out.extend(_placement_problems(sc, locs, sectors))
    out.extend(_blocked_works(sc, locs))
    out.extend(_twice_opened(sc))
    out.extend(_early_expansions(sc, locs))
    return out


def _openings(sc: Scenario) -> dict[str, list[tuple[str, int, int]]]:
    """Per park, the infrastructure openings scheduled for it: (date, block, index), in block order."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for i, pol in enumerate(sc.policies):
        if pol.type == "infrastructure":
            for j, o in enumerate(pol.park_openings):
                out.setdefault(o.location, []).append((o.opens, i, j))
    return out


def _early_expansions(sc: Scenario, locs: dict) -> list[tuple[tuple, Any, str]]:
    """An expansion dated before its park opens (by the geography or an opening): the opening sets the
    park's land and pays for all of it, so the expansion's land would be paid twice or lost."""
    out, opened = [], _openings(sc)
    for i, pol in enumerate(sc.policies):
        if pol.type != "infrastructure":
            continue
        for j, o in enumerate(pol.park_expansions):
            park = locs.get(o.location)
            if park is None or park.kind == "outside":
                continue  # reported elsewhere
            opens = min([park.opens] + [date for date, _, _ in opened.get(o.location, [])])
            if o.date < opens:
                out.append((("policies", i, "park_expansions", j, "date"), o.date,
                            f"{o.location} opens {opens} (geography or park_openings), after this expansion: an "
                            "expansion adds land to an open park; date it on or after the opening, or give the "
                            "opening the larger area_ha"))
    return out


def _twice_opened(sc: Scenario) -> list[tuple[tuple, Any, str]]:
    """A park opened by two openings (of one block or of two): the later would pay for land that is open."""
    outside = {loc.id for loc in sc.geography.locations if loc.kind == "outside"}  # reported as not parks
    out = []
    for park, scheduled in _openings(sc).items():
        if park in outside:
            continue
        date, k, jj = scheduled[0]
        for _, i, j in scheduled[1:]:
            out.append((("policies", i, "park_openings", j, "location"), park,
                        f"{park} is also opened by policies[{k}].park_openings[{jj}] ({date}): a park opens "
                        "once (the later opening would pay again for land already open); keep one opening, and "
                        "add land with park_expansions"))
    return out


def _blocked_works(sc: Scenario, locs: dict) -> list[tuple[tuple, Any, str]]:
    """Park openings and expansions an environmental standard's ``no_new_parks_in`` keeps from ever
    happening: from its start it blocks, for good, every park of those districts not yet open (a park
    opening in the standard's first month is blocked when the standard is listed first)."""
    out = []
    standards = [(k, pol) for k, pol in enumerate(sc.policies) if pol.type == "environmental_standard" and pol.no_new_parks_in]
    if not standards:
        return out
    opened = _openings(sc)

    def blocker(park: Location, at: tuple[str, int] | None) -> tuple[int, Any] | None:
        """The standard that blocks ``park`` before it opens (geography's date or the opening ``at``)."""
        # the geography's date (block -1): blocked only by a standard that starts strictly before it
        first = min([(park.opens, -1)] + [(date, i) for date, i, _ in opened.get(park.id, [])])
        when = at or first
        for k, env in standards:
            if park.district in env.no_new_parks_in and (env.start < when[0] or (env.start == when[0] and k < when[1])):
                return k, env
        return None

    for i, pol in enumerate(sc.policies):
        if pol.type != "infrastructure":
            continue
        works = [(("park_openings", j), o.location, (o.opens, i), "opening") for j, o in enumerate(pol.park_openings)]
        works += [(("park_expansions", j), o.location, None, "expansion") for j, o in enumerate(pol.park_expansions)]
        for key, park_id, at, what in works:
            park = locs.get(park_id)
            if park is None or park.kind == "outside":
                continue  # reported elsewhere
            found = blocker(park, at)  # an expansion: of a park that opens at all
            if found is None:
                continue
            k, env = found
            out.append((("policies", i) + key + ("location",), park_id,
                        f"the {what} of {park_id} would never happen: it lies in district {park.district}, where "
                        f"{policy_label(env, k)!r} (policies[{k}], from {env.start}) keeps new parks from opening "
                        "(no_new_parks_in), so the park stays closed; open it before the standard starts or drop "
                        f"{park.district} from no_new_parks_in"))
    return out


def _admits(loc: Location, sector: str, pollutes: bool) -> bool:
    """Whether a place takes a firm of ``sector`` (geography.Geography.admits)."""
    return (not loc.sectors or sector in loc.sectors) and not (loc.clean_only and pollutes)


def _placement_problems(sc: Scenario, locs: dict, sectors: set) -> list[tuple[tuple, Any, str]]:
    """Firms the build could not place by the geography's rules: a lead firm in a place whose sector
    list leaves its sector out; a firm group drawing a sector (or, where the sector pollutes, a
    polluting firm of it) that none of its weighted locations admits."""
    out = []
    share = {s.id: s.polluting_share for s in sc.sectors}

    def allowed(loc: Location) -> str:
        return ", ".join(loc.sectors) + (" (clean-only)" if loc.clean_only else "")

    for i, f in enumerate(sc.lead_firms):
        loc = locs.get(f.location)
        if loc is not None and f.sector in sectors and not _admits(loc, f.sector, False):
            out.append((("lead_firms", i, "location"), f.location,
                        f"{f.name} makes {f.sector}, which {f.location} does not admit (its sectors: {allowed(loc)}); "
                        "move the firm or add the sector to the location's sectors"))
    for i, grp in enumerate(sc.firm_groups):
        places = [locs[x] for x, w in grp.locations.items() if w > 0 and x in locs]
        if grp.count == 0 or len(places) < sum(1 for x, w in grp.locations.items() if w > 0):
            continue  # an unknown location is reported as such
        for s, w in grp.sectors.items():
            if w <= 0 or s not in sectors:
                continue
            for dirty in (False, True) if share[s] > 0 else (False,):
                if not any(_admits(loc, s, dirty) for loc in places):
                    listed = "; ".join(f"{loc.id}: {allowed(loc) or 'all sectors'}" for loc in places)
                    what = f"a polluting {s} firm (polluting_share {share[s]:g})" if dirty else f"a {s} firm"
                    out.append((("firm_groups", i, "sectors", s), w,
                                f"the group {grp.label!r} draws {what}, but none of its locations admits one "
                                f"({listed}); give the group a location that does, or drop the sector"))
                    break
    return out


# levers whose effect in a month is one block's settings (policy.PolicyState keeps a single one):
# two such blocks active at once would have the later one replace the earlier, silently
SINGLE_BLOCK_LEVERS = ("rd_subsidy", "sme_credit", "investment_promotion", "environmental_standard")


def _overlapping_levers(sc: Scenario) -> list[tuple[tuple, Any, str]]:
    """Two blocks of one single-block lever whose windows overlap (a window without end runs on)."""
    out = []
    for i, pol in enumerate(sc.policies):
        if pol.type not in SINGLE_BLOCK_LEVERS:
            continue
        for j, other in enumerate(sc.policies[:i]):
            if other.type != pol.type:
                continue
            if pol.start <= (other.end or "9999-12") and other.start <= (pol.end or "9999-12"):
                out.append((("policies", i, "start"), pol.start, (
                    f"this {pol.type} block ({policy_label(pol, i)!r}, {pol.start} to {pol.end or 'the end'}) is "
                    f"active at the same time as {policy_label(other, j)!r} (policies[{j}], {other.start} to "
                    f"{other.end or 'the end'}); the model runs one {pol.type} at a time, so merge them into one "
                    "block or give them windows that do not overlap")))
                break
    return out


def _infrastructure_problems(pol: Any, path: tuple, g: Any) -> list[tuple[tuple, Any, str]]:
    """An infrastructure block's works: only parks open, never smaller than their occupied land; every
    work dated within the block's window and costing no more than a whole year's budget (a work
    waits until the year's budget left covers it, so a dearer one would never be built)."""
    out = []
    by_id = {loc.id: loc for loc in g.locations}
    window = f"{pol.start} to {pol.end}" if pol.end else f"from {pol.start}"

    def check(date_key: tuple, date: str, cost: float, what: str) -> None:
        if date < pol.start or (pol.end is not None and date > pol.end):
            out.append((path + date_key, date,
                        f"the {what} is dated {date}, outside its block's window ({window}; a block without "
                        "start starts with the scenario): a work is built within its block's window, so move "
                        "the date or the block's start or end"))
        elif pol.budget is not None and cost > pol.budget:
            out.append((path + ("budget",), pol.budget,
                        f"the {what} ({date_key[0]}[{date_key[1]}]) costs VND {cost:g} bn, more than the block's "
                        f"yearly budget of {pol.budget:g} bn: it would never be built; raise the budget or "
                        "lower its cost"))

    for j, o in enumerate(pol.park_openings):
        loc = by_id.get(o.location)
        if loc is None:
            continue  # reported as an unknown location
        if loc.kind == "outside":
            out.append((path + ("park_openings", j, "location"), o.location,
                        f"{o.location} is a place outside parks (kind outside): only a park (kcn, ccn, hitech) opens"))
        elif loc.opens <= o.opens:
            out.append((path + ("park_openings", j, "location"), o.location,
                        f"{o.location} is already open by {o.opens} (the geography opens it {loc.opens}): an "
                        "opening brings a planned park forward; to add land to an open park use park_expansions"))
        elif o.area_ha is not None and o.area_ha < loc.occupied_ha:
            out.append((path + ("park_openings", j, "area_ha"), o.area_ha,
                        f"area_ha {o.area_ha:g} is less than the {loc.occupied_ha:g} ha already occupied in "
                        f"{o.location} (geography occupied_ha)"))
        else:  # its land beyond what is taken at the start (firms settle only in open parks)
            area = loc.area_ha if o.area_ha is None else o.area_ha
            check(("park_openings", j, "opens"), o.opens, pol.cost_per_ha * (area - loc.occupied_ha),
                  f"opening of {o.location}")
    for j, o in enumerate(pol.park_expansions):
        loc = by_id.get(o.location)
        if loc is not None and loc.kind == "outside":
            out.append((path + ("park_expansions", j, "location"), o.location,
                        f"{o.location} is a place outside parks (kind outside), whose land is not limited: only a "
                        "park's (kcn, ccn, hitech) land is expanded"))
            continue
        check(("park_expansions", j, "date"), o.date, pol.cost_per_ha * o.add_ha, f"expansion of {o.location}")
    for j, r in enumerate(pol.roads):
        if r.a == r.b:
            out.append((path + ("roads", j, "b"), r.b, f"a road joins two different districts; a and b are both {r.a}"))
        else:
            check(("roads", j, "date"), r.date, pol.cost_per_road, f"road {r.a}–{r.b}")
    return out


def _collection(kind: str) -> tuple[str, ...]:
    return {"district": ("geography", "districts"), "location": ("geography", "locations"),
            "category": ("categories",), "sector": ("sectors",), "lead firm": ("lead_firms",),
            "institution": ("institutions",)}[kind]


def _check_policy(pol: Any, path: tuple, need: Any, provinces: set, districts: dict, locs: dict,
                  sectors: set, cats: set, leads: set, insts: set) -> None:
    for j, p in enumerate(getattr(pol, "provinces", [])):
        need(p, provinces, path + ("provinces", j), "province")
    for j, c in enumerate(getattr(pol, "categories", [])):
        need(c, cats, path + ("categories", j), "component category")
    for j, s in enumerate(getattr(pol, "sectors", [])):
        need(s, sectors, path + ("sectors", j), "sector")
    for s in getattr(pol, "sector_shares", {}):
        need(s, sectors, path + ("sector_shares", s), "sector")
    if pol.type == "lead_firm_exit":
        need(pol.firm, leads, path + ("firm",), "lead firm")
    if pol.type == "training_expansion":
        need(pol.institution, insts, path + ("institution",), "institution")
    if pol.type == "infrastructure":
        for j, o in enumerate(pol.park_openings):
            need(o.location, locs, path + ("park_openings", j, "location"), "location")
        for j, o in enumerate(pol.park_expansions):
            need(o.location, locs, path + ("park_expansions", j, "location"), "location")
        for j, r in enumerate(pol.roads):
            need(r.a, districts, path + ("roads", j, "a"), "district")
            need(r.b, districts, path + ("roads", j, "b"), "district")
    if pol.type == "environmental_standard":
        for key in ("relocate_from", "no_new_parks_in"):
            for j, d in enumerate(getattr(pol, key)):
                need(d, districts, path + (key, j), "district")
