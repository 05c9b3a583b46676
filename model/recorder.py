"""In-memory tables of one run: indicators, firm snapshots and event logs (ODD §7.7).

Events are appended as NumPy chunks (never row by row) and turned into DataFrames once, by
``tables()``. The results store (experiments.store) writes them; the model does no file I/O.
"""

from __future__ import annotations

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
FLOW_KINDS = np.array(["move", "spinoff", "hire", "separation", "exit"])
EVENT_NAMES = ("signed", "renewed", "extended", "ended")


class Recorder:
    """Collects everything a run reports."""

    def __init__(self, flows_detail: str = "all"):
        self.indicators: list[dict] = []
        self.provinces: list[dict] = []
        self.snapshots: list[pd.DataFrame] = []
        self.policy: list[dict] = []
        self._contracts: list[dict[str, np.ndarray]] = []
        self._flows: list[dict[str, np.ndarray]] = []
        self.flows_detail = flows_detail
        self.enabled = True

    # -- event logs ---------------------------------------------------------------------------------
    def contract_events(self, m: ClusterModel, event: str, idx: np.ndarray) -> None:
        """Log contract events for book positions ``idx``."""
        if not self.enabled or len(idx) == 0:
            return
        book, f = m.contracts, m.firms
        b, s = book.buyer[idx], book.supplier[idx]
        self._contracts.append({
            "step": np.full(len(idx), m.steps, np.int32), "event": np.full(len(idx), EVENT_NAMES.index(event), np.int8),
            "contract_id": book.cid[idx].astype(np.int32), "buyer_id": f.agent_id[b].astype(np.int32),
            "supplier_id": f.agent_id[s].astype(np.int32),
            "buyer_foreign": f.foreign[b], "supplier_foreign": f.foreign[s], "category": book.cat[idx].astype(np.int16),
            "tier": np.where(f.kind[b] == LEAD, 1, 2).astype(np.int8), "value": book.value[idx].copy()})

    def flows(self, m: ClusterModel, kind: str, origin: np.ndarray, dest: np.ndarray, skill: int,
              count: np.ndarray) -> None:
        """Log firm-to-firm labour flows (job moves, spin-offs)."""
        if not self.enabled or len(origin) == 0:
            return
        f = m.firms
        self._flows.append({  # small integer codes while running; labels in tables()
            "step": np.full(len(origin), m.steps, np.int32), "kind": np.full(len(origin), _code(FLOW_KINDS, kind), np.int8),
            "from_id": f.agent_id[origin].astype(np.int32), "to_id": f.agent_id[dest].astype(np.int32),
            "from_owner": f.foreign[origin].astype(np.int8), "to_owner": f.foreign[dest].astype(np.int8),
            "skill": np.full(len(origin), skill, np.int8), "count": count.astype(np.int32)})

    def pool_flows(self, m: ClusterModel, kind: str, counts: np.ndarray, to_pool: bool) -> None:
        """Log flows between firms and the pool/outside; ``counts`` is (firms, skills)."""
        if not self.enabled or self.flows_detail != "all":
            return
        rows, skills = np.nonzero(counts)
        if not len(rows):
            return
        f = m.firms
        owner = f.foreign[rows].astype(np.int8)
        pool = np.full(len(rows), _code(PARTIES, "pool" if to_pool or kind == "hire" else "outside"), np.int8)
        ids = f.agent_id[rows].astype(np.int32)
        minus = np.full(len(rows), -1, np.int32)
        out = kind != "hire"
        self._flows.append({
            "step": np.full(len(rows), m.steps, np.int32), "kind": np.full(len(rows), _code(FLOW_KINDS, kind), np.int8),
            "from_id": ids if out else minus, "to_id": minus if out else ids,
            "from_owner": owner if out else pool, "to_owner": pool if out else owner,
            "skill": skills.astype(np.int8), "count": counts[rows, skills].astype(np.int32)})

    # -- per-month records --------------------------------------------------------------------------
    def record_month(self, m: ClusterModel) -> None:
        """Indicators, province rows, policy spending and (every k months) firm snapshots."""
        base = {"step": m.steps, "date": m.date}
        self.indicators.append(base | indicator_row(m))
        self.provinces.extend(base | row for row in province_rows(m))
        for label, block_type, spend in m.policy_spend_rows():
            self.policy.append(base | {"policy": label, "lever": block_type, "spend": spend})
        if self.enabled and (m.steps % m.sc.recording.snapshot_every == 0 or not m.running or m.steps == 1):
            self.snapshots.append(self.snapshot(m))

    def snapshot(self, m: ClusterModel) -> pd.DataFrame:
        """Per-firm state now (alive firms and institutions)."""
        f, geo = m.firms, m.geo
        rows = np.flatnonzero(f.alive[: f.n])
        loc = f.loc[rows]
        kind = np.array(KIND_NAMES)[f.kind[rows]]
        customers = np.bincount(m.contracts.supplier, minlength=f.n)[rows]
        firms = pd.DataFrame({
            "step": m.steps, "date": m.date, "firm_id": f.agent_id[rows],
            "name": [f.names[r] for r in rows], "kind": kind, "owner": OWNER[f.foreign[rows].astype(int)],
            "province": np.array(geo.provinces)[geo.province[loc]], "district": np.array(geo.district_ids)[geo.district[loc]],
            "location": np.array(geo.ids)[loc], "lat": geo.lat[loc], "lon": geo.lon[loc],
            "sector": np.array(m.sector_ids)[f.sector[rows]], "tech": f.tech[rows],
            "employees": f.workers[rows].sum(axis=1), "operators": f.workers[rows, 0],
            "technicians": f.workers[rows, 1], "engineers": f.workers[rows, 2], "output": f.output[rows],
            "capacity": f.capacity[rows], "cash": f.cash[rows], "n_customers": customers})
        inst = m.inst
        il = inst.loc
        insts = pd.DataFrame({
            "step": m.steps, "date": m.date, "firm_id": [a.unique_id for a in inst.agents], "name": inst.names,
            "kind": inst.kind, "owner": "public", "province": np.array(geo.provinces)[geo.province[il]],
            "district": np.array(geo.district_ids)[geo.district[il]], "location": np.array(geo.ids)[il],
            "lat": geo.lat[il], "lon": geo.lon[il], "sector": "education", "tech": inst.quality,
            "employees": 0, "operators": 0, "technicians": 0, "engineers": 0, "output": 0.0, "capacity": 0.0,
            "cash": 0.0, "n_customers": 0})
        return pd.concat([firms, insts], ignore_index=True)

    # -- tables ---------------------------------------------------------------------------------------
    def tables(self, m: ClusterModel) -> dict[str, pd.DataFrame]:
        """All tables of the run so far (new DataFrames; safe to keep)."""
        dates = {r["step"]: r["date"] for r in self.indicators}
        contracts = _concat(self._contracts, ["step", "event", "contract_id", "buyer_id", "supplier_id",
                                              "buyer_foreign", "supplier_foreign", "category", "tier", "value"])
        for col in ("step", "contract_id", "buyer_id", "supplier_id"):  # compact while running
            contracts[col] = contracts[col].astype(np.int64)
        contracts.insert(1, "date", _dates(contracts, dates, m.sc.start))
        contracts["event"] = _labelled(EVENT_NAMES, contracts["event"], contracts.index)
        contracts["buyer_owner"] = _labelled(OWNER, contracts.pop("buyer_foreign"), contracts.index)
        contracts["supplier_owner"] = _labelled(OWNER, contracts.pop("supplier_foreign"), contracts.index)
        contracts["category"] = _labelled(m.category_ids, contracts["category"], contracts.index)
        flows = _concat(self._flows, ["step", "kind", "from_id", "to_id", "from_owner", "to_owner", "skill", "count"])
        for col in ("step", "from_id", "to_id", "count"):
            flows[col] = flows[col].astype(np.int64)
        flows.insert(1, "date", _dates(flows, dates, m.sc.start))
        for col, labels in (("kind", FLOW_KINDS), ("from_owner", PARTIES), ("to_owner", PARTIES),
                            ("skill", SKILL_NAMES)):
            flows[col] = _labelled(labels, flows[col], flows.index)
        policy = pd.DataFrame(self.policy, columns=["step", "date", "policy", "lever", "spend"])
        firms = pd.concat(self.snapshots, ignore_index=True) if self.snapshots else self.snapshot(m).iloc[:0]
        return {"indicators": pd.DataFrame(self.indicators), "indicators_province": pd.DataFrame(self.provinces),
                "firms": firms, "contracts": contracts, "flows": flows, "policy": policy,
                "locations": m.locations_table()}


_STR = pd.Series(["a"], dtype=object).astype(str).dtype  # pandas' string dtype for str columns


def _labelled(labels, codes: pd.Series, index: pd.Index) -> pd.Series:
    """Strings from integer codes, as ``labels[codes]`` with pandas' string dtype (Arrow take: fast)."""
    codes = codes.to_numpy(dtype=np.int64)
    if isinstance(_STR, pd.StringDtype) and _STR.storage == "pyarrow":
        arr = pa.array([str(x) for x in labels], type=pa.large_string()).take(pa.array(codes))
        return pd.Series(pd.array(arr, dtype=_STR), index=index)
    return pd.Series(np.asarray(labels)[codes], index=index).astype(str)


def _dates(table: pd.DataFrame, dates: dict[int, str], start: str) -> pd.Series:
    """The "YYYY-MM" of each row's step (steps before the first month: the start month)."""
    steps = table["step"]
    top = int(steps.max()) + 1 if len(steps) else 1
    return _labelled([dates.get(i, start) for i in range(top)], steps, table.index)


def _code(labels: np.ndarray, label: str) -> int:
    return int(np.flatnonzero(labels == label)[0])


def _concat(chunks: list[dict[str, np.ndarray]], columns: list[str]) -> pd.DataFrame:
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})
    return pd.DataFrame({c: np.concatenate([ch[c] for ch in chunks]) for c in columns})
