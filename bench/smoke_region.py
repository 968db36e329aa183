"""The tiny region of the benchmarks' ``--smoke`` modes: two 2 km tiles of the example region.

Its figures mean nothing; it lets a smoke run go end to end in seconds. ``TOML`` declares the same
region for commands run in a fresh interpreter (``GLACIERMAP_CONFIG``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

NAME, PREFIX = "bench-tiny", "BTNY"
AOI = (432_000.0, 8_754_000.0, 436_000.0, 8_756_000.0)
TOML = f"""\
[regions.{NAME}]
crs = "EPSG:32633"
aoi = [{", ".join(str(int(v)) for v in AOI)}]
origin = [330000, 8400000]
tile_size = 2000
prefix = "{PREFIX}"
orbit = "ascending"
"""


def tiny_region() -> Any:
    """The example region cut down to :data:`AOI` (a :class:`glaciermap.regions.Region`)."""
    from glaciermap.regions import BUILTIN_REGIONS

    return dataclasses.replace(BUILTIN_REGIONS["example"], name=NAME, prefix=PREFIX, aoi=AOI)
