"""Terrain elements both builders place: noise mountains, perennial snow patches and lakes.

The mountains rise from a strandflat by the coast; snow patches and lakes are stamped onto a finished DEM
and surface raster, each placement checked against what is already there (sea, glaciers, other lakes).
"""

from __future__ import annotations

import math

import numpy as np

from glaciermap.simulate.landscape.fields import distance_to, smoothstep
from glaciermap.simulate.landscape.grid import Grid
from glaciermap.simulate.landscape.model import SNOW_PATCH_MAX_KM2, Surface
from glaciermap.simulate.landscape.noise import FineNoise, fractal_noise


def mountains(
    grid: Grid,
    rng: np.random.Generator,
    dist_low_m: np.ndarray,
    peak_m: float,
) -> np.ndarray:
    """Mountain surface on the shape grid: a strandflat by the coast, then noise mountains rising inland.

    Args:
        grid: the grids.
        rng: random generator.
        dist_low_m: (ny, nx) distance from the sea (or from the lowland edge), metres.
        peak_m: typical summit height, metres.

    Returns:
        (ny, nx) float32 elevation, metres.
    """
    shape = (grid.ny, grid.nx)
    cell = grid.cell
    massif = fractal_noise(
        shape, rng, cell_m=cell, beta=3.2, min_wavelength_m=800, max_wavelength_m=20_000
    )
    ridged = fractal_noise(
        shape, rng, cell_m=cell, beta=2.8, min_wavelength_m=900, max_wavelength_m=6000
    )
    low = fractal_noise(
        shape, rng, cell_m=cell, beta=2.4, min_wavelength_m=300, max_wavelength_m=4000
    )
    strand_m = float(rng.uniform(150, 900))
    ramp_m = float(rng.uniform(1200, 2600))
    # Ridged noise (1 - |n|) draws sharp crests and cols between broad hollows: alpine, not rolling hills.
    crest = (1.0 - np.clip(np.abs(ridged), 0, 1.8) / 1.8) ** 1.3
    height = peak_m * np.clip(0.72 + 0.2 * massif, 0.3, 1.1) * (0.6 + 0.4 * crest)
    ramp = smoothstep((dist_low_m - strand_m * (1 + 0.6 * low)) / ramp_m)
    lowland = 12.0 + 10.0 * low
    return (lowland + ramp * height).astype(np.float32)


def ellipse_mask(
    xs: np.ndarray,
    ys: np.ndarray,
    centre: tuple[float, float],
    axes: tuple[float, float],
    angle: float,
    wobble: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w) bool: inside a rotated ellipse whose radius varies with ``wobble`` (relative, per pixel)."""
    dx = xs[None, :] - centre[0]
    dy = ys[:, None] - centre[1]
    ca, sa = math.cos(angle), math.sin(angle)
    u = (dx * ca + dy * sa) / axes[0]
    v = (-dx * sa + dy * ca) / axes[1]
    r = u * u + v * v
    limit = 1.0 if wobble is None else (1.0 + wobble) ** 2
    return r < limit


def place_snow_patches(
    rng: np.random.Generator,
    grid: Grid,
    dem: np.ndarray,
    surface: np.ndarray,
    noise: FineNoise,
    count: int,
    min_elevation: float,
) -> int:
    """Put up to ``count`` perennial snow patches (< 0.01 km² each) on high, sloping land.

    Patches are thin ellipses along the contour (snow banks in lee hollows), at least 80 m from glaciers,
    lakes and the sea and 250 m from each other, so they never merge into something glacier-sized.

    Returns:
        How many were placed (``surface`` is updated in place).
    """
    if count <= 0:
        return 0
    ps = grid.ps
    h, w = surface.shape
    max_px = int(0.95 * SNOW_PATCH_MAX_KM2 * 1e6 / ps**2)
    guard = max(2, round(80 / ps))
    placed: list[tuple[int, int]] = []
    spacing = max(3, round(250 / ps))
    for attempt in range(60 * count):
        if len(placed) >= count:
            break
        r, c = int(rng.integers(guard, h - guard)), int(rng.integers(guard, w - guard))
        relax = attempt > 40 * count  # late attempts accept lower ground rather than place nothing
        if surface[r, c] != Surface.LAND or (dem[r, c] < min_elevation and not relax):
            continue
        if any(abs(r - pr) < spacing and abs(c - pc) < spacing for pr, pc in placed):
            continue
        win = (r - guard, r + guard + 1, c - guard, c + guard + 1)
        if (surface[win[0] : win[1], win[2] : win[3]] != Surface.LAND).any():
            continue
        local = dem[win[0] : win[1], win[2] : win[3]]
        gy, gx = np.gradient(local, ps)
        slope = math.degrees(math.atan(math.hypot(gx[guard, guard], gy[guard, guard])))
        if not (6 <= slope <= 38) and not relax:
            continue
        xs, ys = grid.fine_xy(*win)
        # Long axis along the contour: perpendicular to the downhill direction.
        angle = math.atan2(-gy[guard, guard], gx[guard, guard]) + math.pi / 2
        a = float(rng.uniform(14, 48))
        b = float(rng.uniform(0.25, 0.6)) * a
        wobble = 0.25 * noise.window(win, offset=5)
        mask = ellipse_mask(xs, ys, (xs[guard], ys[guard]), (a, b), angle, wobble)
        n_px = int(mask.sum())
        if n_px < 2 or n_px > max_px:
            continue
        sub = surface[win[0] : win[1], win[2] : win[3]]
        sub[mask] = Surface.SNOW_PATCH
        placed.append((r, c))
    return len(placed)


SHORE_M = 80.0
"""Width of the shore zone graded down to a lake's level, metres."""


def place_lake(
    grid: Grid,
    dem: np.ndarray,
    surface: np.ndarray,
    win: tuple[int, int, int, int],
    mask: np.ndarray,
    *,
    allow_ice_contact: bool,
) -> bool:
    """Fill ``mask`` (within scene window ``win``) with a flat lake if it is on land and clear of the sea.

    The lake level is the lowest land elevation under it, and land within :data:`SHORE_M` of the lake is
    graded down towards that level, so the lake sits in a hollow instead of cutting a step into a slope.
    A lake cut by the window's edge, touching the sea or another lake (or, unless ``allow_ice_contact``,
    a glacier) is not placed.

    Returns:
        Whether the lake was placed (``dem`` and ``surface`` updated in place).
    """
    ps = grid.ps
    height, width = surface.shape
    r0, r1, c0, c1 = win
    mask = mask & (surface[r0:r1, c0:c1] == Surface.LAND)
    if mask.sum() < max(12, round(2500 / ps**2)):
        return False
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    cut = (rows[0] == 0 and r0 > 0) or (rows[-1] == mask.shape[0] - 1 and r1 < height)
    cut = cut or (cols[0] == 0 and c0 > 0) or (cols[-1] == mask.shape[1] - 1 and c1 < width)
    if cut:
        return False
    shore = math.ceil(SHORE_M / ps) + 1
    a0, a1 = max(r0 + rows[0] - shore, 0), min(r0 + rows[-1] + 1 + shore, height)
    b0, b1 = max(c0 + cols[0] - shore, 0), min(c0 + cols[-1] + 1 + shore, width)
    lake = np.zeros((a1 - a0, b1 - b0), dtype=bool)
    lake[r0 + rows[0] - a0 : r0 + rows[-1] + 1 - a0, c0 + cols[0] - b0 : c0 + cols[-1] + 1 - b0] = (
        mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    )
    sub_s, sub_d = surface[a0:a1, b0:b1], dem[a0:a1, b0:b1]
    # One-pixel ring around the lake: it must not touch the sea (a lake there would be sea).
    ring = np.zeros_like(lake)
    ring[1:, :] |= lake[:-1, :]
    ring[:-1, :] |= lake[1:, :]
    ring[:, 1:] |= lake[:, :-1]
    ring[:, :-1] |= lake[:, 1:]
    touching = sub_s[ring & ~lake]
    if (touching == Surface.SEA).any() or (touching == Surface.LAKE).any():
        return False
    if not allow_ice_contact and (
        (touching == Surface.GLACIER).any() or (touching == Surface.DEBRIS).any()
    ):
        return False
    level = max(float(sub_d[lake].min()), 1.0)
    dist = distance_to(lake, ps)
    shore_zone = ~lake & (dist < SHORE_M) & (sub_s == Surface.LAND) & (sub_d > level)
    graded = level + (sub_d - level) * smoothstep(dist / SHORE_M)
    sub_d[shore_zone] = graded[shore_zone]
    sub_d[lake] = level
    sub_s[lake] = Surface.LAKE
    return True


def place_tundra_lakes(
    rng: np.random.Generator,
    grid: Grid,
    dem: np.ndarray,
    surface: np.ndarray,
    noise: FineNoise,
    count: int,
    *,
    force: bool,
) -> int:
    """Put up to ``count`` lakes on low, flat land; with ``force``, at least one on the flattest land.

    Returns:
        How many were placed.
    """
    if count <= 0:
        return 0
    ps = grid.ps
    h, w = surface.shape
    placed = 0
    best: tuple[float, int, int] | None = None
    for _ in range(80 * count):
        if placed >= count:
            break
        a = float(rng.uniform(45, 220))
        b = a * float(rng.uniform(0.4, 0.9))
        half = int(a * 1.4 / ps) + 2
        if h <= 2 * half + 2 or w <= 2 * half + 2:
            break
        r, c = int(rng.integers(half, h - half)), int(rng.integers(half, w - half))
        angle = float(rng.uniform(0, math.pi))
        if surface[r, c] != Surface.LAND:
            continue
        win = (r - half, r + half + 1, c - half, c + half + 1)
        local = dem[win[0] : win[1], win[2] : win[3]]
        relief = float(np.ptp(local[half - 3 : half + 4, half - 3 : half + 4]))
        if best is None or relief < best[0]:
            best = (relief, r, c)
        if dem[r, c] > 120 or relief > 6 * ps / 10:
            continue
        xs, ys = grid.fine_xy(*win)
        mask = ellipse_mask(
            xs, ys, (xs[half], ys[half]), (a, b), angle, 0.3 * noise.window(win, offset=6)
        )
        placed += place_lake(grid, dem, surface, win, mask, allow_ice_contact=False)
    if placed == 0 and force and best is not None:
        # Nothing flat and low enough: a small lake in the flattest hollow found still makes the scene.
        _, r, c = best
        half = math.ceil(80 / ps) + 1
        win = (max(r - half, 0), min(r + half + 1, h), max(c - half, 0), min(c + half + 1, w))
        xs, ys = grid.fine_xy(*win)
        centre = (float(xs[c - win[2]]), float(ys[r - win[0]]))
        mask = ellipse_mask(xs, ys, centre, (55.0, 40.0), 0.0)
        placed += place_lake(grid, dem, surface, win, mask, allow_ice_contact=False)
    return placed
