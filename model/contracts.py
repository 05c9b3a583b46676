"""Sourcing and the contract book (ODD §7.3).

Each month a buyer's component needs (lead firms: output × bill of materials; suppliers: tier-2
inputs) are first covered by active contracts; expiring contracts are renewed with a probability
that falls with poor delivery; open needs go to tender. A tender draws candidate suppliers by
distance, keeps those that qualify (τ and certification meet the category's threshold), scores
delivered cost (unit cost from τ and wages, transport by road km, incentives) less relationship
history, and awards the open need to the best few that beat the import price (multi-sourcing),
within their spare capacity. What is left is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from model import kernels
from model.firms import LEAD
from model.sampling import drop_duplicates, sample_by_location

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel

HISTORY_GAIN = 0.1  # share of the gap to a full record closed per month of good delivery


class ContractBook:
    """Active contracts as columns; ended contracts leave the book (their events are recorded).

    Two indexes keep look-ups free of per-call sorts (so a step costs about O(contracts)):
    ``find`` searches a sorted (buyer, supplier, category) key index, kept as a large sorted base
    plus a small sorted tail of recent additions that is merged in when it grows; relationship
    records live in a pair table (sorted pair keys → stable pair ids → record), and each contract
    carries its pair id (``pair``, -1 until ``update_history`` files it).
    """

    COLS = {"cid": np.int64, "buyer": np.int64, "supplier": np.int64, "cat": np.int64, "value": np.float64,
            "start": np.int64, "end": np.int64, "perf": np.float64, "pair": np.int64}

    def __init__(self, capacity: int = 4096) -> None:
        self.n = 0
        self.next_id = 0
        self._buf = {name: np.zeros(capacity, dtype=dtype) for name, dtype in self.COLS.items()}
        self._rebind()
        self._key_base = 1 << 31
        # relationship records: sorted pair keys and their ids; the record of pair id p is hist[p]
        self.pair_keys = np.zeros(0, dtype=np.int64)
        self.pair_ids = np.zeros(0, dtype=np.int64)
        self.hist = np.zeros(0, dtype=np.float64)
        self._segments: np.ndarray | None = None  # per-buyer start of its pairs (pair_segments)
        self._base_seg: tuple[np.ndarray, np.ndarray] | None = None  # (base keys, base_segments of them)
        # (buyer, supplier, category) index: sorted keys and book positions, base + recent tail
        self._ix = {part: (np.zeros(0, np.int64), np.zeros(0, np.int64)) for part in ("base", "tail")}

    def _rebind(self) -> None:
        """Expose the in-use part of each buffer as an attribute (views: in-place writes persist)."""
        for name in self.COLS:
            setattr(self, name, self._buf[name][: self.n])

    def _key3(self, buyer: np.ndarray, supplier: np.ndarray, cat: np.ndarray | int) -> np.ndarray:
        return (buyer.astype(np.int64) * self._key_base + supplier) * 64 + cat  # up to 64 categories

    def reserve(self, m: int) -> None:
        """Make room for ``m`` more contracts (the buffers grow by 1.5x, at least to fit)."""
        if self.n + m > len(self._buf["cid"]):
            size = max(len(self._buf["cid"]) * 3 // 2, self.n + m)  # 1.5x: less slack at millions
            for name, buf in self._buf.items():
                grown = np.zeros(size, dtype=buf.dtype)
                grown[: self.n] = buf[: self.n]
                self._buf[name] = grown

    def add(self, buyer: np.ndarray, supplier: np.ndarray, cat: np.ndarray, value: np.ndarray,
            start: int, end: np.ndarray) -> np.ndarray:
        """Append contracts (amortised growth of the buffers); return their ids."""
        m = len(buyer)
        self.reserve(m)
        ids = np.arange(self.next_id, self.next_id + m)
        self.next_id += m
        new = {"cid": ids, "buyer": buyer, "supplier": supplier, "cat": cat, "value": value,
               "start": start, "end": end, "perf": 1.0, "pair": -1}
        for name in self.COLS:
            self._buf[name][self.n : self.n + m] = new[name]
        self._index_add(self._key3(np.asarray(buyer), np.asarray(supplier), np.asarray(cat)),
                        np.arange(self.n, self.n + m))
        self.n += m
        self._rebind()
        return ids

    def appended(self, n_book: int, next_id: int) -> None:
        """Take in contracts a compiled kernel wrote into the buffers from position ``n`` to ``n_book``."""
        new = np.arange(self.n, n_book)
        b = self._buf
        self._index_add(self._key3(b["buyer"][new], b["supplier"][new], b["cat"][new]), new)
        self.n, self.next_id = n_book, next_id
        self._rebind()

    def _index_add(self, keys: np.ndarray, pos: np.ndarray) -> None:
        """Merge new (key, position) entries into the tail; merge the tail into the base when large."""
        tk, tp = _merge_sorted(*self._ix["tail"], keys, pos)
        bk, bp = self._ix["base"]
        if len(tk) > max(4096, len(bk) // 16):
            self._ix["base"] = _merge_sorted(bk, bp, tk, tp)
            tk, tp = tk[:0], tp[:0]
        self._ix["tail"] = (tk, tp)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the contracts where ``mask`` is False."""
        k = int(np.count_nonzero(mask))
        if k == self.n:
            return
        if kernels.use_compiled():  # one pass over the columns and the indexes, in place
            ints = tuple(self._buf[c] for c, t in self.COLS.items() if t is np.int64)
            floats = tuple(self._buf[c] for c, t in self.COLS.items() if t is np.float64)
            parts = [(np.ascontiguousarray(keys), np.ascontiguousarray(pos)) for keys, pos in self._ix.values()]
            _, sizes = kernels.compact_book(mask, ints, floats, tuple(parts))
            self._ix = {part: (keys[:z], pos[:z]) for part, (keys, pos), z in zip(self._ix, parts, sizes, strict=True)}
            self.n = k
            self._rebind()
            return
        idx = np.flatnonzero(mask)
        new_pos = np.cumsum(mask) - 1
        for part, (keys, pos) in self._ix.items():  # compaction keeps order, so indexes stay sorted
            stay = np.flatnonzero(mask[pos])
            self._ix[part] = (keys[stay], new_pos[pos[stay]])
        for buf in self._buf.values():
            buf[:k] = buf[idx]
        self.n = k
        self._rebind()

    def find(self, buyer: np.ndarray, supplier: np.ndarray, cat: int) -> np.ndarray:
        """Book position of the active contract for each (buyer, supplier, cat), or -1."""
        out = np.full(len(buyer), -1, dtype=np.int64)
        if not len(buyer) or not self.n:
            return out
        q = self._key3(buyer, supplier, cat)
        for keys, pos in (self._ix["tail"], self._ix["base"]):  # base last: the lowest position wins
            if len(keys):
                at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
                hit = keys[at] == q
                out[hit] = pos[at[hit]]
        return out

    def per_pair(self, n_firms: int, n_cats: int, by: str = "buyer") -> np.ndarray:
        """Contracted value per (firm, category) as an (n_firms, n_cats) array."""
        owner = self.buyer if by == "buyer" else self.supplier
        flat = np.bincount(owner * n_cats + self.cat, weights=self.value, minlength=n_firms * n_cats)
        return flat.reshape(n_firms, n_cats)

    def _pair_ids_of(self, buyer: np.ndarray, supplier: np.ndarray) -> np.ndarray:
        """Pair ids of (buyer, supplier) pairs, -1 for pairs never filed."""
        keys = buyer.astype(np.int64) * self._key_base + supplier
        out = np.full(len(keys), -1, dtype=np.int64)
        if len(self.pair_keys):
            at = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
            hit = self.pair_keys[at] == keys
            out[hit] = self.pair_ids[at[hit]]
        return out

    def _file_pairs(self, buyer: np.ndarray, supplier: np.ndarray) -> np.ndarray:
        """Pair ids of (buyer, supplier) pairs, giving new pairs a record of 0."""
        ids = self._pair_ids_of(buyer, supplier)
        miss = ids < 0
        if miss.any():
            keys = buyer[miss].astype(np.int64) * self._key_base + supplier[miss]
            uk, inv = np.unique(keys, return_inverse=True)
            new_ids = np.arange(len(self.hist), len(self.hist) + len(uk))
            self.hist = np.concatenate([self.hist, np.zeros(len(uk))])
            self.pair_keys, self.pair_ids = _merge_sorted(self.pair_keys, self.pair_ids, uk, new_ids)
            self._segments = None
            ids[miss] = new_ids[inv]
        return ids

    def base_segments(self, n_firms: int) -> np.ndarray:
        """Where each buyer's entries start in the base key index (length n_firms + 1; cached until
        the base changes): look-ups search a buyer's few entries, not the whole base."""
        keys = self._ix["base"][0]
        cached = self._base_seg
        if cached is None or cached[0] is not keys or len(cached[1]) != n_firms + 1:
            cached = self._base_seg = (keys, kernels.key_segments(keys, n_firms, self._key_base * 64))
        return cached[1]

    def pair_segments(self, n_firms: int) -> np.ndarray:
        """Where each buyer's pairs start in ``pair_keys`` (length n_firms + 1; cached until pairs change)."""
        seg = getattr(self, "_segments", None)
        if seg is None or len(seg) != n_firms + 1:
            seg = np.searchsorted(self.pair_keys, np.arange(n_firms + 1, dtype=np.int64) * self._key_base)
            self._segments = seg
        return seg

    def history(self, buyer: np.ndarray, supplier: np.ndarray) -> np.ndarray:
        """Relationship record (0–1) of each (buyer, supplier) pair."""
        ids = self._pair_ids_of(buyer, supplier)
        return np.where(ids >= 0, self.hist[np.maximum(ids, 0)] if len(self.hist) else 0.0, 0.0)

    def update_history(self, decay: float) -> None:
        """Records fade; pairs with an active contract move toward 1 in proportion to delivery."""
        if self.n:
            unfiled = np.flatnonzero(self.pair < 0)
            if len(unfiled):
                self.pair[unfiled] = self._file_pairs(self.buyer[unfiled], self.supplier[unfiled])
        if kernels.use_compiled():
            kernels.history_update(self.pair, self.perf, self.hist, 1.0 - decay, HISTORY_GAIN, 1e-3)
            return
        self.hist *= 1.0 - decay
        if self.n:
            count = np.bincount(self.pair, minlength=len(self.hist))
            act = np.flatnonzero(count)
            perf = np.bincount(self.pair, weights=self.perf, minlength=len(self.hist))[act] / count[act]
            self.hist[act] += (1 - self.hist[act]) * HISTORY_GAIN * perf
        self.hist[self.hist <= 1e-3] = 0.0  # a faded record counts as none

    def seed_history(self, buyer: np.ndarray, supplier: np.ndarray, value: float) -> None:
        """Give pairs a starting record (followers and their lead firm); existing records stay."""
        ids = self._file_pairs(buyer, supplier)
        fresh = ids[self.hist[ids] == 0.0]
        self.hist[fresh] = value

    def partners(self, row: int, as_buyer: bool) -> list[int]:
        """Rows of a firm's current suppliers (as_buyer) or customers."""
        if as_buyer:
            return sorted(set(self.supplier[self.buyer == row].tolist()))
        return sorted(set(self.buyer[self.supplier == row].tolist()))


def _merge_sorted(keys: np.ndarray, vals: np.ndarray, new_keys: np.ndarray,
                  new_vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert (new_keys, new_vals) into arrays sorted by key; equal keys keep insertion order."""
    if not len(new_keys):
        return keys, vals
    order = np.argsort(new_keys, kind="stable")
    nk, nv = new_keys[order], new_vals[order]
    if kernels.use_compiled():
        return kernels.merge_sorted(keys, vals.astype(np.int64, copy=False), nk, nv.astype(np.int64, copy=False))
    at = np.searchsorted(keys, nk, side="right")
    return np.insert(keys, at, nk), np.insert(vals, at, nv)


def unit_cost(m: ClusterModel, threshold: float, wage: np.ndarray | None = None) -> np.ndarray:
    """Unit cost of each firm's output in a category, relative to the world price (eq. 3.1).

    Cost falls with τ, but technology beyond what the part needs (threshold + headroom) buys
    nothing more; labour costs enter through the firm's wage relative to the domestic average.
    """
    s, f = m.sc.sourcing, m.firms
    useful = np.minimum(f.tech[: f.n], threshold + s.cost_tech_headroom)
    return s.unit_cost_base * np.exp(-s.cost_tech_elasticity * useful) * (_wage_factor(m) if wage is None else wage)


def _wage_factor(m: ClusterModel) -> np.ndarray:
    """The labour-cost factor of each firm's unit cost (the same in every category)."""
    s, f = m.sc.sourcing, m.firms
    n = f.n
    wage_rel = np.where(f.wage_tech[:n] > 0, f.wage_tech[:n] / max(m.labour.mean_wage_ref, 1e-9), 1.0)
    return 1 + s.wage_cost_share * (wage_rel - 1)


def qualifies(m: ClusterModel, rows: np.ndarray, cat: int) -> np.ndarray:
    """Whether firms ``rows`` may supply category ``cat`` now (eq. 3.2)."""
    f, c = m.firms, m.categories[cat]
    bonus = np.where(f.coached_until[rows] >= m.month, m.policy.qualification_bonus, 0.0)
    ok = f.alive[rows] & f.caps[rows, cat] & (f.kind[rows] != LEAD) & (f.tech[rows] + bonus >= c.threshold)
    if c.certification:
        ok &= f.certified[rows]
    return ok


def _qualification(m: ClusterModel) -> Callable[[int], np.ndarray]:
    """``qualifies(m, all firms, cat)`` for each category, sharing the parts that are the same in all."""
    f, n = m.firms, m.firms.n
    may = f.alive[:n] & (f.kind[:n] != LEAD)
    tech = f.tech[:n] + np.where(f.coached_until[:n] >= m.month, m.policy.qualification_bonus, 0.0)

    def of(cat: int) -> np.ndarray:
        c = m.categories[cat]
        ok = may & f.caps[:n, cat] & (tech >= c.threshold)
        return ok & f.certified[:n] if c.certification else ok

    return of


def renew_or_end(m: ClusterModel, compact: bool = True) -> np.ndarray | None:
    """Contracts reaching their end are renewed (∝ delivery performance) or ended.

    With ``compact=False`` the ended contracts stay in the book and the mask of the others is
    returned (``fit_to_needs`` then drops both kinds in one compaction).
    """
    book, s = m.contracts, m.sc.sourcing
    due = book.end <= m.month
    if not due.any():
        return None
    idx = np.flatnonzero(due)
    still = np.zeros(len(idx), bool)
    for c in np.unique(book.cat[idx]):
        sel = book.cat[idx] == c
        still[sel] = qualifies(m, book.supplier[idx[sel]], int(c)) & m.firms.alive[book.buyer[idx[sel]]]
    p = s.renewal_base * book.perf[idx] ** s.renewal_performance_power * still
    renew = m.rng_contracts.random(len(idx)) < p
    r = idx[renew]
    book.end[r] = m.month + m.rng_contracts.integers(s.contract_months_min, s.contract_months_max + 1, len(r))
    m.recorder.contract_events(m, "renewed", r)
    m.recorder.contract_events(m, "ended", idx[~renew])
    keep = np.ones(book.n, bool)
    keep[idx[~renew]] = False
    if not compact:
        return keep
    book.keep(keep)
    return None


def end_contracts_of(m: ClusterModel, rows: np.ndarray) -> None:
    """End every contract of firms that exit (as buyer or supplier)."""
    book = m.contracts
    leaving = np.zeros(m.firms.n, dtype=bool)
    leaving[rows] = True
    gone = leaving[book.buyer] | leaving[book.supplier]
    if gone.any():
        m.recorder.contract_events(m, "ended", np.flatnonzero(gone))
        book.keep(~gone)


def fit_to_needs(m: ClusterModel, need: np.ndarray, active: np.ndarray | None = None) -> None:
    """Scale contract volumes down where a buyer's need fell below what it contracted (volume ≤ need).

    ``active`` (from ``renew_or_end(m, compact=False)``) marks the contracts still running; the
    others count for nothing and leave the book with the ones that became too small.
    """
    book = m.contracts
    if not book.n:
        return
    n_cat = len(m.categories)
    floor = 0.5 * m.sc.sourcing.min_tender_value  # volumes too small to keep a contract alive
    if kernels.use_compiled():
        tiny = kernels.fit_volumes(book.buyer, book.cat, book.value, np.ones(book.n, bool) if active is None
                                   else active, need, floor)
        _drop_tiny(m, tiny, active)
        return
    weights = book.value if active is None else np.where(active, book.value, 0.0)
    contracted = np.bincount(book.buyer * n_cat + book.cat, weights=weights,
                             minlength=len(need) * n_cat).reshape(len(need), n_cat)
    ratio = np.where(contracted > need, need / np.maximum(contracted, 1e-12), 1.0)
    book.value *= ratio[book.buyer, book.cat]
    tiny = book.value < floor
    if active is not None:
        tiny &= active
    _drop_tiny(m, tiny, active)


def _drop_tiny(m: ClusterModel, tiny: np.ndarray, active: np.ndarray | None) -> None:
    """End the contracts marked ``tiny`` and drop them (with the inactive ones) in one compaction."""
    book = m.contracts
    if tiny.any():
        m.recorder.contract_events(m, "ended", np.flatnonzero(tiny))
    if active is not None:
        book.keep(active & ~tiny)
    elif tiny.any():
        book.keep(~tiny)


def run_tenders(m: ClusterModel, need: np.ndarray, spare: np.ndarray, review_all: bool = False) -> None:
    """Award open needs to qualified suppliers; ``spare`` (capacity left per firm) is updated in place.

    Buyers review imported needs with probability ``p_review`` a month (all of them at the start).
    For each category, hardest first, a buyer runs up to ``tender_rounds`` rounds: it draws
    candidates, ranks those that beat the import price by delivered cost, and awards in that order
    up to each one's spare capacity and at most ``max_share`` of the open need per supplier.
    """
    f, s = m.firms, m.sc.sourcing
    rng = m.rng_contracts
    open_need = need - m.contracts.per_pair(len(need), len(m.categories))
    review = review_all | (rng.random(open_need.shape) < s.p_review)
    open_need = np.where(review & f.alive[: len(need), None], open_need, 0.0)
    stream = RawStream(rng) if kernels.use_compiled() and RawStream.fits(rng) else None
    h_max = float(m.contracts.hist.max()) if len(m.contracts.hist) else 0.0  # records don't change in tenders
    wage, qualification = _wage_factor(m), _qualification(m)
    for c in np.argsort(-m.category_threshold, kind="stable"):
        left = open_need[:, c].copy()
        if not (left > s.min_tender_value).any():
            continue  # no buyer: the first round would stop before drawing
        qualified = qualification(int(c))  # tenders change no firm's qualification
        if not (qualified & (spare[: len(need)] > 1e-9)).any():
            continue  # no supplier: likewise
        cap_share = s.max_share * open_need[:, c]
        unit = unit_cost(m, m.categories[c].threshold, wage)
        rounds = s.initial_tender_rounds if review_all else s.tender_rounds
        if stream is not None:
            _tenders_compiled(m, int(c), rounds, unit, qualified, left, cap_share, spare, review_all, stream, h_max)
            continue
        for _ in range(rounds):
            buyers = np.flatnonzero(left > s.min_tender_value)
            pool = np.flatnonzero(qualified & (spare[: len(need)] > 1e-9))
            if not len(buyers) or not len(pool):
                break
            _tender_round(m, int(c), buyers, pool, unit, left, cap_share, spare, review_all)
    if stream is not None:
        stream.close()
        if stream.events:
            _log_events(m, *(np.concatenate(x) for x in zip(*stream.events, strict=True)))


def _tender_round(m: ClusterModel, c: int, buyers: np.ndarray, pool: np.ndarray, unit: np.ndarray,
                  left: np.ndarray, cap_share: np.ndarray, spare: np.ndarray, initial: bool) -> None:
    """One round of tenders for category ``c`` (eq. 3.3–3.4); updates ``left`` and ``spare``."""
    s, book, rng = m.sc.sourcing, m.contracts, m.rng_contracts
    awards = _awards(m, c, buyers, pool, unit, left, cap_share, spare)
    if awards is None:
        left[buyers] = 0.0  # nothing beat the import price: import the rest this month
        return
    bb, ss, vv = awards
    np.subtract.at(spare, ss, vv)
    np.maximum(spare, 0, out=spare)
    np.subtract.at(left, bb, vv)
    # a supplier that already holds a contract with this buyer for this category gets more volume on it
    pos = book.find(bb, ss, c)
    ext = pos >= 0
    if ext.any():
        np.add.at(book.value, pos[ext], vv[ext])
        m.recorder.contract_events(m, "extended", np.unique(pos[ext]))
    bb, ss, vv = bb[~ext], ss[~ext], vv[~ext]
    lo = 1 if initial else s.contract_months_min  # at the start, stagger ends so renewals spread out
    dur = rng.integers(lo, s.contract_months_max + 1, len(bb))
    book.add(bb, ss, np.full(len(bb), c), vv, m.month, m.month + dur)
    m.recorder.contract_events(m, "signed", np.arange(book.n - len(bb), book.n))


def _awards(m: ClusterModel, c: int, buyers: np.ndarray, pool: np.ndarray, unit: np.ndarray, left: np.ndarray,
            cap_share: np.ndarray, spare: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(buyer, supplier, value) awarded in a round, or None if nothing beat the import price.

    Each buyer draws candidates, ranks those that beat the import price by delivered cost, and asks
    each in turn for up to its spare capacity and ``max_share`` of the need; suppliers asked for
    more than their spare capacity scale every ask down in proportion.
    """
    f, s, book, rng = m.firms, m.sc.sourcing, m.contracts, m.rng_contracts
    cand = drop_duplicates(sample_by_location(rng, f.loc[buyers], pool, f.loc[pool], m.reach_weight[c], s.n_candidates))
    cand[cand == buyers[:, None]] = -1
    valid = cand >= 0
    cs = np.where(valid, cand, 0)
    b = np.broadcast_to(buyers[:, None], cand.shape)
    cost = unit[cs] * (1 + m.sc.economy.transport_cost_per_km * m.geo.km[f.loc[b], f.loc[cs]])
    foreign_buyer = f.foreign[b]
    credit = m.policy.local_credit[c][m.geo.province[f.loc[b]]]
    cost -= np.where(~f.foreign[cs] & foreign_buyer, credit * unit[cs], 0.0)
    cost -= np.where((f.coached_until[cs] >= m.month) & foreign_buyer, m.policy.matchmaking, 0.0)
    cost -= s.history_weight * book.history(b.ravel(), cs.ravel()).reshape(cand.shape)
    cost += s.score_noise * rng.gumbel(size=cand.shape)
    valid &= cost < (1 + m.sc.economy.import_markup) * (1 + m.policy.import_spike[c])
    order = np.argsort(np.where(valid, cost, np.inf), axis=1, kind="stable")
    win = np.take_along_axis(cand, order, 1)
    ok = np.take_along_axis(valid, order, 1)
    offer = np.where(ok, np.minimum(spare[np.where(ok, win, 0)], cap_share[buyers][:, None]), 0.0)
    before = np.cumsum(offer, axis=1) - offer
    ask = np.clip(left[buyers][:, None] - before, 0.0, offer)
    sup = np.where(ok, win, 0)
    asked = np.bincount(sup.ravel(), weights=ask.ravel(), minlength=len(spare))
    scale = np.where(asked > spare, spare / np.maximum(asked, 1e-12), 1.0)
    award = ask * scale[sup]
    keep = ok & (award > s.min_tender_value)
    if not keep.any():
        return None
    return b[keep], win[keep], award[keep]


def _tenders_compiled(m: ClusterModel, c: int, rounds: int, unit: np.ndarray, qualified: np.ndarray,
                      left: np.ndarray, cap_share: np.ndarray, spare: np.ndarray, initial: bool,
                      stream: RawStream, h_max: float) -> None:
    """A category's rounds of ``run_tenders`` in compiled calls (kernels.tender_rounds): the same
    awards, contracts, events and draws as ``_tender_round`` round by round."""
    f, s, book, geo = m.firms, m.sc.sourcing, m.contracts, m.geo
    k = s.n_candidates
    lo = 1 if initial else s.contract_months_min  # at the start, stagger ends so renewals spread out
    credit_of_loc = m.policy.local_credit[c][geo.province]
    limit = (1 + m.sc.economy.import_markup) * (1 + m.policy.import_spike[c])
    segments = book.pair_segments(f.n)
    stream.ensure(2 * (4 * int(np.count_nonzero(left > s.min_tender_value)) * k + 64))  # later rounds: fewer buyers
    r = 0
    while True:
        b = book._buf
        (base_keys, base_pos), (tail_keys, tail_pos) = book._ix["base"], book._ix["tail"]
        r, status, n_book, next_id, need, tag, pos, val = kernels.tender_rounds(
            c, r, rounds, k, s.min_tender_value, qualified, unit, cap_share, left, spare, f.loc, f.foreign,
            f.coached_until, credit_of_loc, m.month, float(m.policy.matchmaking), m.geo.km,
            m.sc.economy.transport_cost_per_km, s.history_weight, s.score_noise, limit, m.reach_weight[c],
            book.pair_keys, book.pair_ids, book.hist, h_max, book._key_base, segments, base_keys, base_pos,
            book.base_segments(f.n), tail_keys,
            tail_pos, b["cid"], b["buyer"], b["supplier"], b["cat"], b["value"], b["start"], b["end"], b["perf"],
            b["pair"], book.n, book.next_id, lo, s.contract_months_max - lo, stream.raw, stream.st)
        book.appended(n_book, next_id)
        stream.events.append((tag, pos, val))  # logged after the month's tenders (positions don't move)
        if status == 1:  # enough for a few more rounds (the draws left over serve the next category)
            stream.ensure(need * min(rounds - r, 6))
        elif status == 2:
            book.reserve(need)
        else:
            return


def _log_events(m: ClusterModel, tag: np.ndarray, pos: np.ndarray, val: np.ndarray) -> None:
    """Log a kernel's contract events in order, one recorder call per run of one kind, with the
    contract's value as at the event (a later round may extend a contract signed earlier)."""
    if not len(tag) or not m.recorder.enabled:
        return
    book = m.contracts
    rows = SimpleNamespace(**{name: getattr(book, name)[pos] for name in book.COLS})
    rows.value = val
    view = _WithBook(m, rows)
    kind = tag % 2
    cut = np.flatnonzero(kind[1:] != kind[:-1]) + 1
    for a, z in zip(np.concatenate(([0], cut)), np.concatenate((cut, [len(tag)])), strict=True):
        m.recorder.contract_events(view, "signed" if kind[a] else "extended", np.arange(a, z))


class _WithBook:
    """The model seen with another contract book (event rows), for ``Recorder.contract_events``."""

    def __init__(self, m: ClusterModel, contracts: SimpleNamespace) -> None:
        self._m = m
        self.contracts = contracts

    def __getattr__(self, name: str):
        return getattr(self._m, name)


class RawStream:
    """Raw 64-bit draws of a ``Generator(PCG64)`` for the compiled kernels, which turn them into the
    values NumPy would (kernels._random, _gumbel, _integer); ``close`` leaves the generator exactly as
    if NumPy had drawn them (the unused draws are put back)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.bitgen = rng.bit_generator
        self.start = self.bitgen.state
        self.raw = np.zeros(0, np.uint64)
        self.st = np.array([0, self.start["has_uint32"], self.start["uinteger"]], np.int64)
        self.used = 0  # draws consumed before raw[0]
        self.events: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # the kernels' contract events

    @staticmethod
    def fits(rng: np.random.Generator) -> bool:
        """Whether the kernels can replay this generator (PCG64 only)."""
        return rng.bit_generator.state.get("bit_generator") == "PCG64"

    def ensure(self, n: int) -> None:
        """At least ``n`` draws ready after the current position."""
        at = int(self.st[0])
        if len(self.raw) - at >= n:
            return
        more = self.bitgen.random_raw(max(n - (len(self.raw) - at), 4096))
        self.used += at
        self.raw = np.concatenate((self.raw[at:], more))
        self.st[0] = 0

    def close(self) -> None:
        """Set the generator to its start advanced by the draws used (and the half-used 32-bit draw)."""
        self.bitgen.state = self.start
        self.bitgen.advance(self.used + int(self.st[0]))
        state = self.bitgen.state
        state["has_uint32"], state["uinteger"] = int(self.st[1]), int(self.st[2])
        self.bitgen.state = state


def deliver(m: ClusterModel, cap: np.ndarray | None = None) -> np.ndarray:
    """Suppliers deliver what their capacity (``cap``: effective capacity) allows; returns delivered
    value per contract."""
    f, book = m.firms, m.contracts
    cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity) if cap is None else cap
    if kernels.use_compiled():
        committed, share, delivered = kernels.deliver_shares(book.supplier, book.value, book.perf, cap)
        f.deliver_share[: f.n] = share
        f.committed[: f.n] = committed
        return delivered
    committed = np.bincount(book.supplier, weights=book.value, minlength=f.n)
    share = np.where(committed > 0, np.minimum(1.0, cap / np.maximum(committed, 1e-12)), 1.0)
    f.deliver_share[: f.n] = share
    f.committed[: f.n] = committed
    delivered = book.value * share[book.supplier]
    book.perf[:] = 0.7 * book.perf + 0.3 * share[book.supplier]
    return delivered


def component_needs(m: ClusterModel) -> np.ndarray:
    """Value each firm needs per category this month (VND bn): lead firms' output × bill of
    materials; suppliers' last output × their input share × the supplier input mix (eq. 2.1)."""
    f, s = m.firms, m.sc.sourcing
    n = f.n
    alive = f.alive[:n]
    lead = (f.kind[:n] == LEAD) & alive
    lead_out = np.minimum(f.base_output[:n] * f.demand_mult[:n], f.effective_capacity(m.sc.labour.labour_tech_elasticity))
    need = np.where(lead[:, None], lead_out[:, None] * m.bom[f.sector[:n]], 0.0)
    sup = ~lead & alive
    need += np.where(sup[:, None], (s.supplier_input_share * f.output[:n])[:, None] * m.supplier_bom[None, :], 0.0)
    return need


def run_demand_phase(m: ClusterModel) -> None:
    """Phase 2: lead firms' demand path (trend × AR(1) shock) and every firm's component needs."""
    e = m.sc.economy
    m.demand_shock = e.demand_persistence * m.demand_shock + e.demand_volatility * m.rng_demand.standard_normal()
    trend = (1 + e.export_growth) ** (m.month / 12) * np.exp(m.demand_shock)
    f = m.firms
    f.demand_mult[: f.n] *= trend
    lead = f.kind[: f.n] == LEAD
    # lead firms' parents add plant capacity as demand requires (workers remain the constraint)
    f.capacity[: f.n] = np.where(lead, np.maximum(f.capacity[: f.n], f.base_output[: f.n] * f.demand_mult[: f.n]),
                                 f.capacity[: f.n])
    m.need = component_needs(m)


def run_sourcing_phase(m: ClusterModel, initial: bool = False) -> None:
    """Phase 3: renew or end, fit contracts to needs, tender open needs, deliver, import the rest."""
    f, book = m.firms, m.contracts
    n = f.n
    active = None if initial else renew_or_end(m, compact=False)
    fit_to_needs(m, m.need, active)  # one compaction drops ended and too-small contracts
    cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity)
    committed = np.bincount(book.supplier, weights=book.value, minlength=n)
    spare = np.maximum(cap - committed, 0.0) * (f.alive[:n] & (f.kind[:n] != LEAD))
    run_tenders(m, m.need, spare, review_all=initial)
    m.delivered = deliver(m, cap)  # no firm's capacity changes in this phase
    book.update_history(m.sc.sourcing.history_decay)
    m.policy.account_local_credit(m, m.delivered)
    _sourcing_stats(m, cap)


def _sourcing_stats(m: ClusterModel, cap: np.ndarray | None = None) -> None:
    """Where lead firms' inputs came from this month (for the indicators); ``cap``: effective capacity."""
    f, book = m.firms, m.contracts
    n = f.n
    if kernels.use_compiled():
        got, from_dom, dom_buyer, from_fdi = kernels.lead_sourcing(
            book.buyer, book.supplier, book.cat, m.delivered, f.kind[:n] == LEAD, f.foreign[:n], n, len(m.categories))
    else:
        lead_buy = f.kind[book.buyer] == LEAD
        dom = lead_buy & ~f.foreign[book.supplier]
        fsup = lead_buy & f.foreign[book.supplier]
        got = np.bincount(book.buyer * len(m.categories) + book.cat, weights=m.delivered,
                          minlength=n * len(m.categories)).reshape(n, len(m.categories))
        from_dom, dom_buyer, from_fdi = m.delivered[dom], book.buyer[dom], m.delivered[fsup]
    m.imports = np.maximum(m.need - got, 0.0)
    lead = (f.kind[:n] == LEAD) & f.alive[:n]
    if cap is None:
        cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity)
    lead_out = np.minimum(f.base_output[:n] * f.demand_mult[:n], cap) * lead
    prov = m.geo.province[f.loc[:n]]
    n_p = len(m.geo.provinces)
    m.stats.update(
        lead_output=float(lead_out.sum()), lead_inputs=float(m.need[lead].sum()),
        lead_from_domestic=float(from_dom.sum()), lead_from_fdi_suppliers=float(from_fdi.sum()),
        lead_imports=float(m.imports[lead].sum()),
        lead_output_by_province=np.bincount(prov, weights=lead_out, minlength=n_p),
        lead_from_domestic_by_province=np.bincount(prov[dom_buyer], weights=from_dom, minlength=n_p))
