"""Reading one year's inventory update back: glaciers, changes and summary, for the report and STAC.

The files follow :mod:`glaciermap.inventory_format`. A missing ``glaciers.gpkg`` or ``summary.json`` is
bad input (the year was not written); a ``changes.gpkg`` layer that is absent reads as an empty frame,
so a year with nothing to compare (no reference) still reads.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.inventory_format import (
    CHANGE_LAYERS,
    CHANGES_GPKG,
    GLACIERS_GPKG,
    GLACIERS_LAYER,
    SUMMARY_JSON,
    change_column_names,
)

if TYPE_CHECKING:
    import geopandas as gpd

_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


@dataclass
class YearOutputs:
    """One year's inventory update as read from its folder.

    Attributes:
        folder: the year's folder (``inventory/<region>/<year>/``).
        glaciers: ``glaciers.gpkg``'s layer, one row per glacier, in the region's CRS.
        changes: ``changes.gpkg``'s layers by name (every name of ``CHANGE_LAYERS``; empty if absent).
        summary: ``summary.json`` as a dict.
    """

    folder: Path
    glaciers: gpd.GeoDataFrame
    changes: dict[str, gpd.GeoDataFrame]
    summary: dict[str, Any]

    @property
    def previous_year(self) -> int | None:
        """The year compared with (None on the first year)."""
        value = self.summary.get("previous_year")
        return int(value) if value is not None else None

    @property
    def provenance(self) -> dict[str, Any]:
        """``summary.json``'s provenance (empty if it has none)."""
        value = self.summary.get("provenance")
        return value if isinstance(value, dict) else {}


def read_summary(folder: str | Path) -> dict[str, Any]:
    """``summary.json`` of a year's folder.

    Raises:
        InputError: the file is missing or not a JSON object.
    """
    path = Path(folder) / SUMMARY_JSON
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(
            f"{path} not found", "run the year's inventory update (glaciermap run) first"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc})", "rerun the year's update") from exc
    if not isinstance(summary, dict):
        raise InputError(f"{path} does not hold a JSON object", "rerun the year's update")
    return summary


def read_glaciers(folder: str | Path) -> gpd.GeoDataFrame:
    """``glaciers.gpkg``'s ``glaciers`` layer of a year's folder."""
    from glaciermap.io.vector import read_frame

    path = Path(folder) / GLACIERS_GPKG
    if not path.is_file():
        raise InputError(
            f"{path} not found", "run the year's inventory update (glaciermap run) first"
        )
    return read_frame(path, layer=GLACIERS_LAYER, hint="rerun the year's inventory update")


def read_changes(folder: str | Path, crs: Any) -> dict[str, gpd.GeoDataFrame]:
    """``changes.gpkg``'s layers by name; a missing file or layer gives an empty frame in ``crs``."""
    import geopandas as gpd

    from glaciermap.io.vector import list_layers, read_frame

    path = Path(folder) / CHANGES_GPKG
    present = {name for name, _ in list_layers(path)} if path.is_file() else set()
    layers = {}
    for name in CHANGE_LAYERS:
        if name in present:
            layers[name] = read_frame(path, layer=name, hint="rerun the year's inventory update")
        else:
            layers[name] = gpd.GeoDataFrame(
                {column: [] for column in change_column_names()}, geometry=[], crs=crs
            )
    return layers


def read_year(folder: str | Path) -> YearOutputs:
    """Read a year's ``glaciers.gpkg``, ``changes.gpkg`` and ``summary.json``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"inventory folder {folder} not found", "check the region and year")
    glaciers = read_glaciers(folder)
    return YearOutputs(
        folder=folder,
        glaciers=glaciers,
        changes=read_changes(folder, glaciers.crs),
        summary=read_summary(folder),
    )


def acquisition_dates(provenance: dict[str, Any]) -> list[date]:
    """Every ISO date found in provenance's ``dates`` (a list, a mapping or one string), sorted.

    ``dates`` may list the acquisitions (``["2021-07-02", ...]``), give a range (``{"first": ...,
    "last": ...}``) or hold timestamps; anything that does not start with ``YYYY-MM-DD`` is ignored.
    """
    found: list[date] = []

    def visit(value: Any) -> None:
        if isinstance(value, str):
            match = _ISO_DATE.match(value)
            if match:
                with contextlib.suppress(ValueError):  # a malformed date is not a date
                    found.append(date.fromisoformat(match.group(1)))
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)

    visit(provenance.get("dates"))
    return sorted(found)


def date_range(outputs: YearOutputs, year: int) -> tuple[date, date]:
    """The first and last acquisition date of the year's outlines.

    From provenance's ``dates``; else the glaciers' ``first_date``/``last_date``; else the whole
    calendar year.
    """
    dates = acquisition_dates(outputs.provenance)
    if not dates:
        columns = [c for c in ("first_date", "last_date") if c in outputs.glaciers.columns]
        dates = acquisition_dates(
            {"dates": [str(v) for c in columns for v in outputs.glaciers[c].dropna()]}
        )
    if not dates:
        return date(year, 1, 1), date(year, 12, 31)
    return dates[0], dates[-1]


__all__ = [
    "YearOutputs",
    "acquisition_dates",
    "date_range",
    "read_changes",
    "read_glaciers",
    "read_summary",
    "read_year",
]
