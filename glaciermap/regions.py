"""Regions: where glaciermap works, and the tile grid every stage shares.

A region is a projected CRS, an area of interest (AOI) and a square tile grid. Tiles are ``tile_size``
metres wide with edges on ``origin + k * tile_size``; a tile's id is ``<PREFIX>-<col>-<row>`` with
``col = (minx - x0) / tile_size`` and ``row = (miny - y0) / tile_size``. For the built-in ``svalbard``
region this reproduces the tile codenames of the grid published with Maslov et al. (IGARSS 2024):
``SVAL-7-33`` spans x 400–410 km, y 8730–8740 km in EPSG:32633.

Built-in regions live in :data:`BUILTIN_REGIONS`; users add or adjust regions in ``glaciermap.toml``
(see :mod:`glaciermap.config`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from glaciermap.errors import ConfigError, InputError

if TYPE_CHECKING:
    import geopandas as gpd
    from affine import Affine

Bounds = tuple[float, float, float, float]
"""(minx, miny, maxx, maxy) in the region's CRS, metres."""


def north_up_transform(bounds: Bounds, pixel_size: float) -> Affine:
    """The affine transform of a north-up grid of square ``pixel_size`` pixels whose top-left corner is
    the top-left corner of ``bounds``."""
    from affine import Affine

    return Affine(pixel_size, 0.0, bounds[0], 0.0, -pixel_size, bounds[3])


Orbit = Literal["ascending", "descending"]
_TILE_ID = re.compile(r"^(?P<prefix>[A-Za-z0-9_]+)-(?P<col>-?\d+)-(?P<row>-?\d+)$")


@dataclass(frozen=True)
class Tile:
    """One square of a region's grid.

    Attributes:
        id: ``<PREFIX>-<col>-<row>``.
        col, row: grid indices counted from the region's origin (row grows northwards).
        bounds: (minx, miny, maxx, maxy) in the region's CRS, metres.
    """

    id: str
    col: int
    row: int
    bounds: Bounds


@dataclass(frozen=True)
class Region:
    """A named area with its CRS and tile grid.

    Attributes:
        name: the name users type (``--region svalbard``).
        crs: a projected CRS with metre units, e.g. ``"EPSG:32633"``.
        origin: grid origin (x0, y0) in metres; tile edges lie on ``x0 + k*tile_size``.
        tile_size: tile edge length in metres.
        pixel_size: analysis pixel size in metres (10 m for Sentinel-1 RTC).
        prefix: tile id prefix.
        aoi: bounds of the area of interest in ``crs``.
        aoi_wkt: optional AOI polygon (WKT, in ``crs``) when the AOI is not a rectangle.
        orbit: Sentinel-1 orbit direction used for this region.
        description: one line shown by ``glaciermap regions``.
    """

    name: str
    crs: str
    origin: tuple[float, float]
    tile_size: float
    pixel_size: float
    prefix: str
    aoi: Bounds
    orbit: Orbit = "ascending"
    aoi_wkt: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.tile_size <= 0 or self.pixel_size <= 0:
            raise ConfigError(f"region {self.name!r}: tile_size and pixel_size must be positive")
        ratio = self.tile_size / self.pixel_size
        if abs(ratio - round(ratio)) > 1e-9:
            raise ConfigError(
                f"region {self.name!r}: tile_size {self.tile_size} m is not a whole number of "
                f"{self.pixel_size} m pixels",
                "choose a tile_size that is a multiple of pixel_size",
            )
        minx, miny, maxx, maxy = self.aoi
        if not (minx < maxx and miny < maxy):
            raise ConfigError(f"region {self.name!r}: AOI bounds {self.aoi} are empty")
        if self.orbit not in ("ascending", "descending"):
            raise ConfigError(
                f"region {self.name!r}: orbit must be 'ascending' or 'descending', not {self.orbit!r}"
            )

    @property
    def tile_pixels(self) -> int:
        """Tile edge length in pixels (1000 for 10 km tiles at 10 m)."""
        return round(self.tile_size / self.pixel_size)

    def tile_id(self, col: int, row: int) -> str:
        return f"{self.prefix}-{col}-{row}"

    def tile(self, col: int, row: int) -> Tile:
        """The tile at grid position (col, row)."""
        x0, y0 = self.origin
        minx, miny = x0 + col * self.tile_size, y0 + row * self.tile_size
        return Tile(
            self.tile_id(col, row),
            col,
            row,
            (minx, miny, minx + self.tile_size, miny + self.tile_size),
        )

    def tile_from_id(self, tile_id: str) -> Tile:
        """Parse ``<PREFIX>-<col>-<row>`` back into a tile of this region."""
        match = _TILE_ID.match(tile_id)
        if match is None or match["prefix"] != self.prefix:
            raise InputError(
                f"{tile_id!r} is not a tile id of region {self.name!r}",
                f"tile ids look like {self.tile_id(0, 0)}",
            )
        return self.tile(int(match["col"]), int(match["row"]))

    def tile_at(self, x: float, y: float) -> Tile:
        """The tile containing point (x, y) in the region's CRS (edges belong to the tile above/right)."""
        x0, y0 = self.origin
        return self.tile(
            math.floor((x - x0) / self.tile_size), math.floor((y - y0) / self.tile_size)
        )

    def grid_extent(self) -> Bounds:
        """The AOI's bounds snapped outwards to tile edges, metres."""
        cols, rows = self._index_ranges()
        x0, y0 = self.origin
        return (
            x0 + cols.start * self.tile_size,
            y0 + rows.start * self.tile_size,
            x0 + cols.stop * self.tile_size,
            y0 + rows.stop * self.tile_size,
        )

    def _index_ranges(self) -> tuple[range, range]:
        x0, y0 = self.origin
        minx, miny, maxx, maxy = self.aoi
        ts = self.tile_size
        # A tile that only touches the AOI's edge is not part of it: floor on the low side, ceil-1 high.
        cols = range(math.floor((minx - x0) / ts), math.ceil((maxx - x0) / ts))
        rows = range(math.floor((miny - y0) / ts), math.ceil((maxy - y0) / ts))
        return cols, rows

    def iter_tiles(self) -> Iterator[Tile]:
        """Every tile whose interior meets the AOI, row by row from the south-west."""
        cols, rows = self._index_ranges()
        if self.aoi_wkt is None:
            for row in rows:
                for col in cols:
                    yield self.tile(col, row)
            return
        import shapely

        aoi = shapely.from_wkt(self.aoi_wkt)
        shapely.prepare(aoi)
        for row in rows:
            for col in cols:
                tile = self.tile(col, row)
                box = shapely.box(*tile.bounds)
                if aoi.intersects(box) and not aoi.touches(box):
                    yield tile

    def tiles(self) -> list[Tile]:
        """All tiles of the region (see :meth:`iter_tiles`)."""
        return list(self.iter_tiles())

    def tiles_frame(self) -> gpd.GeoDataFrame:
        """The grid as a GeoDataFrame (``tile_id``, ``col``, ``row``, geometry) in the region's CRS."""
        import geopandas as gpd
        import shapely

        tiles = self.tiles()
        return gpd.GeoDataFrame(
            {
                "tile_id": [t.id for t in tiles],
                "col": [t.col for t in tiles],
                "row": [t.row for t in tiles],
            },
            geometry=shapely.box(*zip(*(t.bounds for t in tiles), strict=True)),
            crs=self.crs,
        )


BUILTIN_REGIONS: dict[str, Region] = {
    "svalbard": Region(
        name="svalbard",
        crs="EPSG:32633",
        origin=(330_000.0, 8_400_000.0),
        tile_size=10_000.0,
        pixel_size=10.0,
        prefix="SVAL",
        # The extent of the tile grid published with Maslov et al. (IGARSS 2024).
        aoi=(400_000.0, 8_500_000.0, 850_000.0, 8_970_000.0),
        orbit="ascending",
        description="Svalbard archipelago, the paper's 10 km grid (UTM 33N)",
    ),
    "example": Region(
        name="example",
        crs="EPSG:32633",
        origin=(330_000.0, 8_400_000.0),
        tile_size=2_000.0,
        pixel_size=10.0,
        prefix="EXMP",
        # A 6 km x 6 km scene near Kongsfjorden; small 2 km tiles so the demo still crosses tile seams.
        aoi=(430_000.0, 8_752_000.0, 436_000.0, 8_758_000.0),
        orbit="ascending",
        description="the small offline scene in examples/ used by `make demo` (2 km tiles)",
    ),
    "synthetic": Region(
        name="synthetic",
        crs="EPSG:32633",
        origin=(330_000.0, 8_400_000.0),
        tile_size=10_000.0,
        pixel_size=10.0,
        prefix="SYNT",
        # 50 km x 40 km = 20 tiles of 10 km, for the simulated benchmark dataset (`glaciermap simulate`).
        aoi=(500_000.0, 8_650_000.0, 550_000.0, 8_690_000.0),
        orbit="ascending",
        description="20 simulated 10 km tiles: the one-scene benchmark of the ablation weights",
    ),
}
