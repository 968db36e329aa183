"""Turn a glacier mask or probability raster into cleaned glacier outline polygons in a GeoPackage.

The raster is read in horizontal strips whose height follows a memory budget, so rasters far larger than
memory vectorise in flat memory:

1. Each strip is classified (glacier where value >= threshold, never where the pixel is nodata) and
   polygonised by GDAL with 4-connectivity (:func:`polygonize_strip`, optionally in a pool of worker
   processes). Coordinates are integer *pixel* units (column, row) of the whole raster, so polygons from
   neighbouring strips share their seam edges exactly and their union is clean.
2. :class:`SeamMerger` keeps the polygons that touch the strip's bottom seam "open". When the next strip
   arrives, open polygons and the new polygons touching its top seam are grouped (pairs that intersect,
   found with an STRtree), each group is unioned and split into its parts again — parts that touch only at
   a corner fall apart, as 4-connectivity demands.
3. Polygons that no longer touch the open seam are finished: :func:`clean_outlines` fills holes smaller
   than the minimum area, drops specks, moves them to map coordinates and optionally simplifies them.
   They are streamed into the GeoPackage batch by batch as they finish and then freed.

Areas are exact: with no simplification the total outline area equals the glacier pixel count times the
pixel area.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.features import shapes
from rasterio.windows import Window

from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.io.raster import (
    check_band,
    gdal_error_message,
    metres_per_unit,
    open_raster,
    read_errors_as_input,
)

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

log = logging.getLogger(__name__)

OUTLINES_LAYER = "outlines"
"""Name of the GeoPackage layer holding the outlines."""
DEFAULT_THRESHOLD = 0.5
"""Probability (or mask value) from which a pixel is glacier."""
DEFAULT_MIN_AREA_KM2 = 0.01
"""Smallest glacier kept, km²: the Randolph Glacier Inventory minimum."""
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

_POLYGON_TYPE_ID = 3  # shapely.GeometryType.POLYGON
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


def _connected_groups(n_nodes: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label the connected components of a graph given as edge lists (union-find).

    Args:
        n_nodes: number of nodes.
        a, b: (E,) node indices of the edges.

    Returns:
        (n_nodes,) component label of each node (the index of its root).
    """
    parent = list(range(n_nodes))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.fromiter((find(i) for i in range(n_nodes)), dtype=np.intp, count=n_nodes)


class SeamMerger:
    """Join polygons of consecutive strips into whole glaciers.

    Feed it the polygons of each strip, top to bottom, with :meth:`add_strip`; it returns the polygons that
    are complete. Call :meth:`finish` after the last strip. Only polygons touching the current seam are
    held, so memory follows the seam, not the raster.
    """

    def __init__(self) -> None:
        self._open = np.empty(0, dtype=object)
        self._seam_row: int | None = None

    @property
    def open_count(self) -> int:
        """Polygons waiting at the seam."""
        return int(self._open.size)

    def add_strip(self, polygons: np.ndarray, row_start: int, row_end: int) -> np.ndarray:
        """Merge one strip's polygons with those waiting at its top seam.

        Args:
            polygons: (N,) polygons of rows ``row_start`` to ``row_end`` in whole-raster pixel coordinates.
            row_start: the strip's first row (its top seam).
            row_end: one past its last row (its bottom seam).

        Returns:
            (M,) polygons that no longer touch the bottom seam and so are complete.
        """
        if self._seam_row is not None and row_start != self._seam_row:
            raise ValueError(
                f"strips must be consecutive: expected row {self._seam_row}, got {row_start}"
            )
        self._seam_row = row_end
        current = self._merge_across_seam(polygons, row_start)
        if current.size == 0:
            return current
        still_open = shapely.bounds(current)[:, 3] == row_end
        self._open = current[still_open]
        return current[~still_open]

    def finish(self) -> np.ndarray:
        """Return the polygons still open after the last strip (they touch the raster's bottom edge)."""
        done, self._open = self._open, np.empty(0, dtype=object)
        return done

    def _merge_across_seam(self, polygons: np.ndarray, row_start: int) -> np.ndarray:
        """Union open polygons with the new polygons they touch across the seam at ``row_start``."""
        opened = self._open
        if opened.size == 0 or polygons.size == 0:
            return np.concatenate([opened, polygons])
        top = np.flatnonzero(shapely.bounds(polygons)[:, 1] == row_start)
        if top.size == 0:
            return np.concatenate([opened, polygons])
        # Candidate pairs: an open polygon and a new top-seam polygon that share a point. Sharing only a
        # corner also counts here; the union below splits those again.
        open_idx, top_pos = shapely.STRtree(polygons[top]).query(opened, predicate="intersects")
        if open_idx.size == 0:
            return np.concatenate([opened, polygons])
        # Nodes: open polygons first, then the new ones (all of them, so indices stay simple).
        n_open = opened.size
        new_idx = n_open + top[top_pos]
        labels = _connected_groups(n_open + polygons.size, open_idx, new_idx)
        nodes = np.concatenate([opened, polygons])
        in_pair = np.zeros(nodes.size, dtype=bool)
        in_pair[open_idx] = True
        in_pair[new_idx] = True
        pair_labels = labels[in_pair]
        order = np.argsort(pair_labels, kind="stable")
        _, starts = np.unique(pair_labels[order], return_index=True)
        merged: list[np.ndarray] = []
        for group in np.split(nodes[in_pair][order], starts[1:]):
            union = shapely.union_all(group)
            # Drop the collinear vertices the union leaves where the seam crossed a straight edge.
            merged.append(shapely.get_parts(shapely.simplify(union, 0.0)))
        return np.concatenate([nodes[~in_pair], *merged])


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
_worker_raster: dict[str, Any] = {}


def _init_worker(path: str, band: int, threshold: float, mode: str) -> None:
    """Pool initializer: open the raster for this worker process."""
    import signal

    import rasterio

    # Ctrl-C goes to the whole process group; only the parent reacts, and it shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rasterio.env.set_gdal_config("GDAL_CACHEMAX", GDAL_CACHE_BYTES)
    _worker_raster.update(src=rasterio.open(path), band=band, threshold=threshold, mode=mode)


def _worker_polygonize(row_start: int, row_end: int) -> StripPolygons:
    """Pool task: polygonise one strip of the worker's raster."""
    from rasterio.errors import RasterioIOError

    r = _worker_raster
    try:
        return polygonize_strip(r["src"], r["band"], r["threshold"], r["mode"], row_start, row_end)
    except RasterioIOError as exc:
        # The chain of causes does not survive the trip back to the parent: carry GDAL's message.
        raise RasterioIOError(gdal_error_message(exc)) from None


def _iter_strips(
    src: DatasetReader, band: int, threshold: float, strip_rows: int, workers: int
) -> Iterator[StripPolygons]:
    """Polygonised strips in raster order, computed in this process or a pool of ``workers``."""
    mode = nodata_mode(src, band)
    windows = [(r, min(src.height, r + strip_rows)) for r in range(0, src.height, strip_rows)]
    log.debug(
        "vectorising %s: %d strips of %d rows, %d worker(s), nodata from %s",
        src.name,
        len(windows),
        strip_rows,
        workers,
        mode,
    )
    # A pool pays off only with several strips, and workers must be able to open the raster by name.
    if workers <= 1 or len(windows) < 2 or src.name.startswith("/vsimem/"):
        for row_start, row_end in windows:
            yield polygonize_strip(src, band, threshold, mode, row_start, row_end)
        return

    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    # "spawn": a forked child would inherit GDAL's open handles and locks from this process.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(src.name, band, threshold, mode),
    )
    try:
        waiting = deque(windows)
        in_flight: deque[Future[StripPolygons]] = deque()
        while True:
            # Keep a bounded number of strips in flight, so that results waiting for the (sequential)
            # merge stay few.
            while waiting and len(in_flight) < 2 * workers:
                in_flight.append(pool.submit(_worker_polygonize, *waiting.popleft()))
            if not in_flight:
                break
            yield in_flight.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def iter_pixel_polygons(
    src: DatasetReader,
    *,
    band: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    strip_rows: int | None = None,
    workers: int = 1,
    stats: ScanStats | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[np.ndarray]:
    """Yield complete glacier polygons of a raster, strip by strip, in pixel coordinates.

    Args:
        src: an open raster.
        band: 1-based band to read.
        threshold: glacier from this value up.
        strip_rows: rows per strip; by default :data:`DEFAULT_STRIP_BUDGET_BYTES` of input shared by the
            workers. Small values force many seams (tests use this).
        workers: processes polygonising strips in parallel; 1 does everything in this process.
        stats: filled with pixel counts as the raster is read.
        progress: called after each strip with (rows done, total rows).

    Yields:
        (N,) arrays of Polygons in (column, row) pixel-corner coordinates; each glacier appears once, in
        the batch of the strip where it ends. Batches may be empty.
    """
    stats = stats if stats is not None else ScanStats()
    if strip_rows is None:
        itemsize = np.dtype(src.dtypes[band - 1]).itemsize
        budget = DEFAULT_STRIP_BUDGET_BYTES // max(1, workers)
        strip_rows = strip_height(src.width, itemsize, src.block_shapes[band - 1][0], budget)
    if strip_rows < 1:
        raise ValueError(f"strip_rows must be at least 1, got {strip_rows}")
    merger = SeamMerger()
    for strip in _iter_strips(src, band, threshold, strip_rows, workers):
        stats.valid_pixels += strip.valid_pixels
        stats.glacier_pixels += strip.glacier_pixels
        stats.value_min = min(stats.value_min, strip.value_min)
        stats.value_max = max(stats.value_max, strip.value_max)
        stats.strips += 1
        yield merger.add_strip(strip.polygons(), strip.row_start, strip.row_end)
        if progress is not None:
            progress(strip.row_end, src.height)
    yield merger.finish()


def fill_small_holes(polygons: np.ndarray, max_hole_area: float) -> np.ndarray:
    """Remove interior rings whose area is below ``max_hole_area``.

    Args:
        polygons: (N,) Polygons.
        max_hole_area: holes strictly smaller than this are filled (same units as the coordinates²).

    Returns:
        (N,) Polygons, in the same order.
    """
    if max_hole_area <= 0 or polygons.size == 0:
        return polygons
    with_holes = np.flatnonzero(shapely.get_num_interior_rings(polygons) > 0)
    if with_holes.size == 0:
        return polygons
    rings, owner = shapely.get_rings(polygons[with_holes], return_index=True)
    is_exterior = np.r_[True, owner[1:] != owner[:-1]]
    keep = is_exterior | (shapely.area(shapely.polygons(rings)) >= max_hole_area)
    if keep.all():
        return polygons
    filled = polygons.copy()
    filled[with_holes] = shapely.polygons(rings[keep], indices=owner[keep])
    return filled


def _only_valid_polygons(geometries: np.ndarray, *, holes_only: bool = False) -> np.ndarray:
    """Repair invalid geometries and split everything into single valid Polygons.

    Args:
        geometries: (N,) Polygons, some possibly invalid (e.g. after simplification).
        holes_only: check only polygons with holes. Sound for outlines traced from 4-connected pixel
            regions: their boundary can only touch itself where the region closes around background,
            which makes a hole, so a polygon without holes has a simple ring. Checking all costs more
            than the rest of the cleaning.

    Returns:
        (M,) valid, non-empty Polygons; valid inputs keep their order and come first.
    """
    if holes_only:
        invalid = np.zeros(geometries.size, dtype=bool)
        with_holes = shapely.get_num_interior_rings(geometries) > 0
        invalid[with_holes] = ~shapely.is_valid(geometries[with_holes])
    else:
        invalid = ~shapely.is_valid(geometries)
    if not invalid.any():
        return geometries
    repaired = shapely.get_parts(
        shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
    )
    repaired = repaired[
        (shapely.get_type_id(repaired) == _POLYGON_TYPE_ID) & ~shapely.is_empty(repaired)
    ]
    log.debug("repaired %d invalid outline(s)", int(invalid.sum()))
    return np.concatenate([geometries[~invalid], repaired])


def pixel_to_map(polygons: np.ndarray, transform: Affine) -> np.ndarray:
    """Move polygons from (column, row) pixel coordinates to the raster's map coordinates.

    Args:
        polygons: (N,) geometries in pixel units.
        transform: the raster's affine transform.

    Returns:
        (N,) geometries in the raster's CRS.
    """
    a, b, c, d, e, f = transform[:6]

    def to_map(xy: np.ndarray) -> np.ndarray:
        col, row = xy[:, 0], xy[:, 1]
        return np.column_stack([a * col + b * row + c, d * col + e * row + f])

    return shapely.transform(polygons, to_map)


def clean_outlines(
    polygons_px: np.ndarray,
    transform: Affine,
    *,
    min_area_px: float,
    metres_per_unit: float = 1.0,
    simplify_m: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finish complete glacier polygons: fill small holes, drop specks, map coordinates, simplify.

    Args:
        polygons_px: (N,) complete Polygons in pixel coordinates.
        transform: the raster's affine transform (pixel -> CRS units).
        min_area_px: smallest glacier kept and smallest hole kept, in pixels (may be fractional).
        metres_per_unit: metres per CRS unit.
        simplify_m: tolerance of topology-preserving simplification, metres; None keeps every vertex, so
            areas stay exact.

    Returns:
        ``(geometries, area_km2, perimeter_km)``: (M,) valid Polygons in the CRS and two (M,) float arrays.
    """
    # A tiny relative slack so that a glacier of exactly the minimum area is not lost to rounding.
    cutoff = min_area_px * (1 - 1e-9)
    polygons = fill_small_holes(polygons_px, cutoff)
    if cutoff > 0 and polygons.size:
        polygons = polygons[shapely.area(polygons) >= cutoff]
    # GDAL's 4-connected polygons and GEOS unions are valid; the check is insurance, done here in exact
    # integer coordinates.
    polygons = _only_valid_polygons(polygons, holes_only=True)
    geometries = pixel_to_map(polygons, transform)
    if simplify_m:
        geometries = shapely.simplify(
            geometries, simplify_m / metres_per_unit, preserve_topology=True
        )
        geometries = _only_valid_polygons(geometries)
    area_km2 = shapely.area(geometries) * metres_per_unit**2 / 1e6
    perimeter_km = shapely.length(geometries) * metres_per_unit / 1e3
    return geometries, area_km2, perimeter_km


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

    ``outlines`` is consumed lazily while GDAL writes, so each batch is on disk before the next one is
    computed. One write (rather than one append per batch) lets GDAL build the spatial index once, in
    bulk, at the end: appending batches to an indexed layer costs several times more. An exception raised
    while producing ``outlines`` is re-raised as itself (GDAL would only report a failed stream).

    (Kept beside the algorithm for now; it belongs in ``glaciermap.io.vector`` once that module exists.)

    Args:
        path: the ``.gpkg`` file to create.
        outlines: ``(geometries, area_km2, perimeter_km)`` batches of equal-length arrays.
        crs_wkt: the layer's CRS.

    Returns:
        How many outlines were written and their total area.
    """
    import pyarrow as pa
    from pyogrio.raw import write_arrow

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("area_km2", pa.float64()),
            ("perimeter_km", pa.float64()),
            ("geometry", pa.binary()),
        ]
    )
    totals = _WriteTotals()
    failure: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for geometries, area_km2, perimeter_km in outlines:
                if geometries.size == 0:
                    continue
                ids = np.arange(
                    totals.count + 1, totals.count + 1 + geometries.size, dtype=np.int64
                )
                totals.count += int(geometries.size)
                totals.area_km2 += float(area_km2.sum())
                columns = [ids, area_km2, perimeter_km, shapely.to_wkb(geometries)]
                yield pa.record_batch([pa.array(c) for c in columns], schema=schema)
        except BaseException as exc:
            failure.append(exc)
            raise

    try:
        write_arrow(
            pa.RecordBatchReader.from_batches(schema, batches()),
            path,
            layer=OUTLINES_LAYER,
            driver="GPKG",
            geometry_name="geometry",
            geometry_type="Polygon",
            crs=crs_wkt,
        )
    except Exception:
        if failure:
            # Not "from None": that would cut the chain of causes that names GDAL's own error.
            raise failure[0]  # noqa: B904
        raise
    if failure:
        raise failure[0]
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
    workers: int = 1,
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
            :func:`glaciermap.workers.default_workers`); 1 keeps all the work in this process. The
            result is identical either way.
        strip_rows: rows read per strip; by default sized for about 16 MB of input in flight.
        progress: called after each strip with (rows done, total rows).

    Returns:
        What was written. An empty layer is written (count 0) when no pixel reaches the threshold.

    Raises:
        InputError: the raster is missing, unreadable, without CRS, geographic, entirely nodata or of a
            non-real data type; the band does not exist; the output is not ``.gpkg``, its folder is
            missing or it exists without ``overwrite``; or an argument is out of range.
    """
    import rasterio

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
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", "give e.g. --workers 2")

    with open_raster(raster) as src:
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
                progress=progress,
            )
            if batch.size
        )
        with (
            atomic_output(output, overwrite=overwrite) as tmp,
            rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
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
