"""The report's images as PNG bytes: the change map, outline thumbnails and the area history plot.

Everything is drawn with matplotlib's object API on the Agg canvas (no ``pyplot``, no global state).
Text from inventories (glacier names) is drawn with mathtext off, so a ``$`` in a name stays a ``$``.
The change map itself is :mod:`glaciermap.diff_plot`'s, fed with the inventory update's layers.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import shapely
    from matplotlib.figure import Figure

    from glaciermap.diff_plot import ChangeLayers
    from glaciermap.inventory_read import YearOutputs
    from glaciermap.io.raster import DatasetReader

THUMBNAIL_INCHES = 2.4
THUMBNAIL_DPI = 80
MAP_DPI = 90
HISTORY_HIGHLIGHTS = 8
"""Glaciers drawn in colour (and named) on the history plot; the others are thin grey lines."""


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def glacier_label(glacier_id: Any, name: Any) -> str:
    """``Name (ID)``, or the id alone when the glacier has no name."""
    if isinstance(name, str) and name.strip():
        return f"{name} ({glacier_id})"
    return str(glacier_id)


# --- the change map ----------------------------------------------------------------------------------


def change_layers(
    outputs: YearOutputs,
    *,
    previous: gpd.GeoDataFrame | None,
    label_ids: list[str],
) -> ChangeLayers:
    """The change map's layers for one year.

    Args:
        outputs: the year's files.
        previous: last year's outlines (drawn as "before"), or None (first year, or not on disk).
        label_ids: the glaciers to name on the map (those of the report's tables).
    """
    import geopandas as gpd

    from glaciermap.diff_plot import ChangeLayers

    glaciers = outputs.glaciers
    against = "previous" if outputs.previous_year is not None else "reference"

    def compared(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if "against" not in frame.columns:
            return frame
        return frame.loc[frame["against"] == against]

    disappeared = outputs.changes["disappeared"]
    named = glaciers.loc[glaciers["glacier_id"].astype(str).isin(label_ids)]
    labels = gpd.GeoDataFrame(
        {
            "name": [
                glacier_label(i, n)
                for i, n in zip(named["glacier_id"], named["glac_name"], strict=True)
            ]
        },
        geometry=named.geometry.values,
        crs=glaciers.crs,
    )
    empty = glaciers.iloc[:0]
    crs = glaciers.crs
    crs_name = crs.to_string() if crs is not None else "metric CRS"
    return ChangeLayers(
        before=previous.to_crs(crs) if previous is not None and crs is not None else empty,
        after=glaciers,
        gained=compared(outputs.changes["gained"]),
        lost=compared(outputs.changes["lost"]),
        fronts=compared(outputs.changes["fronts"]),
        disappeared=compared(disappeared),
        labels=labels,
        crs_name=crs_name,
        before_label=f"{outputs.previous_year} outline" if previous is not None else "before",
        after_label=f"{outputs.summary.get('year', '')} outline".strip(),
    )


def change_map(layers: ChangeLayers, *, title: str) -> bytes:
    """The change map as PNG bytes."""
    from glaciermap.diff_plot import change_map_png

    return change_map_png(layers, title=title, dpi=MAP_DPI, figsize=(10, 7.5))


# --- thumbnails --------------------------------------------------------------------------------------


def outline_thumbnail(
    outline: shapely.Geometry, *, probability: DatasetReader | None, crs: Any
) -> bytes:
    """A small square image of one outline, over its window of the probability raster if given.

    Args:
        outline: the glacier's polygon in ``crs``.
        probability: the open probability raster (values 0–1, NaN no data), or None.
        crs: the outline's CRS (the raster's may differ: the outline is moved into it).
    """
    import geopandas as gpd
    import shapely
    from matplotlib.patches import PathPatch

    from glaciermap.diff_plot import polygon_path

    if probability is not None and crs is not None and probability.crs != crs:
        outline = gpd.GeoSeries([outline], crs=crs).to_crs(probability.crs).iloc[0]
    minx, miny, maxx, maxy = shapely.bounds(outline)
    # A square view around the outline with a margin, so small glaciers are not a dot.
    side = max(maxx - minx, maxy - miny) * 1.3 + 200.0
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    view = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)

    fig = _figure(THUMBNAIL_INCHES, THUMBNAIL_INCHES)
    ax = fig.add_subplot()
    ax.set_facecolor("#f0f0f0")
    if probability is not None:
        window = _probability_window(probability, view)
        if window is not None:
            values, extent = window
            ax.imshow(
                np.ma.masked_invalid(values),
                extent=extent,
                cmap="viridis",
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
            )
    path = polygon_path(np.asarray([outline], dtype=object))
    if path is not None:
        ax.add_patch(PathPatch(path, facecolor="none", edgecolor="#ff3b30", linewidth=1.4))
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.03,
        0.03,
        f"{side / 1000:.2g} km across",
        transform=ax.transAxes,
        fontsize=7,
        color="black",
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
    )
    return _png(fig, THUMBNAIL_DPI)


def _probability_window(
    src: DatasetReader, view: tuple[float, float, float, float]
) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """Probability values inside ``view`` (map units), read from the coarsest level that is enough,
    and their ``(left, right, bottom, top)`` extent; None if the view misses the raster."""
    from rasterio.errors import WindowError
    from rasterio.windows import Window, from_bounds

    window = from_bounds(*view, transform=src.transform)
    full = Window(0, 0, src.width, src.height)
    try:
        window = window.intersection(full)
    except WindowError:  # the view lies outside the raster
        return None
    window = window.round_offsets().round_lengths()
    if window.width < 1 or window.height < 1:
        return None
    # About 200 px across is plenty for a thumbnail: let GDAL read from the overviews.
    scale = max(1.0, max(window.width, window.height) / 200.0)
    shape = (max(1, round(window.height / scale)), max(1, round(window.width / scale)))
    values = src.read(1, window=window, out_shape=shape, masked=True).astype("float32")
    values = values.filled(np.nan)
    left, bottom, right, top = src.window_bounds(window)
    return values, (left, right, bottom, top)


# --- history -----------------------------------------------------------------------------------------


def history_plot(history: pd.DataFrame, *, highlight: list[str]) -> bytes:
    """Area across the years: the total, and every glacier's area relative to its first year.

    Args:
        history: rows of ``glacier_id, glac_name, year, area_km2`` (``update.history()``'s columns).
        highlight: glacier ids drawn in colour and named (at most :data:`HISTORY_HIGHLIGHTS`);
            every other glacier is a thin grey line.
    """
    from matplotlib.ticker import MaxNLocator

    table = history.dropna(subset=["area_km2"]).sort_values(["glacier_id", "year"])
    years = sorted(int(y) for y in table["year"].unique())
    fig = _figure(10, 4.2)
    total_ax, each_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})

    totals = table.groupby("year")["area_km2"].sum()
    total_ax.plot(totals.index.astype(int), totals.to_numpy(), marker="o", color="#08519c")
    total_ax.set_title("total glacier area", fontsize=10)
    total_ax.set_ylabel("km²", fontsize=9)

    shown = set(highlight[:HISTORY_HIGHLIGHTS])
    colours = iter(
        ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#17becf"]
    )
    for glacier_id, rows in table.groupby("glacier_id", sort=True):
        first = rows["area_km2"].iloc[0]
        if not first or not math.isfinite(first):
            continue
        relative = 100.0 * (rows["area_km2"].to_numpy() / first - 1.0)
        x = rows["year"].astype(int).to_numpy()
        if str(glacier_id) in shown:
            name = rows["glac_name"].dropna()
            label = glacier_label(glacier_id, name.iloc[-1] if len(name) else None)
            each_ax.plot(
                x, relative, marker="o", linewidth=1.6, color=next(colours), label=label, zorder=3
            )
        else:
            each_ax.plot(x, relative, color="#bdbdbd", linewidth=0.7, zorder=1)
    each_ax.axhline(0.0, color="black", linewidth=0.6)
    each_ax.set_title("area of each glacier against its first year", fontsize=10)
    each_ax.set_ylabel("%", fontsize=9)
    if shown:
        legend = each_ax.legend(fontsize=7, loc="best", framealpha=0.9)
        for text in legend.get_texts():
            text.set_parse_math(False)  # names from inventories: "$" is a dollar sign
    for ax in (total_ax, each_ax):
        ax.set_xlabel("year", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(years[0] - 0.3, years[-1] + 0.3)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    return _png(fig, MAP_DPI)


__all__ = [
    "change_layers",
    "change_map",
    "data_uri",
    "glacier_label",
    "history_plot",
    "outline_thumbnail",
]
