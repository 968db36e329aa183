"""STAC for the inventory: one Item per year's outputs and the region's static, self-contained catalog.

``inventory/<region>/<year>/item.json`` describes a year's files (assets ``probability``, ``mask``,
``glaciers``, ``changes``, ``report``, ``summary``), its footprint in WGS 84 (the glaciers' extent),
its time range (the acquisitions the model used) and its projection (projection extension v2,
``proj:code``). ``inventory/<region>/catalog.json`` links every year's item with relative hrefs, and
every item links back to it, so the folder can be copied or served as it is (STAC Browser, QGIS).

Objects are built with pystac and serialised with ``to_dict``; this module writes the JSON itself,
atomically and only when the bytes change (pystac's ``save`` writes in place and rewrites every file),
so a repeated run touches nothing. Everything is validated with pystac before it is written, offline:
pystac bundles the JSON schemas of STAC core (and GeoJSON) and :class:`OfflineValidator` resolves
only those; extension schemas (projection) are not bundled and are skipped rather than fetched.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.inventory_format import (
    CHANGES_GPKG,
    GLACIERS_GPKG,
    REPORT_HTML,
    STAC_CATALOG,
    STAC_ITEM,
    SUMMARY_JSON,
)

if TYPE_CHECKING:
    import pystac
    from pystac.validation import JsonSchemaSTACValidator

log = logging.getLogger(__name__)

GEOPACKAGE = "application/geopackage+sqlite3"
COORDINATE_DIGITS = 6
"""Decimals of WGS 84 coordinates (about 0.1 m): enough, and stable from run to run."""

_ASSETS: dict[str, dict[str, Any]] = {
    "probability": {
        "title": "Glacier probability",
        "description": "Probability of glacier ice per pixel, 0–1 (NaN: no data).",
        "roles": ["data"],
    },
    "mask": {
        "title": "Glacier mask",
        "description": "The probability thresholded: 1 glacier, 0 other, 255 no data.",
        "roles": ["data"],
    },
    "glaciers": {
        "title": "Glacier outlines",
        "description": "The year's inventory, one feature per glacier (layer 'glaciers').",
        "roles": ["data"],
        "media_type": GEOPACKAGE,
        "file": GLACIERS_GPKG,
    },
    "changes": {
        "title": "Changes",
        "description": "Gained and lost ice, flagged fronts and disappeared glaciers.",
        "roles": ["data"],
        "media_type": GEOPACKAGE,
        "file": CHANGES_GPKG,
    },
    "report": {
        "title": "Report",
        "description": "The year's report: change map, tables, history, provenance.",
        "roles": ["metadata"],
        "media_type": "text/html",
        "file": REPORT_HTML,
    },
    "summary": {
        "title": "Summary",
        "description": "The year's figures for monitoring.",
        "roles": ["metadata"],
        "media_type": "application/json",
        "file": SUMMARY_JSON,
    },
}


# --- the item -----------------------------------------------------------------------------------------


def write_stac_item(
    year_dir: str | Path,
    *,
    region: str,
    year: int,
    crs: Any,
    probability: str | Path | None = None,
    mask: str | Path | None = None,
) -> Path:
    """Write ``item.json`` describing one year's outputs, validated, atomically (only if changed).

    Args:
        year_dir: the year's inventory folder (``inventory/<region>/<year>/``).
        region, year: what it holds; the item's id is ``<region>-<year>``.
        crs: the region's CRS (anything pyproj takes): ``proj:code`` (or ``proj:wkt2`` without an
            EPSG code).
        probability, mask: the year's ``probability.tif`` / ``mask.tif`` (COGs), if any: linked with
            relative hrefs, with their ``proj:shape`` and ``proj:transform``.

    Returns:
        The path of ``item.json``. Its ``root`` and ``parent`` links name ``../catalog.json``, which
        :func:`update_catalog` writes.
    """
    year_dir = Path(year_dir)
    item = build_item(
        year_dir, region=region, year=year, crs=crs, probability=probability, mask=mask
    )
    _catalog(year_dir.parent, region).add_item(item, strategy=_year_layout(year))
    # Assets were given absolute hrefs: now that the item has its place, make them relative to it.
    item.make_asset_hrefs_relative()
    return _write_validated(year_dir / STAC_ITEM, _item_dict(item))


def build_item(
    year_dir: Path,
    *,
    region: str,
    year: int,
    crs: Any,
    probability: str | Path | None = None,
    mask: str | Path | None = None,
) -> pystac.Item:
    """The pystac Item of a year's folder (see :func:`write_stac_item`), without links."""
    import pystac
    from pyproj import CRS
    from pystac.extensions.projection import ProjectionExtension

    from glaciermap.inventory_read import date_range, read_year

    outputs = read_year(year_dir)
    region_crs = CRS.from_user_input(crs)
    glaciers = outputs.glaciers
    if glaciers.crs is None:
        glaciers = glaciers.set_crs(region_crs)
    rasters = {"probability": probability, "mask": mask}
    changes = [
        frame.set_crs(region_crs) if frame.crs is None else frame
        for frame in outputs.changes.values()
    ]
    native_bounds, native_crs = _extent([[glaciers], changes], rasters)
    geometry, bbox = _footprint(native_bounds, native_crs)

    first, last = date_range(outputs, year)
    item = pystac.Item(
        id=f"{region}-{year}",
        geometry=geometry,
        bbox=bbox,
        datetime=None,
        start_datetime=datetime.combine(first, time(0, 0, 0), tzinfo=UTC),
        end_datetime=datetime.combine(last, time(23, 59, 59), tzinfo=UTC),
        properties={
            "title": f"Glacier inventory {region} {year}",
            "description": _description(outputs.summary, region, year, len(glaciers)),
        },
    )
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    code = region_crs.to_epsg()
    if code is not None:
        projection.code = f"EPSG:{code}"
    else:
        projection.wkt2 = region_crs.to_wkt()
    if native_crs == region_crs:
        projection.bbox = [round(float(v), 3) for v in native_bounds]

    for key, spec in _ASSETS.items():
        raster = rasters.get(key)
        if raster is not None:
            path = Path(raster)
        elif "file" in spec and (year_dir / spec["file"]).is_file():
            path = year_dir / spec["file"]
        else:
            continue  # no raster given, or a file not written yet (the report)
        asset = pystac.Asset(
            href=str(path.resolve()),
            title=spec["title"],
            description=spec["description"],
            media_type=spec.get("media_type", pystac.MediaType.COG),
            roles=spec["roles"],
        )
        item.add_asset(key, asset)
        if key in rasters:
            _raster_projection(asset, path, item_code=projection.code)
    return item


def _description(summary: dict[str, Any], region: str, year: int, n_glaciers: int) -> str:
    previous = summary.get("previous_year")
    against = f"compared with {previous}" if previous is not None else "first year"
    return f"{n_glaciers} glaciers of {region} mapped from Sentinel-1 in {year} ({against})."


def _extent(
    groups: list[list[Any]], rasters: dict[str, str | Path | None]
) -> tuple[tuple[float, float, float, float], Any]:
    """The bounds to describe, in their CRS: those of the first group of frames holding geometry
    (the glaciers; then every layer of the changes, for a year whose glaciers all disappeared),
    else the first raster's."""
    import numpy as np

    from glaciermap.io.raster import open_raster

    for frames in groups:
        drawn = [f for f in frames if len(f) and not f.geometry.is_empty.all()]
        if drawn:
            bounds = np.array([f.total_bounds for f in drawn], dtype=float)
            minx, miny = np.nanmin(bounds[:, :2], axis=0)
            maxx, maxy = np.nanmax(bounds[:, 2:], axis=0)
            return (float(minx), float(miny), float(maxx), float(maxy)), drawn[0].crs
    for path in rasters.values():
        if path is not None:
            with open_raster(path) as src:
                left, bottom, right, top = (float(v) for v in src.bounds)
                return (left, bottom, right, top), src.crs
    raise InputError(
        "the year's glaciers.gpkg and changes.gpkg hold no outline and no raster was given",
        "give the year's probability.tif so the item has a footprint",
    )


def _footprint(
    bounds: tuple[float, float, float, float], crs: Any
) -> tuple[dict[str, Any], list[float]]:
    """The extent as a WGS 84 polygon (edges densified before reprojection) and its bbox."""
    import geopandas as gpd
    import numpy as np
    import shapely

    minx, miny, maxx, maxy = bounds
    side = max(maxx - minx, maxy - miny, 1e-9)
    box = shapely.segmentize(shapely.box(minx, miny, maxx, maxy), side / 4)
    wgs84 = gpd.GeoSeries([box], crs=crs).to_crs("EPSG:4326").iloc[0]
    wgs84 = shapely.transform(wgs84, lambda xy: np.round(xy, COORDINATE_DIGITS))
    west, south, east, north = (float(v) for v in wgs84.bounds)
    return json.loads(shapely.to_geojson(wgs84)), [west, south, east, north]


def _raster_projection(asset: pystac.Asset, path: Path, *, item_code: str | None) -> None:
    """``proj:shape`` and ``proj:transform`` of a raster asset (and its CRS if not the item's)."""
    from pystac.extensions.projection import ProjectionExtension

    from glaciermap.io.raster import open_raster

    with open_raster(path) as src:
        projection = ProjectionExtension.ext(asset)
        projection.shape = [src.height, src.width]
        projection.transform = [float(v) for v in list(src.transform)[:6]]
        code = src.crs.to_epsg()
        if code is not None and f"EPSG:{code}" != item_code:
            projection.code = f"EPSG:{code}"


# --- the catalog --------------------------------------------------------------------------------------


def update_catalog(inventory_root: str | Path, *, region: str) -> Path:
    """Write ``catalog.json`` of a region's inventory: one item link per year holding ``item.json``.

    Every year's item gets its ``root``/``parent`` links to the catalog (rewritten only if they
    differ); a year whose ``item.json`` is gone drops out. Nothing is written when nothing changed.

    Args:
        inventory_root: ``inventory/<region>/`` (the years are its ``YYYY`` folders).
        region: the region; the catalog's id is ``glaciermap-<region>``.

    Returns:
        The path of ``catalog.json``.

    Raises:
        InputError: the folder does not exist, or a year's ``item.json`` is not a valid STAC Item.
    """
    root = Path(inventory_root)
    if not root.is_dir():
        raise InputError(f"inventory folder {root} not found", "run the year's update first")
    catalog = _catalog(root, region)
    items = []
    for folder in sorted(
        (p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    ):
        path = folder / STAC_ITEM
        if not path.is_file():
            if (folder / GLACIERS_GPKG).is_file():
                log.warning("%s has no %s: not in the catalog", folder, STAC_ITEM)
            continue
        item = _read_item(path)
        catalog.add_item(item, title=f"{region} {folder.name}", strategy=_year_layout(folder.name))
        items.append((path, item))
    for path, item in items:
        _write_validated(path, _item_dict(item))
    catalog_dict = catalog.to_dict(include_self_link=False, transform_hrefs=True)
    return _write_validated(root / STAC_CATALOG, catalog_dict)


def _catalog(root: Path, region: str) -> pystac.Catalog:
    """The region's catalog object, its self href at ``<root>/catalog.json`` (no items yet)."""
    import pystac

    catalog = pystac.Catalog(
        id=f"glaciermap-{region}",
        title=f"Glacier inventory of {region}",
        description=(
            f"Yearly glacier inventory updates of {region} written by glaciermap from Sentinel-1: "
            "one item per year (outlines, changes, probability and mask, report, summary)."
        ),
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    catalog.set_self_href(str(root.resolve() / STAC_CATALOG))
    return catalog


def _year_layout(year: int | str) -> pystac.layout.HrefLayoutStrategy:
    """Where a year's item lives in the catalog: ``<year>/item.json`` beside ``catalog.json``."""
    from pystac.layout import CustomLayoutStrategy

    return CustomLayoutStrategy(
        item_func=lambda _item, parent_dir: f"{parent_dir}/{year}/{STAC_ITEM}"
    )


def _read_item(path: Path) -> pystac.Item:
    """A year's item.json, validated first; a broken one is bad input naming the file."""
    import pystac
    from pystac.errors import STACTypeError, STACValidationError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        validate(data)
        return pystac.Item.from_dict(data, href=str(path.resolve()), migrate=False)
    except (json.JSONDecodeError, UnicodeDecodeError, STACValidationError, STACTypeError) as exc:
        reason = str(exc).splitlines()[0]
        raise InputError(
            f"{path} is not a valid STAC Item ({reason})",
            "delete it and rerun the year's inventory update",
        ) from exc


def _item_dict(item: pystac.Item) -> dict[str, Any]:
    return item.to_dict(include_self_link=False, transform_hrefs=True)


# --- validation and writing ---------------------------------------------------------------------------


@functools.cache
def offline_validator() -> JsonSchemaSTACValidator:
    """A pystac validator that never reaches the network (one per process: it caches schemas)."""
    return _validator_class()()


def _validator_class() -> type[JsonSchemaSTACValidator]:
    from pystac.validation import GetSchemaError, JsonSchemaSTACValidator

    class OfflineValidator(JsonSchemaSTACValidator):
        """JSON-schema validation against the schemas pystac bundles, and nothing else.

        pystac's validator fetches any schema it has not cached over HTTP. Core STAC (item, catalog,
        collection and their parts) and GeoJSON ship with pystac (``pystac/validation/jsonschemas``);
        extension schemas do not: they are skipped here (the extension's fields are set through
        pystac's typed extension API instead), and a core schema missing from the bundle is an error.
        """

        def _get_schema(self, schema_uri: str) -> dict[str, Any]:
            if schema_uri not in self.schema_cache:
                raise GetSchemaError(schema_uri, LookupError("not bundled with pystac (offline)"))
            return self.schema_cache[schema_uri]

        def validate_extension(
            self,
            stac_dict: dict[str, Any],
            stac_object_type: Any,
            stac_version: str,
            extension_id: str,
            href: str | None = None,
        ) -> str | None:
            if extension_id not in self.schema_cache:
                log.debug("extension schema %s not bundled: not validated", extension_id)
                return None
            return super().validate_extension(
                stac_dict, stac_object_type, stac_version, extension_id, href
            )

    return OfflineValidator


def validate(stac: dict[str, Any]) -> None:
    """Validate a STAC object's JSON offline (raises pystac's ``STACValidationError``)."""
    from pystac.validation import validate_dict

    validate_dict(stac, validator=offline_validator())


def _write_validated(path: Path, stac: dict[str, Any]) -> Path:
    """Validate ``stac`` and write it as indented JSON, atomically, unless the file already holds it."""
    from glaciermap.io.files import atomic_output

    validate(stac)
    data = (json.dumps(stac, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return path
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    log.info("wrote %s", path)
    return path


__all__ = [
    "build_item",
    "offline_validator",
    "update_catalog",
    "validate",
    "write_stac_item",
]
