"""The melt calendar of one simulated year: when snow turns wet, when land is bare, when ice refreezes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
