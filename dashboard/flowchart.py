"""Labour flows between ownership types as a two-column flow (Sankey) chart.

Like the other playback charts, the figure (axes, column headings, footnote) is drawn once per run,
language and option; a frame only redraws the bands, the bars and their labels over it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection

from dashboard.charts import NOTE_STYLE, OWNER_COLOURS, Blit, Chart, Tr, _cached, new_figure, rgba
from dashboard.frames import OWNER_CATS, RunIndex

FLOW_X = (0.27, 0.69)  # left edges of the left and right node bars (bars 0.04 wide)
BAR = 0.04
GAP = 0.04
_T = np.linspace(0, 1, 30)
_S = _T * _T * (3 - 2 * _T)  # smoothstep
_BAND_X = FLOW_X[0] + BAR + (FLOW_X[1] - FLOW_X[0] - BAR) * _T
CAT_RGBA = rgba([OWNER_COLOURS[c] for c in OWNER_CATS])


def _band(y0l: float, y1l: float, y0r: float, y1r: float) -> np.ndarray:
    """The outline of one band from the left bar to the right bar."""
    top = y1l + (y1r - y1l) * _S
    bot = y0l + (y0r - y0l) * _S
    return np.c_[np.r_[_BAND_X, _BAND_X[::-1]], np.r_[top, bot[::-1]]]


def _flows_static(tr: Tr, firms_only: bool) -> Blit:
    fig = new_figure()
    ax = fig.add_axes((0.02, 0.08, 0.96, 0.78))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.text(FLOW_X[0] + BAR / 2, 1.04, tr("flow.from"), fontsize=10.5, fontweight="bold", ha="center")
    ax.text(FLOW_X[1] + BAR / 2, 1.04, tr("flow.to"), fontsize=10.5, fontweight="bold", ha="center")
    moving = {"bands": PolyCollection([], alpha=0.45, linewidths=0), "bars": PolyCollection([], linewidths=0),
              "none": ax.text(0.5, 0.5, tr("flow.none"), ha="center", va="center", fontsize=12),
              "title": fig.text(0.5, 0.955, "", ha="center", fontsize=14),
              "note": fig.text(0.01, 0.015, "", **NOTE_STYLE)}
    for side, x, ha in (("l", FLOW_X[0] - 0.01, "right"), ("r", FLOW_X[1] + BAR + 0.01, "left")):
        for k in range(len(OWNER_CATS)):
            moving[f"{side}{k}"] = ax.text(x, 0.5, "", ha=ha, va="center", fontsize=10)
    ax.add_collection(moving["bands"])
    ax.add_collection(moving["bars"])
    return Blit(fig, moving)


def draw_flows(idx: RunIndex, step: int, tr: Tr, firms_only: bool = False) -> Chart:
    """Workers moving between FDI firms, domestic firms and the labour pool in the month."""
    blit = _cached(idx, ("flows", tr("app.lang"), firms_only), lambda: _flows_static(tr, firms_only))
    cube = idx.flows_firms if firms_only else idx.flows_all
    m = cube[min(max(step, 0), cube.shape[0] - 1)]
    rows, bands, band_colours, bars, bar_colours = [], [], [], [], []
    labels: dict[str, tuple[float, str] | None] = {f"{s}{k}": None for s in "lr" for k in range(len(OWNER_CATS))}
    if m.sum() > 0:
        left, right = m.sum(axis=1), m.sum(axis=0)
        scale = (1 - GAP * (max((left > 0).sum(), (right > 0).sum()) - 1)) / m.sum()

        def stack(sizes: np.ndarray) -> np.ndarray:
            return 1 - np.r_[0, np.cumsum(sizes * scale + GAP * (sizes > 0))][:-1]

        ltop, rtop = stack(left), stack(right)
        lcur, rcur = ltop.copy(), rtop.copy()
        for i, src in enumerate(OWNER_CATS):
            for j, dst in enumerate(OWNER_CATS):
                if m[i, j] <= 0:
                    continue
                h = m[i, j] * scale
                bands.append(_band(lcur[i] - h, lcur[i], rcur[j] - h, rcur[j]))
                band_colours.append(CAT_RGBA[i])
                lcur[i] -= h
                rcur[j] -= h
                rows.append({"month": idx.date(step), "from": src, "to": dst, "workers": int(m[i, j])})
        for side, tops, sizes, x0 in (("l", ltop, left, FLOW_X[0]), ("r", rtop, right, FLOW_X[1])):
            for k, cat in enumerate(OWNER_CATS):
                if sizes[k] <= 0:
                    continue
                h = sizes[k] * scale
                bars.append(np.array([(x0, tops[k]), (x0 + BAR, tops[k]), (x0 + BAR, tops[k] - h), (x0, tops[k] - h)]))
                bar_colours.append(CAT_RGBA[k])
                name = tr(f"flow.{cat}_{'from' if side == 'l' else 'to'}") if cat == "outside" else tr(f"flow.{cat}")
                labels[f"{side}{k}"] = (tops[k] - h / 2, f"{name}\n{tr('num', n=int(sizes[k]))}")
    with blit.lock:
        mv = blit.moving
        mv["bands"].set_verts(bands)
        mv["bands"].set_facecolors(np.array(band_colours).reshape(-1, 4))
        mv["bars"].set_verts(bars)
        mv["bars"].set_facecolors(np.array(bar_colours).reshape(-1, 4))
        for key, label in labels.items():
            mv[key].set_visible(label is not None)
            if label is not None:
                mv[key].set_y(label[0])
                mv[key].set_text(label[1])
        mv["none"].set_visible(m.sum() <= 0)
        mv["title"].set_text(tr("flow.title_firms" if firms_only else "flow.title", date=idx.date(step)))
        mv["note"].set_text(tr("flow.note", fdi_dom=int(m[0, 1]), dom_fdi=int(m[1, 0])))
        png = blit.render()
    table = pd.DataFrame(rows, columns=["month", "from", "to", "workers"])
    return Chart(png, lambda: table)
