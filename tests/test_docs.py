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


def test_the_annotated_sweep_file_of_sweeps_md_loads_and_passes_preflight(tmp_path):
    """Copied from docs/SWEEPS.md into scenarios/sweeps/, as its comments say, the example named a
    scenario file that does not exist, a path the scenario does not have and a month no run reaches."""
    import re
    from pathlib import Path

    from experiments import designs, sweep
    from experiments.sweep_spec import load_sweep

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "SWEEPS.md").read_text(encoding="utf-8")
    block = re.search(r"### Sweep files\n\n```yaml\n(.*?)```", text, re.S).group(1)
    sweeps = tmp_path / "scenarios" / "sweeps"
    sweeps.mkdir(parents=True)
    for f in (root / "scenarios").glob("*.yaml"):  # the example's ../ paths, as in the repository
        (tmp_path / "scenarios" / f.name).symlink_to(f)
    (tmp_path / "scenarios" / "geography").symlink_to(root / "scenarios" / "geography")
    (sweeps / "example.yaml").write_text(block, encoding="utf-8")
    spec = load_sweep(sweeps / "example.yaml")
    assert [v.name for v in spec.policies] == ["status_quo", "supplier_development", "southern_plan"]
    tasks = designs.tasks_table(spec, designs.points_table(spec))
    assert len(tasks) == 3 * 64 * 2  # variants × samples × replications
    assert sweep.preflight(spec, tasks) == []  # no warnings; errors would raise
