"""Regenerate the generated parts of docs/ODD.md: the parameter glossary and the 2023 table.

    python -m experiments.odd_tables [--seeds 10] [--skip-calibration]

The glossary is read from the pydantic schema (every default with its unit and source), so the
document cannot drift from the code; a test checks that every parameter appears in docs/ODD.md.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pydantic import BaseModel

from model import params, policy_schema
from model.scenario import FirmGroup, Geography, InstitutionSpec, LeadFirmSpec, Recording

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"

BLOCKS: list[tuple[str, type[BaseModel]]] = [
    ("economy", params.Economy), ("sourcing", params.Sourcing), ("learning", params.Learning),
    ("labour", params.LabourParams), ("finance", params.Finance), ("demography", params.Demography),
    ("geography", Geography), ("lead_firms[]", LeadFirmSpec), ("firm_groups[]", FirmGroup),
    ("institutions[]", InstitutionSpec), ("recording", Recording),
]
LEVERS: list[type[BaseModel]] = [
    policy_schema.SupplierDevelopment, policy_schema.LocalContentIncentive, policy_schema.TrainingExpansion,
    policy_schema.UniversityPartnership, policy_schema.SmeCredit, policy_schema.RdSubsidy,
    policy_schema.Infrastructure, policy_schema.InvestmentPromotion, policy_schema.EnvironmentalStandard,
    policy_schema.ExportDemandShock, policy_schema.LeadFirmExit, policy_schema.ImportCostSpike,
]


def _bounds(field) -> str:
    lo = hi = None
    for meta in field.metadata:
        lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
    return "" if lo is None and hi is None else f"{lo} .. {hi}"


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump()
    text = str(value)
    return text if len(text) < 70 else text[:67] + "..."


def _summary(model: type[BaseModel]) -> str:
    first = (model.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines())


def parameter_table() -> str:
    """Markdown tables of every scenario parameter: key, default, range, unit and source."""
    out = []
    for prefix, model in BLOCKS:
        out.append(f"\n**`{prefix}`** — {_summary(model)}\n")
        out.append("| key | default | range | unit and source |\n|---|---|---|---|")
        for name, field in model.model_fields.items():
            desc = (field.description or "").replace("|", "/")
            out.append(f"| `{prefix}.{name}` | {_default(field)} | {_bounds(field)} | {desc} |")
    out.append("\n**Policy levers** (`policies[]`, each with `type`, `label`, `start`, `end`, `budget`; those acting on "
               "firms or parks of a province also `provinces`, marked below)\n")
    for model in LEVERS:
        lever = model.model_fields["type"].annotation.__args__[0]
        targeted = " Takes `provinces` (empty = all)." if "provinces" in model.model_fields else ""
        out.append(f"\n`{lever}` — {_summary(model)}{targeted}\n")
        out.append("| key | default | range | unit and source |\n|---|---|---|---|")
        for name, field in model.model_fields.items():
            if name in ("type", "label", "start", "end", "budget", "provinces"):
                continue
            desc = (field.description or "").replace("|", "/")
            out.append(f"| `{name}` | {_default(field)} | {_bounds(field)} | {desc} |")
    return "\n".join(out)


def replace_section(text: str, name: str, body: str) -> str:
    """Replace what stands between ``<!-- BEGIN:name -->`` and ``<!-- END:name -->``."""
    pattern = re.compile(rf"(<!-- BEGIN:{name} -->\n).*?(<!-- END:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"docs/ODD.md has no <!-- BEGIN:{name} --> ... <!-- END:{name} --> markers")
    return pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--skip-calibration", action="store_true", help="only regenerate the parameter glossary")
    args = parser.parse_args()
    text = replace_section(ODD.read_text(encoding="utf-8"), "parameters", parameter_table())
    if not args.skip_calibration:
        from experiments.targets import markdown_table, run_seeds

        values = run_seeds(list(range(1, args.seeds + 1)))
        table = (f"Baseline, first year (2023), seeds 1–{args.seeds}: rates are 2023 means, stocks December 2023 "
                 f"values; median and 5–95% band over seeds.\n\n" + markdown_table(values))
        text = replace_section(text, "calibration2023", table)
    ODD.write_text(text, encoding="utf-8")
    print(f"wrote {ODD}")


if __name__ == "__main__":
    main()
