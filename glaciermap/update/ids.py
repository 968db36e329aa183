"""Stable glacier ids: this year's ice matched to an earlier inventory, splits, and ids for new ice.

The matching is :func:`glaciermap.diff.diff_inventories` against the *baseline* (last year's
inventory, or the reference on the first year): it cuts this year's ice along the baseline's divides,
gives ice beyond a margin to the glacier it borders most, and calls a body that touches no baseline
glacier ``new``. On top of that, this module decides the ids:

* A baseline glacier keeps its ``glacier_id``, ``glac_name`` and ``parent_id`` on the ice assigned
  to it.
* **Splits.** That ice may fall into several connected parts. Each part is attached to the baseline
  glacier's own part it overlaps most (an outline may be a MultiPolygon: a detached tributary in the
  reference stays with its glacier). Per baseline part the largest piece keeps the id; every other
  piece of at least ``min_area_km2`` broke off: it gets a new id, ``parent_id`` and status ``split``
  (the status says it once, that year; ``parent_id`` stays with it).
  Smaller fragments stay with the glacier (its outline becomes a MultiPolygon).
* **New ice.** Bodies touching no baseline glacier, of at least ``min_area_km2``, get new ids.
* New ids (split parts and new bodies) are ``<PREFIX>-<year>-<nnnn>``, numbered from 1 north to south,
  then west to east, by centroid rounded to the metre, so the same inputs give the same ids; numbers
  already used by the baseline are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from glaciermap.diff import DEFAULT_MIN_FRONT_AREA_KM2, DEFAULT_MIN_FRONT_SHIFT_M

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from glaciermap.diff import DiffResult
    from glaciermap.io.inventory import Inventory

M2_PER_KM2 = 1e6
# Shared ice below this is overlay noise along a common border, not an overlap, m².
_MIN_SHARED_M2 = 1.0


@dataclass
class MatchedGlaciers:
    """This year's glaciers with their ids, before the per-glacier attributes are added.

    Attributes:
        glaciers: one row per glacier (metric CRS): ``glacier_id``, ``glacier_name``, ``parent_id``
            (None unless it broke off a glacier, this year or before), ``status``,
            ``area_before_km2`` (the baseline glacier's area; 0 for new ids; NaN without a
            baseline), ``front_shift_m`` and the geometry. Order: baseline glaciers in baseline
            order, then new ids in number order.
        disappeared: the baseline glaciers without ice this year (``glacier_id``, ``glacier_name``,
            ``area_km2``, the baseline outline).
        diff: the comparison with the baseline, None without one.
    """

    glaciers: gpd.GeoDataFrame
    disappeared: gpd.GeoDataFrame
    diff: DiffResult | None


def match_glaciers(
    outlines: Inventory,
    baseline: Inventory | None,
    *,
    crs: Any,
    prefix: str,
    year: int,
    min_area_km2: float = 0.01,
    min_front_area_km2: float = DEFAULT_MIN_FRONT_AREA_KM2,
    min_front_shift_m: float = DEFAULT_MIN_FRONT_SHIFT_M,
) -> MatchedGlaciers:
    """Give this year's ice stable ids from ``baseline`` (see the module docstring).

    Args:
        outlines: this year's outlines (any features; they are dissolved).
        baseline: the earlier inventory (its frame's ``glacier_id``, ``glacier_name``), or None on a
            first year without a reference: every body is then ``new``.
        crs: the metric CRS to work in (the region's).
        prefix: the region's prefix for new ids. year: this year, part of new ids.
        min_area_km2: smallest split part or new body that gets an id of its own, km².
        min_front_area_km2, min_front_shift_m: what counts as a changed front (see :mod:`glaciermap.diff`).
    """
    import geopandas as gpd

    if baseline is None:
        ice = outlines.frame.to_crs(crs)
        bodies = shapely.get_parts(shapely.union_all(np.asarray(ice.geometry.array, dtype=object)))
        new = _new_rows(bodies, (), prefix, year, min_area_km2, parents=None, before=np.nan)
        empty = gpd.GeoDataFrame(
            {"glacier_id": [], "glacier_name": [], "area_km2": []}, geometry=[], crs=crs
        )
        return MatchedGlaciers(_frame(new, crs), empty, None)

    from glaciermap.diff import diff_inventories

    result = diff_inventories(
        outlines,
        baseline,
        crs=crs,
        min_front_area_km2=min_front_area_km2,
        min_front_shift_m=min_front_shift_m,
    )
    table = result.glaciers
    known = table.loc[table["status"] != "new"].reset_index(drop=True)
    shares = result.new_outlines.loc[result.new_outlines["status"] != "new"]
    share_by_id = dict(zip(shares["glacier_id"], shares.geometry, strict=True))
    share_by_id = first_owner_takes_overlaps(share_by_id, known["glacier_id"])
    shifts = front_shifts(result.fronts)
    lineage = _parents(baseline)

    kept: list[dict[str, Any]] = []
    broken_off: list[Any] = []
    parents: list[str] = []
    is_gone = (known["status"] == "disappeared").to_numpy()
    for position, row in enumerate(known.itertuples(index=False)):
        if row.status == "disappeared":
            continue
        share = share_by_id[row.glacier_id]
        if shapely.area(share) < _MIN_SHARED_M2:  # all its ice lies in an earlier glacier's outline
            is_gone[position] = True
            continue
        stays, splits = split_parts(share, row.geometry, min_area_km2)
        kept.append(
            {
                "glacier_id": row.glacier_id,
                "glacier_name": row.glacier_name,
                "parent_id": lineage.get(row.glacier_id),
                "status": row.status,
                "area_before_km2": row.area_ref_km2,
                "front_shift_m": shifts.get(row.glacier_id, 0.0),
                "geometry": stays,
            }
        )
        broken_off += splits
        parents += [row.glacier_id] * len(splits)

    new_bodies = result.new_outlines.loc[result.new_outlines["status"] == "new"].geometry
    pieces = np.asarray([*broken_off, *new_bodies], dtype=object)
    piece_parents: list[str | None] = [*parents, *[None] * len(new_bodies)]
    new = _new_rows(
        pieces,
        known["glacier_id"],
        prefix,
        year,
        min_area_km2,
        parents=piece_parents,
        before=0.0,
    )
    gone = known.loc[is_gone]
    disappeared = gpd.GeoDataFrame(
        {
            "glacier_id": gone["glacier_id"].to_numpy(dtype=object),
            "glacier_name": gone["glacier_name"].to_numpy(dtype=object),
            "area_km2": gone["area_ref_km2"].to_numpy(dtype=float),
        },
        geometry=list(gone.geometry),
        crs=result.crs,
    )
    return MatchedGlaciers(_frame(kept + new, result.crs), disappeared, result)


def first_owner_takes_overlaps(shares: dict[str, Any], order: Iterable[str]) -> dict[str, Any]:
    """Make the glaciers' ice disjoint: ice claimed by several glaciers stays with the first in ``order``.

    diff gives ice where baseline outlines overlap (digitising errors of a reference) to each of them;
    an inventory's outlines must not overlap, so later glaciers lose the shared ice.
    """
    ids = [glacier_id for glacier_id in order if glacier_id in shares]
    geoms = np.asarray([shares[i] for i in ids], dtype=object)
    first, later = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = first < later
    first, later = first[pairs], later[pairs]
    shared = shapely.area(shapely.intersection(geoms[first], geoms[later])) > _MIN_SHARED_M2
    out = dict(shares)
    for j in np.unique(later[shared]):
        earlier = geoms[first[shared & (later == j)]]
        out[ids[j]] = shapely.difference(geoms[j], shapely.union_all(earlier))
    return out


def split_parts(
    share: Any, outline: Any, min_area_km2: float
) -> tuple[shapely.Geometry, list[shapely.Polygon]]:
    """Which connected parts of a glacier's ice keep its id, and which broke off.

    Args:
        share: the ice assigned to the glacier this year ((Multi)Polygon, metric CRS).
        outline: the glacier's baseline outline ((Multi)Polygon).
        min_area_km2: smallest broken-off part with an id of its own, km²; smaller ones stay.

    Returns:
        The ice that keeps the id (Polygon or MultiPolygon) and the broken-off parts (Polygons), the
        largest first.
    """
    parts = shapely.get_parts(share)
    if len(parts) <= 1:
        return share, []
    outline_parts = shapely.get_parts(outline)
    overlap = shapely.area(shapely.intersection(parts[:, None], outline_parts[None, :]))
    home = np.argmax(overlap, axis=1)
    # A part overlapping none of the outline's parts (ice beyond the margin, cut off from the rest
    # by the divide) belongs to the nearest one.
    lonely = overlap.max(axis=1) <= 0
    if lonely.any():
        distance = shapely.distance(parts[lonely][:, None], outline_parts[None, :])
        home[lonely] = np.argmin(distance, axis=1)
    area = shapely.area(parts)
    stays = np.ones(len(parts), dtype=bool)
    for part in np.unique(home):
        members = np.flatnonzero(home == part)
        largest = members[np.argmax(area[members])]
        big = members[(members != largest) & (area[members] >= min_area_km2 * M2_PER_KM2)]
        stays[big] = False
    if stays.all():
        return share, []
    split = parts[~stays]
    return shapely.union_all(parts[stays]), list(split[np.argsort(-shapely.area(split))])


def front_shifts(fronts: pd.DataFrame) -> dict[str, float]:
    """Per glacier id, its largest flagged front shift in metres: < 0 for a retreat, > 0 an advance."""
    out: dict[str, float] = {}
    for glacier_id, kind, shift in zip(
        fronts["glacier_id"], fronts["kind"], fronts["max_shift_m"], strict=True
    ):
        signed = -float(shift) if kind == "retreat" else float(shift)
        if abs(signed) > abs(out.get(glacier_id, 0.0)):
            out[glacier_id] = signed
    return out


def new_ids(
    geoms: np.ndarray, used: Iterable[str], prefix: str, year: int
) -> tuple[np.ndarray, list[str]]:
    """Number new glaciers ``<prefix>-<year>-<nnnn>`` north to south, then west to east.

    Args:
        geoms: the new glaciers' geometries (metric CRS).
        used: ids already taken (the baseline's), skipped.

    Returns:
        The order in which ``geoms`` were numbered, and the ids in that order.
    """
    centroids = shapely.centroid(geoms)
    x, y = np.round(shapely.get_x(centroids)), np.round(shapely.get_y(centroids))
    # Ties (same centroid to the metre) are broken by area, then by position, to stay deterministic.
    order = np.lexsort((np.arange(len(geoms)), -np.round(shapely.area(geoms)), x, -y))
    taken = set(used)
    ids: list[str] = []
    number = 0
    for _ in order:
        number += 1
        while f"{prefix}-{year}-{number:04d}" in taken:
            number += 1
        ids.append(f"{prefix}-{year}-{number:04d}")
    return order, ids


def _new_rows(
    geoms: np.ndarray,
    used: Iterable[str],
    prefix: str,
    year: int,
    min_area_km2: float,
    *,
    parents: list[str | None] | None,
    before: float,
) -> list[dict[str, Any]]:
    """Rows for split parts and new bodies of at least ``min_area_km2``, with new ids."""
    geoms = np.asarray(geoms, dtype=object)
    parent = np.asarray(parents if parents is not None else [None] * len(geoms), dtype=object)
    big = shapely.area(geoms) >= min_area_km2 * M2_PER_KM2
    geoms, parent = geoms[big], parent[big]
    order, ids = new_ids(geoms, used, prefix, year)
    return [
        {
            "glacier_id": glacier_id,
            "glacier_name": None,
            "parent_id": parent[i],
            "status": "new" if parent[i] is None else "split",
            "area_before_km2": before,
            "front_shift_m": 0.0,
            "geometry": geoms[i],
        }
        for i, glacier_id in zip(order, ids, strict=True)
    ]


def _parents(baseline: Inventory) -> dict[str, str]:
    """``parent_id`` by glacier id in an earlier inventory of ours (a reference has none)."""
    frame = baseline.frame
    if "parent_id" not in frame.columns:
        return {}
    return {
        str(glacier_id): str(parent)
        for glacier_id, parent in zip(frame["glacier_id"], frame["parent_id"], strict=True)
        if isinstance(parent, str) and parent
    }


def _frame(rows: list[dict[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pandas as pd

    columns = ["glacier_id", "glacier_name", "parent_id", "status", "area_before_km2"]
    table = pd.DataFrame(rows, columns=[*columns, "front_shift_m", "geometry"])
    return gpd.GeoDataFrame(
        table.drop(columns="geometry"), geometry=list(table["geometry"]), crs=crs
    )
