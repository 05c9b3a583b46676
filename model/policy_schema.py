"""Policy levers and shocks: one typed block each, switched on by the scenario's timeline.

Each block has a ``type`` (the lever), a ``start`` and optional ``end`` month, and where money is
spent a cost and an optional yearly ``budget`` cap (VND bn). ``model.policy`` applies them.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from model.params import FieldProblem, P, SkillTriple, Strict, Weight, check_weights


def _month_text(value: object) -> object:
    """A month must be written YYYY-MM; YAML reads ``202306`` or ``2023`` as a number."""
    if not isinstance(value, str):
        raise ValueError(f"a month is written YYYY-MM (e.g. 2030-12), got {type(value).__name__} {value!r}")
    return value


YearMonth = Annotated[str, BeforeValidator(_month_text),
                      Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="month as YYYY-MM")]


def policy_label(policy: PolicyBase, index: int) -> str:
    """The name a scenario's ``index``-th policy goes by in results and messages."""
    return policy.label or f"{policy.type}#{index}"


class PolicyBase(Strict):
    """What every lever has: a label, a window and an optional yearly budget cap."""

    label: str | None = Field(None, description="name shown in results (defaults to the type)")
    start: YearMonth = Field("2023-01", description="first month the lever is active (YYYY-MM); "
                             "a block without one starts with the scenario")
    end: YearMonth | None = Field(None, description="last month active (YYYY-MM); none = to the horizon")
    budget: float | None = Field(None, ge=0, le=1e7, description="VND bn per year cap on spending; none = uncapped")

    spends: ClassVar[bool] = True  # False: the lever costs the public purse nothing, so takes no budget

    @model_validator(mode="after")
    def _window(self) -> PolicyBase:
        if self.end is not None and self.end < self.start:
            raise FieldProblem("end", f"end {self.end} is before start {self.start}")
        if self.budget is not None and not self.spends:
            raise FieldProblem("budget", f"{getattr(self, 'type', 'this lever')} spends no public money, so a "
                               "budget has nothing to cap (budget: 0 would switch the block off): remove it")
        return self


class Targeted(PolicyBase):
    """A lever that acts on firms (or parks) of chosen provinces. Levers acting on a named firm,
    institution or place, or on the whole country's imports, take no ``provinces``."""

    provinces: list[str] = Field(default_factory=list, description="provinces targeted (empty = all)")


class SupplierDevelopment(Targeted):
    """Coaching and matchmaking for N SMEs a year (seed policy 7: domestic–FDI linkage scheme)."""

    type: Literal["supplier_development"]
    smes_per_year: int = P(50, 0, 100000, unit="SMEs enrolled per year", source="Scenario choice")
    selection: Literal["closest_to_threshold", "largest", "random"] = Field(
        "closest_to_threshold", description="which SMEs are enrolled: those just below a category threshold, the largest, or at random")
    categories: list[str] = Field(default_factory=list, description="component categories targeted (empty = all)")
    months: int = P(12, 1, 120, unit="months of coaching per SME", source="Assumption: one-year programmes (MoIT/World Bank SDP)")
    learning_multiplier: float = P(1.6, 1, 10, unit="multiplier on every learning channel while coached",
                                   source="Assumption: coaching raises absorptive effort")
    qualification_bonus: float = P(0.04, 0, 0.3, unit="τ below a threshold still accepted for coached SMEs",
                                   source="Assumption: buyer audits with coaching support")
    matchmaking: float = P(0.04, 0, 1, unit="cost credit (fraction of the world price) in FDI buyers' tender scores, each month while coached",
                           source="Assumption: supplier fairs and introductions")
    cost_per_sme: float = P(0.4, 0, 100, unit="VND bn per SME per year", source="Assumption: ~US$16k per firm-year")


class LocalContentIncentive(Targeted):
    """A credit that lowers the delivered cost of domestic inputs to FDI buyers (seed policies 4, 7)."""

    type: Literal["local_content_incentive"]
    credit_rate: float = P(0.05, 0, 0.5, unit="fraction of domestic input value credited to the buyer",
                           source="Scenario choice; CIT incentives of ~5–10% of qualifying spend")
    categories: list[str] = Field(default_factory=list, description="categories eligible (empty = all)")


class TrainingExpansion(PolicyBase):
    """More graduates at an institution and better training (seed policy 8)."""

    type: Literal["training_expansion"]
    institution: str = Field(description="institution name (as in the scenario) whose output grows")
    extra_graduates: SkillTriple = Field(description="extra graduates per year by skill")
    quality_gain: float = P(0.0, 0, 1, unit="rise of the institution's quality (0–1)", source="Scenario choice")
    cost_per_graduate: float = P(0.05, 0, 10, unit="VND bn per extra graduate",
                                 source="Assumption: ~US$2k per vocational/engineering place-year")


class UniversityPartnership(Targeted):
    """Industry–university partnerships: dual training and research collaboration (seed policy 8);
    with ``provinces``, only firms there are linked."""

    type: Literal["university_partnership"]
    partnerships_per_year: int = P(20, 0, 10000, unit="new firm–institution links per year", source="Scenario choice")
    cost_per_partnership: float = P(0.5, 0, 100, unit="VND bn per link per year", source="Assumption")


class SmeCredit(Targeted):
    """Subsidised credit for SMEs' upgrading and capacity (seed policy 4)."""

    type: Literal["sme_credit"]
    cover_share: float = P(0.5, 0, 1, unit="share of an investment or upgrade the credit finances",
                           source="Scenario choice")
    subsidy_share: float = P(0.2, 0, 1, unit="grant equivalent of the credit (interest subsidy, defaults), fraction",
                             source="Assumption: soft loans ~3–5 points below market over ~5 years")
    min_tech: float = P(0.2, 0, 1, unit="lowest τ eligible", source="Scenario choice")
    repayment_months: int = P(60, 1, 360, unit="months over which an SME repays the credit less its grant equivalent",
                              source="Assumption: soft loans over ~5 years (as subsidy_share)")


class RdSubsidy(Targeted):
    """Reimburses part of SMEs' R&D (seed policy 1); with ``provinces``, only SMEs there."""

    type: Literal["rd_subsidy"]
    rate: float = P(0.3, 0, 1, unit="fraction of R&D spending reimbursed", source="Scenario choice")
    rd_response: float = P(1.0, 0, 10, unit="R&D intensity rises by rate × response", source="Assumption: R&D price elasticity ~1")


class ParkOpening(Strict):
    location: str = Field(description="location id in the geography file")
    opens: YearMonth
    area_ha: float | None = Field(None, ge=0, le=100000, description="ha; none keeps the geography's area")


class ParkExpansion(Strict):
    location: str = Field(description="location id")
    date: YearMonth
    add_ha: float = Field(ge=0, le=100000, description="ha added")


class RoadUpgrade(Strict):
    a: str = Field(description="district id at one end")
    b: str = Field(description="district id at the other end")
    date: YearMonth
    factor: float = Field(ge=0.1, le=1, description="road distance multiplier between the two districts")


class Infrastructure(PolicyBase):
    """Park openings and expansions, road upgrades (seed policy 5)."""

    type: Literal["infrastructure"]
    park_openings: list[ParkOpening] = Field(default_factory=list, description="parks opened on dates")
    park_expansions: list[ParkExpansion] = Field(default_factory=list, description="parks enlarged on dates")
    roads: list[RoadUpgrade] = Field(default_factory=list, description="roads that shorten distances")
    cost_per_ha: float = P(2.0, 0, 1000, unit="VND bn per hectare of serviced park land", source="Assumption")
    cost_per_road: float = P(3000, 0, 1e6, unit="VND bn per road upgrade", source="Assumption: ring road segment")


class InvestmentPromotion(Targeted):
    """More FDI arrivals, targeted by sector and province (seed policies 2, 6, 8)."""

    type: Literal["investment_promotion"]
    extra_arrivals_per_year: float = P(10, 0, 1000, unit="projects per year", source="Scenario choice")
    sector_shares: dict[str, Weight] = Field(default_factory=dict, description="sector mix of the extra projects (empty = baseline mix)")
    incentive: float = P(1.0, 0, 10, unit="logit bonus of targeted provinces' parks", source="Assumption")
    cost_per_project: float = P(20, 0, 1e5, unit="VND bn per attracted project", source="Assumption: incentives and promotion")

    @model_validator(mode="after")
    def _shares(self) -> InvestmentPromotion:
        if self.sector_shares:  # empty: the baseline mix
            check_weights("sector_shares", self.sector_shares)
        return self


class EnvironmentalStandard(PolicyBase):
    """Refuse polluting projects, move scattered plants into parks, no new parks in a district (seed 5, 8)."""

    type: Literal["environmental_standard"]
    spends: ClassVar[bool] = False
    refuse_polluting: bool = Field(True, description="polluting projects are refused")
    relocate_from: list[str] = Field(default_factory=list, description="district ids whose outside-park plants must move into parks")
    relocate_by: YearMonth | None = Field(None, description="deadline for relocation")
    no_new_parks_in: list[str] = Field(default_factory=list, description="district ids where planned parks never open")
    relocation_cost: float = P(1.0, 0, 1000, unit="VND bn per relocated firm (paid by the firm)", source="Assumption")

    @model_validator(mode="after")
    def _relocation(self) -> EnvironmentalStandard:
        if self.relocate_by is not None and not self.relocate_from:
            raise FieldProblem("relocate_by", "relocate_by is set but relocate_from lists no district: name the "
                               "districts whose outside-park plants must move, or drop relocate_by")
        if self.relocate_from and self.relocate_by is None:
            raise FieldProblem("relocate_from", "relocate_from needs relocate_by, the month by which the plants "
                               "must have moved (YYYY-MM)")
        if self.relocate_by is not None and self.relocate_by < self.start:
            raise FieldProblem("relocate_by", f"relocate_by {self.relocate_by} is before the block's start "
                               f"{self.start}: plants move while the block is active, over the months to the deadline")
        if self.relocate_by is not None and self.end is not None and self.relocate_by > self.end:
            raise FieldProblem("relocate_by", f"relocate_by {self.relocate_by} is after the block's end {self.end}: "
                               "plants move only while the block is active, so the move would stop part way; "
                               "end the block on or after the deadline")
        return self


class ExportDemandShock(Targeted):
    """A fall (or rise) in export demand for some sectors, e.g. the 2022 slump; with ``provinces``, only
    the lead firms there are hit."""

    type: Literal["export_demand_shock"]
    spends: ClassVar[bool] = False
    magnitude: float = P(-0.2, -0.95, 2, unit="fractional change of demand while active", source="Scenario choice")
    sectors: list[str] = Field(default_factory=list, description="sectors hit (empty = all)")


class LeadFirmExit(PolicyBase):
    """A lead firm downsizes or leaves."""

    type: Literal["lead_firm_exit"]
    spends: ClassVar[bool] = False
    firm: str = Field(description="lead firm name as in the scenario")
    downsizing: float = P(1.0, 0, 1, unit="fraction of output cut (1 = the firm leaves)", source="Scenario choice")


class ImportCostSpike(PolicyBase):
    """Supply-chain disruption or tariffs raise the cost of imported components."""

    type: Literal["import_cost_spike"]
    spends: ClassVar[bool] = False
    magnitude: float = P(0.3, 0, 5, unit="fractional rise of import cost while active", source="Scenario choice")
    categories: list[str] = Field(default_factory=list, description="categories hit (empty = all)")


Policy = Annotated[
    SupplierDevelopment | LocalContentIncentive | TrainingExpansion | UniversityPartnership | SmeCredit
    | RdSubsidy | Infrastructure | InvestmentPromotion | EnvironmentalStandard | ExportDemandShock
    | LeadFirmExit | ImportCostSpike,
    Field(discriminator="type"),
]

# levers without ``provinces`` and why (named in the error for a block that gives them)
UNTARGETED = {
    "training_expansion": "it acts on the institution it names",
    "infrastructure": "its works name their parks and districts",
    "environmental_standard": "it refuses polluting projects everywhere, and its other rules name their districts",
    "lead_firm_exit": "it acts on the lead firm it names",
    "import_cost_spike": "imported components cost the same throughout the region",
}

LEVER_TYPES = ["supplier_development", "local_content_incentive", "training_expansion",
               "university_partnership", "sme_credit", "rd_subsidy", "infrastructure",
               "investment_promotion", "environmental_standard", "export_demand_shock",
               "lead_firm_exit", "import_cost_spike"]
