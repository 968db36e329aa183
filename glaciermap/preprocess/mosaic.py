"""Mosaicking one slot's HyP3 products onto a north-up window of the region's grid.

Both functions take the products of one 24-day slot (:class:`~glaciermap.preprocess.products.Slot`) and a
target window (a tile's bounds, in the region's CRS) and return one float32 ``(H, W)`` band with NaN as
no-data: :func:`mosaic_backscatter` the co-polarised gamma0 in dB, :func:`mosaic_coherence` the 12-day
coherence in [0, 1]. Each product may be in another UTM zone than the region; it is warped on the fly.

How a product is read:

* only the part of the product under the target window (plus a margin of a few pixels for the resampling
  kernel) is read, through GDAL's windowed reads (``/vsizip/`` seeks straight to the COG tiles);
* backscatter is converted to linear **power** before resampling (a dB or amplitude product is converted
  first), since averaging dB values is not averaging backscatter;
* no-data never leaks into values: the warp ignores no-data sources, and a target pixel whose resampling
  kernel touches a no-data source pixel (swath edge, layover/shadow, the product's edge) becomes no-data
  itself — the validity of the source (1 valid, 0 not) is warped with the same kernel and a pixel is kept
  only where it comes out as exactly 1. (GDAL's own bilinear warp renormalises the weights over the valid
  neighbours instead, which silently extrapolates the edge pixels.) This is why the warp is done with
  :func:`rasterio.warp.reproject` on the window read rather than a plain ``WarpedVRT`` of the file: a VRT
  cannot convert the scale before resampling nor report that a kernel was incomplete;
* for RTC products, pixels the (nearest-neighbour resampled) ls_map marks as layover or shadow are no-data
  too (they already are in the backscatter file; this guards against products that do not mask them).

How overlapping products combine: the **mean of the valid values** (linear power for backscatter). The
products of a slot are the stripes (relative orbits) seen within the same 24 days, so the same season
and, for a stable surface, the same backscatter; where two stripes overlap, averaging two independent
looks reduces speckle (by about 1.5 dB of standard deviation for two looks) and no stripe's edge shows as
a seam. The alternatives — the product nearest the slot date, or the one with the most valid pixels —
keep a single look and make a visible seam where the choice changes; they would matter only if the
stripes were weeks apart, which the 24-day slots rule out. Incidence angles differ between stripes, but
RTC gamma0 is terrain-flattened, which removes most of that difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from glaciermap.errors import InputError

if TYPE_CHECKING:
    from affine import Affine

    from glaciermap.io.hyp3 import Hyp3Product
    from glaciermap.preprocess.products import ProductRecord

Bounds = tuple[float, float, float, float]

RESAMPLING_METHODS = ("nearest", "bilinear", "cubic")
"""Resampling choices for coherence (rasterio's Resampling names)."""

# A target pixel is valid only where the warped validity is 1 to within this tolerance.
_VALID_TOLERANCE = 1e-3
# No-data marker for the bilinear warp: far below any power, dB or coherence value, yet finite in float32
# even multiplied by the kernel's weights; a warped value below the cut touched no-data.
_SENTINEL = -1e30
_SENTINEL_CUT = -1e20
# Extra source pixels read around the window: enough for the widest kernel (cubic: 2 on each side).
_MARGIN_PIXELS = 3


def target_grid(bounds: Bounds, pixel_size: float) -> tuple[Affine, int, int]:
    """The north-up transform, width and height of ``bounds`` cut into ``pixel_size`` pixels.

    Raises:
        ValueError: the bounds are empty or not a whole number of pixels.
    """
    from affine import Affine

    minx, miny, maxx, maxy = bounds
    if pixel_size <= 0 or not (minx < maxx and miny < maxy):
        raise ValueError(f"empty target grid: bounds {bounds}, pixel size {pixel_size}")
    width_f, height_f = (maxx - minx) / pixel_size, (maxy - miny) / pixel_size
    width, height = round(width_f), round(height_f)
    if abs(width_f - width) > 1e-6 or abs(height_f - height) > 1e-6:
        raise ValueError(f"bounds {bounds} are not a whole number of {pixel_size} m pixels")
    return Affine(pixel_size, 0.0, minx, 0.0, -pixel_size, maxy), width, height


def mosaic_backscatter(
    products: Sequence[ProductRecord],
    bounds: Bounds,
    pixel_size: float,
    crs: str,
) -> np.ndarray:
    """Co-polarised gamma0 (or sigma0) of a slot's RTC products, in dB, on the grid of ``bounds``.

    Args:
        products: the slot's RTC products (``Slot.rtc``); each is warped to the target grid bilinearly
            in linear power, layover/shadow and no-data masked, and overlapping products are averaged in
            linear power (see the module docstring for why).
        bounds: (minx, miny, maxx, maxy) of the target window in ``crs`` (the region's CRS), metres.
        pixel_size: target pixel size, metres (10).
        crs: the region's CRS, e.g. ``"EPSG:32633"``; ``bounds_region`` of the records must be in it.

    Returns:
        (H, W) float32 backscatter in dB, ``H = (maxy - miny) / pixel_size``; NaN where no product has
        valid data (an empty ``products`` gives an all-NaN band).

    Raises:
        ValueError: a product is not RTC, or the bounds are not a whole number of pixels.
        InputError: a product cannot be read (truncated, corrupt, removed since the scan).
    """
    transform, width, height = target_grid(bounds, pixel_size)
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.uint16)
    for record in products:
        if record.kind != "RTC":
            raise ValueError(f"mosaic_backscatter takes RTC products, not {record.path.name}")
        if not _may_overlap(record, bounds, pixel_size):
            continue
        product = _open(record)
        key = product.co_pol or record.co_pol
        # Layover/shadow is masked in the product's own grid, before the one warp of the values.
        power = _warp_product(
            product,
            key,
            crs,
            transform,
            width,
            height,
            "bilinear",
            _to_power(record.scale),
            mask_key=product.ls_map_key,
        )
        if power is None:
            continue
        valid = np.isfinite(power) & (power > 0)
        total[valid] += power[valid]
        count[valid] += 1
    out = np.full((height, width), np.nan, dtype=np.float32)
    has = count > 0
    out[has] = (10.0 * np.log10(total[has] / count[has])).astype(np.float32)
    return out


def mosaic_coherence(
    products: Sequence[ProductRecord],
    bounds: Bounds,
    pixel_size: float,
    crs: str,
    resampling: str = "bilinear",
) -> np.ndarray:
    """Coherence of a slot's INSAR products resampled onto the grid of ``bounds``.

    The 40 m (or 80 m) ``corr`` rasters are resampled to ``pixel_size`` pixels aligned pixel for pixel with
    :func:`mosaic_backscatter`'s grid for the same bounds; overlapping products are averaged.

    Args:
        products: the slot's INSAR products (``Slot.insar``).
        bounds: (minx, miny, maxx, maxy) of the target window in ``crs``, metres.
        pixel_size: target pixel size, metres (10).
        crs: the region's CRS.
        resampling: ``"nearest"``, ``"bilinear"`` (default) or ``"cubic"``. A target pixel whose kernel
            touches a no-data coherence pixel is no-data; cubic overshoot is clipped to [0, 1].

    Returns:
        (H, W) float32 coherence in [0, 1], NaN where no product has valid data.

    Raises:
        ValueError: a product is not INSAR, an unknown ``resampling``, or the bounds are not a whole
            number of pixels.
        InputError: a product cannot be read.
    """
    if resampling not in RESAMPLING_METHODS:
        raise ValueError(
            f"unknown coherence resampling {resampling!r}: choose one of {', '.join(RESAMPLING_METHODS)}"
        )
    transform, width, height = target_grid(bounds, pixel_size)
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.uint16)
    for record in products:
        if record.kind != "INSAR":
            raise ValueError(f"mosaic_coherence takes INSAR products, not {record.path.name}")
        if not _may_overlap(record, bounds, pixel_size * _MARGIN_PIXELS):
            continue
        product = _open(record)
        corr = _warp_product(
            product, product.main_key, crs, transform, width, height, resampling, None
        )
        if corr is None:
            continue
        valid = np.isfinite(corr)
        total[valid] += np.clip(corr[valid], 0.0, 1.0)
        count[valid] += 1
    out = np.full((height, width), np.nan, dtype=np.float32)
    has = count > 0
    out[has] = (total[has] / count[has]).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------------------
# Reading one product
# ---------------------------------------------------------------------------------------------------------


def _may_overlap(record: ProductRecord, bounds: Bounds, margin: float) -> bool:
    """Whether the product's footprint (in the region's CRS) can touch ``bounds``."""
    minx, miny, maxx, maxy = record.bounds_region
    return not (
        minx > bounds[2] + margin
        or maxx < bounds[0] - margin
        or miny > bounds[3] + margin
        or maxy < bounds[1] - margin
    )


def _open(record: ProductRecord) -> Hyp3Product:
    from glaciermap.io.hyp3 import open_product

    return open_product(record.path)


def _to_power(scale: str | None):  # type: ignore[no-untyped-def]
    """A function converting backscatter in ``scale`` to linear power (NaN stays NaN)."""
    if scale in (None, "power"):
        return None
    if scale == "amplitude":
        return np.square
    if scale == "decibel":
        return lambda db: np.power(np.float32(10.0), db / np.float32(10.0))
    raise ValueError(f"unknown backscatter scale {scale!r}")


def _warp_product(
    product: Hyp3Product,
    key: str,
    dst_crs: str,
    dst_transform: Affine,
    width: int,
    height: int,
    resampling: str,
    convert,  # type: ignore[no-untyped-def]
    *,
    integer: bool = False,
    mask_key: str | None = None,
) -> np.ndarray | None:
    """Raster ``key`` of ``product`` warped onto the target grid, or None if it does not reach it.

    Float rasters come back float32 with NaN where no value is valid (including pixels whose kernel
    touches no-data); integer rasters (``integer=True``, nearest resampling) come back uint8 with 0
    outside the product. With ``mask_key`` (the RTC ``ls_map``), pixels flagged as layover or shadow
    are made no-data in the source window before warping. When the product's grid is the target grid
    shifted by whole pixels (same CRS and pixel size), the window is copied without resampling.
    """
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError, WindowError
    from rasterio.warp import reproject, transform_bounds
    from rasterio.windows import Window, from_bounds

    from glaciermap.io.raster import gdal_error_message

    left = dst_transform.c
    top = dst_transform.f
    right = left + width * dst_transform.a
    bottom = top + height * dst_transform.e
    try:
        grid = product.grid(key)
        src_crs = grid.crs
        src_transform = grid.transform
        full = Window(0, 0, grid.width, grid.height)
        sb = transform_bounds(dst_crs, src_crs, left, bottom, right, top, densify_pts=21)
        window = from_bounds(*sb, transform=src_transform)
        col0 = math.floor(window.col_off) - _MARGIN_PIXELS
        row0 = math.floor(window.row_off) - _MARGIN_PIXELS
        col1 = math.ceil(window.col_off + window.width) + _MARGIN_PIXELS
        row1 = math.ceil(window.row_off + window.height) + _MARGIN_PIXELS
        window = Window(col0, row0, col1 - col0, row1 - row0)
        try:
            window = window.intersection(full)
        except WindowError:  # disjoint windows
            return None
        if window.width <= 0 or window.height <= 0:
            return None
        # Hyp3Product.read turns the file's no-data (0 in RTC backscatter) into NaN.
        data = product.read(key, window=window)
        if mask_key is not None:
            from glaciermap.io.hyp3 import layover_shadow_mask

            blocked = layover_shadow_mask(product.read(mask_key, window=window))
            data = np.where(blocked, np.nan, data)
    except RasterioError as exc:
        raise InputError(
            f"{product.path}: cannot read {key} ({gdal_error_message(exc)})",
            "the file is truncated or corrupt; delete it and download it again",
        ) from exc
    src_win_transform = src_transform @ Affine.translation(window.col_off, window.row_off)
    method = getattr(Resampling, resampling)
    common = {
        "src_transform": src_win_transform,
        "src_crs": src_crs,
        "dst_transform": dst_transform,
        "dst_crs": dst_crs,
        "resampling": method,
    }
    if integer:
        out = np.zeros((height, width), dtype=np.uint8)
        reproject(data.astype(np.uint8), out, src_nodata=0, dst_nodata=0, **common)
        return out

    values = data.astype(np.float32, copy=False)
    if convert is not None:
        values = convert(values).astype(np.float32, copy=False)
    valid_src = np.isfinite(values)
    if not valid_src.any():
        return None
    aligned = _aligned_offset(src_crs, src_win_transform, dst_crs, dst_transform)
    if aligned is not None:
        return _copy_aligned(values, aligned, width, height)
    if resampling == "bilinear":
        # One warp with no-data as a huge negative sentinel: bilinear weights are non-negative, so any
        # kernel that gives no-data a non-zero weight lands far below every real value and is dropped.
        # Same result as warping a validity band, at the cost of a single-band warp.
        marked = np.where(valid_src, values, _SENTINEL).astype(np.float32)
        out = np.full((height, width), np.nan, dtype=np.float32)
        reproject(marked, out, src_nodata=None, dst_nodata=np.nan, **common)
        out[out < _SENTINEL_CUT] = np.nan
        return out
    out = np.full((height, width), np.nan, dtype=np.float32)
    reproject(values, out, src_nodata=np.nan, dst_nodata=np.nan, **common)
    if resampling != "nearest":
        # Cubic has negative lobes: validity can sum to 1 over a kernel that touches no-data, so the
        # values are warped with no-data excluded and the validity band only trims the edges.
        validity = np.full((height, width), np.nan, dtype=np.float32)
        reproject(
            valid_src.astype(np.float32), validity, src_nodata=None, dst_nodata=np.nan, **common
        )
        out[~(np.abs(validity - 1.0) <= _VALID_TOLERANCE)] = np.nan
    return out


def _aligned_offset(src_crs, src_transform: Affine, dst_crs: str, dst_transform: Affine):  # type: ignore[no-untyped-def]
    """(col, row) offset of the target grid in the source window when both are the same grid up to a
    whole-pixel shift (same CRS, pixel size, no rotation); else None."""
    from rasterio.crs import CRS

    if CRS.from_user_input(dst_crs) != src_crs:
        return None
    if (src_transform.a, src_transform.b, src_transform.d, src_transform.e) != (
        dst_transform.a,
        dst_transform.b,
        dst_transform.d,
        dst_transform.e,
    ):
        return None
    col = (dst_transform.c - src_transform.c) / src_transform.a
    row = (dst_transform.f - src_transform.f) / src_transform.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return round(col), round(row)


def _copy_aligned(
    values: np.ndarray, offset: tuple[int, int], width: int, height: int
) -> np.ndarray:
    """The target-grid part of an aligned source window; NaN where the window does not reach."""
    col, row = offset
    out = np.full((height, width), np.nan, dtype=np.float32)
    src_r0, src_c0 = max(row, 0), max(col, 0)
    src_r1 = min(row + height, values.shape[0])
    src_c1 = min(col + width, values.shape[1])
    if src_r1 > src_r0 and src_c1 > src_c0:
        out[src_r0 - row : src_r1 - row, src_c0 - col : src_c1 - col] = values[
            src_r0:src_r1, src_c0:src_c1
        ]
    return out
