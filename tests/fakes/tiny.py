"""The tests' tiny region: two 2 km tiles of the example region, in-process and as config TOML.

``TINY`` is the :class:`~glaciermap.regions.Region` for library calls; ``TINY_TOML`` declares the same
region in a ``glaciermap.toml`` for commands run through the CLI or in a fresh interpreter.
"""

from __future__ import annotations

import dataclasses

from glaciermap.regions import BUILTIN_REGIONS

AOI = (432_000.0, 8_754_000.0, 436_000.0, 8_756_000.0)
TINY = dataclasses.replace(BUILTIN_REGIONS["example"], name="tiny", prefix="TINY", aoi=AOI)
TINY_TOML = f"""\
[regions.tiny]
crs = "EPSG:32633"
aoi = [{", ".join(str(int(v)) for v in AOI)}]
origin = [330000, 8400000]
tile_size = 2000
prefix = "TINY"
orbit = "ascending"
"""
