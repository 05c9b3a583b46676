"""Mechanism parameters: one frozen, validated block per submodel, each default with unit and source.

Every field's description reads "<unit>. <source or 'Assumption: reason'>". docs/ODD.md §7 lists
the same table; `tests/test_scenario.py` checks that every field carries a unit and a source.
"""

from __future__ import annotations

import math
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _takes_numbers(annotation: Any) -> bool:
    """Whether a field holds numbers (``int``, ``float``, optional ones, or a mapping to numbers)."""
    if annotation in (int, float):
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:  # a bounded number (Weight)
        return _takes_numbers(args[0])
    if origin is dict and len(args) == 2:
        return _takes_numbers(args[1])
    if origin in (Union, types.UnionType):
        return any(_takes_numbers(a) for a in args if a is not type(None))
    return False


def _takes_text(annotation: Any) -> bool:
    """Whether a field (or, for a mapping, its values) may hold text: then a quoted number is text."""
    if annotation is str:
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _takes_text(args[0])
    if origin is dict and len(args) == 2:
        return _takes_text(args[1])
    if origin in (Union, types.UnionType):
        return any(_takes_text(a) for a in args)
    return annotation is Any


def _not_a_number(value: Any) -> str | None:
    """Why ``value`` is not a number a scenario may write, or None: true/false and a number in quotes,
    which pydantic would otherwise read as 1/0 and as the number in the quotes."""
    if isinstance(value, bool):
        return "a number is expected, not true/false"
    if isinstance(value, str) and _reads_as_number(value):
        return f"a number is expected, not the text {value!r} (remove the quotes)"
    return None  # other text: pydantic's own message ("unable to parse string as a number")


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def type_message(e: dict) -> str:
    """A pydantic type error in words a scenario's author acts on (any file the project reads)."""
    if e["type"] == "finite_number":
        return "a finite number is expected (.inf, .nan and numbers beyond ±1.8e308 are refused)"
    if e["type"] == "string_type" and isinstance(e.get("input"), int | float):  # YAML read the text as a number
        what = "true/false" if isinstance(e["input"], bool) else "a number"
        return f"text is expected, not {what} (put it in quotes to keep it as written)"
    if e["type"] in NUMBER_ERRORS:
        value = e.get("input")
        if why := _not_a_number(value):
            return why
        if e["type"].startswith("int") and isinstance(value, float):
            return ("a whole number is expected, written without a decimal point or exponent (10, not 10.0 or 1e1)"
                    if value.is_integer() else f"a whole number is expected, not {value!r}")
    if e["type"] in SHAPE_ERRORS:  # null, a number or text where a block or a list goes
        if e["type"] == "list_type":
            return "a list is expected ([a, b], or one '- item' line each)"
        return "a block of keys is expected ({key: value}, or indented 'key: value' lines)"
    return e["msg"]


NUMBER_ERRORS = ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing")
SHAPE_ERRORS = ("model_type", "dict_type", "list_type")
TYPE_ERRORS = ("finite_number", "string_type", *NUMBER_ERRORS, *SHAPE_ERRORS)  # the pydantic errors type_message words


class Strict(BaseModel):
    """Base of every scenario block: unknown keys are errors; values cannot change after load.

    Numbers must be finite (``.nan`` and ``.inf`` are refused); a YAML ``true``/``false`` and a
    quoted ``'0.1'`` are not numbers (pydantic would otherwise read them as 1 and 0.1, so a value
    meant as text, or a typo, would pass as a number).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _only_numbers_for_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is None or not _takes_numbers(field.annotation) or _takes_text(field.annotation):
                continue
            why = _not_a_number(value)
            if why:
                raise FieldProblem(name, why)
            if isinstance(value, dict):
                for key, v in value.items():
                    why = _not_a_number(v)
                    if why:
                        raise FieldProblem(name, f"{name}.{key}: {why}")
        return data


class FieldProblem(ValueError):
    """A cross-field check that failed, blamed on one key of its block so the error names its line.

    ``key`` may list several keys: the error names the first one the scenario writes (in a file or
    by ``--set``), else the first."""

    def __init__(self, key: str | tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.keys = (key,) if isinstance(key, str) else tuple(key)
        self.key = self.keys[0]


def P(default: Any, ge: float | None = None, le: float | None = None, *, unit: str, source: str) -> Any:
    """A bounded parameter with its unit and source in the description."""
    return Field(default, ge=ge, le=le, description=f"{unit}. {source}")


SKILLS = ("operator", "technician", "engineer")


class SkillTriple(Strict):
    """A value per skill level."""

    operator: float = Field(ge=0, le=1e7, description="per operator")
    technician: float = Field(ge=0, le=1e7, description="per technician")
    engineer: float = Field(ge=0, le=1e7, description="per engineer")

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.operator, self.technician, self.engineer)


class ShareTriple(SkillTriple):
    """A share or a probability per skill level (each 0–1)."""

    operator: float = Field(ge=0, le=1, description="per operator, 0–1")
    technician: float = Field(ge=0, le=1, description="per technician, 0–1")
    engineer: float = Field(ge=0, le=1, description="per engineer, 0–1")


MAX_WEIGHT = 1e6
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT)]
"""A relative weight in a map of weights that is normalised to shares (bounded: sums stay finite)."""


def check_weights(key: str, weights: dict[str, float]) -> None:
    """Raise ``FieldProblem`` unless a map of weights (each 0..MAX_WEIGHT, see ``Weight``) sums to more than 0."""
    if not math.fsum(weights.values()) > 0:
        raise FieldProblem(key, f"{key} needs at least one weight > 0 (they are normalised to shares)")


class Category(Strict):
    """A component category lead firms buy and suppliers make."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="identifier")
    name: str = Field(min_length=1, description="display name")
    threshold: float = P(0.3, 0, 1, unit="technology level τ a supplier needs to qualify",
                         source="Assumption: ordered by the engineering content of the part")
    certification: bool = Field(False, description="buyers also require a quality certification (ISO/IATF)")
    reach_km: float = P(150, 1, 2000, unit="road km a buyer will source this category from locally",
                        source="Assumption: a day's truck round trip in the Red River Delta")


DEFAULT_CATEGORIES = [
    dict(id="packaging", name="Packaging and printing", threshold=0.12, reach_km=120),
    dict(id="plastic_parts", name="Plastic injection parts", threshold=0.28),
    dict(id="metal_stamping", name="Metal stamping", threshold=0.30),
    dict(id="cables_harnesses", name="Cables and harnesses", threshold=0.33),
    dict(id="moulds_jigs", name="Moulds, jigs and fixtures", threshold=0.45, certification=True),
    dict(id="precision_parts", name="Precision machined parts", threshold=0.50, certification=True),
    dict(id="pcb_assembly", name="PCB assembly", threshold=0.62, certification=True),
    dict(id="electronic_components", name="Electronic components", threshold=0.75, certification=True),
    dict(id="chips", name="Chips and semiconductor packages", threshold=0.90, certification=True),
]


class Sector(Strict):
    """A sector: what its lead firms buy per unit of output (the bill of materials)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="identifier")
    name: str = Field(min_length=1, description="display name")
    bom: dict[str, float] = Field(description="share of output value spent on each component category (0–1)")
    polluting_share: float = P(0.1, 0, 1, unit="share of new projects in this sector classed as polluting",
                               source="Assumption for the environmental-standard lever")

    @model_validator(mode="after")
    def _bom_shares(self) -> Sector:
        bad = {k: v for k, v in self.bom.items() if not 0 <= v <= 1}
        if bad:
            raise FieldProblem("bom", f"bom shares must be in [0, 1], got {bad}")
        if sum(self.bom.values()) > 0.95:
            raise FieldProblem("bom", f"bom shares sum to {sum(self.bom.values()):.2f}; at most 0.95 (value added ≥ 5%)")
        return self


# Bills of materials: shares of output value. Electronics assembly is low value added (inputs
# ≈ 80% of output; chips and components dominate) - UNCTAD/WB GVC studies of Samsung Vietnam;
# the split across categories is an assumption documented in docs/ODD.md.
DEFAULT_SECTORS = [
    dict(id="electronics_assembly", name="Electronics assembly", polluting_share=0.05, bom=dict(
        packaging=0.025, plastic_parts=0.045, metal_stamping=0.035, cables_harnesses=0.03,
        moulds_jigs=0.012, precision_parts=0.02, pcb_assembly=0.08, electronic_components=0.25,
        chips=0.28)),
    dict(id="semiconductors", name="Semiconductor assembly and test", polluting_share=0.1, bom=dict(
        packaging=0.015, plastic_parts=0.02, metal_stamping=0.03, moulds_jigs=0.03,
        precision_parts=0.04, electronic_components=0.10, chips=0.45)),
    dict(id="electrical_equipment", name="Electrical equipment (solar cells, cables)",
         polluting_share=0.2, bom=dict(
             packaging=0.03, plastic_parts=0.06, metal_stamping=0.08, cables_harnesses=0.10,
             moulds_jigs=0.02, precision_parts=0.04, pcb_assembly=0.05, electronic_components=0.15,
             chips=0.10)),
    dict(id="mechanical_engineering", name="Mechanical engineering", polluting_share=0.25, bom=dict(
        packaging=0.02, plastic_parts=0.05, metal_stamping=0.15, cables_harnesses=0.05,
        moulds_jigs=0.06, precision_parts=0.20, electronic_components=0.05)),
    dict(id="metals_materials", name="Metals and materials", polluting_share=0.5, bom=dict(
        packaging=0.02, metal_stamping=0.05, moulds_jigs=0.05, precision_parts=0.08)),
]


class Economy(Strict):
    """Exogenous paths and prices."""

    export_growth: float = P(0.06, -0.5, 0.5, unit="fraction per year, trend growth of lead firms' export demand",
                             source="Vietnam electronics exports grew ~6–10%/yr 2015–2023 (GSO); lower end taken")
    demand_volatility: float = P(0.02, 0, 0.3, unit="s.d. of the monthly log demand shock",
                                 source="Assumption: monthly export swings of a few percent")
    demand_persistence: float = P(0.8, 0, 0.99, unit="AR(1) coefficient of the demand shock",
                                  source="Assumption")
    import_markup: float = P(0.10, 0, 2, unit="delivered cost of an imported component over the world price, fraction",
                             source="Assumption: freight, customs and inventory for lead times of 2–6 weeks")
    transport_cost_per_km: float = P(0.0006, 0, 0.01, unit="fraction of value per road km",
                                     source="Assumption: road freight ~1,500–2,000 VND/t-km on parts of high value density")
    frontier_growth: float = P(0.02, 0, 0.2, unit="fraction per year the world technology frontier moves on",
                               source="Assumption: TFP growth of the frontier in electronics")
    domestic_market_growth: float = P(0.06, -0.5, 0.5, unit="fraction per year, growth of domestic demand for SMEs' goods",
                                      source="Vietnam GDP growth 2022–2024 ~5–8% (GSO)")
    domestic_market_price: float = P(0.85, 0.1, 2, unit="price of SMEs' domestic-market sales relative to contract sales",
                                     source="Assumption: domestic buyers pay less than lead firms")
    initial_utilisation: float = P(0.75, 0.1, 1, unit="the starting firms' capacity utilisation (plant capacity = output ÷ it; foreign suppliers' sales abroad go up to it)",
                                   source="Assumption: sizes the domestic market at the start")


class Sourcing(Strict):
    """Tenders, costs and contracts."""

    unit_cost_base: float = P(1.25, 0.5, 3, unit="unit cost of a τ=0 supplier relative to the world price",
                              source="Assumption, with cost_tech_elasticity: a τ≈0.3 SME is about at import parity")
    cost_tech_elasticity: float = P(0.75, 0, 5, unit="unit cost falls as exp(-elasticity·τ)",
                                    source="Assumption; productivity gap FDI/domestic ≈ 1.45 (GSO 2017)")
    cost_tech_headroom: float = P(0.25, 0, 1, unit="τ above a category's threshold that still lowers unit cost",
                                  source="Assumption: a packaging maker gains little from semiconductor-grade know-how")
    wage_cost_share: float = P(0.12, 0, 1, unit="share of a supplier's unit cost that is labour",
                               source="Assumption: labour ≈ 10–15% of parts makers' costs")
    n_candidates: int = P(10, 1, 100, unit="suppliers sampled per tender (by distance-weighted draw)",
                          source="Assumption: a buyer's purchasing team screens about ten offers")
    max_share: float = P(0.5, 0.01, 1, unit="largest share of an open need awarded to one supplier (multi-sourcing)",
                         source="Assumption: dual or multiple sourcing is common practice")
    tender_rounds: int = P(4, 1, 50, unit="tender rounds per buyer, category and month (a round screens n_candidates)",
                           source="Assumption")
    initial_tender_rounds: int = P(40, 1, 500, unit="tender rounds when building the January 2023 supplier base",
                                   source="Design: the starting network is the settled outcome of years of sourcing")
    history_weight: float = P(0.06, 0, 1, unit="cost advantage of a supplier with a full relationship record",
                              source="Assumption: relationship value (Korean followers keep lead-firm ties)")
    history_decay: float = P(0.02, 0, 1, unit="fraction per month a relationship record fades",
                             source="Assumption")
    score_noise: float = P(0.03, 0, 1, unit="scale of Gumbel noise on tender scores",
                           source="Assumption: unobserved quality and service")
    contract_months_min: int = P(12, 1, 120, unit="months", source="Assumption: annual supply agreements")
    contract_months_max: int = P(36, 1, 120, unit="months", source="Assumption")
    renewal_base: float = P(0.85, 0, 1, unit="probability a fully delivered contract is renewed",
                            source="Assumption")
    renewal_performance_power: float = P(3.0, 0, 20, unit="renewal ∝ delivered share to this power",
                                         source="Assumption: buyers punish late or short delivery hard")
    min_tender_value: float = P(0.1, 0, 100, unit="VND bn/month; smaller open needs are imported",
                                source="Assumption")
    supplier_input_share: float = P(0.20, 0, 0.9, unit="share of a supplier's output value bought as components (tier-2 demand)",
                                    source="Assumption")
    material_share: float = P(0.45, 0, 0.95, unit="share of a supplier's output value spent on raw materials (not tendered)",
                              source="Assumption")
    p_review: float = P(0.25, 0, 1, unit="probability per month a buyer re-tenders a need it imports",
                        source="Assumption: purchasing reviews import sourcing about quarterly")
    # any weights ≥ 0; all zero switches tier-2 demand off
    supplier_bom: dict[str, Weight] = Field(
        default_factory=lambda: dict(packaging=0.2, plastic_parts=0.25, metal_stamping=0.25, moulds_jigs=0.15,
                                     precision_parts=0.15),
        description="mix of the components suppliers buy (tier-2 demand), shares normalised. Assumption")
    certification_tech: float = P(0.40, 0, 1, unit="τ at which an SME can obtain a quality certification",
                                  source="Assumption")
    p_certify: float = P(0.03, 0, 1, unit="probability per month an eligible SME certifies",
                         source="Assumption")
    certification_cost: float = P(0.5, 0, 100, unit="VND bn", source="Assumption: ISO 9001/IATF audit and systems")

    @model_validator(mode="after")
    def _months(self) -> Sourcing:
        if self.contract_months_min > self.contract_months_max:
            raise FieldProblem("contract_months_min", f"contract_months_min {self.contract_months_min} must be ≤ "
                               f"contract_months_max {self.contract_months_max}")
        return self

    @model_validator(mode="after")
    def _input_shares(self) -> Sourcing:
        if self.material_share + self.supplier_input_share > 1:
            raise FieldProblem(("supplier_input_share", "material_share"), (
                f"material_share {self.material_share:g} + supplier_input_share {self.supplier_input_share:g} = "
                f"{self.material_share + self.supplier_input_share:g}: a supplier's materials and components are "
                "shares of its output value and must add up to at most 1"))
        return self


class Learning(Strict):
    """Technology learning channels (monthly rates)."""

    backward: float = P(0.006, 0, 1, unit="τ per month at full contract intensity and the optimal gap",
                        source="Javorcik 2004; Anwar & Nguyen 2014 (positive backward spillovers in Vietnam)")
    gap_peak: float = P(0.35, 0.01, 1, unit="τ gap to the buyer at which backward learning peaks",
                        source="Ni & Kato 2017: inverted U, middle gaps learn most")
    demonstration: float = P(0.001, 0, 1, unit="τ per month from nearby higher-τ firms (horizontal/demonstration)",
                             source="Nguyen et al. 2008: horizontal spillovers weak or insignificant")
    demonstration_km: float = P(15, 0.1, 500, unit="km at which demonstration effects fall by 1/e",
                                source="Assumption")
    labour_mobility: float = P(0.25, 0, 5, unit="τ carried per worker-equivalent moving from a higher-τ firm, per gap and employee",
                               source="Assumption; Poole 2013 (worker mobility spillovers)")
    university: float = P(0.002, 0, 1, unit="τ per month per partnership at quality 1",
                          source="Assumption")
    rd_efficiency: float = P(0.08, 0, 10, unit="τ per month per unit R&D intensity (R&D ÷ revenue)",
                             source="Assumption; convergence 2.6–9.6%/yr (J. Econ. Dev. Studies 2014)")
    rd_share: float = P(0.005, 0, 0.2, unit="share of revenue SMEs spend on R&D when cash allows",
                        source="Assumption: Vietnamese SMEs spend < 1% of revenue on R&D")
    absorptive_skill_ref: float = P(0.15, 0.001, 1, unit="share of engineers (+½ technicians) giving full absorptive capacity",
                                    source="Cohen & Levinthal 1990; Newman et al. 2015")
    fdi_supplier_learning: float = P(0.5, 0, 2, unit="multiplier on learning of foreign suppliers",
                                     source="Assumption: foreign suppliers learn mostly from their parent")


class LabourParams(Strict):
    """Labour market and wages."""

    wage: SkillTriple = Field(default_factory=lambda: SkillTriple(operator=7.0, technician=9.5, engineer=13.0),
                              description="VND million/month, domestic firms' wage in 2023. GSO 2019 income by skill, "
                                          "MOLISA 2023 (8.0–8.4m outside FDI), HUST starting salary 11.5m")
    fdi_premium: float = P(0.35, 0, 2, unit="fraction FDI firms pay above domestic firms of the same τ",
                           source="MOLISA 2023: >11.5m in FDI vs 8.0–8.4m elsewhere (ratio ≈1.4 with the τ slope)")
    tech_wage_slope: float = P(0.3, 0, 3, unit="wage rises by this fraction per unit τ",
                               source="Assumption: more productive firms pay more")
    wage_growth: float = P(0.05, -0.2, 0.5, unit="fraction per year, trend growth of wages",
                           source="GSO: FDI income 7.5m (2015) → 10.5m (2020), ~7%/yr")
    wage_tightness: float = P(0.02, 0, 1, unit="extra yearly wage growth per unit vacancy rate",
                              source="Assumption (wage curve)")
    p_search: ShareTriple = Field(default_factory=lambda: ShareTriple(operator=0.025, technician=0.02, engineer=0.015),
                                  description="probability per month an employed worker looks for a better job (each 0–1). "
                                              "Uncertain: >60% want to change jobs (VnExpress 2022); ~30%/yr turnover unverified")
    match_noise: float = P(0.15, 0, 2, unit="s.d. of the log idiosyncratic value of a job offer (commute, career, fit)",
                           source="Assumption: standard job-search match shock")
    min_wage_gain: float = P(0.05, 0, 2, unit="wage gain a worker needs to move", source="Assumption")
    commute_km: float = P(35, 1, 300, unit="road km of daily commuting reach", source="Assumption: motorbike/bus commute")
    attrition: float = P(0.006, 0, 0.2, unit="fraction of workers per month leaving industry (return home, retire)",
                         source="Assumption")
    migration: float = P(0.6, 0, 5, unit="share of unfilled operator vacancies filled by migrants per month",
                         source=">40% of Thái Nguyên park workers from other provinces (Lao Động 2025)")
    entrants_per_year: float = P(0.005, 0, 1, unit="new local entrants to the operator pool per year, fraction of working-age population",
                                 source="Assumption: cohort entry into the working-age population")
    initial_pool_share: float = P(0.04, 0, 1, unit="job seekers at start as a share of employment",
                                  source="Assumption: ~2–4% urban unemployment (GSO)")
    skill_mix_fdi: ShareTriple = Field(default_factory=lambda: ShareTriple(operator=0.86, technician=0.09, engineer=0.05),
                                       description="share of workforce by skill in FDI firms (shares 0–1 summing to 1). "
                                                   "Assumption; 27% of workers hold a certificate (GSO 2023)")
    skill_mix_domestic: ShareTriple = Field(default_factory=lambda: ShareTriple(operator=0.80, technician=0.14, engineer=0.06),
                                            description="share of workforce by skill in domestic firms (shares 0–1 summing to 1). Assumption")
    labour_tech_elasticity: float = P(0.5, 0, 3, unit="labour needed per unit output falls as ((1+τ0)/(1+τ))^elasticity",
                                      source="Assumption")
    p_spinoff: float = P(0.0001, 0, 0.1, unit="probability per month an engineer at an FDI firm founds an SME",
                         source="Assumption")
    layoff_slack: float = P(0.1, 0, 2, unit="workers above need kept before layoffs, fraction", source="Assumption")

    @model_validator(mode="after")
    def _skill_mixes(self) -> LabourParams:
        for key in ("skill_mix_fdi", "skill_mix_domestic"):
            total = math.fsum(getattr(self, key).as_tuple())
            if not 0.99 <= total <= 1.01:
                raise FieldProblem(key, f"{key} shares must sum to 1 (operator + technician + engineer), "
                                        f"got {total:.4g}")
        return self


class Finance(Strict):
    """Costs, cash, investment and exit."""

    fixed_cost_share: float = P(0.05, 0, 1, unit="fixed cost per month as a share of capacity value",
                                source="Assumption: depreciation, rent, overhead")
    initial_cash_months: float = P(3, 0, 60, unit="months of revenue held as cash at start", source="Assumption")
    exit_loss_months: int = P(12, 1, 120, unit="consecutive loss months before an SME with negative cash exits",
                              source="Assumption")
    invest_utilisation: float = P(0.9, 0, 1, unit="utilisation above which firms add capacity", source="Assumption")
    capacity_step: float = P(0.05, 0, 1, unit="fraction capacity added per investment", source="Assumption")
    capital_per_capacity: float = P(6.0, 0, 100, unit="VND bn of investment per VND bn/month of capacity",
                                    source="Assumption: capital-output ratio ~0.5 yr")
    capacity_decay: float = P(0.005, 0, 1, unit="fraction of unused capacity retired per month", source="Assumption")
    upgrade_cost: float = P(3.0, 0, 1000, unit="VND bn per capability, times (1+3·threshold)",
                            source="Assumption: tooling and process qualification")
    p_upgrade: float = P(0.05, 0, 1, unit="probability per month a qualified SME with the cash adds a capability",
                         source="Assumption")


class Demography(Strict):
    """Entry of SMEs and arrivals of FDI projects."""

    sme_entry_rate: float = P(0.06, 0, 2, unit="entrants per year per existing SME at the reference opportunity",
                              source="Assumption: VN enterprise entry ~8–10%/yr (GSO)")
    entry_opportunity_ref: float = P(0.5, 0.001, 100, unit="local unmet low-tech demand ÷ SME output giving the reference entry rate",
                                     source="Assumption")
    entrant_tech: float = P(0.22, 0, 1, unit="mean τ of an entrant SME", source="Assumption")
    entrant_employees: float = P(30, 1, 10000, unit="persons, median size of an entrant", source="Assumption: 97% of SI firms small or micro (VASI)")
    fdi_arrivals_per_year: float = P(20, 0, 1000, unit="new FDI projects per year in the region",
                                     source="Bắc Ninh/Bắc Giang/Thái Nguyên add tens of projects a year (IZ authorities)")
    fdi_sector_shares: dict[str, Weight] = Field(
        default_factory=lambda: dict(electronics_assembly=0.45, semiconductors=0.1, electrical_equipment=0.2,
                                     mechanical_engineering=0.2, metals_materials=0.05),
        description="share of arriving projects by sector (normalised). Assumption from IZ project lists")
    p_lead: float = P(0.3, 0, 1, unit="share of arriving projects that are lead firms (rest: foreign suppliers)",
                      source="Tuổi Trẻ 2014: most of Samsung's suppliers were Korean followers")
    fdi_employees: float = P(800, 1, 100000, unit="persons, median size of an arriving project", source="Assumption")
    workers_per_ha: float = P(120, 1, 2000, unit="workers per hectare of park land",
                              source="Quang Châu: ~67,000 workers on ~426 ha (VNS 2022) ≈ 160/ha")
    beta_land: float = P(0.5, -10, 10, unit="logit weight on log free land (ha)", source="Assumption")
    beta_labour: float = P(0.8, -10, 10, unit="logit weight on log job seekers within reach", source="Assumption")
    beta_suppliers: float = P(0.6, -10, 10, unit="logit weight on log qualified suppliers within reach", source="Assumption")
    beta_agglomeration: float = P(0.7, -10, 10, unit="logit weight on log same-sector FDI firms at the park",
                                  source="Assumption: agglomeration makes location path dependent")
    beta_incentive: float = P(1.0, -10, 10, unit="logit weight on incentives (promotion lever)", source="Assumption")
    beta_distance: float = P(-1.0, -10, 10, unit="logit weight per 100 km to Hà Nội", source="Assumption")
    beta_port: float = P(-0.5, -10, 10, unit="logit weight per 100 km to Hải Phòng port", source="Assumption")

    @model_validator(mode="after")
    def _sector_shares(self) -> Demography:
        check_weights("fdi_sector_shares", self.fdi_sector_shares)
        return self
