"""A recorded run, indexed once by month so that one playback frame is a few array lookups.

``run_index(path)`` reads a run folder through ``experiments.store`` and keeps (per process, for
the few most recent runs) the indicators by step, the firm snapshots split by step with map
positions, every contract as value intervals (so the network at any month is one mask), the
network layout (computed once over all firms that ever had a contract, so it is stable from month
to month) and labour flows summed by month and ownership.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.data import indicators, read_run

OWNER_CATS = ("fdi", "domestic", "pool", "outside")
NODE_KINDS = ("fdi_lead", "fdi_supplier", "domestic_sme")
EVENTS_CONTINUING = ("signed", "renewed", "extended")


@dataclass
class Snapshot:
    """Firms at one recorded month, with their map positions."""

    step: int
    table: pd.DataFrame  # the snapshot rows (firms and institutions)
    x: np.ndarray  # lon with a stable per-firm offset inside its location
    y: np.ndarray  # lat, likewise


@dataclass
class Network:
    """The contract network of a run: nodes with a fixed layout, contracts as value intervals."""

    node_ids: np.ndarray  # firm_id per node
    kind: np.ndarray  # index into NODE_KINDS
    name: np.ndarray
    x: np.ndarray
    y: np.ndarray
    start: np.ndarray  # interval i is active for start <= step < stop
    stop: np.ndarray
    value: np.ndarray
    buyer: np.ndarray  # node index
    supplier: np.ndarray
    first_fdi_link: np.ndarray  # per node: step a domestic firm first signed with an FDI buyer (0 = never/before)


@dataclass
class RunIndex:
    """Everything a playback frame needs, indexed by step."""

    path: Path
    manifest: dict
    indicators: pd.DataFrame  # indexed by step
    dates: list[str]  # dates[i] is the date of step i + 1
    snapshots: list[Snapshot]
    network: Network
    flows_all: np.ndarray  # (n_steps + 1, 4, 4) workers by from/to ownership
    flows_firms: np.ndarray  # the same, firm-to-firm moves and spin-offs only
    locations: pd.DataFrame
    province: pd.DataFrame
    policy: pd.DataFrame
    figures: dict = field(default_factory=dict, repr=False)  # static chart backgrounds (dashboard.charts)
    frames: OrderedDict = field(default_factory=OrderedDict, repr=False)  # rendered frames (dashboard.playback)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _frames_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def n_steps(self) -> int:
        return len(self.dates)

    def date(self, step: int) -> str:
        return self.dates[min(max(step, 1), self.n_steps) - 1]

    def snapshot_at(self, step: int) -> Snapshot:
        """The latest firm snapshot recorded at or before ``step``."""
        steps = [s.step for s in self.snapshots]
        i = int(np.searchsorted(steps, step, side="right")) - 1
        return self.snapshots[max(i, 0)]

    def active_contracts(self, step: int) -> np.ndarray:
        """Positions of the contract intervals active at ``step``."""
        n = self.network
        return np.flatnonzero((n.start <= step) & (step < n.stop))


def _offsets(firm_id: np.ndarray, count_at_location: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stable offset (degrees) per firm inside its location: a point of a disc drawn from its id."""
    fid = firm_id.astype(np.float64)
    angle = 2 * np.pi * ((fid * 0.7548776662) % 1.0)
    radius = np.sqrt((fid * 0.5698402910 + 0.31) % 1.0) * np.clip(0.005 * np.sqrt(count_at_location), 0.005, 0.06)
    return radius * np.cos(angle), radius * np.sin(angle)


def _snapshots(firms: pd.DataFrame) -> list[Snapshot]:
    if firms.empty:  # a world without firms or institutions: one empty snapshot serves every month
        return [Snapshot(0, firms.reset_index(drop=True), np.zeros(0), np.zeros(0))]
    out = []
    for step, tab in firms.groupby("step", sort=True):
        tab = tab.reset_index(drop=True)
        count = tab.groupby("location")["firm_id"].transform("size").to_numpy()
        dx, dy = _offsets(tab["firm_id"].to_numpy(), count)
        out.append(Snapshot(int(step), tab, tab["lon"].to_numpy() + dx, tab["lat"].to_numpy() + dy * 0.9))
    return out


def _node_table(contracts: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    """One row per firm that ever had a contract: kind, name, province."""
    ids = pd.unique(np.concatenate([contracts["buyer_id"].to_numpy(), contracts["supplier_id"].to_numpy()]))
    known = firms.drop_duplicates("firm_id", keep="last").set_index("firm_id")
    nodes = pd.DataFrame({"firm_id": ids})
    nodes["kind"] = known["kind"].reindex(ids).to_numpy()
    nodes["name"] = known["name"].reindex(ids).fillna("").to_numpy()
    nodes["province"] = known["province"].reindex(ids).fillna("").to_numpy()
    owner = pd.concat([contracts[["buyer_id", "buyer_owner"]].set_axis(["id", "owner"], axis=1),
                       contracts[["supplier_id", "supplier_owner"]].set_axis(["id", "owner"], axis=1)])
    owner = owner.drop_duplicates("id").set_index("id")["owner"]
    # a firm born and gone between two snapshots: its kind from the contracts' ownership
    missing = nodes["kind"].isna() | ~nodes["kind"].isin(NODE_KINDS)
    guess = np.where(owner.reindex(nodes["firm_id"]).to_numpy() == "fdi", "fdi_supplier", "domestic_sme")
    nodes.loc[missing, "kind"] = guess[missing.to_numpy()]
    return nodes


def _layout(nodes: pd.DataFrame, buyer: np.ndarray, supplier: np.ndarray, weight: np.ndarray,
            province_order: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A layered layout: lead firms on top, foreign suppliers in the middle, SMEs below.

    Lead firms are spread by province and size order; every supplier sits under its buyers
    (value-weighted mean of their x, ranked within its layer so that nodes spread evenly).
    Fixed for the whole run, so the picture is stable from month to month.
    """
    kind = nodes["kind"].map({k: i for i, k in enumerate(NODE_KINDS)}).to_numpy()
    n = len(nodes)
    x = np.full(n, np.nan)
    prov_rank = nodes["province"].map({p: i for i, p in enumerate(province_order)}).fillna(99).to_numpy()
    sold = np.bincount(supplier, weights=weight, minlength=n)
    bought = np.bincount(buyer, weights=weight, minlength=n)
    leads = np.flatnonzero(kind == 0)
    order = leads[np.lexsort((-bought[leads], prov_rank[leads]))]
    x[order] = (np.arange(len(order)) + 0.5) / max(len(order), 1)
    for layer in (1, 2, 1, 2):  # two sweeps so suppliers of suppliers settle too
        pos = np.where(np.isnan(x), 0.0, x)
        has = ~np.isnan(x)
        w = weight * has[buyer]
        num = np.bincount(supplier, weights=w * pos[buyer], minlength=n)
        den = np.bincount(supplier, weights=w, minlength=n)
        members = np.flatnonzero(kind == layer)
        bary = np.where(den[members] > 0, num[members] / np.maximum(den[members], 1e-12), 0.5)
        ranked = members[np.lexsort((-sold[members], bary))]
        x[ranked] = (np.arange(len(ranked)) + 0.5) / max(len(ranked), 1)
    jitter = ((nodes["firm_id"].to_numpy() * 0.7548776662) % 1.0) - 0.5
    y = (2 - kind) + jitter * np.array([0.15, 0.55, 0.7])[kind]
    return np.nan_to_num(x, nan=0.5), y


def _intervals(contracts: pd.DataFrame, node_of: pd.Index) -> dict[str, np.ndarray]:
    """Contracts as value intervals: each event holds until the contract's next event.

    Contracts signed before the first month were not logged; one whose first event is a renewal,
    an extension or an end is taken to have been active since the start with that event's value.
    """
    c = contracts.sort_values(["contract_id", "step"], kind="stable")
    cid = c["contract_id"].to_numpy()
    step = c["step"].to_numpy(dtype=np.int64)
    event = c["event"].to_numpy()
    value = c["value"].to_numpy(dtype=np.float64)
    buyer = node_of.get_indexer(c["buyer_id"].to_numpy())
    supplier = node_of.get_indexer(c["supplier_id"].to_numpy())
    same_next = np.r_[cid[1:] == cid[:-1], False]
    stop = np.where(same_next, np.r_[step[1:], 0], np.iinfo(np.int64).max)
    live = event != "ended"
    first = np.r_[True, cid[1:] != cid[:-1]]
    pre = first & (event != "signed")  # existed before the recording started
    start = np.concatenate([step[live], np.zeros(pre.sum(), np.int64)])
    return {"start": start, "stop": np.concatenate([stop[live], step[pre]]),
            "value": np.concatenate([value[live], value[pre]]),
            "buyer": np.concatenate([buyer[live], buyer[pre]]),
            "supplier": np.concatenate([supplier[live], supplier[pre]])}


def _network(contracts: pd.DataFrame, firms: pd.DataFrame, provinces: list[str]) -> Network:
    nodes = _node_table(contracts, firms)
    node_of = pd.Index(nodes["firm_id"].to_numpy())
    iv = _intervals(contracts, node_of)
    x, y = _layout(nodes, iv["buyer"], iv["supplier"], iv["value"], provinces)
    kind = nodes["kind"].map({k: i for i, k in enumerate(NODE_KINDS)}).to_numpy()
    return Network(node_ids=node_of.to_numpy(), kind=kind, name=nodes["name"].to_numpy(), x=x, y=y,
                   start=iv["start"], stop=iv["stop"], value=iv["value"], buyer=iv["buyer"],
                   supplier=iv["supplier"], first_fdi_link=_first_fdi_link(contracts, node_of))


def _first_fdi_link(contracts: pd.DataFrame, node_of: pd.Index) -> np.ndarray:
    """Per node, the month a domestic firm signed its first contract with an FDI buyer.

    A firm already selling to FDI firms before its first logged signing (a renewal came first)
    is not counted as new.
    """
    c = contracts[(contracts["supplier_owner"] == "domestic") & (contracts["buyer_owner"] == "fdi")]
    out = np.zeros(len(node_of), dtype=np.int64)
    if c.empty:
        return out
    first = c.sort_values("step", kind="stable").drop_duplicates("supplier_id")
    first = first[first["event"] == "signed"]
    out[node_of.get_indexer(first["supplier_id"].to_numpy())] = first["step"].to_numpy()
    return out


def _flow_cube(flows: pd.DataFrame, n_steps: int, kinds: tuple[str, ...] | None) -> np.ndarray:
    cube = np.zeros((n_steps + 1, len(OWNER_CATS), len(OWNER_CATS)))
    f = flows if kinds is None else flows[flows["kind"].isin(kinds)]
    if f.empty:
        return cube
    cat = {c: i for i, c in enumerate(OWNER_CATS)}
    fi = f["from_owner"].map(cat).fillna(2).to_numpy(dtype=int)
    ti = f["to_owner"].map(cat).fillna(2).to_numpy(dtype=int)
    st = np.clip(f["step"].to_numpy(dtype=int), 0, n_steps)
    np.add.at(cube, (st, fi, ti), f["count"].to_numpy(dtype=np.float64))
    return cube


def build_index(path: str | Path) -> RunIndex:
    """Read a run folder once and index it for playback."""
    run = read_run(Path(path))
    ind = indicators(run).sort_values("step").set_index("step", drop=False)
    n_steps = len(ind)
    firms = run.table("firms")
    provinces = list(dict.fromkeys(run.table("locations")["province"]))
    flows = run.table("flows")
    return RunIndex(
        path=Path(path), manifest=dict(run.manifest), indicators=ind, dates=list(ind["date"].astype(str)),
        snapshots=_snapshots(firms), network=_network(run.table("contracts"), firms, provinces),
        flows_all=_flow_cube(flows, n_steps, None), flows_firms=_flow_cube(flows, n_steps, ("move", "spinoff")),
        locations=run.table("locations"), province=run.table("indicators_province"), policy=run.table("policy"))


_CACHE: OrderedDict[tuple[str, str], RunIndex] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def run_index(path: str | Path) -> RunIndex:
    """The index of a run folder, built once per process (a few most recent runs are kept)."""
    p = Path(path).resolve()
    stamp = str((p / "manifest.json").stat().st_mtime_ns) if (p / "manifest.json").exists() else ""
    key = (str(p), stamp)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    idx = build_index(p)
    with _CACHE_LOCK:
        _CACHE[key] = idx
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return idx
