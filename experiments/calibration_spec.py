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

Messages are in the form of scenario and sweep files (``file:line: key.path: got X; allowed ...``);
a problem of the scenario itself is passed through as the scenario loader says it, at the
scenario's own file and line. The files calibration writes are checked here too, before any run:
``output:`` and ``report:`` (and the report's PNG beside it) may not be a folder, lie where nothing
can be written, be the same file as each other, or be a file calibration reads (this file, the
scenario, a file in its ``extends:`` chain or its geography file): writing the fitted scenario over
the scenario it extends would lose the original and make the chain circular. ``target_problem``
and ``folder_problem`` are the same checks for the command's ``--report`` and ``--workdir``.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from experiments.sweep_spec import _explain as _sweep_explain
from model import yamlio
from model.params import FieldProblem
from model.yamlio import ConfigError, ConfigIssue, did_you_mean

PROVINCE_COLUMNS = ("n_fdi_firms", "n_domestic_firms", "n_park_firms", "employment_total", "employment_park",
                    "employment_fdi", "employment_domestic", "industrial_output", "domestic_output_share",
                    "localisation_rate", "mean_tech_domestic", "location_quotient_electronics")


NAME = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
PARAMETER_PATH = r"^[a-z_][a-z0-9_]*(\.([a-z_][a-z0-9_]*|[0-9]+))+$"
KEY = r"^[a-z][a-z0-9_]*$"
# what each pattern means, for messages (the pattern itself follows in brackets)
PATTERN_WORDS = {
    NAME: "must be letters, digits, '_', '-' and '.', not starting with '.' (it names the folder "
          "results/calibration/NAME)",
    MONTH: "must look like YYYY-MM, a month 01 .. 12",
    PARAMETER_PATH: "must be the dotted path of a scenario value inside a block, in lower case, list items by "
                    "index (e.g. economy.import_markup or firm_groups.0.count)",
    KEY: "must be a short name of lower-case letters, digits and '_' starting with a letter (e.g. tn_localisation)",
}


class CalibrationError(ConfigError):
    """Invalid calibration file; ``str(err)`` lists ``file:line: key: ...``."""


class _Strict(BaseModel):
    """Unknown keys are errors; numbers must be finite and true/false is not a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class FitParameter(_Strict):
    """An uncertain scenario parameter (dotted path) and the range searched."""

    path: str = Field(pattern=PARAMETER_PATH, description="dotted scenario path")
    low: float = Field(description="lowest value searched")
    high: float = Field(description="highest value searched")
    note: str = Field("", description="why it is uncertain")

    @model_validator(mode="after")
    def _range(self) -> FitParameter:
        if not self.low < self.high:
            raise FieldProblem("high", f"low {self.low} must be below high {self.high}")
        return self


class FitTarget(_Strict):
    """A figure the model should reproduce: an indicator (of a province) in a year."""

    key: str = Field(pattern=KEY, description="short name")
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
            raise FieldProblem("high", f"low {self.low} is above high {self.high}")
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
    name: str = Field(pattern=NAME, max_length=100,
                      description="name (results/calibration/NAME); not starting with '.'")
    description: str = ""
    scenario: str = Field(description="scenario file, relative to this file")
    end: str = Field(pattern=MONTH, description="last month of each run (YYYY-MM)")
    seeds: list[Annotated[int, Field(ge=0, le=2**63 - 1)]] = Field(min_length=1, max_length=1000,
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
    """Read and validate a calibration file, including its references to the scenario and the
    files it writes (see the module's docstring)."""
    file = str(path)
    data, lines = yamlio.read_yaml(path)
    if other := yamlio.wrong_kind(data, lines, file, "calibration"):
        raise CalibrationError(other)
    try:
        spec = CalibrationSpec.model_validate(data)
    except ValidationError as err:
        raise CalibrationError(_issues(err, data, lines, file)) from None
    spec._folder = Path(path).resolve().parent
    spec._file = file

    def at(where: tuple, value: object, message: str) -> ConfigIssue:
        f, line, p, _ = yamlio.locate(data, where, lines, file)
        return ConfigIssue(f, line, yamlio.format_path(p), value, message)

    issues = _cross_check(spec, at) + [at(*problem) for problem in _output_problems(spec)]
    if issues:
        raise CalibrationError(issues)
    return spec


_BLOCKS: dict[str, type[BaseModel]] = {"search": Search, "parameters": FitParameter, "targets": FitTarget}


def _issues(err: ValidationError, data: Any, lines: yamlio.LineMap, file: str) -> list[ConfigIssue]:
    out = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        problem = (e.get("ctx") or {}).get("error")
        if isinstance(problem, FieldProblem):  # a cross-field check: point at the key it blames
            loc += (problem.key,)
        f, line, path, value = yamlio.locate(data, loc, lines, file)
        out.append(ConfigIssue(f, line, yamlio.format_path(path), value, _explain(e, path)))
    return out


def _model_of(path: tuple) -> type[BaseModel]:
    """The model of the mapping at ``path`` (the file, ``search``, a parameter or a target)."""
    names = [part for part in path if isinstance(part, str)]
    return _BLOCKS[names[0]] if names and names[0] in _BLOCKS else CalibrationSpec


def _explain(e: dict, path: tuple) -> str:
    """A pydantic error of a calibration file in the words of scenario and sweep files."""
    kind, ctx = e["type"], e.get("ctx") or {}
    names = [part for part in path if isinstance(part, str)]
    field = _model_of(path[:-1]).model_fields.get(names[-1]) if names else None
    pattern = next((m.pattern for m in field.metadata if getattr(m, "pattern", None)), None) if field else None
    if kind == "string_pattern_mismatch" or (kind == "string_type" and pattern):
        pattern = ctx.get("pattern", pattern)
        return f"{PATTERN_WORDS.get(pattern, 'must match the pattern')} (pattern {pattern})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{e['msg'].lower()} (allowed range: {_bounds(field, isinstance(path[-1], int))})"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"must list at {'least' if kind == 'too_short' else 'most'} {n} item{'s' if n != 1 else ''}"
    if kind == "string_too_short":
        n = ctx.get("min_length")
        return "must not be empty" if n == 1 else f"must be at least {n} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        model = _BLOCKS.get(names[-1], CalibrationSpec) if names else CalibrationSpec
        return f"must be a mapping of keys to values; allowed keys: {', '.join(sorted(model.model_fields))}"
    return _sweep_explain(e, path, _model_of(path[:-1]))


def _bounds(field: Any, item: bool) -> str:
    """``low .. high`` of a field (of its list's items if ``item``), with what the field is."""
    metadata = list(getattr(field, "metadata", []))
    if field is not None and item:
        for arg in get_args(field.annotation):
            for extra in get_args(arg)[1:]:
                metadata += getattr(extra, "metadata", [extra])
    lo = next((m.ge for m in metadata if getattr(m, "ge", None) is not None), None)
    hi = next((m.le for m in metadata if getattr(m, "le", None) is not None), None)
    shown = "2**63 - 1" if hi == 2**63 - 1 else hi
    text = f"{lo} .. {shown}" if lo is not None and hi is not None else f"{lo} or more" if lo is not None \
        else f"{shown} or less"
    return text + (f"; {field.description}" if field is not None and field.description else "")


def _cross_check(spec: CalibrationSpec, at: Callable[[tuple, object, str], ConfigIssue]) -> list[ConfigIssue]:
    from model.metrics import INDICATORS
    from model.scenario import ScenarioError, load_scenario

    out: list[ConfigIssue] = []
    if not spec.scenario_path.is_file():
        what = "is a folder, not a scenario file" if spec.scenario_path.is_dir() else "scenario file not found"
        return [at(("scenario",), spec.scenario, f"{what} ({spec.scenario_path})")]
    try:
        sc = load_scenario(spec.scenario_path, [f"end={spec.end}"])
    except ScenarioError as err:
        # `end` is the one override: what the loader blames on it (`--set`) is this file's horizon;
        # anything else is the scenario's own problem, passed through at its own file and line
        own = [i for i in err.errors if i.file != "--set"]
        if own:
            n = len(own)
            out.append(at(("scenario",), spec.scenario, f"the scenario is invalid ({n} problem{'s' if n != 1 else ''}, "
                                                          "listed next; fix the scenario file)"))
        return out + own + [at(("end",), spec.end, f"the scenario rejects this horizon: {i.message}")
                            for i in err.errors if i.file == "--set"]
    if all(t.weight == 0 for t in spec.targets):
        out.append(at(("targets",), None, "every target has weight 0, so every candidate scores 0 and the fit "
                                          "says nothing: give at least one target a weight above 0"))
    for i, p in enumerate(spec.parameters):
        inside = p.low + 0.37 * (p.high - p.low)  # a value the search may try, not a whole number
        try:
            load_scenario(spec.scenario_path, [f"end={spec.end}", f"{p.path}={inside!r}"])
        except ScenarioError as err:
            if "whole number" in err.errors[0].message:
                out.append(at(("parameters", i, "path"), p.path, (
                    f"{p.path} takes whole numbers, and the search tries any value between low and high "
                    f"({inside:g}, say): calibrate a real-valued parameter, or fix this one in the scenario")))
                continue
        for bound in ("low", "high"):
            try:
                load_scenario(spec.scenario_path, [f"end={spec.end}", f"{p.path}={getattr(p, bound)}"])
            except ScenarioError as err:
                message = err.errors[0].message
                if "unknown key" in message or "does not exist" in message:  # the path, not this bound
                    out.append(at(("parameters", i, "path"), p.path, f"the scenario has no parameter {p.path}: {message}"))
                    break
                out.append(at(("parameters", i, bound), getattr(p, bound),
                              f"the scenario rejects {p.path}={getattr(p, bound)}: {message}"))
    for where, values, what in ((("seeds",), spec.seeds, "seed"),
                                (("parameters",), [p.path for p in spec.parameters], "parameter")):
        for i, v in enumerate(values):
            if v in values[:i]:
                out.append(at((*where, i) if what == "seed" else (*where, i, "path"), v,
                              f"repeated {what}: each may appear once"))
    first, last = int(sc.start[:4]), int(sc.end[:4])
    keys: set[str] = set()
    for i, t in enumerate(spec.targets):
        cols = PROVINCE_COLUMNS if t.province else tuple(INDICATORS)
        if t.indicator not in cols:
            kind = "per-province" if t.province else "regional"
            out.append(at(("targets", i, "indicator"), t.indicator, f"unknown {kind} indicator{did_you_mean(t.indicator, cols)}; allowed: {', '.join(cols)}"))
        if t.province and t.province not in sc.geography.provinces:
            out.append(at(("targets", i, "province"), t.province,
                          f"unknown province{did_you_mean(t.province, sc.geography.provinces)}; "
                          f"allowed: {', '.join(sc.geography.provinces)}"))
        if not first <= t.year <= last:
            out.append(at(("targets", i, "year"), t.year, f"outside the runs' horizon {first}–{last} (see 'end')"))
        if t.key in keys:
            out.append(at(("targets", i, "key"), t.key, "duplicate target key"))
        keys.add(t.key)
    return out


# -- the files calibration writes -------------------------------------------------------------------

def files_read(spec: CalibrationSpec) -> dict[Path, str]:
    """The files a calibration reads (resolved), each with what it is: this file, the scenario, the
    files of its ``extends:`` chain and the geography files they name. A chain that cannot be read
    stops there (the scenario's own check reports why)."""
    out = {Path(spec.file).resolve(): f"this calibration file ({Path(spec.file).resolve()})"}
    path: Path | None = spec.scenario_path
    for depth in range(yamlio.MAX_EXTENDS_DEPTH + 2):
        if path is None or path in out or not path.is_file():
            break
        out[path] = (f"the scenario being calibrated ({path}): the fitted scenario extends it, so the original "
                     "would be lost and the 'extends:' chain made circular" if depth == 0 else
                     f"{path}, which the scenario extends: it would be lost and the fitted scenario's 'extends:' "
                     "chain made circular")
        try:
            data, _ = yamlio.read_yaml(path)
        except ConfigError:
            break
        geography, parent = data.get("geography"), data.get("extends")
        if isinstance(geography, str):
            geo = (path.parent / geography).resolve()
            out.setdefault(geo, f"{geo}, the geography file of {path.name}")
        path = (path.parent / parent).resolve() if isinstance(parent, str) else None
    return out


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # a hard link, or a path resolve() could not see through
    except OSError:
        return False


def _creatable(folder: Path) -> str | None:
    """None if files can be made in ``folder`` (made with its parents if missing), else why not:
    tried with a temporary file in the nearest folder that exists, removed at once."""
    try:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            return f"cannot be written: {probe} is a file, not a folder"
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        return f"cannot be written: nothing can be created in {probe} ({err.strerror or err})"
    return None


def target_problem(path: Path, reads: Mapping[Path, str], writes: Mapping[Path, str] | None = None) -> str | None:
    """Why calibration could not write the file ``path`` (None if it can): it is a file calibration
    reads (``reads``, from ``files_read``) or also writes (``writes``: path → what it is), a
    folder, or in a place where no file can be made."""
    path = path.resolve()
    for other, what in reads.items():
        if _same(path, other):
            return f"would overwrite {what}; choose another file"
    for other, what in (writes or {}).items():
        if _same(path, other):
            return f"is the same file as {what}; choose another file"
    if path.is_dir():
        return f"is a folder ({path}), not a file; name the file to write"
    if path.exists() and not written_by_calibrate(path):
        return (f"already holds a file that calibrate did not write ({path}); choose another file, "
                "or move that one away")
    return _creatable(path.parent)


CALIBRATE_MARK = "Generated by `clusterlink calibrate"  # heads every file calibrate writes (PNG: its Description)


def _has_mark(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return CALIBRATE_MARK.encode() in f.read(65536)
    except OSError:
        return False


def written_by_calibrate(path: Path) -> bool:
    """Whether the file at ``path`` is one calibrate wrote, so that it may replace it: its head
    carries the mark. A report's PNG written before the PNG carried it counts through its report."""
    if _has_mark(path):
        return True
    return path.suffix.lower() == ".png" and any(
        _has_mark(p) for p in path.parent.glob(glob.escape(path.stem) + ".*") if p.suffix.lower() != ".png")


def report_problems(report: Path, reads: Mapping[Path, str], writes: Mapping[Path, str]) -> list[str]:
    """``target_problem`` of a Markdown report and of the PNG written beside it."""
    report = report.resolve()
    png = report.with_suffix(".png")
    if png == report:
        return ["is the report's own plot (the PNG is written beside the report, with its name): name it .md"]
    why = target_problem(report, reads, writes)
    if why is None and (why := target_problem(png, reads, writes)) is not None:
        why = f"its plot {png.name} (written beside it) {why}"
    return [why] if why else []


def folder_problem(folder: Path) -> str | None:
    """Why calibration could not keep its journal in ``folder`` (None if it can)."""
    folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        return f"is a file ({folder}), not a folder"
    return _creatable(folder)


def _output_problems(spec: CalibrationSpec) -> list[tuple[tuple, object, str]]:
    reads = files_read(spec)
    out = []
    if why := target_problem(spec.output_path, reads):
        out.append((("output",), spec.output, why))
    if spec.report_path is not None:
        for why in report_problems(spec.report_path, reads, {spec.output_path: "output: (the fitted scenario)"}):
            out.append((("report",), spec.report, why))
    return out
