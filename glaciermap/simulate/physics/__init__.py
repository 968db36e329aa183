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

Modules: :mod:`.levels` (the tables and one scene's levels), :mod:`.climate` (one year's melt calendar),
:mod:`.seasons` (scene-static fields and the seasonal state of a day), :mod:`.backscatter` (co- and
cross-pol gamma0), :mod:`.speckle`, :mod:`.coherence`, :mod:`.fields` (numpy helpers) and
:mod:`.acquisition` (:func:`simulate_acquisition`, all of one date at once).
"""

from glaciermap.simulate.physics.acquisition import simulate_acquisition
from glaciermap.simulate.physics.backscatter import cross_pol_db, mean_gamma0_db
from glaciermap.simulate.physics.climate import YearClimate, draw_year_climate
from glaciermap.simulate.physics.coherence import (
    coherence_12day,
    expected_incoherent_estimate,
    sample_coherence,
    true_coherence,
)
from glaciermap.simulate.physics.fields import block_mean, box_mean, smooth_field
from glaciermap.simulate.physics.levels import (
    COHERENCE_RANGES,
    COPOL_RANGES_DB,
    CROSSPOL_OFFSET_RANGES_DB,
    NESZ_RANGE_DB,
    SEA_ICE_COHERENCE_RANGE,
    SEA_ICE_RANGE_DB,
    SEASONS,
    WATER_RANGE_DB,
    CoherenceLevels,
    SeasonLevels,
    SurfaceLevels,
    draw_surface_levels,
)
from glaciermap.simulate.physics.speckle import (
    PSF_SIDE_WEIGHT,
    equivalent_looks,
    psf_smooth,
    speckle_power,
)

__all__ = [
    "COHERENCE_RANGES",
    "COPOL_RANGES_DB",
    "CROSSPOL_OFFSET_RANGES_DB",
    "NESZ_RANGE_DB",
    "PSF_SIDE_WEIGHT",
    "SEASONS",
    "SEA_ICE_COHERENCE_RANGE",
    "SEA_ICE_RANGE_DB",
    "WATER_RANGE_DB",
    "CoherenceLevels",
    "SeasonLevels",
    "SurfaceLevels",
    "YearClimate",
    "block_mean",
    "box_mean",
    "coherence_12day",
    "cross_pol_db",
    "draw_surface_levels",
    "draw_year_climate",
    "equivalent_looks",
    "expected_incoherent_estimate",
    "mean_gamma0_db",
    "psf_smooth",
    "sample_coherence",
    "simulate_acquisition",
    "smooth_field",
    "speckle_power",
    "true_coherence",
]
