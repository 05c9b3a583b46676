"""Approximate province outlines for the offline map (no tile service).

The outlines are simple polygons drawn by hand for orientation only: their vertices follow the
district points of ``scenarios/geography/north_vietnam.yaml`` (every district and park falls in
its own province) and the provinces' general shape and extent as on the GSO administrative map
(Thái Nguyên 21.3–22.05°N, Hà Nội 20.55–21.4°N, Bắc Giang 21.1–21.65°N, Bắc Ninh 20.97–21.27°N).
Shared borders use the same vertices, so neighbouring provinces do not overlap. They are not
survey boundaries; the map's help text says so.
"""

from __future__ import annotations

# (lat, lon) vertices; shared border points are named once and reused.
_TRI_TN_BG_HN = (21.36, 105.92)
_TRI_HN_BG_BN = (21.22, 105.93)
_TRI_HN_BN_S = (20.98, 106.02)
_HN_BG = [(21.30, 105.90)]
_TN_HN = [(21.38, 105.80), (21.33, 105.72)]
_TN_BG = [(21.40, 105.98), (21.46, 106.05), (21.55, 106.10)]
_BG_BN = [(21.225, 106.00), (21.215, 106.08), (21.19, 106.15), (21.17, 106.19), (21.14, 106.25),
          (21.10, 106.31)]
_HN_BN = [(21.13, 105.93), (21.05, 105.95)]


def _rev(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return list(reversed(points))


PROVINCE_OUTLINES: dict[str, list[tuple[float, float]]] = {
    "Thái Nguyên": [_TRI_TN_BG_HN, *_TN_HN, (21.35, 105.65), (21.45, 105.52), (21.65, 105.48),
                    (21.85, 105.55), (22.05, 105.75), (22.02, 106.00), (21.85, 106.20), (21.70, 106.20),
                    *_rev(_TN_BG)],
    "Hà Nội": [_TRI_TN_BG_HN, *_TN_HN, (21.22, 105.62), (21.18, 105.45), (21.25, 105.35),
               (21.12, 105.28), (20.95, 105.30), (20.80, 105.45), (20.60, 105.62), (20.56, 105.78),
               (20.70, 105.92), (20.85, 105.98), _TRI_HN_BN_S, *_rev(_HN_BN), _TRI_HN_BG_BN, *_HN_BG],
    "Bắc Giang": [_TRI_TN_BG_HN, *_rev(_HN_BG), _TRI_HN_BG_BN, *_BG_BN, (21.12, 106.45), (21.08, 106.65),
                  (21.15, 106.85), (21.30, 107.00), (21.45, 106.95), (21.60, 106.75), (21.62, 106.45),
                  (21.62, 106.25), *_rev(_TN_BG)],
    "Bắc Ninh": [_TRI_HN_BG_BN, *_BG_BN, (21.00, 106.25), (20.97, 106.10), _TRI_HN_BN_S, *_rev(_HN_BN)],
}

# where the province name is written on the map (lat, lon)
PROVINCE_LABELS: dict[str, tuple[float, float]] = {
    "Thái Nguyên": (21.80, 105.70),
    "Hà Nội": (20.88, 105.55),
    "Bắc Giang": (21.50, 106.45),
    "Bắc Ninh": (21.01, 106.19),
}

PROVINCE_COLOURS: dict[str, str] = {
    "Thái Nguyên": "#eef3e2",
    "Bắc Giang": "#e3eef6",
    "Bắc Ninh": "#f6ebe1",
    "Hà Nội": "#efe6f2",
}

# the map's extent (lon_min, lon_max, lat_min, lat_max)
EXTENT = (105.30, 106.70, 20.78, 21.88)
