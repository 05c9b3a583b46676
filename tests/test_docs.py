"""The model description stays in step with the code, and the baseline with its 2023 targets."""

from __future__ import annotations

import numpy as np

from experiments.odd_tables import BLOCKS, LEVERS, ODD, parameter_table
from experiments.targets import TARGETS, run_seeds

ODD_TEXT = ODD.read_text(encoding="utf-8")


def test_every_parameter_is_in_the_odd_glossary():
    for prefix, model in BLOCKS:
        for name in model.model_fields:
            assert f"`{prefix}.{name}`" in ODD_TEXT, f"{prefix}.{name} missing from docs/ODD.md (run python -m experiments.odd_tables)"
    for model in LEVERS:
        for name in model.model_fields:
            if name not in ("type", "label", "start", "end", "budget", "provinces"):
                assert f"`{name}`" in ODD_TEXT


def test_glossary_is_current():
    assert parameter_table().strip() in ODD_TEXT, "docs/ODD.md glossary is stale: run python -m experiments.odd_tables"


def test_baseline_first_year_inside_its_targets():
    values = run_seeds([1, 2, 3])
    for t in TARGETS:
        med = float(np.median(values[t.key]))
        assert t.inside(med), f"{t.label}: model median {med:.4g} outside {t.low:.4g}..{t.high:.4g}"
