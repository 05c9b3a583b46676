"""Universities and training centres: graduates by skill, quality, partnerships with firms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel


class Institution(mesa.Agent):
    """Handle to one row of the model's institution arrays (``model.inst``)."""

    model: ClusterModel

    def __init__(self, model: ClusterModel, row: int):
        super().__init__(model)
        self.row = row

    @property
    def name(self) -> str:
        return self.model.inst.names[self.row]

    @property
    def graduates_per_year(self) -> dict[str, float]:
        ops, techs, engs = self.model.inst.graduates[self.row]
        return {"operator": float(ops), "technician": float(techs), "engineer": float(engs)}

    @property
    def quality(self) -> float:
        return float(self.model.inst.quality[self.row])

    @property
    def location(self) -> str:
        return self.model.geo.ids[self.model.inst.loc[self.row]]

    def partners(self) -> list[int]:
        """Agent ids of partner firms."""
        f = self.model.firms
        rows = (f.uni_partner[: f.n] == self.row) & f.alive[: f.n]
        return f.agent_id[: f.n][rows].tolist()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.unique_id} {self.name!r}>"


class University(Institution):
    """Trains engineers (and some technicians) and collaborates on research with partner firms."""


class TrainingCentre(Institution):
    """A vocational college: trains operators and technicians; dual-training links to firms."""
