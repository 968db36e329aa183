"""Draw a glacier diff as one PNG map: outlines, gained and lost ice, flagged fronts, names and a km scale.

matplotlib is imported only when a map is drawn, and only through its object API with the Agg canvas:
no ``pyplot``, so drawing never touches a global figure state or an interactive backend.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from glaciermap.io.files import atomic_output

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.path import Path as MplPath

    from glaciermap.diff import DiffResult

log = logging.getLogger(__name__)

# Colours: ice lost in red, gained in blue (readable for the common colour-vision deficiencies).
_LOST = "#d7301f"
_GAINED = "#2171b5"
_REFERENCE_EDGE = "#737373"
_NEW_EDGE = "#006d2c"
_FRONT_EDGE = "#000000"


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    _draw(ax, result)
    ax.set_title(title or _default_title(result), fontsize=11)

    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    log.info("wrote map %s", path)
    return Path(path)


def _draw(ax: Axes, result: DiffResult) -> None:
    """Draw every layer of ``result`` onto ``ax``."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, PathPatch

    reference = result.glaciers.loc[result.glaciers["status"] != "new"]
    layers: list[tuple[Any, dict[str, Any]]] = [
        (result.lost.geometry, {"facecolor": _LOST, "edgecolor": "none", "alpha": 0.85}),
        (result.gained.geometry, {"facecolor": _GAINED, "edgecolor": "none", "alpha": 0.85}),
        (
            reference.geometry,
            # Drawn wide and grey under the thin new outline, so both show where they coincide.
            {"facecolor": "none", "edgecolor": _REFERENCE_EDGE, "linewidth": 1.8},
        ),
        (
            result.new_outlines.geometry,
            {"facecolor": "none", "edgecolor": _NEW_EDGE, "linewidth": 0.8, "linestyle": "--"},
        ),
        (
            result.fronts.geometry,
            {"facecolor": "none", "edgecolor": _FRONT_EDGE, "linewidth": 1.4, "hatch": "//"},
        ),
    ]
    for geoms, style in layers:
        path = _polygon_path(np.asarray(geoms.array, dtype=object))
        if path is not None:
            ax.add_patch(PathPatch(path, **style))

    _label_glaciers(ax, result)
    _frame_axes(ax, result)
    _add_scale_bar(ax)

    handles = [
        Line2D([], [], color=_REFERENCE_EDGE, linewidth=1.8, label="reference outline"),
        Line2D([], [], color=_NEW_EDGE, linewidth=0.8, linestyle="--", label="new outline"),
        Patch(facecolor=_GAINED, alpha=0.85, label="gained ice"),
        Patch(facecolor=_LOST, alpha=0.85, label="lost ice"),
        Patch(facecolor="none", edgecolor=_FRONT_EDGE, hatch="//", label="flagged front"),
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)


def _polygon_path(geoms: np.ndarray) -> MplPath | None:
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


def _label_glaciers(ax: Axes, result: DiffResult) -> None:
    """Write each named glacier's name at a point inside its outline, with a white halo."""
    from matplotlib import patheffects

    table = result.glaciers
    named = table.loc[table["glacier_name"].map(lambda n: isinstance(n, str) and bool(n))]
    if len(named) == 0:
        return
    anchors = shapely.point_on_surface(np.asarray(named.geometry.array, dtype=object))
    xy = shapely.get_coordinates(anchors)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    fontsize = 8 if len(named) <= 15 else 6
    for (x, y), name in zip(xy, named["glacier_name"], strict=True):
        ax.text(
            x, y, name, fontsize=fontsize, ha="center", va="center", path_effects=halo, zorder=5
        )


def _frame_axes(ax: Axes, result: DiffResult) -> None:
    """Fit the view to the data with a margin; equal aspect; tick labels in km."""
    from matplotlib.ticker import FuncFormatter

    frames = [result.glaciers, result.new_outlines]
    bounds = np.array([f.total_bounds for f in frames if len(f)])
    minx, miny = np.nanmin(bounds[:, :2], axis=0)
    maxx, maxy = np.nanmax(bounds[:, 2:], axis=0)
    pad = 0.05 * max(maxx - minx, maxy - miny, 100.0)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    km = FuncFormatter(lambda value, _pos: f"{value / 1000:g}")
    ax.xaxis.set_major_formatter(km)
    ax.yaxis.set_major_formatter(km)
    crs = result.summary.get("crs") or "metric CRS"
    ax.set_xlabel(f"easting, km ({crs})", fontsize=8)
    ax.set_ylabel(f"northing, km ({crs})", fontsize=8)
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
