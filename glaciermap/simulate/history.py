"""An inventory from an earlier year: the simulated glaciers as they were before their fronts moved.

Real inventories lag the imagery: the outlines users compare against were digitised years earlier, when most
Svalbard glaciers reached further (tidewater fronts have retreated hundreds of metres since the 1990s) and a
few surge-type glaciers were shorter. :func:`earlier_outlines` turns the simulated year's true outlines into
such an inventory, so that ``glaciermap diff`` has real fronts to find:

* most glaciers **retreated** since: the earlier outline adds a zone in front of the present front (the
  glacier's lowest part, buffered by 8–25 % of the glacier's size, 40–500 m, not over other glaciers);
* one non-tidewater glacier **advanced** since: the earlier outline lacks its lowest part;
* glaciers are re-digitised with a metre or two of jitter, so unchanged margins are not identical;
* one small glacier of the earlier inventory has **disappeared** (a patch of perennial snow today).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely import affinity

from glaciermap.simulate.landscape import Landscape, Surface

if TYPE_CHECKING:
    import geopandas as gpd


def earlier_outlines(
    landscape: Landscape, rng: np.random.Generator, *, year: int, region: str
) -> tuple[gpd.GeoDataFrame, dict[int, str]]:
    """The glaciers of ``landscape`` as an earlier inventory would show them.

    Args:
        landscape: the simulated landscape (its ``outlines`` are the present glaciers).
        rng: random generator.
        year: the earlier inventory's year (written as ``src_date``).
        region: region name, used in the ids (``SIM-<region>-<n>``).

    Returns:
        ``(frame, changes)``: a GeoDataFrame in the landscape's CRS with columns ``glac_id``, ``glac_name``,
        ``src_date`` and geometry, and, per present glacier id, what happened since (``retreated``,
        ``advanced``, ``unchanged``) plus ``-1: "disappeared"`` when a vanished glacier was added.
    """
    import geopandas as gpd
    from rasterio.features import shapes

    present = landscape.outlines.reset_index(drop=True)
    ids = present["glacier_id"].to_numpy()
    geoms = np.asarray(present.geometry.array, dtype=object)
    tree = shapely.STRtree(geoms)
    kinds = present["kind"].astype(str).to_numpy() if "kind" in present else np.full(len(ids), "")
    advancing = _pick_advancing(kinds, rng)

    earlier: list[shapely.Geometry] = []
    changes: dict[int, str] = {}
    for index, (gid, geom) in enumerate(zip(ids, geoms, strict=True)):
        advanced = index == advancing
        # An advance shows as a longer tongue than before: take a deeper slice of it.
        front = _front_zone(landscape, int(gid), shapes, fraction=0.2 if advanced else 0.08)
        if front is None or front.is_empty:
            new_geom, change = geom, "unchanged"
        elif advanced:
            # Shorter before: the lowest part of today's tongue was not there yet.
            new_geom, change = shapely.difference(geom, shapely.buffer(front, 30.0)), "advanced"
        else:
            # Retreat scales with the glacier: tens of metres for a cirque glacier, hundreds for a
            # large tidewater front.
            size = math.sqrt(float(geom.area))
            reach = float(np.clip(rng.uniform(0.08, 0.25) * size, 40.0, 500.0))
            zone = shapely.buffer(front, reach, quad_segs=8)
            # Only the neighbours the zone reaches can block it (a whole-scene union would be slow).
            near = tree.query(zone, predicate="intersects")
            others = shapely.union_all(geoms[near[near != index]])
            grown = shapely.difference(zone, others)
            new_geom, change = shapely.union(geom, grown), "retreated"
        # Re-digitised: a metre or two in or out along the whole margin.
        new_geom = shapely.buffer(new_geom, float(rng.uniform(-2.0, 2.0)), quad_segs=4)
        earlier.append(_largest_polygonal(new_geom))
        changes[int(gid)] = change

    names = present["glacier_name"].tolist() if "glacier_name" in present else [None] * len(ids)
    glac_ids = [f"SIM-{region}-{int(g):05d}" for g in ids]
    vanished = _vanished_glacier(landscape, rng, geoms, tree)
    if vanished is not None:
        earlier.append(vanished)
        names.append(None)
        glac_ids.append(f"SIM-{region}-{int(ids.max(initial=0)) + 1:05d}")
        changes[-1] = "disappeared"
    frame = gpd.GeoDataFrame(
        {"glac_id": glac_ids, "glac_name": names, "src_date": [f"{year}-08-31"] * len(glac_ids)},
        geometry=earlier,
        crs=landscape.crs,
    )
    return frame, changes


def _pick_advancing(kinds: np.ndarray, rng: np.random.Generator) -> int | None:
    """Index of the one glacier that advanced (a land-terminating one), or None."""
    candidates = np.flatnonzero(~np.isin(kinds, ["tidewater", "ice_cap"]))
    if candidates.size < 2:
        return None
    return int(rng.choice(candidates))


def _front_zone(
    landscape: Landscape, gid: int, shapes, *, fraction: float
) -> shapely.Geometry | None:  # type: ignore[no-untyped-def]
    """The lowest ``fraction`` (of the elevation range) of a glacier, as a polygon in map coordinates."""
    mask = landscape.glacier_id == gid
    if not mask.any():
        return None
    z = landscape.dem[mask]
    low, high = float(z.min()), float(z.max())
    cut = low + fraction * max(high - low, 1.0)
    zone = (mask & (landscape.dem <= cut)).astype(np.uint8)
    polys = [
        shapely.geometry.shape(g)
        for g, _ in shapes(zone, mask=zone.astype(bool), transform=landscape.transform)
    ]
    return shapely.union_all(polys) if polys else None


def _vanished_glacier(
    landscape: Landscape, rng: np.random.Generator, geoms: np.ndarray, tree: shapely.STRtree
) -> shapely.Geometry | None:
    """A small glacier (0.03–0.08 km²) where a perennial snow patch lies today, or None."""
    rows, cols = np.nonzero(landscape.surface == Surface.SNOW_PATCH)
    if rows.size == 0:
        return None
    pick = int(rng.integers(0, rows.size))
    x, y = landscape.transform @ (cols[pick] + 0.5, rows[pick] + 0.5)
    radius = float(np.sqrt(rng.uniform(0.03, 0.08) * 1e6 / np.pi))
    blob = shapely.Point(x, y).buffer(radius, quad_segs=12)
    blob = affinity.scale(blob, rng.uniform(0.7, 1.3), 1.0)
    # Keep 30 m off today's glaciers; only those near the blob matter.
    near = geoms[tree.query(shapely.buffer(blob, 30.0), predicate="intersects")]
    if near.size:
        blob = shapely.difference(blob, shapely.buffer(shapely.union_all(near), 30.0))
    return None if blob.is_empty else _largest_polygonal(blob)


def _largest_polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """A valid Polygon/MultiPolygon: repair and keep polygon parts."""
    geom = shapely.make_valid(geom)
    parts = [
        p for p in shapely.get_parts(geom) if isinstance(p, shapely.Polygon) and not p.is_empty
    ]
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
