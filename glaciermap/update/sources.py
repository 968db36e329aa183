"""The inputs of an inventory update, read and checked: this year's outlines, an earlier inventory, the
reference.

Each reader returns an :class:`~glaciermap.io.inventory.Inventory` in the region's CRS whose frame has
what :mod:`glaciermap.diff` matches on, ``glacier_id`` (str, unique) and ``glacier_name`` (str or None),
and valid (Multi)Polygons; diff names the file in its messages. Everything is read through
:func:`glaciermap.io.inventory.read_inventory`, so a missing or unreadable file is one
:class:`~glaciermap.errors.InputError` naming it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from glaciermap.errors import InputError
from glaciermap.inventory_format import GLACIERS_LAYER

if TYPE_CHECKING:
    from glaciermap.io.inventory import Inventory
    from glaciermap.regions import Region

PathLike = str | os.PathLike[str]


def read_outlines(path: PathLike, region: Region) -> Inventory:
    """This year's outlines (``outlines.gpkg`` from vectorize, or any outline file), in the region's CRS.

    An outline file without features is a year in which no glacier was mapped (vectorize writes an
    empty layer then): every glacier of the baseline disappeared, which is a result, not bad input.
    """
    import geopandas as gpd

    from glaciermap.io.inventory import Inventory, read_inventory
    from glaciermap.io.vector import read_frame

    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".gpkg":
        frame = read_frame(path)
        if len(frame) == 0 and isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None:
            empty = gpd.GeoDataFrame(
                {"glacier_id": [], "glacier_name": []}, geometry=[], crs=frame.crs
            ).to_crs(region.crs)
            return Inventory(empty, path, "generic", None, 0, 0)
    return _matching_columns(read_inventory(path, crs=region.crs))


def read_previous(path: PathLike, region: Region) -> Inventory:
    """An earlier year's ``glaciers.gpkg`` (``glacier_id``, ``glac_name``, ``parent_id``), region CRS.

    Raises:
        InputError: the file is unreadable or is not a glaciermap inventory.
    """
    from glaciermap.io.inventory import read_inventory
    from glaciermap.io.vector import list_layers

    layers = [name for name, _ in list_layers(path)]
    inventory = read_inventory(
        Path(path), layer=GLACIERS_LAYER if GLACIERS_LAYER in layers else None, crs=region.crs
    )
    # read_inventory gives any file a glacier_id; an inventory of ours has its own, and glac_name.
    if "glac_name" not in inventory.frame.columns:
        raise InputError(
            f"{path} is not a glaciermap inventory (no glac_name column)",
            "give the glaciers.gpkg an earlier `glaciermap run` wrote, or pass it as the reference",
        )
    # A split part keeps naming the glacier it broke off, year after year.
    return _matching_columns(inventory, extra=("parent_id",))


def read_reference(path: PathLike, region: Region) -> Inventory:
    """A reference inventory (RGI 5/6/7, NPI, GLIMS, any outline file): its glaciers inside the region.

    A glacier belongs to the region when a point inside its outline (``representative_point``) lies in
    the region's AOI: glaciers straddling the edge are kept whole, and the glaciers of a large inventory
    outside the region are left out instead of being reported as disappeared.

    Raises:
        InputError: the file is unreadable, or none of its glaciers lies inside the region.
    """
    import shapely

    from glaciermap.io.inventory import read_inventory

    inventory = read_inventory(Path(path), crs=region.crs)
    frame = inventory.frame
    aoi = shapely.from_wkt(region.aoi_wkt) if region.aoi_wkt else shapely.box(*region.aoi)
    inside = shapely.within(frame.geometry.representative_point().to_numpy(), aoi)
    if not inside.any():
        west, south, east, north = (round(v / 1000) for v in frame.total_bounds)
        raise InputError(
            f"reference {path} has no glacier inside region {region.name!r} "
            f"(its outlines span x {west}-{east} km, y {south}-{north} km in {region.crs})",
            "give an inventory that covers the region",
        )
    return _matching_columns(dataclasses.replace(inventory, frame=frame.loc[inside]))


def _matching_columns(inventory: Inventory, extra: tuple[str, ...] = ()) -> Inventory:
    """Only what matching needs: ``glacier_id``, ``glacier_name``, ``extra`` columns and the geometry."""
    frame = inventory.frame
    columns = ["glacier_id", "glacier_name", *(c for c in extra if c in frame), frame.geometry.name]
    return dataclasses.replace(inventory, frame=frame[columns].reset_index(drop=True))
