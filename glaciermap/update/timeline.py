"""A region's glaciers across the workspace's years: area, change and front shift per glacier and year.

:func:`history` reads the attribute tables of every ``inventory/<region>/<year>/glaciers.gpkg`` (no
geometry) and the ``disappeared`` layer of each year's ``changes.gpkg``; :func:`plot_history` draws the
result as a PNG (matplotlib's object API on the Agg canvas, no pyplot). Behind ``glaciermap history``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.inventory_format import CHANGES_GPKG, GLACIERS_GPKG, GLACIERS_LAYER, SUMMARY_JSON

if TYPE_CHECKING:
    import pandas as pd

    from glaciermap.workspace import Workspace

log = logging.getLogger(__name__)

HISTORY_COLUMNS = (
    "glacier_id",
    "glac_name",
    "parent_id",
    "year",
    "area_km2",
    "change_km2",
    "front_shift_m",
    "status",
)
"""Columns of :func:`history`'s frame, one row per glacier and year."""

LEGEND_MAX = 12
"""Glaciers named in the plot's legend; with more the lines are drawn unlabelled."""


def history(workspace: Workspace, region: str, glacier: str | None = None) -> pd.DataFrame:
    """Every glacier of ``region`` in every year of the workspace's inventory.

    A glacier that disappeared appears once more, in the year it disappeared: area 0, its lost area as
    ``change_km2`` and status ``disappeared``.

    Args:
        workspace: the workspace.
        region: the region's name.
        glacier: only this glacier id, and the parts that split off it (``parent_id``).

    Returns:
        ``HISTORY_COLUMNS``, sorted by glacier id and year.

    Raises:
        InputError: the region has no inventory yet, or no glacier ``glacier``.
    """
    import pandas as pd

    years = workspace.inventory_years(region)
    if not years:
        raise InputError(
            f"region {region!r} has no inventory yet in {workspace.root}",
            f"run `glaciermap run --region {region}` first",
        )
    frames = [_year_rows(workspace.inventory_dir(region, year), year, years) for year in years]
    table = pd.concat(frames, ignore_index=True)
    if glacier is not None:
        family = {glacier, *table.loc[table["parent_id"] == glacier, "glacier_id"]}
        table = table.loc[table["glacier_id"].isin(family)]
        if table.empty:
            raise InputError(
                f"no glacier {glacier!r} in the inventory of {region!r} ({_span(years)})",
                f"see `glaciermap history --region {region}` for the ids",
            )
    return table.sort_values(["glacier_id", "year"], kind="stable").reset_index(drop=True)


def _year_rows(folder: Path, year: int, years: list[int]) -> pd.DataFrame:
    """The rows of one year: its glaciers, then the glaciers that disappeared against its baseline."""
    import pandas as pd

    from glaciermap.io.vector import list_layers, read_frame

    glaciers = read_frame(folder / GLACIERS_GPKG, layer=GLACIERS_LAYER, read_geometry=False)
    rows = glaciers.assign(year=year)[list(HISTORY_COLUMNS)]
    changes = folder / CHANGES_GPKG
    if not changes.is_file() or "disappeared" not in {n for n, _ in list_layers(changes)}:
        return rows
    gone = read_frame(changes, layer="disappeared", read_geometry=False)
    gone = gone.loc[gone["against"] == _baseline(folder, year, years)]
    if gone.empty:
        return rows
    lost = pd.DataFrame(
        {
            "glacier_id": gone["glacier_id"],
            "glac_name": gone["glac_name"],
            "parent_id": None,
            "year": year,
            "area_km2": 0.0,
            "change_km2": -gone["area_km2"],
            "front_shift_m": 0.0,
            "status": "disappeared",
        }
    )
    return pd.concat([rows, lost], ignore_index=True)


def _baseline(folder: Path, year: int, years: list[int]) -> str:
    """What a year was compared with: summary.json says; without it, the first year had the reference."""
    compared_with_previous = year != years[0]
    summary = folder / SUMMARY_JSON
    if summary.is_file():
        with contextlib.suppress(json.JSONDecodeError):
            document = json.loads(summary.read_text(encoding="utf-8"))
            compared_with_previous = document.get("previous_year") is not None
    return "previous" if compared_with_previous else "reference"


def _span(years: list[int]) -> str:
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


def plot_history(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    overwrite: bool = True,
    dpi: int = 120,
) -> Path:
    """Draw area (top) and flagged front shift (bottom) per glacier across the years as a PNG.

    Args:
        frame: :func:`history`'s rows.
        path: the PNG to write (atomically).
        title: the figure's title.
        overwrite: replace an existing file; if False an existing one is an :class:`InputError`.
        dpi: resolution.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from glaciermap.io.files import atomic_output

    fig = Figure(figsize=(9, 7), layout="constrained")
    FigureCanvasAgg(fig)
    area_ax, shift_ax = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    groups = list(frame.groupby("glacier_id", sort=True))
    labelled = len(groups) <= LEGEND_MAX
    for glacier_id, rows in groups:
        rows = rows.sort_values("year")
        label = _label(glacier_id, rows["glac_name"].iloc[0]) if labelled else None
        (line,) = area_ax.plot(rows["year"], rows["area_km2"], marker="o", label=label)
        shift_ax.plot(
            rows["year"], rows["front_shift_m"], marker="o", linestyle=":", color=line.get_color()
        )
    area_ax.set_ylabel("area (km²)")
    shift_ax.set_ylabel("front shift (m)\n< 0 retreat, > 0 advance")
    shift_ax.axhline(0.0, color="0.6", linewidth=0.8)
    shift_ax.set_xlabel("year")
    shift_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (area_ax, shift_ax):
        ax.grid(True, alpha=0.3)
    if labelled and groups:
        area_ax.legend(fontsize=8, loc="best")
    area_ax.set_title(title or f"{len(groups)} glaciers across the years", fontsize=11)
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    log.info("wrote %s", path)
    return Path(path)


def _label(glacier_id: Any, name: Any) -> str:
    return f"{name} ({glacier_id})" if isinstance(name, str) and name else str(glacier_id)
