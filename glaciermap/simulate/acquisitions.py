"""The acquisition plan of a simulated year: which Sentinel-1 passes see the region, when, and where.

A year is cut into 24-day slots from 1 January, as :mod:`glaciermap.calendar` defines them for every
stage (15 slots by default, as in Maslov et al. 2024). Each relative orbit ("stripe") repeats every 12
days; in each slot a stripe contributes its first pass, and the pass 12 days later is its coherence
partner. Two (or, for wide regions, more) overlapping stripes cover the region, so a date's mosaic has
swath edges inside the region; per pass the edges wobble by a few hundred metres (orbit tube), one slot
loses one stripe and one slot is missing altogether — as real years do.

Geometry follows the orbit: Sentinel-1 is sun-synchronous (inclination 98.18°) and right-looking; the ground
track's heading at latitude φ satisfies ``sin(heading) = cos(i) / cos(φ)``, so over Svalbard (78–80° N) an
ascending track heads north-west and the radar looks north-east. IW swaths are about 250 km wide with
incidence from about 30° (near range) to 46° (far range). HyP3 projects each product to the UTM zone of its
scene centre (standard zones, no Svalbard exceptions), so products of one region arrive in several CRSs.

Mission facts used: Sentinel-1A acquires IW data from 3 October 2014, Sentinel-1B from 26 September 2016
until its failure on 23 December 2021; each satellite repeats its orbit every 12 days (175 orbits).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from glaciermap.calendar import (
    DEFAULT_SLOTS,
    REPEAT_DAYS,
    SENTINEL1_START,
    check_year,
    slot_start,
    slot_starts,
)
from glaciermap.errors import InputError

ORBITS_PER_CYCLE = 175
INCLINATION_DEG = 98.18
SWATH_WIDTH_M = 250_000.0
NEAR_INCIDENCE_DEG = 30.0
FAR_INCIDENCE_DEG = 46.0
# Per-pass wobble of a swath edge, metres (orbit tube and burst timing).
EDGE_JITTER_M = 250.0

MISSIONS: dict[str, tuple[dt.date, dt.date | None]] = {
    "A": (SENTINEL1_START, None),
    "B": (dt.date(2016, 9, 26), dt.date(2021, 12, 23)),
}
"""Platform letter -> (first IW acquisition, last acquisition or None)."""
_S1A_FIRST_ORBIT_DATE = dt.date(
    2014, 4, 3
)  # launch day, absolute orbit 1 (for plausible orbit numbers)


@dataclass(frozen=True)
class Stripe:
    """One relative orbit seeing the region.

    Attributes:
        name: ``"A"``, ``"B"``, ... in across-track order (near range first).
        relative_orbit: Sentinel-1 relative orbit number, 1–175.
        polarisation: co-polarisation of this orbit's acquisitions, ``"HH"`` or ``"VV"`` (the
            cross-pol partner is HV or VH).
        near_edge_m, far_edge_m: swath edges as across-track coordinates (metres along the look
            direction, from the region's centre).
        day_offset: days after 1 January of the first pass of the year (0–11).
        time_of_day_s: UTC start time of the pass, seconds after midnight.
    """

    name: str
    relative_orbit: int
    polarisation: str
    near_edge_m: float
    far_edge_m: float
    day_offset: int
    time_of_day_s: int

    def incidence_deg(self, across_m: np.ndarray) -> np.ndarray:
        """Ellipsoid incidence angle at across-track coordinates ``across_m``, degrees."""
        frac = (np.asarray(across_m, dtype=np.float64) - self.near_edge_m) / (
            self.far_edge_m - self.near_edge_m
        )
        return NEAR_INCIDENCE_DEG + np.clip(frac, 0.0, 1.0) * (
            FAR_INCIDENCE_DEG - NEAR_INCIDENCE_DEG
        )


@dataclass(frozen=True)
class Acquisition:
    """One pass of one stripe in one slot.

    Attributes:
        slot: 0-based 24-day slot of the year.
        stripe: the stripe (relative orbit).
        platform: ``"A"`` or ``"B"``.
        start: UTC start time of the reference pass.
        partner_start: UTC start time of the pass 12 days later (coherence partner).
        near_edge_m, far_edge_m: this pass's swath edges (the stripe's, plus jitter).
        absolute_orbit: absolute orbit number of the reference pass (consistent with relative_orbit).
    """

    slot: int
    stripe: Stripe
    platform: str
    start: dt.datetime
    partner_start: dt.datetime
    near_edge_m: float
    far_edge_m: float
    absolute_orbit: int

    @property
    def date(self) -> dt.date:
        return self.start.date()


@dataclass(frozen=True)
class YearPlan:
    """All passes of a simulated year over a region.

    Attributes:
        year: the year.
        look_azimuth_deg: direction the radar looks, degrees clockwise from grid north of the region CRS.
        heading_deg: ground-track heading, same convention.
        stripes: the stripes, near range first.
        acquisitions: the passes, sorted by slot then stripe.
        missing: human-readable notes on what is missing (slots, stripes).
        n_slots: number of 24-day slots.
    """

    year: int
    look_azimuth_deg: float
    heading_deg: float
    stripes: tuple[Stripe, ...]
    acquisitions: tuple[Acquisition, ...]
    missing: tuple[str, ...] = field(default_factory=tuple)
    n_slots: int = DEFAULT_SLOTS

    def slot_dates(self) -> list[dt.date]:
        """Start date of each slot (:func:`glaciermap.calendar.slot_starts`)."""
        return slot_starts(self.year, self.n_slots)


def track_heading_deg(latitude_deg: float, orbit: str) -> float:
    """Ground-track heading at a latitude, degrees clockwise from true north.

    Args:
        latitude_deg: latitude, degrees (|φ| must be below the orbit's turning latitude, 81.8°).
        orbit: ``"ascending"`` or ``"descending"``.
    """
    cos_i = math.cos(math.radians(INCLINATION_DEG))
    ratio = cos_i / math.cos(math.radians(latitude_deg))
    if abs(ratio) >= 1:
        raise InputError(
            f"latitude {latitude_deg:.1f}° is beyond Sentinel-1's ground track (81.8°)",
            "choose a region south of 81.8° N",
        )
    swing = math.degrees(math.asin(ratio))  # negative: the orbit is retrograde
    return swing if orbit == "ascending" else 180.0 - swing


def _platform_on(day: dt.date, rng: np.random.Generator) -> str | None:
    """A platform flying on ``day`` (random among those operating), or None."""
    flying = [
        p for p, (start, end) in MISSIONS.items() if start <= day and (end is None or day <= end)
    ]
    if not flying:
        return None
    return str(rng.choice(flying))


def _absolute_orbit(day: dt.date, relative_orbit: int) -> int:
    """A plausible S1A absolute orbit for ``day`` whose relative orbit is ``relative_orbit``."""
    approx = int((day - _S1A_FIRST_ORBIT_DATE).days * ORBITS_PER_CYCLE / REPEAT_DAYS)
    # S1A: relative = ((absolute - 73) mod 175) + 1.
    base = approx - ((approx - 73) % ORBITS_PER_CYCLE)
    return base + relative_orbit - 1


def plan_year(
    year: int,
    *,
    across_extent_m: float,
    latitude_deg: float,
    grid_convergence_deg: float,
    orbit: str,
    rng: np.random.Generator,
    n_slots: int = DEFAULT_SLOTS,
    drop_slot: bool = True,
    drop_stripe: bool = True,
) -> YearPlan:
    """Draw the stripes and passes of a year over a region.

    Args:
        year: calendar year (must have Sentinel-1 data: see :func:`check_year`).
        across_extent_m: the region's extent along the look direction, metres.
        latitude_deg: latitude of the region's centre.
        grid_convergence_deg: angle from true north to grid north of the region CRS at its centre
            (pyproj's meridian convergence), to turn true headings into grid azimuths.
        orbit: ``"ascending"`` or ``"descending"``.
        rng: random generator (all choices come from it).
        n_slots: 24-day slots in the year (15 covers 360 days).
        drop_slot: lose one whole slot (a missing acquisition in the year).
        drop_stripe: lose one stripe in another slot (a date whose mosaic has a gap).

    Returns:
        The :class:`YearPlan`.
    """
    check_year(year)
    heading = track_heading_deg(latitude_deg, orbit) - grid_convergence_deg
    look = (heading + 90.0) % 360.0  # Sentinel-1 looks right
    stripes = _draw_stripes(across_extent_m, rng)

    slots = list(range(n_slots))
    lost_slot = int(rng.integers(1, n_slots - 1)) if drop_slot and n_slots > 2 else None
    lost_pair = None
    if drop_stripe and len(stripes) > 1 and n_slots > 2:
        candidates = [s for s in slots if s != lost_slot]
        lost_pair = (int(rng.choice(candidates)), int(rng.integers(0, len(stripes))))
    missing: list[str] = []
    if lost_slot is not None:
        missing.append(f"slot {lost_slot}: no acquisition")
    if lost_pair is not None:
        missing.append(f"slot {lost_pair[0]}: stripe {stripes[lost_pair[1]].name} missing")

    jan1 = dt.date(year, 1, 1)
    acquisitions: list[Acquisition] = []
    for slot in slots:
        if slot == lost_slot:
            continue
        first = (slot_start(year, slot) - jan1).days
        for index, stripe in enumerate(stripes):
            if lost_pair == (slot, index):
                continue
            # The stripe's first pass in this slot: passes fall on day_offset + 12 k.
            k = math.ceil((first - stripe.day_offset) / REPEAT_DAYS)
            day = jan1 + dt.timedelta(days=stripe.day_offset + REPEAT_DAYS * k)
            platform = _platform_on(day, rng)
            if platform is None or day.year != year:
                missing.append(f"slot {slot}: stripe {stripe.name} before Sentinel-1 data")
                continue
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
                seconds=stripe.time_of_day_s + int(rng.integers(-20, 21))
            )
            jitter = rng.normal(0.0, EDGE_JITTER_M / 2, size=2)
            acquisitions.append(
                Acquisition(
                    slot=slot,
                    stripe=stripe,
                    platform=platform,
                    start=start,
                    partner_start=start
                    + dt.timedelta(days=REPEAT_DAYS, seconds=int(rng.integers(-3, 4))),
                    near_edge_m=stripe.near_edge_m + float(jitter[0]),
                    far_edge_m=stripe.far_edge_m + float(jitter[1]),
                    absolute_orbit=_absolute_orbit(day, stripe.relative_orbit),
                )
            )
    return YearPlan(
        year=year,
        look_azimuth_deg=look,
        heading_deg=heading % 360.0,
        stripes=tuple(stripes),
        acquisitions=tuple(acquisitions),
        missing=tuple(missing),
        n_slots=n_slots,
    )


def _draw_stripes(across_extent_m: float, rng: np.random.Generator) -> list[Stripe]:
    """Place overlapping stripes so that swath edges cross the region.

    Small regions (up to ~300 km across) get two stripes whose overlap is the middle of the region: the
    near stripe's far edge lies at 60–75 % of the extent, the far stripe's near edge at 25–40 %. Wider
    regions get stripes every 200 km (50 km overlap).
    """
    half = across_extent_m / 2
    if across_extent_m <= 300_000:
        far_a = -half + across_extent_m * rng.uniform(0.60, 0.75)
        near_b = -half + across_extent_m * rng.uniform(0.25, 0.40)
        edges = [(far_a - SWATH_WIDTH_M, far_a), (near_b, near_b + SWATH_WIDTH_M)]
    else:
        step = SWATH_WIDTH_M - 50_000
        count = math.ceil((across_extent_m + 100_000) / step)
        first = -half - 50_000
        edges = [(first + k * step, first + k * step + SWATH_WIDTH_M) for k in range(count)]
    first_orbit = int(rng.integers(1, ORBITS_PER_CYCLE + 1))
    stripes = []
    for k, (near, far) in enumerate(edges):
        stripes.append(
            Stripe(
                name=chr(ord("A") + k),
                # Neighbouring ascending tracks over the Arctic are a few relative orbits apart.
                relative_orbit=(first_orbit + 2 * k - 1) % ORBITS_PER_CYCLE + 1,
                # Over the polar regions Sentinel-1 mostly acquires HH+HV; some orbits VV+VH.
                polarisation="HH" if rng.random() < 0.7 else "VV",
                near_edge_m=float(near),
                far_edge_m=float(far),
                day_offset=int(rng.integers(0, REPEAT_DAYS)),
                time_of_day_s=int(rng.integers(14 * 3600, 17 * 3600)),
            )
        )
    return stripes


def across_track(
    x: np.ndarray, y: np.ndarray, centre: tuple[float, float], look_azimuth_deg: float
) -> np.ndarray:
    """Across-track coordinate (metres along the look direction from ``centre``) of points (x, y)."""
    az = math.radians(look_azimuth_deg)
    return (x - centre[0]) * math.sin(az) + (y - centre[1]) * math.cos(az)
