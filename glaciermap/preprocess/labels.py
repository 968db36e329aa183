"""Glacier labels on the tile grid, rasterised from an inventory.

A label is an ``(H, W)`` uint8 array: 1 glacier, 0 not glacier, 255 ignore (the stack never observed the
pixel). Pixels are glacier when their centre lies inside an outline (GDAL's default rasterisation rule),
which keeps the labelled area unbiased: on average as many boundary pixels are in as are out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from glaciermap.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from glaciermap.regions import Bounds, Tile

GLACIER = 1
NOT_GLACIER = 0
IGNORE = 255


def load_outlines(path, crs: str):  # type: ignore[no-untyped-def]
    """The inventory's outlines in ``crs`` as a shapely geometry array (see ``read_inventory``)."""
    import numpy as np

    from glaciermap.io.inventory import read_inventory

    inventory = read_inventory(path, crs=crs)
    return np.asarray(inventory.frame.geometry.array, dtype=object)


def outlines_per_tile(outlines: np.ndarray, tiles: Sequence[Tile]) -> dict[str, list[bytes]]:
    """For each tile, the outlines clipped to it, as WKB (small and cheap to send to a worker process).

    Args:
        outlines: shapely (Multi)Polygons in the region's CRS.
        tiles: the tiles.

    Returns:
        tile id -> WKB of the non-empty clipped outlines (an empty list for a tile without glacier).
    """
    import shapely

    tree = shapely.STRtree(outlines)
    out: dict[str, list[bytes]] = {}
    for tile in tiles:
        box = shapely.box(*tile.bounds)
        hits = tree.query(box, predicate="intersects")
        if len(hits) == 0:
            out[tile.id] = []
            continue
        clipped = shapely.intersection(outlines[hits], box)
        keep = ~shapely.is_empty(clipped)
        out[tile.id] = [shapely.to_wkb(g) for g in clipped[keep]]
    return out


def tile_outlines(path, crs: str, tiles: Sequence[Tile]) -> dict[str, list[bytes]]:  # type: ignore[no-untyped-def]
    """:func:`outlines_per_tile` of the inventory at ``path``, read in ``crs``.

    Raises:
        InputError: no outline reaches any of the tiles (another region's inventory, or a wrong CRS):
            every label would be 0 and no tile could be split for training.
    """
    import math

    import shapely

    outlines = load_outlines(path, crs)
    found = outlines_per_tile(outlines, tiles)
    if not any(found.values()):
        bounds = shapely.total_bounds(outlines)
        tiles_box = (
            min(t.bounds[0] for t in tiles),
            min(t.bounds[1] for t in tiles),
            max(t.bounds[2] for t in tiles),
            max(t.bounds[3] for t in tiles),
        )
        raise InputError(
            f"no outline of {path} reaches the region's {len(tiles)} tile(s): the outlines "
            + (f"span {_extent(bounds)}" if all(map(math.isfinite, bounds)) else "lie off the map")
            + f", the tiles {_extent(tiles_box)} ({crs})",
            "give the inventory of this region (or fix its CRS)",
        )
    return found


def _extent(bounds: Sequence[float]) -> str:
    """``x 400–410 km, y 8730–8740 km``."""
    minx, miny, maxx, maxy = (v / 1000 for v in bounds)
    return f"x {minx:.0f}–{maxx:.0f} km, y {miny:.0f}–{maxy:.0f} km"


def rasterize_labels(
    outlines_wkb: Sequence[bytes],
    bounds: Bounds,
    pixel_size: float,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """Rasterise outlines onto a tile: the ``(H, W)`` uint8 label.

    Args:
        outlines_wkb: outline polygons (WKB) in the tile's CRS.
        bounds: the tile's (minx, miny, maxx, maxy).
        pixel_size: metres.
        observed: optional ``(H, W)`` bool, True where the stack has data in at least one band;
            elsewhere the label is 255.

    Returns:
        uint8 array: 1 glacier, 0 not glacier, 255 never observed.
    """
    import numpy as np
    import shapely
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    minx, miny, maxx, maxy = bounds
    width = round((maxx - minx) / pixel_size)
    height = round((maxy - miny) / pixel_size)
    if observed is not None and observed.shape != (height, width):
        raise InputError(
            f"observed mask {observed.shape} does not match the tile ({height}, {width})",
            "this is a bug: the stack and the label must share the tile grid",
        )
    label = np.zeros((height, width), dtype=np.uint8)
    geoms = [shapely.from_wkb(g) for g in outlines_wkb]
    geoms = [g for g in geoms if not g.is_empty]
    if geoms:
        rasterize(
            ((g, GLACIER) for g in geoms),
            out=label,
            transform=from_origin(minx, maxy, pixel_size, pixel_size),
            all_touched=False,
            dtype=np.uint8,
        )
    if observed is not None:
        label[~observed] = IGNORE
    return label
