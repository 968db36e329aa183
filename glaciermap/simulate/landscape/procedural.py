"""Procedural landscapes: a Svalbard-like scene invented for any rectangle.

:func:`procedural_landscape` plans the scene on the coarse grids and renders it on the scene grid, one
phase after another over a :class:`~.plan.ProceduralPlan`: the relief (:mod:`.relief`), the valleys
(:mod:`.drainage`), their glaciers and the cirques (:mod:`.glaciation`), then the rendering
(:mod:`.render`). The steps are described in :mod:`glaciermap.simulate.landscape`.
"""

from __future__ import annotations

import numpy as np

from glaciermap.simulate.landscape.glaciation import make_cirques, make_valleys, raise_heads
from glaciermap.simulate.landscape.grid import Grid, as_generator
from glaciermap.simulate.landscape.model import Landscape, LandscapeFeatures
from glaciermap.simulate.landscape.noise import FineNoise, fractal_noise
from glaciermap.simulate.landscape.plan import ProceduralPlan
from glaciermap.simulate.landscape.relief import make_ice_cap, make_sea, plan_fields
from glaciermap.simulate.landscape.render import assemble
from glaciermap.simulate.landscape.terrain import mountains


def procedural_landscape(
    bounds: tuple[float, float, float, float],
    crs: str,
    rng: np.random.Generator | int,
    *,
    pixel_size: float = 10.0,
    features: LandscapeFeatures | None = None,
) -> Landscape:
    """Invent a Svalbard-like landscape (terrain, sea, glaciers, lakes, snow patches) on a grid.

    Args:
        bounds: (minx, miny, maxx, maxy) of the scene in ``crs``, metres. The grid starts at (minx, maxy)
            and covers the bounds in whole pixels (rounded up).
        crs: a projected CRS with metre units, e.g. ``"EPSG:32633"``.
        rng: the random generator (or a seed); the same seed gives identical arrays and outlines.
        pixel_size: pixel edge length, metres.
        features: what to place; default :meth:`LandscapeFeatures.for_area` of the bounds.

    Returns:
        The :class:`Landscape`. Its ``outlines`` have ``glacier_id``, ``glacier_name``, ``kind`` (see
        :data:`KINDS`), ``area_km2`` and the polygons vectorised from :attr:`Landscape.glacier_id`.

    Raises:
        InputError: the bounds are empty or smaller than 32 pixels a side, or ``features`` is inconsistent.
    """
    generator = as_generator(rng)
    grid = Grid(bounds, pixel_size)
    wanted = features
    if wanted is None:
        wanted = LandscapeFeatures.for_area(grid.width * grid.ps, grid.height * grid.ps)
    wanted.check()
    return _build(ProceduralPlan(grid, crs, generator, wanted))


def _build(plan: ProceduralPlan) -> Landscape:
    """Plan the scene on the coarse grids, then render it on the scene grid."""
    g, rng = plan.grid, plan.rng
    plan.mid_noise = fractal_noise(
        (g.ny, g.nx), rng, cell_m=g.cell, beta=2.0, min_wavelength_m=120, max_wavelength_m=1500
    )
    plan.mid_noise2 = fractal_noise(
        (g.ny, g.nx), rng, cell_m=g.cell, beta=2.0, min_wavelength_m=120, max_wavelength_m=1500
    )
    large_noise = fractal_noise(
        (g.ny, g.nx), rng, cell_m=g.cell, beta=3.0, min_wavelength_m=600, max_wavelength_m=8000
    )
    plan.cap_lobes = np.clip(large_noise, -2.0, 2.0)
    plan.fine = FineNoise(rng, g.ps, max(g.width, g.height))
    make_sea(plan)
    plan_fields(plan)
    plan.mount = mountains(g, rng, plan.d_sea_shape, plan.peak)
    plan.refresh_plan_elevation()
    if plan.features.ice_cap:
        make_ice_cap(plan)
    make_valleys(plan)
    raise_heads(plan)
    make_cirques(plan)
    return assemble(plan)
