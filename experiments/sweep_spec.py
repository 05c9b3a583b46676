"""Sweep files: a strict pydantic schema and a loader whose errors name file, line and key.

A sweep file declares a base scenario, named policy variants, uncertain parameters (dotted
scenario paths with a range or distribution), a design (grid, Latin hypercube, Sobol/Saltelli,
Morris), replications and a master seed::

    name: smoke
    base: ../baseline.yaml
    set: {end: 2023-12}                 # applied to every run
    policies:
      - {name: status_quo}
      - {name: sdp, set: {policies: [...]}}   # or  scenario: ../other.yaml
    uncertain:
      - {path: economy.export_growth, type: real, range: [0.0, 0.1]}
      - {path: sourcing.p_review, type: real, range: [0.05, 0.3], distribution: triangular, mode: 0.1}
    design: {method: lhs, samples: 4}
    replications: 2
    seed: 20240501

Relative paths are read from the sweep file's folder. ``load_sweep(path)`` returns a frozen
``SweepSpec`` or raises ``SweepSpecError`` (``str(err)`` lists ``file:line: key.path: ...``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    model_validator,
)

from model import yamlio
from model.params import TYPE_ERRORS, type_message
from model.yamlio import ConfigError, ConfigIssue, did_you_mean

__all__ = ["SweepSpec", "SweepSpecError", "load_sweep", "overrides_of", "yaml_value"]

NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
COLUMN = r"^[a-z_][a-z0-9_]*$"
DOTTED = r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$"
PATTERN_WORDS = {
    NAME: "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'",
    COLUMN: "lower-case letters, digits and '_', starting with a letter or '_'",
    DOTTED: "a scenario path as --set takes it, e.g. economy.export_growth, policies.0.budget or firm_groups[0].count",
}
# columns of the `runs` view that a parameter name must not shadow
RESERVED = {"run_id", "policy", "point", "replicate", "seed", "status", "error", "traceback", "attempts",
            "started", "finished", "wall_time_s", "worker", "step", "date", "scenario", "overrides"}


# numbers of a sweep file: a boolean or a quoted string is not a number; a distribution's
# parameters must be finite (NaN or infinity would make every drawn value NaN)
Real = StrictFloat
Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]
MAX_INT = 2**53  # integer parameters are mapped through floats: beyond this they are not exact


class SweepSpecError(ConfigError):
    """Invalid sweep file; ``str(err)`` is the message for the user (one line per issue)."""


class KeyProblem(ValueError):
    """A cross-field check that failed, blamed on one key so the error names that key and its line
    (as ``model.params.FieldProblem`` does for scenario files).

    ``where`` is the key's path below the model that raises it: ``"range"``, or
    ``("policies", 2, "name")`` from the sweep file's top."""

    def __init__(self, where: str | int | tuple, message: str) -> None:
        super().__init__(message)
        self.where = where if isinstance(where, tuple) else (where,)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Overrides = list[str] | dict[str, Any]


class Variant(_Strict):
    """A named policy variant: another scenario file and/or overrides of the base scenario."""

    name: str = Field(pattern=NAME, max_length=60, description="short name used in run ids and results")
    scenario: str | None = Field(None, description="scenario file (default: the sweep's base)")
    set: Overrides = Field(default_factory=list, description="overrides: ['key.path=VALUE', ...] or {key.path: value}")


def dotted(key: str) -> str:
    """A key path written ``firm_groups[0].count`` (as messages print it and ``--set`` takes it) or
    `` firm_groups.0.count``, as ``firm_groups.0.count``."""
    return re.sub(r"\[(-?\d+)\]", r".\1", key.strip())


def _dotted_path(value: object) -> object:
    return dotted(value) if isinstance(value, str) else value


class _Param(_Strict):
    path: Annotated[str, BeforeValidator(_dotted_path)] = Field(
        pattern=DOTTED, description="dotted scenario path, as with --set (list items by index)")
    name: str | None = Field(None, pattern=COLUMN, description="column name in results (default: from the path)")

    @property
    def column(self) -> str:
        """The result column: ``name`` or the path's last part (see ``SweepSpec`` for clashes)."""
        return self.name or re.sub(r"[^a-z0-9_]", "_", self.path.split(".")[-1].lower())


class RealParam(_Param):
    """A real parameter on [lo, hi]; a non-uniform distribution is truncated to that range."""

    type: Literal["real"]
    range: tuple[Real, Real] = Field(description="[low, high], inclusive")
    distribution: Literal["uniform", "triangular", "normal", "lognormal"] = "uniform"
    mode: Finite | None = Field(None, description="triangular: most likely value")
    mean: Finite | None = Field(None, description="normal: mean")
    sd: Finite | None = Field(None, gt=0, description="normal: standard deviation; lognormal: sigma of log")
    median: Finite | None = Field(None, gt=0, description="lognormal: median")

    @model_validator(mode="after")
    def _check(self) -> RealParam:
        lo, hi = self.range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise KeyProblem("range", "range must be [low, high], finite numbers with low < high")
        need = {"uniform": (), "triangular": ("mode",), "normal": ("mean", "sd"), "lognormal": ("median", "sd")}
        missing = [k for k in need[self.distribution] if getattr(self, k) is None]
        extra = [k for k in ("mode", "mean", "sd", "median") if k not in need[self.distribution]
                 and getattr(self, k) is not None]
        if missing or extra:  # blame a key not used, else the distribution that needs the missing ones
            raise KeyProblem(extra[0] if extra else "distribution",
                             f"distribution {self.distribution!r} takes {list(need[self.distribution]) or 'no parameters'}"
                             + (f"; missing {missing}" if missing else "") + (f"; not used: {extra}" if extra else ""))
        if self.mode is not None and not lo <= self.mode <= hi:
            raise KeyProblem("mode", f"mode {self.mode} must lie within range {list(self.range)}")
        if self.distribution == "lognormal" and lo < 0:
            raise KeyProblem("range", "a lognormal parameter needs a range within [0, inf)")
        if self.distribution in ("normal", "lognormal"):
            self._check_mass(lo, hi)
        return self

    def _check_mass(self, lo: float, hi: float) -> None:
        """The distribution must put some probability in the range: truncated to a range in its far
        tail, every draw would come out at a bound."""
        from scipy import stats

        if self.distribution == "normal":
            centre, a, b = self.mean, (lo - self.mean) / self.sd, (hi - self.mean) / self.sd
        else:
            centre = self.median
            a = (math.log(lo) - math.log(self.median)) / self.sd if lo > 0 else -math.inf
            b = (math.log(hi) - math.log(self.median)) / self.sd
        mass = float(stats.norm.cdf(b) - stats.norm.cdf(a))
        if not mass >= 1e-6:
            what = "mean" if self.distribution == "normal" else "median"
            raise KeyProblem(what, f"a {self.distribution} distribution with {what} {centre} and sd {self.sd} puts "
                             f"{mass:.2g} of its probability in range {list(self.range)}: every draw would sit at a "
                             f"bound; move the {what} into the range or widen sd")


class IntegerParam(_Param):
    """An integer parameter, every value of [lo, hi] (inclusive) equally likely."""

    type: Literal["integer"]
    range: tuple[StrictInt, StrictInt] = Field(description="[low, high], inclusive")

    @model_validator(mode="after")
    def _check(self) -> IntegerParam:
        if not self.range[0] < self.range[1]:
            raise KeyProblem("range", "range must be [low, high] with low < high")
        if max(abs(v) for v in self.range) > MAX_INT:
            raise ValueError(f"range must lie within [-{MAX_INT:,}, {MAX_INT:,}] (2**53), got {list(self.range)}")
        return self


Scalar = bool | int | float | str


class CategoricalParam(_Param):
    """One of a list of values, each equally likely."""

    type: Literal["categorical"]
    values: list[Scalar] = Field(min_length=2, description="the values (at least two, distinct)")

    @model_validator(mode="after")
    def _check(self) -> CategoricalParam:
        kinds = list(dict.fromkeys(type(v).__name__ for v in self.values))
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values)
        if len(kinds) > 1 and not numbers:  # one column of results: a str beside numbers cannot be stored
            raise KeyProblem("values", f"values must all be one type (got {', '.join(kinds)}): all numbers, all "
                             "true/false or all text (a quoted '4' is text)")
        seen = set()
        for k, v in enumerate(self.values):
            key = float(v) if numbers else v  # [1, 2.5] is a real-valued choice: 1 and 1.0 are one value
            if key in seen:
                raise KeyProblem(("values", k), f"values must be distinct: {v!r} is given twice")
            seen.add(key)
        return self


class BooleanParam(_Param):
    """True or false, each equally likely."""

    type: Literal["boolean"]


Param = Annotated[RealParam | IntegerParam | CategoricalParam | BooleanParam, Field(discriminator="type")]


class GridDesign(_Strict):
    """Full factorial: ``levels`` evenly spaced values per real parameter; all values of the others
    (integers with more than ``levels`` values get ``levels`` evenly spaced ones)."""

    method: Literal["grid"]
    levels: StrictInt = Field(3, ge=2, le=1000, description="values per real/integer parameter")


class LhsDesign(_Strict):
    """Latin hypercube (scipy.stats.qmc) with ``samples`` points."""

    method: Literal["lhs"]
    samples: StrictInt = Field(ge=2, le=10_000_000, description="number of points")


class SobolDesign(_Strict):
    """Saltelli's extension of the Sobol' sequence (SALib): N·(D+2) points, N·(2D+2) with second order."""

    method: Literal["sobol"]
    samples: StrictInt = Field(ge=2, le=1_048_576, description="base sample size N (a power of 2)")
    second_order: bool = Field(False, strict=True, description="also estimate second-order indices")

    @model_validator(mode="after")
    def _power_of_two(self) -> SobolDesign:
        if self.samples & (self.samples - 1):
            raise KeyProblem("samples", "samples must be a power of 2 for Sobol' sequences (2, 4, 8, ..., 1024, ...)")
        return self


class MorrisDesign(_Strict):
    """Morris elementary-effects trajectories (SALib): N·(D+1) points on a ``levels`` grid."""

    method: Literal["morris"]
    samples: StrictInt = Field(ge=2, le=1_000_000, description="number of trajectories N")
    levels: StrictInt = Field(4, ge=2, le=100, description="grid levels p (an even number)")

    @model_validator(mode="after")
    def _even_levels(self) -> MorrisDesign:
        if self.levels % 2:
            raise KeyProblem("levels", f"levels must be even for Morris trajectories (4, 6, 8, ...): with {self.levels} "
                             "levels the step p/(2(p-1)) does not land on the grid, and SALib's design is lopsided")
        return self


Design = Annotated[GridDesign | LhsDesign | SobolDesign | MorrisDesign, Field(discriminator="method")]


class Outcome(_Strict):
    """An indicator at a date, used by ``clusterlink analyze``."""

    indicator: str = Field(pattern=COLUMN, description="column of indicators.parquet")
    at: str = Field("end", pattern=r"^(end|\d{4}-(0[1-9]|1[0-2]))$", description="'end' or YYYY-MM")

    @model_validator(mode="after")
    def _known(self) -> Outcome:
        from model.metrics import INDICATOR_COLUMNS as known

        if self.indicator not in known:  # else the sweep would run and only `analyze` would say so
            raise KeyProblem("indicator", f"unknown indicator {self.indicator!r}{did_you_mean(self.indicator, known)}; "
                                          f"indicators.parquet has: {', '.join(known)}")
        return self


class SweepSpec(_Strict):
    """A complete, validated sweep file."""

    name: str = Field(pattern=NAME, max_length=80, description="sweep name (default output folder)")
    description: str = ""
    base: str = Field(description="base scenario file")
    set: Overrides = Field(default_factory=list, description="overrides applied to every run")
    policies: list[Variant] = Field(default_factory=lambda: [Variant(name="base")], min_length=1)
    uncertain: list[Param] = Field(default_factory=list, description="uncertain parameters")
    design: Design = Field(default_factory=lambda: GridDesign(method="grid"))
    replications: StrictInt = Field(1, ge=1, le=100_000, description="runs per design point and policy")
    seed: StrictInt = Field(ge=0, le=2**63 - 1, description="master seed")
    outcomes: list[Outcome] = Field(default_factory=lambda: [Outcome(indicator="localisation_rate")])

    _folder: Path = Path(".")
    _file: str = ""

    @model_validator(mode="after")
    def _names(self) -> SweepSpec:
        """Names that must be distinct; each problem is blamed on the offending key (the second of
        two duplicates), not on the whole file."""
        def first_duplicate(names: list[str]) -> tuple[int, int] | None:
            seen: dict[str, int] = {}
            for k, n in enumerate(names):
                if n in seen:
                    return seen[n], k
                seen[n] = k
            return None

        dup = first_duplicate([v.name for v in self.policies])
        if dup:
            raise KeyProblem(("policies", dup[1], "name"),
                             f"duplicate policy name {self.policies[dup[1]].name!r} (also policies[{dup[0]}])")
        dup = first_duplicate([p.path for p in self.uncertain])
        if dup:
            raise KeyProblem(("uncertain", dup[1], "path"), f"duplicate parameter path {self.uncertain[dup[1]].path!r} "
                             f"(also uncertain[{dup[0]}]); each path can be uncertain once")
        dup = first_duplicate([p.column for p in self.uncertain])
        if dup:
            p = self.uncertain[dup[1]]
            raise KeyProblem(("uncertain", dup[1], "name" if p.name else "path"),
                             f"duplicate parameter column {p.column!r} (also uncertain[{dup[0]}]); give each a "
                             "distinct 'name'")
        from model.metrics import INDICATOR_COLUMNS

        for k, p in enumerate(self.uncertain):
            if p.column in RESERVED or p.column in INDICATOR_COLUMNS:
                what = "an indicator" if p.column in INDICATOR_COLUMNS else "a result column"
                raise KeyProblem(("uncertain", k, "name" if p.name else "path"),
                                 f"parameter column {p.column!r} clashes with {what} of the same name; set "
                                 "'name' to another")
        if self.design.method in ("sobol", "morris") and not self.uncertain:
            raise KeyProblem(("design", "method"),
                             f"design {self.design.method!r} needs at least one uncertain parameter")
        return self

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def file(self) -> str:
        """The sweep file it was read from."""
        return self._file

    def resolve(self, path: str) -> Path:
        """A path of the sweep file, made absolute from the sweep file's folder."""
        p = Path(path)
        return p if p.is_absolute() else (self._folder / p).resolve()

    def scenario_of(self, variant: Variant) -> Path:
        return self.resolve(variant.scenario or self.base)

    def overrides_for(self, variant: Variant) -> list[str]:
        """The sweep-wide then the variant's overrides, as ``key.path=VALUE`` strings."""
        return overrides_of(self.set) + overrides_of(variant.set)


def yaml_value(value: Any) -> str:
    """A value written so that the scenario loader's YAML parsing gives it back exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            text = text.replace("e", ".0e")  # PyYAML (YAML 1.1) reads 1e-05 as text
        return text
    if isinstance(value, int | str | list | dict) or value is None:
        import json

        return json.dumps(value, ensure_ascii=False)  # JSON is valid flow-style YAML
    raise TypeError(f"cannot write {value!r} as an override")


def overrides_of(block: Overrides) -> list[str]:
    if isinstance(block, dict):
        return [f"{k}={yaml_value(v)}" for k, v in block.items()]
    return list(block)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (no scenario is loaded here; see ``sweep.preflight``)."""
    file = str(path)
    data, lines = yamlio.read_yaml(path)
    if other := yamlio.wrong_kind(data, lines, file, "sweep"):
        raise SweepSpecError(other)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise SweepSpecError(_issues(err, data, lines, file)) from None
    spec._folder = Path(path).resolve().parent
    spec._file = file
    issues = []
    for key, where in [(spec.base, ("base",))] + [
            (v.scenario, ("policies", i, "scenario")) for i, v in enumerate(spec.policies) if v.scenario]:
        if not spec.resolve(key).is_file():
            f, line, p, _ = yamlio.locate(data, where, lines, file)
            issues.append(ConfigIssue(f, line, yamlio.format_path(p), key,
                                      f"scenario file not found ({spec.resolve(key)})"))
    if issues:
        raise SweepSpecError(issues)
    return spec


def issue_at(spec_file: str, where: tuple, message: str, value: Any = None) -> ConfigIssue:
    """A ``ConfigIssue`` pointing at ``where`` in a sweep file (re-reads the file for line numbers)."""
    data, lines = yamlio.read_yaml(spec_file)
    f, line, p, found = yamlio.locate(data, where, lines, spec_file)
    return ConfigIssue(f, line, yamlio.format_path(p), found if value is None else value, message)


def _issues(err: ValidationError, data: Any, lines: yamlio.LineMap, file: str) -> list[ConfigIssue]:
    out = []
    for e in err.errors(include_url=False):
        problem = (e.get("ctx") or {}).get("error")
        if isinstance(problem, KeyProblem):  # a cross-field check: point at the key it blames
            e = {**e, "loc": (*e["loc"], *problem.where), "msg": str(problem)}
        loc, model = _strip_tags(data, e["loc"])
        if e["type"] == "union_tag_invalid":  # point at the tag key itself
            loc += (str((e.get("ctx") or {}).get("discriminator", "")).strip("'"),)
        f, line, path, value = yamlio.locate(data, loc, lines, file)
        out.append(ConfigIssue(f, line, yamlio.format_path(path), value, _explain(e, path, model)))
    return out


_TAGGED = {"type": {"real": "RealParam", "integer": "IntegerParam", "categorical": "CategoricalParam",
                    "boolean": "BooleanParam"},
           "method": {"grid": "GridDesign", "lhs": "LhsDesign", "sobol": "SobolDesign", "morris": "MorrisDesign"}}


def _strip_tags(data: Any, loc: tuple) -> tuple[tuple, type[BaseModel]]:
    """Drop the discriminator tags pydantic puts in error locations; also return the innermost model."""
    out: list = []
    node, model = data, SweepSpec
    for part in loc:
        tag = next((k for k in _TAGGED if isinstance(node, dict) and part not in node
                    and node.get(k) == part and part in _TAGGED[k]), None)
        if tag:
            model = globals()[_TAGGED[tag][part]]
            continue
        out.append(part)
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
            model = {"policies": Variant, "outcomes": Outcome}.get(part, model)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out), model


def _explain(e: dict, path: tuple, model: type[BaseModel]) -> str:
    kind, ctx = e["type"], e.get("ctx") or {}
    if kind == "extra_forbidden":
        hint = did_you_mean(path[-1], model.model_fields) if path else ""
        return f"unknown key '{path[-1] if path else ''}'{hint}; allowed keys: {', '.join(sorted(model.model_fields))}"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return (f"unknown {ctx.get('discriminator', 'kind')} {ctx.get('tag')!r}{yamlio.tag_hint(ctx)}; "
                f"allowed: {ctx.get('expected_tags')}")
    if kind == "union_tag_not_found":
        return f"needs a {ctx.get('discriminator')} key"
    if kind == "literal_error":
        return f"allowed values: {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        return f"must be {PATTERN_WORDS.get(pattern, f'of the form {pattern}')}"
    if kind in TYPE_ERRORS:
        return type_message(e)
    return e["msg"].removeprefix("Value error, ")
