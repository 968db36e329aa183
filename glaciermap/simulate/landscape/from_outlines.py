"""Landscapes around real outlines: a real inventory's glaciers on the grid, with terrain invented to fit.

:func:`landscape_from_outlines` rasterises the outlines, gives each glacier a flow direction, a front and a
concave surface profile that puts the ELA inside it, carves its valley into noise mountains and continues
that valley from the front down to the coast; the sea goes along a side free of glaciers. Debris, lakes,
snow patches and fast ice come from the same placement rules as the procedural scenes (:mod:`.terrain`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from glaciermap.errors import InputError
from glaciermap.simulate.landscape.fields import distance_to, masked_smooth, wall_shape
from glaciermap.simulate.landscape.grid import Grid, as_generator, strips
from glaciermap.simulate.landscape.model import Landscape, Surface
from glaciermap.simulate.landscape.noise import FineNoise, fractal_noise
from glaciermap.simulate.landscape.terrain import (
    SHORE_M,
    ellipse_mask,
    mountains,
    place_lake,
    place_snow_patches,
    place_tundra_lakes,
)
from glaciermap.simulate.landscape.truth import polygonal_outlines

if TYPE_CHECKING:
    import geopandas as gpd


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
    generator = as_generator(rng)
    grid = Grid(bounds, pixel_size)
    if sea_side not in (None, "auto", "north", "south", "east", "west"):
        raise InputError(
            f"sea_side must be 'auto', 'north', 'south', 'east', 'west' or None, not {sea_side!r}"
        )
    frame = _load_outlines(outlines, crs)
    geoms, names, source_ids = _clip_outlines(frame, grid)
    return _OutlineBuilder(grid, crs, generator, geoms, names, source_ids).build(sea_side)


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


def _clip_outlines(frame: gpd.GeoDataFrame, grid: Grid) -> tuple[list[Any], list[Any], list[str]]:
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
        grid: Grid,
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
        fine = FineNoise(rng, g.ps, max(h, w))
        coast_noise = fractal_noise(
            (g.ny, g.nx), rng, cell_m=g.cell, beta=2.3, min_wavelength_m=300, max_wavelength_m=4000
        )
        mid_noise = fractal_noise(
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
            d_ice = distance_to(g.plan_from_fine(ice), g.plan_cell)
            d_ice_shape = g.sample_plan(np.minimum(d_ice, 1e6), sx, sy)
            # Keep the sea 300 m from every glacier: no inventory glacier calves by accident.
            sea_shape = (edge - band + 150 * coast_noise < 0) & (d_ice_shape > 300)
            if sea_shape.mean() < 0.002:
                sea_shape[:] = False
                side = None
        sea_plan = g.plan_from_shape(sea_shape.astype(np.float32)) > 0.5
        if side and sea_plan.any():
            d_low = g.sample_plan(distance_to(sea_plan, g.plan_cell), sx, sy)
        else:
            d_low = np.maximum(edge, 0.0)
        glaciers = self._glacier_params(down)
        top = max((p.z_head for p in glaciers), default=self.ela + 200)
        peak = float(min(max(top + rng.uniform(150, 350), self.ela + 450), 1300.0))
        mount_shape = mountains(g, rng, d_low, peak)
        # The lowest a valley floor may fall: a 3 % gradient up from the coast.
        floor_min = (2.0 + 0.03 * d_low).astype(np.float32)
        xs, ys = g.fine_xy(0, h, 0, w)
        mount = g.sample_shape(mount_shape, xs, ys, smooth=True)
        for r0, r1 in strips(h):
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
        dem[ice] = masked_smooth(ice_z, ice, max(1, round(40 / g.ps)))[ice]
        del ice_z
        sea = np.zeros((h, w), dtype=bool)
        sea_field = np.where(sea_shape, -1.0, 1.0).astype(np.float32)
        for r0, r1 in strips(h):
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
        place_tundra_lakes(
            rng, g, dem, surface, fine, max(2, round(area_km2 / 15)) - lakes, force=lakes == 0
        )
        place_snow_patches(
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
        outlines = polygonal_outlines(
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
        corridor &= distance_to(others, g.plan_cell) > 300
        d_plan = distance_to(own_plan | corridor, g.plan_cell)
        d_out = g.sample_at(np.minimum(d_plan, 1e6), g.plan_cell, (pr0, pc0), xs, ys)
        z_ext = p.surface(xs, ys, g.sample_shape(floor_min, xs, ys))
        rise = np.maximum(mount[r0:r1, c0:c1] - z_ext, 120.0)
        rock_v = z_ext + rise * wall_shape(d_out / p.wall)
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
        d_plan = distance_to(own_plan, g.plan_cell)
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
        fine: FineNoise,
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
        fine: FineNoise,
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
            reach = a + SHORE_M + 3 * g.ps
            win = g.fine_window(
                (centre[0] - reach, centre[1] - reach, centre[0] + reach, centre[1] + reach)
            )
            if win[1] - win[0] < 4 or win[3] - win[2] < 4:
                continue
            xs, ys = g.fine_xy(*win)
            angle = math.atan2(p.flow[1], p.flow[0])
            mask = ellipse_mask(xs, ys, centre, (a, b), angle, 0.25 * fine.window(win, offset=6))
            placed += place_lake(g, dem, surface, win, mask, allow_ice_contact=True)
        return placed

    def _fast_ice(self, sea: np.ndarray, surface: np.ndarray, mid_noise: np.ndarray) -> np.ndarray:
        """Shore-fast ice: sea within a noisy few hundred metres of the coast."""
        g = self.grid
        fast = np.zeros(sea.shape, dtype=bool)
        if not sea.any():
            return fast
        sx, sy = g.shape_xy()
        d_land = distance_to(g.plan_from_fine(~sea), g.plan_cell)
        shelter = g.sample_plan(np.minimum(d_land, 1e6), sx, sy) + 250 * mid_noise
        shelter -= float(self.rng.uniform(400, 900))
        xs, ys = g.fine_xy(0, sea.shape[0], 0, sea.shape[1])
        for r0, r1 in strips(sea.shape[0]):
            score = g.sample_shape(shelter, xs, ys[r0:r1])
            fast[r0:r1] = (surface[r0:r1] == Surface.SEA) & (score < 0)
        return fast
