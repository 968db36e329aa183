"""Reading a raster in horizontal strips and polygonising each strip into flat arrays.

Each strip is classified (glacier where value >= threshold, never where the pixel is nodata) and
polygonised by GDAL with 4-connectivity (:func:`polygonize_strip`). Coordinates are integer *pixel*
units (column, row) of the whole raster, so polygons from neighbouring strips share their seam edges
exactly. :func:`iter_strips` runs the strips in this process or spreads them over
:func:`glaciermap.workers.map_tasks` (local processes, or a Dask cluster's workers, which see the raster
through shared storage), whose workers each open the raster once (:func:`open_strip_reader`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
import shapely
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.features import shapes
from rasterio.windows import Window

from glaciermap.io.raster import gdal_error_message, open_raster_for_worker

if TYPE_CHECKING:
    from glaciermap.io.raster import DatasetReader
    from glaciermap.workers import Workers

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
"""Probability (or mask value) from which a pixel is glacier."""
DEFAULT_STRIP_BUDGET_BYTES = 16 * 2**20
"""Input bytes in flight, shared by the strips being polygonised at once. A strip's working set (the
classes, GDAL's copies of the mask, its polygons) is about ten times its input; measured on a
20 000 x 20 000 mask, 16 MB strips keep a run near 400 MB and are no slower than bigger ones."""
UINT8_NODATA = 255
"""The project's nodata value of uint8 masks (1 = glacier, 0 = not glacier, 255 = ignore)."""
GDAL_CACHE_BYTES = 64 * 2**20
"""GDAL block cache per process while vectorising. Strips are aligned on blocks, so each block is read
once and a bigger cache only costs memory (GDAL's default is 5 % of RAM, per process)."""

ProgressCallback = Callable[[int, int], None]
"""Called after each strip with (rows done, rows in total)."""

_CONVERT_CHUNK = 20_000  # polygons whose GeoJSON coordinates are held before conversion to arrays


@dataclass
class ScanStats:
    """Pixel counts gathered while the raster is read.

    Attributes:
        valid_pixels: pixels that are not nodata.
        glacier_pixels: valid pixels at or above the threshold.
        strips: strips read so far.
        value_min, value_max: range of the valid pixel values (to tell a probability or mask raster
            from, say, a DEM given by mistake).
    """

    valid_pixels: int = 0
    glacier_pixels: int = 0
    strips: int = 0
    value_min: float = math.inf
    value_max: float = -math.inf


@dataclass
class StripPolygons:
    """The polygons of one strip as flat arrays: cheap to send between processes.

    Attributes:
        row_start: the strip's first row in the raster.
        row_end: one past its last row.
        coords: (V, 2) float64 vertex coordinates (column, row) of all rings, rings closed.
        ring_lengths: (R,) vertices per ring.
        rings_per_polygon: (N,) rings per polygon, exterior first.
        valid_pixels: pixels of the strip that are not nodata.
        glacier_pixels: glacier pixels of the strip.
    """

    row_start: int
    row_end: int
    coords: np.ndarray
    ring_lengths: np.ndarray
    rings_per_polygon: np.ndarray
    valid_pixels: int = 0
    glacier_pixels: int = 0
    value_min: float = math.inf
    value_max: float = -math.inf

    def polygons(self) -> np.ndarray:
        """(N,) shapely Polygons, built in one vectorised call."""
        if self.rings_per_polygon.size == 0:
            return np.empty(0, dtype=object)
        ring_offsets = np.concatenate([[0], np.cumsum(self.ring_lengths)])
        polygon_offsets = np.concatenate([[0], np.cumsum(self.rings_per_polygon)])
        return np.asarray(
            shapely.from_ragged_array(
                shapely.GeometryType.POLYGON, self.coords, (ring_offsets, polygon_offsets)
            ),
            dtype=object,
        )


def strip_height(
    width: int, itemsize: int, block_height: int = 1, budget_bytes: int = DEFAULT_STRIP_BUDGET_BYTES
) -> int:
    """Rows per strip so that one strip of input stays within ``budget_bytes``.

    Args:
        width: raster width, pixels.
        itemsize: bytes per pixel of the band's data type.
        block_height: the file's block (tile or strip) height. Strips are a multiple of it, so that no
            block is decoded twice — at least one row of blocks even if that exceeds the budget, since
            GDAL decodes whole blocks anyway.
        budget_bytes: input bytes allowed per strip.

    Returns:
        At least 1.
    """
    rows = max(1, budget_bytes // max(1, width * itemsize))
    if block_height > 1:
        rows = max(block_height, rows - rows % block_height)
    return int(rows)


def classify_glacier(
    data: np.ndarray, valid: np.ndarray | None, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Glacier pixels of one strip: value >= threshold and valid.

    Args:
        data: (H, W) band values, any real dtype.
        valid: (H, W) bool, False where the pixel is nodata; None when every pixel is valid.
        threshold: glacier from this value up (a probability, or 0.5 for a 0/1 mask).

    Returns:
        (H, W) bool array.
    """
    glacier = np.empty(data.shape, dtype=bool)
    if np.issubdtype(data.dtype, np.integer):
        # Compare in the raster's own integer type: a float threshold would make numpy upcast the whole
        # strip to float64, eight times its memory. For integers, x >= t is x >= ceil(t).
        info = np.iinfo(data.dtype)
        cut = math.ceil(threshold)
        if cut > info.max:
            glacier.fill(False)
        elif cut <= info.min:
            glacier.fill(True)
        else:
            np.greater_equal(data, data.dtype.type(cut), out=glacier)
    else:
        # NaN compares False, so NaN pixels can never be glacier.
        np.greater_equal(data, threshold, out=glacier)
    if valid is not None:
        np.logical_and(glacier, valid, out=glacier)
    return glacier


def _flatten_rings(rings: list[list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """(V, 2) coordinates and (R,) lengths of GeoJSON-style rings."""
    lengths = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
    flat = chain.from_iterable(chain.from_iterable(rings))
    coords = np.fromiter(flat, dtype=np.float64, count=2 * int(lengths.sum())).reshape(-1, 2)
    return coords, lengths


def mask_to_arrays(glacier: np.ndarray, row_offset: int = 0) -> StripPolygons:
    """Polygonise the 4-connected glacier regions of one strip into flat coordinate arrays.

    Args:
        glacier: (H, W) bool mask of one strip.
        row_offset: the strip's first row in the whole raster.

    Returns:
        The strip's polygons in whole-raster pixel coordinates (x = column, y = row of pixel corners, so
        every coordinate is an integer). Pixel counts are left at zero.
    """
    height = glacier.shape[0]
    coord_parts: list[np.ndarray] = [np.empty((0, 2))]
    length_parts: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    ring_counts: list[int] = []
    if glacier.any():
        as_u8 = glacier.view(np.uint8)
        pending: list[list[tuple[float, float]]] = []
        # The mask restricts polygonisation to glacier pixels, so GDAL never builds the (huge,
        # hole-riddled) background polygon.
        for geometry, _ in shapes(
            as_u8, mask=as_u8, connectivity=4, transform=Affine.translation(0, row_offset)
        ):
            rings = geometry["coordinates"]
            ring_counts.append(len(rings))
            pending.extend(rings)
            # Convert in chunks: a strip's worth of Python tuples would cost several times the arrays.
            if len(pending) >= _CONVERT_CHUNK:
                coords, lengths = _flatten_rings(pending)
                coord_parts.append(coords)
                length_parts.append(lengths)
                pending.clear()
        coords, lengths = _flatten_rings(pending)
        coord_parts.append(coords)
        length_parts.append(lengths)
    return StripPolygons(
        row_start=row_offset,
        row_end=row_offset + height,
        coords=np.concatenate(coord_parts),
        ring_lengths=np.concatenate(length_parts),
        rings_per_polygon=np.asarray(ring_counts, dtype=np.int64),
    )


def polygons_from_mask(glacier: np.ndarray, row_offset: int = 0) -> np.ndarray:
    """Polygonise the 4-connected glacier regions of a mask, in whole-raster pixel coordinates.

    Args:
        glacier: (H, W) bool mask.
        row_offset: row of the mask's first line in the whole raster.

    Returns:
        (N,) object array of shapely Polygons (x = column, y = row of pixel corners).
    """
    return mask_to_arrays(glacier, row_offset).polygons()


def nodata_mode(src: DatasetReader, band: int) -> str:
    """How to find the nodata pixels of ``band``: 'none', 'value' (from the data) or 'mask' (read it)."""
    flags = set(src.mask_flag_enums[band - 1])
    if MaskFlags.all_valid in flags:
        return "none"
    if flags == {MaskFlags.nodata}:
        # Deriving the mask from the values already read saves GDAL reading the band a second time.
        return "value"
    return "mask"


def _valid_pixels(
    src: DatasetReader, band: int, window: Window, data: np.ndarray, mode: str
) -> np.ndarray | None:
    """(H, W) bool mask of the non-nodata pixels of a strip, or None when all are valid."""
    valid: np.ndarray | None = None
    if mode == "mask":
        valid = src.read_masks(band, window=window) != 0
    elif mode == "value":
        nodata = src.nodatavals[band - 1]
        if nodata is not None:
            valid = ~np.isnan(data) if math.isnan(nodata) else data != nodata
    if data.dtype == np.uint8:
        # Project convention: 255 in a uint8 mask means "ignore", whether or not the file says so.
        not_ignored = data != UINT8_NODATA
        valid = not_ignored if valid is None else np.logical_and(valid, not_ignored, out=valid)
    if data.dtype.kind == "f":
        not_nan = ~np.isnan(data)
        valid = not_nan if valid is None else np.logical_and(valid, not_nan, out=valid)
    return valid


def polygonize_strip(
    src: DatasetReader, band: int, threshold: float, mode: str, row_start: int, row_end: int
) -> StripPolygons:
    """Read, classify and polygonise rows ``row_start`` to ``row_end`` of a raster.

    Args:
        src: the open raster.
        band: 1-based band.
        threshold: glacier from this value up.
        mode: from :func:`nodata_mode`.
        row_start: first row.
        row_end: one past the last row.

    Returns:
        The strip's glacier polygons (pixel coordinates) and pixel counts.
    """
    window = Window(0, row_start, src.width, row_end - row_start)
    data = src.read(band, window=window)
    valid = _valid_pixels(src, band, window, data, mode)
    glacier = classify_glacier(data, valid, threshold)
    valid_pixels = glacier.size if valid is None else int(np.count_nonzero(valid))
    value_min, value_max = _value_range(data, valid)
    del data, valid  # free the input before GDAL makes its own copies of the mask
    strip = mask_to_arrays(glacier, row_start)
    strip.valid_pixels = valid_pixels
    strip.glacier_pixels = int(np.count_nonzero(glacier))
    strip.value_min, strip.value_max = value_min, value_max
    return strip


def _value_range(data: np.ndarray, valid: np.ndarray | None) -> tuple[float, float]:
    """(min, max) of the valid values of a strip; (inf, -inf) when none is valid."""
    if valid is not None and not valid.any():
        return math.inf, -math.inf
    if data.dtype.kind == "f":
        where = ~np.isnan(data) if valid is None else valid
        return (
            float(np.min(data, where=where, initial=np.inf)),
            float(np.max(data, where=where, initial=-np.inf)),
        )
    if valid is None:
        return float(data.min()), float(data.max())
    return (
        float(np.min(data, where=valid, initial=np.iinfo(data.dtype).max)),
        float(np.max(data, where=valid, initial=np.iinfo(data.dtype).min)),
    )


@dataclass
class StripReader:
    """What polygonising a strip needs: the open raster and how to classify it (a worker's state).

    Attributes:
        src: the open raster.
        band: 1-based band.
        threshold: glacier from this value up.
        mode: from :func:`nodata_mode`.
    """

    src: DatasetReader
    band: int
    threshold: float
    mode: str

    def polygonize(self, rows: tuple[int, int]) -> StripPolygons:
        """Polygonise rows ``rows[0]`` to ``rows[1]`` (one past the last) with :func:`polygonize_strip`."""
        return polygonize_strip(self.src, self.band, self.threshold, self.mode, *rows)


def open_strip_reader(path: str, band: int, threshold: float, mode: str) -> StripReader:
    """Worker setup: open the raster once for this worker process, with a bounded GDAL cache."""
    src = open_raster_for_worker(path, gdal_cache_bytes=GDAL_CACHE_BYTES)
    return StripReader(src, band, threshold, mode)


def polygonize_in_worker(reader: StripReader, rows: tuple[int, int]) -> StripPolygons:
    """Worker task: polygonise one strip, keeping GDAL's message of a failed read."""
    from rasterio.errors import RasterioIOError

    try:
        return reader.polygonize(rows)
    except RasterioIOError as exc:
        # The chain of causes does not survive the trip back to the parent: carry GDAL's message.
        raise RasterioIOError(gdal_error_message(exc)) from None


def iter_strips(
    src: DatasetReader, band: int, threshold: float, strip_rows: int, workers: Workers
) -> Iterator[StripPolygons]:
    """Polygonised strips in raster order, computed in this process or by ``workers``.

    Args:
        src: the open raster.
        band: 1-based band.
        threshold: glacier from this value up.
        strip_rows: rows per strip (the last strip may be shorter).
        workers: processes polygonising strips (1 does everything in this process), or an
            :class:`~glaciermap.workers.Executor`.

    Yields:
        One :class:`StripPolygons` per strip, top to bottom.
    """
    from pathlib import Path

    from glaciermap.workers import SharedPaths, as_executor, map_tasks

    executor = as_executor(workers)
    mode = nodata_mode(src, band)
    windows = [(r, min(src.height, r + strip_rows)) for r in range(0, src.height, strip_rows)]
    log.debug(
        "vectorising %s: %d strips of %d rows, %d worker(s), nodata from %s",
        src.name,
        len(windows),
        strip_rows,
        executor.slots,
        mode,
    )
    # A pool pays off only with several strips, and workers must be able to open the raster by name.
    local = not executor.distributed and executor.slots <= 1
    if local or len(windows) < 2 or src.name.startswith("/vsimem/"):
        reader = StripReader(src, band, threshold, mode)
        for rows in windows:
            yield reader.polygonize(rows)
        return
    # Absolute: the workers may run in other folders, on other machines.
    path = Path(src.name).absolute()
    # Spawned workers (map_tasks' default): a forked child would inherit GDAL's handles and locks.
    # A bounded number of strips in flight keeps the results waiting for the sequential merge few.
    yield from map_tasks(
        polygonize_in_worker,
        windows,
        workers=executor,
        setup=open_strip_reader,
        setup_args=(str(path), band, threshold, mode),
        ordered=True,
        in_flight=2 * executor.slots,
        shared=SharedPaths(None, (path,)),
    )
