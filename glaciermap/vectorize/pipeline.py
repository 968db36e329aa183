"""The whole run of ``glaciermap vectorize``: a raster in, a GeoPackage of cleaned outlines out.

:func:`vectorize_raster` checks its arguments and the raster, iterates the complete polygons of the
raster strip by strip (:func:`~glaciermap.vectorize.seams.iter_pixel_polygons`), cleans each batch
(:func:`~glaciermap.vectorize.cleaning.clean_outlines`) and streams it into the GeoPackage
(:func:`glaciermap.io.vector.write_gpkg_stream`), so finished outlines are written and freed as they
complete.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from glaciermap import interrupt
from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.io.lock import OutputLock
from glaciermap.io.raster import (
    check_band,
    gdal_env,
    metres_per_unit,
    open_raster,
    read_errors_as_input,
)
from glaciermap.io.vector import write_gpkg_stream
from glaciermap.vectorize.cleaning import clean_outlines
from glaciermap.vectorize.seams import iter_pixel_polygons
from glaciermap.vectorize.strips import (
    DEFAULT_THRESHOLD,
    GDAL_CACHE_BYTES,
    ProgressCallback,
    ScanStats,
)
from glaciermap.workers import Workers

log = logging.getLogger(__name__)

OUTLINES_LAYER = "outlines"
"""Name of the GeoPackage layer holding the outlines."""
DEFAULT_MIN_AREA_KM2 = 0.01
"""Smallest glacier kept, km²: the Randolph Glacier Inventory minimum."""


@dataclass(frozen=True)
class VectorizeResult:
    """What :func:`vectorize_raster` wrote.

    Attributes:
        output: the GeoPackage written (layer :data:`OUTLINES_LAYER`).
        count: number of outline polygons.
        total_area_km2: their summed area, km².
        glacier_pixels: raster pixels classified as glacier (before the minimum-area filter).
        pixel_area_m2: area of one pixel, m².
        strips: number of strips the raster was read in.
    """

    output: Path
    count: int
    total_area_km2: float
    glacier_pixels: int
    pixel_area_m2: float
    strips: int


def warn_if_not_probability(stats: ScanStats, name: str, threshold: float) -> bool:
    """Log a warning when the values cannot be a probability in [0, 1] or a 0/1 mask.

    A DEM or a backscatter image given by mistake would otherwise vectorise silently into nonsense.

    Returns:
        True if a warning was logged.
    """
    if stats.valid_pixels == 0 or (stats.value_min >= 0 and stats.value_max <= 1):
        return False
    log.warning(
        "%s holds values from %g to %g, not a probability in [0, 1] or a 0/1 mask: glacier was taken "
        "as value >= %g; check that this is the right raster",
        name,
        stats.value_min,
        stats.value_max,
        threshold,
    )
    return True


# Worker processes open the raster once, in the pool's initializer, and keep it here.


@dataclass
class _WriteTotals:
    count: int = 0
    area_km2: float = 0.0


def _write_outlines(
    path: Path,
    outlines: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    crs_wkt: str,
) -> _WriteTotals:
    """Stream outlines into a new GeoPackage layer, numbering them 1..n, in one GDAL write.

    ``outlines`` is consumed lazily while GDAL writes (:func:`glaciermap.io.vector.write_gpkg_stream`),
    so each batch is on disk before the next one is computed, and GDAL builds the spatial index once,
    at the end. An exception raised while producing ``outlines`` is re-raised as itself.

    Args:
        path: the ``.gpkg`` file to create.
        outlines: ``(geometries, area_km2, perimeter_km)`` batches of equal-length arrays.
        crs_wkt: the layer's CRS.

    Returns:
        How many outlines were written and their total area.
    """
    import pyarrow as pa

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("area_km2", pa.float64()),
            ("perimeter_km", pa.float64()),
            ("geometry", pa.binary()),
        ]
    )
    totals = _WriteTotals()

    def batches() -> Iterator[pa.RecordBatch]:
        for geometries, area_km2, perimeter_km in outlines:
            if geometries.size == 0:
                continue
            ids = np.arange(totals.count + 1, totals.count + 1 + geometries.size, dtype=np.int64)
            totals.count += int(geometries.size)
            totals.area_km2 += float(area_km2.sum())
            columns = [ids, area_km2, perimeter_km, shapely.to_wkb(geometries)]
            yield pa.record_batch([pa.array(c) for c in columns], schema=schema)

    write_gpkg_stream(
        path, schema, batches(), layer=OUTLINES_LAYER, geometry_type="Polygon", crs_wkt=crs_wkt
    )
    return totals


def vectorize_raster(
    raster: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_area_km2: float = DEFAULT_MIN_AREA_KM2,
    simplify_m: float | None = None,
    band: int = 1,
    overwrite: bool = False,
    workers: Workers = 1,
    strip_rows: int | None = None,
    progress: ProgressCallback | None = None,
) -> VectorizeResult:
    """Vectorise a glacier mask or probability raster into outline polygons in a GeoPackage.

    Args:
        raster: probability raster (glacier where value >= ``threshold``) or 0/1 mask (uint8, 255 =
            ignore), in a projected CRS. Nodata (the file's nodata value or mask, NaN, and 255 in uint8)
            is never glacier.
        output: ``.gpkg`` file to write; layer :data:`OUTLINES_LAYER` with columns ``id`` (1..n),
            ``area_km2`` and ``perimeter_km``, Polygons in the raster's CRS. It appears only once complete.
        threshold: glacier from this value up.
        min_area_km2: drop glaciers smaller than this and fill holes smaller than this, km²; 0 keeps all.
        simplify_m: topology-preserving simplification tolerance, metres; None (default) keeps the exact
            pixel outlines.
        band: 1-based band to read.
        overwrite: replace an existing ``output``; otherwise an existing file is an error.
        workers: processes polygonising strips in parallel (the CLI's default is
            :func:`glaciermap.workers.default_workers`; 1 keeps all the work in this process), or an
            :class:`~glaciermap.workers.Executor` (a Dask cluster, whose workers read the raster
            through shared storage). The result is identical either way.
        strip_rows: rows read per strip; by default sized for about 16 MB of input in flight.
        progress: called after each strip with (rows done, total rows).

    Returns:
        What was written. An empty layer is written (count 0) when no pixel reaches the threshold.

    Raises:
        InputError: the raster is missing, unreadable, without CRS, geographic, entirely nodata or of a
            non-real data type; the band does not exist; the output is not ``.gpkg``, its folder is
            missing or it exists without ``overwrite``; or an argument is out of range.
    """
    output = Path(output)
    if output.suffix.lower() != ".gpkg":
        raise InputError(f"output {output} is not a GeoPackage", "give a file name ending in .gpkg")
    if not math.isfinite(threshold):
        raise InputError(f"threshold {threshold} is not a number", "give e.g. --threshold 0.5")
    if not min_area_km2 >= 0:
        raise InputError(
            f"minimum area {min_area_km2} km² is negative", "give 0 to keep every glacier"
        )
    if simplify_m is not None and not simplify_m >= 0:
        raise InputError(
            f"simplify tolerance {simplify_m} m is negative", "give a tolerance in metres"
        )
    if isinstance(workers, int) and workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", "give e.g. --workers 2")

    rows = [0, 0]

    def counted(done: int, total: int) -> None:
        rows[:] = [done, total]
        if progress is not None:
            progress(done, total)

    def finished() -> str:
        done = f"{rows[0]} of {rows[1]} rows polygonised, " if rows[1] else ""
        return f"{done}{output} not written; run again"

    # A second writer of the file stops, naming this one; a killed one's temporary files are swept.
    with OutputLock(output, folder=False), interrupt.noting(finished), open_raster(raster) as src:
        check_band(src, band)
        unit_m = metres_per_unit(src)
        dtype = np.dtype(src.dtypes[band - 1])
        if dtype.kind not in "uif":
            raise InputError(
                f"band {band} of {src.name} has data type {dtype.name}",
                "give a probability (float) or mask (uint8) raster",
            )
        transform = src.transform
        pixel_area_m2 = abs(transform.a * transform.e - transform.b * transform.d) * unit_m**2
        min_area_px = min_area_km2 * 1e6 / pixel_area_m2
        stats = ScanStats()
        outlines = (
            clean_outlines(
                batch,
                transform,
                min_area_px=min_area_px,
                metres_per_unit=unit_m,
                simplify_m=simplify_m,
            )
            for batch in iter_pixel_polygons(
                src,
                band=band,
                threshold=threshold,
                strip_rows=strip_rows,
                workers=workers,
                stats=stats,
                progress=counted,
            )
            if batch.size
        )
        with (
            atomic_output(output, overwrite=overwrite) as tmp,
            gdal_env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
            read_errors_as_input(raster),
        ):
            totals = _write_outlines(tmp, outlines, src.crs.to_wkt())
            if stats.valid_pixels == 0:
                raise InputError(
                    f"every pixel of band {band} of {src.name} is nodata",
                    "check the band number and the raster's nodata value",
                )
    warn_if_not_probability(stats, str(raster), threshold)
    log.debug(
        "%d glacier pixels in %d strips -> %d outlines",
        stats.glacier_pixels,
        stats.strips,
        totals.count,
    )
    return VectorizeResult(
        output=output,
        count=totals.count,
        total_area_km2=totals.area_km2,
        glacier_pixels=stats.glacier_pixels,
        pixel_area_m2=pixel_area_m2,
        strips=stats.strips,
    )
