"""Calibration files: which uncertain parameters to fit, and to which targets.

A calibration file (``scenarios/calibration/targets.yaml``) is validated strictly like a scenario:
unknown keys, bad ranges, unknown indicators, provinces or parameter paths are errors that name
file, line and key::

    name: baseline_2023
    scenario: ../baseline.yaml          # relative to this file
    end: 2023-12                        # horizon of every candidate run
    seeds: [1, 2, 3, 4]                 # held fixed across candidates
    report_seeds: 10                    # seeds 1..N for the report's bands
    output: ../calibrated.yaml          # the fitted scenario (extends the scenario above)
    search: {initial: 12, iterations: 24, seed: 20250601}
    parameters:
      - {path: economy.import_markup, low: 0.05, high: 0.2}
    targets:
      - {key: tn_localisation, indicator: localisation_rate, province: Thái Nguyên, year: 2023,
         stat: mean, low: 0.07, high: 0.09, source: seed 001}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from model import yamlio
from model.yamlio import ConfigError, ConfigIssue

PROVINCE_COLUMNS = ("n_fdi_firms", "n_domestic_firms", "n_park_firms", "employment_total", "employment_park",
                    "employment_fdi", "employment_domestic", "industrial_output", "domestic_output_share",
                    "localisation_rate", "mean_tech_domestic", "location_quotient_electronics")


class CalibrationError(ConfigError):
    """Invalid calibration file; ``str(err)`` lists ``file:line: key: ...``."""


class _Strict(BaseModel):
    """Unknown keys are errors; numbers must be finite and true/false is not a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class FitParameter(_Strict):
    """An uncertain scenario parameter (dotted path) and the range searched."""

    path: str = Field(pattern=r"^[a-z_][a-z0-9_]*(\.([a-z_][a-z0-9_]*|[0-9]+))+$", description="dotted scenario path")
    low: float = Field(description="lowest value searched")
    high: float = Field(description="highest value searched")
    note: str = Field("", description="why it is uncertain")

    @model_validator(mode="after")
    def _range(self) -> FitParameter:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self


class FitTarget(_Strict):
    """A figure the model should reproduce: an indicator (of a province) in a year."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="short name")
    label: str = Field("", description="what the figure is")
    indicator: str = Field(description="indicator column (docs/ARCHITECTURE.md)")
    province: str | None = Field(None, description="province (indicators_province) or none for the region")
    year: int = Field(ge=2000, le=2045, description="calendar year measured")
    stat: Literal["mean", "last"] = Field("mean", description="mean over the year's months, or the year's last month")
    low: float = Field(description="lower end of the figure's range")
    high: float = Field(description="upper end of the figure's range")
    source: str = Field(min_length=1, description="where the figure comes from")
    weight: float = Field(1.0, ge=0, le=100, description="weight in the objective")

    @model_validator(mode="after")
    def _range(self) -> FitTarget:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self

    @property
    def measure_id(self) -> str:
        return f"{self.indicator}|{self.province or ''}|{self.year}|{self.stat}"

    @property
    def mid(self) -> float:
        return (self.low + self.high) / 2

    @property
    def half_width(self) -> float:
        return max((self.high - self.low) / 2, 0.05 * abs(self.mid), 1e-12)


class Search(_Strict):
    initial: int = Field(12, ge=1, le=10_000, description="Latin-hypercube candidates first")
    iterations: int = Field(24, ge=0, le=10_000, description="Nelder–Mead evaluations after")
    seed: int = Field(20250601, ge=0, description="seed of the Latin hypercube")


class CalibrationSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$", max_length=100,
                      description="name (results/calibration/NAME); not starting with '.'")
    description: str = ""
    scenario: str = Field(description="scenario file, relative to this file")
    end: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="last month of each run (YYYY-MM)")
    seeds: list[Annotated[int, Field(ge=0, lt=2**63)]] = Field(min_length=1, max_length=1000,
                                                             description="seeds held fixed across candidates")
    report_seeds: int = Field(10, ge=1, le=1000, description="seeds 1..N for the report")
    output: str = Field(description="fitted scenario file to write, relative to this file")
    report: str | None = Field(None, description="Markdown report to write (a PNG beside it), relative to this "
                                                 "file; none: report.md in the work folder")
    search: Search = Field(default_factory=Search)
    parameters: list[FitParameter] = Field(min_length=1)
    targets: list[FitTarget] = Field(min_length=1)

    _folder: Path = PrivateAttr(Path("."))
    _file: str = PrivateAttr("")

    def resolve(self, rel: str) -> Path:
        return (self._folder / rel).resolve()

    @property
    def scenario_path(self) -> Path:
        return self.resolve(self.scenario)

    @property
    def output_path(self) -> Path:
        return self.resolve(self.output)

    @property
    def report_path(self) -> Path | None:
        return self.resolve(self.report) if self.report else None

    @property
    def file(self) -> str:
        return self._file


def load_calibration(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration file, including its references to the scenario."""
    file = str(path)
    data, lines = yamlio.read_yaml(path)
    try:
        spec = CalibrationSpec.model_validate(data)
    except ValidationError as err:
        issues = []
        for e in err.errors(include_url=False):
            f, line, p, value = yamlio.locate(data, e["loc"], lines, file)
            issues.append(ConfigIssue(f, line, yamlio.format_path(p), value, e["msg"]))
        raise CalibrationError(issues) from None
    spec._folder = Path(path).resolve().parent
    spec._file = file
    issues = _cross_check(spec)
    if issues:
        raise CalibrationError([ConfigIssue(*_at(data, lines, file, where), value, msg) for where, value, msg in issues])
    return spec


def _at(data, lines, file, where: tuple) -> tuple[str, int | None, str]:
    f, line, p, _ = yamlio.locate(data, where, lines, file)
    return f, line, yamlio.format_path(p)


def _cross_check(spec: CalibrationSpec) -> list[tuple[tuple, object, str]]:
    from model.metrics import INDICATORS
    from model.scenario import ScenarioError, load_scenario

    out: list[tuple[tuple, object, str]] = []
    if not spec.scenario_path.is_file():
        return [(("scenario",), spec.scenario, f"scenario file not found ({spec.scenario_path})")]
    try:
        sc = load_scenario(spec.scenario_path, [f"end={spec.end}"])
    except ScenarioError as err:
        return [(("end",), spec.end, f"the scenario rejects this horizon: {err.errors[0].message}")]
    for i, p in enumerate(spec.parameters):
        for bound in ("low", "high"):
            try:
                load_scenario(spec.scenario_path, [f"end={spec.end}", f"{p.path}={getattr(p, bound)}"])
            except ScenarioError as err:
                message = err.errors[0].message
                if "unknown key" in message or "does not exist" in message:  # the path, not this bound
                    out.append((("parameters", i, "path"), p.path, f"the scenario has no parameter {p.path}: {message}"))
                    break
                out.append((("parameters", i, bound), getattr(p, bound),
                            f"the scenario rejects {p.path}={getattr(p, bound)}: {message}"))
    for where, values, what in ((("seeds",), spec.seeds, "seed"),
                                (("parameters",), [p.path for p in spec.parameters], "parameter")):
        for i, v in enumerate(values):
            if v in values[:i]:
                out.append(((*where, i) if what == "seed" else (*where, i, "path"), v,
                            f"repeated {what}: each may appear once"))
    first, last = int(sc.start[:4]), int(sc.end[:4])
    keys: set[str] = set()
    for i, t in enumerate(spec.targets):
        cols = PROVINCE_COLUMNS if t.province else tuple(INDICATORS)
        if t.indicator not in cols:
            kind = "per-province" if t.province else "regional"
            out.append((("targets", i, "indicator"), t.indicator, f"unknown {kind} indicator; allowed: {', '.join(cols)}"))
        if t.province and t.province not in sc.geography.provinces:
            out.append((("targets", i, "province"), t.province, f"unknown province; allowed: {', '.join(sc.geography.provinces)}"))
        if not first <= t.year <= last:
            out.append((("targets", i, "year"), t.year, f"outside the runs' horizon {first}–{last} (see 'end')"))
        if t.key in keys:
            out.append((("targets", i, "key"), t.key, "duplicate target key"))
        keys.add(t.key)
    return out
