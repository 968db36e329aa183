"""The simulated ground truth: terrain, surface classes and glacier outlines on the region's 10 m grid.

The :class:`Landscape` dataclass is the contract between the landscape generator, the radar physics
(:mod:`glaciermap.simulate.physics`) and the acquisition geometry. This module makes landscapes two ways:

- :func:`procedural_landscape` invents a Svalbard-like scene for any rectangle: a coast with fjords,
  mountains from spectral (FFT) fractal noise, a dendritic valley network carved into them, valley glaciers
  filling the valleys whose heads stand above the ELA (tidewater glaciers calving into fjord heads,
  land-terminating ones with outwash plains, proglacial lakes and debris-covered tongues; tributaries
  merging or meeting along ice divides), cirque glaciers, perennial snow patches, tundra lakes, fast sea
  ice near calving fronts and in inner fjords and, on large scenes, a plateau ice cap with outlets. How many
  of each is set by :class:`LandscapeFeatures` (by default scaled with the area).
- :func:`landscape_from_outlines` puts the glaciers of a real inventory on the grid and invents terrain
  consistent with them (glaciers in valleys, sloping down to their fronts, valleys running on to the sea).

:func:`write_truth` writes a landscape's ground truth (outlines, DEM, land/sea mask, surface classes).

How a procedural scene is built (every random draw comes from the caller's generator in a fixed order, so
a seed always gives the same scene):

1. Three aligned grids share one origin: the scene grid (``pixel_size``), a *shape* grid 4x coarser that
   also covers a padding ring around the scene (valleys and glaciers may start outside the scene and reach
   into it), and a *planning* grid of at most ~300 cells a side for distance transforms and flow routing.
2. The sea is a noisy coastline across one side plus meandering fjords reaching inland. Mountains rise with
   the distance from the sea (a strandflat first), shaped by fractal and ridged noise.
3. Water is routed over the smoothed mountains (priority flood from the sea and the domain edge); where
   about 1 km² drains through a cell a valley starts, and each valley is followed up its largest branch to
   the divide. Each valley gets a concave long profile kept below the terrain along it, and a width that
   grows with its drainage area.
4. Glaciers: every drainage tree gets one terminus elevation below the ELA; ice starts at the heads that
   stand above the ELA and flows down the network, tributaries merging, until the floor falls to that
   elevation, or into the sea. The requested counts are then honoured by choosing which coastal trees calve
   (fjord heads first) and by giving other valleys a terminus on land (forcing a glaciated head, with its
   mountains raised, only when no natural one is available).
5. On the scene grid, each valley carves a U-shaped trough whose walls rise to the mountains from the level
   its ice fills; the ice surface is smooth, concave along the valley and gently convex across it, so it is
   gentler than the rock walls and meets them without cliffs. Margins are made irregular by noise at
   several scales. Where two ice bodies overlap the higher surface wins, which is where ice divides fall.
   Cirque glaciers, the ice cap, debris, lakes, snow patches and fast ice follow.
6. Outlines are vectorised from the final glacier-id raster, so they match the pixels exactly.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine

from glaciermap.errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd


class Surface(IntEnum):
    """Surface classes of the simulated ground (uint8 codes in :attr:`Landscape.surface`)."""

    LAND = 0  # tundra, moraine, scree, bedrock
    SEA = 1  # open water of fjords and the sea
    LAKE = 2  # lakes on land
    GLACIER = 3  # clean glacier ice and firn; facies follow elevation vs the ELA
    DEBRIS = 4  # debris-covered glacier tongue (part of a glacier)
    SNOW_PATCH = 5  # perennial snow patch: looks like glacier in places, is not one


@dataclass
class Landscape:
    """Everything the radar sees, on one north-up grid (the region's CRS, 10 m pixels).

    Attributes:
        crs: the region's CRS, e.g. ``"EPSG:32633"``.
        transform: affine transform of the grid (north-up, square pixels, metres).
        dem: (H, W) float32 elevation above sea level, metres (0 on the sea).
        surface: (H, W) uint8 :class:`Surface` codes.
        glacier_id: (H, W) int32 id of the glacier a pixel belongs to (GLACIER and DEBRIS pixels), else 0.
        fast_ice: (H, W) bool, sea pixels where fast sea ice forms in winter (sheltered fjord heads).
        outlines: the true glacier outlines as an inventory would give them: columns ``glacier_id``
            (int, matching :attr:`glacier_id`), ``glacier_name``, ``kind`` (``valley``, ``ice_cap``,
            ``tidewater``, ``small``, ...), Polygon/MultiPolygon geometry in :attr:`crs`.
        ela_m: equilibrium-line altitude, metres: accumulation facies above, ablation facies below.
    """

    crs: str
    transform: Affine
    dem: np.ndarray
    surface: np.ndarray
    glacier_id: np.ndarray
    fast_ice: np.ndarray
    outlines: gpd.GeoDataFrame
    ela_m: float

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return (int(self.dem.shape[0]), int(self.dem.shape[1]))

    @property
    def pixel_size(self) -> float:
        """Pixel edge length, metres."""
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in :attr:`crs`."""
        h, w = self.shape
        minx, maxy = self.transform.c, self.transform.f
        return (minx, maxy - h * self.pixel_size, minx + w * self.pixel_size, maxy)

    @property
    def is_glacier(self) -> np.ndarray:
        """(H, W) bool: GLACIER or DEBRIS."""
        return (self.surface == Surface.GLACIER) | (self.surface == Surface.DEBRIS)


KINDS = ("valley", "tidewater", "outlet", "ice_cap", "small")
"""Values of the ``kind`` column of :attr:`Landscape.outlines`.

``valley``: a land-terminating valley glacier (with its merged tributaries); ``tidewater``: any glacier whose
front meets the sea; ``outlet``: a land-terminating outlet glacier of an ice cap; ``ice_cap``: the cap itself;
``small``: a cirque or niche glacier (0.02–0.3 km² when placed whole in the scene)."""

LANDSEA_SEA, LANDSEA_LAND, LANDSEA_LAKE = 0, 1, 2
"""Codes of ``truth/landsea.tif``: 0 sea, 1 land (glaciers included, also where a tidewater tongue floats
over the sea), 2 lake."""

SNOW_PATCH_MAX_KM2 = 0.01
"""Perennial snow patches are always smaller than this (they are not glaciers)."""


@dataclass(frozen=True)
class LandscapeFeatures:
    """How many of each landscape element :func:`procedural_landscape` places.

    Counts are targets: the generator places as many as fit (cirque glaciers need high ground away from
    the glaciers, tidewater glaciers need coastal valleys), so a crowded scene may get fewer. Scenes of a few
    km or more reliably get at least one of each element whose count is at least one (the tests check the
    6 x 6 km ``example`` scene). :meth:`for_area` gives counts that scale with the area; adjust them with
    ``dataclasses.replace``.

    Attributes:
        sea: whether the scene has a coast at all. Without sea, the low side of the scene is tundra
            lowland, and there are no fjords, tidewater glaciers or fast ice.
        fjords: fjord arms reaching inland from the coast (tidewater glaciers calve at their heads first).
        tidewater_glaciers: glaciers calving into the sea in the scene. Other glaciers that happen to touch
            the sea are tidewater too; coastal valleys beyond this count end on land.
        valley_glaciers: land-terminating valley glaciers with their snout in the scene, at least (up to
            three are forced; more form wherever valley heads stand above the ELA).
        debris_tongues: land-terminating valley glaciers (largest first) with a debris-covered tongue.
        small_glaciers: cirque/niche glaciers of 0.02–0.3 km².
        snow_patches: perennial snow patches, each smaller than 0.01 km² (not glaciers).
        lakes: lakes on land: proglacial lakes in front of snouts first, then tundra lakes.
        ice_cap: a plateau ice cap on the ground furthest from the sea, with outlet glaciers.
    """

    sea: bool = True
    fjords: int = 1
    tidewater_glaciers: int = 1
    valley_glaciers: int = 2
    debris_tongues: int = 1
    small_glaciers: int = 2
    snow_patches: int = 4
    lakes: int = 2
    ice_cap: bool = False

    @classmethod
    def for_area(cls, width_m: float, height_m: float) -> LandscapeFeatures:
        """Counts that scale with the area of a ``width_m`` x ``height_m`` scene.

        A 6 x 6 km scene gets one fjord with a tidewater glacier, three valley glaciers (one with a debris
        tongue), a few small glaciers, snow patches and lakes; a 10 x 10 km tile about twice that; scenes at
        least 20 km across also get an ice cap.
        """
        area_km2 = max(width_m * height_m / 1e6, 1.0)
        fjords = int(min(4, 1 + area_km2 // 800))
        valleys = max(2, round(area_km2 / 12))
        return cls(
            sea=True,
            fjords=fjords,
            tidewater_glaciers=fjords + round(area_km2 / 600),
            valley_glaciers=valleys,
            debris_tongues=max(1, round(0.4 * valleys)),
            small_glaciers=max(2, round(area_km2 / 50)),
            snow_patches=max(3, round(area_km2 / 6)),
            lakes=max(2, round(area_km2 / 15)),
            ice_cap=min(width_m, height_m) >= 20_000,
        )

    def check(self) -> None:
        """Raise :class:`InputError` for counts that cannot be honoured."""
        counts = (
            self.fjords,
            self.tidewater_glaciers,
            self.valley_glaciers,
            self.debris_tongues,
            self.small_glaciers,
            self.snow_patches,
            self.lakes,
        )
        if min(counts) < 0:
            raise InputError(f"landscape feature counts must not be negative: {self}")
        if not self.sea and (self.fjords or self.tidewater_glaciers):
            raise InputError(
                "a landscape without sea cannot have fjords or tidewater glaciers",
                "set fjords=0 and tidewater_glaciers=0, or sea=True",
            )


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------


def procedural_landscape(
    bounds: tuple[float, float, float, float],
    crs: str,
    rng: np.random.Generator | int,
    *,
    pixel_size: float = 10.0,
    features: LandscapeFeatures | None = None,
) -> Landscape:
    """Invent a Svalbard-like landscape (terrain, sea, glaciers, lakes, snow patches) on a grid.

    Args:
        bounds: (minx, miny, maxx, maxy) of the scene in ``crs``, metres. The grid starts at (minx, maxy)
            and covers the bounds in whole pixels (rounded up).
        crs: a projected CRS with metre units, e.g. ``"EPSG:32633"``.
        rng: the random generator (or a seed); the same seed gives identical arrays and outlines.
        pixel_size: pixel edge length, metres.
        features: what to place; default :meth:`LandscapeFeatures.for_area` of the bounds.

    Returns:
        The :class:`Landscape`. Its ``outlines`` have ``glacier_id``, ``glacier_name``, ``kind`` (see
        :data:`KINDS`), ``area_km2`` and the polygons vectorised from :attr:`Landscape.glacier_id`.

    Raises:
        InputError: the bounds are empty or smaller than 32 pixels a side, or ``features`` is inconsistent.
    """
    generator = _as_generator(rng)
    grid = _Grid(bounds, pixel_size)
    wanted = features
    if wanted is None:
        wanted = LandscapeFeatures.for_area(grid.width * grid.ps, grid.height * grid.ps)
    wanted.check()
    return _ProceduralBuilder(grid, crs, generator, wanted).build()


def landscape_from_outlines(
    outlines: gpd.GeoDataFrame | str | os.PathLike[str],
    bounds: tuple[float, float, float, float],
    crs: str,
    rng: np.random.Generator | int,
    *,
    pixel_size: float = 10.0,
    sea_side: str | None = "auto",
) -> Landscape:
    """Put a real inventory's glaciers on the grid and invent terrain consistent with them.

    The outlines are reprojected to ``crs``, clipped to ``bounds`` and rasterised (pixel centres inside;
    ``glacier_id`` 1..n in the order of the outlines that meet the bounds; where outlines overlap the later
    one wins; a sliver that covers no pixel centre is left out, so ids may skip).

    The terrain is synthesised around them: each glacier's surface rises from its front (the end furthest
    towards the sea side, or along its long axis) to its head, with a concave profile that puts the ELA
    inside the glacier; rock walls rise from the ice edges to noise mountains, and a valley continues from
    each front down to the coast. Some larger glaciers get a debris-covered lowest tongue, some fronts a
    proglacial lake; snow patches and tundra lakes are sprinkled on the land.

    Sea: an inventory does not say where the sea is. With ``sea_side="auto"`` the sea is put along the side
    of the scene whose edge band holds (almost) no glacier ice, and kept at least 300 m from every glacier, so
    no inventory glacier becomes tidewater by accident; when every side has glaciers there is no sea. Give
    ``"north"``, ``"south"``, ``"east"`` or ``"west"`` to choose the side, or ``None`` for no sea.

    Args:
        outlines: a GeoDataFrame with a CRS, or a path that :func:`glaciermap.io.inventory.read_inventory`
            reads. Names come from its ``glacier_name`` (or ``name``) column.
        bounds: (minx, miny, maxx, maxy) of the scene in ``crs``, metres.
        crs: the grid's projected CRS.
        rng: the random generator (or a seed).
        pixel_size: pixel edge length, metres.
        sea_side: where the sea goes (see above).

    Returns:
        The :class:`Landscape`; its ``outlines`` are vectorised from the rasterised ids (so they match the
        pixels) and also carry ``source_id``, the inventory's ``glacier_id`` (or row number).

    Raises:
        InputError: no outline intersects the bounds ("outlines outside the region"), the frame has no
            CRS, the file cannot be read, or ``sea_side`` is not one of the values above.
    """
    generator = _as_generator(rng)
    grid = _Grid(bounds, pixel_size)
    if sea_side not in (None, "auto", "north", "south", "east", "west"):
        raise InputError(
            f"sea_side must be 'auto', 'north', 'south', 'east', 'west' or None, not {sea_side!r}"
        )
    frame = _load_outlines(outlines, crs)
    geoms, names, source_ids = _clip_outlines(frame, grid)
    return _OutlineBuilder(grid, crs, generator, geoms, names, source_ids).build(sea_side)


def landsea_mask(landscape: Landscape) -> np.ndarray:
    """(H, W) uint8: :data:`LANDSEA_LAND` (glaciers included), :data:`LANDSEA_SEA`, :data:`LANDSEA_LAKE`."""
    out = np.full(landscape.shape, LANDSEA_LAND, dtype=np.uint8)
    out[landscape.surface == Surface.SEA] = LANDSEA_SEA
    out[landscape.surface == Surface.LAKE] = LANDSEA_LAKE
    return out


def write_truth(landscape: Landscape, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a landscape's ground truth under ``out_dir/truth/``.

    Files (each written to a temporary name and renamed when complete):

    - ``outlines.gpkg``, layer ``glaciers``: ``glacier_id``, ``glacier_name``, ``kind``, ``area_km2``
      and valid Polygon/MultiPolygon geometries in the landscape's CRS;
    - ``dem.tif``: float32 COG, metres above sea level (0 on the sea);
    - ``landsea.tif``: uint8 COG, 0 sea, 1 land (glaciers included), 2 lake (see :func:`landsea_mask`);
    - ``surface.tif``: uint8 COG of :class:`Surface` codes.

    Args:
        landscape: what to write.
        out_dir: the scene folder; ``truth/`` is created in it.

    Returns:
        The written paths by name: ``outlines``, ``dem``, ``landsea``, ``surface``.
    """
    import shapely

    from glaciermap.io.files import atomic_output

    truth = Path(out_dir) / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    paths = {
        "outlines": truth / "outlines.gpkg",
        "dem": truth / "dem.tif",
        "landsea": truth / "landsea.tif",
        "surface": truth / "surface.tif",
    }
    frame = landscape.outlines[["glacier_id", "glacier_name", "kind", "geometry"]].copy()
    frame["area_km2"] = shapely.area(frame.geometry.values) / 1e6
    frame = frame[["glacier_id", "glacier_name", "kind", "area_km2", "geometry"]]
    with atomic_output(paths["outlines"]) as tmp:
        frame.to_file(tmp, layer="glaciers", driver="GPKG")
    codes = ", ".join(f"{s.value}={s.name}" for s in Surface)
    rasters = (
        ("dem", landscape.dem.astype(np.float32), {"units": "metre", "description": "elevation"}),
        ("landsea", landsea_mask(landscape), {"codes": "0=sea, 1=land incl. glaciers, 2=lake"}),
        ("surface", landscape.surface.astype(np.uint8), {"codes": codes}),
    )
    for name, values, tags in rasters:
        with atomic_output(paths[name]) as tmp:
            _write_cog(tmp, values, landscape, tags)
    return paths


# --------------------------------------------------------------------------------------------------
# Grids, noise, sampling and distances
# --------------------------------------------------------------------------------------------------


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    """The caller's generator, or a new one seeded with an int."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class _Grid:
    """The fine scene grid, and the shape and planning grids that share its origin.

    The shape grid has cells ``k = 4`` pixels wide and extends ``pad_cells`` cells beyond the scene on every
    side; the planning grid groups ``kp`` x ``kp`` shape cells (at most ~300 cells a side). Cell edges of all
    three grids line up, so a block of fine pixels maps onto whole coarse cells.
    """

    k = 4

    def __init__(self, bounds: tuple[float, float, float, float], pixel_size: float) -> None:
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        ps = float(pixel_size)
        if not (ps > 0 and maxx > minx and maxy > miny):
            raise InputError(f"empty scene bounds {bounds} or pixel size {pixel_size}")
        self.ps = ps
        self.minx, self.maxy = minx, maxy
        self.width = math.ceil((maxx - minx) / ps - 1e-6)
        self.height = math.ceil((maxy - miny) / ps - 1e-6)
        if min(self.width, self.height) < 32:
            raise InputError(
                f"scene of {self.width} x {self.height} pixels is too small for a landscape",
                "give bounds at least 32 pixels wide and high",
            )
        self.transform = Affine(ps, 0.0, minx, 0.0, -ps, maxy)
        self.cell = self.k * ps
        extent = max(self.width, self.height) * ps
        pad_m = min(max(0.3 * extent, 1500.0), 6000.0)
        self.kp = max(1, math.ceil((extent + 2 * pad_m) / (self.cell * 300)))
        self.plan_cell = self.cell * self.kp
        self.pad_cells = math.ceil(pad_m / self.plan_cell) * self.kp
        self.pad_m = self.pad_cells * self.cell
        nx = 2 * self.pad_cells + math.ceil(self.width / self.k)
        ny = 2 * self.pad_cells + math.ceil(self.height / self.k)
        self.nx = math.ceil(nx / self.kp) * self.kp
        self.ny = math.ceil(ny / self.kp) * self.kp
        self.x0 = minx - self.pad_m
        self.y1 = maxy + self.pad_m
        self.scene = (minx, maxy - self.height * ps, minx + self.width * ps, maxy)

    @property
    def plan_shape(self) -> tuple[int, int]:
        """(rows, columns) of the planning grid."""
        return (self.ny // self.kp, self.nx // self.kp)

    @property
    def domain(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) covered by the shape grid, metres."""
        return (self.x0, self.y1 - self.ny * self.cell, self.x0 + self.nx * self.cell, self.y1)

    def shape_xy(self, r0: int = 0, r1: int | None = None, c0: int = 0, c1: int | None = None):
        """1D cell-centre x (columns c0:c1) and y (rows r0:r1) of the shape grid, metres."""
        r1 = self.ny if r1 is None else r1
        c1 = self.nx if c1 is None else c1
        xs = self.x0 + (np.arange(c0, c1) + 0.5) * self.cell
        ys = self.y1 - (np.arange(r0, r1) + 0.5) * self.cell
        return xs, ys

    def window_at(
        self, bbox: tuple[float, float, float, float], cell: float
    ) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of the cells of size ``cell`` covering ``bbox`` plus one, clipped."""
        ny, nx = round(self.ny * self.cell / cell), round(self.nx * self.cell / cell)
        xmin, ymin, xmax, ymax = bbox
        c0 = max(0, math.floor((xmin - self.x0) / cell) - 1)
        c1 = min(nx, math.ceil((xmax - self.x0) / cell) + 1)
        r0 = max(0, math.floor((self.y1 - ymax) / cell) - 1)
        r1 = min(ny, math.ceil((self.y1 - ymin) / cell) + 1)
        return r0, max(r1, r0 + 2), c0, max(c1, c0 + 2)

    def coords_at(self, cell: float, r0: int, r1: int, c0: int, c1: int):
        """1D cell-centre x (columns c0:c1) and y (rows r0:r1) of the grid of cell size ``cell``."""
        xs = self.x0 + (np.arange(c0, c1) + 0.5) * cell
        ys = self.y1 - (np.arange(r0, r1) + 0.5) * cell
        return xs, ys

    def sample_at(
        self,
        values: np.ndarray,
        cell: float,
        origin: tuple[int, int],
        xs: np.ndarray,
        ys: np.ndarray,
    ) -> np.ndarray:
        """Bilinear samples of a window (starting at cell ``origin``) of the grid of size ``cell``."""
        qc = (xs - self.x0) / cell - 0.5 - origin[1]
        qr = (self.y1 - ys) / cell - 0.5 - origin[0]
        return _bilinear(values, qr, qc)

    def plan_xy(self):
        """1D cell-centre x and y of the planning grid, metres."""
        ny, nx = self.plan_shape
        xs = self.x0 + (np.arange(nx) + 0.5) * self.plan_cell
        ys = self.y1 - (np.arange(ny) + 0.5) * self.plan_cell
        return xs, ys

    def fine_xy(self, r0: int, r1: int, c0: int, c1: int):
        """1D pixel-centre x (columns c0:c1) and y (rows r0:r1) of the scene grid, metres."""
        xs = self.minx + (np.arange(c0, c1) + 0.5) * self.ps
        ys = self.maxy - (np.arange(r0, r1) + 0.5) * self.ps
        return xs, ys

    def fine_window(self, bbox: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of the scene pixels inside ``bbox`` (possibly empty)."""
        xmin, ymin, xmax, ymax = bbox
        c0 = min(max(0, math.floor((xmin - self.minx) / self.ps)), self.width)
        c1 = min(max(0, math.ceil((xmax - self.minx) / self.ps)), self.width)
        r0 = min(max(0, math.floor((self.maxy - ymax) / self.ps)), self.height)
        r1 = min(max(0, math.ceil((self.maxy - ymin) / self.ps)), self.height)
        return r0, max(r1, r0), c0, max(c1, c0)

    def sample_shape(
        self,
        values: np.ndarray,
        xs: np.ndarray,
        ys: np.ndarray,
        origin: tuple[int, int] = (0, 0),
        *,
        smooth: bool = False,
    ) -> np.ndarray:
        """Samples of a shape-grid array (whose [0, 0] is cell ``origin``) at xs x ys.

        Bilinear, or Catmull-Rom with ``smooth`` (for terrain that will be hillshaded).
        """
        qc = (xs - self.x0) / self.cell - 0.5 - origin[1]
        qr = (self.y1 - ys) / self.cell - 0.5 - origin[0]
        return _bicubic(values, qr, qc) if smooth else _bilinear(values, qr, qc)

    def sample_plan(self, values: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Bilinear samples of a planning-grid array at xs x ys."""
        qc = (xs - self.x0) / self.plan_cell - 0.5
        qr = (self.y1 - ys) / self.plan_cell - 0.5
        return _bilinear(values, qr, qc)

    def plan_points(self, values: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear values of a planning-grid array at points (x[i], y[i])."""
        ny, nx = values.shape
        qc = np.clip((np.asarray(x) - self.x0) / self.plan_cell - 0.5, 0, nx - 1)
        qr = np.clip((self.y1 - np.asarray(y)) / self.plan_cell - 0.5, 0, ny - 1)
        i0 = np.minimum(np.floor(qr).astype(np.intp), ny - 2)
        j0 = np.minimum(np.floor(qc).astype(np.intp), nx - 2)
        fr, fc = qr - i0, qc - j0
        top = values[i0, j0] * (1 - fc) + values[i0, j0 + 1] * fc
        bottom = values[i0 + 1, j0] * (1 - fc) + values[i0 + 1, j0 + 1] * fc
        return top * (1 - fr) + bottom * fr

    def plan_at(self, values: np.ndarray, x: float, y: float) -> float:
        """Bilinear value of a planning-grid array at one point."""
        return float(self.plan_points(values, np.array([x]), np.array([y]))[0])

    def plan_from_shape(self, values: np.ndarray) -> np.ndarray:
        """Block mean of a shape-grid array onto the planning grid."""
        ny, nx = self.plan_shape
        return values.reshape(ny, self.kp, nx, self.kp).mean(axis=(1, 3)).astype(np.float32)

    def plan_from_fine(self, mask: np.ndarray) -> np.ndarray:
        """Planning cells that hold at least one True pixel of a scene-grid mask."""
        ny, nx = self.plan_shape
        block = self.k * self.kp
        off = self.pad_cells // self.kp
        rows, cols = math.ceil(self.height / block), math.ceil(self.width / block)
        padded = np.zeros((rows * block, cols * block), dtype=bool)
        padded[: self.height, : self.width] = mask
        out = np.zeros((ny, nx), dtype=bool)
        out[off : off + rows, off : off + cols] = padded.reshape(rows, block, cols, block).any(
            axis=(1, 3)
        )
        return out

    def inside_scene(self, x: float, y: float, margin: float = 0.0) -> bool:
        """Whether (x, y) lies in the scene, at least ``margin`` metres from its edges."""
        minx, miny, maxx, maxy = self.scene
        return minx + margin <= x <= maxx - margin and miny + margin <= y <= maxy - margin

    def inside_domain(self, x: float, y: float, margin: float = 0.0) -> bool:
        """Whether (x, y) lies in the padded domain, at least ``margin`` metres from its edges."""
        minx, miny, maxx, maxy = self.domain
        return minx + margin <= x <= maxx - margin and miny + margin <= y <= maxy - margin


def _bilinear(values: np.ndarray, qr: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``values`` at fractional row indices ``qr`` x column indices ``qc``.

    Args:
        values: (ny, nx) array, at least 2 x 2.
        qr: (h,) fractional row indices; clamped to the array.
        qc: (w,) fractional column indices.

    Returns:
        (h, w) float32.
    """
    ny, nx = values.shape
    i0 = np.clip(np.floor(qr), 0, ny - 2).astype(np.intp)
    fr = np.clip(qr - i0, 0.0, 1.0).astype(np.float32)[:, None]
    j0 = np.clip(np.floor(qc), 0, nx - 2).astype(np.intp)
    fc = np.clip(qc - j0, 0.0, 1.0).astype(np.float32)
    src = values.astype(np.float32, copy=False)
    out = np.empty((len(qr), len(qc)), dtype=np.float32)
    # Row strips keep the (h, nx) intermediate small on large scenes.
    for s in range(0, len(qr), 1024):
        rows = (
            src[i0[s : s + 1024]] * (1 - fr[s : s + 1024])
            + src[i0[s : s + 1024] + 1] * fr[s : s + 1024]
        )
        out[s : s + 1024] = rows[:, j0] * (1 - fc) + rows[:, j0 + 1] * fc
    return out


def _cubic_weights(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Catmull-Rom weights of the four taps around fractional offsets ``f`` in [0, 1)."""
    f2, f3 = f * f, f * f * f
    return (
        (-0.5 * f3 + f2 - 0.5 * f),
        (1.5 * f3 - 2.5 * f2 + 1.0),
        (-1.5 * f3 + 2.0 * f2 + 0.5 * f),
        (0.5 * f3 - 0.5 * f2),
    )


def _bicubic(values: np.ndarray, qr: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of ``values`` at fractional rows ``qr`` x columns ``qc``.

    Unlike bilinear interpolation its slopes are continuous across cell edges, so a hillshade of an
    upsampled terrain shows no grid of facets.

    Args:
        values: (ny, nx) array, at least 4 x 4.
        qr: (h,) fractional row indices; clamped to the array.
        qc: (w,) fractional column indices.

    Returns:
        (h, w) float32.
    """
    ny, nx = values.shape
    qr = np.clip(qr, 0, ny - 1)
    qc = np.clip(qc, 0, nx - 1)
    i1 = np.clip(np.floor(qr), 0, ny - 2).astype(np.intp)
    j1 = np.clip(np.floor(qc), 0, nx - 2).astype(np.intp)
    wr = [w.astype(np.float32)[:, None] for w in _cubic_weights(qr - i1)]
    wc = [w.astype(np.float32) for w in _cubic_weights(qc - j1)]
    ri = [np.clip(i1 + k, 0, ny - 1) for k in (-1, 0, 1, 2)]
    ci = [np.clip(j1 + k, 0, nx - 1) for k in (-1, 0, 1, 2)]
    src = values.astype(np.float32, copy=False)
    out = np.empty((len(qr), len(qc)), dtype=np.float32)
    for s in range(0, len(qr), 512):
        e = s + 512
        rows = sum(src[ri[k][s:e]] * wr[k][s:e] for k in range(4))
        out[s:e] = sum(rows[:, ci[k]] * wc[k] for k in range(4))
    return out


def _next_fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: FFT sizes that pocketfft handles fast."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def _fractal_noise(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    cell_m: float,
    beta: float,
    min_wavelength_m: float,
    max_wavelength_m: float,
    periodic: bool = False,
) -> np.ndarray:
    """Gaussian noise with a power-law spectrum (power ~ 1/k^beta) between two wavelengths.

    Args:
        shape: (ny, nx) cells.
        rng: random generator.
        cell_m: cell size, metres.
        beta: spectral exponent (2: rough, 3: smooth, terrain-like).
        min_wavelength_m, max_wavelength_m: band limits, metres (soft Gaussian roll-offs).
        periodic: keep the FFT's wrap-around (for tiles repeated across a scene); otherwise the field is
            cut from a larger periodic one so opposite edges are unrelated.

    Returns:
        (ny, nx) float32, zero mean, unit standard deviation.
    """
    ny, nx = shape
    fy, fx = (ny, nx) if periodic else (_next_fast_len(ny + ny // 4), _next_fast_len(nx + nx // 4))
    spectrum = np.fft.rfft2(rng.standard_normal((fy, fx), dtype=np.float32))
    ky = np.fft.fftfreq(fy, d=cell_m).astype(np.float32)
    kx = np.fft.rfftfreq(fx, d=cell_m).astype(np.float32)
    k = np.hypot(ky[:, None], kx[None, :])
    k[0, 0] = 1.0
    amplitude = k ** (-beta / 2)
    amplitude *= -np.expm1(-((k * max_wavelength_m) ** 2))
    amplitude *= np.exp(-((k * min_wavelength_m) ** 2))
    amplitude[0, 0] = 0.0
    field_ = np.fft.irfft2(spectrum * amplitude, s=(fy, fx))[:ny, :nx]
    field_ -= field_.mean()
    std = field_.std()
    return (field_ / std if std > 0 else field_).astype(np.float32)


def _smoothstep(x: np.ndarray | float) -> np.ndarray:
    """3x^2 - 2x^3 on [0, 1], clamped outside."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _wall_shape(r: np.ndarray) -> np.ndarray:
    """How far a U-shaped valley wall has risen at ``r`` wall widths from its foot (0 → 1)."""
    return -np.expm1(-(r * r))


def _distance_to(mask: np.ndarray, cell_m: float) -> np.ndarray:
    """Exact Euclidean distance from every cell centre to the nearest True cell, metres.

    Separable: a 1D sweep down the columns, then a brute-force lower envelope across the rows. That costs
    O(ny nx^2), fine for planning grids of a few hundred cells.

    Args:
        mask: (ny, nx) bool.
        cell_m: cell size, metres.

    Returns:
        (ny, nx) float32; 0 on the mask, inf everywhere when the mask is empty.
    """
    ny, nx = mask.shape
    if not mask.any():
        return np.full((ny, nx), np.inf, dtype=np.float32)
    big = np.float32(ny + nx + 1)
    g = np.where(mask, np.float32(0), big).astype(np.float32)
    for i in range(1, ny):
        np.minimum(g[i], g[i - 1] + 1, out=g[i])
    for i in range(ny - 2, -1, -1):
        np.minimum(g[i], g[i + 1] + 1, out=g[i])
    g2 = g * g
    out = np.full((ny, nx), np.inf, dtype=np.float32)
    cols = np.arange(nx, dtype=np.float32)
    for j in range(nx):
        np.minimum(out, g2[:, j : j + 1] + (cols - j) ** 2, out=out)
    return np.sqrt(out) * np.float32(cell_m)


def _connected_to_edge(mask: np.ndarray) -> np.ndarray:
    """The cells of ``mask`` 4-connected to a masked cell on the array's edge (flood fill by dilation)."""
    reached = np.zeros_like(mask)
    reached[0, :], reached[-1, :] = mask[0, :], mask[-1, :]
    reached[:, 0] |= mask[:, 0]
    reached[:, -1] |= mask[:, -1]
    while True:
        grown = reached.copy()
        grown[1:, :] |= reached[:-1, :]
        grown[:-1, :] |= reached[1:, :]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= mask
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def _box_blur(values: np.ndarray, passes: int = 2) -> np.ndarray:
    """3 x 3 mean filter applied ``passes`` times (edges replicated)."""
    out = values.astype(np.float32)
    for _ in range(passes):
        p = np.pad(out, 1, mode="edge")
        out = p[:-2, :-2] + p[:-2, 1:-1] + p[:-2, 2:] + p[1:-1, :-2] + p[1:-1, 1:-1] + p[1:-1, 2:]
        out += p[2:, :-2] + p[2:, 1:-1] + p[2:, 2:]
        out /= 9.0
    return out


def _box_sum(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window around each cell (zero outside), via cumulative sums."""
    out = values.astype(np.float64)
    for axis in (0, 1):
        c = np.cumsum(out, axis=axis)
        n = out.shape[axis]
        hi = np.minimum(np.arange(n) + radius, n - 1)
        lo = np.arange(n) - radius - 1
        upper = np.take(c, hi, axis=axis)
        lower = np.take(c, np.maximum(lo, 0), axis=axis)
        shape = [1, 1]
        shape[axis] = n
        out = upper - np.where((lo >= 0).reshape(shape), lower, 0.0)
    return out


def _strips(height: int, rows: int = 512) -> list[tuple[int, int]]:
    """Row ranges that cover ``height`` rows in blocks: full-scene work in bounded memory."""
    return [(r, min(r + rows, height)) for r in range(0, height, rows)]


def _masked_smooth(values: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``values`` over the ``mask`` pixels in a (2r+1)^2 window, in row strips.

    Used on the ice surface: it softens the steps where two glaciers' surfaces meet (ice divides)
    without mixing in the rock around them. Pixels outside the mask are returned unchanged.
    """
    out = values.copy()
    height = values.shape[0]
    for r0, r1 in _strips(height, 1024):
        a0, a1 = max(r0 - radius, 0), min(r1 + radius, height)
        m = mask[a0:a1]
        if not m[r0 - a0 : r1 - a0].any():
            continue
        v = np.where(m, values[a0:a1], 0.0)
        total = _box_sum(v, radius)[r0 - a0 : r1 - a0]
        weight = _box_sum(m.astype(np.float32), radius)[r0 - a0 : r1 - a0]
        inside = mask[r0:r1]
        out[r0:r1][inside] = (total[inside] / np.maximum(weight[inside], 1.0)).astype(out.dtype)
    return out


def _polyline_distance(
    xy: np.ndarray, xs: np.ndarray, ys: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to a polyline and chainage of the nearest point on it, for a grid window.

    Each segment only updates the cells within ``radius`` of its bounding box, so long lines on big grids
    stay cheap.

    Args:
        xy: (N, 2) vertices, metres.
        xs: (w,) cell-centre x of the window's columns (increasing).
        ys: (h,) cell-centre y of the window's rows (decreasing).
        radius: how far from the line the distance is needed, metres.

    Returns:
        ``(d, t)``: (h, w) float32 distance (1e7 beyond ``radius``) and chainage along the line from its
        first vertex, metres.
    """
    d = np.full((len(ys), len(xs)), 1e7, dtype=np.float32)
    t = np.zeros((len(ys), len(xs)), dtype=np.float32)
    seg = np.diff(xy, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    chain = np.concatenate([[0.0], np.cumsum(seg_len)])
    neg_ys = -ys
    for i in range(len(seg)):
        (ax, ay), (bx, by) = xy[i], xy[i + 1]
        c0 = int(np.searchsorted(xs, min(ax, bx) - radius))
        c1 = int(np.searchsorted(xs, max(ax, bx) + radius, side="right"))
        r0 = int(np.searchsorted(neg_ys, -(max(ay, by) + radius)))
        r1 = int(np.searchsorted(neg_ys, -(min(ay, by) - radius), side="right"))
        if c1 <= c0 or r1 <= r0 or seg_len[i] == 0:
            continue
        px = (xs[c0:c1] - ax)[None, :]
        py = (ys[r0:r1] - ay)[:, None]
        dx, dy = seg[i]
        u = np.clip((px * dx + py * dy) / (seg_len[i] ** 2), 0.0, 1.0)
        dist = np.hypot(px - u * dx, py - u * dy).astype(np.float32)
        sub_d = d[r0:r1, c0:c1]
        better = dist < sub_d
        sub_d[better] = dist[better]
        t[r0:r1, c0:c1][better] = (chain[i] + u * seg_len[i])[better]
    return d, t


def _chainage(xy: np.ndarray) -> np.ndarray:
    """(N,) cumulative length along a polyline, metres."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])


def _wrap_angle(a: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


def _polygonal_outlines(
    ids: np.ndarray,
    transform: Affine,
    crs: str,
    attributes: dict[int, dict[str, Any]],
    columns: tuple[str, ...],
) -> gpd.GeoDataFrame:
    """Vectorise a glacier-id raster: one (Multi)Polygon per id, exactly along pixel edges.

    Args:
        ids: (H, W) int32, 0 = no glacier.
        transform: the grid's transform.
        crs: the grid's CRS.
        attributes: per id, the values of the extra columns.
        columns: the extra columns, in order (present even when there is no glacier).

    Returns:
        GeoDataFrame with ``glacier_id`` (int32), the extra columns, ``area_km2`` and geometry, sorted
        by id.
    """
    import geopandas as gpd
    import shapely
    from rasterio.features import shapes
    from shapely.geometry import shape

    from glaciermap.io.inventory import repair_polygons

    parts: dict[int, list[Any]] = {}
    if ids.any():
        for geom, value in shapes(ids, mask=ids > 0, connectivity=4, transform=transform):
            parts.setdefault(int(value), []).append(shape(geom))
    gids = sorted(parts)
    geoms = np.array(
        [parts[g][0] if len(parts[g]) == 1 else shapely.MultiPolygon(parts[g]) for g in gids]
        + [None],
        dtype=object,
    )[:-1]
    # Parts of one id that touch at a pixel corner are valid as a MultiPolygon; repair anything else.
    geoms, _ = repair_polygons(geoms)
    data: dict[str, Any] = {"glacier_id": np.asarray(gids, dtype=np.int32)}
    for key in columns:
        data[key] = [attributes.get(g, {}).get(key) for g in gids]
    data["area_km2"] = shapely.area(geoms) / 1e6 if len(gids) else np.zeros(0)
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=crs)


def _write_cog(path: Path, values: np.ndarray, landscape: Landscape, tags: dict[str, str]) -> None:
    """One-band Cloud-Optimised GeoTIFF on the landscape's grid (deflate, internal overviews)."""
    import rasterio

    h, w = values.shape
    predictor = 3 if values.dtype == np.float32 else 2
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=w,
        height=h,
        count=1,
        dtype=values.dtype,
        crs=landscape.crs,
        transform=landscape.transform,
        compress="deflate",
        predictor=predictor,
        blocksize=512,
        overview_resampling="nearest" if values.dtype == np.uint8 else "average",
    ) as dst:
        dst.write(values, 1)
        dst.update_tags(**tags)


# Invented, Norwegian-sounding stems for glacier names ("<stem>breen", "<stem>fonna").
_NAME_STEMS = (
    "Alke", "Bjørne", "Blå", "Botn", "Brede", "Dverg", "Egge", "Fjell", "Frost", "Gåse", "Grå",
    "Hamar", "Havhest", "Horn", "Hval", "Isbjørn", "Kam", "Kjerr", "Krykkje", "Kval", "Kvit",
    "Lomvi", "Lyng", "Måke", "Mose", "Myr", "Nut", "Pigg", "Polarrev", "Rabbe", "Rein", "Rype",
    "Rød", "Sand", "Sel", "Skar", "Skua", "Snøspurv", "Sol", "Stein", "Storm", "Svart", "Teist",
    "Tind", "Tjørn", "Ulv", "Vind", "Ærfugl", "Ørn", "Øks", "Agat", "Berg", "Bratt", "Dal",
    "Elve", "Flat", "Glimme", "Holme", "Kalv", "Lang",
)  # fmt: skip
_NAME_PREFIXES = ("", "Austre ", "Vestre ", "Nordre ", "Søre ", "Midtre ", "Indre ", "Ytre ")


def _glacier_names(rng: np.random.Generator, kinds: list[str]) -> list[str]:
    """Unique invented names, ``...fonna`` for ice caps and ``...breen`` for the rest."""
    order = rng.permutation(len(_NAME_STEMS))
    names = []
    for i, kind in enumerate(kinds):
        stem = _NAME_STEMS[order[i % len(_NAME_STEMS)]]
        prefix = _NAME_PREFIXES[(i // len(_NAME_STEMS)) % len(_NAME_PREFIXES)]
        repeat = i // (len(_NAME_STEMS) * len(_NAME_PREFIXES))
        suffix = "fonna" if kind == "ice_cap" else "breen"
        names.append(f"{prefix}{stem}{suffix}" + (f" {repeat + 1}" if repeat else ""))
    return names


# --------------------------------------------------------------------------------------------------
# Landscape elements shared by both builders
# --------------------------------------------------------------------------------------------------


class _FineNoise:
    """A periodic fractal noise tile, read anywhere on the scene grid (with per-use offsets).

    Repeating a 10 km tile is invisible: it only adds small-scale texture on top of larger, unrepeated
    fields, and different uses read it at different offsets.
    """

    def __init__(self, rng: np.random.Generator, ps: float, scene_px: int) -> None:
        size = 256
        while size < min(scene_px, 1024):
            size *= 2
        self.size = size
        self.tile = _fractal_noise(
            (size, size),
            rng,
            cell_m=ps,
            beta=2.6,
            min_wavelength_m=3 * ps,
            max_wavelength_m=min(size * ps / 3, 1500.0),
            periodic=True,
        )

    def window(self, win: tuple[int, int, int, int], offset: int = 0) -> np.ndarray:
        """(h, w) float32 noise for scene window (r0, r1, c0, c1); ``offset`` picks another copy."""
        r0, r1, c0, c1 = win
        rows = (np.arange(r0, r1) + 311 * offset) % self.size
        cols = (np.arange(c0, c1) + 577 * offset) % self.size
        if offset % 2:
            # Transposed reads decorrelate uses further than shifts alone.
            return self.tile.T[np.ix_(rows, cols)]
        return self.tile[np.ix_(rows, cols)]


def _mountains(
    grid: _Grid,
    rng: np.random.Generator,
    dist_low_m: np.ndarray,
    peak_m: float,
) -> np.ndarray:
    """Mountain surface on the shape grid: a strandflat by the coast, then noise mountains rising inland.

    Args:
        grid: the grids.
        rng: random generator.
        dist_low_m: (ny, nx) distance from the sea (or from the lowland edge), metres.
        peak_m: typical summit height, metres.

    Returns:
        (ny, nx) float32 elevation, metres.
    """
    shape = (grid.ny, grid.nx)
    cell = grid.cell
    massif = _fractal_noise(
        shape, rng, cell_m=cell, beta=3.2, min_wavelength_m=800, max_wavelength_m=20_000
    )
    ridged = _fractal_noise(
        shape, rng, cell_m=cell, beta=2.8, min_wavelength_m=900, max_wavelength_m=6000
    )
    low = _fractal_noise(
        shape, rng, cell_m=cell, beta=2.4, min_wavelength_m=300, max_wavelength_m=4000
    )
    strand_m = float(rng.uniform(150, 900))
    ramp_m = float(rng.uniform(1200, 2600))
    # Ridged noise (1 - |n|) draws sharp crests and cols between broad hollows: alpine, not rolling hills.
    crest = (1.0 - np.clip(np.abs(ridged), 0, 1.8) / 1.8) ** 1.3
    height = peak_m * np.clip(0.72 + 0.2 * massif, 0.3, 1.1) * (0.6 + 0.4 * crest)
    ramp = _smoothstep((dist_low_m - strand_m * (1 + 0.6 * low)) / ramp_m)
    lowland = 12.0 + 10.0 * low
    return (lowland + ramp * height).astype(np.float32)


def _ellipse_mask(
    xs: np.ndarray,
    ys: np.ndarray,
    centre: tuple[float, float],
    axes: tuple[float, float],
    angle: float,
    wobble: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w) bool: inside a rotated ellipse whose radius varies with ``wobble`` (relative, per pixel)."""
    dx = xs[None, :] - centre[0]
    dy = ys[:, None] - centre[1]
    ca, sa = math.cos(angle), math.sin(angle)
    u = (dx * ca + dy * sa) / axes[0]
    v = (-dx * sa + dy * ca) / axes[1]
    r = u * u + v * v
    limit = 1.0 if wobble is None else (1.0 + wobble) ** 2
    return r < limit


def _place_snow_patches(
    rng: np.random.Generator,
    grid: _Grid,
    dem: np.ndarray,
    surface: np.ndarray,
    noise: _FineNoise,
    count: int,
    min_elevation: float,
) -> int:
    """Put up to ``count`` perennial snow patches (< 0.01 km² each) on high, sloping land.

    Patches are thin ellipses along the contour (snow banks in lee hollows), at least 80 m from glaciers,
    lakes and the sea and 250 m from each other, so they never merge into something glacier-sized.

    Returns:
        How many were placed (``surface`` is updated in place).
    """
    if count <= 0:
        return 0
    ps = grid.ps
    h, w = surface.shape
    max_px = int(0.95 * SNOW_PATCH_MAX_KM2 * 1e6 / ps**2)
    guard = max(2, round(80 / ps))
    placed: list[tuple[int, int]] = []
    spacing = max(3, round(250 / ps))
    for attempt in range(60 * count):
        if len(placed) >= count:
            break
        r, c = int(rng.integers(guard, h - guard)), int(rng.integers(guard, w - guard))
        relax = attempt > 40 * count  # late attempts accept lower ground rather than place nothing
        if surface[r, c] != Surface.LAND or (dem[r, c] < min_elevation and not relax):
            continue
        if any(abs(r - pr) < spacing and abs(c - pc) < spacing for pr, pc in placed):
            continue
        win = (r - guard, r + guard + 1, c - guard, c + guard + 1)
        if (surface[win[0] : win[1], win[2] : win[3]] != Surface.LAND).any():
            continue
        local = dem[win[0] : win[1], win[2] : win[3]]
        gy, gx = np.gradient(local, ps)
        slope = math.degrees(math.atan(math.hypot(gx[guard, guard], gy[guard, guard])))
        if not (6 <= slope <= 38) and not relax:
            continue
        xs, ys = grid.fine_xy(*win)
        # Long axis along the contour: perpendicular to the downhill direction.
        angle = math.atan2(-gy[guard, guard], gx[guard, guard]) + math.pi / 2
        a = float(rng.uniform(14, 48))
        b = float(rng.uniform(0.25, 0.6)) * a
        wobble = 0.25 * noise.window(win, offset=5)
        mask = _ellipse_mask(xs, ys, (xs[guard], ys[guard]), (a, b), angle, wobble)
        n_px = int(mask.sum())
        if n_px < 2 or n_px > max_px:
            continue
        sub = surface[win[0] : win[1], win[2] : win[3]]
        sub[mask] = Surface.SNOW_PATCH
        placed.append((r, c))
    return len(placed)


_SHORE_M = 80.0
"""Width of the shore zone graded down to a lake's level, metres."""


def _place_lake(
    grid: _Grid,
    dem: np.ndarray,
    surface: np.ndarray,
    win: tuple[int, int, int, int],
    mask: np.ndarray,
    *,
    allow_ice_contact: bool,
) -> bool:
    """Fill ``mask`` (within scene window ``win``) with a flat lake if it is on land and clear of the sea.

    The lake level is the lowest land elevation under it, and land within :data:`_SHORE_M` of the lake is
    graded down towards that level, so the lake sits in a hollow instead of cutting a step into a slope.
    A lake cut by the window's edge, touching the sea or another lake (or, unless ``allow_ice_contact``,
    a glacier) is not placed.

    Returns:
        Whether the lake was placed (``dem`` and ``surface`` updated in place).
    """
    ps = grid.ps
    height, width = surface.shape
    r0, r1, c0, c1 = win
    mask = mask & (surface[r0:r1, c0:c1] == Surface.LAND)
    if mask.sum() < max(12, round(2500 / ps**2)):
        return False
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    cut = (rows[0] == 0 and r0 > 0) or (rows[-1] == mask.shape[0] - 1 and r1 < height)
    cut = cut or (cols[0] == 0 and c0 > 0) or (cols[-1] == mask.shape[1] - 1 and c1 < width)
    if cut:
        return False
    shore = math.ceil(_SHORE_M / ps) + 1
    a0, a1 = max(r0 + rows[0] - shore, 0), min(r0 + rows[-1] + 1 + shore, height)
    b0, b1 = max(c0 + cols[0] - shore, 0), min(c0 + cols[-1] + 1 + shore, width)
    lake = np.zeros((a1 - a0, b1 - b0), dtype=bool)
    lake[r0 + rows[0] - a0 : r0 + rows[-1] + 1 - a0, c0 + cols[0] - b0 : c0 + cols[-1] + 1 - b0] = (
        mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    )
    sub_s, sub_d = surface[a0:a1, b0:b1], dem[a0:a1, b0:b1]
    # One-pixel ring around the lake: it must not touch the sea (a lake there would be sea).
    ring = np.zeros_like(lake)
    ring[1:, :] |= lake[:-1, :]
    ring[:-1, :] |= lake[1:, :]
    ring[:, 1:] |= lake[:, :-1]
    ring[:, :-1] |= lake[:, 1:]
    touching = sub_s[ring & ~lake]
    if (touching == Surface.SEA).any() or (touching == Surface.LAKE).any():
        return False
    if not allow_ice_contact and (
        (touching == Surface.GLACIER).any() or (touching == Surface.DEBRIS).any()
    ):
        return False
    level = max(float(sub_d[lake].min()), 1.0)
    dist = _distance_to(lake, ps)
    shore_zone = ~lake & (dist < _SHORE_M) & (sub_s == Surface.LAND) & (sub_d > level)
    graded = level + (sub_d - level) * _smoothstep(dist / _SHORE_M)
    sub_d[shore_zone] = graded[shore_zone]
    sub_d[lake] = level
    sub_s[lake] = Surface.LAKE
    return True


def _place_tundra_lakes(
    rng: np.random.Generator,
    grid: _Grid,
    dem: np.ndarray,
    surface: np.ndarray,
    noise: _FineNoise,
    count: int,
    *,
    force: bool,
) -> int:
    """Put up to ``count`` lakes on low, flat land; with ``force``, at least one on the flattest land.

    Returns:
        How many were placed.
    """
    if count <= 0:
        return 0
    ps = grid.ps
    h, w = surface.shape
    placed = 0
    best: tuple[float, int, int] | None = None
    for _ in range(80 * count):
        if placed >= count:
            break
        a = float(rng.uniform(45, 220))
        b = a * float(rng.uniform(0.4, 0.9))
        half = int(a * 1.4 / ps) + 2
        if h <= 2 * half + 2 or w <= 2 * half + 2:
            break
        r, c = int(rng.integers(half, h - half)), int(rng.integers(half, w - half))
        angle = float(rng.uniform(0, math.pi))
        if surface[r, c] != Surface.LAND:
            continue
        win = (r - half, r + half + 1, c - half, c + half + 1)
        local = dem[win[0] : win[1], win[2] : win[3]]
        relief = float(np.ptp(local[half - 3 : half + 4, half - 3 : half + 4]))
        if best is None or relief < best[0]:
            best = (relief, r, c)
        if dem[r, c] > 120 or relief > 6 * ps / 10:
            continue
        xs, ys = grid.fine_xy(*win)
        mask = _ellipse_mask(
            xs, ys, (xs[half], ys[half]), (a, b), angle, 0.3 * noise.window(win, offset=6)
        )
        placed += _place_lake(grid, dem, surface, win, mask, allow_ice_contact=False)
    if placed == 0 and force and best is not None:
        # Nothing flat and low enough: a small lake in the flattest hollow found still makes the scene.
        _, r, c = best
        half = math.ceil(80 / ps) + 1
        win = (max(r - half, 0), min(r + half + 1, h), max(c - half, 0), min(c + half + 1, w))
        xs, ys = grid.fine_xy(*win)
        centre = (float(xs[c - win[2]]), float(ys[r - win[0]]))
        mask = _ellipse_mask(xs, ys, centre, (55.0, 40.0), 0.0)
        placed += _place_lake(grid, dem, surface, win, mask, allow_ice_contact=False)
    return placed


# --------------------------------------------------------------------------------------------------
# The procedural builder
# --------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Valley:
    """One valley of the drainage network, its trough and (when glaciated) its glacier.

    Chainage ``t`` runs along :attr:`xy` from the mouth (0: the coast, the junction with the parent
    valley, or where the valley leaves the planning domain) to the head (:attr:`length`); the first
    vertices may lie seaward of the mouth (t < 0). The glacier covers ``t_term < t < t_top``.
    """

    xy: np.ndarray
    mouth_chain: float
    length: float
    w_ice: float
    w_floor: float
    wall: float
    z_mouth: float
    z_head: float
    concavity: float
    kind: str = "trough"
    glaciated: bool = False
    t_term: float = 0.0
    t_top: float = math.inf
    h_ice: float = 0.0
    h_front: float = 0.0
    snout: bool = True
    widen: float = 0.3
    wave: tuple[float, float, float] = (0.0, 1000.0, 0.0)
    basin: tuple[float, float] = (0.0, 0.0)
    cap_floor: tuple[np.ndarray, np.ndarray] | None = None
    gid: int = 0
    debris_len: float = 0.0
    lake: tuple[float, float, float] | None = None
    # Distance and chainage on a coarse grid of cell size ``cell``, window starting at ``origin``.
    cell: float = 0.0
    origin: tuple[int, int] = (0, 0)
    d: np.ndarray | None = None
    t: np.ndarray | None = None
    reach: float = 0.0

    def floor(self, t: np.ndarray) -> np.ndarray:
        """Valley-floor elevation at chainage ``t``: concave long profile, descending below the mouth.

        Where :attr:`cap_floor` is set (chainages, elevations: the terrain along the valley), the floor
        also stays below it, keeping the valley, and its glacier, down in the mountains.
        """
        u = np.clip(t / self.length, 0.0, None)
        f = self.z_mouth + (self.z_head - self.z_mouth) * u**self.concavity
        if self.cap_floor is not None:
            f = np.minimum(f, np.interp(t, *self.cap_floor))
        return np.where(t < 0, self.z_mouth + 0.08 * t, f).astype(np.float32)

    def chainage_at(self, z: float) -> float:
        """The first chainage from the mouth where the floor reaches elevation ``z`` (-1 below it)."""
        if z <= self.z_mouth:
            return -1.0
        t = np.linspace(0.0, self.length, max(2, int(self.length // 20) + 1))
        f = self.floor(t)
        above = np.nonzero(f >= z)[0]
        return float(t[above[0]]) if len(above) else self.length

    def ice_floor(self, t: np.ndarray) -> np.ndarray:
        """The floor the ice rests on: never below sea level (a tidewater tongue floats at its front)."""
        f = self.floor(t)
        return np.maximum(f, 0.0) if self.h_front > 0 else f

    def _upper_taper(self, t: np.ndarray) -> np.ndarray:
        """1 below ``t_top``, falling to 0 over about a glacier width above it (ice fed from a side)."""
        if not math.isfinite(self.t_top):
            return np.ones_like(t)
        return np.sqrt(np.clip((self.t_top - t) / (0.9 * self.w_ice), 0.0, 1.0))

    def thickness(self, t: np.ndarray) -> np.ndarray:
        """Ice surface height above the floor at chainage ``t``, metres (0 beyond the terminus)."""
        if not self.glaciated:
            return np.zeros_like(t)
        taper = min(max(0.3 * (min(self.length, self.t_top) - self.t_term), 150.0), 1500.0)
        s = np.clip((t - self.t_term) / taper, 0.0, 1.0)
        h = (self.h_front + (self.h_ice - self.h_front) * np.sqrt(s)) * self._upper_taper(t)
        return np.where(t > self.t_term, h, 0.0).astype(np.float32)

    def half_width(self, t: np.ndarray) -> np.ndarray:
        """Glacier half-width at chainage ``t``: wider upstream, wavy, rounded at a land snout."""
        span = max(self.length - self.t_term, 1.0)
        rel = np.clip((t - self.t_term) / span, 0.0, 1.0)
        amp, wavelength, phase = self.wave
        w = self.w_ice * (1 - self.widen / 2 + self.widen * rel)
        # Accumulation basins spread wider than tongues: widen with height above the ELA.
        ela, spread = self.basin
        if spread:
            w = w * (1 + spread * _smoothstep((self.floor(t) - ela + 100) / 400))
        w = w * (1 + amp * np.sin(2 * np.pi * t / wavelength + phase)) * self._upper_taper(t)
        if self.snout:
            w = w * np.sqrt(np.clip((t - self.t_term) / (0.9 * self.w_ice), 0.0, 1.0))
        return w.astype(np.float32)

    def bbox(self) -> tuple[float, float, float, float]:
        """Bounding box of everything the valley touches (line plus reach), metres."""
        (xmin, ymin), (xmax, ymax) = self.xy.min(axis=0), self.xy.max(axis=0)
        return (xmin - self.reach, ymin - self.reach, xmax + self.reach, ymax + self.reach)

    def point_at(self, t: float) -> tuple[float, float]:
        """The centre-line point at chainage ``t`` (from the mouth), metres."""
        chain = _chainage(self.xy) - self.mouth_chain
        return (
            float(np.interp(t, chain, self.xy[:, 0])),
            float(np.interp(t, chain, self.xy[:, 1])),
        )


@dataclass(eq=False)
class _Stem:
    """A path through the drainage network: from its mouth up the largest branch to the divide.

    Attributes:
        cells: planning-grid flat indices, mouth first.
        parent: index of the stem it joins (-1: it drains to the sea or off the domain).
        outlet: the cell it drains into (sea, domain edge, or the junction cell on its parent).
        area_km2: drainage area at the mouth.
    """

    cells: list[int]
    parent: int
    outlet: int
    area_km2: float
    root: int = 0
    t_join: float = 0.0
    valley: _Valley | None = None
    children: list[int] = field(default_factory=list)
    head_ice: bool = False
    z_stop: float = -math.inf
    reaches_mouth: bool = False
    merges: bool = False


def _priority_flood(guide: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Route flow over a surface: every cell drains to the neighbour it was flooded from.

    Priority-flood from the seeds (sea and domain edge) over 8 neighbours, always growing from the lowest
    flooded cell: pits fill, and every cell gets a downstream neighbour, so the result is a drainage tree.

    Args:
        guide: (ny, nx) surface, metres.
        seeds: (ny, nx) bool, where water leaves (sea, domain edge).

    Returns:
        ``(receiver, order)``: (ny*nx,) int64 flat index of each cell's downstream neighbour (-1 at seeds),
        and the flat indices in the order they were flooded (seeds first, then upstream).
    """
    import heapq

    ny, nx = guide.shape
    z = guide.ravel().astype(float).tolist()
    receiver = [-1] * (ny * nx)
    seen = bytearray(ny * nx)
    heap = []
    for i in np.flatnonzero(seeds).tolist():
        seen[i] = 1
        heap.append((z[i], i))
    heapq.heapify(heap)
    order: list[int] = []
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))
    while heap:
        zi, i = heapq.heappop(heap)
        order.append(i)
        r, c = divmod(i, nx)
        for dr, dc in steps:
            rr, cc = r + dr, c + dc
            if 0 <= rr < ny and 0 <= cc < nx:
                j = rr * nx + cc
                if not seen[j]:
                    seen[j] = 1
                    receiver[j] = i
                    # Filled pits get a tiny gradient so their flow still leads to the spill point.
                    heapq.heappush(heap, (max(z[j], zi + 1e-3), j))
    return np.asarray(receiver, dtype=np.int64), np.asarray(order, dtype=np.int64)


def _accumulate(receiver: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Number of cells draining through each cell (itself included), from a drainage tree."""
    count = [1] * len(receiver)
    rec = receiver.tolist()
    for i in reversed(order.tolist()):
        r = rec[i]
        if r >= 0:
            count[r] += count[i]
    return np.asarray(count, dtype=np.int64)


def _smooth_polyline(xy: np.ndarray, fixed: int, passes: int = 3) -> np.ndarray:
    """Moving-average smoothing of a grid path; the first ``fixed`` vertices and the last stay put."""
    out = xy.astype(float).copy()
    for _ in range(passes):
        if len(out) - fixed < 3:
            break
        inner = (out[fixed - 1 : -2] + out[fixed:-1] + out[fixed + 1 :]) / 3
        out[fixed:-1] = inner
    return out


def _resample_polyline(xy: np.ndarray, spacing: float) -> np.ndarray:
    """Vertices every ``spacing`` metres along a polyline (ends kept), same chainage."""
    chain = _chainage(xy)
    if chain[-1] <= spacing:
        return xy
    n = math.ceil(chain[-1] / spacing)
    at = np.linspace(0.0, chain[-1], n + 1)
    return np.column_stack([np.interp(at, chain, xy[:, 0]), np.interp(at, chain, xy[:, 1])])


@dataclass
class _IceCap:
    centre: tuple[float, float]
    radius: float
    z_plateau: float
    dome: float
    gid: int = 0


@dataclass
class _Fjord:
    xy: np.ndarray  # head first, then seawards, metres
    w_head: float
    widen: float


@dataclass
class _FineValley:
    """A valley's fields on a window of the scene grid."""

    win: tuple[int, int, int, int]
    t: np.ndarray  # chainage from the mouth, metres
    t_eff: np.ndarray  # chainage with noise (snout, debris, lake edges)
    d_eff: np.ndarray  # distance from the centre line with noise (margins)
    w: np.ndarray  # glacier half-width at t_eff
    noise: np.ndarray  # mid-scale noise, unit std


class _ProceduralBuilder:
    """Builds one procedural landscape; see the module docstring for the steps."""

    def __init__(
        self, grid: _Grid, crs: str, rng: np.random.Generator, features: LandscapeFeatures
    ) -> None:
        self.grid = grid
        self.crs = crs
        self.rng = rng
        self.features = features
        self.ela = float(rng.uniform(250, 600))
        self.peak = float(min(self.ela + rng.uniform(450, 700), 1150.0))
        self.valleys: list[_Valley] = []
        self.fjords: list[_Fjord] = []
        self.cap: _IceCap | None = None
        self.kinds: list[str] = []  # by gid - 1
        self.head_raises: list[tuple[float, float, float, float]] = []

    # ---- planning -------------------------------------------------------------------------------

    def build(self) -> Landscape:
        """Plan the scene on the coarse grids, then render it on the scene grid."""
        g, rng = self.grid, self.rng
        self.mid_noise = _fractal_noise(
            (g.ny, g.nx), rng, cell_m=g.cell, beta=2.0, min_wavelength_m=120, max_wavelength_m=1500
        )
        self.mid_noise2 = _fractal_noise(
            (g.ny, g.nx), rng, cell_m=g.cell, beta=2.0, min_wavelength_m=120, max_wavelength_m=1500
        )
        large_noise = _fractal_noise(
            (g.ny, g.nx), rng, cell_m=g.cell, beta=3.0, min_wavelength_m=600, max_wavelength_m=8000
        )
        self.cap_lobes = np.clip(large_noise, -2.0, 2.0)
        self.fine = _FineNoise(rng, g.ps, max(g.width, g.height))
        self._make_sea()
        self._plan_fields()
        self.mount = _mountains(g, rng, self.d_sea_shape, self.peak)
        self._refresh_plan_elevation()
        if self.features.ice_cap:
            self._make_ice_cap()
        self._make_valleys()
        self._raise_heads()
        self._make_cirques()
        return self._assemble()

    def _make_sea(self) -> None:
        """Coast across one side plus fjords; P < 0 is sea (or lowland when the scene has no sea)."""
        g, rng = self.grid, self.rng
        xs, ys = g.shape_xy()
        theta = float(rng.uniform(0, 2 * math.pi))
        self.inland = (math.cos(theta), math.sin(theta))
        minx, miny, maxx, maxy = g.scene
        corners = [(minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)]
        proj = [cx * self.inland[0] + cy * self.inland[1] for cx, cy in corners]
        self.s_ref = min(proj)
        self.s_max = max(proj) - self.s_ref
        s = (xs[None, :] * self.inland[0] + ys[:, None] * self.inland[1] - self.s_ref).astype(
            np.float32
        )
        scale = min(max(self.s_max / 6000, 1.0), 4.0)
        self.c0 = float(rng.uniform(0.05, 0.12) * self.s_max) if self.features.sea else 0.0
        coast_noise = _fractal_noise(
            (g.ny, g.nx), rng, cell_m=g.cell, beta=2.1, min_wavelength_m=100, max_wavelength_m=3000
        )
        p = s - self.c0
        self.fjord_d = np.full((g.ny, g.nx), 1e7, dtype=np.float32)
        self.fjord_t = np.zeros((g.ny, g.nx), dtype=np.float32)
        n_fjords = self.features.fjords if self.features.sea else 0
        perp = (-self.inland[1], self.inland[0])
        centre = ((minx + maxx) / 2, (miny + maxy) / 2)
        corner_v = [(cx - centre[0]) * perp[0] + (cy - centre[1]) * perp[1] for cx, cy in corners]
        v_span = (min(corner_v), max(corner_v))
        slots = rng.permutation(max(n_fjords, 1))
        for i in range(n_fjords):
            fjord = self._trace_fjord(int(slots[i]), n_fjords, centre, perp, v_span, scale)
            if fjord is None:
                continue
            self.fjords.append(fjord)
            # Distances on the planning grid (cheap for long fjords), read onto the shape grid.
            px, py = g.plan_xy()
            d, t = _polyline_distance(fjord.xy, px, py, 3000.0 * scale)
            d, t = g.sample_plan(d, xs, ys), g.sample_plan(t, xs, ys)
            # The fjord widens from its head towards the open sea.
            width = np.minimum(fjord.w_head + fjord.widen * t, 2500.0 * scale)
            p = np.minimum(p, d - width)
            closer = d < self.fjord_d
            self.fjord_d[closer] = d[closer]
            self.fjord_t[closer] = t[closer]
        self.coast_amp = float(rng.uniform(60, 150))
        self.p_field = (p + self.coast_amp * coast_noise).astype(np.float32)

    def _trace_fjord(
        self,
        slot: int,
        n: int,
        centre: tuple[float, float],
        perp: tuple[float, float],
        v_span: tuple[float, float],
        scale: float,
    ) -> _Fjord | None:
        """A fjord: a head inside the scene, and a meandering centre line out to the open sea."""
        g, rng = self.grid, self.rng
        margin = max(900.0, 0.12 * min(g.width, g.height) * g.ps)
        for _ in range(20):
            frac = (slot + rng.uniform(0.2, 0.8)) / n
            v = v_span[0] + (v_span[1] - v_span[0]) * (0.15 + 0.7 * frac)
            s_head = self.c0 + rng.uniform(0.22, 0.42 if n == 1 else 0.55) * (self.s_max - self.c0)
            # The point at inland coordinate s_head on the transverse line v.
            base_s = centre[0] * self.inland[0] + centre[1] * self.inland[1] - self.s_ref
            hx = centre[0] + perp[0] * v + self.inland[0] * (s_head - base_s)
            hy = centre[1] + perp[1] * v + self.inland[1] * (s_head - base_s)
            if g.inside_scene(hx, hy, margin):
                break
        else:
            return None
        heading = math.atan2(-self.inland[1], -self.inland[0]) + rng.uniform(-0.35, 0.35)
        amp, wavelength, phase = rng.uniform(0.2, 0.6), rng.uniform(2500, 9000), rng.uniform(0, 6)
        step = 100.0
        pts = [(hx, hy)]
        x, y = hx, hy
        travelled = 0.0
        while True:
            wobble = amp * math.sin(2 * math.pi * travelled / wavelength + phase)
            # Pull back towards the open sea so meanders never turn the fjord inland.
            target = math.atan2(-self.inland[1], -self.inland[0])
            heading += 0.08 * _wrap_angle(target - heading)
            x += step * math.cos(heading + wobble)
            y += step * math.sin(heading + wobble)
            pts.append((x, y))
            travelled += step
            s = x * self.inland[0] + y * self.inland[1] - self.s_ref
            if s < -g.pad_m - 1000 or not g.inside_domain(x, y, -2000):
                break
        xy = np.asarray(pts)
        w_head = float(rng.uniform(220, 420) * math.sqrt(scale))
        widen = float(rng.uniform(0.03, 0.08))
        return _Fjord(xy=xy, w_head=w_head, widen=widen)

    def _plan_fields(self) -> None:
        """Sea and distance from the sea on the planning grid (and the distance on the shape grid)."""
        g = self.grid
        sea_shape = self.p_field < 0
        self.sea_plan = g.plan_from_shape(sea_shape.astype(np.float32)) > 0.5
        # Coast noise leaves specks of "sea" inland; only water connected to the open sea is sea.
        connected = _connected_to_edge(self.sea_plan)
        stray = np.repeat(np.repeat(self.sea_plan & ~connected, g.kp, 0), g.kp, 1)
        self.p_field = np.where(stray, np.abs(self.p_field) + 30.0, self.p_field)
        self.sea_plan &= connected
        if self.features.sea:
            d = _distance_to(self.sea_plan, g.plan_cell)
        else:
            # No sea: distance from the lowland side stands in for distance from the coast.
            xs, ys = g.plan_xy()
            s = xs[None, :] * self.inland[0] + ys[:, None] * self.inland[1] - self.s_ref
            d = np.maximum(s, 0.0).astype(np.float32)
            self.sea_plan = np.zeros_like(self.sea_plan)
        self.d_sea_plan = d
        xs, ys = g.shape_xy()
        self.d_sea_shape = g.sample_plan(d, xs, ys)

    def _refresh_plan_elevation(self) -> None:
        """The smoothed mountains and their gradient on the planning grid, after the mountains change."""
        g = self.grid
        self.mount_plan = _box_blur(g.plan_from_shape(self.mount), passes=1)
        gy, gx = np.gradient(self.mount_plan, g.plan_cell)
        self.grad_mount = (gx.astype(np.float32), (-gy).astype(np.float32))

    def _new_glacier(self, kind: str) -> int:
        """A new glacier id (1-based) of the given kind."""
        self.kinds.append(kind)
        return len(self.kinds)

    def _make_ice_cap(self) -> None:
        """An ice cap on a plateau far from the sea; the valleys draining the plateau become outlets."""
        g, rng = self.grid, self.rng
        xs, ys = g.plan_xy()
        inside = np.zeros(g.plan_shape, dtype=bool)
        margin = 0.15 * min(g.width, g.height) * g.ps
        minx, miny, maxx, maxy = g.scene
        rows = (ys > miny + margin) & (ys < maxy - margin)
        cols = (xs > minx + margin) & (xs < maxx - margin)
        inside[np.ix_(rows, cols)] = True
        weight = np.where(inside & (self.d_sea_plan > 4000), self.d_sea_plan, 0.0) ** 2
        if weight.sum() <= 0:
            return
        flat = rng.choice(weight.size, p=(weight / weight.sum()).ravel())
        r, c = divmod(int(flat), weight.shape[1])
        cx, cy = float(xs[c]), float(ys[r])
        side = min(g.width, g.height) * g.ps
        radius = min(0.55 * float(self.d_sea_plan[r, c]), rng.uniform(0.12, 0.2) * side)
        if radius < 2000:
            return
        z_plateau = max(self.ela + rng.uniform(150, 300), rng.uniform(600, 800))
        dome = float(rng.uniform(80, 180) * math.sqrt(radius / 5000))
        self.cap = _IceCap((cx, cy), radius, float(z_plateau), dome, self._new_glacier("ice_cap"))
        # Flatten the mountains into a plateau with low peaks (nunataks near the cap margin).
        sx, sy = g.shape_xy()
        # The plateau has the cap's lobed outline (see _assemble_cap), so the ice ends on its edges.
        dist = np.hypot(sx[None, :] - cx, sy[:, None] - cy) * (1 + 0.22 * self.cap_lobes)
        blend = _smoothstep((1.4 * radius - dist) / (0.5 * radius))
        plateau = z_plateau - 70 + 45 * np.clip(self.mid_noise, -1.5, 3.0)
        self.mount = (self.mount * (1 - blend) + plateau * blend).astype(np.float32)
        self._refresh_plan_elevation()

    # ---- valleys --------------------------------------------------------------------------------

    def _make_network(self) -> list[_Stem]:
        """The drainage network of the planning domain, as stems (see :func:`_priority_flood`).

        Valleys follow the lows of the mountain surface down to the sea, so the troughs carved along them
        deepen valleys that are already there and leave ridges between them.
        """
        g, rng = self.grid, self.rng
        ny, nx = g.plan_shape
        n = ny * nx
        cell_km2 = (g.plan_cell / 1000.0) ** 2
        # Smoothed, and tilted towards the coast: valleys run fairly straight to the sea, and flat
        # ground (strandflat, plateau) drains seawards.
        guide = _box_blur(self.mount_plan, passes=2) + 0.03 * self.d_sea_plan
        seeds = self.sea_plan.copy()
        seeds[0, :] = seeds[-1, :] = True
        seeds[:, 0] = seeds[:, -1] = True
        receiver, order = _priority_flood(guide, seeds)
        counts = _accumulate(receiver, order)
        # A channel starts where ~1 km² drains through a cell; coarser on very large scenes.
        a_channel = max(float(rng.uniform(0.8, 1.6)), n * cell_km2 / 450.0)
        channel = (counts * cell_km2 >= a_channel) & ~seeds.ravel()
        ch = np.flatnonzero(channel)
        rec = receiver[ch]
        joins = (rec >= 0) & channel[np.maximum(rec, 0)]
        children: dict[int, list[int]] = {}
        kids, parents = ch[joins], rec[joins]
        for k in np.lexsort((kids, -counts[kids])):
            children.setdefault(int(parents[k]), []).append(int(kids[k]))
        roots = ch[~joins]
        roots = roots[np.lexsort((roots, -counts[roots]))]
        # Above a channel head the valley continues up its largest branch to the divide.
        key = counts * n + np.arange(n)
        best = np.full(n, -1, dtype=np.int64)
        has = receiver >= 0
        np.maximum.at(best, receiver[has], key[has])
        best_child = np.where(best >= 0, best % n, -1)
        max_extension = int(2500 / g.plan_cell) + 1
        stems: list[_Stem] = []
        for root in roots.tolist():
            root_index = len(stems)
            stack = [(root, -1, int(receiver[root]))]
            while stack:
                start, parent, outlet = stack.pop()
                me = len(stems)
                path, cur = [start], start
                branches: list[tuple[int, int, int]] = []
                while cur in children:
                    kids_here = children[cur]
                    branches.extend((other, me, cur) for other in kids_here[1:])
                    cur = kids_here[0]
                    path.append(cur)
                for _ in range(max_extension):
                    nxt = int(best_child[cur])
                    if nxt < 0:
                        break
                    cur = nxt
                    path.append(cur)
                stems.append(
                    _Stem(path, parent, outlet, float(counts[start] * cell_km2), root=root_index)
                )
                if parent >= 0:
                    stems[parent].children.append(me)
                stack.extend(reversed(branches))
        return stems

    def _stem_valley(self, stem: _Stem, stems: list[_Stem]) -> _Valley | None:
        """The valley along a stem: smoothed centre line, long profile and glacier geometry."""
        g, rng = self.grid, self.rng
        xs, ys = g.plan_xy()
        nx = len(xs)

        def cell_xy(i: int) -> np.ndarray:
            r, c = divmod(i, nx)
            return np.array([xs[c], ys[r]])

        pts = np.array([cell_xy(i) for i in stem.cells])
        out = cell_xy(stem.outlet)
        if stem.parent < 0:
            if self.sea_plan.ravel()[stem.outlet]:
                seaward = out - pts[0]
                seaward /= max(float(np.hypot(*seaward)), 1e-9)
                line = np.vstack([out + 300.0 * seaward, out, pts])
                mouth, z_mouth = 2, 0.0
            else:
                # The valley leaves the planning domain; its floor there sits well below the ridges.
                line = np.vstack([out, pts])
                mouth = 1
                z_mouth = max(0.0, 0.5 * g.plan_at(self.mount_plan, float(out[0]), float(out[1])))
        else:
            parent = stems[stem.parent].valley
            if parent is None:
                return None
            line = np.vstack([out, pts])
            mouth = 0
            chain = _chainage(parent.xy) - parent.mouth_chain
            near = int(np.argmin(np.hypot(*(parent.xy - out).T)))
            stem.t_join = float(chain[near])
            z_mouth = float(parent.floor(np.array([stem.t_join], dtype=np.float32))[0])
        # Grid paths bend sharply; smoothed, the nearest-point chainage has no jumps near the line.
        head_part = _resample_polyline(line[mouth:], 0.5 * g.plan_cell)
        line = _smooth_polyline(np.vstack([line[:mouth], head_part]), mouth + 1, passes=8)
        mouth_chain = float(_chainage(line)[mouth])
        line = _resample_polyline(line, max(80.0, 0.75 * g.plan_cell))
        length = float(_chainage(line)[-1]) - mouth_chain
        if length < 500:
            return None
        head = line[-1]
        ridge = g.plan_at(self.mount_plan, float(head[0]), float(head[1]))
        z_head = max(ridge - float(rng.uniform(60, 170)), z_mouth + 0.03 * length)
        area = max(stem.area_km2, 0.2)
        # The floor rises monotonically and must stay below the terrain all along the valley, so at each
        # point it stays below the lowest ground further up.
        chain = _chainage(line) - mouth_chain
        ground = g.plan_points(self.mount_plan, line[:, 0], line[:, 1])
        ground = np.minimum.accumulate((ground - 25.0)[::-1])[::-1]
        keep = chain >= 0
        cap_floor = (chain[keep], np.maximum(ground[keep], z_mouth))
        return _Valley(
            cap_floor=cap_floor,
            basin=(self.ela, float(rng.uniform(0.3, 0.9))),
            xy=line,
            mouth_chain=mouth_chain,
            length=length,
            w_ice=float(np.clip(115 * area**0.45, 100, 1400) * rng.uniform(0.85, 1.15)),
            w_floor=float(np.clip(15 * math.sqrt(area) + 20, 25, 350)),
            wall=float(np.clip(220 + 50 * math.sqrt(area), 220, 900) * rng.uniform(0.8, 1.2)),
            z_mouth=z_mouth,
            z_head=z_head,
            concavity=float(rng.uniform(1.1, 1.6)),
            h_ice=float(np.clip(40 + 25 * math.sqrt(area), 40, 250) * rng.uniform(0.8, 1.2)),
            widen=float(rng.uniform(-0.1, 0.4)),
            wave=(
                float(rng.uniform(0.04, 0.12)),
                float(rng.uniform(600, 2000)),
                float(rng.uniform(0, 2 * math.pi)),
            ),
        )

    def _make_valleys(self) -> None:
        """Valleys along the drainage network; glaciers in those whose heads stand above the ELA.

        Every drainage tree gets one terminus elevation below the ELA: ice flows from glaciated heads down
        the network (tributaries merging) until the floor drops to that elevation, or into the sea. Then
        the counts asked for are honoured: the chosen number of coastal trees calve (fjord heads first),
        and a tree is forced to carry a land-terminating glacier when none formed.
        """
        g, rng, feats = self.grid, self.rng, self.features
        stems = self._make_network()
        for stem in stems:
            stem.valley = self._stem_valley(stem, stems)
            valley = stem.valley
            if valley is not None:
                valley.reach = valley.w_ice * 1.7 + 2.6 * valley.wall + 150
                stem.head_ice = valley.z_head + valley.h_ice > self.ela + 60
        sea_flat = self.sea_plan.ravel()
        roots = [s for s in stems if s.parent < 0 and s.valley is not None]
        z_term = {s.root: self.ela - float(rng.uniform(220, 480)) for s in roots}

        def mouth_in_scene(s: _Stem, margin: float) -> bool:
            assert s.valley is not None
            return g.inside_scene(*s.valley.point_at(0.0), margin)

        def fjord_distance(s: _Stem) -> float:
            assert s.valley is not None
            x, y = s.valley.point_at(0.0)
            return min(
                (math.hypot(x - f.xy[0, 0], y - f.xy[0, 1]) for f in self.fjords), default=1e9
            )

        # Trees with glaciated heads can calve by lowering their terminus alone; others need their
        # head forced (and their mountains raised), which looks less natural, so they come last.
        iced = {s.root for s in stems if s.valley is not None and s.head_ice}
        coastal = [s for s in roots if sea_flat[s.outlet] and mouth_in_scene(s, 300)]
        coastal.sort(key=lambda s: (s.root not in iced, fjord_distance(s) > 1500, -s.area_km2))
        tidewater = coastal[: feats.tidewater_glaciers]
        for s in roots:
            if sea_flat[s.outlet]:
                # Only the chosen trees calve; the others end on land near the coast.
                z_term[s.root] = max(z_term[s.root], float(rng.uniform(15, 60)))
        for s in tidewater:
            z_term[s.root] = -1.0
            if s.root not in iced:
                self._force_head_ice(s)
        self._glaciate(stems, z_term)
        for s in tidewater:
            if not s.reaches_mouth:  # the tree's ice stops short of the sea: force its main stem
                self._force_head_ice(s)
                self._glaciate(stems, z_term, {s.root})
        # Land-terminating valley glaciers: valleys without one get a terminus above the sea (a
        # tributary then ends short of its trunk, as retreating tributaries do), and a forced head if
        # need be, until there are enough. Forcing is capped: raised mountains show. A valley whose
        # mouth lies outside the scene qualifies when it enters the scene: its snout goes just inside.
        tide_roots = {s.root for s in tidewater}
        spare = [
            (i, t)
            for i, s in enumerate(stems)
            if s.valley is not None
            and s.root not in tide_roots
            and (t := self._first_inside(s)) is not None
        ]
        spare.sort(
            key=lambda it: (stems[it[0]].root not in iced, it[1] > 0, -stems[it[0]].area_km2)
        )
        forced = 0
        for i, t_in in spare:
            have = self._land_glaciers(stems)
            if len(have) >= feats.valley_glaciers or forced >= 3:
                break
            s = stems[i]
            if any(stems[j].root == s.root for j in have):
                continue
            assert s.valley is not None
            snout = t_in + 150.0 if t_in > 0 else float(rng.uniform(350, 700))
            z_stop = max(float(s.valley.floor(np.array([snout]))[0]), 15.0)
            if s.parent < 0:
                z_term[s.root] = max(z_term[s.root], z_stop)
            else:
                s.z_stop = z_stop
            self._glaciate(stems, z_term, {s.root})
            if i not in self._land_glaciers(stems):
                self._force_head_ice(s)
                self._glaciate(stems, z_term, {s.root})
                forced += 1
        # Glacier ids: merging tributaries mostly join their trunk's glacier; some stay separate
        # flow units that meet it along an ice divide, as in inventories.
        for s in stems:
            v = s.valley
            if v is None or not v.glaciated:
                continue
            parent = stems[s.parent].valley if s.parent >= 0 else None
            if s.merges and parent is not None and parent.glaciated and rng.random() < 0.75:
                v.gid, v.kind = parent.gid, parent.kind
            else:
                v.gid = self._new_glacier(v.kind)
        land = [v for i in self._land_glaciers(stems) if (v := stems[i].valley) is not None]
        land.sort(key=lambda v: -v.w_ice * v.length)
        for v in land[: feats.debris_tongues]:
            v.debris_len = float(rng.uniform(0.15, 0.3) * (min(v.length, v.t_top) - v.t_term))
        lakes_wanted = feats.lakes
        for v in land:
            if lakes_wanted > 0 and self._plan_lake(v):
                lakes_wanted -= 1
        self.valleys = [v for s in stems if (v := s.valley) is not None]
        self.stems = stems

    def _force_head_ice(self, stem: _Stem) -> None:
        """Make a stem's head glaciated, raising its mountains if they are too low for that."""
        v = stem.valley
        assert v is not None
        v.cap_floor = None  # its mountains are raised below instead
        if not stem.head_ice:
            v.z_head = self.ela + float(self.rng.uniform(110, 220)) - v.h_ice
            stem.head_ice = True
        ridge = self.grid.plan_at(self.mount_plan, float(v.xy[-1, 0]), float(v.xy[-1, 1]))
        if v.z_head + 160 > ridge:
            x, y = float(v.xy[-1, 0]), float(v.xy[-1, 1])
            self.head_raises.append((x, y, v.z_head + 200 - ridge, 0.35 * v.length + 600))

    def _glaciate(
        self, stems: list[_Stem], z_term: dict[int, float], trees: set[int] | None = None
    ) -> None:
        """Ice extents along the network, tributaries before their trunks (see :meth:`_make_valleys`).

        Args:
            stems: the network, parents before children.
            z_term: terminus elevation of each drainage tree (by root stem index), metres.
            trees: only redo these trees (root stem indices); default all.
        """
        rng = self.rng
        for s in reversed(stems):
            v = s.valley
            if v is None or (trees is not None and s.root not in trees):
                continue
            v.glaciated, v.snout, v.h_front = False, True, 0.0
            v.t_top, v.kind = math.inf, "trough"
            s.reaches_mouth = s.merges = False
            feeders = [
                stems[c].t_join
                for c in s.children
                if stems[c].valley is not None and stems[c].reaches_mouth
            ]
            if not s.head_ice and not feeders:
                continue
            top = v.length if s.head_ice else max(feeders)
            t_star = v.chainage_at(max(z_term[s.root], s.z_stop))
            if t_star >= top - 150:
                if not s.head_ice:
                    continue  # the inflowing ice ends at the junction
                t_star = min(t_star, 0.75 * top)  # a short glacier under the headwall
            v.glaciated = True
            if not s.head_ice:
                v.t_top = top + 0.5 * v.w_ice
            s.reaches_mouth = t_star < 0
            v.kind = "valley"
            if self.cap is not None:
                cx, cy = self.cap.centre
                if math.hypot(v.xy[-1, 0] - cx, v.xy[-1, 1] - cy) < self.cap.radius:
                    v.kind = "outlet"
            if not s.reaches_mouth:
                v.t_term = max(t_star, 0.0)
            elif s.parent >= 0:
                s.merges = True
                v.t_term, v.snout = -min(0.3 * v.length, 1500.0) - 1.0, False
            elif self.sea_plan.ravel()[s.outlet]:
                v.kind = "tidewater"
                # Well past the coast: the ragged front must stay in the sea all along.
                v.t_term = -float(rng.uniform(150, 280))
                v.h_front = float(rng.uniform(25, 55))
                v.snout = False
            else:
                v.t_term, v.snout = -300.0, False  # continues beyond the planning domain

    def _first_inside(self, stem: _Stem) -> float | None:
        """The first chainage (lower half of the valley) whose centre point is well inside the scene."""
        v = stem.valley
        assert v is not None
        for t in np.linspace(0.0, 0.5 * v.length, 26):
            if self.grid.inside_scene(*v.point_at(float(t)), 400.0):
                return float(t)
        return None

    def _land_glaciers(self, stems: list[_Stem]) -> list[int]:
        """Indices of the stems carrying a land-terminating valley glacier whose snout is in the scene."""
        out = []
        for i, s in enumerate(stems):
            v = s.valley
            if v is None or not v.glaciated or s.reaches_mouth or v.kind == "outlet":
                continue
            if v.t_term > 0 and self.grid.inside_scene(*v.point_at(v.t_term), 250.0):
                out.append(i)
        return out

    def _plan_lake(self, v: _Valley) -> bool:
        """A proglacial lake between a land-terminating glacier's snout and the coast, if there is room."""
        rng = self.rng
        room = v.t_term - 150.0
        if room < 160:
            return False
        a = float(min(rng.uniform(90, 320), room / 2 - 20))
        if a < 60:
            return False
        t_c = v.t_term - float(rng.uniform(0, 40)) - a
        b = float(min(v.w_floor * 0.95 + 40, rng.uniform(80, 240)))
        v.lake = (t_c, a, b)
        return True

    def _raise_heads(self) -> None:
        """Raise the mountains around forced glacier heads so the ice sits below its headwalls.

        The relief is stretched (not a dome added), so the raised massif keeps its ridges and cols.
        """
        if not self.head_raises:
            return
        g = self.grid
        xs, ys = g.shape_xy()
        for x, y, amount, sigma in self.head_raises:
            relief = g.plan_at(self.mount_plan, x, y) - 12.0
            if amount <= 0 or relief <= 0:
                continue
            stretch = min(amount / relief, 1.5)
            bump = np.exp(-((xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2) / (2 * sigma**2))
            # Only inland of the coast: the raise must not lift the strandflat into the sea.
            bump *= _smoothstep(self.d_sea_shape / 1500.0)
            self.mount += (stretch * bump * np.maximum(self.mount - 12.0, 0.0)).astype(np.float32)
        self._refresh_plan_elevation()

    def _ice_clearance(self) -> np.ndarray:
        """Planning-grid distance from the nearest glacier's edge (its centre line minus its width)."""
        g = self.grid
        xs, ys = g.plan_xy()
        clearance = np.full(g.plan_shape, 1e7, dtype=np.float32)
        for v in self.valleys:
            if not v.glaciated or g.fine_window(v.bbox())[1] == g.fine_window(v.bbox())[0]:
                continue
            d, _ = _polyline_distance(v.xy, xs, ys, v.w_ice * 1.3 + 2000)
            np.minimum(clearance, d - v.w_ice * 1.2, out=clearance)
        if self.cap is not None:
            cx, cy = self.cap.centre
            r = np.hypot(xs[None, :] - cx, ys[:, None] - cy) - self.cap.radius
            np.minimum(clearance, r.astype(np.float32), out=clearance)
        return clearance

    def _make_cirques(self) -> None:
        """Small cirque glaciers (0.02–0.3 km²) in hollows on high mountain sides away from the glaciers."""
        g, rng = self.grid, self.rng
        target = self.features.small_glaciers
        clearance = self._ice_clearance()
        xs, ys = g.plan_xy()
        minx, miny, maxx, maxy = g.scene
        placed = 0
        for attempt in range(150 * max(target, 1)):
            if placed >= target:
                break
            relax = attempt > 100 * target
            margin = 250.0
            x = float(rng.uniform(minx + margin, maxx - margin))
            y = float(rng.uniform(miny + margin, maxy - margin))
            area = float(rng.uniform(0.04, 0.2)) * 1e6
            aspect = float(rng.uniform(0.9, 2.0))
            w = math.sqrt(area / (2 * aspect + math.pi / 2))
            length = aspect * w
            if g.plan_at(self.d_sea_plan, x, y) < 500:
                continue
            ridge = g.plan_at(self.mount_plan, x, y)
            if ridge < (self.ela - 60 if not relax else 150):
                continue
            if g.plan_at(clearance, x, y) < length + w + 150:
                continue
            gx, gy = g.plan_at(self.grad_mount[0], x, y), g.plan_at(self.grad_mount[1], x, y)
            if math.hypot(gx, gy) < 0.05:
                continue
            up = math.atan2(gy, gx) + float(rng.uniform(-0.3, 0.3))
            head = (x + length * math.cos(up), y + length * math.sin(up))
            if g.plan_at(clearance, *head) < w + 150:
                continue
            xy = np.array([[x, y], [(x + head[0]) / 2, (y + head[1]) / 2], list(head)])
            z_lip = ridge - float(rng.uniform(30, 90))
            valley = _Valley(
                xy=xy,
                mouth_chain=0.0,
                length=length,
                w_ice=w,
                w_floor=0.4 * w,
                wall=float(rng.uniform(150, 260)),
                z_mouth=z_lip,
                z_head=z_lip + length * float(rng.uniform(0.25, 0.45)),
                concavity=1.3,
                kind="small",
                glaciated=True,
                t_term=0.0,
                h_ice=float(rng.uniform(25, 45)),
                widen=float(rng.uniform(0.0, 0.3)),
                wave=(0.05, 400.0, float(rng.uniform(0, 6))),
            )
            valley.gid = self._new_glacier("small")
            valley.reach = valley.w_ice * 1.7 + 2.6 * valley.wall + 150
            self.valleys.append(valley)
            d, _ = _polyline_distance(xy, xs, ys, w + 2000)
            np.minimum(clearance, d - 1.2 * w, out=clearance)
            placed += 1

    def _valley_fields(self, v: _Valley) -> None:
        """Distance and chainage fields of a valley, on the planning grid when it resolves the valley."""
        if v.d is not None:
            return
        g = self.grid
        v.cell = g.plan_cell if g.plan_cell <= max(g.cell, v.w_ice / 3) else g.cell
        r0, r1, c0, c1 = g.window_at(v.bbox(), v.cell)
        xs, ys = g.coords_at(v.cell, r0, r1, c0, c1)
        v.d, v.t = _polyline_distance(v.xy, xs, ys, v.reach)
        # The chainage jumps across the bisector on the inside of every bend; a light blur turns
        # those jumps into ramps (the floor and the ice surface are read through it).
        v.t = _box_blur(v.t, passes=2)
        v.origin = (r0, c0)

    # ---- assembly on the scene grid ---------------------------------------------------------------

    def _fine_valley(self, v: _Valley, win: tuple[int, int, int, int]) -> _FineValley:
        """A valley's distance, chainage and width on a scene window, roughened by noise.

        The same noise feeds the trough walls, the ice margin and the debris and lake edges, so they
        stay consistent with each other.
        """
        g = self.grid
        xs, ys = g.fine_xy(*win)
        self._valley_fields(v)
        assert v.d is not None and v.t is not None
        d = g.sample_at(v.d, v.cell, v.origin, xs, ys)
        t = g.sample_at(v.t, v.cell, v.origin, xs, ys) - np.float32(v.mouth_chain)
        nm = g.sample_shape(self.mid_noise, xs, ys)
        nm2 = g.sample_shape(self.mid_noise2, xs, ys)
        nf = self.fine.window(win, offset=1)
        scale = min(v.w_ice, 700.0)
        d_eff = d + 0.2 * scale * nm + 0.03 * scale * nf
        # A calving front is a cliff across the fjord: less ragged than a land snout, and it must not
        # retreat from the sea it calves into.
        t_eff = t + (0.08 if v.h_front > 0 else 0.3) * scale * nm2
        return _FineValley(win=win, t=t, t_eff=t_eff, d_eff=d_eff, w=v.half_width(t_eff), noise=nm)

    def _assemble(self) -> Landscape:
        """Render the plan on the scene grid: terrain, ice, sea, then the small features."""
        g, rng = self.grid, self.rng
        h, w = g.height, g.width
        xs, ys = g.fine_xy(0, h, 0, w)
        mount = g.sample_shape(self.mount, xs, ys, smooth=True)
        for r0, r1 in _strips(h):
            # Rock texture grows with height above the lowland: gullies and crags on the mountains.
            strip = mount[r0:r1]
            strip += (2.0 + 0.012 * np.maximum(strip - 12.0, 0)) * self.fine.window((r0, r1, 0, w))
        rock = mount.copy()
        # Troughs first (every valley), then glaciers on top; a valley's fine fields are recomputed
        # for each pass rather than kept, which keeps memory flat on large scenes.
        for v in self.valleys:
            for win in self._valley_windows(v):
                self._carve(v, win, mount, rock)
        del mount
        ice_z = np.full((h, w), -np.inf, dtype=np.float32)
        owner = np.zeros((h, w), dtype=np.int32)  # 1 + index into self.valleys; -1: the ice cap
        for i, v in enumerate(self.valleys):
            if v.glaciated:
                for win in self._valley_windows(v):
                    self._lay_ice(i, v, win, rock, ice_z, owner)
        if self.cap is not None:
            self._assemble_cap(rock, ice_z, owner)
        ice = owner != 0
        dem = rock
        dem[ice] = _masked_smooth(ice_z, ice, max(1, round(30 / g.ps)))[ice]
        del ice_z
        sea = np.zeros((h, w), dtype=bool)
        for r0, r1 in _strips(h):
            # Land detail on flat floors (the troughs replaced the mountain texture there).
            dem[r0:r1] += 1.2 * self.fine.window((r0, r1, 0, w), offset=2)
            if self.features.sea:
                p = g.sample_shape(self.p_field, xs, ys[r0:r1])
                p += 12.0 * self.fine.window((r0, r1, 0, w), offset=3)
                sea[r0:r1] = (p < 0) & ~ice[r0:r1]
            # Outwash plains and deltas rise gently from the shore instead of lying flat at sea level.
            plain = 1.0 + 0.012 * g.sample_shape(self.d_sea_shape, xs, ys[r0:r1])
            np.maximum(dem[r0:r1], plain, out=dem[r0:r1])
        surface = np.full((h, w), Surface.LAND, dtype=np.uint8)
        surface[sea] = Surface.SEA
        surface[ice] = Surface.GLACIER
        del sea
        gid_of = np.zeros(len(self.valleys) + 2, dtype=np.int32)
        for i, v in enumerate(self.valleys):
            gid_of[i + 1] = v.gid
        if self.cap is not None:
            gid_of[-1] = self.cap.gid  # owner -1 indexes the last entry
        glacier = gid_of[owner]
        glacier[~ice] = 0
        del owner, ice
        self._debris(glacier, dem, surface)
        self._lakes(dem, surface)
        _place_snow_patches(
            rng,
            g,
            dem,
            surface,
            self.fine,
            self.features.snow_patches,
            max(120.0, self.ela - 250.0),
        )
        glacier, kinds = self._finish_glaciers(glacier, surface)
        fast_ice = self._fast_ice(glacier, kinds, surface)
        dem[surface == Surface.SEA] = 0.0
        names = _glacier_names(rng, kinds)
        attributes = {
            i + 1: {"glacier_name": names[i], "kind": kinds[i]} for i in range(len(kinds))
        }
        outlines = _polygonal_outlines(
            glacier, g.transform, self.crs, attributes, ("glacier_name", "kind")
        )
        return Landscape(
            crs=self.crs,
            transform=g.transform,
            dem=dem.astype(np.float32, copy=False),
            surface=surface,
            glacier_id=glacier.astype(np.int32, copy=False),
            fast_ice=fast_ice,
            outlines=outlines,
            ela_m=self.ela,
        )

    def _valley_windows(self, v: _Valley) -> list[tuple[int, int, int, int]]:
        """The scene window a valley touches, in row strips (bounded memory for big valleys)."""
        r0, r1, c0, c1 = self.grid.fine_window(v.bbox())
        if r1 <= r0 or c1 <= c0:
            return []
        return [(a + r0, b + r0, c0, c1) for a, b in _strips(r1 - r0, 768)]

    def _carve(
        self, v: _Valley, win: tuple[int, int, int, int], mount: np.ndarray, rock: np.ndarray
    ) -> None:
        """A valley's trough: a floor at the level its ice fills, walls rising to the mountains."""
        fv = self._fine_valley(v, win)
        r0, r1, c0, c1 = win
        z_fill = v.ice_floor(fv.t) + 0.8 * v.thickness(fv.t_eff)
        w_trough = np.maximum(fv.w, v.w_floor) if v.glaciated else np.float32(v.w_floor)
        rise = np.maximum(mount[r0:r1, c0:c1] - z_fill, 0.0)
        rock_v = z_fill + rise * _wall_shape(np.maximum(fv.d_eff - w_trough, 0.0) / v.wall)
        np.minimum(rock[r0:r1, c0:c1], rock_v, out=rock[r0:r1, c0:c1])

    def _lay_ice(
        self,
        i: int,
        v: _Valley,
        win: tuple[int, int, int, int],
        rock: np.ndarray,
        ice_z: np.ndarray,
        owner: np.ndarray,
    ) -> None:
        """A glacier's ice on a window: where its surface is the highest, it owns the pixel."""
        fv = self._fine_valley(v, win)
        r0, r1, c0, c1 = win
        thick = v.thickness(fv.t_eff)
        floor = v.ice_floor(fv.t)
        # Where a glacier runs through low ground its ice must not stand as a cliff above the
        # rock: the ground falls away from its margin as an ice-cored moraine slope (~30 degrees,
        # steepening with distance so only the ground next to the ice is held up).
        out = np.maximum(fv.d_eff - fv.w, 0.0)
        apron = floor + 0.8 * thick - 0.6 * out - 0.004 * out * out
        np.maximum(rock[r0:r1, c0:c1], apron, out=rock[r0:r1, c0:c1])
        rel = np.clip(fv.d_eff / np.maximum(fv.w, 1.0), 0.0, 1.0)
        z_ice = floor + thick * (1 - 0.2 * rel * rel)
        sub_z, sub_o = ice_z[r0:r1, c0:c1], owner[r0:r1, c0:c1]
        take = (fv.t_eff > v.t_term) & (fv.d_eff < fv.w) & (z_ice > sub_z)
        sub_z[take] = z_ice[take]
        sub_o[take] = i + 1

    def _assemble_cap(self, rock: np.ndarray, ice_z: np.ndarray, owner: np.ndarray) -> None:
        """The ice cap: a dome on the plateau, with nunataks where the rock stands above the ice."""
        assert self.cap is not None
        g, cap = self.grid, self.cap
        cx, cy = cap.centre
        reach = 1.9 * cap.radius  # lobes reach out to r = R / (1 - 0.22 * 2)
        r0, r1, c0, c1 = g.fine_window((cx - reach, cy - reach, cx + reach, cy + reach))
        if r1 <= r0 or c1 <= c0:
            return
        for a, b in _strips(r1 - r0, 768):
            win = (r0 + a, r0 + b, c0, c1)
            xs, ys = g.fine_xy(*win)
            r = np.hypot(xs[None, :] - cx, ys[:, None] - cy)
            nm = g.sample_shape(self.mid_noise2, xs, ys)
            lobes = g.sample_shape(self.cap_lobes, xs, ys)
            # Lobes and embayments at the scale of the cap, so its margin is nothing like a circle.
            r_eff = r * (1 + 0.22 * lobes + 0.05 * nm) + 20 * self.fine.window(win, offset=4)
            z = cap.z_plateau + cap.dome * np.sqrt(np.clip(1 - (r_eff / cap.radius) ** 2, 0.0, 1.0))
            rows = slice(win[0], win[1])
            ice = (r_eff < cap.radius) & (rock[rows, c0:c1] < z - 3)
            sub_z, sub_o = ice_z[rows, c0:c1], owner[rows, c0:c1]
            take = ice & (z > sub_z)
            sub_z[take] = z[take]
            sub_o[take] = -1

    def _debris(self, glacier: np.ndarray, dem: np.ndarray, surface: np.ndarray) -> None:
        """Debris-covered lower tongues, with lateral moraine bands reaching further up."""
        for v in self.valleys:
            if v.debris_len <= 0 or not v.glaciated:
                continue
            for win in self._valley_windows(v):
                fv = self._fine_valley(v, win)
                r0, r1, c0, c1 = win
                own = glacier[r0:r1, c0:c1] == v.gid
                above = fv.t_eff - v.t_term
                tongue = above < v.debris_len * (1 + 0.35 * fv.noise)
                rel = fv.d_eff / np.maximum(fv.w, 1.0)
                lateral = (rel > 0.72 + 0.1 * fv.noise) & (above < 2.2 * v.debris_len)
                debris = own & (tongue | lateral)
                surface[r0:r1, c0:c1][debris] = Surface.DEBRIS
                # Debris-covered ice is hummocky: melt under uneven debris leaves mounds and hollows.
                bumps = 3.0 * self.fine.window(win, offset=7)
                dem[r0:r1, c0:c1][debris] += bumps[debris]

    def _lakes(self, dem: np.ndarray, surface: np.ndarray) -> None:
        """Proglacial lakes in front of snouts, then tundra lakes on low flat land."""
        g = self.grid
        placed = 0
        for v in self.valleys:
            if v.lake is None:
                continue
            t_c, a, b = v.lake
            # A window around the lake only (a lake cut by it is not placed).
            x, y = v.point_at(t_c)
            reach = 1.6 * max(a, b) + _SHORE_M + v.w_ice
            win = g.fine_window((x - reach, y - reach, x + reach, y + reach))
            if win[1] <= win[0] or win[3] <= win[2]:
                continue
            fv = self._fine_valley(v, win)
            inside = ((fv.t - t_c) / a) ** 2 + (fv.d_eff / b) ** 2 < 1 + 0.3 * fv.noise
            placed += _place_lake(g, dem, surface, win, inside, allow_ice_contact=True)
        _place_tundra_lakes(
            self.rng,
            g,
            dem,
            surface,
            self.fine,
            self.features.lakes - placed,
            force=self.features.lakes > 0 and placed == 0,
        )

    def _finish_glaciers(
        self, glacier: np.ndarray, surface: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        """Renumber the glaciers present in the scene 1..n and settle their kinds.

        A glacier whose pixels touch the sea (4-neighbours) is ``tidewater`` whatever was planned, and
        one planned to calve whose front is not in the scene is a ``valley`` glacier here.
        """
        present = np.unique(glacier[glacier > 0])
        remap = np.zeros(len(self.kinds) + 1, dtype=np.int32)
        remap[present] = np.arange(1, len(present) + 1, dtype=np.int32)
        glacier = remap[glacier]
        sea = surface == Surface.SEA
        near_sea = np.zeros_like(sea)
        near_sea[1:, :] |= sea[:-1, :]
        near_sea[:-1, :] |= sea[1:, :]
        near_sea[:, 1:] |= sea[:, :-1]
        near_sea[:, :-1] |= sea[:, 1:]
        calving = set(np.unique(glacier[near_sea & (glacier > 0)]).tolist())
        kinds = [self.kinds[old - 1] for old in present]
        for new, kind in enumerate(kinds, start=1):
            if new in calving and kind != "ice_cap":
                kinds[new - 1] = "tidewater"
            elif kind == "tidewater" and new not in calving:
                kinds[new - 1] = "valley"  # its front lies outside the scene
        return glacier, kinds

    def _fast_ice(self, glacier: np.ndarray, kinds: list[str], surface: np.ndarray) -> np.ndarray:
        """Fast sea ice: sea within a noisy distance of calving fronts, and in the inner fjords."""
        g, rng = self.grid, self.rng
        h, w = surface.shape
        fast = np.zeros((h, w), dtype=bool)
        if not (surface == Surface.SEA).any():
            return fast
        tide_ids = [i + 1 for i, k in enumerate(kinds) if k == "tidewater"]
        reach = float(rng.uniform(500, 1500))
        inner = float(rng.uniform(800, 2500))
        sx, sy = g.shape_xy()
        # Negative where sheltered, on the shape grid; the scene grid only thresholds it.
        shelter = np.full((g.ny, g.nx), 1e6, dtype=np.float32)
        if tide_ids:
            front = g.plan_from_fine(np.isin(glacier, tide_ids))
            shelter = g.sample_plan(np.minimum(_distance_to(front, g.plan_cell), 1e6), sx, sy)
            shelter -= reach
        if self.fjords:
            # Inner fjord: near the head along the fjord, and inside its banks.
            inner_score = np.where(self.fjord_d < 3000, self.fjord_t - inner, 1e6)
            shelter = np.minimum(shelter, inner_score.astype(np.float32))
        shelter += 300.0 * self.mid_noise
        xs, ys = g.fine_xy(0, h, 0, w)
        for r0, r1 in _strips(h):
            score = g.sample_shape(shelter, xs, ys[r0:r1])
            fast[r0:r1] = (surface[r0:r1] == Surface.SEA) & (score < 0)
        return fast


# --------------------------------------------------------------------------------------------------
# Landscapes around real outlines
# --------------------------------------------------------------------------------------------------


def _load_outlines(outlines: Any, crs: str) -> gpd.GeoDataFrame:
    """Outlines as a GeoDataFrame in ``crs`` with valid polygons."""
    import geopandas as gpd

    from glaciermap.io.inventory import read_inventory, repair_polygons

    if isinstance(outlines, gpd.GeoDataFrame):
        if outlines.crs is None:
            raise InputError("the outlines have no CRS", "set one with GeoDataFrame.set_crs")
        frame = outlines.to_crs(crs)
        geoms, _ = repair_polygons(frame.geometry.to_numpy())
        frame = frame.set_geometry(list(geoms), crs=frame.crs)
        return frame[~frame.geometry.isna()].reset_index(drop=True)
    return read_inventory(outlines, crs=crs).frame


def _clip_outlines(frame: gpd.GeoDataFrame, grid: _Grid) -> tuple[list[Any], list[Any], list[str]]:
    """The outlines clipped to the scene, their names and source ids; InputError if none is left."""
    import shapely

    from glaciermap.io.inventory import repair_polygons

    box = shapely.box(*grid.scene)
    geoms = frame.geometry.to_numpy()
    keep = shapely.intersects(geoms, box) & ~shapely.touches(geoms, box)
    if not keep.any():
        raise InputError(
            f"outlines outside the region: none of the {len(frame)} outlines meets the bounds "
            f"{tuple(round(b, 1) for b in grid.scene)}",
            "choose bounds that overlap the inventory (same CRS), or another inventory",
        )
    clipped, _ = repair_polygons(shapely.intersection(geoms[keep], box))
    names_col = next((c for c in ("glacier_name", "name") if c in frame.columns), None)
    rows = np.nonzero(keep)[0]
    out_geoms, names, ids = [], [], []
    for row, geom in zip(rows, clipped, strict=True):
        if geom is None or geom.is_empty or geom.area <= 0:
            continue
        out_geoms.append(geom)
        name = frame[names_col].iloc[row] if names_col else None
        names.append(name if isinstance(name, str) and name else None)
        source = frame["glacier_id"].iloc[row] if "glacier_id" in frame.columns else row + 1
        ids.append(str(source))
    if not out_geoms:
        raise InputError(
            "outlines outside the region: the outlines only touch the bounds",
            "choose bounds that overlap the inventory",
        )
    return out_geoms, names, ids


@dataclass
class _InventoryGlacier:
    """How the terrain is shaped around one rasterised inventory glacier.

    Attributes:
        gid: its id on the raster.
        flow: unit vector of its flow (from head to front) in map coordinates.
        p_front: projection of its front on ``flow``, metres.
        length: its extent along ``flow``, metres.
        front_xy: middle of the front.
        front_lateral, front_half_width: where the valley continues beyond the front (across ``flow``).
        z_front, z_head: surface elevation at the front and the head, metres.
        gamma: long-profile exponent (surface = z_front + range * (distance up / length) ** gamma).
        wall: width over which the valley walls rise to the mountains, metres.
        area_km2: rasterised area.
        bbox: bounds of its pixels, metres.
    """

    gid: int
    flow: np.ndarray
    p_front: float
    length: float
    front_xy: tuple[float, float]
    front_lateral: float
    front_half_width: float
    z_front: float
    z_head: float
    gamma: float
    wall: float
    area_km2: float
    bbox: tuple[float, float, float, float]

    def surface(self, x: np.ndarray, y: np.ndarray, floor_min: np.ndarray) -> np.ndarray:
        """Ice surface at x (columns) x y (rows), continued beyond the glacier as its valley floor.

        Args:
            x: (w,) metres.
            y: (h,) metres.
            floor_min: (h, w) lowest the valley floor may fall to below the front, metres.

        Returns:
            (h, w) float32 elevation, metres.
        """
        along = self.p_front - (x[None, :] * self.flow[0] + y[:, None] * self.flow[1])
        u = np.maximum(along, 0.0) / self.length
        up = self.z_front + (self.z_head - self.z_front) * u**self.gamma
        # Beyond the front the valley floor keeps falling towards the coast, never below the lowland.
        down = np.maximum(self.z_front + 0.05 * along, floor_min)
        return np.where(along >= 0, up, down).astype(np.float32)


class _OutlineBuilder:
    """Builds the landscape around rasterised inventory outlines (see :func:`landscape_from_outlines`)."""

    def __init__(
        self,
        grid: _Grid,
        crs: str,
        rng: np.random.Generator,
        geoms: list[Any],
        names: list[Any],
        source_ids: list[str],
    ) -> None:
        from rasterio.features import rasterize

        self.grid, self.crs, self.rng = grid, crs, rng
        self.names, self.source_ids = names, source_ids
        self.ids = rasterize(
            ((geom, i + 1) for i, geom in enumerate(geoms)),
            out_shape=(grid.height, grid.width),
            transform=grid.transform,
            fill=0,
            dtype="int32",
        )
        self.ela = float(rng.uniform(300, 550))

    def build(self, sea_side: str | None) -> Landscape:
        """Sea, terrain, then the small features around the rasterised glaciers."""
        g, rng = self.grid, self.rng
        h, w = g.height, g.width
        ice = self.ids > 0
        fine = _FineNoise(rng, g.ps, max(h, w))
        coast_noise = _fractal_noise(
            (g.ny, g.nx), rng, cell_m=g.cell, beta=2.3, min_wavelength_m=300, max_wavelength_m=4000
        )
        mid_noise = _fractal_noise(
            (g.ny, g.nx), rng, cell_m=g.cell, beta=2.0, min_wavelength_m=120, max_wavelength_m=1500
        )
        side = self._choose_sea_side(ice, sea_side)
        # Downhill: towards the sea side, or towards the least glaciated side when there is no sea.
        toward = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}
        down = toward[side or self._least_glaciated_side(ice)]
        sx, sy = g.shape_xy()
        minx, miny, maxx, maxy = g.scene
        # Distance into the scene from the downhill edge (shape grid), metres.
        along_x = {(1, 0): maxx - sx, (-1, 0): sx - minx}
        along_y = {(0, 1): maxy - sy, (0, -1): sy - miny}
        if down in along_x:
            edge = np.broadcast_to(along_x[down][None, :], (g.ny, g.nx))
            extent = maxx - minx
        else:
            edge = np.broadcast_to(along_y[down][:, None], (g.ny, g.nx))
            extent = maxy - miny
        edge = edge.astype(np.float32)
        sea_shape = np.zeros((g.ny, g.nx), dtype=bool)
        if side:
            band = float(rng.uniform(0.06, 0.12)) * extent
            d_ice = _distance_to(g.plan_from_fine(ice), g.plan_cell)
            d_ice_shape = g.sample_plan(np.minimum(d_ice, 1e6), sx, sy)
            # Keep the sea 300 m from every glacier: no inventory glacier calves by accident.
            sea_shape = (edge - band + 150 * coast_noise < 0) & (d_ice_shape > 300)
            if sea_shape.mean() < 0.002:
                sea_shape[:] = False
                side = None
        sea_plan = g.plan_from_shape(sea_shape.astype(np.float32)) > 0.5
        if side and sea_plan.any():
            d_low = g.sample_plan(_distance_to(sea_plan, g.plan_cell), sx, sy)
        else:
            d_low = np.maximum(edge, 0.0)
        glaciers = self._glacier_params(down)
        top = max((p.z_head for p in glaciers), default=self.ela + 200)
        peak = float(min(max(top + rng.uniform(150, 350), self.ela + 450), 1300.0))
        mount_shape = _mountains(g, rng, d_low, peak)
        # The lowest a valley floor may fall: a 3 % gradient up from the coast.
        floor_min = (2.0 + 0.03 * d_low).astype(np.float32)
        xs, ys = g.fine_xy(0, h, 0, w)
        mount = g.sample_shape(mount_shape, xs, ys, smooth=True)
        for r0, r1 in _strips(h):
            strip = mount[r0:r1]
            strip += (2.0 + 0.012 * np.maximum(strip - 12.0, 0)) * fine.window((r0, r1, 0, w))
        rock = mount.copy()
        ice_z = np.zeros((h, w), dtype=np.float32)
        ice_plan = g.plan_from_fine(ice)
        for p in glaciers:
            self._carve(p, mount, rock, ice_z, floor_min, ice_plan)
        for p in glaciers:
            self._apron(p, rock, floor_min)
        del mount
        dem = rock
        dem[ice] = _masked_smooth(ice_z, ice, max(1, round(40 / g.ps)))[ice]
        del ice_z
        sea = np.zeros((h, w), dtype=bool)
        sea_field = np.where(sea_shape, -1.0, 1.0).astype(np.float32)
        for r0, r1 in _strips(h):
            dem[r0:r1] += 1.2 * fine.window((r0, r1, 0, w), offset=2)
            if side:
                coast = g.sample_shape(sea_field, xs, ys[r0:r1])
                # Noise roughens the coastline only: it cannot flip pixels away from it.
                rough = 0.3 * np.clip(fine.window((r0, r1, 0, w), offset=3), -2.5, 2.5)
                sea[r0:r1] = (coast + rough < 0) & ~ice[r0:r1]
        np.maximum(dem, 1.0, out=dem)
        surface = np.full((h, w), Surface.LAND, dtype=np.uint8)
        surface[sea] = Surface.SEA
        surface[ice] = Surface.GLACIER
        self._debris(glaciers, surface, dem, fine, mid_noise)
        lakes = self._proglacial_lakes(glaciers, dem, surface, fine)
        area_km2 = h * w * g.ps**2 / 1e6
        _place_tundra_lakes(
            rng, g, dem, surface, fine, max(2, round(area_km2 / 15)) - lakes, force=lakes == 0
        )
        _place_snow_patches(
            rng, g, dem, surface, fine, max(3, round(area_km2 / 6)), max(120.0, self.ela - 250)
        )
        fast = self._fast_ice(sea, surface, mid_noise)
        dem[surface == Surface.SEA] = 0.0
        glacier = self.ids.copy()
        glacier[~((surface == Surface.GLACIER) | (surface == Surface.DEBRIS))] = 0
        attributes = {
            p.gid: {
                "glacier_name": self.names[p.gid - 1],
                "kind": "small" if p.area_km2 < 0.3 else "valley",
                "source_id": self.source_ids[p.gid - 1],
            }
            for p in glaciers
        }
        outlines = _polygonal_outlines(
            glacier, g.transform, self.crs, attributes, ("glacier_name", "kind", "source_id")
        )
        return Landscape(
            crs=self.crs,
            transform=g.transform,
            dem=dem,
            surface=surface,
            glacier_id=glacier.astype(np.int32),
            fast_ice=fast,
            outlines=outlines,
            ela_m=self.ela,
        )

    def _band_fraction(self, ice: np.ndarray) -> dict[str, float]:
        """Glacier fraction of the outer 15 % band along each side of the scene."""
        h, w = ice.shape
        bh, bw = max(1, int(0.15 * h)), max(1, int(0.15 * w))
        return {
            "north": float(ice[:bh].mean()),
            "south": float(ice[-bh:].mean()),
            "west": float(ice[:, :bw].mean()),
            "east": float(ice[:, -bw:].mean()),
        }

    def _least_glaciated_side(self, ice: np.ndarray) -> str:
        """The side of the scene whose edge band holds the least glacier ice (ties: alphabetical)."""
        fractions = self._band_fraction(ice)
        return min(fractions, key=lambda s: (fractions[s], s))

    def _choose_sea_side(self, ice: np.ndarray, sea_side: str | None) -> str | None:
        """The requested side, or for ``"auto"`` the least glaciated side if nearly free of ice."""
        if sea_side != "auto":
            return sea_side
        side = self._least_glaciated_side(ice)
        return side if self._band_fraction(ice)[side] < 0.03 else None

    def _glacier_params(self, down: tuple[int, int]) -> list[_InventoryGlacier]:
        """Per glacier: flow direction, front, length and the elevation profile parameters."""
        g, rng = self.grid, self.rng
        rows, cols = np.nonzero(self.ids)
        vals = self.ids[rows, cols]
        order = np.argsort(vals, kind="stable")
        rows, cols, vals = rows[order], cols[order], vals[order]
        starts = np.searchsorted(vals, np.arange(1, len(self.names) + 2))
        out = []
        down_v = np.asarray(down, dtype=float)
        for gid in range(1, len(self.names) + 1):
            a, b = starts[gid - 1], starts[gid]
            if b <= a:
                continue  # smaller than a pixel: not on the raster
            x = g.minx + (cols[a:b] + 0.5) * g.ps
            y = g.maxy - (rows[a:b] + 0.5) * g.ps
            # Flow along the long axis pointed downhill; round glaciers, and glaciers lying across
            # the downhill direction (whose downhill end is unclear), flow mostly downhill.
            pick = slice(None, None, max(1, (b - a) // 20000))
            cov = np.cov(np.vstack([x[pick], y[pick]])) if b - a > 2 else np.eye(2)
            evals, evecs = np.linalg.eigh(np.atleast_2d(cov))
            major = evecs[:, -1]
            if major @ down_v < 0:
                major = -major
            elong = math.sqrt(max(evals[-1], 1e-9) / max(evals[0], 1e-9))
            alpha = 0.75 * float(np.clip((elong - 1.2) / 1.0, 0.0, 1.0))
            alpha *= float(np.clip(abs(major @ down_v) / 0.5, 0.0, 1.0))
            flow = alpha * major + (1 - alpha) * down_v
            flow /= max(float(np.hypot(*flow)), 1e-9)
            proj = x * flow[0] + y * flow[1]
            p_front, p_head = float(proj.max()), float(proj.min())
            length = max(p_front - p_head, g.ps)
            near_front = proj > p_front - min(300.0, 0.2 * length)
            lateral = -x * flow[1] + y * flow[0]
            slope = float(rng.uniform(0.09, 0.16) if length > 1000 else rng.uniform(0.12, 0.22))
            # The ELA sits at the accumulation-area ratio up the glacier, as on real glaciers.
            aar = float(rng.uniform(0.45, 0.7))
            z_range = slope * length
            z_front = max(25.0, self.ela - (1 - aar) * z_range + float(rng.normal(0, 30)))
            out.append(
                _InventoryGlacier(
                    gid=gid,
                    flow=flow,
                    p_front=p_front,
                    length=length,
                    front_xy=(float(np.median(x[near_front])), float(np.median(y[near_front]))),
                    front_lateral=float(np.median(lateral[near_front])),
                    front_half_width=float(
                        np.clip(1.2 * np.std(lateral[near_front]) + g.ps, 80.0, 600.0)
                    ),
                    z_front=z_front,
                    z_head=z_front + z_range,
                    gamma=float(rng.uniform(0.8, 1.3)),
                    wall=float(rng.uniform(300, 600)),
                    area_km2=(b - a) * g.ps**2 / 1e6,
                    bbox=(float(x.min()), float(y.min()), float(x.max()), float(y.max())),
                )
            )
        return out

    def _carve(
        self,
        p: _InventoryGlacier,
        mount: np.ndarray,
        rock: np.ndarray,
        ice_z: np.ndarray,
        floor_min: np.ndarray,
        ice_plan: np.ndarray,
    ) -> None:
        """One glacier's valley: walls rising from its ice edges, a floor continuing from its front."""
        g = self.grid
        reach = 2.6 * p.wall + 200
        xmin, ymin, xmax, ymax = p.bbox
        # The valley continues from the front, downhill, to the coast or the scene's edge.
        run = 15000.0
        cx, cy = p.front_xy[0] + p.flow[0] * run, p.front_xy[1] + p.flow[1] * run
        bbox = (
            min(xmin, cx) - reach,
            min(ymin, cy) - reach,
            max(xmax, cx) + reach,
            max(ymax, cy) + reach,
        )
        r0, r1, c0, c1 = g.fine_window(bbox)
        xs, ys = g.fine_xy(r0, r1, c0, c1)
        # Distance from the glacier and its valley beyond the front, on a planning-grid window.
        pr0, pr1, pc0, pc1 = g.window_at(bbox, g.plan_cell)
        px, py = g.coords_at(g.plan_cell, pr0, pr1, pc0, pc1)
        along = p.p_front - (px[None, :] * p.flow[0] + py[:, None] * p.flow[1])
        lateral = -px[None, :] * p.flow[1] + py[:, None] * p.flow[0] - p.front_lateral
        corridor = (along < 0) & (along > -run) & (np.abs(lateral) < p.front_half_width)
        own_plan = g.plan_from_fine(self.ids == p.gid)[pr0:pr1, pc0:pc1]
        # The valley beyond the front stops short of other glaciers instead of undercutting them.
        others = ice_plan[pr0:pr1, pc0:pc1] & ~own_plan
        corridor &= _distance_to(others, g.plan_cell) > 300
        d_plan = _distance_to(own_plan | corridor, g.plan_cell)
        d_out = g.sample_at(np.minimum(d_plan, 1e6), g.plan_cell, (pr0, pc0), xs, ys)
        z_ext = p.surface(xs, ys, g.sample_shape(floor_min, xs, ys))
        rise = np.maximum(mount[r0:r1, c0:c1] - z_ext, 120.0)
        rock_v = z_ext + rise * _wall_shape(d_out / p.wall)
        np.minimum(rock[r0:r1, c0:c1], rock_v, out=rock[r0:r1, c0:c1])
        own = self.ids[r0:r1, c0:c1] == p.gid
        ice_z[r0:r1, c0:c1][own] = z_ext[own]

    def _apron(self, p: _InventoryGlacier, rock: np.ndarray, floor_min: np.ndarray) -> None:
        """Hold the ground next to a glacier up to its surface: no ice cliffs above other valleys."""
        g = self.grid
        reach = 600.0
        xmin, ymin, xmax, ymax = p.bbox
        bbox = (xmin - reach, ymin - reach, xmax + reach, ymax + reach)
        r0, r1, c0, c1 = g.fine_window(bbox)
        xs, ys = g.fine_xy(r0, r1, c0, c1)
        pr0, pr1, pc0, pc1 = g.window_at(bbox, g.plan_cell)
        own_plan = g.plan_from_fine(self.ids == p.gid)[pr0:pr1, pc0:pc1]
        d_plan = _distance_to(own_plan, g.plan_cell)
        out = g.sample_at(np.minimum(d_plan, 1e6), g.plan_cell, (pr0, pc0), xs, ys)
        z_ext = p.surface(xs, ys, g.sample_shape(floor_min, xs, ys))
        # Steepening with distance (~30 degrees at the margin), as in the procedural landscapes.
        apron = z_ext - 0.6 * out - 0.004 * out * out
        np.maximum(rock[r0:r1, c0:c1], apron, out=rock[r0:r1, c0:c1])

    def _debris(
        self,
        glaciers: list[_InventoryGlacier],
        surface: np.ndarray,
        dem: np.ndarray,
        fine: _FineNoise,
        mid_noise: np.ndarray,
    ) -> None:
        """Debris on the lowest part of about half of the larger glaciers (at least one)."""
        g, rng = self.grid, self.rng
        big = [p for p in glaciers if p.area_km2 > 0.3]
        chosen = [p for p in big if rng.random() < 0.5]
        if big and not chosen:
            chosen = [max(big, key=lambda p: p.area_km2)]
        for p in chosen:
            win = g.fine_window(p.bbox)
            r0, r1, c0, c1 = win
            xs, ys = g.fine_xy(*win)
            along = p.p_front - (xs[None, :] * p.flow[0] + ys[:, None] * p.flow[1])
            extent = float(rng.uniform(0.08, 0.22)) * p.length
            wobble = 1 + 0.35 * g.sample_shape(mid_noise, xs, ys)
            debris = (self.ids[r0:r1, c0:c1] == p.gid) & (along < extent * wobble)
            surface[r0:r1, c0:c1][debris] = Surface.DEBRIS
            dem[r0:r1, c0:c1][debris] += 3.0 * fine.window(win, offset=7)[debris]

    def _proglacial_lakes(
        self,
        glaciers: list[_InventoryGlacier],
        dem: np.ndarray,
        surface: np.ndarray,
        fine: _FineNoise,
    ) -> int:
        """A lake just beyond the front of up to two larger glaciers (where there is land)."""
        g, rng = self.grid, self.rng
        placed = 0
        for p in sorted(glaciers, key=lambda p: -p.area_km2):
            if placed >= 2 or p.area_km2 < 0.3:
                break
            a = float(rng.uniform(80, 250))
            b = min(float(rng.uniform(60, 200)), p.front_half_width + 40)
            centre = (p.front_xy[0] + p.flow[0] * (a + 10), p.front_xy[1] + p.flow[1] * (a + 10))
            reach = a + _SHORE_M + 3 * g.ps
            win = g.fine_window(
                (centre[0] - reach, centre[1] - reach, centre[0] + reach, centre[1] + reach)
            )
            if win[1] - win[0] < 4 or win[3] - win[2] < 4:
                continue
            xs, ys = g.fine_xy(*win)
            angle = math.atan2(p.flow[1], p.flow[0])
            mask = _ellipse_mask(xs, ys, centre, (a, b), angle, 0.25 * fine.window(win, offset=6))
            placed += _place_lake(g, dem, surface, win, mask, allow_ice_contact=True)
        return placed

    def _fast_ice(self, sea: np.ndarray, surface: np.ndarray, mid_noise: np.ndarray) -> np.ndarray:
        """Shore-fast ice: sea within a noisy few hundred metres of the coast."""
        g = self.grid
        fast = np.zeros(sea.shape, dtype=bool)
        if not sea.any():
            return fast
        sx, sy = g.shape_xy()
        d_land = _distance_to(g.plan_from_fine(~sea), g.plan_cell)
        shelter = g.sample_plan(np.minimum(d_land, 1e6), sx, sy) + 250 * mid_noise
        shelter -= float(self.rng.uniform(400, 900))
        xs, ys = g.fine_xy(0, sea.shape[0], 0, sea.shape[1])
        for r0, r1 in _strips(sea.shape[0]):
            score = g.sample_shape(shelter, xs, ys[r0:r1])
            fast[r0:r1] = (surface[r0:r1] == Surface.SEA) & (score < 0)
        return fast
