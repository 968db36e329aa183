"""The landscape contract: surface classes, the :class:`Landscape` grid and what a procedural scene holds.

:class:`Landscape` is what the landscape builders produce and what the radar physics
(:mod:`glaciermap.simulate.physics`), the acquisition geometry and the truth writer read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

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
    """How many of each landscape element :func:`~glaciermap.simulate.landscape.procedural_landscape`
    places.

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
