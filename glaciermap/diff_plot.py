"""Draw glacier changes as one PNG map: outlines, gained and lost ice, flagged fronts, names and a km scale.

One map for every caller: ``glaciermap diff --plot`` (:func:`plot_diff`, from a
:class:`~glaciermap.diff.DiffResult`) and the year's report (:func:`change_map_png`, from the inventory
update's layers), both through :class:`ChangeLayers` and :func:`draw_changes`.

matplotlib is imported only when a map is drawn, and only through its object API with the Agg canvas:
no ``pyplot``, so drawing never touches a global figure state or an interactive backend.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from glaciermap.io.files import atomic_output

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.path import Path as MplPath

    from glaciermap.diff import DiffResult

log = logging.getLogger(__name__)

# Colours: ice lost in red, gained in blue (readable for the common colour-vision deficiencies).
_LOST = "#d7301f"
_GAINED = "#2171b5"
_REFERENCE_EDGE = "#737373"
_NEW_EDGE = "#006d2c"
_FRONT_EDGE = "#000000"
_DISAPPEARED_EDGE = "#252525"  # dark, dotted: visible over the red of its lost ice


@dataclass(frozen=True)
class ChangeLayers:
    """What a change map draws: frames in one metric CRS (any may be empty).

    Attributes:
        before: the outlines compared with (reference inventory or last year's), a wide grey line.
        after: the new outlines (this year's), a thin dashed green line.
        gained, lost: patches of gained / lost ice, filled blue / red.
        fronts: the flagged changed fronts, hatched with a black edge.
        disappeared: last outlines of glaciers that disappeared, a dotted dark line.
        labels: glaciers to name on the map: geometry and a ``name`` column (str or missing).
        crs_name: the CRS named on the axes.
        before_label, after_label: legend entries of the two outline layers.
    """

    before: gpd.GeoDataFrame
    after: gpd.GeoDataFrame
    gained: gpd.GeoDataFrame
    lost: gpd.GeoDataFrame
    fronts: gpd.GeoDataFrame
    labels: gpd.GeoDataFrame
    disappeared: gpd.GeoDataFrame | None = None
    crs_name: str = "metric CRS"
    before_label: str = "reference outline"
    after_label: str = "new outline"


def diff_layers(result: DiffResult) -> ChangeLayers:
    """The layers of a diff: reference outlines before, the attributed new outlines after."""
    glaciers = result.glaciers
    return ChangeLayers(
        before=glaciers.loc[glaciers["status"] != "new"],
        after=result.new_outlines,
        gained=result.gained,
        lost=result.lost,
        fronts=result.fronts,
        labels=glaciers[["glacier_name", "geometry"]].rename(columns={"glacier_name": "name"}),
        crs_name=str(result.summary.get("crs") or "metric CRS"),
    )


def change_map_figure(
    layers: ChangeLayers, *, title: str, figsize: tuple[float, float] = (10, 8)
) -> Figure:
    """A figure (Agg canvas) holding the map of ``layers``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw_changes(ax, layers)
    ax.set_title(title, fontsize=11)
    return fig


def change_map_png(
    layers: ChangeLayers, *, title: str, dpi: int = 100, figsize: tuple[float, float] = (10, 8)
) -> bytes:
    """The map of ``layers`` as PNG bytes (for embedding in a page)."""
    buffer = io.BytesIO()
    change_map_figure(layers, title=title, figsize=figsize).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_diff(
    result: DiffResult,
    path: str | Path,
    *,
    overwrite: bool = True,
    title: str | None = None,
    dpi: int = 150,
) -> Path:
    """Write a PNG map of a diff, atomically.

    Draws the reference outlines (wide grey line), the new outlines (thin dashed green line), gained
    ice (blue fill), lost ice (red fill) and the flagged fronts (black edge, hatched), with a legend,
    glacier names, a scale bar in km and axes in km of the diff's metric CRS.

    Args:
        result: the diff to draw.
        path: the PNG file to write.
        overwrite: replace an existing file; if False an existing file is an
            :class:`~glaciermap.errors.InputError`.
        title: map title; default names the two inputs.
        dpi: resolution, dots per inch.

    Returns:
        The path written.
    """
    fig = change_map_figure(diff_layers(result), title=title or _default_title(result))
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    log.info("wrote map %s", path)
    return Path(path)


def draw_changes(ax: Axes, layers: ChangeLayers) -> None:
    """Draw every layer onto ``ax``, with names, km axes, a scale bar and a legend."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, PathPatch

    styled: list[tuple[Any, dict[str, Any]]] = [
        (layers.lost, {"facecolor": _LOST, "edgecolor": "none", "alpha": 0.85}),
        (layers.gained, {"facecolor": _GAINED, "edgecolor": "none", "alpha": 0.85}),
        (
            layers.before,
            # Drawn wide and grey under the thin new outline, so both show where they coincide.
            {"facecolor": "none", "edgecolor": _REFERENCE_EDGE, "linewidth": 1.8},
        ),
        (
            layers.after,
            {"facecolor": "none", "edgecolor": _NEW_EDGE, "linewidth": 0.8, "linestyle": "--"},
        ),
        (
            layers.fronts,
            {"facecolor": "none", "edgecolor": _FRONT_EDGE, "linewidth": 1.4, "hatch": "//"},
        ),
    ]
    if layers.disappeared is not None:
        styled.append(
            (
                layers.disappeared,
                {
                    "facecolor": "none",
                    "edgecolor": _DISAPPEARED_EDGE,
                    "linewidth": 1.2,
                    "linestyle": ":",
                },
            )
        )
    for frame, style in styled:
        path = polygon_path(np.asarray(frame.geometry.array, dtype=object))
        if path is not None:
            ax.add_patch(PathPatch(path, **style))

    _label_glaciers(ax, layers.labels)
    _frame_axes(ax, layers)
    _add_scale_bar(ax)

    handles: list[Artist] = []
    if len(layers.before):
        handles.append(
            Line2D([], [], color=_REFERENCE_EDGE, linewidth=1.8, label=layers.before_label)
        )
    if len(layers.after):
        handles.append(
            Line2D([], [], color=_NEW_EDGE, linewidth=0.8, linestyle="--", label=layers.after_label)
        )
    handles += [
        Patch(facecolor=_GAINED, alpha=0.85, label="gained ice"),
        Patch(facecolor=_LOST, alpha=0.85, label="lost ice"),
        Patch(facecolor="none", edgecolor=_FRONT_EDGE, hatch="//", label="flagged front"),
    ]
    if layers.disappeared is not None and len(layers.disappeared):
        handles.append(
            Line2D(
                [],
                [],
                color=_DISAPPEARED_EDGE,
                linewidth=1.2,
                linestyle=":",
                label="disappeared glacier",
            )
        )
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)


def polygon_path(geoms: np.ndarray) -> MplPath | None:
    """All polygons of ``geoms`` as one compound matplotlib Path (None if there are none).

    Exteriors are oriented counter-clockwise and holes clockwise, so the non-zero fill rule matplotlib
    uses leaves holes (nunataks) empty.
    """
    from matplotlib.path import Path as MplPath

    polygons = shapely.get_parts(geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))])
    if len(polygons) == 0:
        return None
    rings = shapely.get_rings(shapely.orient_polygons(polygons))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    starts = np.flatnonzero(np.r_[True, np.diff(ring) != 0])
    codes[starts] = MplPath.MOVETO
    codes[np.r_[starts[1:] - 1, len(coords) - 1]] = MplPath.CLOSEPOLY
    return MplPath(coords, codes)


def _label_glaciers(ax: Axes, labels: gpd.GeoDataFrame) -> None:
    """Write each named glacier's name at a point inside its outline, with a white halo."""
    from matplotlib import patheffects

    named = labels.loc[labels["name"].map(lambda n: isinstance(n, str) and bool(n))]
    if len(named) == 0:
        return
    anchors = shapely.point_on_surface(np.asarray(named.geometry.array, dtype=object))
    xy = shapely.get_coordinates(anchors)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    fontsize = 8 if len(named) <= 15 else 6
    for (x, y), name in zip(xy, named["name"], strict=True):
        # Names come from inventories: drawn as plain text, never as mathtext ("$" is literal).
        ax.text(
            x,
            y,
            name,
            fontsize=fontsize,
            ha="center",
            va="center",
            path_effects=halo,
            zorder=5,
            usetex=False,
            parse_math=False,
        )


def _frame_axes(ax: Axes, layers: ChangeLayers) -> None:
    """Fit the view to the outlines with a margin; equal aspect; tick labels in km."""
    from matplotlib.ticker import FuncFormatter

    frames = [layers.before, layers.after, layers.gained, layers.lost, layers.disappeared]
    bounds = np.array([f.total_bounds for f in frames if f is not None and len(f)])
    if len(bounds) == 0:
        bounds = np.array([[0.0, 0.0, 1000.0, 1000.0]])  # nothing to draw: an empty 1 km frame
    minx, miny = np.nanmin(bounds[:, :2], axis=0)
    maxx, maxy = np.nanmax(bounds[:, 2:], axis=0)
    pad = 0.05 * max(maxx - minx, maxy - miny, 100.0)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    km = FuncFormatter(lambda value, _pos: f"{value / 1000:g}")
    ax.xaxis.set_major_formatter(km)
    ax.yaxis.set_major_formatter(km)
    ax.set_xlabel(f"easting, km ({layers.crs_name})", fontsize=8)
    ax.set_ylabel(f"northing, km ({layers.crs_name})", fontsize=8)
    ax.tick_params(labelsize=7)


def _add_scale_bar(ax: Axes) -> None:
    """A scale bar of a round length (1, 2 or 5 × 10ⁿ m) about a fifth of the map width, labelled in km."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    x0, x1 = ax.get_xlim()
    length = _round_length((x1 - x0) / 5)
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        f"{length / 1000:g} km",
        loc="lower left",
        pad=0.6,
        borderpad=0.8,
        sep=4,
        size_vertical=(ax.get_ylim()[1] - ax.get_ylim()[0]) / 150,
        frameon=True,
        fontproperties={"size": 8},
    )
    ax.add_artist(bar)


def _round_length(target_m: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not above ``target_m`` (at least 1 m)."""
    if target_m <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(target_m))
    return max(step * power for step in (1, 2, 5) if step * power <= target_m)


def _default_title(result: DiffResult) -> str:
    """``new.gpkg vs reference.gpkg`` and the area change."""
    summary = result.summary
    new = Path(str(summary.get("new", "new"))).name
    reference = Path(str(summary.get("reference", "reference"))).name
    line = f"{new} vs {reference}"
    totals = summary.get("totals") or {}
    if totals.get("area_ref_km2"):
        line += (
            f"\n{totals['glaciers']} glaciers: {totals['area_ref_km2']:.2f} → "
            f"{totals['area_new_km2']:.2f} km² ({totals['change_pct']:+.1f} %), "
            f"{totals['fronts']} fronts flagged"
        )
    return line
