"""Radar physics of the simulated Sentinel-1 time series: what C-band SAR sees of each surface, date by date.

Given a :class:`~glaciermap.simulate.landscape.Landscape` (10 m grid of elevation and surface classes),
this module produces, for one acquisition date, what a HyP3 RTC + INSAR_GAMMA product would show:

* the noise-free co-polarised gamma0 in dB (:func:`mean_gamma0_db`), from per-class, per-season levels
  drawn once per scene inside the ranges of ``docs/SAR_SIGNATURES.md`` (:func:`draw_surface_levels`), and a
  per-year melt calendar (:func:`draw_year_climate`) that decides, pixel by pixel from its elevation, whether
  the snow is dry (winter), wet (melt onset) or in its late-summer state;
* cross-polarised gamma0 a class-dependent 6–10 dB below the co-pol, above a flat noise floor
  (:func:`cross_pol_db`);
* speckle: multiplicative Gamma noise with about 4.5 equivalent looks at 10 m, spatially correlated like
  GRD-H data whose resolution (~20 m) is twice the pixel spacing (:func:`speckle_power`);
* 12-day interferometric coherence on the 40 m grid, with the upward bias of the sample estimator
  (:func:`coherence_12day`).

The seasonal model, in brief. Melt starts at sea level in mid-June (± a few weeks from year to year) and
later with elevation (days per 100 m); the wet season of glaciers ends at freeze-up, earliest high up and
latest at sea level (melt starts low, ends low). Between the two, glacier pixels are wet: wet snow first
(very dark everywhere), then their late-summer state (still-wet snow above the equilibrium line, rough
wet bare ice below it, which is brighter). Freeze-up brings them back to winter values over 10–36 days,
i.e. within one or two 24-day acquisitions. Land pixels melt on the same elevation-dependent calendar, but
their snow is gone after 2–4 weeks (a little longer in snow beds, shorter on ridges) and they recover,
while glacier snow stays wet 15–30 days longer and the glacier stays wet until freeze-up: *only the
length of the melt signal differs*. Melt timing carries a smooth spatial jitter of a few days and the
equilibrium line wanders by tens of metres, so seasonal transitions do not follow contour lines.
Debris-covered tongues look like moraine with a slightly different melt timing; perennial snow patches
look like the accumulation area. Open water changes with the wind from date to date; fast sea ice covers
sheltered fjord heads from about January to its break-up in late spring; ice mélange in front of glacier
fronts comes and goes in summer. No level is the same from scene to scene, the ranges of the classes
overlap, and every class carries smooth multiplicative texture (static per scene and new on each date), so
no single number separates glacier from land.

What this module does NOT model (known simplifications):

* no acquisition geometry: layover, shadow, swath gaps and look-angle dependence belong to the geometry
  stage; there are no RTC residuals (terrain-correlated brightness) either;
* no azimuth ambiguities, no ionospheric effects, no radio-frequency interference;
* no thermal-noise pattern or scalloping: the cross-pol noise floor is one flat level per scene, the
  co-pol has none;
* no interferometric phase, deformation, atmosphere or unwrapping: coherence is simulated as a magnitude
  only, from its true value per class and the sample estimator;
* no volume-penetration or radiative-transfer model: firn, ice lenses and wet snow enter only as the
  facies levels of the table; no refrozen-percolation subtlety beyond the equilibrium-line blend;
* wind roughening of water is one level per date plus one smooth field, not wave physics; lakes never
  freeze (lake ice is not modelled);
* glacier flow speed is not known, so glacier coherence is only made a little higher near the margins,
  where ice moves slowest;
* the correlation of co- and cross-pol speckle, and sub-pixel mixing beyond the 3 x 3 point-spread
  function, are ignored; the marginal of the speckle at 10 m has a slightly lighter dark tail than a
  pure Gamma(4.5) (it is single-look speckle smoothed by the PSF, like resampled GRD data).

Everything random comes from the :class:`numpy.random.Generator` passed in, or from the integer
``texture_seed`` of the scene's :class:`SurfaceLevels` (fields that must stay the same from date to date),
so the same seeds give the same arrays.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from types import EllipsisType

import numpy as np

from glaciermap.simulate.landscape import Landscape, Surface

# ---------------------------------------------------------------------------------------------------------
# The tables of docs/SAR_SIGNATURES.md (C-band co-pol gamma0 after RTC, dB; 12-day coherence).
# ---------------------------------------------------------------------------------------------------------

SEASONS = ("winter", "melt", "late")
"""Seasonal states of the backscatter table: dry snow (Oct–May), wet snow at melt onset, late summer."""

COPOL_RANGES_DB: dict[str, dict[str, tuple[float, float]]] = {
    "accumulation": {"winter": (-8.0, 0.0), "melt": (-25.0, -18.0), "late": (-22.0, -15.0)},
    "ablation": {"winter": (-20.0, -10.0), "melt": (-25.0, -18.0), "late": (-16.0, -9.0)},
    "debris": {"winter": (-16.0, -10.0), "melt": (-20.0, -14.0), "late": (-14.0, -9.0)},
    "land": {"winter": (-16.0, -9.0), "melt": (-22.0, -16.0), "late": (-14.0, -8.0)},
    # "like accumulation area" in winter, "like glacier" in summer: the snow patch stays snow all summer.
    "snow_patch": {"winter": (-8.0, 0.0), "melt": (-25.0, -18.0), "late": (-22.0, -15.0)},
}
"""Co-pol gamma0 ranges (dB) per surface facies and season; each scene draws its levels inside them."""

WATER_RANGE_DB: tuple[float, float] = (-30.0, -15.0)
"""Open water (sea, fjords, lakes), any season: the level changes with the wind from date to date."""

SEA_ICE_RANGE_DB: tuple[float, float] = (-20.0, -12.0)
"""Fast sea ice in fjords (Jan–May); also used for the ice mélange in front of glacier fronts."""

COHERENCE_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "glacier": {"winter": (0.05, 0.35), "summer": (0.05, 0.2)},
    "land": {"winter": (0.2, 0.5), "summer": (0.4, 0.85)},
    "water": {"winter": (0.0, 0.15), "summer": (0.0, 0.15)},
}
"""True 12-day coherence ranges per surface and season (before the estimator's upward bias)."""

SEA_ICE_COHERENCE_RANGE: tuple[float, float] = (0.05, 0.3)
"""Fast ice is not in the table: treated like winter glacier ice (snow drift and thermal cracks)."""

CROSSPOL_OFFSET_RANGES_DB: dict[str, tuple[float, float]] = {
    "accumulation": (6.0, 8.0),  # firn volume scattering depolarises: cross-pol relatively strong
    "ablation": (7.5, 10.0),  # surface scattering from ice: weaker depolarisation
    "debris": (6.0, 8.5),
    "land": (6.0, 9.0),
    "snow_patch": (6.0, 8.0),
    "water": (8.0, 10.0),  # specular/Bragg surface scattering barely depolarises
}
"""How far (dB) the cross-pol gamma0 lies below the co-pol, per class; each scene draws one value."""

NESZ_RANGE_DB: tuple[float, float] = (-28.0, -24.0)
"""Flat noise-equivalent sigma zero added to the cross-pol power (no swath pattern, no scalloping)."""

# ---------------------------------------------------------------------------------------------------------
# Sensor constants.
# ---------------------------------------------------------------------------------------------------------

PSF_SIDE_WEIGHT = 0.29
"""Side weight of the separable 3-tap point-spread function ``[w, 1, w] / (1 + 2w)`` on 10 m pixels.

IW GRD-H has a resolution of about 20 x 22 m on 10 m pixels, so neighbouring pixels share signal and
speckle. With w = 0.29 the lag-1 intensity correlation of the speckle is 0.5, and the speckle of one look
(exponential intensity) smoothed by this kernel has about 4.5 equivalent looks, as the ESA product spec
gives for GRD-H; aggregated to 20 m it has about 8 looks, the level of the real 20 m clip in
``../shared/data/sentinel1`` (see tests/test_simulate_physics.py).
"""


def _psf_sum_sq() -> float:
    """Sum of the squared 2D PSF weights: a field of L independent looks smoothed has L / this looks."""
    w1 = np.array([PSF_SIDE_WEIGHT, 1.0, PSF_SIDE_WEIGHT]) / (1.0 + 2.0 * PSF_SIDE_WEIGHT)
    return float(np.sum(w1**2) ** 2)


# ---------------------------------------------------------------------------------------------------------
# Per-year climate.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearClimate:
    """The melt calendar of one year in one region (days of year, DOY, are 1-based floats).

    Attributes:
        melt_onset_doy: melt onset at sea level (mid-June ± a few weeks).
        melt_delay_days_per_100m: how much later melt starts per 100 m of elevation.
        freeze_doy: freeze-up of glaciers at sea level (end of their wet season).
        freeze_advance_days_per_100m: how much earlier freeze-up comes per 100 m of elevation.
        onset_ramp_days: how long the switch from dry to wet snow takes at one pixel.
        glacier_wet_snow_days: time from melt onset until a glacier pixel reaches its late-summer state
            (wet snow settles above the ELA, bare ice appears below it); 15–30 days longer than on land.
        min_glacier_wet_days: glaciers stay wet at least this long, even on the highest summits
            (20–30 days longer than the land's melt).
        refreeze_days: time a glacier pixel takes to go back to winter values after freeze-up
            (one or two 24-day acquisitions).
        land_melt_days: how long snow on land stays wet before it is gone (2–4 weeks).
        land_recover_days: how long land takes to dry out after its snow is gone.
        debris_melt_days: the same for debris-covered ice (a little longer: the ice below keeps it wet).
        debris_onset_shift_days: shift of debris melt onset relative to its elevation's onset.
        onset_jitter_days: standard deviation of a smooth spatial field added to the local melt onset and
            freeze-up (aspect, shading, wind), so seasonal transitions do not follow contour lines.
        fast_ice_form_doy: when fast ice forms; ``<= 0`` means in December of the previous year.
        fast_ice_breakup_doy: when fast ice breaks up (late May or early June).
        snowfall_prob: chance that a winter 12-day interferometric pair sees snowfall or drift, which lowers
            the coherence of land.
    """

    melt_onset_doy: float
    melt_delay_days_per_100m: float
    freeze_doy: float
    freeze_advance_days_per_100m: float
    onset_ramp_days: float
    glacier_wet_snow_days: float
    min_glacier_wet_days: float
    refreeze_days: float
    land_melt_days: float
    land_recover_days: float
    debris_melt_days: float
    debris_onset_shift_days: float
    onset_jitter_days: float
    fast_ice_form_doy: float
    fast_ice_breakup_doy: float
    snowfall_prob: float

    def melt_onset(self, elevation_m: np.ndarray | float) -> np.ndarray:
        """Melt onset DOY at an elevation (metres, any shape), without the spatial jitter."""
        z = np.maximum(np.asarray(elevation_m, dtype=np.float32), 0.0)
        return self.melt_onset_doy + self.melt_delay_days_per_100m * z / 100.0

    def freeze_up(self, elevation_m: np.ndarray | float) -> np.ndarray:
        """Glacier freeze-up DOY at an elevation (metres, any shape), without jitter or minimum wet time."""
        z = np.maximum(np.asarray(elevation_m, dtype=np.float32), 0.0)
        return self.freeze_doy - self.freeze_advance_days_per_100m * z / 100.0

    def fast_ice_present(self, doy: np.ndarray | float) -> np.ndarray:
        """Whether fast ice covers the fjord heads on a DOY (before per-pixel break-up jitter)."""
        d = np.asarray(doy, dtype=np.float32)
        if self.fast_ice_form_doy <= 0:  # formed in December: present Dec..break-up
            return (d >= 365.0 + self.fast_ice_form_doy) | (d < self.fast_ice_breakup_doy)
        return (d >= self.fast_ice_form_doy) & (d < self.fast_ice_breakup_doy)


def draw_year_climate(rng: np.random.Generator) -> YearClimate:
    """Draw one year's melt calendar.

    Args:
        rng: the random generator (one draw per region-year).

    Returns:
        A :class:`YearClimate` with melt onset at sea level around mid-June (DOY 166 ± 8, within
        148–185) and 1–2.5 days later per 100 m; glacier freeze-up at sea level around DOY 265 ± 8 (within
        248–290) and 0.8–1.5 days earlier per 100 m; land melt lasting 14–28 days; fast ice from
        mid-December–early February until DOY 125–155.
    """
    onset = float(np.clip(rng.normal(166.0, 8.0), 148.0, 185.0))
    delay = float(rng.uniform(1.0, 2.5))
    freeze = float(np.clip(rng.normal(265.0, 8.0), 248.0, 290.0))
    land_melt = float(rng.uniform(14.0, 28.0))
    min_wet = land_melt + float(rng.uniform(20.0, 30.0))
    # Melt starts low and ends low: freeze-up must come earlier with elevation while even the highest
    # ice (~1500 m in Svalbard) keeps its minimum wet season. A year whose drawn freeze-up is too early
    # for that gets a later one, and the advance per 100 m is capped so the season never inverts.
    top = 15.0  # hundreds of metres
    freeze = max(freeze, onset + min_wet + top * (delay + 0.8))
    advance = min(float(rng.uniform(0.8, 1.5)), (freeze - onset - min_wet) / top - delay)
    return YearClimate(
        melt_onset_doy=onset,
        melt_delay_days_per_100m=delay,
        freeze_doy=freeze,
        freeze_advance_days_per_100m=advance,
        onset_ramp_days=float(rng.uniform(4.0, 10.0)),
        # Snow on glacier ice stays wet longer than on land (meltwater ponds on the impermeable ice and
        # refreezes as superimposed ice), so the glacier's dark wet-snow phase outlasts the land's.
        glacier_wet_snow_days=land_melt + float(rng.uniform(15.0, 30.0)),
        # Even high up, glaciers stay wet well beyond the land's spring melt (their signature).
        min_glacier_wet_days=min_wet,
        refreeze_days=float(rng.uniform(10.0, 36.0)),
        land_melt_days=land_melt,
        land_recover_days=float(rng.uniform(3.0, 8.0)),
        debris_melt_days=land_melt + float(rng.uniform(5.0, 15.0)),
        debris_onset_shift_days=float(rng.uniform(-5.0, 5.0)),
        onset_jitter_days=float(rng.uniform(2.0, 5.0)),
        fast_ice_form_doy=float(rng.uniform(-20.0, 40.0)),
        fast_ice_breakup_doy=float(rng.uniform(125.0, 155.0)),
        snowfall_prob=float(rng.uniform(0.2, 0.6)),
    )


# ---------------------------------------------------------------------------------------------------------
# Per-scene levels.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeasonLevels:
    """Co-pol gamma0 (dB) of one surface facies in each seasonal state of one scene."""

    winter: float
    melt: float
    late: float

    def get(self, season: str) -> float:
        """The level of ``season`` (one of :data:`SEASONS`)."""
        return float(getattr(self, season))


@dataclass(frozen=True)
class CoherenceLevels:
    """True 12-day coherence levels of one scene (each inside :data:`COHERENCE_RANGES`)."""

    glacier_winter: float
    glacier_summer: float
    glacier_margin_bonus: float  # slow marginal ice keeps more coherence
    debris_winter: float
    debris_summer: float
    snow_patch_winter: float
    snow_patch_summer: float
    land_winter: float
    land_snowfall_drop: float  # how much a snowfall/drift event lowers winter land coherence
    land_melt: float  # wet melting snow on land decorrelates
    land_summer: float
    water: float
    sea_ice: float
    static_texture: float  # std of the per-scene field (bare rock vs vegetation, crevasse fields)
    date_texture: float  # std of the per-date field
    date_jitter: float  # std of the per-date shift of each class level


@dataclass(frozen=True)
class SurfaceLevels:
    """Everything one scene (one simulated region-year) draws about its surfaces.

    The levels are the scene's *central* values; the maps add smooth texture around them and clip softly
    to the documented ranges. All fields are immutable values (floats, tuples, frozen dataclasses), so
    the object is hashable and compares by value.

    Attributes:
        accumulation: firn / percolation zone above the ELA (dB per season).
        ablation: glacier ice below the ELA.
        debris: debris-covered glacier tongues.
        land: tundra, moraine, scree, bedrock.
        snow_patch: perennial snow patches.
        sea_db: the scene's mean open-sea level, dB; each date adds a wind anomaly.
        water_date_std_db: standard deviation of that wind anomaly from date to date, dB.
        water_wind_field_db: standard deviation of the smooth within-date wind field (sheltered bays,
            wind streaks), dB.
        lake_offset_db: lakes relative to the sea on the same date (less fetch: calmer, darker), dB.
        sea_ice_db: fast sea ice level, dB.
        melange_db: ice mélange level in front of glacier fronts, dB.
        melange_width_m: how far from glacier ice the mélange reaches into the sea, metres.
        static_texture_db: standard deviation of the smooth per-scene texture of every class, dB.
        texture_corr_m: correlation length of the per-scene and per-date textures, metres.
        date_texture_db: standard deviation of the smooth texture drawn anew on every date, dB.
        fine_texture_land_db: standard deviation of the fine (30–60 m) texture of land and debris, dB.
        fine_texture_glacier_db: the same for bare ice (crevasses, melt channels); scaled down on firn.
        ela_jitter_m: standard deviation of the smooth field added to the ELA (an irregular snowline).
        facies_width_m: elevation width of the accumulation/ablation transition, metres.
        margin_width_m: width of the glacier margin zone that partly looks like the land around it.
        margin_blend: how much of the land signature the outermost glacier pixels take (0–1).
        crosspol_offset_db: class name -> dB below co-pol, as ``(name, value)`` pairs.
        nesz_db: flat cross-pol noise floor, dB.
        coherence: the scene's coherence levels.
        texture_seed: seed of the fields that stay the same on every date of the scene.
    """

    accumulation: SeasonLevels
    ablation: SeasonLevels
    debris: SeasonLevels
    land: SeasonLevels
    snow_patch: SeasonLevels
    sea_db: float
    water_date_std_db: float
    water_wind_field_db: float
    lake_offset_db: float
    sea_ice_db: float
    melange_db: float
    melange_width_m: float
    static_texture_db: float
    texture_corr_m: float
    date_texture_db: float
    fine_texture_land_db: float
    fine_texture_glacier_db: float
    ela_jitter_m: float
    facies_width_m: float
    margin_width_m: float
    margin_blend: float
    crosspol_offset_db: tuple[tuple[str, float], ...]
    nesz_db: float
    coherence: CoherenceLevels
    texture_seed: int

    def facies(self, name: str) -> SeasonLevels:
        """The :class:`SeasonLevels` of a facies named as in :data:`COPOL_RANGES_DB`."""
        return getattr(self, name)

    def crosspol_offset(self, name: str) -> float:
        """dB by which cross-pol lies below co-pol for a class named as in
        :data:`CROSSPOL_OFFSET_RANGES_DB`."""
        return dict(self.crosspol_offset_db)[name]


def _inner_uniform(rng: np.random.Generator, lo: float, hi: float, margin: float = 0.15) -> float:
    """Uniform draw inside ``[lo, hi]`` but ``margin`` of the width away from its ends.

    The scene level is the centre of a textured field that is soft-clipped to ``[lo, hi]``; keeping the
    centre off the ends leaves room for the texture, so fields do not pile up against a range end.
    """
    width = hi - lo
    return float(rng.uniform(lo + margin * width, hi - margin * width))


def draw_surface_levels(rng: np.random.Generator) -> SurfaceLevels:
    """Draw one scene's surface levels inside the documented ranges.

    Args:
        rng: the random generator (one draw per scene, i.e. per region-year).

    Returns:
        :class:`SurfaceLevels`: every class/season co-pol level uniform in the inner 70 % of its range of
        :data:`COPOL_RANGES_DB`; open water in −27…−18 dB with a date-to-date wind std of 2.5–4.5 dB;
        fast ice and mélange in the inner 70 % of −20…−12 dB; smooth textures (std) of 1.5–2.5 dB per
        scene and 0.4–1 dB per date (scaled by 0.6 on firn and snow, 0.8 on bare ice and sea ice) with
        correlation lengths of 200–600 m, plus 1–2 dB of fine (30–60 m) texture on land and debris;
        coherence levels inside :data:`COHERENCE_RANGES`; cross-pol offsets inside
        :data:`CROSSPOL_OFFSET_RANGES_DB`.
    """

    def season_levels(name: str) -> SeasonLevels:
        ranges = COPOL_RANGES_DB[name]
        return SeasonLevels(*(_inner_uniform(rng, *ranges[s]) for s in SEASONS))

    facies = {name: season_levels(name) for name in COPOL_RANGES_DB}
    coherence = CoherenceLevels(
        glacier_winter=float(rng.uniform(0.1, 0.28)),
        glacier_summer=float(rng.uniform(0.06, 0.15)),
        glacier_margin_bonus=float(rng.uniform(0.03, 0.1)),
        debris_winter=float(rng.uniform(0.15, 0.3)),
        debris_summer=float(rng.uniform(0.08, 0.17)),
        snow_patch_winter=float(rng.uniform(0.1, 0.3)),
        snow_patch_summer=float(rng.uniform(0.06, 0.15)),
        land_winter=float(rng.uniform(0.32, 0.45)),
        land_snowfall_drop=float(rng.uniform(0.08, 0.2)),
        land_melt=float(rng.uniform(0.2, 0.3)),
        land_summer=float(rng.uniform(0.5, 0.72)),
        water=float(rng.uniform(0.0, 0.08)),
        sea_ice=float(rng.uniform(0.1, 0.25)),
        static_texture=float(rng.uniform(0.03, 0.08)),
        date_texture=float(rng.uniform(0.02, 0.05)),
        date_jitter=float(rng.uniform(0.02, 0.04)),
    )
    crosspol = tuple(
        (name, float(rng.uniform(lo, hi))) for name, (lo, hi) in CROSSPOL_OFFSET_RANGES_DB.items()
    )
    return SurfaceLevels(
        **facies,
        sea_db=float(rng.uniform(-27.0, -18.0)),
        water_date_std_db=float(rng.uniform(2.5, 4.5)),
        water_wind_field_db=float(rng.uniform(0.8, 2.0)),
        lake_offset_db=float(rng.uniform(-4.0, 0.0)),
        sea_ice_db=_inner_uniform(rng, *SEA_ICE_RANGE_DB),
        melange_db=_inner_uniform(rng, *SEA_ICE_RANGE_DB),
        melange_width_m=float(rng.uniform(100.0, 400.0)),
        static_texture_db=float(rng.uniform(1.5, 2.5)),
        texture_corr_m=float(rng.uniform(200.0, 600.0)),
        date_texture_db=float(rng.uniform(0.4, 1.0)),
        fine_texture_land_db=float(rng.uniform(1.0, 2.0)),
        fine_texture_glacier_db=float(rng.uniform(0.8, 1.5)),
        ela_jitter_m=float(rng.uniform(20.0, 60.0)),
        facies_width_m=float(rng.uniform(15.0, 40.0)),
        margin_width_m=float(rng.uniform(30.0, 80.0)),
        margin_blend=float(rng.uniform(0.2, 0.6)),
        crosspol_offset_db=crosspol,
        nesz_db=float(rng.uniform(*NESZ_RANGE_DB)),
        coherence=coherence,
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


# ---------------------------------------------------------------------------------------------------------
# Spatial helpers (numpy only).
# ---------------------------------------------------------------------------------------------------------


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], corr_px: float, count: int = 1
) -> np.ndarray:
    """Smooth Gaussian random fields with zero mean and unit variance.

    White noise is filtered with a Gaussian kernel (via ``numpy.fft``) on a grid coarser than the output
    by about a third of the correlation length, then interpolated bilinearly to ``shape``: the fields are
    low-frequency anyway, and the coarse grid makes a 1000 x 1000 field cost a few milliseconds. The
    coarse grid is padded by two correlation lengths so the FFT's wrap-around does not tie opposite edges.

    Args:
        rng: random generator.
        shape: (H, W) of the output, pixels.
        corr_px: standard deviation of the Gaussian smoothing kernel, output pixels (> 0).
        count: how many independent fields.

    Returns:
        (count, H, W) float32, each field with about zero mean and unit standard deviation over the grid.
    """
    h, w = shape
    step = max(1, int(corr_px / 3.0))
    sigma = corr_px / step
    pad = math.ceil(2.0 * sigma) + 1
    hc = h // step + 2 + 2 * pad
    wc = w // step + 2 + 2 * pad
    noise = rng.standard_normal((count, hc, wc), dtype=np.float32)
    fy = np.fft.fftfreq(hc)[:, None]
    fx = np.fft.rfftfreq(wc)[None, :]
    kernel = np.exp(-2.0 * (math.pi * sigma) ** 2 * (fy**2 + fx**2)).astype(np.float32)
    coarse = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(hc, wc)).astype(np.float32)
    # Normalise on the coarse cells the output covers (cheaper than on the output, and bilinear
    # interpolation of a field this smooth changes its variance by a percent or two at most).
    inner = coarse[:, pad : pad + h // step + 2, pad : pad + w // step + 2]
    mean = inner.mean(axis=(1, 2), keepdims=True)
    std = inner.std(axis=(1, 2), keepdims=True)
    coarse = (coarse - mean) / np.where(std > 0, std, 1.0)
    # Output pixel centres in coarse-grid coordinates (coarse cell k covers output pixels k*step..).
    yc = (np.arange(h, dtype=np.float32) + 0.5) / step - 0.5 + pad
    xc = (np.arange(w, dtype=np.float32) + 0.5) / step - 0.5 + pad
    y0 = np.floor(yc).astype(np.intp)
    x0 = np.floor(xc).astype(np.intp)
    ty = (yc - y0)[None, :, None]
    tx = (xc - x0)[None, None, :]
    # One field at a time, in place: a full-size temporary per field instead of several per stack.
    out = np.empty((count, h, w), dtype=np.float32)
    for i in range(count):
        rows = coarse[i, y0, :] * (1.0 - ty[0]) + coarse[i, y0 + 1, :] * ty[0]
        np.multiply(rows[:, x0], 1.0 - tx[0], out=out[i])
        out[i] += rows[:, x0 + 1] * tx[0]
    return out


def box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1) x (2r+1) window around each pixel (edges replicated), via an integral image.

    Args:
        values: (H, W) array (bool or numeric).
        radius: window half-width, pixels (0 returns a float copy).

    Returns:
        (H, W) float32 window means.
    """
    v = np.asarray(values, dtype=np.float64)
    if radius <= 0:
        return v.astype(np.float32)
    padded = np.pad(v, radius + 1, mode="edge")
    padded[0, :] = 0.0
    padded[:, 0] = 0.0
    ii = padded.cumsum(axis=0).cumsum(axis=1)
    k = 2 * radius + 1
    h, w = v.shape
    s = ii[k : k + h, k : k + w] - ii[0:h, k : k + w] - ii[k : k + h, 0:w] + ii[0:h, 0:w]
    return (s / (k * k)).astype(np.float32)


def psf_smooth(values: np.ndarray) -> np.ndarray:
    """Apply the 3 x 3 separable point-spread function :data:`PSF_SIDE_WEIGHT` (edges replicated).

    Args:
        values: (H, W) float array.

    Returns:
        (H, W) float32, same mean as ``values`` on homogeneous areas.
    """
    a = PSF_SIDE_WEIGHT
    norm = np.float32(1.0 / (1.0 + 2.0 * a))
    p = np.pad(np.asarray(values, dtype=np.float32), 1, mode="edge")
    rows = (p[:-2, :] * a + p[1:-1, :] + p[2:, :] * a) * norm
    return ((rows[:, :-2] * a + rows[:, 1:-1] + rows[:, 2:] * a) * norm).astype(np.float32)


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (the last partial blocks are padded by replicating edges).

    Args:
        values: (H, W) array.
        factor: block edge, pixels.

    Returns:
        (ceil(H / factor), ceil(W / factor)) float32.

    Raises:
        ValueError: ``factor`` is below 1.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    h, w = values.shape
    hb, wb = -(-h // factor), -(-w // factor)
    v = np.asarray(values, dtype=np.float32)
    if (hb * factor, wb * factor) != (h, w):
        v = np.pad(v, ((0, hb * factor - h), (0, wb * factor - w)), mode="edge")
    return v.reshape(hb, factor, wb, factor).mean(axis=(1, 3), dtype=np.float32)


def _soft_clip(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Squash ``x`` smoothly into ``(lo, hi)`` (tanh around the centre: no flat plateaus at the ends)."""
    c = 0.5 * (lo + hi)
    h = 0.5 * (hi - lo)
    return (c + h * np.tanh((x - c) / h)).astype(np.float32)


def _smoothstep(doy: float | np.ndarray, start: np.ndarray, duration: float) -> np.ndarray:
    """0 before ``start``, 1 after ``start + duration``, a smooth (C1) ramp between."""
    t = np.clip((doy - start) / max(duration, 1e-3), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def _doy(date: dt.date) -> float:
    return float(date.timetuple().tm_yday)


# ---------------------------------------------------------------------------------------------------------
# Scene-static fields (the same on every date of a scene).
# ---------------------------------------------------------------------------------------------------------

# Keys of the independent generators spawned from SurfaceLevels.texture_seed.
_SEED_CALENDAR, _SEED_TEXTURE, _SEED_FINE, _SEED_COHERENCE, _SEED_SNOWBED = 1, 2, 3, 4, 5

# Order of the per-class texture fields in the static and per-date stacks, and how strong each class's
# texture is relative to the scene's: firn and snow are smoother than moraine and tundra.
_TEXTURE_CLASSES = ("accumulation", "ablation", "debris", "land", "snow_patch", "water")
_TEXTURE_SCALE = {
    "accumulation": 0.6,
    "ablation": 0.8,
    "debris": 1.0,
    "land": 1.0,
    "snow_patch": 0.6,
    "water": 0.8,
}


def _static_rng(levels: SurfaceLevels, key: int) -> np.random.Generator:
    return np.random.default_rng([levels.texture_seed, key])


@dataclass
class _SceneFields:
    """Per-scene maps derived once per call from the landscape and the scene's texture seed."""

    onset_jitter: np.ndarray  # (H, W) unit field: melt onset / freeze-up jitter
    snowbed: np.ndarray  # (H, W) unit field: where snow lies longer on land (drifts, lee slopes)
    breakup_jitter: np.ndarray  # (H, W) unit field: fast-ice break-up jitter
    acc_weight: np.ndarray  # (H, W) 0..1, accumulation facies share of a glacier pixel
    margin: np.ndarray  # (H, W) 0..1, 1 at a glacier's land margin, 0 inside
    front: np.ndarray  # (H, W) 0..1, sea pixels near calving fronts (mélange zone)
    texture: np.ndarray  # (len(_TEXTURE_CLASSES), H, W) unit fields
    fine: np.ndarray  # (H, W) unit field, 30–60 m


def _scene_fields(landscape: Landscape, levels: SurfaceLevels) -> _SceneFields:
    shape = landscape.shape
    px = landscape.pixel_size
    surface = landscape.surface
    cal = smooth_field(_static_rng(levels, _SEED_CALENDAR), shape, 1500.0 / px, count=3)
    texture = smooth_field(
        _static_rng(levels, _SEED_TEXTURE),
        shape,
        levels.texture_corr_m / px,
        count=len(_TEXTURE_CLASSES),
    )
    fine_rng = _static_rng(levels, _SEED_FINE)
    fine = smooth_field(fine_rng, shape, float(fine_rng.uniform(30.0, 60.0)) / px)[0]
    snowbed = smooth_field(_static_rng(levels, _SEED_SNOWBED), shape, 200.0 / px)[0]

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
    return _SceneFields(
        onset_jitter=cal[0],
        breakup_jitter=cal[2],
        snowbed=snowbed,
        acc_weight=acc_weight.astype(np.float32),
        margin=margin.astype(np.float32),
        front=front.astype(np.float32),
        texture=texture,
        fine=fine,
    )


# ---------------------------------------------------------------------------------------------------------
# Seasonal state.
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Season:
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


def _season(
    landscape: Landscape, doy: float, climate: YearClimate, fields: _SceneFields
) -> _Season:
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
    return _Season(
        glacier_wet=glacier_wet,
        glacier_late=glacier_late,
        land_thawed=land_on,
        land_snowfree=land_snowfree,
        debris_thawed=debris_on,
        debris_snowfree=debris_snowfree,
    )


# ---------------------------------------------------------------------------------------------------------
# Co-pol backscatter.
# ---------------------------------------------------------------------------------------------------------


def _facies_maps(
    name: str,
    levels: SurfaceLevels,
    texture_db: np.ndarray,
) -> dict[str, np.ndarray]:
    """The three seasonal dB maps of one facies: level + texture, soft-clipped to the documented range."""
    lv = levels.facies(name)
    ranges = COPOL_RANGES_DB[name]
    return {s: _soft_clip(lv.get(s) + texture_db, *ranges[s]) for s in SEASONS}


def _blend(maps: dict[str, np.ndarray], wet: np.ndarray, summer_weight: np.ndarray) -> np.ndarray:
    """winter -> (wet snow -> late summer) -> winter, in dB, with the given weights."""
    summer = maps["melt"] + summer_weight * (maps["late"] - maps["melt"])
    return maps["winter"] + wet * (summer - maps["winter"])


def _mean_gamma0_db(
    landscape: Landscape,
    doy: float,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    fields: _SceneFields,
    season: _Season,
) -> np.ndarray:
    shape = landscape.shape
    px = landscape.pixel_size
    surface = landscape.surface
    date_tex = smooth_field(rng, shape, levels.texture_corr_m / px, count=len(_TEXTURE_CLASSES))

    def texture(name: str, sel: np.ndarray | EllipsisType) -> np.ndarray:
        """Static + per-date texture (dB) of one class at the selected pixels (``...``: all)."""
        i = _TEXTURE_CLASSES.index(name)
        static, date = fields.texture[i][sel], date_tex[i][sel]
        return _TEXTURE_SCALE[name] * (
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
    fields: _SceneFields,
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
    out[is_sea] = _soft_clip(sea_level + wind[is_sea], lo, hi)
    out[is_lake] = _soft_clip(lake_level + wind[is_lake], lo, hi)

    # Fast ice: sheltered fjord heads until break-up, which comes a few days apart across the fjord.
    fast = landscape.fast_ice & is_sea
    if fast.any():
        local_breakup = climate.fast_ice_breakup_doy + 5.0 * fields.breakup_jitter
        if climate.fast_ice_form_doy <= 0:
            present = (doy >= 365.0 + climate.fast_ice_form_doy) | (doy < local_breakup)
        else:
            present = (doy >= climate.fast_ice_form_doy) & (doy < local_breakup)
        sel = fast & present
        out[sel] = _soft_clip(levels.sea_ice_db + ice_texture_db[sel], *SEA_ICE_RANGE_DB)

    # Ice mélange: calved ice in front of glacier fronts in the open-water season, patchy and changing.
    if fields.front.any():
        open_season = (doy >= climate.fast_ice_breakup_doy) & (doy < climate.freeze_doy + 20.0)
        if open_season:
            cover = rng.uniform(0.0, 1.0)
            patches = smooth_field(rng, landscape.shape, 60.0 / px)[0]
            # Cover fraction of the front zone where the patch field exceeds a threshold.
            weight = fields.front * np.clip(patches + 2.0 * cover - 1.0, 0.0, 1.0)
            sel = is_sea & (weight > 0)
            melange = _soft_clip(levels.melange_db + ice_texture_db[sel], *SEA_ICE_RANGE_DB)
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
    fields = _scene_fields(landscape, levels)
    doy = _doy(date)
    season = _season(landscape, doy, climate, fields)
    return _mean_gamma0_db(landscape, doy, climate, levels, rng, fields, season)


# ---------------------------------------------------------------------------------------------------------
# Cross-pol.
# ---------------------------------------------------------------------------------------------------------


def _cross_pol_db(
    copol_db: np.ndarray,
    landscape: Landscape,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    acc_weight: np.ndarray,
) -> np.ndarray:
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
    fields = _scene_fields(landscape, levels)
    return _cross_pol_db(copol_db, landscape, levels, rng, fields.acc_weight)


# ---------------------------------------------------------------------------------------------------------
# Speckle.
# ---------------------------------------------------------------------------------------------------------


def speckle_power(
    mean_power: np.ndarray, rng: np.random.Generator, looks: float = 4.5
) -> np.ndarray:
    """Speckled intensity: the mean power times Gamma noise, seen through the 3 x 3 point-spread function.

    Physically, the image is the PSF convolved with (signal x speckle). The noise is drawn as Gamma with
    shape ``L_gen = looks * sum(PSF^2)`` (about 1 for 4.5 looks: single-look exponential intensity) and mean
    1, multiplied by ``mean_power`` and then smoothed by the PSF, so the result has ``looks`` equivalent
    looks at 10 m over homogeneous areas, neighbouring pixels are correlated (lag-1 ≈ 0.5) like GRD-H
    data with ~20 m resolution, and boundaries between surfaces are blurred by one pixel. The dB image is
    ``10 log10`` of this power (log-Gamma statistics, negatively skewed), never Gaussian noise in dB.

    Args:
        mean_power: (H, W) linear gamma0 (not dB), >= 0.
        rng: random generator.
        looks: equivalent number of looks at 10 m (4–5 for HyP3 RTC from IW GRD-H).

    Returns:
        (H, W) float32 linear speckled gamma0; its expected value is the PSF-smoothed ``mean_power``.

    Raises:
        ValueError: ``looks`` is not positive.
    """
    if looks <= 0:
        raise ValueError(f"looks must be positive, got {looks}")
    l_gen = looks * _psf_sum_sq()
    noise = rng.standard_gamma(l_gen, size=mean_power.shape, dtype=np.float32)
    noise *= np.float32(1.0 / l_gen)
    return psf_smooth(noise * np.asarray(mean_power, dtype=np.float32))


def equivalent_looks(power: np.ndarray) -> float:
    """ENL = mean^2 / variance of linear intensity over a homogeneous area."""
    p = np.asarray(power, dtype=np.float64)
    return float(p.mean() ** 2 / p.var())


# ---------------------------------------------------------------------------------------------------------
# Coherence.
# ---------------------------------------------------------------------------------------------------------


def _true_coherence(
    landscape: Landscape,
    doy: float,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    fields: _SceneFields,
    season: _Season,
    season_next: _Season,
) -> np.ndarray:
    c = levels.coherence
    surface = landscape.surface
    px = landscape.pixel_size
    shape = landscape.shape
    static = smooth_field(_static_rng(levels, _SEED_COHERENCE), shape, 400.0 / px)[0]
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
    fields = _scene_fields(landscape, levels)
    doy = _doy(date)
    season = _season(landscape, doy, climate, fields)
    season_next = _season(landscape, doy + 12.0, climate, fields)
    return _true_coherence(landscape, doy, climate, levels, rng, fields, season, season_next)


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


# ---------------------------------------------------------------------------------------------------------
# One acquisition.
# ---------------------------------------------------------------------------------------------------------


def simulate_acquisition(
    landscape: Landscape,
    date: dt.date,
    climate: YearClimate,
    levels: SurfaceLevels,
    rng: np.random.Generator,
    *,
    looks: float = 4.5,
    coherence_looks: int = 20,
    coherence_factor: int = 4,
) -> dict[str, np.ndarray]:
    """Simulate everything one acquisition date gives, sharing the per-scene work between products.

    Args:
        landscape: the simulated ground (10 m grid, shape (H, W)).
        date: acquisition date (the coherence pair is this date and 12 days later).
        climate: the year's melt calendar.
        levels: the scene's levels.
        rng: random generator; the same state gives the same arrays.
        looks: equivalent looks of the 10 m backscatter.
        coherence_looks: looks of the coherence estimator.
        coherence_factor: coarse coherence pixel edge in 10 m pixels.

    Returns:
        A dict of float32 arrays:

        * ``mean_copol_db`` (H, W): noise-free co-pol gamma0, dB (no PSF);
        * ``copol`` (H, W): speckled co-pol gamma0, linear power;
        * ``crosspol`` (H, W): speckled cross-pol gamma0, linear power;
        * ``coherence`` (ceil(H / f), ceil(W / f)): estimated 12-day coherence in [0, 1], 40 m by default.
    """
    fields = _scene_fields(landscape, levels)
    doy = _doy(date)
    season = _season(landscape, doy, climate, fields)
    copol_db = _mean_gamma0_db(landscape, doy, climate, levels, rng, fields, season)
    cross_db = _cross_pol_db(copol_db, landscape, levels, rng, fields.acc_weight)
    copol = speckle_power(np.power(10.0, copol_db / 10.0, dtype=np.float32), rng, looks)
    crosspol = speckle_power(np.power(10.0, cross_db / 10.0, dtype=np.float32), rng, looks)
    season_next = _season(landscape, doy + 12.0, climate, fields)
    gamma = _true_coherence(landscape, doy, climate, levels, rng, fields, season, season_next)
    coherence = sample_coherence(block_mean(gamma, coherence_factor), rng, coherence_looks)
    return {
        "mean_copol_db": copol_db,
        "copol": copol,
        "crosspol": crosspol,
        "coherence": coherence,
    }
