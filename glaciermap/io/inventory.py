"""Read any glacier inventory (RGI 5/6/7, NPI Svalbard, USGS GNP or a plain outline file) the same way.

:func:`read_inventory` is the one entry point. It returns an :class:`Inventory`: the outlines as a
GeoDataFrame with every original column kept plus two normalised ones,

- ``glacier_id`` (str, unique, never null) — the inventory's own id where it has one (``rgi_id`` in RGI 7,
  ``RGIId`` in RGI 5/6, any ``glacier_id``/``id`` column otherwise), else the glacier name when names are
  unique, else ``<file stem>-<n>`` with ``n`` the feature's 1-based position in the file;
- ``glacier_name`` (str or None) — ``glac_name`` (RGI 7), ``Name`` (RGI 5/6), ``GLACNAME`` (USGS Glacier
  National Park), ``name`` (NPI) or any ``name`` column, cleaned of the space padding and stray
  encoding byte that RGI 5 shapefiles carry,

and geometries that are valid, two-dimensional Polygons or MultiPolygons: invalid rings are repaired with
``shapely.make_valid`` (polygon parts kept), features left empty are dropped, and the counts of both are
reported in the log and on the returned object.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.io.vector import first_line, list_layers, read_frame

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy as np
    from pyproj import CRS

log = logging.getLogger(__name__)

# Columns that name a glacier's id / name, per schema, in order of preference. An empty tuple means the
# schema has none of its own and the "generic" candidates (matched case-insensitively) are tried.
_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "rgi7": ("rgi_id",),
    "rgi6": ("RGIId",),
    "rgi5": ("RGIId",),
    "gnp": (),
    "npi": (),
    "generic": ("glacier_id", "rgi_id", "rgiid", "glac_id", "id"),
}
_NAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "rgi7": ("glac_name",),
    "rgi6": ("Name",),
    "rgi5": ("Name",),
    "gnp": ("GLACNAME",),
    "npi": ("name",),
    "generic": ("glacier_name", "glac_name", "glacname", "name"),
}
# Attribute columns only RGI 6 (not 5) has, and only RGI 5 (not 6) has: used when the ids do not say.
_RGI6_ONLY = {"Status", "Connect", "Form", "TermType", "Surging", "Linkages"}
_RGI5_ONLY = {"RGIFlag", "GlacType"}

# RGI 5 dBase names are padded with spaces to the field width and end in a stray byte (read as 'À'):
# a run of two or more blanks, optionally followed by one non-blank character, at the end of the value.
_PADDING = re.compile(r"\s{2,}\S?$")

_PARQUET_SUFFIXES = {".parquet", ".geoparquet"}


@dataclass
class Inventory:
    """Glacier outlines read from one file, with what the reader did to them.

    Attributes:
        frame: the outlines; original columns plus ``glacier_id`` and ``glacier_name``; geometries are
            valid 2D Polygons/MultiPolygons in the file's CRS or the requested one.
        path: the file read.
        schema: the detected layout: ``"rgi5"``, ``"rgi6"``, ``"rgi7"``, ``"npi"``, ``"gnp"`` (USGS
            Glacier National Park) or ``"generic"``.
        layer: the layer read (for a shapefile or GeoJSON, the driver's single layer), or None for
            GeoParquet.
        n_repaired: number of invalid geometries repaired with ``make_valid``.
        n_dropped: number of features dropped: null or empty geometries, non-polygon geometries and
            geometries that were empty after repair.
    """

    frame: gpd.GeoDataFrame
    path: Path
    schema: str
    layer: str | None
    n_repaired: int
    n_dropped: int

    @property
    def crs(self) -> CRS:
        """The CRS of :attr:`frame`."""
        return self.frame.crs

    def __len__(self) -> int:
        return len(self.frame)


def read_inventory(
    path: str | Path, *, layer: str | None = None, crs: Any | None = None
) -> Inventory:
    """Read glacier outlines from a shapefile, GeoPackage, GeoJSON or GeoParquet file.

    Args:
        path: the file. Shapefiles need their ``.prj`` beside them.
        layer: layer to read from a multi-layer source (GeoPackage). Default: the only layer, else the
            first layer whose geometry type is polygonal (the choice is logged).
        crs: if given (anything pyproj accepts, e.g. ``"EPSG:32633"``), reproject the outlines to it.

    Returns:
        The :class:`Inventory`.

    Raises:
        InputError: the file is missing or unreadable, has no CRS, no features, or no polygons; or
            ``layer`` is not in the file.
    """
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist", "check the path of the inventory file")
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        if layer is not None:
            log.warning("%s: GeoParquet has no layers, ignoring layer=%r", path, layer)
        frame, layer = _read_parquet(path), None
    else:
        layer = _choose_layer(path, layer)
        frame = read_frame(path, layer=layer)

    where = f" (layer {layer!r})" if layer and layer != path.stem else ""
    if len(frame) == 0:
        raise InputError(f"{path}{where} has no features", "give an inventory that holds outlines")
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise InputError(
            f"{path}{where} is a table without geometries",
            "give a file with glacier outline polygons",
        )
    if frame.crs is None:
        raise InputError(
            f"{path} has no CRS",
            "add one (for a shapefile, its .prj file; or `ogr2ogr -a_srs EPSG:xxxx`) and try again",
        )

    frame, n_repaired, n_dropped = _clean_geometries(frame, path)
    schema = _detect_schema(frame)
    frame["glacier_id"] = _glacier_ids(frame, schema, path)
    frame["glacier_name"] = _glacier_names(frame, schema)
    frame = frame.drop(columns="_position")
    # Keep the geometry column last, where readers of the file expect it.
    geometry_name = frame.geometry.name
    frame = frame[[c for c in frame.columns if c != geometry_name] + [geometry_name]]

    if crs is not None:
        frame = _reproject(frame, crs, path)
    log.info(
        "%s: %d glacier outline%s (%s)%s",
        path.name,
        len(frame),
        "" if len(frame) == 1 else "s",
        schema,
        f", layer {layer!r}" if layer and layer != path.stem else "",
    )
    return Inventory(frame, path, schema, layer, n_repaired, n_dropped)


def _reproject(frame: gpd.GeoDataFrame, crs: Any, path: Path) -> gpd.GeoDataFrame:
    """Reproject, turning an unknown CRS into :class:`InputError`."""
    from pyproj.exceptions import CRSError

    try:
        return frame.to_crs(crs)
    except CRSError as exc:
        raise InputError(
            f"cannot reproject {path} to {crs!r} ({first_line(exc)})", "give e.g. EPSG:32633"
        ) from exc


def _choose_layer(path: Path, layer: str | None) -> str | None:
    """Pick the layer to read: the requested one, the only one, or the first polygon layer."""
    layers = list_layers(path)
    names = [name for name, _ in layers]
    if layer is not None:
        if layer not in names:
            raise InputError(
                f"{path} has no layer {layer!r}", f"choose one of: {', '.join(names) or '(none)'}"
            )
        return layer
    if len(names) <= 1:
        return names[0] if names else None
    types = [kind for _, kind in layers]
    polygonal = [n for n, t in zip(names, types, strict=True) if "polygon" in t.lower()]
    # GeoPackages written with mixed Polygon/MultiPolygon rows declare "Unknown"; try those next.
    unknown = [n for n, t in zip(names, types, strict=True) if t.lower() in ("unknown", "geometry")]
    candidates = polygonal or unknown
    if not candidates:
        raise InputError(
            f"{path} has no polygon layer (layers: {', '.join(names)})",
            "give a file with glacier outline polygons, or name the layer to read",
        )
    log.info("%s has %d layers; reading %r", path.name, len(names), candidates[0])
    return candidates[0]


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    """Read a GeoParquet file, turning pyarrow's errors and missing metadata into :class:`InputError`."""
    import geopandas as gpd
    import pyarrow as pa
    import pyarrow.parquet as pq

    hint = "check that the file is complete and has GeoParquet metadata"
    try:
        # The footer alone says whether this is GeoParquet; geopandas would raise a bare ValueError.
        metadata = pq.read_schema(path).metadata or {}
        if b"geo" not in metadata:
            raise InputError(
                f"{path} cannot be read as GeoParquet (a Parquet table without 'geo' metadata)",
                hint,
            )
        return gpd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path} cannot be read as GeoParquet ({first_line(exc)})", hint) from exc


def _clean_geometries(frame: gpd.GeoDataFrame, path: Path) -> tuple[gpd.GeoDataFrame, int, int]:
    """Make every geometry a valid 2D (Multi)Polygon; drop what cannot be one.

    Returns:
        The cleaned frame (index reset, with a ``_position`` column: the 1-based row in the file), the
        number of repaired and the number of dropped features.
    """
    import numpy as np
    import shapely

    raw = np.asarray(frame.geometry.array, dtype=object)
    present = ~(shapely.is_missing(raw) | shapely.is_empty(raw))
    if not present.any():
        raise InputError(f"{path} has no geometries", "give a file with glacier outline polygons")

    polygons, repaired = repair_polygons(raw)
    n_repaired = int(repaired.sum())
    if n_repaired:
        reasons = sorted(set(shapely.is_valid_reason(shapely.force_2d(raw[repaired]))))
        log.warning(
            "%s: repaired %d invalid geometr%s (%s)",
            path.name,
            n_repaired,
            "y" if n_repaired == 1 else "ies",
            "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else ""),
        )

    keep = ~(shapely.is_missing(polygons) | shapely.is_empty(polygons))
    if not keep.any():
        kinds = sorted(set(shapely.get_type_id(raw[present]).tolist()))
        names = ", ".join(_GEOMETRY_TYPE_NAMES.get(k, str(k)) for k in kinds)
        raise InputError(
            f"{path} has no polygon geometries (found {names})",
            "give a file with glacier outline polygons",
        )
    n_dropped = int((~keep).sum())
    if n_dropped:
        log.warning(
            "%s: dropped %d feature%s without polygon area (empty, non-polygon or collapsed by repair)",
            path.name,
            n_dropped,
            "" if n_dropped == 1 else "s",
        )
    cleaned = frame.copy()
    cleaned[cleaned.geometry.name] = polygons
    cleaned["_position"] = np.arange(1, len(frame) + 1)
    return cleaned.loc[keep].reset_index(drop=True), n_repaired, n_dropped


def repair_polygons(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn geometries into valid 2D Polygons/MultiPolygons, keeping only polygon parts.

    Valid 2D Polygons and MultiPolygons are returned unchanged. Invalid ones are rebuilt with
    ``shapely.make_valid(method="structure")``, which rebuilds polygons from their rings (a self-touching
    ring stays one polygon, a bow tie becomes two) instead of re-noding all linework, which could turn
    overlapping parts into holes. Points, lines and rings that collapse become None.

    Args:
        geoms: object array of shapely geometries (None allowed), any dimension.

    Returns:
        ``(polygons, repaired)``: an object array of the same length holding Polygon, MultiPolygon or
        None; and a boolean array marking the geometries that were invalid and repaired.
    """
    import numpy as np
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = np.full(len(geoms), None, dtype=object)  # empty inputs stay None
    out[present] = shapely.force_2d(geoms[present])
    repaired = present & ~shapely.is_valid(out)
    if repaired.any():
        out[repaired] = shapely.make_valid(out[repaired], method="structure", keep_collapsed=False)
    # Anything that is not already a clean (Multi)Polygon is reduced to its polygon parts.
    reduce = present & (repaired | ~np.isin(shapely.get_type_id(out), (3, 6)))
    if reduce.any():
        out[reduce] = _polygonal_parts(out[reduce])
    return out, repaired


_GEOMETRY_TYPE_NAMES = {
    -1: "missing",
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts of each geometry.

    Args:
        geoms: object array of shapely geometries or None.

    Returns:
        Object array of the same length: Polygon (one part), MultiPolygon (several) or None (no polygon
        part, e.g. a point or a ring collapsed to a line by repair).
    """
    import numpy as np
    import shapely

    out = np.full(len(geoms), None, dtype=object)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    # get_parts flattens one level; collections may nest multi-geometries.
    while (shapely.get_type_id(parts) >= 4).any():
        parts, inner = shapely.get_parts(parts, return_index=True)
        owner = owner[inner]
    is_polygon = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, owner = parts[is_polygon], owner[is_polygon]
    if len(parts) == 0:
        return out
    counts = np.bincount(owner, minlength=len(geoms))
    single = counts == 1
    # Features with one polygon part stay Polygons; the rest become MultiPolygons.
    first = np.searchsorted(owner, np.arange(len(geoms)))
    out[single] = parts[first[single]]
    multi = counts > 1
    if multi.any():
        take = multi[owner]
        groups = np.unique(owner[take], return_inverse=True)[1]
        out[multi] = shapely.multipolygons(parts[take], indices=groups)
    return out


def _detect_schema(frame: gpd.GeoDataFrame) -> str:
    """Tell RGI 5/6/7, NPI, USGS GNP and generic outline files apart by their columns and ids."""
    columns = set(frame.columns)
    if "rgi_id" in columns and "glac_name" in columns:
        return "rgi7"
    if "RGIId" in columns:
        ids = frame["RGIId"].dropna().astype(str)
        if ids.str.startswith("RGI60").any() or (columns & _RGI6_ONLY and not columns & _RGI5_ONLY):
            return "rgi6"
        return "rgi5"
    if "GLACNAME" in columns:
        return "gnp"
    if {"name", "year"} <= columns:
        return "npi"
    return "generic"


def _find_column(frame: gpd.GeoDataFrame, candidates: tuple[str, ...]) -> list[str]:
    """Columns of ``frame`` matching ``candidates`` (exact first, then case-insensitive), in order."""
    lower = {c.lower(): c for c in frame.columns if isinstance(c, str)}
    found: list[str] = []
    for want in candidates:
        column = want if want in frame.columns else lower.get(want.lower())
        if column is not None and column not in found and column != frame.geometry.name:
            found.append(column)
    return found


def _glacier_ids(frame: gpd.GeoDataFrame, schema: str, path: Path) -> Any:
    """Unique, non-null string ids: the inventory's id column, else unique names, else stem-position."""
    import pandas as pd

    for column in _find_column(frame, _ID_COLUMNS[schema] or _ID_COLUMNS["generic"]):
        values = frame[column]
        if values.isna().any():
            log.info("%s: id column %r has empty values, not using it", path.name, column)
            continue
        ids = values.map(_id_text)
        if ids.is_unique and (ids != "").all():
            return pd.Series(ids.to_numpy(dtype=object), index=frame.index, dtype=object)
        log.warning("%s: id column %r is not unique, not using it", path.name, column)
    names = _glacier_names(frame, schema)
    if names.notna().all() and names.is_unique:
        return names.astype(object)
    return pd.Series(
        [f"{path.stem}-{n}" for n in frame["_position"]], index=frame.index, dtype=object
    )


def _id_text(value: Any) -> str:
    """An id as text: integral floats (a dBase numeric id) lose their ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _glacier_names(frame: gpd.GeoDataFrame, schema: str) -> Any:
    """Cleaned glacier names (object Series of str or None)."""
    import pandas as pd

    columns = _find_column(frame, _NAME_COLUMNS[schema] or _NAME_COLUMNS["generic"])
    if not columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return pd.Series([clean_name(v) for v in frame[columns[0]]], index=frame.index, dtype=object)


def clean_name(value: Any) -> str | None:
    """Clean a glacier name read from an inventory.

    Cuts the space padding (and the stray encoding byte after it, read as 'À') that RGI 5 dBase fields
    carry, strips blanks, and treats empty values and a lone leftover non-alphanumeric ASCII artefact as
    no name.

    Args:
        value: the raw attribute value (str, None or NaN).

    Returns:
        The name, or None.
    """
    if value is None or not isinstance(value, str):
        return None
    text = _PADDING.sub("", value).strip()
    if not text:
        return None
    # RGI 5 rows without a name hold only the stray byte; a real name is never a single such character.
    if len(text) == 1 and not (text.isascii() and text.isalnum()):
        return None
    return text
