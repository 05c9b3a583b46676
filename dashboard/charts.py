"""The playback charts, drawn with matplotlib (Agg) and nothing online.

Each ``draw_*`` function takes a ``RunIndex``, a step and a translator ``tr`` and returns a
``Chart``: the PNG bytes shown in the page (and offered for download) and a function giving the
DataFrame behind it (offered as CSV). What does not change from month to month (outlines, axes,
legends) is drawn once per run, language and option and kept as a pixel background; a frame only
redraws the moving artists over it (matplotlib blitting), which keeps a frame well under a second.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib
import matplotlib.colors

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from matplotlib.path import Path as MPath  # noqa: E402
from PIL import Image  # noqa: E402

from dashboard.frames import NODE_KINDS, RunIndex  # noqa: E402
from dashboard.geo import EXTENT, PROVINCE_COLOURS, PROVINCE_LABELS, PROVINCE_OUTLINES  # noqa: E402
from dashboard.i18n import local_ticks  # noqa: E402

Tr = Callable[..., str]
DPI = 96
KIND_COLOURS = {"fdi_lead": "#c0392b", "fdi_supplier": "#2874a6", "domestic_sme": "#e67e22",
                "university": "#1e8449", "training_centre": "#1e8449"}
OWNER_COLOURS = {"fdi": "#2874a6", "domestic": "#e67e22", "public": "#1e8449", "pool": "#95a5a6",
                 "outside": "#bdc3c7"}
MAX_EDGES = 1500
EDGE_DOMESTIC, EDGE_FOREIGN = "#e67e22", "#5d6d7e"


def rgba(colours: list[str] | np.ndarray) -> np.ndarray:
    """Colours as an (n, 4) RGBA array: collections take these without parsing strings each frame."""
    return matplotlib.colors.to_rgba_array(list(colours))


def rgba_of(codes: np.ndarray, palette: dict[str, str], missing: str = "#7f8c8d") -> np.ndarray:
    """The RGBA colour of each code (``palette`` keys), ``missing`` for the others."""
    keys = list(palette)
    table = rgba([*palette.values(), missing])
    pos = pd.Index(keys).get_indexer(np.asarray(codes, dtype=object))
    return table[np.where(pos < 0, len(keys), pos)]


@dataclass
class Chart:
    """A rendered chart and the data behind it (computed only when asked for)."""

    png: bytes
    data: Callable[[], pd.DataFrame]


@dataclass
class Blit:
    """A figure whose static part is drawn once; ``render`` redraws only ``moving`` artists."""

    fig: Figure
    moving: dict[str, Artist]
    canvas: FigureCanvasAgg = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.canvas = FigureCanvasAgg(self.fig)
        for artist in self.moving.values():
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def render(self) -> bytes:
        self.canvas.restore_region(self.background)
        for artist in self.moving.values():
            (artist.axes or self.fig).draw_artist(artist)
        return encode(self.canvas)


def encode(canvas: FigureCanvasAgg) -> bytes:
    """The canvas as PNG (fast zlib level: the page redraws often)."""
    w, h = canvas.get_width_height()
    img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=1)
    return buf.getvalue()


def year_of(step: np.ndarray | int, start: str) -> np.ndarray:
    """Step (1 = first month) as a fractional year, for time axes."""
    y, m = int(start[:4]), int(start[5:7])
    return y + (m - 1 + np.asarray(step) - 1) / 12


def date_axis(ax, first: float, last: float, max_ticks: int = 8) -> None:
    """Ticks on a time axis in fractional years: whole years, or ``YYYY-MM`` for short spans.

    (Matplotlib's default would write a six-month run as 0.0 … 0.4 with an offset of +2.023e3.)
    """
    months = round((last - first) * 12)
    if months >= 30:
        years = np.arange(np.ceil(first - 1e-9), np.floor(last + 1e-9) + 1)
        step = next(k for k in (1, 2, 5, 10, 20) if len(years[::k]) <= max_ticks)
        ticks = years[::step]
        labels = [str(int(y)) for y in ticks]
    else:
        step = next(k for k in (1, 2, 3, 6, 12) if months // k + 1 <= max_ticks)
        ticks = first + np.arange(0, months + 1, step) / 12
        labels = [f"{int(np.floor(t + 1e-6))}-{round((t - np.floor(t + 1e-6)) * 12) + 1:02d}" for t in ticks]
    ax.set_xticks(ticks, labels)


def new_figure(w: float = 6.4, h: float = 5.4) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI, facecolor="white")
    fig.set_layout_engine("none")
    return fig


def _cached(idx: RunIndex, key: tuple, build: Callable[[], Blit]) -> Blit:
    with idx._lock:
        blit = idx.figures.get(key)
        if blit is None:
            blit = idx.figures[key] = build()
    return blit


NOTE_STYLE = {"fontsize": 8.5, "color": "#444444", "va": "bottom"}


def _note(fig: Figure, static: str = "") -> Artist:
    """A footnote: ``static`` (drawn once, bottom line) under the month's line (the returned artist).

    Text is the slowest thing Agg draws (every glyph, every frame), so only the line that changes
    is redrawn.
    """
    if static:
        fig.text(0.01, 0.012, static, **NOTE_STYLE)
    return fig.text(0.01, 0.045 if static else 0.012, "", **NOTE_STYLE)


def note_lines(text: str) -> tuple[str, str]:
    """A two-line note as (the line that changes, the line that does not)."""
    first, _, rest = text.partition("\n")
    return first, rest


# -- map ---------------------------------------------------------------------------------------------
def _map_static(idx: RunIndex, tr: Tr, colour_by: str) -> Blit:
    fig = new_figure()
    ax = fig.add_axes((0.01, 0.225, 0.98, 0.7))
    ax.set_xlim(EXTENT[0], EXTENT[1])
    ax.set_ylim(EXTENT[2], EXTENT[3])
    ax.set_aspect(1 / np.cos(np.radians(21.3)))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#f4f6f7")
    for prov, pts in PROVINCE_OUTLINES.items():
        ax.add_patch(Polygon([(lon, lat) for lat, lon in pts], closed=True, facecolor=PROVINCE_COLOURS[prov],
                             edgecolor="#7f8c8d", linewidth=1.0, zorder=1))
        lat, lon = PROVINCE_LABELS[prov]
        ax.text(lon, lat, prov, ha="center", va="center", fontsize=13, fontweight="bold", color="#566573", zorder=2)
    palette = KIND_COLOURS if colour_by == "kind" else OWNER_COLOURS
    values = list(KIND_COLOURS)[:4] if colour_by == "kind" else ["fdi", "domestic", "public"]
    handles = [Line2D([], [], marker="o", ls="", color=palette[v], label=tr(f"{colour_by}.{v}"), markersize=8)
               for v in values]
    handles += [Line2D([], [], marker="s", ls="", mfc="none", mec="#34495e", label=tr("map.park"), markersize=8),
                Line2D([], [], marker="o", ls="", mfc="none", mec="#111111", label=tr("map.new_contract"),
                       markersize=8)]
    fig.legend(handles=handles, loc="lower center", fontsize=9, ncol=2, frameon=False, bbox_to_anchor=(0.5, 0.07),
               columnspacing=1.5, handletextpad=0.3, labelspacing=0.3)
    parks = idx.locations[idx.locations["kind"] != "outside"]
    moving = {"parks": ax.scatter(parks["lon"], parks["lat"], s=110, marker="s", facecolors="none",
                                  edgecolors="#34495e", linewidths=1.1, zorder=3),
              "firms": ax.scatter([], [], zorder=4, linewidths=0, alpha=0.7),
              "rings": ax.scatter([], [], zorder=5, facecolors="none", edgecolors="#111111", linewidths=0.9),
              "title": fig.text(0.5, 0.955, "", ha="center", fontsize=14),
              "note": _note(fig, note_lines(tr("map.note", n=0, snapshot=""))[1])}
    return Blit(fig, moving)


PARK_OPEN, PARK_LATER = rgba(["#34495e", "#c8ced3"])


def draw_map(idx: RunIndex, step: int, tr: Tr, colour_by: str = "kind") -> Chart:
    """Parks and firms at their coordinates over approximate province outlines."""
    blit = _cached(idx, ("map", tr("app.lang"), colour_by), lambda: _map_static(idx, tr, colour_by))
    snap = idx.snapshot_at(step)
    tab = snap.table
    colours = rgba_of(tab[colour_by].to_numpy(), KIND_COLOURS if colour_by == "kind" else OWNER_COLOURS)
    size = np.where(tab["owner"].to_numpy() == "public", 70, 5 + 1.2 * np.sqrt(tab["employees"].to_numpy(float)))
    order = np.argsort(-size)  # big first, small on top
    net = idx.network
    # domestic SMEs that became a supplier of an FDI firm this month: a ring
    new_ids = net.node_ids[net.first_fdi_link == step]
    pos = pd.Index(tab["firm_id"]).get_indexer(new_ids)
    pos = pos[pos >= 0]
    parks = idx.locations[idx.locations["kind"] != "outside"]
    with blit.lock:
        m = blit.moving
        m["parks"].set_edgecolors(np.where((parks["opens"].astype(str) <= idx.date(step)).to_numpy()[:, None],
                                           PARK_OPEN, PARK_LATER))
        m["firms"].set_offsets(np.c_[snap.x[order], snap.y[order]])
        m["firms"].set_sizes(size[order])
        m["firms"].set_facecolors(colours[order])
        m["rings"].set_offsets(np.c_[snap.x[pos], snap.y[pos]].reshape(-1, 2))
        m["rings"].set_sizes(size[pos] + 25)
        m["title"].set_text(tr("map.title", date=idx.date(step)))
        m["note"].set_text(note_lines(tr("map.note", snapshot=idx.date(snap.step), n=len(tab)))[0])
        png = blit.render()

    def data() -> pd.DataFrame:
        cols = ["firm_id", "name", "kind", "owner", "province", "location", "lat", "lon", "employees", "tech", "output"]
        return tab[cols].assign(recorded=idx.date(snap.step), month=idx.date(step),
                                signed_this_month=tab["firm_id"].isin(new_ids))

    return Chart(png, data)


# -- contract network -----------------------------------------------------------------------------------
def network_frame(idx: RunIndex, step: int, max_edges: int = MAX_EDGES) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Buyer–supplier links active at ``step`` (value summed over their contracts), largest first."""
    net = idx.network
    act = idx.active_contracts(step)
    n = len(net.node_ids)
    pair = net.buyer[act].astype(np.int64) * n + net.supplier[act]
    keys, inv = np.unique(pair, return_inverse=True)
    value = np.bincount(inv, weights=net.value[act])
    node_value = (np.bincount(net.buyer[act], weights=net.value[act], minlength=n)
                  + np.bincount(net.supplier[act], weights=net.value[act], minlength=n))
    top = np.argsort(-value)[:max_edges]
    b, s = keys[top] // n, keys[top] % n
    edges = pd.DataFrame({"month": idx.date(step), "buyer_id": net.node_ids[b], "supplier_id": net.node_ids[s],
                          "buyer_kind": np.array(NODE_KINDS)[net.kind[b]],
                          "supplier_kind": np.array(NODE_KINDS)[net.kind[s]], "value": value[top],
                          "buyer": b, "supplier": s})
    return edges, node_value, len(keys)


class Links(LineCollection):
    """The network's buyer–supplier lines; each link's path is made once (the layout is fixed).

    ``set_segments`` builds a new ``Path`` per line every frame, a tenth of a network frame;
    most links last from month to month, so their paths are kept and reused.
    """

    KEEP = 20_000  # paths kept (a few MB); forgotten all at once beyond that

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.made: dict[tuple[int, int], MPath] = {}

    def show(self, buyer: np.ndarray, supplier: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        if len(self.made) > self.KEEP:
            self.made.clear()
        made, paths = self.made, []
        for pair in zip(buyer.tolist(), supplier.tolist(), strict=True):
            path = made.get(pair)
            if path is None:
                path = made[pair] = MPath(np.array([[x[pair[0]], y[pair[0]]], [x[pair[1]], y[pair[1]]]]))
            paths.append(path)
        self._paths = paths
        self.stale = True


def _network_static(idx: RunIndex, tr: Tr) -> Blit:
    fig = new_figure()
    ax = fig.add_axes((0.02, 0.09, 0.96, 0.76))
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.45, 2.5)
    ax.axis("off")
    labels = {f"label_{kind}": ax.text(0.0, y, tr(f"kind.{kind}"), fontsize=10.5, fontweight="bold",
                                         color=KIND_COLOURS[kind], zorder=4,
                                         bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1})
              for y, kind in ((2.32, "fdi_lead"), (1.42, "fdi_supplier"), (0.42, "domestic_sme"))}
    handles = [Line2D([], [], color=EDGE_DOMESTIC, lw=2.5, label=tr("net.edge_domestic")),
               Line2D([], [], color=EDGE_FOREIGN, lw=2.5, label=tr("net.edge_foreign"))]
    ax.legend(handles=handles, loc="lower left", fontsize=9, frameon=False, bbox_to_anchor=(0.0, 1.0),
              ncol=2, borderaxespad=0.2)
    moving = {"idle": ax.scatter([], [], s=2, c="#d5d8dc", linewidths=0, zorder=2),
              "edges": Links([], alpha=0.35, zorder=1),
              "nodes": ax.scatter([], [], linewidths=0, zorder=3),
              **labels, "title": fig.text(0.5, 0.955, "", ha="center", fontsize=14),
              "note": _note(fig, note_lines(tr("net.note", shown=0, total=0, active=0))[1])}
    ax.add_collection(moving["edges"])
    return Blit(fig, moving)


NODE_RGBA = rgba([KIND_COLOURS[k] for k in NODE_KINDS])
EDGE_RGBA = rgba([EDGE_DOMESTIC, EDGE_FOREIGN])


def draw_network(idx: RunIndex, step: int, tr: Tr) -> Chart:
    """Lead firms, foreign suppliers and SMEs in layers; links sized by contract value."""
    blit = _cached(idx, ("network", tr("app.lang")), lambda: _network_static(idx, tr))
    net = idx.network
    edges, node_value, n_links = network_frame(idx, step)
    b, s = edges["buyer"].to_numpy(), edges["supplier"].to_numpy()
    v = edges["value"].to_numpy()
    active = node_value > 0
    with blit.lock:
        m = blit.moving
        m["edges"].show(b[::-1], s[::-1], net.x, net.y)
        m["edges"].set_linewidths((0.2 + 3.0 * np.sqrt(v / max(v.max(initial=0), 1e-12)))[::-1])
        m["edges"].set_colors(EDGE_RGBA[np.where(net.kind[s] == 2, 0, 1)][::-1])
        m["idle"].set_offsets(np.c_[net.x[~active], net.y[~active]])
        m["nodes"].set_offsets(np.c_[net.x[active], net.y[active]])
        m["nodes"].set_sizes(4 + 80 * np.sqrt(node_value[active] / max(node_value.max(initial=0.0), 1e-9)))
        m["nodes"].set_facecolors(NODE_RGBA[net.kind[active]])
        m["title"].set_text(tr("net.title", date=idx.date(step)))
        note = tr("net.note", shown=len(edges), total=n_links, active=int(active.sum())) if n_links else tr("net.note_none")
        m["note"].set_text(note_lines(note)[0])
        png = blit.render()
    return Chart(png, lambda: edges.drop(columns=["buyer", "supplier"]))


# -- time series ---------------------------------------------------------------------------------------
PANELS: list[tuple[str, list[str], float]] = [
    ("panel.localisation", ["localisation_rate", "localisation_rate_input"], 100.0),
    ("panel.suppliers", ["domestic_tier1_suppliers", "domestic_tier2_suppliers"], 1.0),
    ("panel.employment", ["employment_fdi", "employment_domestic"], 1e-3),
    ("panel.technology", ["mean_tech_domestic", "tech_gap"], 1.0),
]
SERIES_COLOURS = ("#2874a6", "#e67e22")


def _ts_static(idx: RunIndex, tr: Tr) -> Blit:
    ind = idx.indicators
    x = year_of(ind["step"].to_numpy(), idx.dates[0])
    fig = new_figure()
    axes = fig.subplots(2, 2, sharex=True, gridspec_kw={"left": 0.09, "right": 0.98, "top": 0.86, "bottom": 0.1,
                                                        "hspace": 0.45, "wspace": 0.3})
    moving: dict[str, Artist] = {"title": fig.text(0.5, 0.955, "", ha="center", fontsize=14)}
    for k, (ax, (title, cols, scale)) in enumerate(zip(axes.flat, PANELS, strict=True)):
        for j, (col, colour) in enumerate(zip(cols, SERIES_COLOURS, strict=True)):
            ax.plot(x, ind[col].to_numpy(dtype=float) * scale, color=colour, lw=1.8, label=tr(f"lg.{col}"))
            moving[f"dot{k}{j}"] = ax.plot([], [], "o", color=colour, ms=7)[0]
        moving[f"line{k}"] = ax.axvline(x[0], color="#c0392b", lw=1.3, ls="--")
        if not np.isfinite(ind[list(cols)].to_numpy(dtype=float)).any():  # say so, not an axis around 0
            ax.set_yticks([])
            ax.text(0.5, 0.5, tr("ts.no_value"), transform=ax.transAxes, ha="center", va="center", fontsize=10,
                    color="#7f8c8d")
        ax.set_title(tr(title), fontsize=11)
        ax.tick_params(labelsize=8.5)
        local_ticks(ax, tr)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
        date_axis(ax, float(x[0]), float(x[-1]), max_ticks=4)
    return Blit(fig, moving)


def draw_timeseries(idx: RunIndex, step: int, tr: Tr) -> Chart:
    """The main indicators over the run, with a marker at the current month."""
    blit = _cached(idx, ("ts", tr("app.lang")), lambda: _ts_static(idx, tr))
    ind = idx.indicators
    xnow = float(year_of(step, idx.dates[0]))
    i = min(max(step, 1), len(ind)) - 1
    with blit.lock:
        m = blit.moving
        for k, (_, cols, scale) in enumerate(PANELS):
            for j, col in enumerate(cols):
                m[f"dot{k}{j}"].set_data([xnow], [float(ind[col].iloc[i]) * scale])
            m[f"line{k}"].set_xdata([xnow, xnow])
        m["title"].set_text(tr("ts.title", date=idx.date(step)))
        png = blit.render()
    cols = [c for _, cs, _ in PANELS for c in cs]
    return Chart(png, lambda: ind[["step", "date", *cols]].reset_index(drop=True))
