"""The compiled tender kernel and the NumPy path give bit-identical runs."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from benchmarks.worlds import scaled_world
from model import kernels
from model.cluster_model import ClusterModel


def _indicators(compiled: bool):
    before = kernels.use_compiled()
    kernels.use_compiled(compiled)
    try:
        m = ClusterModel(scaled_world(400, end="2023-06"), seed=7)
        while m.running:
            m.step()
        book = m.contracts
        out = (m.results()["indicators"], book.value.copy(), book.supplier.copy(), book.hist.copy())
        mesa.Agent._ids.pop(m, None)
        return out
    finally:
        kernels.use_compiled(before)


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
def test_compiled_tenders_match_numpy():
    a, b = _indicators(True), _indicators(False)
    assert a[0].equals(b[0])
    for x, y in zip(a[1:], b[1:], strict=True):
        assert np.array_equal(x, y)
