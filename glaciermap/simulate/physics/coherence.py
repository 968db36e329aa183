"""12-day interferometric coherence: its true value per class and season, and the sample estimate.

:func:`true_coherence` gives the population coherence of a pair from the classes, the seasonal state of
both dates and smooth texture; :func:`sample_coherence` draws the estimator's value with its real upward
bias and spread; :func:`coherence_12day` does both on the 40 m grid, as INSAR_GAMMA delivers it.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from glaciermap.simulate.landscape import Landscape, Surface
from glaciermap.simulate.physics.climate import YearClimate
from glaciermap.simulate.physics.fields import block_mean, smooth_field
from glaciermap.simulate.physics.levels import (
    COHERENCE_RANGES,
    SEA_ICE_COHERENCE_RANGE,
    SurfaceLevels,
)
from glaciermap.simulate.physics.seasons import (
    SEED_COHERENCE,
    SceneFields,
    Season,
    day_of_year,
    scene_fields,
    seasonal_state,
    static_rng,
)


def true_coherence_from_state(
    landscape: Landscape,
    doy: float,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    fields: SceneFields,
    season: Season,
    season_next: Season,
) -> np.ndarray:
    """:func:`true_coherence` of the pair (``doy``, ``doy`` + 12) from the scene's ``fields`` and the
    seasonal state of both dates."""
    c = levels.coherence
    surface = landscape.surface
    px = landscape.pixel_size
    shape = landscape.shape
    static = smooth_field(static_rng(levels, SEED_COHERENCE), shape, 400.0 / px)[0]
    date_field = smooth_field(rng, shape, 800.0 / px)[0]
    tex = c.static_texture * static + c.date_texture * date_field

    def centre(level: float, lo: float, hi: float) -> float:
        """This pair's class level: the scene's, shifted by this pair's weather, kept off the range
        ends so that the texture around it is not clipped flat."""
        margin = 0.1 * (hi - lo)
        return float(np.clip(level + rng.normal(0.0, c.date_jitter), lo + margin, hi - margin))

    # A pair is "summer" for a glacier if either of its dates is wet: melt decorrelates the pair.
    wet = np.maximum(season.glacier_wet, season_next.glacier_wet)
    g_lo, g_hi = COHERENCE_RANGES["glacier"]["winter"]
    s_lo, s_hi = COHERENCE_RANGES["glacier"]["summer"]

    def glacier_like(winter: float, summer: float, bonus: np.ndarray | float) -> np.ndarray:
        w = np.clip(centre(winter, g_lo, g_hi) + bonus + tex, g_lo, g_hi)
        s = np.clip(centre(summer, s_lo, s_hi) + 0.5 * bonus + 0.5 * tex, s_lo, s_hi)
        return w + wet * (s - w)

    glacier = glacier_like(
        c.glacier_winter, c.glacier_summer, c.glacier_margin_bonus * fields.margin
    )

    lw_lo, lw_hi = COHERENCE_RANGES["land"]["winter"]
    ls_lo, ls_hi = COHERENCE_RANGES["land"]["summer"]
    snowfall = doy < climate.melt_onset_doy or doy > climate.freeze_doy
    snowfall = snowfall and bool(rng.uniform() < climate.snowfall_prob)
    land_winter = c.land_winter - (c.land_snowfall_drop if snowfall else 0.0)
    land_w = np.clip(centre(land_winter, lw_lo, lw_hi) + tex, lw_lo, lw_hi)
    land_m = np.clip(centre(c.land_melt, lw_lo, lw_hi) + 0.5 * tex, lw_lo, lw_hi)
    # Bare rock keeps the most coherence: the static field doubles as rock-vs-vegetation in summer.
    land_s = np.clip(
        centre(c.land_summer, ls_lo, ls_hi) + 2.0 * c.static_texture * static, ls_lo, ls_hi
    )
    # Melting snow on either date decorrelates; the summer level needs bare ground on both dates.
    melting = np.maximum(season.land_wet_snow, season_next.land_wet_snow)
    bare = np.minimum(season.land_summer, season_next.land_summer)
    land = land_w + melting * (land_m - land_w)
    land = land + bare * (land_s - land)

    out = land
    out = np.where(surface == Surface.GLACIER, glacier, out)
    if (surface == Surface.DEBRIS).any():
        debris = glacier_like(
            c.debris_winter, c.debris_summer, c.glacier_margin_bonus * fields.margin
        )
        out = np.where(surface == Surface.DEBRIS, debris, out)
    if (surface == Surface.SNOW_PATCH).any():
        patch = glacier_like(c.snow_patch_winter, c.snow_patch_summer, 0.0)
        out = np.where(surface == Surface.SNOW_PATCH, patch, out)
    water = (surface == Surface.SEA) | (surface == Surface.LAKE)
    if water.any():
        w_lo, w_hi = COHERENCE_RANGES["water"]["winter"]
        water_coh = np.clip(c.water + 0.3 * tex, w_lo, w_hi)
        out = np.where(water, water_coh, out)
        fast = landscape.fast_ice & (surface == Surface.SEA)
        if fast.any() and climate.fast_ice_present(doy) and climate.fast_ice_present(doy + 12.0):
            ice_level = centre(c.sea_ice, *SEA_ICE_COHERENCE_RANGE)
            ice = np.clip(ice_level + tex, *SEA_ICE_COHERENCE_RANGE)
            out = np.where(fast, ice, out)
    return out.astype(np.float32)


def true_coherence(
    landscape: Landscape,
    date: dt.date,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
) -> np.ndarray:
    """The true (population) 12-day coherence of the pair (date, date + 12 days), per 10 m pixel.

    Glaciers, debris and snow patches take their winter level (0.05–0.35, a little higher at slow ice
    margins) unless either date of the pair is wet, then their summer level (0.05–0.2). Land takes its
    winter level (0.2–0.5; a snowfall/drift event between the dates, with probability
    ``climate.snowfall_prob``, lowers it), a low level while its snow melts, and its summer level
    (0.4–0.85, bare rock highest) once snow-free on both dates. Water stays in 0–0.15, fast ice in
    0.05–0.3. Smooth static and per-date fields add spatial variation inside these ranges.

    Args:
        landscape: the simulated ground (10 m grid).
        date: the reference date of the pair.
        climate: the year's melt calendar.
        levels: the scene's levels.
        rng: random generator for what changes from pair to pair.

    Returns:
        (H, W) float32 true coherence in [0, 1].
    """
    fields = scene_fields(landscape, levels)
    doy = day_of_year(date)
    season = seasonal_state(landscape, doy, climate, fields)
    season_next = seasonal_state(landscape, doy + 12.0, climate, fields)
    return true_coherence_from_state(
        landscape, doy, climate, levels, rng, fields, season, season_next
    )


def sample_coherence(
    gamma: np.ndarray,
    rng: np.random.Generator,
    looks: int = 20,
    *,
    chunk_values: int = 1 << 21,
) -> np.ndarray:
    """The sample-coherence estimate of a true coherence map, with its real bias and spread.

    For each pixel, ``looks`` pairs of circular complex Gaussians with correlation ``gamma`` are drawn,
    ``z1 = a`` and ``z2 = gamma a + sqrt(1 - gamma^2) b`` with ``a, b ~ CN(0, 1)`` independent, and the
    estimator ``|sum z1 z2*| / sqrt(sum |z1|^2 sum |z2|^2)`` is returned. For ``gamma = 0`` its expected
    value is ``Gamma(N) Gamma(3/2) / Gamma(N + 1/2)``, about 0.2 for N = 20: incoherent surfaces read
    0.1–0.3, not 0. Rows are processed in chunks of at most ``chunk_values`` looks, so memory stays
    bounded whatever the map size.

    Args:
        gamma: (h, w) true coherence in [0, 1].
        rng: random generator.
        looks: number of independent looks N in the estimation window.
        chunk_values: largest number of (pixel, look) samples held at once.

    Returns:
        (h, w) float32 estimated coherence in [0, 1].

    Raises:
        ValueError: ``looks`` is below 1.
    """
    if looks < 1:
        raise ValueError(f"looks must be at least 1, got {looks}")
    g_all = np.clip(np.asarray(gamma, dtype=np.float32), 0.0, 1.0)
    h, w = g_all.shape
    out = np.empty((h, w), dtype=np.float32)
    rows = max(1, chunk_values // max(1, w * looks))
    for r0 in range(0, h, rows):
        g = g_all[r0 : r0 + rows][..., None]
        s = np.sqrt(1.0 - g * g)
        ar, ai, br, bi = rng.standard_normal((4, g.shape[0], w, looks), dtype=np.float32)
        # Sums over looks of |a|^2, |b|^2 and a b* (the 1/2 of CN(0, 1) cancels in the ratio).
        saa = (ar * ar + ai * ai).sum(axis=-1)
        sbb = (br * br + bi * bi).sum(axis=-1)
        sab_re = (ar * br + ai * bi).sum(axis=-1)
        sab_im = (ai * br - ar * bi).sum(axis=-1)
        g2, s2 = g[..., 0], s[..., 0]
        # z1 z2* = g |a|^2 + s a b*;  |z2|^2 = g^2 |a|^2 + s^2 |b|^2 + 2 g s Re(a b*).
        num = np.hypot(g2 * saa + s2 * sab_re, s2 * sab_im)
        den = np.sqrt(saa * (g2 * g2 * saa + s2 * s2 * sbb + 2.0 * g2 * s2 * sab_re))
        out[r0 : r0 + rows] = np.clip(num / np.maximum(den, 1e-20), 0.0, 1.0)
    return out


def expected_incoherent_estimate(looks: int) -> float:
    """Mean of the sample-coherence estimator over a fully incoherent surface with ``looks`` looks."""
    return math.exp(math.lgamma(looks) + math.lgamma(1.5) - math.lgamma(looks + 0.5))


def coherence_12day(
    landscape: Landscape,
    date: dt.date,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    *,
    looks: int = 20,
    factor: int = 4,
) -> np.ndarray:
    """The 12-day coherence product of the pair starting on ``date``, on the coarse (40 m) grid.

    The true coherence (:func:`true_coherence`) is averaged over ``factor`` x ``factor`` blocks of 10 m
    pixels, then estimated with ``looks`` looks (:func:`sample_coherence`), as INSAR_GAMMA's 10 x 2-look
    product does.

    Args:
        landscape: the simulated ground (10 m grid).
        date: reference date of the pair (its partner is 12 days later).
        climate: the year's melt calendar.
        levels: the scene's levels.
        rng: random generator.
        looks: looks N of the coherence estimator.
        factor: coarse pixel edge in fine pixels (4: 40 m from 10 m).

    Returns:
        (ceil(H / factor), ceil(W / factor)) float32 coherence in [0, 1].
    """
    gamma = true_coherence(landscape, date, climate, levels, rng)
    return sample_coherence(block_mean(gamma, factor), rng, looks)
