"""Side-looking radar geometry over a DEM: layover, shadow and local incidence, as HyP3's maps encode them.

Along each range line (the ground line in the look direction), with ground coordinate ``u`` increasing away
from the sensor, elevation ``z(u)`` and incidence ``θ(u)`` from the vertical:

* slant range is ``s(u) = u·sinθ − z·cosθ`` (flat-earth, far-field). Where ``s`` stops increasing, several
  ground points map to one slant range: every pixel whose ``s`` is not strictly between the largest ``s``
  nearer to the sensor and the smallest ``s`` farther away is **affected by layover**; a slope rising away
  from the sensor more steeply than ``θ`` (``dz/du > tanθ``) is the "look angle < slope angle" condition.
* a ray grazing the terrain drops ``cotθ`` metres per metre of ground, so with ``g(u) = z + ∫cotθ du`` a
  pixel is **in shadow** when some nearer pixel has a larger ``g``; a slope falling away more steeply than
  ``90° − θ`` (``dg/du < 0``) is the "look angle < opposite slope angle" condition.

The layover-shadow map uses HyP3's bit values: 1 tested, 2 look angle < slope angle, 4 layover,
8 look angle < opposite slope angle, 16 shadow (0 = not tested, outside the swath). The computation runs on a
grid rotated so that its rows are range lines (GDAL warps the DEM into it and the flags back), which keeps
it vectorised.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

LS_TESTED = 1
LS_STEEP_FACING = 2
LS_LAYOVER = 4
LS_STEEP_AWAY = 8
LS_SHADOW = 16
LS_NODATA_BITS = LS_LAYOVER | LS_SHADOW
"""Pixels with any of these bits carry no backscatter (HyP3 masks them)."""


def _range_grid(
    transform: Affine, shape: tuple[int, int], look_azimuth_deg: float
) -> tuple[Affine, tuple[int, int], tuple[float, float], float]:
    """A grid covering the raster whose columns run along the look direction.

    Returns:
        ``(affine, (rows, cols), centre, u_min)``: the rotated grid, its shape, the raster centre it is
        referenced to and the across-track coordinate of its first column's left edge.
    """
    h, w = shape
    p = transform.a
    az = math.radians(look_azimuth_deg)
    d = np.array([math.sin(az), math.cos(az)])  # along range (away from the sensor)
    perp = np.array([math.cos(az), -math.sin(az)])  # 90° clockwise from d
    corners = np.array([transform @ (c, r) for c, r in ((0, 0), (w, 0), (0, h), (w, h))])
    centre = corners.mean(axis=0)
    u = (corners - centre) @ d
    v = (corners - centre) @ perp
    u_min, v_min = u.min() - p, v.min() - p
    cols = math.ceil((u.max() + p - u_min) / p)
    rows = math.ceil((v.max() + p - v_min) / p)
    origin = centre + u_min * d + v_min * perp
    affine = Affine(p * d[0], p * perp[0], origin[0], p * d[1], p * perp[1], origin[1])
    return affine, (rows, cols), (float(centre[0]), float(centre[1])), float(u_min)


def layover_shadow(
    dem: np.ndarray,
    transform: Affine,
    crs: str,
    look_azimuth_deg: float,
    incidence_deg: Callable[[np.ndarray], np.ndarray],
    covered: np.ndarray | None = None,
) -> np.ndarray:
    """HyP3-style layover-shadow map of a DEM seen from one look direction.

    Args:
        dem: (H, W) float32 elevation, metres, on a north-up grid.
        transform: the DEM's affine transform (square pixels, metres).
        crs: the DEM's CRS (needed by GDAL for the warp; any metric CRS).
        look_azimuth_deg: look direction, degrees clockwise from grid north.
        incidence_deg: function mapping across-track coordinates (metres along the look direction from
            the raster's centre) to ellipsoid incidence angles, degrees.
        covered: (H, W) bool, pixels inside the swath; others get 0 (not tested). None: all covered.

    Returns:
        (H, W) uint8 sum of the bit values listed in the module docstring.
    """
    h, w = dem.shape
    rot, (rows, cols), _, u_min = _range_grid(transform, (h, w), look_azimuth_deg)
    z = np.full((rows, cols), np.nan, dtype=np.float32)
    reproject(
        dem.astype(np.float32),
        z,
        src_transform=transform,
        src_crs=crs,
        dst_transform=rot,
        dst_crs=crs,
        resampling=Resampling.bilinear,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    # The rotated grid's corners lie outside the DEM: extend each range line's end values, so that the
    # DEM's edges do not become cliffs that cast shadow or lay over.
    z = _fill_along_rows(z)
    p = transform.a
    u = u_min + (np.arange(cols) + 0.5) * p
    theta = np.radians(incidence_deg(u))[None, :]
    s = u[None, :] * np.sin(theta) - z * np.cos(theta)
    nearer_max = np.maximum.accumulate(s, axis=1)
    nearer_max = np.concatenate([np.full((rows, 1), -np.inf), nearer_max[:, :-1]], axis=1)
    farther_min = np.minimum.accumulate(s[:, ::-1], axis=1)[:, ::-1]
    farther_min = np.concatenate([farther_min[:, 1:], np.full((rows, 1), np.inf)], axis=1)
    layover = (s <= nearer_max) | (s >= farther_min)

    g = z + np.cumsum(np.broadcast_to(p / np.tan(theta), z.shape), axis=1)
    before = np.concatenate(
        [np.full((rows, 1), -np.inf), np.maximum.accumulate(g, axis=1)[:, :-1]], axis=1
    )
    shadow = g < before

    dz = np.asarray(np.gradient(z, p, axis=1))
    steep_facing = dz > np.tan(theta)
    steep_away = -dz > 1.0 / np.tan(theta)
    codes = (
        LS_TESTED
        + LS_STEEP_FACING * steep_facing
        + LS_LAYOVER * layover
        + LS_STEEP_AWAY * steep_away
        + LS_SHADOW * shadow
    ).astype(np.uint8)

    out = np.zeros((h, w), dtype=np.uint8)
    reproject(
        codes,
        out,
        src_transform=rot,
        src_crs=crs,
        dst_transform=transform,
        dst_crs=crs,
        resampling=Resampling.nearest,
        src_nodata=None,
    )
    if covered is not None:
        out[~covered] = 0
    return out


def _fill_along_rows(z: np.ndarray) -> np.ndarray:
    """Replace NaN by the nearest valid value along each row (rows without any become 0)."""
    valid = ~np.isnan(z)
    cols = np.arange(z.shape[1])
    last = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(valid, cols, z.shape[1])[:, ::-1], axis=1)[:, ::-1]
    source = np.where(last >= 0, last, nxt)
    filled = np.take_along_axis(z, np.clip(source, 0, z.shape[1] - 1), axis=1)
    return np.nan_to_num(filled, nan=0.0)


def local_incidence(
    dem: np.ndarray, pixel_size: float, look_azimuth_deg: float, incidence_deg: np.ndarray
) -> np.ndarray:
    """Local incidence angle: between the radar beam and the terrain normal, radians.

    Args:
        dem: (H, W) elevation, metres, north-up grid.
        pixel_size: metres.
        look_azimuth_deg: look direction, degrees clockwise from grid north.
        incidence_deg: (H, W) ellipsoid incidence angle, degrees.

    Returns:
        (H, W) float32, radians (> π/2 where the slope faces away beyond grazing: shadow).
    """
    dz_dy_rows, dz_dx = np.gradient(dem.astype(np.float64), pixel_size)
    dz_dy = -dz_dy_rows  # rows grow southwards
    norm = np.sqrt(dz_dx**2 + dz_dy**2 + 1.0)
    az = math.radians(look_azimuth_deg)
    theta = np.radians(incidence_deg)
    # Unit vector from the ground towards the sensor.
    to_sensor = (-np.sin(theta) * math.sin(az), -np.sin(theta) * math.cos(az), np.cos(theta))
    cos_local = (-dz_dx * to_sensor[0] - dz_dy * to_sensor[1] + to_sensor[2]) / norm
    return np.arccos(np.clip(cos_local, -1.0, 1.0)).astype(np.float32)
