"""The value conventions of HyP3 product rasters: no-data values and the layover/shadow flags.

* HyP3 converts every GeoTIFF of an RTC product to a tiled, DEFLATE-compressed (cloud-optimised) GeoTIFF
  with the no-data value 0, and its browse scaling treats values <= 0 as no data. Backscatter, the
  incidence-angle map and the layover/shadow map therefore use **0 as no-data** here too (0 is also the
  ls_map code for "not tested"). Since hyp3-gamma 6.2.4 the DEM GeoTIFF carries **no** no-data value.
* Backscatter GeoTIFFs are float32 (one per polarisation), ls_map uint8, DEM int16 metres, incidence
  angle float32 radians. Layover and shadow pixels carry no data in the backscatter files.
* For INSAR_GAMMA products no source states the no-data value, so glaciermap follows its own convention
  for float rasters, **NaN**, in ``_corr``/``_amp``/``_unw_phase``; ``_water_mask`` is uint8 with
  0 = coastal water, 1 = everything else, and no no-data value.
"""

from __future__ import annotations

import math

import numpy as np

#: No-data value of RTC backscatter and incidence-angle GeoTIFFs (HyP3 sets 0 on every product GeoTIFF).
RTC_NODATA = 0.0
#: No-data value of the ls_map GeoTIFF: 0 is also the code for "not tested for layover or shadow".
LS_MAP_NODATA = 0
#: No-data value of INSAR float GeoTIFFs (unconfirmed for real HyP3 products; see the module docstring).
INSAR_NODATA = math.nan

#: ls_map bit flags; a pixel's value is the sum of the flags that apply.
LS_TESTED = 1
LS_LOOK_LT_SLOPE = 2
LS_LAYOVER = 4
LS_LOOK_LT_OPPOSITE_SLOPE = 8
LS_SHADOW = 16
LS_MAP_MAX = 31


def layover_shadow_mask(ls_map: np.ndarray) -> np.ndarray:
    """Pixels affected by layover or shadow, which carry no data in the backscatter files.

    Args:
        ls_map: (H, W) integer layover/shadow map (sums of the ``LS_*`` flags).

    Returns:
        (H, W) bool, True where the layover (4) or shadow (16) flag is set.
    """
    return (np.asarray(ls_map).astype(np.uint8) & (LS_LAYOVER | LS_SHADOW)) != 0


__all__ = [
    "INSAR_NODATA",
    "LS_LAYOVER",
    "LS_LOOK_LT_OPPOSITE_SLOPE",
    "LS_LOOK_LT_SLOPE",
    "LS_MAP_MAX",
    "LS_MAP_NODATA",
    "LS_SHADOW",
    "LS_TESTED",
    "RTC_NODATA",
    "layover_shadow_mask",
]
