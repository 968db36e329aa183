"""``changes.gpkg``: ice gained and lost, flagged fronts and disappeared glaciers, against the previous
year and against the reference.

:func:`write_changes` is a stage of its own: it reads the year's ``glaciers.gpkg`` and compares it with
each baseline given (last year's ``glaciers.gpkg``, the reference inventory) through
:func:`glaciermap.diff.diff_inventories`, with the same thresholds as the update, so a restarted pipeline
recomputes it from files alone. Every row says which baseline it is against (``against``: ``previous``
or ``reference``). A baseline glacier with no ice left is a ``disappeared`` row with its last outline.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glaciermap.diff import DEFAULT_MIN_FRONT_AREA_KM2, DEFAULT_MIN_FRONT_SHIFT_M
from glaciermap.inventory_format import (
    CHANGE_COLUMNS,
    CHANGE_LAYERS,
    CHANGES_GPKG,
    GLACIERS_GPKG,
    GLACIERS_LAYER,
)

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from glaciermap.io.inventory import Inventory
    from glaciermap.regions import Region

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_LAYER_OPTIONS = {
    name: {"geometry_type": "MultiPolygon", "promote_to_multi": True} for name in CHANGE_LAYERS
}


def write_changes(
    out_dir: PathLike,
    *,
    region: Region,
    previous: PathLike | None = None,
    reference: PathLike | None = None,
    min_front_area_km2: float = DEFAULT_MIN_FRONT_AREA_KM2,
    min_front_shift_m: float = DEFAULT_MIN_FRONT_SHIFT_M,
) -> Path:
    """Write ``out_dir/changes.gpkg`` from ``out_dir/glaciers.gpkg`` and the baselines, atomically.

    Args:
        out_dir: the year's inventory folder, holding ``glaciers.gpkg``.
        region: the region (its CRS; its AOI selects the reference's glaciers).
        previous: last year's ``glaciers.gpkg``, or None (first year): no ``previous`` rows.
        reference: the reference inventory, or None: no ``reference`` rows.
        min_front_area_km2, min_front_shift_m: what counts as a flagged front (as for the update).

    Returns:
        The path written. Its four layers (``CHANGE_LAYERS``) have ``CHANGE_COLUMNS``; with no baseline
        they are empty.

    Raises:
        InputError: ``glaciers.gpkg`` or a baseline is missing or unreadable, or the reference has no
            glacier in the region.
    """
    from glaciermap.io.vector import write_gpkg
    from glaciermap.update.sources import read_previous, read_reference

    folder = Path(out_dir)
    glaciers = read_year(folder / GLACIERS_GPKG, region)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in CHANGE_LAYERS}
    baselines = (("previous", previous, read_previous), ("reference", reference, read_reference))
    for against, source, read in baselines:
        if source is None:
            continue
        for name, found in compare(
            glaciers,
            read(source, region),
            against=against,
            crs=region.crs,
            min_front_area_km2=min_front_area_km2,
            min_front_shift_m=min_front_shift_m,
        ).items():
            rows[name] += found
    layers = {name: _layer(rows[name], region.crs) for name in CHANGE_LAYERS}
    path = write_gpkg(folder / CHANGES_GPKG, layers, layer_options=_LAYER_OPTIONS)
    log.info("wrote %s (%s)", path, ", ".join(f"{len(layers[n])} {n}" for n in CHANGE_LAYERS))
    return path


def read_year(path: Path, region: Region) -> Inventory:
    """A year's ``glaciers.gpkg`` for comparing: ``glacier_id``, ``glacier_name`` and the outline.

    Read as it is (an inventory may, in principle, be empty: then everything before it disappeared).
    """
    from glaciermap.errors import InputError
    from glaciermap.io.inventory import Inventory
    from glaciermap.io.vector import read_frame

    if not path.is_file():
        raise InputError(f"{path} does not exist", "run the inventory update first")
    frame = read_frame(path, layer=GLACIERS_LAYER)
    if frame.crs is None or "glacier_id" not in frame.columns:
        raise InputError(f"{path} is not a glaciermap inventory", "run the inventory update again")
    frame = frame.to_crs(region.crs)
    frame = frame.assign(glacier_name=frame["glac_name"])
    columns = ["glacier_id", "glacier_name", frame.geometry.name]
    return Inventory(frame[columns], path, "glaciermap", GLACIERS_LAYER, n_repaired=0, n_dropped=0)


def compare(
    glaciers: Inventory,
    baseline: Inventory,
    *,
    against: str,
    crs: Any,
    min_front_area_km2: float,
    min_front_shift_m: float,
) -> dict[str, list[dict[str, Any]]]:
    """Rows of the four layers for one baseline (``against`` names it), by layer name."""
    from glaciermap.diff import diff_inventories

    if len(glaciers) == 0:
        every = [_disappeared_row(r, against) for r in _gone(baseline.frame, crs)]
        return {"gained": [], "lost": [], "fronts": [], "disappeared": every}
    result = diff_inventories(
        glaciers,
        baseline,
        crs=crs,
        min_front_area_km2=min_front_area_km2,
        min_front_shift_m=min_front_shift_m,
    )
    table = result.glaciers
    gone = table.loc[table["status"] == "disappeared"]
    return {
        "gained": _patch_rows(result.gained, against, "gained"),
        "lost": _patch_rows(result.lost, against, "lost"),
        "fronts": _patch_rows(result.fronts, against, None),
        "disappeared": [
            _disappeared_row((i, n, a, g), against)
            for i, n, a, g in zip(
                gone["glacier_id"],
                gone["glacier_name"],
                gone["area_ref_km2"],
                gone.geometry,
                strict=True,
            )
        ],
    }


def _patch_rows(patches: pd.DataFrame, against: str, kind: str | None) -> list[dict[str, Any]]:
    """Gained/lost/front patches as layer rows; ``kind`` None keeps the patch's retreat/advance."""
    fronts = patches["front"] if "front" in patches.columns else np.ones(len(patches), dtype=bool)
    return [
        {
            "glacier_id": glacier_id,
            "glac_name": name,
            "against": against,
            "kind": kind or patch_kind,
            "area_km2": area,
            "shift_m": shift,
            "front": bool(front),
            "geometry": geometry,
        }
        for glacier_id, name, patch_kind, area, shift, front, geometry in zip(
            patches["glacier_id"],
            patches["glacier_name"],
            patches["kind"] if "kind" in patches.columns else [kind] * len(patches),
            patches["area_km2"],
            patches["max_shift_m"],
            fronts,
            patches.geometry,
            strict=True,
        )
    ]


def _gone(baseline: gpd.GeoDataFrame, crs: Any) -> list[tuple[Any, Any, float, Any]]:
    """Every baseline glacier as ``(id, name, area km², outline)``: all of them disappeared."""
    import shapely

    frame = baseline.to_crs(crs)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    areas = shapely.area(geoms) / 1e6
    return list(zip(frame["glacier_id"], frame["glacier_name"], areas, geoms, strict=True))


def _disappeared_row(row: tuple[Any, Any, float, Any], against: str) -> dict[str, Any]:
    glacier_id, name, area, geometry = row
    return {
        "glacier_id": glacier_id,
        "glac_name": name,
        "against": against,
        "kind": "disappeared",
        "area_km2": area,
        "shift_m": None,
        "front": False,
        "geometry": geometry,
    }


def _layer(rows: list[dict[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    from glaciermap.update.tables import contract_frame

    columns = {name: [row[name] for row in rows] for name, _ in CHANGE_COLUMNS}
    return contract_frame(
        columns, CHANGE_COLUMNS, geometry=[row["geometry"] for row in rows], crs=crs
    )
