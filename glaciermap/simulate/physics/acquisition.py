"""One acquisition date: every product a pass gives, with the per-scene work shared between them."""

from __future__ import annotations

import datetime as dt

import numpy as np

from glaciermap.simulate.landscape import Landscape
from glaciermap.simulate.physics.backscatter import (
    cross_pol_db_from_state,
    gamma0_db_from_state,
)
from glaciermap.simulate.physics.climate import YearClimate
from glaciermap.simulate.physics.coherence import sample_coherence, true_coherence_from_state
from glaciermap.simulate.physics.fields import block_mean
from glaciermap.simulate.physics.levels import SurfaceLevels
from glaciermap.simulate.physics.seasons import day_of_year, scene_fields, seasonal_state
from glaciermap.simulate.physics.speckle import speckle_power


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
    fields = scene_fields(landscape, levels)
    doy = day_of_year(date)
    season = seasonal_state(landscape, doy, climate, fields)
    copol_db = gamma0_db_from_state(landscape, doy, climate, levels, rng, fields, season)
    cross_db = cross_pol_db_from_state(copol_db, landscape, levels, rng, fields.acc_weight)
    copol = speckle_power(np.power(10.0, copol_db / 10.0, dtype=np.float32), rng, looks)
    crosspol = speckle_power(np.power(10.0, cross_db / 10.0, dtype=np.float32), rng, looks)
    season_next = seasonal_state(landscape, doy + 12.0, climate, fields)
    gamma = true_coherence_from_state(
        landscape, doy, climate, levels, rng, fields, season, season_next
    )
    coherence = sample_coherence(block_mean(gamma, coherence_factor), rng, coherence_looks)
    return {
        "mean_copol_db": copol_db,
        "copol": copol,
        "crosspol": crosspol,
        "coherence": coherence,
    }
