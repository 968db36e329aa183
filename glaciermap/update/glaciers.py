"""The inventory update's first stage: this year's outlines become ``glaciers.gpkg`` with stable ids.

:func:`update_glaciers` reads this year's outlines and the baseline (last year's ``glaciers.gpkg``, or the
reference inventory on the first year), gives every glacier its id (:mod:`glaciermap.update.ids`), adds
the per-glacier attributes (:mod:`glaciermap.update.attributes`) and writes the ``glaciers`` layer of
``<out_dir>/glaciers.gpkg`` atomically. ``changes.gpkg`` and ``summary.json`` are later stages that read
files only (:mod:`glaciermap.update.changes`, :mod:`glaciermap.update.summary`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from glaciermap.diff import DEFAULT_MIN_FRONT_AREA_KM2, DEFAULT_MIN_FRONT_SHIFT_M
from glaciermap.errors import InputError
from glaciermap.inventory_format import GLACIERS_GPKG, GLACIERS_LAYER
from glaciermap.io.files import make_output_folder

if TYPE_CHECKING:
    import geopandas as gpd

    from glaciermap.regions import Region

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

DEFAULT_MIN_AREA_KM2 = 0.01
"""Smallest new glacier or split part with an id of its own, km² (the RGI minimum glacier size)."""

# Glaciers mix Polygon and MultiPolygon rows (fragments stay with their glacier): one layer type.
MULTIPOLYGON_LAYER = {"geometry_type": "MultiPolygon", "promote_to_multi": True}


@dataclass
class UpdateResult:
    """What :func:`update_glaciers` wrote.

    Attributes:
        path: ``glaciers.gpkg``.
        glaciers: its ``glaciers`` layer (``GLACIER_COLUMNS``, region CRS).
        disappeared: baseline glaciers without ice this year (``glacier_id``, ``glacier_name``,
            ``area_km2``, last outline); ``changes.gpkg`` lists them.
        against: ``"previous"``, ``"reference"``, or None on a first year without a reference.
    """

    path: Path
    glaciers: gpd.GeoDataFrame
    disappeared: gpd.GeoDataFrame
    against: str | None

    def status_counts(self) -> dict[str, int]:
        """Glaciers per status, ``disappeared`` included."""
        counts = {str(k): int(v) for k, v in self.glaciers["status"].value_counts().items()}
        if len(self.disappeared):
            counts["disappeared"] = len(self.disappeared)
        return counts


def update_glaciers(
    outlines: PathLike,
    probability: PathLike | None,
    out_dir: PathLike,
    *,
    region: Region,
    year: int,
    previous: PathLike | None = None,
    reference: PathLike | None = None,
    dates: Iterable[dt.date | str] = (),
    model: str = "",
    weights_sha256: str = "",
    min_area_km2: float = DEFAULT_MIN_AREA_KM2,
    min_front_area_km2: float = DEFAULT_MIN_FRONT_AREA_KM2,
    min_front_shift_m: float = DEFAULT_MIN_FRONT_SHIFT_M,
) -> UpdateResult:
    """Write ``out_dir/glaciers.gpkg``: this year's glaciers with stable ids and their attributes.

    Args:
        outlines: this year's outlines (``outlines.gpkg`` from vectorize of the predicted mask).
        probability: ``probability.tif`` of the same prediction, for ``mean_probability``; None leaves
            it null.
        out_dir: the year's inventory folder (created if missing).
        region: the region: its CRS (geometry and areas), AOI (which reference glaciers count) and
            prefix (new ids ``<PREFIX>-<year>-<nnnn>``).
        year: the inventory's year.
        previous: last year's ``glaciers.gpkg``, the source of ids; None on the first year.
        reference: a reference inventory (RGI, NPI, GLIMS, any outline file), the source of ids when
            ``previous`` is None; its glaciers outside the region are left out.
        dates: the acquisition dates the model used.
        model: the weights' name. weights_sha256: their sha256.
        min_area_km2: smallest new body or split part with an id of its own, km².
        min_front_area_km2, min_front_shift_m: what counts as a changed front (as in ``glaciermap diff``).

    Returns:
        The :class:`UpdateResult`.

    Raises:
        InputError: an input is missing or unreadable, the reference has no glacier in the region, or
            a threshold is negative.
    """
    from glaciermap.io.vector import write_gpkg
    from glaciermap.update.attributes import glacier_table
    from glaciermap.update.ids import match_glaciers
    from glaciermap.update.sources import read_outlines, read_previous, read_reference

    if min_area_km2 < 0:
        raise InputError(f"minimum area {min_area_km2} km² is negative", "give 0 or more")
    if probability is not None and not Path(probability).is_file():
        raise InputError(f"probability raster {probability} not found", "run predict first")
    new = read_outlines(outlines, region)
    if previous is not None:
        baseline, against = read_previous(previous, region), "previous"
    elif reference is not None:
        baseline, against = read_reference(reference, region), "reference"
    else:
        baseline, against = None, None
    log.info(
        "%s %d: %d outline%s against %s",
        region.name,
        year,
        len(new),
        "" if len(new) == 1 else "s",
        {"previous": previous, "reference": reference}.get(against or "", "nothing (all new)"),
    )
    matched = match_glaciers(
        new,
        baseline,
        crs=region.crs,
        prefix=region.prefix,
        year=year,
        min_area_km2=min_area_km2,
        min_front_area_km2=min_front_area_km2,
        min_front_shift_m=min_front_shift_m,
    )
    table = glacier_table(
        matched.glaciers.to_crs(region.crs),
        probability=probability,
        year=year,
        dates=dates,
        model=model,
        weights_sha256=weights_sha256,
    )
    folder = make_output_folder(out_dir)
    path = write_gpkg(
        folder / GLACIERS_GPKG,
        {GLACIERS_LAYER: table},
        layer_options={GLACIERS_LAYER: MULTIPOLYGON_LAYER},
    )
    result = UpdateResult(path, table, matched.disappeared.to_crs(region.crs), against)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.status_counts().items()))
    log.info("wrote %s: %d glaciers (%s)", path, len(table), counts or "none")
    return result
