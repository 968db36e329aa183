"""The merger's end of the sweep: blended rows become the probability and mask rasters.

:class:`~glaciermap.predict.sliding.RowBlender` hands finished rows, in order, to a
:class:`PredictionRows` sink. It streams them into two :class:`~glaciermap.io.raster.RowStream`\\ s of a
:class:`~glaciermap.io.raster.StreamedCogs` group: the probability (float32, NaN no data) and the mask
thresholded from it (uint8: 1 glacier, 0 not, 255 no data). Publishing the group turns both into COGs
under their final names together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glaciermap.io.raster import RowStream, StreamedCogs

PROBABILITY_NAME = "probability.tif"
MASK_NAME = "mask.tif"
MASK_NODATA = 255
PROBABILITY_DESCRIPTION = "glacier probability"
MASK_DESCRIPTION = "glacier"


class PredictionRows:
    """Sink ``(row0, values (n, W) float32, valid (n, W) bool)`` writing probability and mask rows.

    Args:
        cogs: the group the two rasters are published with (their names: :data:`PROBABILITY_NAME`,
            :data:`MASK_NAME`).
        width, height, crs, transform: the stack's grid.
        threshold: glacier where probability >= this.
    """

    def __init__(
        self,
        cogs: StreamedCogs,
        *,
        width: int,
        height: int,
        crs: Any,
        transform: Any,
        threshold: float,
    ) -> None:
        grid = {"width": width, "height": height, "crs": crs, "transform": transform}
        self.threshold = threshold
        self.probability: RowStream = cogs.add(
            PROBABILITY_NAME,
            dtype="float32",
            nodata=float("nan"),
            description=PROBABILITY_DESCRIPTION,
            **grid,
        )
        self.mask: RowStream = cogs.add(
            MASK_NAME, dtype="uint8", nodata=MASK_NODATA, description=MASK_DESCRIPTION, **grid
        )

    def __call__(self, row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        n = len(values)
        self.probability.reserve(row0, n)[...] = values
        # The mask straight into its stream's buffer: no temporary of the rows' size.
        masks = self.mask.reserve(row0, n)
        np.greater_equal(values, self.threshold, out=masks, casting="unsafe")
        masks[~valid] = MASK_NODATA
        self.probability.commit(n)
        self.mask.commit(n)


__all__ = [
    "MASK_DESCRIPTION",
    "MASK_NAME",
    "MASK_NODATA",
    "PROBABILITY_DESCRIPTION",
    "PROBABILITY_NAME",
    "PredictionRows",
]
