"""What C-band SAR shows of each surface class: the documented ranges, and one scene's levels inside them.

The tables are those of ``docs/SAR_SIGNATURES.md`` (co-pol gamma0 after RTC in dB, 12-day coherence,
cross-pol offsets); :func:`draw_surface_levels` draws one scene's :class:`SurfaceLevels` inside them, so no
level is the same from scene to scene and the ranges of the classes overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
