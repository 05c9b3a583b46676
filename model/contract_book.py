"""The contract book: active supply contracts as columns, their look-up index and relationship records.

Sourcing (model/contracts.py, ODD §7.3) reads and writes contracts only through ``ContractBook``.
"""

from __future__ import annotations

import numpy as np

from model import kernels
from model.tender_kernel import filter_add, filter_layout, key_segments

HISTORY_GAIN = 0.1  # share of the gap to a full record closed per month of good delivery
HISTORY_FLOOR = 1e-3  # a record faded to this or below counts as none
_NONE = np.zeros(0, np.int64)  # no per-owner starts to keep current
FILTER_BITS_PER_PAIR = 16  # a buyer's region of the pair filter has 16-32 bits a pair when it is laid out ...
FILTER_REGROW = 1.5  # ... and the filter is laid out afresh when the pairs or the firms have grown by half since


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
        # (each the in-use part of a buffer with room to grow, as are the contract columns)
        self._pair_buf = (np.zeros(4096, dtype=np.int64), np.zeros(4096, dtype=np.int64))
        self.pair_keys, self.pair_ids = (buf[:0] for buf in self._pair_buf)
        self._hist_buf = np.zeros(4096, dtype=np.float64)
        self.hist = self._hist_buf[:0]
        # the pair filter (see pair_filter_for): its words, and each buyer's region as first word and shift
        self.pair_filter, self.filter_start, self.filter_shift = np.zeros(0, np.uint64), np.zeros(1, np.int64), \
            np.zeros(0, np.uint64)
        self._filter_pairs = 0  # pairs on file when it was laid out
        self._scratch = np.zeros(0)  # see scratch
        # per-buyer starts (pair_segments, base_segments), each as (the table they are of, starts for
        # owners with room to spare), kept current as pairs join and base entries leave
        self._segments: tuple[np.ndarray, np.ndarray] | None = None
        self._base_seg: tuple[np.ndarray, np.ndarray] | None = None
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
        """Take in contracts a compiled kernel wrote into the buffers from position ``n`` to ``n_book``.

        They join the key index at ``index_from``; until then ``find`` and the kernels' look-ups do
        not see them (the tender kernel tracks its own, see tender_kernel.tender_rounds).
        """
        self.n, self.next_id = n_book, next_id
        self._rebind()

    def index_from(self, first: int) -> None:
        """Add the contracts from book position ``first`` on to the key index."""
        new = np.arange(first, self.n)
        self._index_add(self._key3(self.buyer[new], self.supplier[new], self.cat[new]), new)

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
        if kernels.use_compiled():
            self.drop(np.flatnonzero(~mask))
            return
        k = int(np.count_nonzero(mask))
        if k == self.n:
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

    def drop(self, pos: np.ndarray) -> None:
        """Drop the contracts at book positions ``pos`` (sorted, distinct)."""
        if not len(pos):
            return
        if not kernels.use_compiled():
            mask = np.ones(self.n, bool)
            mask[pos] = False
            self.keep(mask)
            return
        # one pass over the columns and the indexes, in place
        ints = tuple(self._buf[c] for c, t in self.COLS.items() if t is np.int64)
        floats = tuple(self._buf[c] for c, t in self.COLS.items() if t is np.float64)
        parts = [(np.ascontiguousarray(keys), np.ascontiguousarray(at)) for keys, at in self._ix.values()]
        seg = self._base_seg[1] if self._base_seg is not None and self._base_seg[0] is self._ix["base"][0] else _NONE
        sizes = kernels.compact_book(pos.astype(np.int64, copy=False), self.n, ints, floats, tuple(parts), seg,
                                     self._key_base * 64)
        self._ix = {part: (keys[:z], at[:z]) for part, (keys, at), z in zip(self._ix, parts, sizes, strict=True)}
        if len(seg):  # the base's starts were kept current
            self._base_seg = (self._ix["base"][0], seg)
        self.n -= len(pos)
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
        if kernels.use_compiled():  # look-ups and the table's merge in one pass, in place
            keys = buyer.astype(np.int64) * self._key_base + supplier
            order = np.argsort(keys, kind="stable")
            n = len(self.pair_keys)
            key_buf, id_buf = self._pair_buf
            if n + len(keys) > len(key_buf) or self.pair_keys.base is not key_buf or self.pair_ids.base is not id_buf:
                size = max(len(key_buf) * 3 // 2, n + len(keys))
                self._pair_buf = key_buf, id_buf = np.zeros(size, np.int64), np.zeros(size, np.int64)
                key_buf[:n], id_buf[:n] = self.pair_keys, self.pair_ids
            seg = self._segments[1] if self._segments is not None and self._segments[0] is self.pair_keys else _NONE
            sorted_ids, n_new = kernels.file_pairs(key_buf, id_buf, n, keys[order], len(self.hist), seg,
                                                   self._key_base)
            if n_new:
                self.pair_keys, self.pair_ids = key_buf[: n + n_new], id_buf[: n + n_new]
                self._add_records(n_new)
                self._segments = (self.pair_keys, seg) if len(seg) else None  # the starts were kept current
                filter_add(self.pair_filter, self.filter_start, self.filter_shift, keys, self._key_base)
            ids = np.empty(len(keys), np.int64)
            ids[order] = sorted_ids
            return ids
        ids = self._pair_ids_of(buyer, supplier)
        miss = ids < 0
        if miss.any():
            keys = buyer[miss].astype(np.int64) * self._key_base + supplier[miss]
            uk, inv = np.unique(keys, return_inverse=True)
            new_ids = np.arange(len(self.hist), len(self.hist) + len(uk))
            self._add_records(len(uk))
            self.pair_keys, self.pair_ids = _merge_sorted(self.pair_keys, self.pair_ids, uk, new_ids)
            self._segments = None
            filter_add(self.pair_filter, self.filter_start, self.filter_shift, uk, self._key_base)
            ids[miss] = new_ids[inv]
        return ids

    def pair_filter_for(self, n_firms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pair filter, laid out afresh first if the pairs or the firms have outgrown it: (words,
        each buyer's first word, each buyer's shift), as the tender kernel reads it.

        ``pair_filter`` is a one-hash Bloom filter over ``pair_keys`` in which each buyer has a region
        of its own (tender_kernel.filter_layout: 16-32 bits for each of its pairs when laid out), so
        the tender kernel skips the search of a buyer's pairs for the ~99 % of candidates it has no
        record with, and a buyer's candidates probe one or a few cache lines, not the whole filter
        (which, at 100k firms, is several times the core's cache). A few per cent of the others pass
        it too and are searched as before. Pairs never leave the table, so bits are only ever set;
        buyers newer than the layout are not covered, and their pairs are always searched.
        """
        n_pairs, covered = len(self.pair_keys), len(self.filter_shift)
        if n_pairs > FILTER_REGROW * self._filter_pairs or n_firms > FILTER_REGROW * covered:
            self.filter_start, self.filter_shift = filter_layout(self.pair_segments(n_firms), FILTER_BITS_PER_PAIR)
            self.pair_filter = np.zeros(self.filter_start[-1], np.uint64)
            filter_add(self.pair_filter, self.filter_start, self.filter_shift, self.pair_keys, self._key_base)
            self._filter_pairs = n_pairs
        return self.pair_filter, self.filter_start, self.filter_shift

    def scratch(self, size: int) -> np.ndarray:
        """Work space of at least ``size`` float64 (contents undefined) for the book's kernels, kept
        between months: a fresh array of this size every month costs more than the pass using it."""
        if len(self._scratch) < size:
            self._scratch = np.zeros(max(size, len(self._scratch) * 3 // 2))
        return self._scratch

    def _add_records(self, k: int) -> None:
        """Records of 0 for ``k`` new pair ids (``hist`` grows within its buffer, by 1.5x when full)."""
        n = len(self.hist)
        if n + k > len(self._hist_buf):
            buf = np.zeros(max(len(self._hist_buf) * 3 // 2, n + k))
            buf[:n] = self.hist
            self._hist_buf = buf
        self._hist_buf[n : n + k] = 0.0
        self.hist = self._hist_buf[: n + k]

    def base_segments(self, n_firms: int) -> np.ndarray:
        """Where each buyer's entries start in the base key index (length n_firms + 1): look-ups search
        a buyer's few entries, not the whole base. Kept current through compactions (``drop``)."""
        self._base_seg = _segments_of(self._ix["base"][0], self._base_seg, n_firms, self._key_base * 64)
        return self._base_seg[1][: n_firms + 1]

    def pair_segments(self, n_firms: int) -> np.ndarray:
        """Where each buyer's pairs start in ``pair_keys`` (length n_firms + 1). Kept current as pairs
        are filed."""
        if not kernels.use_compiled():
            return np.searchsorted(self.pair_keys, np.arange(n_firms + 1, dtype=np.int64) * self._key_base)
        self._segments = _segments_of(self.pair_keys, self._segments, n_firms, self._key_base)
        return self._segments[1][: n_firms + 1]

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
            kernels.history_update(self.pair, self.perf, self.hist, 1.0 - decay, HISTORY_GAIN, HISTORY_FLOOR,
                                   self.scratch(2 * len(self.hist)))
            return
        self.hist *= 1.0 - decay
        if self.n:
            count = np.bincount(self.pair, minlength=len(self.hist))
            act = np.flatnonzero(count)
            perf = np.bincount(self.pair, weights=self.perf, minlength=len(self.hist))[act] / count[act]
            self.hist[act] += (1 - self.hist[act]) * HISTORY_GAIN * perf
        self.hist[self.hist <= HISTORY_FLOOR] = 0.0

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


def _segments_of(keys: np.ndarray, cached: tuple[np.ndarray, np.ndarray] | None, n_firms: int,
                 per: int) -> tuple[np.ndarray, np.ndarray]:
    """``cached`` (keys, starts) if it is of these ``keys`` and covers ``n_firms`` owners, else the
    starts computed afresh (one sequential pass), with room for an eighth more owners."""
    if cached is not None and cached[0] is keys and len(cached[1]) >= n_firms + 1:
        return cached
    return keys, key_segments(keys, n_firms + max(64, n_firms // 8), per)


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
