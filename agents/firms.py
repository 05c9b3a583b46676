"""Firm agents: FDI lead firms and suppliers, domestic SMEs.

The state lives in ``model.firms`` (a ``FirmTable``); an agent is the readable handle to its row,
so Mesa idioms (``model.agents_by_type``, ``AgentSet.select``) work while mechanisms stay
vectorised over columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from model.firms import KIND_NAMES, LEAD

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel


class Firm(mesa.Agent):
    """Base handle to one row of the firm table."""

    model: ClusterModel

    def __init__(self, model: ClusterModel, row: int):
        super().__init__(model)
        self.row = row

    @property
    def name(self) -> str:
        return self.model.firms.names[self.row]

    @property
    def kind(self) -> str:
        return KIND_NAMES[self.model.firms.kind[self.row]]

    @property
    def alive(self) -> bool:
        return bool(self.model.firms.alive[self.row])

    @property
    def tech(self) -> float:
        """Technology level τ relative to the world frontier (0–1)."""
        return float(self.model.firms.tech[self.row])

    @tech.setter
    def tech(self, value: float) -> None:
        self.model.firms.tech[self.row] = min(max(value, 0.0), 1.0)

    @property
    def employees(self) -> int:
        return int(self.model.firms.workers[self.row].sum())

    @property
    def workers(self) -> dict[str, int]:
        ops, techs, engs = self.model.firms.workers[self.row]
        return {"operator": int(ops), "technician": int(techs), "engineer": int(engs)}

    @property
    def output(self) -> float:
        """VND bn this month."""
        return float(self.model.firms.output[self.row])

    @property
    def cash(self) -> float:
        return float(self.model.firms.cash[self.row])

    @property
    def location(self) -> str:
        return self.model.geo.ids[self.model.firms.loc[self.row]]

    @property
    def province(self) -> str:
        return self.model.geo.provinces[self.model.geo.province[self.model.firms.loc[self.row]]]

    @property
    def sector(self) -> str:
        return self.model.sector_ids[self.model.firms.sector[self.row]]

    @property
    def capabilities(self) -> list[str]:
        """Component categories the firm can make."""
        caps = self.model.firms.caps[self.row]
        return [c for c, ok in zip(self.model.category_ids, caps, strict=True) if ok]

    def suppliers(self) -> list[int]:
        """Agent ids of the firm's current suppliers."""
        return self.model.contracts.partners(self.row, as_buyer=True)

    def customers(self) -> list[int]:
        """Agent ids of the firm's current customers."""
        return self.model.contracts.partners(self.row, as_buyer=False)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.unique_id} {self.name!r} τ={self.tech:.2f} L={self.employees}>"


class FDIFirm(Firm):
    """A foreign lead firm (assembler) or a foreign tier-1 supplier that followed one."""

    @property
    def is_lead(self) -> bool:
        return bool(self.model.firms.kind[self.row] == LEAD)


class DomesticSME(Firm):
    """A Vietnamese-owned supplier or would-be supplier."""

    @property
    def certified(self) -> bool:
        return bool(self.model.firms.certified[self.row])
