"""The ground truth of a landscape: outlines vectorised from its glacier-id raster, and the truth files.

:func:`polygonal_outlines` turns a glacier-id raster into one (Multi)Polygon per glacier along pixel edges,
so outlines and pixels always agree; :func:`write_truth` writes the outlines, DEM, land/sea mask and surface
classes through :mod:`glaciermap.io` (the one COG and GeoPackage writers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine

from glaciermap.simulate.landscape.model import (
    LANDSEA_LAKE,
    LANDSEA_LAND,
    LANDSEA_SEA,
    Landscape,
    Surface,
)

if TYPE_CHECKING:
    import geopandas as gpd


def landsea_mask(landscape: Landscape) -> np.ndarray:
    """(H, W) uint8: :data:`LANDSEA_LAND` (glaciers included), :data:`LANDSEA_SEA`, :data:`LANDSEA_LAKE`."""
    out = np.full(landscape.shape, LANDSEA_LAND, dtype=np.uint8)
    out[landscape.surface == Surface.SEA] = LANDSEA_SEA
    out[landscape.surface == Surface.LAKE] = LANDSEA_LAKE
    return out


def write_truth(landscape: Landscape, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a landscape's ground truth under ``out_dir/truth/``.

    Files (each written to a temporary name and renamed when complete):

    - ``outlines.gpkg``, layer ``glaciers``: ``glacier_id``, ``glacier_name``, ``kind``, ``area_km2``
      and valid Polygon/MultiPolygon geometries in the landscape's CRS;
    - ``dem.tif``: float32 COG, metres above sea level (0 on the sea);
    - ``landsea.tif``: uint8 COG, 0 sea, 1 land (glaciers included), 2 lake (see :func:`landsea_mask`);
    - ``surface.tif``: uint8 COG of :class:`Surface` codes.

    Args:
        landscape: what to write.
        out_dir: the scene folder; ``truth/`` is created in it.

    Returns:
        The written paths by name: ``outlines``, ``dem``, ``landsea``, ``surface``.
    """
    import shapely

    from glaciermap.io.raster import write_cog
    from glaciermap.io.vector import write_gpkg

    truth = Path(out_dir) / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    paths = {
        "outlines": truth / "outlines.gpkg",
        "dem": truth / "dem.tif",
        "landsea": truth / "landsea.tif",
        "surface": truth / "surface.tif",
    }
    frame = landscape.outlines[["glacier_id", "glacier_name", "kind", "geometry"]].copy()
    frame["area_km2"] = shapely.area(frame.geometry.values) / 1e6
    frame = frame[["glacier_id", "glacier_name", "kind", "area_km2", "geometry"]]
    write_gpkg(paths["outlines"], {"glaciers": frame})
    codes = ", ".join(f"{s.value}={s.name}" for s in Surface)
    rasters = (
        ("dem", landscape.dem.astype(np.float32), {"units": "metre", "description": "elevation"}),
        ("landsea", landsea_mask(landscape), {"codes": "0=sea, 1=land incl. glaciers, 2=lake"}),
        ("surface", landscape.surface.astype(np.uint8), {"codes": codes}),
    )
    for name, values, tags in rasters:
        # Deflate with the predictor for the dtype; overviews averaged for the DEM, nearest for codes.
        write_cog(
            paths[name],
            values,
            crs=landscape.crs,
            transform=landscape.transform,
            tags=tags,
            blocksize=512,
            predictor="auto",
        )
    return paths


def polygonal_outlines(
    ids: np.ndarray,
    transform: Affine,
    crs: str,
    attributes: dict[int, dict[str, Any]],
    columns: tuple[str, ...],
) -> gpd.GeoDataFrame:
    """Vectorise a glacier-id raster: one (Multi)Polygon per id, exactly along pixel edges.

    Args:
        ids: (H, W) int32, 0 = no glacier.
        transform: the grid's transform.
        crs: the grid's CRS.
        attributes: per id, the values of the extra columns.
        columns: the extra columns, in order (present even when there is no glacier).

    Returns:
        GeoDataFrame with ``glacier_id`` (int32), the extra columns, ``area_km2`` and geometry, sorted
        by id.
    """
    import geopandas as gpd
    import shapely
    from rasterio.features import shapes
    from shapely.geometry import shape

    from glaciermap.io.inventory import repair_polygons

    parts: dict[int, list[Any]] = {}
    if ids.any():
        for geom, value in shapes(ids, mask=ids > 0, connectivity=4, transform=transform):
            parts.setdefault(int(value), []).append(shape(geom))
    gids = sorted(parts)
    geoms = np.array(
        [parts[g][0] if len(parts[g]) == 1 else shapely.MultiPolygon(parts[g]) for g in gids]
        + [None],
        dtype=object,
    )[:-1]
    # Parts of one id that touch at a pixel corner are valid as a MultiPolygon; repair anything else.
    geoms, _ = repair_polygons(geoms)
    data: dict[str, Any] = {"glacier_id": np.asarray(gids, dtype=np.int32)}
    for key in columns:
        data[key] = [attributes.get(g, {}).get(key) for g in gids]
    data["area_km2"] = shapely.area(geoms) / 1e6 if len(gids) else np.zeros(0)
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=crs)
