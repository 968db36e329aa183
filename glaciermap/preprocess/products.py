"""Finding, checking and grouping the HyP3 products of a region-year.

:func:`scan_products` lists the product zips (and unpacked product folders) of a download folder, opens
each one's main raster header (co-polarised backscatter for RTC_GAMMA, coherence for INSAR_GAMMA) and
refuses, with one line naming the file, anything ``preprocess`` could not use: a corrupt zip, a truncated
GeoTIFF, a raster without CRS, a product that does not overlap the region, RTC products whose radiometry
or scale disagree. :func:`assign_slots` then groups the products into the year's 24-day slots.

Contract used by :mod:`glaciermap.preprocess.mosaic` and :mod:`glaciermap.preprocess.stack`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from glaciermap.calendar import DEFAULT_SLOTS, slot_end, slot_of, slot_start
from glaciermap.errors import InputError

if TYPE_CHECKING:
    from glaciermap.io.hyp3 import Hyp3Product
    from glaciermap.regions import Region

log = logging.getLogger(__name__)

_REDOWNLOAD = "delete it and download it again (`glaciermap download` fetches missing products)"


@dataclass(frozen=True)
class ProductRecord:
    """One HyP3 product found on disk.

    Attributes:
        path: the zip or unpacked folder.
        kind: ``"RTC"`` or ``"INSAR"``.
        start: UTC start time of the (reference) acquisition.
        secondary_start: UTC start of the InSAR secondary acquisition (None for RTC).
        co_pol: ``"VV"`` or ``"HH"``.
        crs: the product's CRS as ``"EPSG:xxxxx"``.
        bounds_region: (minx, miny, maxx, maxy) of the product's grid in the REGION's CRS, metres.
        radiometry: ``"gamma0"`` / ``"sigma0"`` (RTC; None for InSAR).
        scale: ``"power"`` / ``"amplitude"`` / ``"decibel"`` (RTC; None for InSAR).
        pixel_spacing: metres (10 for RTC, 40 or 80 for InSAR).
        size: file size in bytes (for change detection); mtime_ns: modification time.
        base: the product's base name (``S1A_IW_..._FD6A``).
    """

    path: Path
    kind: str
    start: dt.datetime
    co_pol: str
    crs: str
    bounds_region: tuple[float, float, float, float]
    pixel_spacing: float
    size: int
    mtime_ns: int
    secondary_start: dt.datetime | None = None
    radiometry: str | None = None
    scale: str | None = None
    base: str = ""


@dataclass
class Slot:
    """The products of one 24-day slot of the year.

    Attributes:
        index: 0-based slot number (slot k starts on 1 January + 24 k days).
        start: first day of the slot.
        rtc: RTC products acquired in the slot (one per stripe seen).
        insar: INSAR products whose reference acquisition is in the slot.
    """

    index: int
    start: dt.date
    rtc: list[ProductRecord] = field(default_factory=list)
    insar: list[ProductRecord] = field(default_factory=list)

    @property
    def date(self) -> dt.date:
        """The slot's date: its first RTC acquisition, else the slot start (a missing slot)."""
        return min(r.start for r in self.rtc).date() if self.rtc else self.start

    @property
    def end(self) -> dt.date:
        """The day after the slot's last day."""
        return slot_end(self.start.year, self.index)

    @property
    def is_empty(self) -> bool:
        """Whether no RTC product was acquired in the slot (its bands become no-data)."""
        return not self.rtc


# ---------------------------------------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------------------------------------


def scan_products(folder: Path, region: Region) -> list[ProductRecord]:
    """Find and check every HyP3 product in ``folder`` (not in its sub-folders such as ``truth/``).

    Candidates are the ``*.zip`` files of the folder and the sub-folders named like a HyP3 product (an
    unpacked zip). Hidden files and other files (``simulation.json``, ...) are ignored. When a product is
    there both as a zip and unpacked, the zip is used.

    Each product is opened with :func:`glaciermap.io.hyp3.open_product` and its main raster (co-pol
    backscatter for RTC, ``corr`` for INSAR) is opened and its last block read, which catches truncated
    files cheaply; its bounds are transformed to the region's CRS.

    Args:
        folder: the download folder, e.g. ``raw/<region>/<year>/``.
        region: the region the products must overlap.

    Returns:
        One record per product, ordered by start time, then kind (RTC first), then path.

    Raises:
        InputError: (one line naming the file) the folder is missing or holds no product; a ``.zip`` not
            named like a HyP3 product; a corrupt zip; a truncated or unreadable GeoTIFF; a raster without
            CRS; a product that does not overlap the region's AOI; RTC products of different radiometry
            or scale.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"product folder {folder} not found",
            "download the products first (`glaciermap download`) or give the folder holding them",
        )
    records = [_record(path, region) for path in _candidates(folder)]
    if not records:
        raise InputError(
            f"no HyP3 products (S1*.zip) in {folder}",
            "download the year's products first (`glaciermap download`)",
        )
    _check_consistent(records)
    records.sort(key=lambda r: (r.start, r.kind != "RTC", str(r.path)))
    counts = {kind: sum(r.kind == kind for r in records) for kind in ("RTC", "INSAR")}
    crss = sorted({r.crs for r in records})
    log.info(
        "%s: %d RTC and %d INSAR products in %s",
        folder,
        counts["RTC"],
        counts["INSAR"],
        ", ".join(crss),
    )
    return records


def _candidates(folder: Path) -> list[Path]:
    """Product zips and unpacked product folders in ``folder``, one per base name (zips preferred)."""
    from glaciermap.io.hyp3 import parse_product_name

    zips: dict[str, Path] = {}
    folders: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            try:
                parse_product_name(entry.name)
            except InputError:
                continue  # truth/, logs, ...: not a product
            folders[entry.name] = entry
        elif entry.suffix.lower() == ".zip":
            zips[entry.name[: -len(".zip")]] = entry
    for base in sorted(set(zips) & set(folders)):
        log.info("%s is also unpacked in %s; using the zip", zips[base], folders[base])
    chosen = {**folders, **zips}
    return [chosen[base] for base in sorted(chosen)]


def _record(path: Path, region: Region) -> ProductRecord:
    """Open one product and describe it, raising InputError naming ``path`` for anything unusable."""
    from glaciermap.io.hyp3 import InsarName, open_product

    product = open_product(path)  # InputError naming the path: bad name, corrupt zip, incomplete
    name = product.name
    crs, bounds = _main_raster_grid(product, product.main_key)
    bounds_region = _to_region(path, crs, bounds, region)
    stat = path.stat()
    if isinstance(name, InsarName):
        return ProductRecord(
            path=path,
            kind="INSAR",
            start=name.reference_start,
            secondary_start=name.secondary_start,
            co_pol=name.polarization,
            crs=crs,
            bounds_region=bounds_region,
            pixel_spacing=float(name.pixel_spacing),
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            base=product.base,
        )
    return ProductRecord(
        path=path,
        kind="RTC",
        start=name.start,
        co_pol=name.co_pol,
        crs=crs,
        bounds_region=bounds_region,
        pixel_spacing=float(name.pixel_spacing),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        radiometry=name.radiometry,
        scale=name.scale,
        base=product.base,
    )


def _main_raster_grid(
    product: Hyp3Product, key: str
) -> tuple[str, tuple[float, float, float, float]]:
    """CRS (``EPSG:xxxxx``) and bounds of raster ``key``, after checking it opens and reads to its end."""
    grid = product.grid(key, check_end=True)
    return grid.epsg_name, grid.bounds


def _to_region(
    path: Path, crs: str, bounds: tuple[float, float, float, float], region: Region
) -> tuple[float, float, float, float]:
    """The product's bounds in the region's CRS, after checking they overlap the region's AOI."""
    import shapely
    from rasterio.warp import transform_bounds

    minx, miny, maxx, maxy = transform_bounds(crs, region.crs, *bounds, densify_pts=21)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InputError(
            f"{path} lies outside the area {region.crs} can represent: it is from another region",
            f"keep only region {region.name!r} products in the folder",
        )
    footprint = shapely.box(minx, miny, maxx, maxy)
    aoi = shapely.from_wkt(region.aoi_wkt) if region.aoi_wkt else shapely.box(*region.aoi)
    if not footprint.intersects(aoi) or footprint.intersection(aoi).area <= 0:
        raise InputError(
            f"{path} does not overlap region {region.name!r} (product spans x {minx / 1000:.1f}-"
            f"{maxx / 1000:.1f} km, y {miny / 1000:.1f}-{maxy / 1000:.1f} km in {region.crs}): it is"
            " from another region",
            "move it out of the folder, or preprocess it with the region it belongs to",
        )
    return (float(minx), float(miny), float(maxx), float(maxy))


def _check_consistent(records: Iterable[ProductRecord]) -> None:
    """Refuse RTC products whose radiometry (gamma0/sigma0) or scale (power/dB/amplitude) differ."""
    rtc = [r for r in records if r.kind == "RTC"]
    for attribute, option in (("radiometry", "radiometry"), ("scale", "scale")):
        groups: dict[str, list[ProductRecord]] = {}
        for record in rtc:
            groups.setdefault(str(getattr(record, attribute)), []).append(record)
        if len(groups) > 1:
            # Name the minority first: the odd file out is usually the one ordered by mistake.
            ordered = sorted(groups.items(), key=lambda item: (len(item[1]), item[0]))
            described = "; ".join(
                f"{value}: {items[0].path.name}"
                + (f" and {len(items) - 1} more" if len(items) > 1 else "")
                for value, items in ordered
            )
            raise InputError(
                f"RTC products of mixed {attribute} in {rtc[0].path.parent} ({described})",
                f"order every RTC product with the same `{option}` option (gamma0 and power are the"
                " defaults) and remove the others",
            )


# ---------------------------------------------------------------------------------------------------------
# Slots
# ---------------------------------------------------------------------------------------------------------


def assign_slots(
    records: Iterable[ProductRecord], year: int, n_slots: int = DEFAULT_SLOTS
) -> list[Slot]:
    """Group products into the year's 24-day slots.

    Slot ``k`` covers the days ``[1 January + 24 k, 1 January + 24 (k + 1))``. An RTC product goes to the
    slot of its start date, an INSAR product to the slot of its reference start date (so a slot's
    coherence is the 12-day pair beginning in it). Products outside the slots (another year, or the
    last days of December after 15 slots) are ignored with a log line.

    Args:
        records: from :func:`scan_products`.
        year: the calendar year.
        n_slots: number of slots (15 spans the year).

    Returns:
        All ``n_slots`` slots in order, empty ones included (their bands become no-data); products in a
        slot are ordered by start time.
    """
    if n_slots < 1:
        raise ValueError(f"n_slots must be positive, not {n_slots}")
    first = dt.date(year, 1, 1)
    slots = [Slot(index=k, start=slot_start(year, k)) for k in range(n_slots)]
    for record in records:
        day = record.start.date()
        index = slot_of(day, year)
        if not 0 <= index < n_slots:
            log.info(
                "ignoring %s: acquired %s, outside the %d slots of %d (%s to %s)",
                record.path.name,
                day,
                n_slots,
                year,
                first,
                slots[-1].end - dt.timedelta(days=1),
            )
            continue
        slot = slots[index]
        (slot.rtc if record.kind == "RTC" else slot.insar).append(record)
    for slot in slots:
        slot.rtc.sort(key=lambda r: (r.start, str(r.path)))
        slot.insar.sort(key=lambda r: (r.start, str(r.path)))
    return slots
