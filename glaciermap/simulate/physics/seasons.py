"""Per-pixel state shared by backscatter and coherence: scene-static fields and the seasonal state of a day.

:func:`scene_fields` derives, once per scene, the fields that stay the same on every date (melt-timing
jitter, snow beds, the accumulation share across the ELA, glacier margins, the mélange zone, textures),
from generators seeded by the scene's ``texture_seed``. :func:`seasonal_state` turns a day of year into
per-pixel weights (dry/wet glacier, thawed/snow-free land and debris) from the year's :class:`YearClimate`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from glaciermap.simulate.landscape import Landscape, Surface
from glaciermap.simulate.physics.climate import YearClimate
from glaciermap.simulate.physics.fields import box_mean, smooth_field
from glaciermap.simulate.physics.levels import SurfaceLevels


def _smoothstep(doy: float | np.ndarray, start: np.ndarray, duration: float) -> np.ndarray:
    """0 before ``start``, 1 after ``start + duration``, a smooth (C1) ramp between."""
    t = np.clip((doy - start) / max(duration, 1e-3), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def day_of_year(date: dt.date) -> float:
    """1-based day of year of ``date`` (1 January is 1.0)."""
    return float(date.timetuple().tm_yday)


# Keys of the independent generators spawned from SurfaceLevels.texture_seed.
SEED_CALENDAR, SEED_TEXTURE, SEED_FINE, SEED_COHERENCE, SEED_SNOWBED = 1, 2, 3, 4, 5

# Order of the per-class texture fields in the static and per-date stacks, and how strong each class's
# texture is relative to the scene's: firn and snow are smoother than moraine and tundra.
TEXTURE_CLASSES = ("accumulation", "ablation", "debris", "land", "snow_patch", "water")
TEXTURE_SCALE = {
    "accumulation": 0.6,
    "ablation": 0.8,
    "debris": 1.0,
    "land": 1.0,
    "snow_patch": 0.6,
    "water": 0.8,
}


def static_rng(levels: SurfaceLevels, key: int) -> np.random.Generator:
    """The scene's generator number ``key`` (one of the ``SEED_*``): the same on every date."""
    return np.random.default_rng([levels.texture_seed, key])


@dataclass
class SceneFields:
    """Per-scene maps derived from the landscape and the scene's texture seed (see :func:`scene_fields`)."""

    onset_jitter: np.ndarray  # (H, W) unit field: melt onset / freeze-up jitter
    snowbed: np.ndarray  # (H, W) unit field: where snow lies longer on land (drifts, lee slopes)
    breakup_jitter: np.ndarray  # (H, W) unit field: fast-ice break-up jitter
    acc_weight: np.ndarray  # (H, W) 0..1, accumulation facies share of a glacier pixel
    margin: np.ndarray  # (H, W) 0..1, 1 at a glacier's land margin, 0 inside
    front: np.ndarray  # (H, W) 0..1, sea pixels near calving fronts (mélange zone)
    texture: np.ndarray  # (len(TEXTURE_CLASSES), H, W) unit fields
    fine: np.ndarray  # (H, W) unit field, 30–60 m


def scene_fields(landscape: Landscape, levels: SurfaceLevels) -> SceneFields:
    """The fields of a scene that stay the same on every date (all (H, W) of the landscape's grid)."""
    shape = landscape.shape
    px = landscape.pixel_size
    surface = landscape.surface
    cal = smooth_field(static_rng(levels, SEED_CALENDAR), shape, 1500.0 / px, count=3)
    texture = smooth_field(
        static_rng(levels, SEED_TEXTURE),
        shape,
        levels.texture_corr_m / px,
        count=len(TEXTURE_CLASSES),
    )
    fine_rng = static_rng(levels, SEED_FINE)
    fine = smooth_field(fine_rng, shape, float(fine_rng.uniform(30.0, 60.0)) / px)[0]
    snowbed = smooth_field(static_rng(levels, SEED_SNOWBED), shape, 200.0 / px)[0]

    # The snowline is not a contour line: the ELA wanders by tens of metres.
    ela = landscape.ela_m + levels.ela_jitter_m * cal[1]
    z = landscape.dem.astype(np.float32)
    acc_weight = 1.0 / (1.0 + np.exp(-np.clip((z - ela) / (levels.facies_width_m / 4.0), -30, 30)))

    # Glacier margins: the share of land in a window of margin_width_m; a straight margin gives ~0.5 at
    # the outermost glacier pixel, hence the factor 2.
    r_margin = max(1, round(levels.margin_width_m / px))
    land_share = box_mean(surface == Surface.LAND, r_margin)
    margin = np.clip(2.0 * land_share, 0.0, 1.0)

    # Mélange zone: sea within melange_width_m of a calving front (glacier ice touching the sea); 1 in
    # the nearer half, 0.5 in the farther half. A straight front fills 1/(2r+1) of a (2r+1)^2 window.
    sea = surface == Surface.SEA
    calving = landscape.is_glacier & (box_mean(sea, 1) > 0)
    front = np.zeros(shape, dtype=np.float32)
    if calving.any():
        r_front = max(2, round(levels.melange_width_m / px))
        for r in (r_front, r_front // 2):
            near = np.clip((2 * r + 1) * box_mean(calving, r), 0.0, 1.0)
            front += 0.5 * np.where(sea, near, 0.0).astype(np.float32)
    return SceneFields(
        onset_jitter=cal[0],
        breakup_jitter=cal[2],
        snowbed=snowbed,
        acc_weight=acc_weight.astype(np.float32),
        margin=margin.astype(np.float32),
        front=front.astype(np.float32),
        texture=texture,
        fine=fine,
    )


@dataclass
class Season:
    """Per-pixel seasonal weights for one DOY (all (H, W) float32 in 0..1)."""

    glacier_wet: np.ndarray  # glacier/snow patch: 0 dry (winter), 1 wet (melt or late summer)
    glacier_late: np.ndarray  # glacier: 0 wet snow, 1 late-summer state
    land_thawed: np.ndarray  # land: 1 between melt onset and freeze-up (snow melting, or gone)
    land_snowfree: np.ndarray  # land: 1 once its snow is gone (late-summer state, if thawed)
    debris_thawed: np.ndarray
    debris_snowfree: np.ndarray

    @property
    def land_wet_snow(self) -> np.ndarray:
        """Land covered by melting snow (the short spring-melt signal)."""
        return self.land_thawed * (1.0 - self.land_snowfree)

    @property
    def land_summer(self) -> np.ndarray:
        """Land free of snow and not yet frozen."""
        return self.land_thawed * self.land_snowfree


def seasonal_state(
    landscape: Landscape, doy: float, climate: YearClimate, fields: SceneFields
) -> Season:
    """The seasonal weights of every pixel on day of year ``doy`` (see the module docstring of
    :mod:`glaciermap.simulate.physics` for the model)."""
    z = landscape.dem
    jitter = climate.onset_jitter_days * fields.onset_jitter
    onset = climate.melt_onset(z) + jitter
    # Freeze-up earliest high up; even summits stay wet a minimum time so glaciers are wet "all summer".
    # Freeze-up follows cold air masses, which vary less over a region than the onset of melt does
    # (shading and aspect): half the jitter.
    freeze = np.maximum(climate.freeze_up(z) + 0.5 * jitter, onset + climate.min_glacier_wet_days)
    refrozen = _smoothstep(doy, freeze, climate.refreeze_days)
    glacier_wet = _smoothstep(doy, onset, climate.onset_ramp_days) * (1.0 - refrozen)
    glacier_late = _smoothstep(doy, onset + climate.glacier_wet_snow_days, 12.0)

    # Land: same onset, same freeze-up (first lasting snow), but the snow is gone after land_melt_days.
    land_on = _smoothstep(doy, onset, climate.onset_ramp_days) * (1.0 - refrozen)
    # Snow does not leave land evenly: drifts and lee slopes keep it longer, open ridges lose it
    # sooner (a smooth factor exp(0.2 N(0, 1)) on the land's melt duration, kept within 10–35 days).
    land_melt = np.clip(climate.land_melt_days * np.exp(0.2 * fields.snowbed), 10.0, 35.0)
    land_snowfree = _smoothstep(
        doy, onset + climate.onset_ramp_days + land_melt, climate.land_recover_days
    )
    debris_onset = onset + climate.debris_onset_shift_days
    debris_on = _smoothstep(doy, debris_onset, climate.onset_ramp_days) * (1.0 - refrozen)
    debris_snowfree = _smoothstep(
        doy, debris_onset + climate.onset_ramp_days + climate.debris_melt_days, 6.0
    )
    return Season(
        glacier_wet=glacier_wet,
        glacier_late=glacier_late,
        land_thawed=land_on,
        land_snowfree=land_snowfree,
        debris_thawed=debris_on,
        debris_snowfree=debris_snowfree,
    )
