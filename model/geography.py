"""Places, road distances and commuting catchments as arrays (ODD §2, §7.1).

Firms sit at locations (parks, clusters, outside-park places); labour pools are districts.
Distances are road km: haversine × road factor, replaced by given district-to-district figures,
and shortened by road upgrades during a run.
"""

from __future__ import annotations

import numpy as np

from model.scenario import Scenario

KINDS = ("kcn", "ccn", "hitech", "outside")
EARTH_KM = 6371.0
MIN_KM = 2.0  # two firms in the same place are still a short drive apart


def month_index(ym: str, start: str) -> int:
    """Months from ``start`` to ``ym`` (both "YYYY-MM"); the start month is 0."""
    y, m = int(ym[:4]), int(ym[5:7])
    y0, m0 = int(start[:4]), int(start[5:7])
    return (y - y0) * 12 + (m - m0)


def month_label(index: int, start: str) -> str:
    """Inverse of ``month_index``."""
    y0, m0 = int(start[:4]), int(start[5:7])
    total = y0 * 12 + (m0 - 1) + index
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle km between points (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


class Geography:
    """Array view of the scenario's geography; the model owns one and mutates areas and roads."""

    def __init__(self, sc: Scenario):
        g = sc.geography
        self.provinces = list(g.provinces)
        self.district_ids = [d.id for d in g.districts]
        d_index = {d: i for i, d in enumerate(self.district_ids)}
        self.district_names = [d.name for d in g.districts]
        self.district_province = np.array([self.provinces.index(d.province) for d in g.districts])
        self.district_lat = np.array([d.lat for d in g.districts])
        self.district_lon = np.array([d.lon for d in g.districts])
        self.working_age = np.array([d.working_age for d in g.districts], dtype=float)

        locs = g.locations
        self.ids = [loc.id for loc in locs]
        self.index = {loc_id: i for i, loc_id in enumerate(self.ids)}
        self.names = [loc.name for loc in locs]
        self.kind = np.array([KINDS.index(loc.kind) for loc in locs])
        self.district = np.array([d_index[loc.district] for loc in locs])
        self.province = self.district_province[self.district]
        self.lat = np.array([loc.lat if loc.lat is not None else self.district_lat[d_index[loc.district]] for loc in locs])
        self.lon = np.array([loc.lon if loc.lon is not None else self.district_lon[d_index[loc.district]] for loc in locs])
        self.area = np.array([loc.area_ha for loc in locs], dtype=float)
        self.occupied = np.array([loc.occupied_ha for loc in locs], dtype=float)
        self.opens = np.array([month_index(loc.opens, sc.start) for loc in locs])
        self.clean_only = np.array([loc.clean_only for loc in locs])
        sector_ids = [s.id for s in sc.sectors]
        self.allows_sector = np.ones((len(locs), len(sector_ids)), dtype=bool)
        for i, loc in enumerate(locs):
            if loc.sectors:
                self.allows_sector[i] = [s in loc.sectors for s in sector_ids]
        self.blocked = np.zeros(len(locs), dtype=bool)  # parks a policy forbids to open

        self.road_factor = g.road_factor
        base = haversine_km(self.lat[:, None], self.lon[:, None], self.lat[None, :], self.lon[None, :]) * g.road_factor
        dd = haversine_km(self.district_lat[:, None], self.district_lon[:, None],
                          self.district_lat[None, :], self.district_lon[None, :]) * g.road_factor
        for o in g.distances:
            a, b = d_index[o.a], d_index[o.b]
            # scale every location pair between the two districts to the given road km (districts drawn
            # at one point have no estimate to scale: their places are then the given km apart)
            pair = (self.district[:, None] == a) & (self.district[None, :] == b)
            pair |= pair.T
            base = np.where(pair, base * (o.km / dd[a, b]) if dd[a, b] > 1e-6 else o.km, base)
            dd[a, b] = dd[b, a] = o.km
        self.km = np.maximum(base, MIN_KM)
        np.fill_diagonal(self.km, MIN_KM)
        self.district_km = dd
        self.km_hanoi = haversine_km(self.lat, self.lon, g.hanoi.lat, g.hanoi.lon) * g.road_factor
        self.km_port = haversine_km(self.lat, self.lon, g.port.lat, g.port.lon) * g.road_factor
        self.commute_km = sc.labour.commute_km
        self._refresh_reach()

    def _refresh_reach(self) -> None:
        """Location→district commuting reach, measured between district points (road km)."""
        self.reach = self.district_km[self.district] <= self.commute_km
        self.reach[np.arange(len(self.ids)), self.district] = True  # a place always draws on its own district

    def upgrade_road(self, district_a: str, district_b: str, factor: float) -> None:
        """Shorten every route between two districts by ``factor``."""
        a, b = self.district_ids.index(district_a), self.district_ids.index(district_b)
        pair = (self.district[:, None] == a) & (self.district[None, :] == b)
        pair |= pair.T
        self.km = np.where(pair, np.maximum(self.km * factor, MIN_KM), self.km)
        self.district_km[a, b] *= factor
        self.district_km[b, a] = self.district_km[a, b]
        self._refresh_reach()

    def admits(self, sector: int | np.ndarray, pollutes: bool | np.ndarray) -> np.ndarray:
        """Which places a firm of ``sector`` may sit in: those whose sector list allows it, and, for a
        polluting firm, those that are not clean-only (given arrays, one row per firm)."""
        sector, pollutes = np.asarray(sector), np.asarray(pollutes)
        return self.allows_sector[:, sector].T & ~(self.clean_only[None, :] & pollutes[..., None]) if sector.ndim \
            else self.allows_sector[:, sector] & ~(self.clean_only & pollutes)

    def is_open(self, step: int) -> np.ndarray:
        """Locations open for firms at month index ``step`` (outside-park places always are)."""
        return ((self.opens <= step) & ~self.blocked) | (self.kind == KINDS.index("outside"))

    def free_ha(self, step: int) -> np.ndarray:
        """Free park land (ha); outside-park places have unlimited room."""
        free = np.where(self.kind == KINDS.index("outside"), np.inf, self.area - self.occupied)
        return np.where(self.is_open(step), np.maximum(free, 0.0), 0.0)
