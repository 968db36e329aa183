"""What ASF's search would list for a simulated year: the IW SLC frames of every pass and its partner.

The passes are the simulator's own (:func:`~glaciermap.simulate.scene.plan_for_region` with the same
random stream as ``glaciermap simulate --seed``), so the scenes a fake search serves are the ones the
simulated products were made from. Each pass is cut along track into SLC frames of about 170 km (as
ESA slices IW data) covering the region with a margin; a frame's footprint is its swath (near to far
edge across track) times its along-track extent, in WGS84.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib

import numpy as np
import shapely
from pyproj import Transformer

from glaciermap.calendar import DEFAULT_SLOTS
from glaciermap.io.asf import Scene
from glaciermap.regions import Region
from glaciermap.simulate.acquisitions import ORBITS_PER_CYCLE, Acquisition, YearPlan
from glaciermap.simulate.scene import plan_for_region, random_streams

FRAME_LENGTH_M = 170_000.0
FRAME_SECONDS = 27  # an IW SLC frame's duration
MARGIN_M = 30_000.0  # frames reach this far beyond the region along track


def simulated_plan(
    region: Region, year: int, *, seed: int = 0, n_slots: int = DEFAULT_SLOTS
) -> YearPlan:
    """The simulator's passes over the region's tile-aligned extent for ``seed``."""
    streams = random_streams(seed, region.name, year)
    return plan_for_region(region, region.grid_extent(), year, n_slots, streams["plan"])


def _frames(region: Region, plan: YearPlan, near_m: float, far_m: float) -> list[shapely.Polygon]:
    """Frame footprints (region CRS) of a pass between across-track ``near_m`` and ``far_m``."""
    minx, miny, maxx, maxy = region.grid_extent()
    centre = np.array([(minx + maxx) / 2, (miny + maxy) / 2])
    look = math.radians(plan.look_azimuth_deg)
    across = np.array([math.sin(look), math.cos(look)])
    along = np.array([-across[1], across[0]])  # the ground track: look direction - 90°
    corners = np.array([[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy]]) - centre
    extent = corners @ along
    a0, a1 = extent.min() - MARGIN_M, extent.max() + MARGIN_M
    count = max(1, math.ceil((a1 - a0) / FRAME_LENGTH_M))
    step = (a1 - a0) / count
    frames = []
    for k in range(count):
        s0, s1 = a0 + k * step, a0 + (k + 1) * step
        points = [
            centre + u * across + s * along
            for u, s in ((near_m, s0), (far_m, s0), (far_m, s1), (near_m, s1))
        ]
        frames.append(shapely.Polygon(points))
    return frames


def _name(
    platform: str, pol: str, start: dt.datetime, orbit: int, relative: int, cross: bool
) -> str:
    stop = start + dt.timedelta(seconds=FRAME_SECONDS)
    datatake = (orbit * 37 + relative) % 0xFFFFFF
    unique = zlib.crc32(f"{start.isoformat()}SLC{pol}".encode()) & 0xFFFF
    mode = "D" if cross else "S"
    return (
        f"S1{platform}_IW_SLC__1S{mode}{pol[0]}_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
        f"{orbit:06d}_{datatake:06X}_{unique:04X}"
    )


def _pass_scenes(
    region: Region,
    plan: YearPlan,
    acquisition: Acquisition,
    start: dt.datetime,
    absolute_orbit: int,
    to_wgs84: Transformer,
) -> list[Scene]:
    stripe = acquisition.stripe
    scenes = []
    footprints = _frames(region, plan, acquisition.near_edge_m, acquisition.far_edge_m)
    for k, footprint in enumerate(footprints):
        frame_start = start + dt.timedelta(seconds=FRAME_SECONDS * k)
        lonlat = shapely.transform(
            shapely.segmentize(footprint, 10_000.0),
            lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])),
        )
        cross = stripe.polarisation == "HH"  # dual-pol over the Arctic, as most real scenes are
        scenes.append(
            Scene(
                name=_name(
                    acquisition.platform,
                    stripe.polarisation,
                    frame_start,
                    absolute_orbit,
                    stripe.relative_orbit,
                    cross,
                ),
                platform=acquisition.platform,
                start=frame_start,
                stop=frame_start + dt.timedelta(seconds=FRAME_SECONDS),
                relative_orbit=stripe.relative_orbit,
                absolute_orbit=absolute_orbit,
                frame=(stripe.relative_orbit * 7 + k) % 1000 + 200,
                direction=region.orbit,
                polarisation=f"{stripe.polarisation}+{'HV' if stripe.polarisation == 'HH' else 'VH'}"
                if cross
                else stripe.polarisation,
                footprint=shapely.Polygon(shapely.get_exterior_ring(lonlat).coords),
                bytes=4_000_000_000 + zlib.crc32(frame_start.isoformat().encode()) % 500_000_000,
            )
        )
    return scenes


def simulated_scenes(
    region: Region, year: int, *, seed: int = 0, n_slots: int = DEFAULT_SLOTS
) -> list[Scene]:
    """Every SLC frame of the simulated year's passes and their 12-day partners, in time order."""
    plan = simulated_plan(region, year, seed=seed, n_slots=n_slots)
    to_wgs84 = Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True)
    scenes: dict[str, Scene] = {}
    for acquisition in plan.acquisitions:
        for start, orbit in (
            (acquisition.start, acquisition.absolute_orbit),
            (acquisition.partner_start, acquisition.absolute_orbit + ORBITS_PER_CYCLE),
        ):
            for scene in _pass_scenes(region, plan, acquisition, start, orbit, to_wgs84):
                scenes.setdefault(scene.name, scene)
    return sorted(scenes.values(), key=lambda s: (s.start, s.name))


__all__ = ["simulated_plan", "simulated_scenes"]
