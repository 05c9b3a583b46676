"""In-memory tables of one run: indicators, firm snapshots and event logs (ODD §7.7).

Events are appended as NumPy chunks (never row by row) and turned into DataFrames once, by
``tables()``. While running, a chunk keeps only what can change: firm rows (not ids, owners or
tiers, which a row never changes), contract ids, counts (in the smallest integer type that holds
them) and values; a chunk's step, kind and skill are stored once per chunk. Snapshots keep the
changing columns of the firm table and become DataFrames in ``tables()``. The results store
(experiments.store) writes the tables; the model does no file I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from model.firms import KIND_NAMES, LEAD
from model.metrics import indicator_row, province_rows

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel

SKILL_NAMES = np.array(["operator", "technician", "engineer"])
OWNER = np.array(["domestic", "fdi"])
PARTIES = np.array(["domestic", "fdi", "pool", "outside"])  # flow ends; codes 0/1 are OWNER's
FLOW_KINDS = np.array(["move", "spinoff", "hire", "separation", "exit", "start"])
INTO_FIRMS = ("hire", "start")  # flows with the pool or outside that go into a firm
PARTY_CODE = {str(p): i for i, p in enumerate(PARTIES)}  # a label's code, looked up while running
FLOW_KIND_CODE = {str(k): i for i, k in enumerate(FLOW_KINDS)}
EVENT_NAMES = ("signed", "renewed", "extended", "ended")
CONTRACT_COLUMNS = ["step", "event", "contract_id", "buyer_id", "supplier_id", "buyer_foreign",
                    "supplier_foreign", "category", "tier", "value"]
FLOW_COLUMNS = ["step", "kind", "from_id", "to_id", "from_owner", "to_owner", "skill", "count"]


class Recorder:
    """Collects everything a run reports."""

    def __init__(self, flows_detail: str = "all"):
        self.indicators: list[dict] = []
        self.provinces: list[dict] = []
        self.snapshots: list[dict] = []  # compact firm state (see ``snapshot_state``)
        self.policy: list[dict] = []
        self._contracts: list[tuple[int, int, dict[str, np.ndarray]]] = []  # (step, event, columns)
        self._flows: list[tuple[tuple, dict[str, np.ndarray]]] = []  # (step, kind, skill or ends), columns
        self.flows_detail = flows_detail
        self.enabled = True

    # -- event logs ---------------------------------------------------------------------------------
    def contract_events(self, m: ClusterModel, event: str | np.ndarray, idx: np.ndarray,
                        value: np.ndarray | None = None) -> None:
        """Log contract events for book positions ``idx``: all of one ``event`` (a name of
        EVENT_NAMES), or each its own (an array of their codes); ``value`` is the volume at each
        event when it differs from the book's now (a later tender round extended the contract)."""
        if not self.enabled or len(idx) == 0:
            return
        book = m.contracts
        code = EVENT_NAMES.index(event) if isinstance(event, str) else np.asarray(event, np.int8)
        self._contracts.append((m.steps, code, {
            "cid": book.cid[idx].astype(np.int32), "buyer": book.buyer[idx].astype(np.int32),
            "supplier": book.supplier[idx].astype(np.int32), "cat": book.cat[idx].astype(np.int8),
            "value": book.value[idx] if value is None else value}))

    def flows(self, m: ClusterModel, kind: str, origin: np.ndarray, dest: np.ndarray, skill: int,
              count: np.ndarray) -> None:
        """Log firm-to-firm labour flows (job moves, spin-offs)."""
        if not self.enabled or len(origin) == 0:
            return
        self._flows.append(((m.steps, FLOW_KIND_CODE[kind], skill), {
            "origin": origin.astype(np.int32), "dest": dest.astype(np.int32), "count": _small(count)}))

    def pool_flows(self, m: ClusterModel, kind: str, counts: np.ndarray, to_pool: bool, party: str | None = None,
                   first_row: int = 0) -> None:
        """Log flows between firms and the pool/outside; ``counts`` is (firms, skills), its rows the
        firm rows from ``first_row``; ``party``: the other end, if not the pool (``to_pool`` or a hire)
        or else outside."""
        if not self.enabled or self.flows_detail != "all":
            return
        flat = counts.reshape(-1)
        # the nonzero entries in row-major order, as np.nonzero(counts) gives them (a bool mask is
        # searched several times faster than the integer counts themselves)
        at = np.flatnonzero(flat != 0)
        if not len(at):
            return
        rows, skills = np.divmod(at, counts.shape[1])
        pool = PARTY_CODE[party or ("pool" if to_pool or kind == "hire" else "outside")]
        self._flows.append(((m.steps, FLOW_KIND_CODE[kind], None, kind not in INTO_FIRMS, pool), {
            "rows": (rows + first_row).astype(np.int32), "skill": skills.astype(np.int8), "count": _small(flat[at])}))

    # -- per-month records --------------------------------------------------------------------------
    def record_month(self, m: ClusterModel) -> None:
        """Indicators, province rows, policy spending and (every k months) firm snapshots."""
        base = {"step": m.steps, "date": m.date}
        self.indicators.append(base | indicator_row(m))
        self.provinces.extend(base | row for row in province_rows(m))
        for label, block_type, spend in m.policy_spend_rows():
            self.policy.append(base | {"policy": label, "lever": block_type, "spend": spend})
        if self.enabled and (m.steps % m.sc.recording.snapshot_every == 0 or not m.running or m.steps == 1):
            self.snapshots.append(snapshot_state(m))

    # -- tables ---------------------------------------------------------------------------------------
    def tables(self, m: ClusterModel, for_store: bool = False) -> dict[str, pd.DataFrame]:
        """All tables of the run so far (new DataFrames; safe to keep).

        ``for_store``: the text columns of the firm snapshots and event tables (firms, contracts,
        flows) as Arrow dictionary columns made from the recorder's codes, for
        ``experiments.store.write_run``, which writes them without encoding every string again;
        read back they are text columns like the rest.
        """
        dates = {r["step"]: r["date"] for r in self.indicators}
        contracts = _contract_frame(m, self._contracts)
        for col in ("step", "contract_id", "buyer_id", "supplier_id"):  # compact while running
            contracts[col] = contracts[col].astype(np.int64)
        contracts.insert(1, "date", _dates(contracts, dates, m.sc.start, for_store))
        idx = contracts.index
        contracts["event"] = _labelled(EVENT_NAMES, contracts["event"], idx, for_store)
        contracts["buyer_owner"] = _labelled(OWNER, contracts.pop("buyer_foreign"), idx, for_store)
        contracts["supplier_owner"] = _labelled(OWNER, contracts.pop("supplier_foreign"), idx, for_store)
        contracts["category"] = _labelled(m.category_ids, contracts["category"], idx, for_store)
        flows = _flow_frame(m, self._flows)
        for col in ("step", "from_id", "to_id", "count"):
            flows[col] = flows[col].astype(np.int64)
        flows.insert(1, "date", _dates(flows, dates, m.sc.start, for_store))
        for col, labels in (("kind", FLOW_KINDS), ("from_owner", PARTIES), ("to_owner", PARTIES),
                            ("skill", SKILL_NAMES)):
            flows[col] = _labelled(labels, flows[col], flows.index, for_store)
        policy = pd.DataFrame(self.policy, columns=["step", "date", "policy", "lever", "spend"])
        firms = snapshot_frame(m, self.snapshots or [snapshot_state(m)], for_store)
        if not self.snapshots:
            firms = firms.iloc[:0]
        return {"indicators": pd.DataFrame(self.indicators), "indicators_province": pd.DataFrame(self.provinces),
                "firms": firms, "contracts": contracts, "flows": flows, "policy": policy,
                "locations": m.locations_table()}


# -- snapshots ------------------------------------------------------------------------------------------
def snapshot_state(m: ClusterModel) -> dict:
    """What a firm snapshot needs that can change later: alive rows, their place, τ, staff, money."""
    f = m.firms
    rows = np.flatnonzero(f.alive[: f.n])
    return {"step": m.steps, "date": m.date, "rows": rows.astype(np.int32), "loc": f.loc[rows].astype(np.int32),
            "tech": f.tech[rows], "workers": _int32_if_fits(f.workers[rows]), "output": f.output[rows],
            "capacity": f.capacity[rows], "cash": f.cash[rows],
            "customers": np.bincount(m.contracts.supplier, minlength=f.n)[rows].astype(np.int32),
            "inst_quality": m.inst.quality.copy()}


def snapshot_frame(m: ClusterModel, states: list[dict], dictionary: bool = False) -> pd.DataFrame:
    """The firms table rows of snapshots (each: its alive firms, then the institutions), built in
    one go: codes per row, then each string column by one look-up (``dictionary``: as ``_labelled``)."""
    f, geo, inst = m.firms, m.geo, m.inst
    n_inst = len(inst.names)
    kinds = list(KIND_NAMES) + sorted(set(inst.kind))
    inst_codes = {  # per column: the institutions' part, the same in every snapshot
        "firm_id": np.array([a.unique_id for a in inst.agents], np.int64), "loc": np.asarray(inst.loc, np.int64),
        "name": np.arange(len(f.names), len(f.names) + n_inst), "kind": np.array([kinds.index(k) for k in inst.kind], np.int64),
        "owner": np.full(n_inst, len(OWNER)), "sector": np.full(n_inst, len(m.sector_ids)),
        "workers": np.zeros((n_inst, 3), np.int64), "zero": np.zeros(n_inst), "none": np.zeros(n_inst, np.int64)}

    rows_of = [s["rows"].astype(np.int64) for s in states]

    def column(firm_part: Callable[[dict, np.ndarray], np.ndarray], inst_part: str | Callable[[dict], np.ndarray]):
        parts = []
        for s, rows in zip(states, rows_of, strict=True):
            parts += [firm_part(s, rows), inst_codes[inst_part] if isinstance(inst_part, str) else inst_part(s)]
        return np.concatenate(parts)

    snap = np.repeat(np.arange(len(states)), [len(s["rows"]) + n_inst for s in states])  # each row's snapshot
    loc = column(lambda s, r: s["loc"].astype(np.int64), "loc")
    workers = column(lambda s, r: s["workers"].astype(np.int64), "workers")
    index = pd.RangeIndex(len(snap))
    return pd.DataFrame({
        "step": np.array([s["step"] for s in states], np.int64)[snap],
        "date": _labelled([s["date"] for s in states], snap, index, dictionary),
        "firm_id": column(lambda s, r: f.agent_id[r], "firm_id"),
        "name": _labelled(f.names + inst.names, column(lambda s, r: r, "name"), index, dictionary),
        "kind": _labelled(kinds, column(lambda s, r: f.kind[r].astype(np.int64), "kind"), index, dictionary),
        "owner": _labelled([*OWNER, "public"], column(lambda s, r: f.foreign[r].astype(np.int64), "owner"), index,
                           dictionary),
        "province": _labelled(geo.provinces, geo.province[loc], index, dictionary),
        "district": _labelled(geo.district_ids, geo.district[loc], index, dictionary),
        "location": _labelled(geo.ids, loc, index, dictionary), "lat": geo.lat[loc], "lon": geo.lon[loc],
        "sector": _labelled([*m.sector_ids, "education"], column(lambda s, r: f.sector[r].astype(np.int64), "sector"),
                            index, dictionary),
        "tech": column(lambda s, r: s["tech"], lambda s: s["inst_quality"]),
        "employees": workers.sum(axis=1), "operators": workers[:, 0], "technicians": workers[:, 1],
        "engineers": workers[:, 2], "output": column(lambda s, r: s["output"], "zero"),
        "capacity": column(lambda s, r: s["capacity"], "zero"), "cash": column(lambda s, r: s["cash"], "zero"),
        "n_customers": column(lambda s, r: s["customers"].astype(np.int64), "none")}, index=index)


# -- event tables -----------------------------------------------------------------------------------------
def _contract_frame(m: ClusterModel, chunks: list) -> pd.DataFrame:
    """Contract events with ids, owners and tiers looked up from the firm rows (compact dtypes)."""
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in CONTRACT_COLUMNS})
    f = m.firms
    lens = [len(c["cid"]) for _, _, c in chunks]
    buyer = np.concatenate([c["buyer"] for _, _, c in chunks])
    supplier = np.concatenate([c["supplier"] for _, _, c in chunks])
    return pd.DataFrame({
        "step": np.repeat(np.array([s for s, _, _ in chunks], np.int32), lens),
        "event": _chunk_codes([e for _, e, _ in chunks], lens),
        "contract_id": np.concatenate([c["cid"] for _, _, c in chunks]),
        "buyer_id": f.agent_id[buyer].astype(np.int32), "supplier_id": f.agent_id[supplier].astype(np.int32),
        "buyer_foreign": f.foreign[buyer], "supplier_foreign": f.foreign[supplier],
        "category": np.concatenate([c["cat"] for _, _, c in chunks]).astype(np.int16),
        "tier": np.where(f.kind[buyer] == LEAD, 1, 2).astype(np.int8),
        "value": np.concatenate([c["value"] for _, _, c in chunks])})


def _chunk_codes(codes: list[int | np.ndarray], lens: list[int]) -> np.ndarray:
    """Each row's event code: a chunk's one code repeated, or its own array of codes."""
    if all(isinstance(c, int) for c in codes):
        return np.repeat(np.array(codes, np.int8), lens)
    return np.concatenate([np.full(n, c, np.int8) if isinstance(c, int) else c for c, n in zip(codes, lens, strict=True)])


def _flow_frame(m: ClusterModel, chunks: list) -> pd.DataFrame:
    """Labour flows with firm ids and owners looked up from the firm rows (compact dtypes), built
    column by column over all chunks: a chunk's firm side (``origin`` of a firm-to-firm flow, the
    ``rows`` of a flow with the pool or outside) and, for firm-to-firm flows, the ``dest`` side."""
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in FLOW_COLUMNS})
    f = m.firms
    metas = [meta for meta, _ in chunks]
    lens = [len(c["count"]) for _, c in chunks]
    pooled = np.repeat([meta[2] is None for meta in metas], lens)
    # the firm side is the flow's origin, except for hires (pool -> firm)
    firm_first = np.repeat([meta[2] is not None or bool(meta[3]) for meta in metas], lens)
    firm = np.concatenate([c["origin"] if meta[2] is not None else c["rows"] for meta, c in chunks])
    firm_id, firm_owner = f.agent_id[firm].astype(np.int32), f.foreign[firm].astype(np.int8)
    other_id = np.full(len(firm), -1, np.int32)  # the other side: a firm, or the pool / outside
    other_owner = np.repeat(np.array([0 if meta[2] is not None else meta[4] for meta in metas], np.int8), lens)
    skill = np.repeat(np.array([0 if meta[2] is None else meta[2] for meta in metas], np.int8), lens)
    if (~pooled).any():
        dest = np.concatenate([c["dest"] for meta, c in chunks if meta[2] is not None])
        other_id[~pooled], other_owner[~pooled] = f.agent_id[dest].astype(np.int32), f.foreign[dest].astype(np.int8)
    if pooled.any():
        skill[pooled] = np.concatenate([c["skill"] for meta, c in chunks if meta[2] is None])
    return pd.DataFrame({
        "step": np.repeat(np.array([meta[0] for meta in metas], np.int32), lens),
        "kind": np.repeat(np.array([meta[1] for meta in metas], np.int8), lens),
        "from_id": np.where(firm_first, firm_id, other_id), "to_id": np.where(firm_first, other_id, firm_id),
        "from_owner": np.where(firm_first, firm_owner, other_owner),
        "to_owner": np.where(firm_first, other_owner, firm_owner),
        "skill": skill, "count": np.concatenate([c["count"] for _, c in chunks]).astype(np.int64)})


_STR = pd.Series(["a"], dtype=object).astype(str).dtype  # pandas' string dtype for str columns


def _labelled(labels, codes: pd.Series | np.ndarray, index: pd.Index, dictionary: bool = False) -> pd.Series:
    """Strings from integer codes, as ``labels[codes]`` with pandas' string dtype (Arrow take: fast);
    with ``dictionary``, the codes and labels as one Arrow dictionary column instead (no strings made)."""
    codes = np.asarray(codes, dtype=np.int64)
    if dictionary:
        # a dictionary listing a label twice (the start month is steps 0 and 1) would make the
        # Parquet writer fall back to plain strings for the whole column
        words, code_of = np.unique(np.array([str(x) for x in labels], dtype=object), return_inverse=True)
        arr = pa.DictionaryArray.from_arrays(pa.array(code_of.astype(np.int32)[codes]),
                                             pa.array(words.tolist(), type=pa.large_string()))
        return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index)
    if isinstance(_STR, pd.StringDtype) and _STR.storage == "pyarrow":
        arr = pa.array([str(x) for x in labels], type=pa.large_string()).take(pa.array(codes))
        return pd.Series(pd.array(arr, dtype=_STR), index=index)
    return pd.Series(np.asarray(labels)[codes], index=index).astype(str)


def _dates(table: pd.DataFrame, dates: dict[int, str], start: str, dictionary: bool = False) -> pd.Series:
    """The "YYYY-MM" of each row's step (steps before the first month: the start month)."""
    steps = table["step"]
    top = int(steps.max()) + 1 if len(steps) else 1
    return _labelled([dates.get(i, start) for i in range(top)], steps, table.index, dictionary)


def _small(counts: np.ndarray) -> np.ndarray:
    """Worker counts in the smallest integer type that holds them (most moves are a few people)."""
    if not len(counts) or counts.min() < 0:
        return _int32_if_fits(counts)
    top = int(counts.max())
    dtype = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.int32 if top < 2**31 else np.int64
    return counts.astype(dtype)


def _int32_if_fits(counts: np.ndarray) -> np.ndarray:
    """Counts as int32 when every one fits (a firm grown for decades can pass 2³¹ workers), else int64."""
    if counts.size and (int(counts.max()) >= 2**31 or int(counts.min()) < -(2**31)):
        return counts.astype(np.int64)
    return counts.astype(np.int32)

