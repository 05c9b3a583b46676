"""Labour flows between ownership types as a two-column flow (Sankey) chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Polygon

from dashboard.charts import OWNER_COLOURS, Chart, Tr, encode, new_figure
from dashboard.frames import OWNER_CATS, RunIndex

FLOW_X = (0.27, 0.69)  # left edges of the left and right node bars (bars 0.04 wide)
BAR = 0.04


def _band(ax, y0l: float, y1l: float, y0r: float, y1r: float, colour: str) -> None:
    t = np.linspace(0, 1, 30)
    s = t * t * (3 - 2 * t)  # smoothstep
    x = FLOW_X[0] + BAR + (FLOW_X[1] - FLOW_X[0] - BAR) * t
    top = y1l + (y1r - y1l) * s
    bot = y0l + (y0r - y0l) * s
    ax.fill(np.r_[x, x[::-1]], np.r_[top, bot[::-1]], color=colour, alpha=0.45, lw=0)


def _nodes(ax, tops: np.ndarray, sizes: np.ndarray, scale: float, x0: float, left: bool, tr: Tr) -> None:
    for k, cat in enumerate(OWNER_CATS):
        if sizes[k] <= 0:
            continue
        h = sizes[k] * scale
        ax.add_patch(Polygon([(x0, tops[k]), (x0 + BAR, tops[k]), (x0 + BAR, tops[k] - h), (x0, tops[k] - h)],
                             color=OWNER_COLOURS[cat]))
        ax.text(x0 - 0.01 if left else x0 + BAR + 0.01, tops[k] - h / 2, f"{tr('flow.' + cat)}\n{int(sizes[k]):,}",
                ha="right" if left else "left", va="center", fontsize=10)


def draw_flows(idx: RunIndex, step: int, tr: Tr, firms_only: bool = False) -> Chart:
    """Workers moving between FDI firms, domestic firms and the labour pool in the month."""
    cube = idx.flows_firms if firms_only else idx.flows_all
    m = cube[min(max(step, 0), cube.shape[0] - 1)]
    fig = new_figure()
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.08, 0.96, 0.78))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    rows = []
    if m.sum() > 0:
        left, right = m.sum(axis=1), m.sum(axis=0)
        gap = 0.04
        scale = (1 - gap * (max((left > 0).sum(), (right > 0).sum()) - 1)) / m.sum()

        def stack(sizes: np.ndarray) -> np.ndarray:
            return 1 - np.r_[0, np.cumsum(sizes * scale + gap * (sizes > 0))][:-1]

        ltop, rtop = stack(left), stack(right)
        lcur, rcur = ltop.copy(), rtop.copy()
        for i, src in enumerate(OWNER_CATS):
            for j, dst in enumerate(OWNER_CATS):
                if m[i, j] <= 0:
                    continue
                h = m[i, j] * scale
                _band(ax, lcur[i] - h, lcur[i], rcur[j] - h, rcur[j], OWNER_COLOURS[src])
                lcur[i] -= h
                rcur[j] -= h
                rows.append({"month": idx.date(step), "from": src, "to": dst, "workers": int(m[i, j])})
        _nodes(ax, ltop, left, scale, FLOW_X[0], True, tr)
        _nodes(ax, rtop, right, scale, FLOW_X[1], False, tr)
        ax.text(FLOW_X[0] + BAR / 2, 1.04, tr("flow.from"), fontsize=10.5, fontweight="bold", ha="center")
        ax.text(FLOW_X[1] + BAR / 2, 1.04, tr("flow.to"), fontsize=10.5, fontweight="bold", ha="center")
    else:
        ax.text(0.5, 0.5, tr("flow.none"), ha="center", va="center", fontsize=12)
    fig.text(0.5, 0.955, tr("flow.title_firms" if firms_only else "flow.title", date=idx.date(step)),
             ha="center", fontsize=14)
    fig.text(0.01, 0.015, tr("flow.note", fdi_dom=int(m[0, 1]), dom_fdi=int(m[1, 0])), fontsize=8.5, color="#444444")
    canvas.draw()
    table = pd.DataFrame(rows, columns=["month", "from", "to", "workers"])
    return Chart(encode(canvas), lambda: table)
