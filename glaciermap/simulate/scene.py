"""Simulate a Sentinel-1 year over a region and write it as HyP3 delivers it, with the ground truth.

:func:`simulate_year` is the library call behind ``glaciermap simulate``. It

1. builds the ground truth on the region's 10 m grid: a procedural Svalbard-like landscape, or one built
   around a real inventory (``outlines``) — the landscape depends on the seed and region only, so every
   simulated year of a region shows the same glaciers;
2. plans the year (:mod:`~glaciermap.simulate.acquisitions`): two overlapping stripes, 24-day slots, a
   missing slot and a missing stripe, partners 12 days later;
3. per stripe, computes the layover-shadow and local-incidence maps from the DEM
   (:mod:`~glaciermap.simulate.geometry`);
4. per pass, simulates co- and cross-pol gamma0 with speckle and the 12-day coherence
   (:mod:`~glaciermap.simulate.physics`), masks what is outside the swath or in layover/shadow, warps it
   into the UTM zone of the scene's centre, and writes an RTC_GAMMA zip (10 m) and an INSAR_GAMMA zip (40 m)
   named and packed as HyP3 does (:mod:`glaciermap.io.hyp3`);
5. writes the truth (``truth/outlines.gpkg``, ``dem.tif``, ``landsea.tif``, ``surface.tif``), an inventory
   from an earlier year whose fronts differ (``truth/inventory_<year>.gpkg``), and ``simulation.json``
   (seed, plan, drawn parameters) last, as the mark of a complete run.

Random streams are split with :class:`numpy.random.SeedSequence`, so a given seed reproduces every array,
and changing one part (say, the number of acquisitions) does not reshuffle the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import zlib
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glaciermap import interrupt
from glaciermap.calendar import DEFAULT_SLOTS, MAX_SLOTS
from glaciermap.errors import InputError
from glaciermap.io.files import make_output_folder
from glaciermap.io.lock import OutputLock
from glaciermap.regions import Region
from glaciermap.simulate.acquisitions import (
    ORBITS_PER_CYCLE,
    Acquisition,
    YearPlan,
    across_track,
    plan_year,
)
from glaciermap.workers import map_tasks

if TYPE_CHECKING:
    from glaciermap.simulate.landscape import Landscape
    from glaciermap.simulate.physics import SurfaceLevels, YearClimate

log = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000
"""Largest grid simulated in one go (≈ 63 × 63 km at 10 m): the arrays of one pass must fit in memory."""
EARLIER_INVENTORY_YEARS = 10
"""How many years before the simulated year the "earlier inventory" is dated."""
COHERENCE_FACTOR = 4  # 40 m coherence pixels from 10 m

ProgressCallback = Callable[[int, int, str], None]
"""Called with (step done, steps in total, what was just done)."""


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate_year` wrote.

    Attributes:
        out_dir: the folder holding the product zips.
        rtc_products: paths of the RTC_GAMMA zips, by date.
        insar_products: paths of the INSAR_GAMMA zips, by date.
        truth_dir: the folder with the ground truth.
        plan: the year's acquisition plan.
        crs_counts: how many products were written in each CRS.
    """

    out_dir: Path
    rtc_products: tuple[Path, ...]
    insar_products: tuple[Path, ...]
    truth_dir: Path
    plan: YearPlan
    crs_counts: dict[str, int]


def random_streams(seed: int, region: str, year: int) -> dict[str, np.random.Generator]:
    """Independent random streams: the landscape depends on (seed, region), the rest also on the year."""
    key = zlib.crc32(region.encode())
    land = np.random.SeedSequence([seed, key])
    yearly = np.random.SeedSequence([seed, key, year])
    children = yearly.spawn(4)
    return {
        "landscape": np.random.default_rng(land),
        "history": np.random.default_rng(land.spawn(1)[0]),
        "plan": np.random.default_rng(children[0]),
        "climate": np.random.default_rng(children[1]),
        "levels": np.random.default_rng(children[2]),
        "passes": np.random.default_rng(children[3]),
    }


def grid_bounds(region: Region) -> tuple[float, float, float, float]:
    """The region's tile-aligned extent, checked against :data:`MAX_PIXELS`."""
    minx, miny, maxx, maxy = region.grid_extent()
    pixels = (maxx - minx) * (maxy - miny) / region.pixel_size**2
    if pixels > MAX_PIXELS:
        raise InputError(
            f"region {region.name!r} is {(maxx - minx) / 1000:g} × {(maxy - miny) / 1000:g} km "
            f"({pixels / 1e6:.0f} M pixels), too large to simulate in one go "
            f"(at most {MAX_PIXELS / 1e6:.0f} M)",
            "define a smaller region in glaciermap.toml (e.g. a few 10 km tiles) and simulate that",
        )
    return minx, miny, maxx, maxy


def simulate_year(
    region: Region,
    year: int,
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    outlines: str | os.PathLike[str] | None = None,
    n_acquisitions: int = DEFAULT_SLOTS,
    slots: Sequence[int] | None = None,
    cross_pol: bool = True,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> SimulationResult:
    """Simulate a year of Sentinel-1 HyP3 products over ``region`` and write them to ``out_dir``.

    Args:
        region: the region (its CRS, tile-aligned extent and orbit direction are used).
        year: calendar year; must have Sentinel-1 data (2015 on; 2014 from October).
        out_dir: folder for the product zips; the truth goes to ``out_dir/truth``.
        seed: random seed; everything is reproducible from it.
        outlines: a real inventory to build the landscape around (any file the inventory reader takes);
            None makes a procedural landscape.
        n_acquisitions: number of 24-day slots from 1 January (15 spans the year).
        slots: simulate only these 0-based slots of the whole year's plan instead, e.g. the ones
            ``download --acquisitions N`` fetches (:func:`glaciermap.calendar.chosen_slots`); their
            products are the same bytes as in the whole year's simulation.
        cross_pol: also write the cross-polarised band (HV or VH).
        workers: processes simulating passes in parallel (forked by :func:`glaciermap.workers.map_tasks`;
            the files are the same for any number).
        progress: called after each step.

    Returns:
        What was written.

    Raises:
        InputError: no Sentinel-1 data in ``year``, the region is too large, the outlines do not
            overlap the region, or ``out_dir`` cannot be written.
    """
    from glaciermap.calendar import check_year

    check_year(year)
    if not 1 <= n_acquisitions <= MAX_SLOTS:
        raise InputError(
            f"{n_acquisitions} acquisitions do not fit in a year of 24-day slots",
            f"give 1 to {MAX_SLOTS}",
        )
    if slots is not None and not all(0 <= s < MAX_SLOTS for s in slots):
        raise InputError(
            f"slots {list(slots)} are not 0 to {MAX_SLOTS - 1}", "give slots of the year"
        )
    bounds = grid_bounds(region)
    out = Path(out_dir)
    results: dict[int, tuple[Path, Path, str]] = {}
    chosen: list[int] = []

    def finished() -> str:
        passes = f"{len(results)} of {len(chosen)} passes written" if chosen else "nothing written"
        return f"{passes}, no simulation.json yet; run again (with --overwrite)"

    # A second writer of the folder stops, naming this one; a killed one's files are swept.
    with OutputLock(out, folder=True), interrupt.noting(finished):
        make_output_folder(out)
        streams = random_streams(seed, region.name, year)

        landscape = _build_landscape(region, bounds, outlines, streams["landscape"])
        n_plan = DEFAULT_SLOTS if slots is not None else n_acquisitions
        year_plan = plan_for_region(region, landscape.bounds, year, n_plan, streams["plan"])
        from glaciermap.simulate import physics

        climate = physics.draw_year_climate(streams["climate"])
        levels = physics.draw_surface_levels(streams["levels"])

        # Every pass of the plan has its seed, drawn before choosing: a subset of slots gives the
        # same products as the whole year does for those slots.
        pass_seeds = streams["passes"].integers(0, 2**63, size=len(year_plan.acquisitions))
        keep = set(slots) if slots is not None else set(range(n_plan))
        chosen[:] = [i for i, a in enumerate(year_plan.acquisitions) if a.slot in keep]
        plan = dataclasses.replace(
            year_plan, acquisitions=tuple(year_plan.acquisitions[i] for i in chosen)
        )
        steps = len(chosen) + 1
        geometry = {s.name: _stripe_geometry(landscape, year_plan, s) for s in year_plan.stripes}
        # Forked workers inherit the landscape and the stripe geometry (hundreds of MB on large
        # regions) instead of unpickling them. Each pass draws from its own seeded stream, so the
        # files do not depend on the number of workers or the order in which passes finish.
        passes = map_tasks(
            _one_pass,
            chosen,
            workers=workers,
            setup=_PassInputs,
            setup_args=(
                landscape,
                year_plan,
                geometry,
                climate,
                levels,
                pass_seeds,
                out,
                cross_pol,
            ),
            start_method="fork",
            ordered=False,
        )
        with closing(passes):
            for index, result in passes:
                results[index] = result
                done = len(results)
                acquisition = year_plan.acquisitions[index]
                if progress is not None:
                    progress(
                        done,
                        steps,
                        f"{acquisition.date} stripe {acquisition.stripe.name} ({result[2]})",
                    )
        rtc_paths = [results[i][0] for i in chosen]
        insar_paths = [results[i][1] for i in chosen]
        crs_counts: dict[str, int] = {}
        records = []
        for index in chosen:
            acquisition = year_plan.acquisitions[index]
            rtc, insar, crs = results[index]
            crs_counts[crs] = crs_counts.get(crs, 0) + 1
            records.append(
                {
                    "slot": acquisition.slot,
                    "stripe": acquisition.stripe.name,
                    "platform": acquisition.platform,
                    "start": acquisition.start.isoformat(),
                    "partner_start": acquisition.partner_start.isoformat(),
                    "crs": crs,
                    "rtc": rtc.name,
                    "insar": insar.name,
                }
            )

        truth_dir = out / "truth"
        _write_truth(landscape, truth_dir, region, year, streams["history"])
        _write_manifest(
            out / "simulation.json",
            region=region,
            year=year,
            seed=seed,
            outlines=outlines,
            plan=plan,
            records=records,
            climate=climate,
            levels=levels,
            ela_m=landscape.ela_m,
        )
        if progress is not None:
            progress(steps, steps, "ground truth and simulation.json")
    return SimulationResult(
        out_dir=out,
        rtc_products=tuple(rtc_paths),
        insar_products=tuple(insar_paths),
        truth_dir=truth_dir,
        plan=plan,
        crs_counts=crs_counts,
    )


@dataclass(frozen=True)
class _PassInputs:
    """What every pass of a year reads: the worker state of :func:`_one_pass`.

    Attributes:
        landscape: the ground truth. plan: the year's passes.
        geometry: per stripe name, its across-track, layover/shadow and incidence maps.
        climate, levels: the year's melt calendar and the scene's surface levels.
        seeds: (passes,) the seed of each pass's random stream, in plan order.
        out: the folder the products go to. cross_pol: whether to write the cross-pol band.
    """

    landscape: Landscape
    plan: YearPlan
    geometry: dict[str, _StripeGeometry]
    climate: YearClimate
    levels: SurfaceLevels
    seeds: np.ndarray
    out: Path
    cross_pol: bool


def _one_pass(inputs: _PassInputs, index: int) -> tuple[int, tuple[Path, Path, str]]:
    """Simulate and write pass ``index`` of the plan: ``(index, (rtc zip, insar zip, CRS))``."""
    acquisition = inputs.plan.acquisitions[index]
    rng = np.random.default_rng(int(inputs.seeds[index]))
    result = _simulate_pass(
        inputs.landscape, inputs.plan, acquisition, inputs.geometry[acquisition.stripe.name],
        inputs.climate, inputs.levels, rng, inputs.out, cross_pol=inputs.cross_pol,
    )  # fmt: skip
    return index, result


def _build_landscape(region, bounds, outlines, rng):  # type: ignore[no-untyped-def]
    from glaciermap.simulate import landscape as land

    if outlines is None:
        return land.procedural_landscape(bounds, region.crs, rng, pixel_size=region.pixel_size)
    return land.landscape_from_outlines(
        outlines, bounds, region.crs, rng, pixel_size=region.pixel_size
    )


def _centre_lonlat(crs: str, x: float, y: float) -> tuple[float, float]:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def plan_for_region(
    region: Region,
    bounds: tuple[float, float, float, float],
    year: int,
    n: int,
    rng: np.random.Generator,
) -> YearPlan:
    """The year's passes over ``bounds`` (region CRS): stripes across the look direction."""
    from pyproj import CRS, Proj

    from glaciermap.simulate.acquisitions import track_heading_deg

    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    lon, lat = _centre_lonlat(region.crs, cx, cy)
    convergence = float(
        Proj(CRS.from_user_input(region.crs)).get_factors(lon, lat).meridian_convergence
    )
    look = (track_heading_deg(lat, region.orbit) - convergence + 90.0) % 360.0
    xs = np.array([minx, maxx, minx, maxx])
    ys = np.array([miny, miny, maxy, maxy])
    u = across_track(xs, ys, (cx, cy), look)
    return plan_year(
        year,
        across_extent_m=float(u.max() - u.min()),
        latitude_deg=lat,
        grid_convergence_deg=convergence,
        orbit=region.orbit,
        rng=rng,
        n_slots=n,
    )


@dataclass
class _StripeGeometry:
    across: np.ndarray  # (H, W) across-track coordinate, m
    ls_map: np.ndarray  # (H, W) uint8 HyP3 codes for the whole grid
    inc_map: np.ndarray  # (H, W) float32 local incidence, radians


def _stripe_geometry(landscape, plan: YearPlan, stripe) -> _StripeGeometry:  # type: ignore[no-untyped-def]
    from glaciermap.simulate.geometry import layover_shadow, local_incidence

    h, w = landscape.shape
    t = landscape.transform
    cols = t.c + (np.arange(w) + 0.5) * t.a
    rows = t.f + (np.arange(h) + 0.5) * t.e
    minx, miny, maxx, maxy = landscape.bounds
    centre = ((minx + maxx) / 2, (miny + maxy) / 2)
    across = across_track(cols[None, :], rows[:, None], centre, plan.look_azimuth_deg)
    ls = layover_shadow(
        landscape.dem, t, landscape.crs, plan.look_azimuth_deg, stripe.incidence_deg
    )
    inc = local_incidence(
        landscape.dem, landscape.pixel_size, plan.look_azimuth_deg, stripe.incidence_deg(across)
    )
    return _StripeGeometry(across=across.astype(np.float32), ls_map=ls, inc_map=inc)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the standard WGS 84 UTM zone of a point (no Norway/Svalbard exceptions)."""
    zone = min(60, math.floor((lon + 180.0) / 6.0) + 1)
    return (32600 if lat >= 0 else 32700) + zone


def _scene_crs(landscape, plan: YearPlan, acquisition: Acquisition) -> str:  # type: ignore[no-untyped-def]
    """The UTM zone of the scene's centre: mid-swath, level with the region's centre."""
    minx, miny, maxx, maxy = landscape.bounds
    mid = (acquisition.near_edge_m + acquisition.far_edge_m) / 2
    az = math.radians(plan.look_azimuth_deg)
    x = (minx + maxx) / 2 + mid * math.sin(az)
    y = (miny + maxy) / 2 + mid * math.cos(az)
    lon, lat = _centre_lonlat(landscape.crs, x, y)
    return f"EPSG:{utm_epsg(lon, lat)}"


def _granule(acquisition: Acquisition, start: dt.datetime, pol: str, kind: str, cross: bool) -> str:
    """A Sentinel-1 granule name for a pass (GRDH for RTC, SLC for InSAR)."""
    mode = "D" if cross else "S"
    product = {"GRD": "GRDH", "SLC": "SLC_"}[kind]
    stop = start + dt.timedelta(seconds=25)
    # The partner flies one repeat cycle later.
    orbit = acquisition.absolute_orbit + (0 if start == acquisition.start else ORBITS_PER_CYCLE)
    datatake = (orbit * 37 + acquisition.stripe.relative_orbit) % 0xFFFFFF
    unique = zlib.crc32(f"{start.isoformat()}{kind}{pol}".encode()) & 0xFFFF
    return (
        f"S1{acquisition.platform}_IW_{product}_1S{mode}{pol[0]}_"
        f"{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_{orbit:06d}_{datatake:06X}_{unique:04X}"
    )


def _product_grid(
    src_transform,
    shape: tuple[int, int],
    covered: np.ndarray,
    src_crs: str,
    dst_crs: str,
    spacing: float,
):  # type: ignore[no-untyped-def]
    """The north-up grid of a product in ``dst_crs``: the covered area's bounds, snapped to ``spacing``."""
    from affine import Affine
    from rasterio.warp import transform_bounds

    rows = np.flatnonzero(covered.any(axis=1))
    cols = np.flatnonzero(covered.any(axis=0))
    left, top = src_transform @ (cols[0], rows[0])
    right, bottom = src_transform @ (cols[-1] + 1, rows[-1] + 1)
    if dst_crs != src_crs:
        left, bottom, right, top = transform_bounds(
            src_crs, dst_crs, left, bottom, right, top, densify_pts=21
        )
    left = math.floor(left / spacing) * spacing
    bottom = math.floor(bottom / spacing) * spacing
    right = math.ceil(right / spacing) * spacing
    top = math.ceil(top / spacing) * spacing
    width = round((right - left) / spacing)
    height = round((top - bottom) / spacing)
    return Affine(spacing, 0.0, left, 0.0, -spacing, top), (height, width)


def _warp(
    values: np.ndarray,
    src_transform,
    src_crs: str,
    dst_transform,
    dst_shape,
    dst_crs: str,
    *,
    nearest=False,
    nodata=np.nan,
):  # type: ignore[no-untyped-def]
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    out = np.full(dst_shape, nodata, dtype=values.dtype)
    reproject(
        values,
        out,
        src_transform=src_transform,
        src_crs=src_crs,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        src_nodata=nodata,
        dst_nodata=nodata,
        resampling=Resampling.nearest if nearest else Resampling.bilinear,
    )
    return out


def _simulate_pass(landscape, plan, acquisition, geometry, climate, levels, rng, out, *, cross_pol):  # type: ignore[no-untyped-def]
    """Simulate one pass and write its RTC and InSAR products; returns (rtc zip, insar zip, CRS)."""
    from affine import Affine

    from glaciermap.io.hyp3 import InsarName, RtcName, write_insar_product, write_rtc_product
    from glaciermap.simulate import physics
    from glaciermap.simulate.geometry import LS_NODATA_BITS

    stripe = acquisition.stripe
    covered = (geometry.across >= acquisition.near_edge_m) & (
        geometry.across <= acquisition.far_edge_m
    )
    sim = physics.simulate_acquisition(
        landscape, acquisition.date, climate, levels, rng, coherence_factor=COHERENCE_FACTOR
    )
    ls = np.where(covered, geometry.ls_map, 0).astype(np.uint8)
    blocked = ~covered | ((ls & LS_NODATA_BITS) != 0)
    copol = np.where(blocked, np.nan, sim["copol"]).astype(np.float32)
    cross = np.where(blocked, np.nan, sim["crosspol"]).astype(np.float32)
    inc = np.where(covered, geometry.inc_map, np.nan).astype(np.float32)

    crs = _scene_crs(landscape, plan, acquisition)
    src_t = landscape.transform
    dst_t, dst_shape = _product_grid(src_t, landscape.shape, covered, landscape.crs, crs, 10.0)
    warp = lambda a, **k: _warp(a, src_t, landscape.crs, dst_t, dst_shape, crs, **k)  # noqa: E731
    cross_name = {"HH": "HV", "VV": "VH"}[stripe.polarisation]
    bands = {stripe.polarisation: warp(copol)}
    if cross_pol:
        bands[cross_name] = warp(cross)
    ls_out = warp(ls, nearest=True, nodata=0)
    dem_out = warp(landscape.dem.astype(np.float32), nodata=np.nan)
    dem_out = np.nan_to_num(dem_out, nan=0.0)
    granule = _granule(acquisition, acquisition.start, stripe.polarisation, "GRD", cross_pol)
    processed = dt.datetime(acquisition.start.year, 12, 31, 12, 0, tzinfo=dt.UTC)
    rtc_name = RtcName.from_granule(granule, pixel_spacing=10)
    rtc = write_rtc_product(
        out, rtc_name, crs=crs, transform=dst_t, bands=bands, ls_map=ls_out, dem=dem_out,
        inc_map=warp(inc), granule=granule, processed=processed,
    )  # fmt: skip

    # Coherence: 4 x 4 blocks of the 10 m grid; a block is valid where most of it is in the swath.
    f = COHERENCE_FACTOR
    coarse_t = src_t @ Affine.scale(f)
    coverage = physics.block_mean(covered.astype(np.float32), f)
    corr = np.where(coverage >= 0.5, sim["coherence"], np.nan).astype(np.float32)
    amp_power = physics.block_mean(np.nan_to_num(sim["copol"]), f)
    amp = np.where(coverage >= 0.5, np.sqrt(amp_power), np.nan).astype(np.float32)
    coarse_covered = coverage >= 0.5
    dst40_t, dst40_shape = _product_grid(
        coarse_t, corr.shape, coarse_covered, landscape.crs, crs, 40.0
    )
    warp40 = lambda a: _warp(a, coarse_t, landscape.crs, dst40_t, dst40_shape, crs)  # noqa: E731
    ref = _granule(acquisition, acquisition.start, stripe.polarisation, "SLC", cross_pol)
    sec = _granule(acquisition, acquisition.partner_start, stripe.polarisation, "SLC", cross_pol)
    insar_name = InsarName.from_granules(ref, sec, pixel_spacing=40)
    insar = write_insar_product(
        out, insar_name, crs=crs, transform=dst40_t, corr=np.clip(warp40(corr), 0.0, 1.0),
        amp=warp40(amp), reference_granule=ref, secondary_granule=sec, processed=processed,
    )  # fmt: skip
    return rtc, insar, crs


def _write_truth(
    landscape: Landscape, truth_dir: Path, region: Region, year: int, rng: np.random.Generator
) -> None:
    from glaciermap.io.vector import write_gpkg
    from glaciermap.simulate.history import earlier_outlines
    from glaciermap.simulate.landscape import write_truth

    write_truth(landscape, truth_dir.parent)  # writes into <scene>/truth/
    earlier_year = year - EARLIER_INVENTORY_YEARS
    frame, _ = earlier_outlines(landscape, rng, year=earlier_year, region=region.name)
    write_gpkg(truth_dir / f"inventory_{earlier_year}.gpkg", {"glaciers": frame})


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def _write_manifest(
    path: Path,
    *,
    region: Region,
    year: int,
    seed: int,
    outlines,
    plan: YearPlan,
    records,
    climate,
    levels,
    ela_m: float,
) -> None:  # type: ignore[no-untyped-def]
    from glaciermap import __version__
    from glaciermap.io.files import atomic_output

    manifest = {
        "simulated_by": f"glaciermap {__version__}",
        "region": region.name,
        "crs": region.crs,
        "year": year,
        "seed": seed,
        "outlines": str(outlines) if outlines else "procedural",
        "look_azimuth_deg": plan.look_azimuth_deg,
        "heading_deg": plan.heading_deg,
        "stripes": [dataclasses.asdict(s) for s in plan.stripes],
        "missing": list(plan.missing),
        "acquisitions": records,
        "ela_m": ela_m,
        "climate": _jsonable(climate),
        "levels": _jsonable(levels),
    }
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
