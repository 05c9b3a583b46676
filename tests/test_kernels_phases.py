"""The compiled record-phase kernels (model/kernels_phases.py) and their NumPy paths agree."""

from __future__ import annotations

import mesa
import numpy as np
import pytest
from scipy import sparse

from benchmarks.worlds import scaled_world
from model import kernels, kernels_phases, metrics
from model.cluster_model import ClusterModel
from tests.conftest import kernel_path

pytestmark = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")


def _run(compiled: bool):
    with kernel_path(compiled):
        m = ClusterModel(scaled_world(400, end="2023-08"), seed=3)
        while m.running:
            m.step()
        tables = m.results()
        mesa.Agent._ids.pop(m, None)
        return m, tables


def test_compiled_phases_give_the_same_tables():
    (a, ta), (b, tb) = _run(True), _run(False)
    for name in ta:
        assert ta[name].equals(tb[name]), name
    for col in ("tech", "cash", "workers", "capacity"):
        assert np.array_equal(getattr(a.firms, col), getattr(b.firms, col)), col
    assert np.array_equal(a.labour.pools, b.labour.pools)


def _random_graph(rng: np.random.Generator, n: int, k: int) -> sparse.csr_matrix:
    b, s = rng.integers(0, n, k), rng.integers(0, n, k)
    keep = b != s  # no firm buys from itself
    d = sparse.coo_matrix((np.ones(keep.sum()), (b[keep], s[keep])), shape=(n, n)).tocsr()
    d.data[:] = 1.0
    d.sort_indices()
    return d


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graph_kernels_match_scipy(seed):
    rng = np.random.default_rng(seed)
    d = _random_graph(rng, 300, 700)
    indptr, indices = d.indptr.astype(np.int64), d.indices.astype(np.int64)
    sym = (d + d.T).tocsr()
    sym.data[:] = 1.0
    two_way = 2 * (d.nnz - sym.nnz // 2)  # entries whose mirror is there
    assert kernels_phases.two_way_pairs(indptr, indices) == two_way > 0
    alive = rng.random(300) < 0.8
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(d, directed=False)
    assert kernels_phases.largest_alive_component(indptr, indices, alive) == np.bincount(labels[alive]).max()


def test_graph_from_the_book_matches_numpy():
    m, _ = _run(True)
    book = m.contracts
    with kernel_path(False):
        m._edges_cache = None
        ref = metrics._edges(m)
    m._edges_cache = None
    got = metrics._edges(m)
    assert np.array_equal(ref[0], got[0]) and np.array_equal(ref[1], got[1]) and ref[2] == got[2]
    assert len(got[1]) > 0 and book.n > 0


@pytest.mark.parametrize("seed", [3, 4])
def test_undirected_graph_matches_scipy(seed):
    d = _random_graph(np.random.default_rng(seed), 200, 900)
    sym = (d + d.T).tocsr()
    sym.data[:] = 1.0
    sym.sort_indices()
    indptr, indices = kernels_phases.undirected_csr(d.indptr.astype(np.int64), d.indices.astype(np.int64))
    assert np.array_equal(indptr, sym.indptr) and np.array_equal(indices, sym.indices)


def test_indicators_match_numpy_on_a_model():
    m, _ = _run(True)
    got = metrics.indicator_row(m)
    with kernel_path(False):
        m._edges_cache = None
        ref = metrics.indicator_row(m)
        ref_clustering = metrics._clustering(m)
    assert got == ref
    assert metrics._clustering(m) == ref_clustering > 0
