"""Compare new glacier outlines with a reference inventory: area change, gained/lost ice, changed fronts.

The comparison works per *reference* glacier, because the reference inventory holds the ice divides:
NEW outlines (from ``glaciermap vectorize`` or another inventory) often merge neighbouring glaciers into one
complex, so NEW features cannot be matched one-to-one. Instead:

1. NEW is dissolved and split into its connected parts (each part is one contiguous ice body).
2. Each part is cut by the reference outlines. The piece inside reference glacier R belongs to R.
3. The pieces of a part that lie outside every reference outline (ice that advanced beyond the reference
   margins) go to the reference glacier they share most boundary with, measured as the area of
   ``piece.buffer(1 m) ∩ R``; a piece that touches no reference glacier goes to the nearest one.
4. A part that overlaps no reference glacier is a ``new`` glacier.

For each reference glacier, *lost* ice is its outline minus the NEW ice assigned to it and *gained* ice is
the NEW ice assigned to it outside its outline. Each connected lost or gained patch is a candidate front;
it is a **changed front** when its area is at least ``min_front_area_km2`` and its shift across the margin
— the diameter of the patch's maximum inscribed circle — is at least ``min_front_shift_m``, so the thin
slivers that digitising differences leave along every margin are not flagged.

Status of a reference glacier: ``disappeared`` when no NEW ice is assigned to it; otherwise ``retreated``
(only retreat fronts flagged), ``advanced`` (only advance fronts), ``mixed`` (both) or ``unchanged``
(none). Reference outlines that overlap each other give their shared area to each of them.

All areas are computed in a metric CRS (see :func:`choose_metric_crs`), never in degrees.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from glaciermap.errors import InputError
from glaciermap.io.inventory import Inventory, read_inventory, repair_polygons
from glaciermap.io.vector import write_gpkg

log = logging.getLogger(__name__)

DEFAULT_MIN_FRONT_AREA_KM2 = 0.01
"""Smallest lost/gained patch flagged as a changed front, km² (the RGI minimum glacier size)."""
DEFAULT_MIN_FRONT_SHIFT_M = 30.0
"""Smallest margin shift flagged as a changed front, metres (three 10 m Sentinel-1 pixels)."""

STATUSES = ("unchanged", "retreated", "advanced", "mixed", "disappeared", "new")
"""Values of the ``status`` column of the ``glaciers`` layer."""
FRONT_KINDS = ("retreat", "advance")
"""Values of the ``kind`` column of the ``fronts`` layer."""
LAYERS = ("glaciers", "gained", "lost", "fronts")
"""Layers of the GeoPackage :func:`write_diff` writes."""

# Overlaps smaller than this are floating-point noise of the overlay, not shared ice, m².
_MIN_OVERLAP_M2 = 1.0
# Lost/gained patches smaller than this are overlay noise: kept in the areas, left out of the layers, m².
_MIN_PATCH_M2 = 1.0
# Width of the band used to measure how much boundary an outside piece shares with a glacier, m.
_CONTACT_BUFFER_M = 1.0
# Tolerance of the maximum-inscribed-circle search, m: far below the 10 m pixel size.
_SHIFT_TOLERANCE_M = 1.0
_M2_PER_KM2 = 1e6

_EMPTY = shapely.Polygon()


@dataclass
class DiffResult:
    """The outcome of comparing NEW outlines with a REFERENCE inventory.

    All GeoDataFrames are in :attr:`crs` (metric); areas are km², distances metres.

    Attributes:
        glaciers: one row per reference glacier (geometry: the **reference** outline) followed by one row
            per new glacier (status ``new``; geometry: the **new** outline). Columns ``glacier_id``,
            ``glacier_name``, ``area_ref_km2``, ``area_new_km2``, ``change_km2``, ``change_pct`` (NaN for
            new glaciers), ``lost_km2``, ``gained_km2``, ``status``, ``n_retreat_fronts``,
            ``n_advance_fronts``.
        gained: connected patches of ice gained by a reference glacier (``glacier_id``, ``glacier_name``,
            ``area_km2``, ``max_shift_m``, ``front``: whether the patch is a flagged front).
        lost: connected patches of ice a reference glacier lost (same columns as ``gained``).
        fronts: the flagged changed fronts (``glacier_id``, ``glacier_name``, ``kind`` retreat/advance,
            ``area_km2``, ``max_shift_m``).
        new_outlines: the NEW ice as attributed: one row per reference glacier that kept ice (its share
            of NEW, split along the reference divides) and one per new glacier (``glacier_id``,
            ``glacier_name``, ``status``). Used for maps; not written to the GeoPackage.
        summary: JSON-ready totals and per-glacier rows (see :func:`summarise`).
        crs: the metric CRS everything was computed in.
    """

    glaciers: gpd.GeoDataFrame
    gained: gpd.GeoDataFrame
    lost: gpd.GeoDataFrame
    fronts: gpd.GeoDataFrame
    new_outlines: gpd.GeoDataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    crs: CRS | None = None

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The four layers by name, in :data:`LAYERS` order."""
        return {
            "glaciers": self.glaciers,
            "gained": self.gained,
            "lost": self.lost,
            "fronts": self.fronts,
        }


def diff_files(
    new_path: str | Path,
    reference_path: str | Path,
    *,
    crs: Any | None = None,
    min_front_area_km2: float = DEFAULT_MIN_FRONT_AREA_KM2,
    min_front_shift_m: float = DEFAULT_MIN_FRONT_SHIFT_M,
) -> DiffResult:
    """Read two inventory files with :func:`~glaciermap.io.inventory.read_inventory` and diff them.

    Args:
        new_path: the NEW outlines (any format the inventory reader takes).
        reference_path: the REFERENCE inventory.
        crs: metric CRS to work in; None chooses one (see :func:`choose_metric_crs`).
        min_front_area_km2: smallest flagged front, km².
        min_front_shift_m: smallest flagged margin shift, metres.

    Returns:
        The :class:`DiffResult`; its summary names both files.
    """
    new = read_inventory(new_path)
    reference = read_inventory(reference_path)
    return diff_inventories(
        new,
        reference,
        crs=crs,
        min_front_area_km2=min_front_area_km2,
        min_front_shift_m=min_front_shift_m,
    )


def diff_inventories(
    new: gpd.GeoDataFrame | Inventory,
    reference: gpd.GeoDataFrame | Inventory,
    *,
    crs: Any | None = None,
    min_front_area_km2: float = DEFAULT_MIN_FRONT_AREA_KM2,
    min_front_shift_m: float = DEFAULT_MIN_FRONT_SHIFT_M,
) -> DiffResult:
    """Compare NEW outlines with a REFERENCE inventory, glacier by reference glacier.

    Args:
        new: the new outlines; an :class:`Inventory` or a GeoDataFrame with a CRS (``glacier_id`` and
            ``glacier_name`` columns are used when present).
        reference: the reference inventory, same kinds of input.
        crs: metric CRS to work in (e.g. the region's); None: the reference's CRS if it is projected in
            metres, else its UTM zone.
        min_front_area_km2: a lost/gained patch is a changed front only from this area on, km².
        min_front_shift_m: ... and only if its maximum inscribed circle is at least this wide, metres.

    Returns:
        The :class:`DiffResult`, with all layers in the metric CRS.

    Raises:
        InputError: an input has no CRS, the reference has no polygons, ``crs`` is not a metric CRS,
            or a threshold is negative. NEW may be empty: every reference glacier then disappeared.
    """
    if not (min_front_area_km2 >= 0 and min_front_shift_m >= 0):
        raise InputError(
            f"front thresholds must not be negative (area {min_front_area_km2} km², "
            f"shift {min_front_shift_m} m)",
            "give --min-front-area and --min-front-shift of 0 or more",
        )
    new_label, new = _frame_and_label(new, "NEW")
    ref_label, reference = _frame_and_label(reference, "REFERENCE")
    work_crs = choose_metric_crs(reference, crs)
    ref = _prepare(reference, work_crs, ref_label)
    # No NEW ice at all is a result (every glacier disappeared), not bad input.
    new = _prepare(new, work_crs, new_label, allow_empty=True)
    log.info("comparing in %s", _crs_label(work_crs))

    ref_geoms = np.asarray(ref.geometry.array, dtype=object)
    _warn_about_overlaps(ref_geoms, ref_label)
    # Connected parts of the NEW ice: merged complexes become one part, split again below.
    parts = shapely.get_parts(shapely.union_all(np.asarray(new.geometry.array, dtype=object)))
    match = _match_parts(parts, ref_geoms)
    if len(match.inside) == 0:
        log.warning(
            "%s and %s do not overlap: every reference glacier is 'disappeared' and every new outline "
            "'new' (check that both cover the same area)",
            new_label,
            ref_label,
        )

    n_ref = len(ref)
    new_by_ref = _union_by(
        np.concatenate([match.inside, match.outside]),
        np.concatenate([match.inside_ref, match.outside_ref]),
        n_ref,
    )
    gained_by_ref = _union_by(match.outside, match.outside_ref, n_ref)
    lost_by_ref = shapely.difference(ref_geoms, new_by_ref)
    patches = flag_front_changes(
        lost_by_ref,
        gained_by_ref,
        min_front_area_km2=min_front_area_km2,
        min_front_shift_m=min_front_shift_m,
    )

    glaciers = _glacier_table(ref, new_by_ref, lost_by_ref, gained_by_ref, patches)
    new_parts = parts[match.unmatched_parts]
    if len(new_parts):
        log.info("%d new glacier%s outside the reference", len(new_parts), _s(len(new_parts)))
        glaciers = pd.concat([glaciers, _new_glacier_rows(new_parts, new)], ignore_index=True)
    # Names stay Python None where missing (not NaN), as the inventory reader gives them.
    glaciers["glacier_name"] = _none_for_missing(glaciers["glacier_name"])
    glaciers = gpd.GeoDataFrame(glaciers, geometry="geometry", crs=work_crs)

    outlines = np.concatenate([new_by_ref, new_parts])
    new_outlines = gpd.GeoDataFrame(
        glaciers[["glacier_id", "glacier_name", "status"]].to_numpy(),
        columns=["glacier_id", "glacier_name", "status"],
        geometry=outlines,
        crs=work_crs,
    )
    new_outlines = new_outlines.loc[~shapely.is_empty(outlines)].reset_index(drop=True)
    owners = ref[["glacier_id", "glacier_name"]].reset_index(drop=True)
    gained, lost, fronts = _patch_layers(patches, owners, work_crs)
    result = DiffResult(
        glaciers=glaciers,
        gained=gained,
        lost=lost,
        fronts=fronts,
        new_outlines=new_outlines,
        crs=work_crs,
    )
    result.summary = summarise(
        result,
        new=new_label,
        reference=ref_label,
        min_front_area_km2=min_front_area_km2,
        min_front_shift_m=min_front_shift_m,
    )
    return result


def choose_metric_crs(reference: gpd.GeoDataFrame, crs: Any | None = None) -> CRS:
    """The CRS to measure areas in.

    Args:
        reference: the reference outlines (with a CRS).
        crs: an explicit choice (a region's CRS or ``--crs``); must be projected in metres.

    Returns:
        ``crs`` if given; else the reference's CRS if it is projected in metres; else the UTM zone of the
        reference's centre (``estimate_utm_crs``).

    Raises:
        InputError: ``crs`` is not a valid CRS or not in metres, or the reference has no CRS.
    """
    if crs is not None:
        try:
            chosen = CRS.from_user_input(crs)
        except CRSError as exc:
            raise InputError(
                f"{crs!r} is not a CRS pyproj understands", "give e.g. EPSG:32633"
            ) from exc
        if not _is_metric(chosen):
            raise InputError(
                f"CRS {crs} is not projected in metres, so areas would be wrong",
                "give a metric CRS such as the UTM zone (e.g. EPSG:32633)",
            )
        return chosen
    if reference.crs is None:
        raise InputError("the reference outlines have no CRS", "set one before comparing")
    if _is_metric(reference.crs):
        return CRS.from_user_input(reference.crs)
    utm = reference.estimate_utm_crs()
    log.info("reference CRS is not metric; using its UTM zone %s", _crs_label(utm))
    return utm


def flag_front_changes(
    lost_by_glacier: np.ndarray,
    gained_by_glacier: np.ndarray,
    *,
    min_front_area_km2: float = DEFAULT_MIN_FRONT_AREA_KM2,
    min_front_shift_m: float = DEFAULT_MIN_FRONT_SHIFT_M,
) -> pd.DataFrame:
    """Split each glacier's lost and gained ice into patches and flag the changed fronts.

    Args:
        lost_by_glacier: per glacier, the (Multi)Polygon of lost ice (metric CRS), or empty.
        gained_by_glacier: per glacier, the (Multi)Polygon of gained ice, or empty.
        min_front_area_km2: smallest flagged patch, km².
        min_front_shift_m: smallest flagged maximum-inscribed-circle diameter, metres.

    Returns:
        A DataFrame, one row per connected patch of at least 1 m²: ``glacier`` (position in the input
        arrays), ``kind`` (``retreat`` for lost, ``advance`` for gained), ``area_km2``, ``max_shift_m``
        (diameter of the maximum inscribed circle, metres), ``front`` (bool) and ``geometry`` (Polygon).
    """
    lost, lost_owner = shapely.get_parts(
        np.asarray(lost_by_glacier, dtype=object), return_index=True
    )
    gained, gained_owner = shapely.get_parts(
        np.asarray(gained_by_glacier, dtype=object), return_index=True
    )
    geoms = np.concatenate([lost, gained])
    owner = np.concatenate([lost_owner, gained_owner])
    kind = np.array(["retreat"] * len(lost) + ["advance"] * len(gained), dtype=object)
    area = shapely.area(geoms)
    keep = (shapely.get_type_id(geoms) == 3) & (area >= _MIN_PATCH_M2)
    geoms, owner, kind, area = geoms[keep], owner[keep], kind[keep], area[keep]
    # The inscribed circle's diameter is how far the margin moved across the patch: a 2 km long but
    # 5 m wide sliver from a redrawn margin gets 5 m, a 200 m retreat of a tongue gets ~200 m.
    if len(geoms):
        circles = shapely.maximum_inscribed_circle(geoms, tolerance=_SHIFT_TOLERANCE_M)
        shift = 2.0 * shapely.length(circles)
    else:
        shift = np.zeros(0)
    front = (area >= min_front_area_km2 * _M2_PER_KM2) & (shift >= min_front_shift_m)
    return pd.DataFrame(
        {
            "glacier": owner.astype(np.int64),
            "kind": kind,
            "area_km2": area / _M2_PER_KM2,
            "max_shift_m": shift,
            "front": front,
            "geometry": geoms,
        }
    )


def summarise(
    result: DiffResult,
    *,
    new: str,
    reference: str,
    min_front_area_km2: float,
    min_front_shift_m: float,
) -> dict[str, Any]:
    """JSON-ready summary of a diff (what ``glaciermap diff --json`` prints).

    Keys: ``new``, ``reference``, ``crs``, ``min_front_area_km2``, ``min_front_shift_m`` (inputs and
    thresholds); ``totals``; ``status_counts`` (reference glaciers by status); ``per_glacier`` (rows).
    ``totals`` (``glaciers``, ``area_ref_km2``, ``area_new_km2``, ``change_km2``, ``change_pct``,
    ``fronts``, ``retreat_fronts``, ``advance_fronts``) cover the reference glaciers; ice of new
    glaciers is reported apart (``new_glaciers``, ``area_new_glaciers_km2``).
    """
    table = result.glaciers
    is_ref = (table["status"] != "new").to_numpy()
    ref_rows, new_rows = table.loc[is_ref], table.loc[~is_ref]
    area_ref = float(ref_rows["area_ref_km2"].sum())
    area_new = float(ref_rows["area_new_km2"].sum())
    counts = ref_rows["status"].value_counts()
    return {
        "new": new,
        "reference": reference,
        "crs": _crs_label(result.crs) if result.crs is not None else None,
        "min_front_area_km2": min_front_area_km2,
        "min_front_shift_m": min_front_shift_m,
        "totals": {
            "glaciers": int(is_ref.sum()),
            "new_glaciers": int((~is_ref).sum()),
            "area_ref_km2": round(area_ref, 6),
            "area_new_km2": round(area_new, 6),
            "change_km2": round(area_new - area_ref, 6),
            "change_pct": (
                round(100.0 * (area_new - area_ref) / area_ref, 3) if area_ref > 0 else None
            ),
            "area_new_glaciers_km2": round(float(new_rows["area_new_km2"].sum()), 6),
            "fronts": len(result.fronts),
            "retreat_fronts": int((result.fronts["kind"] == "retreat").sum()),
            "advance_fronts": int((result.fronts["kind"] == "advance").sum()),
        },
        "status_counts": {s: int(counts.get(s, 0)) for s in STATUSES if s != "new" and s in counts},
        "per_glacier": [
            _json_row(row) for row in table.drop(columns="geometry").to_dict("records")
        ],
    }


def write_diff(result: DiffResult, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write the four layers of a diff to one GeoPackage, atomically.

    Args:
        result: the diff.
        path: the GeoPackage to write (layers ``glaciers``, ``gained``, ``lost``, ``fronts``).
        overwrite: replace an existing file; if False an existing file is an :class:`InputError`.

    Returns:
        The path written.
    """
    layers = result.layers()
    # Fronts are single patches; the other layers mix Polygon and MultiPolygon rows.
    options = {
        name: (
            {"geometry_type": "Polygon", "promote_to_multi": False}
            if name == "fronts"
            else {"geometry_type": "MultiPolygon", "promote_to_multi": True}
        )
        for name in layers
    }
    path = write_gpkg(path, layers, overwrite=overwrite, layer_options=options)
    log.info("wrote %s (layers: %s)", path, ", ".join(LAYERS))
    return path


# --- matching -------------------------------------------------------------------------------------


@dataclass
class _Match:
    """NEW ice split among reference glaciers (positions index the reference array)."""

    inside: np.ndarray  # pieces of NEW inside a reference outline
    inside_ref: np.ndarray  # ... and the reference glacier each lies in
    outside: np.ndarray  # pieces of NEW outside all reference outlines, of parts that overlap one
    outside_ref: np.ndarray  # ... and the reference glacier each was assigned to
    unmatched_parts: np.ndarray  # positions of NEW parts that overlap no reference glacier


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """(N,) geometries with only their areal parts: a GeometryCollection becomes its (Multi)Polygon
    (empty when it has no area); Polygons and MultiPolygons pass unchanged."""
    out = np.asarray(geoms, dtype=object).copy()
    for i in np.flatnonzero(shapely.get_type_id(out) == 7):  # GeometryCollection
        parts = shapely.get_parts(shapely.get_parts(out[i]))  # members, then multi-part members
        parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
        out[i] = shapely.union_all(parts) if len(parts) else _EMPTY
    return out


def _match_parts(parts: np.ndarray, ref_geoms: np.ndarray) -> _Match:
    """Split connected NEW parts by the reference outlines and assign every piece to a glacier."""
    tree = shapely.STRtree(ref_geoms)
    part_idx, ref_idx = tree.query(parts, predicate="intersects")
    # Polygons that overlap and also touch along an edge intersect in a polygon plus that edge.
    inside = polygonal(shapely.intersection(parts[part_idx], ref_geoms[ref_idx]))
    overlaps = shapely.area(inside) > _MIN_OVERLAP_M2
    matched = np.unique(part_idx[overlaps])
    unmatched = np.setdiff1d(np.arange(len(parts)), matched)

    # What lies outside every reference outline: each matched part minus the references it meets.
    # All intersecting references are subtracted (not only the overlapping ones) so no piece sits on one.
    touching = np.isin(part_idx, matched)
    local_refs = _union_by(ref_geoms[ref_idx[touching]], part_idx[touching], len(parts))
    outside = shapely.difference(parts[matched], local_refs[matched])
    pieces = shapely.get_parts(outside)
    pieces = pieces[(shapely.get_type_id(pieces) == 3) & (shapely.area(pieces) > 0)]

    return _Match(
        inside=inside[overlaps],
        inside_ref=ref_idx[overlaps],
        outside=pieces,
        outside_ref=_assign_by_contact(pieces, ref_geoms, tree),
        unmatched_parts=unmatched,
    )


_OVERLAPS_WARNED: set[tuple[str, int, float]] = set()


def _warn_about_overlaps(ref_geoms: np.ndarray, label: str) -> None:
    """Log when reference outlines overlap: the shared ice then counts for each of them."""
    left, right = shapely.STRtree(ref_geoms).query(ref_geoms, predicate="overlaps")
    once = left < right
    if not once.any():
        return
    shared = shapely.area(shapely.intersection(ref_geoms[left[once]], ref_geoms[right[once]]))
    key = (label, int((shared > 0).sum()), round(float(shared.sum()), 1))
    # The annual run matches one reference twice (update, then diff): say it once per process.
    if shared.sum() > _MIN_OVERLAP_M2 and key not in _OVERLAPS_WARNED:
        _OVERLAPS_WARNED.add(key)
        log.warning(
            "%s: %d pairs of outlines overlap (%.4f km² in all); that ice counts for each glacier",
            label,
            int((shared > 0).sum()),
            shared.sum() / _M2_PER_KM2,
        )


def _assign_by_contact(
    pieces: np.ndarray, ref_geoms: np.ndarray, tree: shapely.STRtree
) -> np.ndarray:
    """For each piece outside all references, the reference glacier it shares most boundary with.

    Shared boundary is measured as the area of ``piece.buffer(1 m) ∩ glacier`` (≈ shared length × 1 m),
    which, unlike intersecting boundaries, does not depend on vertices coinciding exactly. A piece that
    touches no glacier (possible only through rounding) goes to the nearest one.

    Returns:
        Int array of reference positions, one per piece.
    """
    if len(pieces) == 0:
        return np.zeros(0, dtype=np.int64)
    bands = shapely.buffer(pieces, _CONTACT_BUFFER_M, quad_segs=2)
    piece_idx, ref_idx = tree.query(bands, predicate="intersects")
    contact = shapely.area(shapely.intersection(bands[piece_idx], ref_geoms[ref_idx]))
    owner = np.full(len(pieces), -1, dtype=np.int64)
    if len(piece_idx):
        # Sort by piece, then by contact descending: the first row of each piece is its best glacier.
        order = np.lexsort((-contact, piece_idx))
        first = np.unique(piece_idx[order], return_index=True)[1]
        best = order[first]
        owner[piece_idx[best]] = ref_idx[best]
    lonely = np.flatnonzero(owner < 0)
    if len(lonely):
        near_piece, near_ref = tree.query_nearest(pieces[lonely], all_matches=False)
        owner[lonely[near_piece]] = near_ref
    return owner


def _union_by(geoms: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """Union of ``geoms`` per integer key in ``0..n-1``; keys without geometries get an empty polygon."""
    out = np.full(n, _EMPTY, dtype=object)
    if len(geoms) == 0:
        return out
    grouped = gpd.GeoDataFrame({"key": keys}, geometry=list(geoms)).dissolve(by="key")
    out[grouped.index.to_numpy(dtype=np.int64)] = np.asarray(grouped.geometry.array, dtype=object)
    return out


# --- tables ---------------------------------------------------------------------------------------


def _glacier_table(
    ref: gpd.GeoDataFrame,
    new_by_ref: np.ndarray,
    lost_by_ref: np.ndarray,
    gained_by_ref: np.ndarray,
    patches: pd.DataFrame,
) -> pd.DataFrame:
    """One row per reference glacier: areas, change, front counts and status."""
    n = len(ref)
    ref_geoms = np.asarray(ref.geometry.array, dtype=object)
    area_ref = shapely.area(ref_geoms) / _M2_PER_KM2
    area_new = shapely.area(new_by_ref) / _M2_PER_KM2
    flagged = patches.loc[patches["front"]]
    n_retreat = np.bincount(flagged.loc[flagged["kind"] == "retreat", "glacier"], minlength=n)
    n_advance = np.bincount(flagged.loc[flagged["kind"] == "advance", "glacier"], minlength=n)
    status = np.select(
        [
            area_new * _M2_PER_KM2 < _MIN_OVERLAP_M2,
            (n_retreat > 0) & (n_advance > 0),
            n_retreat > 0,
            n_advance > 0,
        ],
        ["disappeared", "mixed", "retreated", "advanced"],
        default="unchanged",
    )
    return pd.DataFrame(
        {
            "glacier_id": ref["glacier_id"].to_numpy(dtype=object),
            "glacier_name": ref["glacier_name"].to_numpy(dtype=object),
            "area_ref_km2": area_ref,
            "area_new_km2": area_new,
            "change_km2": area_new - area_ref,
            "change_pct": 100.0 * (area_new - area_ref) / area_ref,
            "lost_km2": shapely.area(lost_by_ref) / _M2_PER_KM2,
            "gained_km2": shapely.area(gained_by_ref) / _M2_PER_KM2,
            "status": status.astype(object),
            "n_retreat_fronts": n_retreat.astype(np.int64),
            "n_advance_fronts": n_advance.astype(np.int64),
            "geometry": ref_geoms,
        }
    )


def _new_glacier_rows(parts: np.ndarray, new: gpd.GeoDataFrame) -> pd.DataFrame:
    """Rows for NEW ice bodies that overlap no reference glacier, named after the NEW features in them."""
    new_geoms = np.asarray(new.geometry.array, dtype=object)
    part_idx, feature_idx = shapely.STRtree(new_geoms).query(parts, predicate="intersects")
    ids = new["glacier_id"].to_numpy(dtype=object)
    names = new["glacier_name"].to_numpy(dtype=object)
    members = pd.DataFrame({"part": part_idx, "id": ids[feature_idx], "name": names[feature_idx]})
    by_part = members.groupby("part")
    part_ids = by_part["id"].agg(lambda v: "+".join(sorted(set(map(str, v)))))
    part_names = by_part["name"].agg(lambda v: " / ".join(sorted({n for n in v if n})) or None)
    glacier_ids = pd.Series(part_ids.reindex(range(len(parts))).to_numpy(dtype=object))
    # A multi-part NEW feature spanning several unmatched parts would repeat its id: number the repeats.
    repeat = glacier_ids.groupby(glacier_ids).cumcount()
    duplicated = glacier_ids.duplicated(keep=False)
    glacier_ids = glacier_ids.where(~duplicated, glacier_ids + "#" + (repeat + 1).astype(str))
    area = shapely.area(parts) / _M2_PER_KM2
    n = len(parts)
    return pd.DataFrame(
        {
            "glacier_id": glacier_ids.to_numpy(dtype=object),
            "glacier_name": part_names.reindex(range(n)).to_numpy(dtype=object),
            "area_ref_km2": np.zeros(n),
            "area_new_km2": area,
            "change_km2": area,
            "change_pct": np.full(n, np.nan),
            "lost_km2": np.zeros(n),
            "gained_km2": area,
            "status": np.full(n, "new", dtype=object),
            "n_retreat_fronts": np.zeros(n, dtype=np.int64),
            "n_advance_fronts": np.zeros(n, dtype=np.int64),
            "geometry": parts,
        }
    )


def _patch_layers(
    patches: pd.DataFrame, owners: pd.DataFrame, crs: CRS
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The ``gained``, ``lost`` and ``fronts`` layers from the patch table."""
    glacier = patches["glacier"].to_numpy(dtype=np.int64)
    table = pd.DataFrame(
        {
            "glacier_id": owners["glacier_id"].to_numpy(dtype=object)[glacier],
            "glacier_name": owners["glacier_name"].to_numpy(dtype=object)[glacier],
            "kind": patches["kind"].to_numpy(dtype=object),
            "area_km2": patches["area_km2"].to_numpy(dtype=float),
            "max_shift_m": patches["max_shift_m"].to_numpy(dtype=float),
            "front": patches["front"].to_numpy(dtype=bool),
            "geometry": patches["geometry"].to_numpy(dtype=object),
        }
    )

    def layer(rows: pd.DataFrame, columns: list[str]) -> gpd.GeoDataFrame:
        rows = rows.sort_values(["glacier_id", "area_km2"], ascending=[True, False], kind="stable")
        return gpd.GeoDataFrame(rows[columns].reset_index(drop=True), geometry="geometry", crs=crs)

    patch_columns = ["glacier_id", "glacier_name", "area_km2", "max_shift_m", "front", "geometry"]
    gained = layer(table.loc[table["kind"] == "advance"], patch_columns)
    lost = layer(table.loc[table["kind"] == "retreat"], patch_columns)
    fronts = layer(
        table.loc[table["front"]],
        ["glacier_id", "glacier_name", "kind", "area_km2", "max_shift_m", "geometry"],
    )
    return gained, lost, fronts


# --- helpers --------------------------------------------------------------------------------------


def _frame_and_label(data: gpd.GeoDataFrame | Inventory, role: str) -> tuple[str, gpd.GeoDataFrame]:
    """The GeoDataFrame of an input and a label for messages (its file name when known)."""
    if isinstance(data, Inventory):
        return str(data.path), data.frame
    return role, data


def _prepare(
    frame: gpd.GeoDataFrame, crs: CRS, label: str, *, allow_empty: bool = False
) -> gpd.GeoDataFrame:
    """Reproject, re-validate and give ids/names to one input.

    Reprojection can make a valid ring self-intersect at the millimetre scale, so geometries are
    repaired again in the metric CRS; rows left without polygon area are dropped. ``allow_empty``:
    an input without outlines is no error (NEW ice of a year in which no glacier was mapped).
    """
    if frame.crs is None:
        raise InputError(f"{label} has no CRS", "set one (e.g. with ogr2ogr -a_srs) and try again")
    if len(frame) == 0 and not allow_empty:
        raise InputError(f"{label} has no outlines", "give a file with glacier outline polygons")
    out = frame.to_crs(crs).reset_index(drop=True)
    geoms, repaired = repair_polygons(np.asarray(out.geometry.array, dtype=object))
    if repaired.any():
        log.info("%s: repaired %d geometries after reprojection", label, int(repaired.sum()))
    out = out.set_geometry(gpd.GeoSeries(geoms, crs=crs, index=out.index))
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(keep) and not keep.any():
        raise InputError(f"{label} has no polygon outlines", "give a file with glacier polygons")
    out = out.loc[keep].reset_index(drop=True)
    if "glacier_id" not in out.columns:
        out["glacier_id"] = [str(i + 1) for i in range(len(out))]
    if "glacier_name" not in out.columns:
        out["glacier_name"] = pd.Series([None] * len(out), dtype=object)
    out["glacier_id"] = out["glacier_id"].astype(str).astype(object)
    out["glacier_name"] = _none_for_missing(out["glacier_name"])
    return out


def _none_for_missing(values: pd.Series) -> pd.Series:
    """An object Series holding str or None (pandas would otherwise turn missing names into NaN)."""
    return pd.Series(
        [v if isinstance(v, str) else None for v in values], index=values.index, dtype=object
    )


def _is_metric(crs: Any) -> bool:
    """Whether a CRS is projected with metre axes (so areas come out in m²)."""
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        return False
    units = {axis.unit_name.lower() for axis in crs.axis_info}
    return units <= {"metre", "meter", "m"}


def _crs_label(crs: CRS) -> str:
    """``EPSG:32633`` when the CRS has an EPSG code, else its name."""
    code = crs.to_epsg()
    return f"EPSG:{code}" if code is not None else crs.name


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A glaciers-table row with JSON-safe values (NaN → None, numpy scalars → Python)."""
    clean: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float):
            value = None if math.isnan(value) else round(value, 6)
        clean[key] = value
    return clean


def _s(n: int) -> str:
    return "" if n == 1 else "s"
