"""The columnar firm table: one NumPy array per attribute, one row per firm (ODD §2).

Rows are never reused: a firm that exits keeps its row with ``alive = False`` so that ids,
contracts and flows stay valid. Arrays grow by doubling when firms enter.
"""

from __future__ import annotations

import numpy as np

LEAD, SUPPLIER, SME = 0, 1, 2
KIND_NAMES = ("fdi_lead", "fdi_supplier", "domestic_sme")
N_SKILLS = 3


class FirmTable:
    """Hot state of every firm. ``n`` rows are in use; arrays have spare capacity beyond ``n``."""

    FLOAT = ("tech", "tech0", "capacity", "labour_coef", "cash", "base_output", "demand_mult", "output",
             "sales_contract", "sales_other", "revenue", "profit", "rd_spend", "land_ha", "committed",
             "deliver_share", "wage_tech", "debt", "instalment")
    INT = ("kind", "sector", "loc", "loss_months", "parent", "coached_until", "entry_step", "uni_partner",
           "agent_id")
    BOOL = ("foreign", "alive", "certified", "pollutes")

    def __init__(self, n_categories: int, capacity: int = 1024):
        self.n = 0
        self.n_categories = n_categories
        self._cap = 0
        self.names: list[str] = []
        self._alloc(capacity)

    def _alloc(self, cap: int) -> None:
        old = self._cap
        for name in self.FLOAT:
            self._grow(name, (cap,), np.float64, 0.0, old)
        for name in self.INT:
            self._grow(name, (cap,), np.int64, -1 if name in ("parent", "uni_partner", "agent_id") else 0, old)
        for name in self.BOOL:
            self._grow(name, (cap,), bool, False, old)
        self._grow("caps", (cap, self.n_categories), bool, False, old)
        self._grow("workers", (cap, N_SKILLS), np.int64, 0, old)
        self._grow("skill_mix", (cap, N_SKILLS), np.float64, 0.0, old)
        self._cap = cap

    def _grow(self, name: str, shape: tuple, dtype: type, fill: object, old: int) -> None:
        new = np.full(shape, fill, dtype=dtype)
        if old:
            new[:old] = getattr(self, name)[:old]
        setattr(self, name, new)

    def add(self, count: int, **columns: np.ndarray) -> np.ndarray:
        """Append ``count`` rows with the given column values; return their row indices."""
        if self.n + count > self._cap:
            self._alloc(max(self._cap * 2, self.n + count))
        rows = np.arange(self.n, self.n + count)
        for name, values in columns.items():
            getattr(self, name)[rows] = values
        self.alive[rows] = True
        self.n += count
        return rows

    def view(self, name: str) -> np.ndarray:
        """The in-use part of a column (a view: writes go to the table)."""
        return getattr(self, name)[: self.n]

    @property
    def employees(self) -> np.ndarray:
        """Workers of each firm (all skills); the columns added one by one, far faster than ``sum(axis=1)``."""
        w = self.workers[: self.n]
        return w[:, 0] + w[:, 1] + w[:, 2]

    def labour_need_per_output(self, elasticity: float) -> np.ndarray:
        """Workers per VND bn/month of output; falls as τ rises above its starting level."""
        n = self.n
        return self.labour_coef[:n] * ((1 + self.tech0[:n]) / (1 + self.tech[:n])) ** elasticity

    def effective_capacity(self, elasticity: float) -> np.ndarray:
        """Output a firm can make this month: the lesser of plant capacity and what its workers make."""
        coef = self.labour_need_per_output(elasticity)
        return np.minimum(self.capacity[: self.n], self.employees / np.maximum(coef, 1e-12))
