"""Finishing complete glacier polygons: fill small holes, drop specks, map coordinates, simplify."""

from __future__ import annotations

import logging

import numpy as np
import shapely
from affine import Affine

log = logging.getLogger(__name__)

_POLYGON_TYPE_ID = 3  # shapely.GeometryType.POLYGON


def fill_small_holes(polygons: np.ndarray, max_hole_area: float) -> np.ndarray:
    """Remove interior rings whose area is below ``max_hole_area``.

    Args:
        polygons: (N,) Polygons.
        max_hole_area: holes strictly smaller than this are filled (same units as the coordinates²).

    Returns:
        (N,) Polygons, in the same order.
    """
    if max_hole_area <= 0 or polygons.size == 0:
        return polygons
    with_holes = np.flatnonzero(shapely.get_num_interior_rings(polygons) > 0)
    if with_holes.size == 0:
        return polygons
    rings, owner = shapely.get_rings(polygons[with_holes], return_index=True)
    is_exterior = np.r_[True, owner[1:] != owner[:-1]]
    keep = is_exterior | (shapely.area(shapely.polygons(rings)) >= max_hole_area)
    if keep.all():
        return polygons
    filled = polygons.copy()
    filled[with_holes] = shapely.polygons(rings[keep], indices=owner[keep])
    return filled


def _only_valid_polygons(geometries: np.ndarray, *, holes_only: bool = False) -> np.ndarray:
    """Repair invalid geometries and split everything into single valid Polygons.

    Args:
        geometries: (N,) Polygons, some possibly invalid (e.g. after simplification).
        holes_only: check only polygons with holes. Sound for outlines traced from 4-connected pixel
            regions: their boundary can only touch itself where the region closes around background,
            which makes a hole, so a polygon without holes has a simple ring. Checking all costs more
            than the rest of the cleaning.

    Returns:
        (M,) valid, non-empty Polygons; valid inputs keep their order and come first.
    """
    if holes_only:
        invalid = np.zeros(geometries.size, dtype=bool)
        with_holes = shapely.get_num_interior_rings(geometries) > 0
        invalid[with_holes] = ~shapely.is_valid(geometries[with_holes])
    else:
        invalid = ~shapely.is_valid(geometries)
    if not invalid.any():
        return geometries
    repaired = shapely.get_parts(
        shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
    )
    repaired = repaired[
        (shapely.get_type_id(repaired) == _POLYGON_TYPE_ID) & ~shapely.is_empty(repaired)
    ]
    log.debug("repaired %d invalid outline(s)", int(invalid.sum()))
    return np.concatenate([geometries[~invalid], repaired])


def pixel_to_map(polygons: np.ndarray, transform: Affine) -> np.ndarray:
    """Move polygons from (column, row) pixel coordinates to the raster's map coordinates.

    Args:
        polygons: (N,) geometries in pixel units.
        transform: the raster's affine transform.

    Returns:
        (N,) geometries in the raster's CRS.
    """
    a, b, c, d, e, f = transform[:6]

    def to_map(xy: np.ndarray) -> np.ndarray:
        col, row = xy[:, 0], xy[:, 1]
        return np.column_stack([a * col + b * row + c, d * col + e * row + f])

    return shapely.transform(polygons, to_map)


def clean_outlines(
    polygons_px: np.ndarray,
    transform: Affine,
    *,
    min_area_px: float,
    metres_per_unit: float = 1.0,
    simplify_m: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finish complete glacier polygons: fill small holes, drop specks, map coordinates, simplify.

    Args:
        polygons_px: (N,) complete Polygons in pixel coordinates.
        transform: the raster's affine transform (pixel -> CRS units).
        min_area_px: smallest glacier kept and smallest hole kept, in pixels (may be fractional).
        metres_per_unit: metres per CRS unit.
        simplify_m: tolerance of topology-preserving simplification, metres; None keeps every vertex, so
            areas stay exact.

    Returns:
        ``(geometries, area_km2, perimeter_km)``: (M,) valid Polygons in the CRS and two (M,) float arrays.
    """
    # A tiny relative slack so that a glacier of exactly the minimum area is not lost to rounding.
    cutoff = min_area_px * (1 - 1e-9)
    polygons = fill_small_holes(polygons_px, cutoff)
    if cutoff > 0 and polygons.size:
        polygons = polygons[shapely.area(polygons) >= cutoff]
    # GDAL's 4-connected polygons and GEOS unions are valid; the check is insurance, done here in exact
    # integer coordinates.
    polygons = _only_valid_polygons(polygons, holes_only=True)
    geometries = pixel_to_map(polygons, transform)
    if simplify_m:
        geometries = shapely.simplify(
            geometries, simplify_m / metres_per_unit, preserve_topology=True
        )
        geometries = _only_valid_polygons(geometries)
    area_km2 = shapely.area(geometries) * metres_per_unit**2 / 1e6
    perimeter_km = shapely.length(geometries) * metres_per_unit / 1e3
    return geometries, area_km2, perimeter_km
