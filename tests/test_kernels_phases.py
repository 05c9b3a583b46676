"""The compiled record-phase kernels (model/kernels_phases.py) and their NumPy paths agree."""

from __future__ import annotations

from types import SimpleNamespace

import mesa
import numpy as np
import pytest
from scipy import sparse

from benchmarks.worlds import scaled_world
from model import contracts, kernels, kernels_phases, labour, metrics, sampling, spillover
from model.cluster_model import ClusterModel
from model.firms import LEAD
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


def _symmetric(d: sparse.csr_matrix) -> sparse.csr_matrix:
    """The graph without direction, as canonical 0/1 CSR."""
    sym = (d + d.T).tocsr()
    sym.data[:] = 1.0
    sym.sort_indices()
    return sym


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graph_kernels_match_scipy(seed):
    rng = np.random.default_rng(seed)
    d = _random_graph(rng, 300, 700)
    indptr, indices = d.indptr.astype(np.int64), d.indices.astype(np.int64)
    sym = _symmetric(d)
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


def test_month_graph_counts_match_the_separate_kernels():
    m, _ = _run(True)
    f, book = m.firms, m.contracts
    indptr, indices, *counts = kernels_phases.month_graph(
        book.pair, book.pair_keys, book.pair_ids, len(book.hist), book._key_base, f.n, f.foreign, f.kind, LEAD,
        f.alive[: f.n])
    sellers = kernels_phases.seller_counts(book.buyer, book.supplier, f.foreign, f.kind == LEAD, f.n)
    assert counts == [kernels_phases.two_way_pairs(indptr, indices),
                      kernels_phases.largest_alive_component(indptr, indices, f.alive[: f.n]), *sellers]
    assert min(counts[1:]) > 0


@pytest.mark.parametrize("seed", [5, 6])
def test_triangles_match_the_sparse_products(seed):
    d = _random_graph(np.random.default_rng(seed), 150, 1500)
    sym = _symmetric(d)
    deg = np.asarray(sym.sum(axis=1)).ravel()
    got = metrics.triangles(sym, deg)
    with kernel_path(False):
        ref = metrics.triangles(sym, deg)
    assert np.array_equal(got, ref) and ref.sum() > 0


@pytest.mark.parametrize("seed", [3, 4])
def test_undirected_graph_matches_scipy(seed):
    d = _random_graph(np.random.default_rng(seed), 200, 900)
    sym = _symmetric(d)
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


@pytest.mark.parametrize("seed", [7, 8])
def test_group_floor_allocate_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    for case in range(200):
        n, n_g = int(rng.integers(0, 300)), int(rng.integers(1, 12))
        group = rng.integers(0, n_g, n)
        weight = [rng.integers(0, 4, n) * 1.0, rng.random(n) * (rng.random(n) < 0.5),
                  np.where(rng.random(n) < 0.3, 3.0, 0.0)][case % 3]  # whole, fractional, equal shares
        total = rng.integers(0, 40, n_g)
        got = kernels_phases.group_floor_allocate(total, group, weight)
        assert np.array_equal(got, sampling.group_floor_allocate(total, group, weight))


@pytest.mark.parametrize("weights", ["commute", "decay"])
def test_best_job_offers_match_numpy(weights):
    rng = np.random.default_rng(11)
    n, n_loc = 900, 12
    km = rng.random((n_loc, n_loc)) * 60
    weight = (km <= 30).astype(float) if weights == "commute" else np.where(km <= 40, np.exp(-km / 20), 0.0)
    m = SimpleNamespace(firms=SimpleNamespace(loc=rng.integers(0, n_loc, n)), commute_weight=weight)
    origin = np.flatnonzero(rng.random(n) < 0.6)
    targets = np.flatnonzero(rng.random(n) < 0.3)
    wage = rng.random(n) * 10
    out = []
    for compiled in (True, False):
        m.rng_labour = np.random.default_rng(5)
        with kernel_path(compiled):
            out.append((*labour._best_offers(m, origin, targets, wage), m.rng_labour.random()))
    (dest, best, after), (ref_dest, ref_best, ref_after) = out
    assert np.array_equal(dest, ref_dest) and np.array_equal(best, ref_best) and after == ref_after
    assert (dest >= 0).sum() > len(origin) // 2


def test_learning_and_demand_match_numpy():
    """learn, run_demand_phase and component_needs give the NumPy path's values on a model's month,
    also with suppliers that delivered nothing, firms at τ 0 and 1 and firms with no workers."""
    with kernel_path(True):
        m = ClusterModel(scaled_world(400, end="2023-08"), seed=5)
        for _ in range(6):
            m.step()
    f, n = m.firms, m.firms.n
    rng = np.random.default_rng(1)
    edge_tech = f.tech.copy()
    edge_tech[rng.choice(n, 20, replace=False)] = rng.choice([0.0, 1.0], 20)
    idle = np.isin(m.contracts.supplier, rng.choice(n, n // 3, replace=False))
    cases = [(f.tech.copy(), m.delivered.copy(), f.workers.copy()),
             (edge_tech, np.where(idle, 0.0, m.delivered), np.where(rng.random(f.workers.shape) < 0.1, 0, f.workers))]
    for tech, delivered, workers in cases:
        f.workers[:] = workers
        out = []
        for compiled in (True, False):
            f.tech[:] = tech
            with kernel_path(compiled):
                spillover.learn(m, delivered)
                out.append((f.tech.copy(), dict(m.learning_channels)))
        assert np.array_equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]
        assert not np.array_equal(out[0][0], tech)
    state = (f.demand_mult.copy(), f.capacity.copy(), m.demand_shock, m.rng_demand.bit_generator.state)
    out = []
    for compiled in (True, False):
        f.demand_mult[:], f.capacity[:], m.demand_shock, m.rng_demand.bit_generator.state = state
        with kernel_path(compiled):
            contracts.run_demand_phase(m)
        out.append((f.demand_mult.copy(), f.capacity.copy(), m.need.copy()))
    for got, ref in zip(*out, strict=True):
        assert np.array_equal(got, ref)
    assert (out[0][2] > 0).any()
