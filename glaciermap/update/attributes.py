"""Per-glacier attributes of ``glaciers.gpkg``: areas, change, mean probability, centroid, provenance.

:func:`glacier_table` turns matched glaciers (:mod:`glaciermap.update.ids`) into the contract's
``GLACIER_COLUMNS``. :func:`mean_probability` reads ``probability.tif`` one glacier window at a time
(in strips of at most :data:`MAX_WINDOW_PIXELS` for very large glaciers) and rasterises the outline into
it, so memory stays flat however many glaciers a region holds.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from glaciermap.inventory_format import GLACIER_COLUMNS

if TYPE_CHECKING:
    import geopandas as gpd

MAX_WINDOW_PIXELS = 16_000_000
"""Most pixels read at once for one glacier (64 MB of float32); larger glaciers are read in strips."""

_M2_PER_KM2 = 1e6


def glacier_table(
    glaciers: gpd.GeoDataFrame,
    *,
    probability: str | os.PathLike[str] | None,
    year: int,
    dates: Iterable[dt.date | str] = (),
    model: str = "",
    weights_sha256: str = "",
) -> gpd.GeoDataFrame:
    """The contract's ``glaciers`` layer from matched glaciers.

    Args:
        glaciers: :attr:`~glaciermap.update.ids.MatchedGlaciers.glaciers` (metric CRS).
        probability: ``probability.tif`` of the year, or None (``mean_probability`` is then null).
        year: the inventory's year.
        dates: the acquisition dates the model used (``date`` or ISO strings): the first, the last and
            how many distinct ones (null dates and 0 when none are given).
        model: the weights' name. weights_sha256: their digest.

    Returns:
        A GeoDataFrame with exactly ``GLACIER_COLUMNS`` and the geometry, in the input's CRS.
    """
    from glaciermap.update.tables import contract_frame

    geoms = np.asarray(glaciers.geometry.array, dtype=object)
    n = len(geoms)
    area = shapely.area(geoms) / _M2_PER_KM2
    before = glaciers["area_before_km2"].to_numpy(dtype=float)
    # change = this year's area minus the same id's area before (0 for a new id), so the changes of
    # all glaciers plus the lost area of the disappeared ones add up to the region's change.
    change = area - before
    with np.errstate(divide="ignore", invalid="ignore"):
        change_pct = np.where(before > 0, 100.0 * change / before, np.nan)
    iso = sorted({_iso(d) for d in dates})
    lon, lat = lonlat_centroids(geoms, glaciers.crs)
    mean = (
        mean_probability(probability, geoms, glaciers.crs)
        if probability is not None
        else np.full(n, np.nan)
    )
    columns = {
        "glacier_id": glaciers["glacier_id"],
        "glac_name": glaciers["glacier_name"],
        "parent_id": glaciers["parent_id"],
        "area_km2": area,
        "perimeter_km": shapely.length(geoms) / 1000.0,
        "change_km2": change,
        "change_pct": change_pct,
        "status": glaciers["status"],
        "front_shift_m": glaciers["front_shift_m"],
        "mean_probability": mean,
        "year": np.full(n, year),
        "first_date": np.full(n, iso[0] if iso else None, dtype=object),
        "last_date": np.full(n, iso[-1] if iso else None, dtype=object),
        "n_acquisitions": np.full(n, len(iso)),
        "model": np.full(n, model, dtype=object),
        "weights_sha256": np.full(n, weights_sha256, dtype=object),
        "cenlon": lon,
        "cenlat": lat,
    }
    return contract_frame(columns, GLACIER_COLUMNS, geometry=geoms, crs=glaciers.crs)


def _iso(date: dt.date | str) -> str:
    """An acquisition date as ``YYYY-MM-DD`` (datetimes lose their time)."""
    if isinstance(date, dt.datetime):
        return date.date().isoformat()
    if isinstance(date, dt.date):
        return date.isoformat()
    return dt.date.fromisoformat(str(date)[:10]).isoformat()


def lonlat_centroids(geoms: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (WGS 84 degrees) of each geometry's centroid, as RGI 7's cenlon/cenlat."""
    from pyproj import Transformer

    centroids = shapely.centroid(geoms)
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(shapely.get_x(centroids), shapely.get_y(centroids))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def mean_probability(path: str | os.PathLike[str], geoms: np.ndarray, crs: Any) -> np.ndarray:
    """Mean of a probability raster over the pixels whose centres lie inside each outline.

    Args:
        path: the single-band probability raster (NaN or its no-data value where nothing was observed).
        geoms: (N,) outlines in ``crs``.
        crs: the outlines' CRS (reprojected to the raster's when they differ).

    Returns:
        (N,) float64: the mean over observed pixels; NaN for an outline without any.

    Raises:
        InputError: the raster is missing, unreadable or has no CRS.
    """
    import geopandas as gpd
    from pyproj import CRS

    from glaciermap.io.raster import open_raster, read_errors_as_input

    out = np.full(len(geoms), np.nan)
    with open_raster(path) as src, read_errors_as_input(path):
        if not CRS.from_user_input(crs).equals(CRS.from_user_input(src.crs)):
            geoms = np.asarray(gpd.GeoSeries(list(geoms), crs=crs).to_crs(src.crs), dtype=object)
        for i, geom in enumerate(geoms):
            if geom is None or geom.is_empty:
                continue
            total, count = 0.0, 0
            for window in _windows(src, geom.bounds):
                part_total, part_count = _sum_inside(src, window, geom)
                total += part_total
                count += part_count
            if count:
                out[i] = total / count
    return out


def _windows(src: Any, bounds: tuple[float, float, float, float]) -> list[Any]:
    """The raster windows covering ``bounds``, in row strips of at most MAX_WINDOW_PIXELS."""
    from rasterio import windows

    box = windows.from_bounds(*bounds, transform=src.transform)
    col0 = max(0, math.floor(box.col_off))
    row0 = max(0, math.floor(box.row_off))
    col1 = min(src.width, math.ceil(box.col_off + box.width))
    row1 = min(src.height, math.ceil(box.row_off + box.height))
    if col1 <= col0 or row1 <= row0:
        return []
    rows = max(1, MAX_WINDOW_PIXELS // (col1 - col0))
    return [
        windows.Window(col0, top, col1 - col0, min(rows, row1 - top))
        for top in range(row0, row1, rows)
    ]


def _sum_inside(src: Any, window: Any, geom: Any) -> tuple[float, int]:
    """Sum and count of the observed pixels of ``window`` whose centres lie inside ``geom``."""
    from rasterio import features, windows

    data = src.read(1, window=window, masked=True)
    inside = features.rasterize(
        [(geom, 1)],
        out_shape=data.shape,
        transform=windows.transform(window, src.transform),
        fill=0,
        dtype="uint8",
    ).astype(bool)
    values = np.ma.getdata(data)
    valid = inside & ~np.ma.getmaskarray(data) & np.isfinite(values)
    return float(values[valid].sum(dtype=np.float64)), int(valid.sum())
