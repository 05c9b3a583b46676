"""Golden baseline: the same seed gives the same indicators as the stored golden file.

Guards speed-ups and refactors. If a change of results is intended, refresh the file with
``.venv/bin/python tests/golden/make_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.golden.make_golden import GOLDEN, golden_table

REL = 1e-12
HINT = ("results differ from tests/golden/baseline_2024.parquet; if the change was intended, run "
        "`.venv/bin/python tests/golden/make_golden.py` and say why in the commit")


@pytest.mark.slow
def test_indicators_match_golden():
    want = pd.read_parquet(GOLDEN)
    got = golden_table()
    assert list(got.columns) == list(want.columns), f"columns changed: {HINT}"
    assert len(got) == len(want), f"row count {len(got)} != {len(want)}: {HINT}"
    bad = []
    for col in want.columns:
        a, b = got[col].to_numpy(), want[col].to_numpy()
        if np.issubdtype(b.dtype, np.floating):
            ok = np.isclose(a.astype(float), b, rtol=REL, atol=0.0) | (np.isnan(a.astype(float)) & np.isnan(b))
        else:
            ok = a == b
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            bad.append(f"{col} (first at world={want['world'][i]} step={want['step'][i]}: "
                       f"got {a[i]!r}, golden {b[i]!r})")
    assert not bad, f"{HINT}\n" + "\n".join(bad)
