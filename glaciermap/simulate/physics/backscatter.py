"""Backscatter: the noise-free co- and cross-polarised gamma0 of one acquisition date, in dB.

Each class's level for the season (:mod:`.levels`) plus static and per-date texture, soft-clipped to its
documented range, blended pixel by pixel between winter, wet-snow and late-summer states by the seasonal
weights (:mod:`.seasons`); water changes with the wind, fast ice and mélange come and go. Cross-pol is the
co-pol minus a class-dependent offset, above a flat noise floor.
"""

from __future__ import annotations

import datetime as dt
from types import EllipsisType

import numpy as np

from glaciermap.simulate.landscape import Landscape, Surface
from glaciermap.simulate.physics.climate import YearClimate
from glaciermap.simulate.physics.fields import smooth_field, soft_clip
from glaciermap.simulate.physics.levels import (
    COPOL_RANGES_DB,
    SEA_ICE_RANGE_DB,
    SEASONS,
    WATER_RANGE_DB,
    SurfaceLevels,
)
from glaciermap.simulate.physics.seasons import (
    TEXTURE_CLASSES,
    TEXTURE_SCALE,
    SceneFields,
    Season,
    day_of_year,
    scene_fields,
    seasonal_state,
)


def _facies_maps(
    name: str,
    levels: SurfaceLevels,
    texture_db: np.ndarray,
) -> dict[str, np.ndarray]:
    """The three seasonal dB maps of one facies: level + texture, soft-clipped to the documented range."""
    lv = levels.facies(name)
    ranges = COPOL_RANGES_DB[name]
    return {s: soft_clip(lv.get(s) + texture_db, *ranges[s]) for s in SEASONS}


def _blend(maps: dict[str, np.ndarray], wet: np.ndarray, summer_weight: np.ndarray) -> np.ndarray:
    """winter -> (wet snow -> late summer) -> winter, in dB, with the given weights."""
    summer = maps["melt"] + summer_weight * (maps["late"] - maps["melt"])
    return maps["winter"] + wet * (summer - maps["winter"])


def gamma0_db_from_state(
    landscape: Landscape,
    doy: float,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    fields: SceneFields,
    season: Season,
) -> np.ndarray:
    """:func:`mean_gamma0_db` for day of year ``doy`` from the scene's ``fields`` and the day's
    ``season``, which :func:`~.acquisition.simulate_acquisition` computes once for all products."""
    shape = landscape.shape
    px = landscape.pixel_size
    surface = landscape.surface
    date_tex = smooth_field(rng, shape, levels.texture_corr_m / px, count=len(TEXTURE_CLASSES))

    def texture(name: str, sel: np.ndarray | EllipsisType) -> np.ndarray:
        """Static + per-date texture (dB) of one class at the selected pixels (``...``: all)."""
        i = TEXTURE_CLASSES.index(name)
        static, date = fields.texture[i][sel], date_tex[i][sel]
        return TEXTURE_SCALE[name] * (
            levels.static_texture_db * static + levels.date_texture_db * date
        )

    fine_land = levels.fine_texture_land_db * fields.fine
    fine_ice = levels.fine_texture_glacier_db * fields.fine

    # Land everywhere first: it is most of the grid, and glacier margins blend towards it.
    land = _facies_maps("land", levels, texture("land", ...) + fine_land)
    out = _blend(land, season.land_thawed, season.land_snowfree).astype(np.float32)
    land_db = out.copy()

    # The other classes only on their own pixels (1D), to keep time and memory down on big tiles.
    sel = surface == Surface.GLACIER
    if sel.any():
        # Accumulation and ablation facies blended across the (irregular) equilibrium line.
        acc = _facies_maps(
            "accumulation", levels, texture("accumulation", sel) + 0.4 * fine_ice[sel]
        )
        abl = _facies_maps("ablation", levels, texture("ablation", sel) + fine_ice[sel])
        w_acc = fields.acc_weight[sel]
        glacier = {s: w_acc * acc[s] + (1.0 - w_acc) * abl[s] for s in SEASONS}
        glacier_db = _blend(glacier, season.glacier_wet[sel], season.glacier_late[sel])
        # Thin, dirty marginal ice partly looks like the land beside it.
        glacier_db += levels.margin_blend * fields.margin[sel] * (land_db[sel] - glacier_db)
        out[sel] = glacier_db

    sel = surface == Surface.DEBRIS
    if sel.any():
        debris = _facies_maps("debris", levels, texture("debris", sel) + fine_land[sel])
        debris_db = _blend(debris, season.debris_thawed[sel], season.debris_snowfree[sel])
        debris_db += levels.margin_blend * fields.margin[sel] * (land_db[sel] - debris_db)
        out[sel] = debris_db

    sel = surface == Surface.SNOW_PATCH
    if sel.any():
        patch = _facies_maps("snow_patch", levels, texture("snow_patch", sel) + 0.4 * fine_ice[sel])
        out[sel] = _blend(patch, season.glacier_wet[sel], season.glacier_late[sel])

    water = (surface == Surface.SEA) | (surface == Surface.LAKE)
    if water.any():
        # Sea ice: the water class's smooth texture plus fine texture (ridges, rafted floes).
        ice_texture = texture("water", ...) + fine_ice
        out = _water_db(landscape, doy, climate, levels, rng, fields, ice_texture, out)
    return out


def _water_db(
    landscape: Landscape,
    doy: float,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    fields: SceneFields,
    ice_texture_db: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """Fill sea and lake pixels of ``out`` (dB) for one date: wind, fast ice, mélange."""
    surface = landscape.surface
    px = landscape.pixel_size
    lo, hi = WATER_RANGE_DB
    # Wind changes the whole fjord from date to date; lakes feel the same weather with less fetch.
    sea_level = levels.sea_db + rng.normal(0.0, levels.water_date_std_db)
    lake_level = sea_level + levels.lake_offset_db + rng.normal(0.0, 1.5)
    wind = levels.water_wind_field_db * smooth_field(rng, landscape.shape, 800.0 / px)[0]
    is_sea = surface == Surface.SEA
    is_lake = surface == Surface.LAKE
    out[is_sea] = soft_clip(sea_level + wind[is_sea], lo, hi)
    out[is_lake] = soft_clip(lake_level + wind[is_lake], lo, hi)

    # Fast ice: sheltered fjord heads until break-up, which comes a few days apart across the fjord.
    fast = landscape.fast_ice & is_sea
    if fast.any():
        local_breakup = climate.fast_ice_breakup_doy + 5.0 * fields.breakup_jitter
        if climate.fast_ice_form_doy <= 0:
            present = (doy >= 365.0 + climate.fast_ice_form_doy) | (doy < local_breakup)
        else:
            present = (doy >= climate.fast_ice_form_doy) & (doy < local_breakup)
        sel = fast & present
        out[sel] = soft_clip(levels.sea_ice_db + ice_texture_db[sel], *SEA_ICE_RANGE_DB)

    # Ice mélange: calved ice in front of glacier fronts in the open-water season, patchy and changing.
    if fields.front.any():
        open_season = (doy >= climate.fast_ice_breakup_doy) & (doy < climate.freeze_doy + 20.0)
        if open_season:
            cover = rng.uniform(0.0, 1.0)
            patches = smooth_field(rng, landscape.shape, 60.0 / px)[0]
            # Cover fraction of the front zone where the patch field exceeds a threshold.
            weight = fields.front * np.clip(patches + 2.0 * cover - 1.0, 0.0, 1.0)
            sel = is_sea & (weight > 0)
            melange = soft_clip(levels.melange_db + ice_texture_db[sel], *SEA_ICE_RANGE_DB)
            out[sel] = out[sel] + weight[sel] * (melange - out[sel])
    return out


def mean_gamma0_db(
    landscape: Landscape,
    date: dt.date,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
) -> np.ndarray:
    """The noise-free expected co-pol gamma0 of one acquisition date.

    Args:
        landscape: the simulated ground (10 m grid).
        date: acquisition date; its day of year sets every pixel's seasonal state.
        climate: the year's melt calendar (:func:`draw_year_climate`).
        levels: the scene's levels (:func:`draw_surface_levels`).
        rng: random generator for what changes from date to date (textures, wind, mélange).

    Returns:
        (H, W) float32 co-pol gamma0, dB, before the point-spread function and speckle.
    """
    fields = scene_fields(landscape, levels)
    doy = day_of_year(date)
    season = seasonal_state(landscape, doy, climate, fields)
    return gamma0_db_from_state(landscape, doy, climate, levels, rng, fields, season)


def cross_pol_db_from_state(
    copol_db: np.ndarray,
    landscape: Landscape,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    acc_weight: np.ndarray,
) -> np.ndarray:
    """:func:`cross_pol_db` given the accumulation share ``acc_weight`` (H, W) of the scene's fields."""
    surface = landscape.surface
    off = levels.crosspol_offset
    glacier_off = acc_weight * off("accumulation") + (1.0 - acc_weight) * off("ablation")
    offset = np.select(
        [
            surface == Surface.GLACIER,
            surface == Surface.DEBRIS,
            surface == Surface.SNOW_PATCH,
            (surface == Surface.SEA) | (surface == Surface.LAKE),
        ],
        [glacier_off, off("debris"), off("snow_patch"), off("water")],
        default=off("land"),
    ).astype(np.float32)
    # The depolarisation ratio itself varies a little (roughness, moisture): a few tenths of a dB.
    offset += 0.3 * smooth_field(rng, landscape.shape, 300.0 / landscape.pixel_size)[0]
    signal = np.power(10.0, (copol_db - offset) / 10.0, dtype=np.float32)
    return (10.0 * np.log10(signal + np.float32(10.0 ** (levels.nesz_db / 10.0)))).astype(
        np.float32
    )


def cross_pol_db(
    copol_db: np.ndarray,
    landscape: Landscape,
    levels: SurfaceLevels,
    rng: np.random.Generator,
) -> np.ndarray:
    """The noise-free expected cross-pol gamma0 (VH or HV) from the co-pol one.

    Cross-pol is the co-pol minus a class-dependent offset (6–10 dB, :data:`CROSSPOL_OFFSET_RANGES_DB`,
    glacier facies blended across the ELA) that varies smoothly by 0.3 dB (std), plus the scene's flat
    noise floor (:data:`NESZ_RANGE_DB`) added in power, which lifts dark water to about −25 dB.

    Args:
        copol_db: (H, W) noise-free co-pol gamma0, dB (:func:`mean_gamma0_db`).
        landscape: the simulated ground.
        levels: the scene's levels.
        rng: random generator (the smooth variation).

    Returns:
        (H, W) float32 cross-pol gamma0, dB, before speckle.
    """
    fields = scene_fields(landscape, levels)
    return cross_pol_db_from_state(copol_db, landscape, levels, rng, fields.acc_weight)
