"""Every reported indicator, as named functions in one registry (ODD §7.7).

``INDICATORS`` maps a column name to (function, unit, meaning). Each function takes the model
after a month's phases and returns a number. ``province_rows`` gives the per-province table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from model import kernels, kernels_phases
from model.firms import LEAD, SME

NAN = float("nan")  # an indicator over an empty set (no SMEs, no lead output): undefined, not 0

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel

Indicator = tuple[Callable[["ClusterModel"], float], str, str]


def _ratio(a: float, b: float) -> float:
    """``a / b``; NaN where ``b`` is 0: a share of nothing is not 0 but undefined (written as empty)."""
    return float(a / b) if b > 0 else NAN


def localisation_rate(m: ClusterModel) -> float:
    return _ratio(m.stats["lead_from_domestic"], m.stats["lead_output"])


def localisation_rate_input(m: ClusterModel) -> float:
    return _ratio(m.stats["lead_from_domestic"], m.stats["lead_inputs"])


def local_sourcing_fdi_suppliers(m: ClusterModel) -> float:
    return _ratio(m.stats["lead_from_fdi_suppliers"], m.stats["lead_output"])


def imports_share(m: ClusterModel) -> float:
    return _ratio(m.stats["lead_imports"], m.stats["lead_inputs"])


def _shared(m: ClusterModel, key: str, compute: Callable[[], object]) -> object:
    """A value several indicators use, computed once per ``indicator_row`` (fresh when called alone)."""
    cache = getattr(m, "_indicator_cache", None)
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _seller_counts(m: ClusterModel) -> tuple[int, int, int]:
    """Domestic firms selling to lead firms, domestic firms selling to suppliers, lead firms buying domestic."""
    f, book = m.firms, m.contracts
    if kernels.use_compiled():
        return _graph_counts(m)[2:]
    dom = ~f.foreign[book.supplier]
    to_lead = f.kind[book.buyer] == LEAD
    counts = []
    for sel, side in ((dom & to_lead, book.supplier), (dom & ~to_lead, book.supplier), (dom & to_lead, book.buyer)):
        mark = np.zeros(f.n, bool)
        mark[side[sel]] = True
        counts.append(int(np.count_nonzero(mark)))
    return counts[0], counts[1], counts[2]


def domestic_tier1_suppliers(m: ClusterModel) -> float:
    return _shared(m, "sellers", lambda: _seller_counts(m))[0]


def domestic_tier2_suppliers(m: ClusterModel) -> float:
    return _shared(m, "sellers", lambda: _seller_counts(m))[1]


def fdi_firms_with_domestic_supplier_share(m: ClusterModel) -> float:
    return _ratio(_shared(m, "sellers", lambda: _seller_counts(m))[2], np.count_nonzero(_living(m).kind == LEAD))


def _alive(m: ClusterModel) -> np.ndarray:
    return m.firms.alive[: m.firms.n]


class _Living:
    """The alive firms' rows and the columns the indicators select from, in row order.

    A selection among them (``output[foreign]``) holds the same values in the same order as the
    whole-table selection it replaces (``f.output[: f.n][alive & f.foreign[: f.n]]``), so every
    sum over it is the same.
    """

    def __init__(self, m: ClusterModel):
        f = m.firms
        self.rows = np.flatnonzero(_alive(m))
        self.foreign = f.foreign[self.rows]
        self.domestic = ~self.foreign
        self.kind = f.kind[self.rows]
        self.emp = _employees(m)[self.rows]
        self.output = _made(m, self.rows)


def _made(m: ClusterModel, rows: np.ndarray) -> np.ndarray:
    """What firms ``rows`` produced this month: their ``output``, except for firms founded after the
    month's production (entrants, spin-offs and FDI arrivals of phase 6), whose ``output`` is still
    the plan they start with and who have sold nothing yet: 0 for them."""
    f = m.firms
    return f.output[rows] * (rows < getattr(m, "produced_n", f.n))


def _living(m: ClusterModel) -> _Living:
    return _shared(m, "living", lambda: _Living(m))


def n_fdi_firms(m: ClusterModel) -> float:
    return np.count_nonzero(_living(m).foreign)


def n_domestic_firms(m: ClusterModel) -> float:
    return np.count_nonzero(_living(m).domestic)


def _employees(m: ClusterModel) -> np.ndarray:
    return _shared(m, "employees", lambda: m.firms.employees)


def _employment(m: ClusterModel, foreign: bool | None) -> int:
    a = _living(m)
    return int((a.emp if foreign is None else a.emp[a.foreign if foreign else a.domestic]).sum())


def _mean_wage(m: ClusterModel, foreign: bool) -> float:
    from model.labour import firm_wages

    f, a = m.firms, _living(m)
    sel = a.foreign if foreign else a.domestic
    # the selected firms' (firm, skill) wage bills in row-major order (take: the same array as
    # indexing, three times faster), and their workers, summed per firm first (integers: exact)
    w = np.take(_shared(m, "wage_bill", lambda: firm_wages(m) * f.workers[: f.n]), a.rows[sel], axis=0).sum()
    return _ratio(w, a.emp[sel].sum())


def mean_tech_domestic(m: ClusterModel) -> float:
    return _shared(m, "mean_tech_domestic", lambda: _mean_tech_domestic(m))


def _mean_tech_domestic(m: ClusterModel) -> float:
    a = _living(m)
    sme = a.rows[a.kind == SME]
    return _mean(m.firms.tech[sme]) if len(sme) else NAN


def _mean(x: np.ndarray) -> float:
    """``float(x.mean())`` of a non-empty float array without np.mean's checks: the same sum over the same count."""
    return float(x.sum() / len(x))


def tech_gap(m: ClusterModel) -> float:
    a = _living(m)
    emp = a.emp[a.foreign]
    fdi = float(np.average(m.firms.tech[a.rows[a.foreign]], weights=emp)) if emp.sum() > 0 else NAN
    return fdi - mean_tech_domestic(m)


def _edges(m: ClusterModel) -> tuple[np.ndarray, np.ndarray, int]:
    """Directed buyer→supplier contract graph as canonical CSR (indptr, indices) and alive firms.

    Built once a month (cached by step) from the book's sorted pair table, so rows need no sort;
    the compiled path also counts what ``_graph_counts`` gives in the same pass.
    """
    cached = getattr(m, "_edges_cache", None)
    if cached is not None and cached[0] == m.steps:
        return cached[1], cached[2], cached[3]
    f, book = m.firms, m.contracts
    n = f.n
    counts = None
    if book.n and (book.pair >= 0).all():
        if kernels.use_compiled():
            indptr, indices, *found = kernels_phases.month_graph(
                book.pair, book.pair_keys, book.pair_ids, len(book.hist), book._key_base, n, f.foreign, f.kind,
                LEAD, f.alive[:n])
            counts = tuple(int(c) for c in found)
        else:  # active buyer→supplier pairs, already sorted in the book's pair table
            active = np.bincount(book.pair, minlength=len(book.hist)) > 0
            keys = book.pair_keys[active[book.pair_ids]]
            indices = keys % book._key_base
            indptr = np.concatenate(([0], np.cumsum(np.bincount(keys // book._key_base, minlength=n))))
    else:
        d = sparse.coo_matrix((np.ones(book.n), (book.buyer, book.supplier)), shape=(n, n)).tocsr()
        indptr, indices = d.indptr.astype(np.int64), d.indices.astype(np.int64)
    m._edges_cache = (m.steps, indptr, indices, int(_alive(m).sum()), counts)
    m._graph_cache = m._undirected_cache = None
    return indptr, indices, m._edges_cache[3]


def _graph_counts(m: ClusterModel) -> tuple[int, int, int, int, int]:
    """Compiled path: the month graph's two-way entries, largest alive component and ``_seller_counts``."""
    indptr, indices, _ = _edges(m)
    counts = m._edges_cache[4]
    if counts is None:  # the graph was not built from the pair table in one pass
        f, book = m.firms, m.contracts
        sellers = kernels_phases.seller_counts(book.buyer, book.supplier, f.foreign, f.kind == LEAD, f.n)
        counts = (int(kernels_phases.two_way_pairs(indptr, indices)),
                  int(kernels_phases.largest_alive_component(indptr, indices, _alive(m))),
                  *(int(c) for c in sellers))
        m._edges_cache = (*m._edges_cache[:4], counts)
    return counts


def _graph(m: ClusterModel) -> tuple[sparse.csr_matrix, int]:
    """The contract graph of ``_edges`` as a 0/1 scipy CSR matrix (for the NumPy paths and clustering)."""
    indptr, indices, n_alive = _edges(m)
    if getattr(m, "_graph_cache", None) is None:
        n = len(indptr) - 1
        m._graph_cache = sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))
    return m._graph_cache, n_alive


def _undirected(m: ClusterModel) -> sparse.csr_matrix:
    """The contract graph without direction (symmetric 0/1 CSR), built from ``_graph`` when needed."""
    d, _ = _graph(m)
    if getattr(m, "_undirected_cache", None) is None:
        a = (d + d.T.tocsr()).tocsr()
        a.data[:] = 1.0
        m._undirected_cache = a
    return m._undirected_cache


def network_density(m: ClusterModel) -> float:
    indptr, indices, n_alive = _edges(m)
    if kernels.use_compiled():  # firm pairs linked either way: directed pairs less half the two-way ones
        edges = len(indices) - _graph_counts(m)[0] // 2
    else:
        edges = _undirected(m).nnz // 2
    return _ratio(edges, n_alive * (n_alive - 1) / 2)


def largest_component_share(m: ClusterModel) -> float:
    indptr, indices, n_alive = _edges(m)
    if len(indices) == 0:  # no contract: every firm is a component of its own
        return _ratio(1.0 if n_alive else 0.0, n_alive)
    if kernels.use_compiled():
        return _ratio(_graph_counts(m)[1], n_alive)
    d, _ = _graph(m)
    _, labels = connected_components(d, directed=False)  # components ignore direction
    labels = labels[_alive(m)]
    return _ratio(np.bincount(labels).max(), n_alive)


def clustering(m: ClusterModel) -> float:
    """Mean local clustering coefficient of firms with two or more partners.

    Counting triangles costs Σ degree² and the lead firms are hubs, so the value is refreshed on
    snapshot months (and the first and last) and carried forward in between.
    """
    due = m.steps == 1 or not m.running or m.steps % m.sc.recording.snapshot_every == 0
    if not due and "clustering" in m.stats:
        return m.stats["clustering"]
    m.stats["clustering"] = _clustering(m)
    return m.stats["clustering"]


def _clustering(m: ClusterModel) -> float:
    if kernels.use_compiled():  # the symmetric graph straight from the month's CSR, no scipy sum
        indptr, indices = kernels_phases.undirected_csr(*_edges(m)[:2])
        deg = np.diff(indptr).astype(float)
        tri = kernels.triangles_oriented(indptr, indices, _rank(deg))
    else:
        a = _undirected(m)
        deg = np.asarray(a.sum(axis=1)).ravel()
        tri = triangles(a, deg)
    ok = deg >= 2
    return float((2 * tri[ok] / (deg[ok] * (deg[ok] - 1))).mean()) if ok.any() else NAN  # no firm with two partners


def triangles(a: sparse.csr_matrix, deg: np.ndarray) -> np.ndarray:
    """Triangles through each node of an undirected 0/1 graph, exactly.

    Edges are oriented from lower to higher (degree, index) rank, so hubs have few out-edges and
    the cost is about Σ out-degree² instead of Σ degree². Triangle a→b→c (a→c) is found once at
    (a, c) of (L·L)∘L (credited to a and c) and once at (b, c) of (Lᵀ·L)∘L (credited to b).
    """
    n = a.shape[0]
    rank = _rank(deg)
    if kernels.use_compiled():
        return kernels.triangles_oriented(a.indptr.astype(np.int64), a.indices.astype(np.int64), rank)
    coo = a.tocoo()
    up = rank[coo.row] < rank[coo.col]
    lo = sparse.csr_matrix((np.ones(int(up.sum())), (coo.row[up], coo.col[up])), shape=(n, n))
    ends = (lo @ lo).multiply(lo)
    middle = (lo.T @ lo).multiply(lo)
    return (np.asarray(ends.sum(axis=1)).ravel() + np.asarray(ends.sum(axis=0)).ravel()
            + np.asarray(middle.sum(axis=1)).ravel())


def _rank(deg: np.ndarray) -> np.ndarray:
    """Each node's place in (degree, index) order: the orientation of ``triangles``."""
    n = len(deg)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), deg))] = np.arange(n)
    return rank


def _output_total(m: ClusterModel) -> np.floating:
    return _shared(m, "output_total", lambda: _living(m).output.sum())


def industrial_output(m: ClusterModel) -> float:
    return float(_output_total(m))


def value_added_domestic(m: ClusterModel) -> float:
    f, s, a = m.firms, m.sc.sourcing, _living(m)
    rows = a.rows[a.domestic]
    return float((f.revenue[rows] - (s.material_share + s.supplier_input_share) * a.output[a.domestic]).sum())


def domestic_output_share(m: ClusterModel) -> float:
    a = _living(m)
    return _ratio(a.output[a.domestic].sum(), _output_total(m))


def ellison_glaeser_electronics(m: ClusterModel) -> float:
    """Ellison–Glaeser concentration of electronics-assembly employment across locations."""
    f = m.firms
    sector = m.sector_ids.index("electronics_assembly") if "electronics_assembly" in m.sector_ids else -1  # none: NaN
    alive = _alive(m)
    return ellison_glaeser(f.loc[: f.n], _employees(m), (f.sector[: f.n] == sector) & alive, alive, len(m.geo.ids))


def ellison_glaeser(area: np.ndarray, emp: np.ndarray, in_sector: np.ndarray, alive: np.ndarray, n_area: int) -> float:
    """EG index γ = (G − (1 − Σx²)H) / ((1 − Σx²)(1 − H)) (Ellison & Glaeser 1997)."""
    total = np.bincount(area[alive], weights=emp[alive], minlength=n_area)
    sec = np.bincount(area[in_sector], weights=emp[in_sector], minlength=n_area)
    total_sum, sec_sum = total.sum(), sec.sum()
    if total_sum <= 0 or sec_sum <= 0:
        return NAN  # no employment in the sector (or at all): the concentration of nothing is undefined
    x, s = total / total_sum, sec / sec_sum
    z = emp[in_sector] / sec_sum
    h = float((z**2).sum())
    g = float(((s - x) ** 2).sum())
    x2 = (x**2).sum()
    denom = (1 - x2) * (1 - h)
    return float((g - (1 - x2) * h) / denom) if denom > 0 else NAN


INDICATORS: dict[str, Indicator] = {
    "localisation_rate": (localisation_rate, "share", "lead firms' inputs bought from domestic firms ÷ lead firms' output value"),
    "localisation_rate_input": (localisation_rate_input, "share", "lead firms' inputs bought from domestic firms ÷ their input purchases"),
    "local_sourcing_fdi_suppliers": (local_sourcing_fdi_suppliers, "share", "lead firms' inputs from foreign suppliers in the region ÷ lead output"),
    "imports_share": (imports_share, "share", "lead firms' imported inputs ÷ their input purchases"),
    "domestic_tier1_suppliers": (domestic_tier1_suppliers, "firms", "domestic firms with a contract with an FDI lead firm"),
    "domestic_tier2_suppliers": (domestic_tier2_suppliers, "firms", "domestic firms with a contract with a supplier"),
    "fdi_firms_with_domestic_supplier_share": (fdi_firms_with_domestic_supplier_share, "share", "FDI lead firms with at least one domestic supplier"),
    "n_fdi_firms": (n_fdi_firms, "firms", "FDI lead firms and foreign suppliers in operation"),
    "n_domestic_firms": (n_domestic_firms, "firms", "domestic firms in operation"),
    "employment_total": (lambda m: _employment(m, None), "persons", "workers employed by all firms"),
    "employment_fdi": (lambda m: _employment(m, True), "persons", "workers in FDI firms"),
    "employment_domestic": (lambda m: _employment(m, False), "persons", "workers in domestic firms"),
    "mean_wage_fdi": (lambda m: _mean_wage(m, True), "VND m/month", "mean monthly wage in FDI firms"),
    "mean_wage_domestic": (lambda m: _mean_wage(m, False), "VND m/month", "mean monthly wage in domestic firms"),
    "mean_tech_domestic": (mean_tech_domestic, "τ (0–1)", "mean technology level of domestic SMEs"),
    "tech_gap": (tech_gap, "τ (0–1)", "employment-weighted mean τ of FDI firms minus mean τ of SMEs"),
    "contracts_active": (lambda m: m.contracts.n, "contracts", "active supply contracts"),
    "network_density": (network_density, "share", "contract edges ÷ possible firm pairs"),
    "largest_component_share": (largest_component_share, "share", "firms in the largest connected group of the contract network ÷ firms"),
    "clustering": (clustering, "coefficient", "mean local clustering of the contract network"),
    "industrial_output": (industrial_output, "VND bn/month", "gross output of all firms"),
    "value_added_domestic": (value_added_domestic, "VND bn/month", "domestic firms' revenue less materials and components"),
    "domestic_output_share": (domestic_output_share, "share", "domestic firms' output ÷ all firms' output"),
    "ellison_glaeser_electronics": (ellison_glaeser_electronics, "index", "Ellison–Glaeser concentration of electronics employment across locations"),
    "unemployed_pool": (lambda m: int(m.labour.pools.sum()), "persons", "job seekers in district pools"),
}

EVENT_COUNTS = {
    "firm_entries": ("firms", "new domestic firms this month (entrants and spin-offs)"),
    "firm_exits": ("firms", "firms that closed this month"),
    "spinoffs": ("firms", "SMEs founded by engineers leaving FDI firms this month"),
    "fdi_arrivals": ("firms", "FDI projects that opened this month"),
    "flows_fdi_to_domestic": ("persons", "workers moving from FDI to domestic firms this month"),
    "flows_domestic_to_fdi": ("persons", "workers moving from domestic to FDI firms this month"),
    "policy_spend": ("VND bn", "policy spending this month"),
    "policy_spend_cumulative": ("VND bn", "policy spending since the start"),
}
INDICATOR_COLUMNS = (*INDICATORS, *EVENT_COUNTS)
"""The columns of the indicators table besides step and date, in order."""
RUNNING_TOTALS = ("policy_spend_cumulative",)
"""Indicators that add up from the start: a period's value is the total at its end, not a mean."""


def indicator_row(m: ClusterModel) -> dict[str, float]:
    """All indicators for the month just simulated."""
    m._indicator_cache = {}
    try:
        row = {name: float(fn(m)) for name, (fn, _, _) in INDICATORS.items()}
    finally:
        m._indicator_cache = None
    row.update({k: float(m.stats[k]) for k in EVENT_COUNTS})
    return row


def province_rows(m: ClusterModel) -> list[dict]:
    """Per-province indicators for the month just simulated."""
    f, geo = m.firms, m.geo
    # the alive firms grouped by province, in row order within each: a province's slice of a column
    # holds the values that selecting its alive firms from the whole column gives, in that order
    alive = np.flatnonzero(_alive(m))
    prov = geo.province[f.loc[alive]]
    rows = alive[np.argsort(prov, kind="stable")]
    bounds = np.zeros(len(geo.provinces) + 1, dtype=np.int64)
    np.cumsum(np.bincount(prov, minlength=len(geo.provinces)), out=bounds[1:])
    loc = f.loc[rows]
    emp, output, tech, foreign = f.employees[rows], _made(m, rows), f.tech[rows], f.foreign[rows]
    park = ((geo.kind == 0) | (geo.kind == 2))[loc]  # industrial (KCN) and high-tech parks
    elec = m.sector_ids.index("electronics_assembly") if "electronics_assembly" in m.sector_ids else -1  # none: NaN
    is_elec = f.sector[rows] == elec
    # the integer columns' sums per province, as differences of running totals: integer sums are
    # the same in any order (wrapping included), so these equal the sums over each selection
    running = np.zeros((6, len(rows) + 1), dtype=np.int64)
    running[0, 1:], running[1, 1:], running[2, 1:] = foreign, park, emp
    np.multiply(emp, park, out=running[3, 1:])
    np.multiply(emp, foreign, out=running[4, 1:])
    np.multiply(emp, is_elec, out=running[5, 1:])
    np.cumsum(running, axis=1, out=running)
    n_fdi, n_park, e_tot, e_park, e_fdi, e_elec = running[:, bounds[1:]] - running[:, bounds[:-1]]
    n_dom, e_dom = np.diff(bounds) - n_fdi, e_tot - e_fdi
    tot_emp, tot_elec = running[2, -1], running[5, -1]
    lead_out = m.stats["lead_output_by_province"]
    lead_dom = m.stats["lead_from_domestic_by_province"]
    out = []
    for p, name in enumerate(geo.provinces):
        sel = slice(bounds[p], bounds[p + 1])
        out_p, dom = output[sel], ~foreign[sel]
        made = out_p.sum()
        out.append({
            "province": name,
            "n_fdi_firms": int(n_fdi[p]),
            "n_domestic_firms": int(n_dom[p]),
            "n_park_firms": int(n_park[p]),
            "employment_total": int(e_tot[p]),
            "employment_park": int(e_park[p]),
            "employment_fdi": int(e_fdi[p]),
            "employment_domestic": int(e_dom[p]),
            "industrial_output": float(made),
            "domestic_output_share": _ratio(out_p[dom].sum(), made),
            "localisation_rate": _ratio(lead_dom[p], lead_out[p]),
            "mean_tech_domestic": _mean(tech[sel][dom]) if n_dom[p] else NAN,
            "location_quotient_electronics": _ratio(_ratio(e_elec[p], e_tot[p]), _ratio(tot_elec, tot_emp)),
        })
    return out
