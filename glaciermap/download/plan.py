"""Which Sentinel-1 scenes a region's year needs: stripes, 24-day slots, AOI coverage, 12-day partners.

Pure logic over :class:`~glaciermap.io.asf.Scene` records (no network), so it is tested on recorded
search responses and on simulated years alike.

1. Scenes are grouped into **passes**: the frames of one relative orbit ("stripe") acquired on one
   day, whose union is the swath that day.
2. The year is cut into 24-day **slots** from 1 January and ``acquisitions`` of them are chosen
   around the ablation peak (all 15 by default), by :mod:`glaciermap.calendar` as every stage does.
3. In each slot, every stripe offers its first pass that has a **partner**: the same relative orbit
   12 days later (± 1 day), needed for the 12-day coherence; a stripe with no partnered pass offers
   its first pass alone (backscatter without coherence).
4. Passes are picked greedily by the AOI area they add, partnered ones first, until nothing adds
   more than 0.1 % of the AOI. The slot's **coverage** is the AOI fraction the picked passes cover.
5. Each reference frame is paired with the partner pass's frame it overlaps most (INSAR_GAMMA needs
   two overlapping granules).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import shapely
from pyproj import Transformer
from shapely import Polygon
from shapely.geometry.base import BaseGeometry

from glaciermap.calendar import DEFAULT_SLOTS, REPEAT_DAYS, SLOT_DAYS, chosen_slots, slot_starts
from glaciermap.io.asf import Scene
from glaciermap.regions import Region

PARTNER_TOLERANCE_DAYS = 1  # a partner pass may be a day off the 12-day repeat
MIN_GAIN = 0.001  # of the AOI: a pass adding less is not worth its credits
MIN_PAIR_OVERLAP = 0.5  # of the reference frame's area


@dataclass(frozen=True)
class Pass:
    """The frames of one stripe on one day (``scenes`` in along-track order)."""

    relative_orbit: int
    platform: str
    scenes: tuple[Scene, ...]
    footprint: BaseGeometry  # in the region's CRS

    @property
    def start(self) -> dt.datetime:
        return self.scenes[0].start

    @property
    def date(self) -> dt.date:
        return self.start.date()


@dataclass(frozen=True)
class PlannedPass:
    """A pass chosen for a slot, its partner pass and the frame pairs for INSAR_GAMMA."""

    reference: Pass
    partner: Pass | None
    pairs: tuple[tuple[Scene, Scene], ...]
    added: float  # AOI fraction this pass added when it was picked


@dataclass(frozen=True)
class SlotPlan:
    """One 24-day slot: its dates, the picked passes and the AOI fraction they cover."""

    index: int
    start: dt.date
    passes: tuple[PlannedPass, ...]
    coverage: float
    coherence_coverage: float

    @property
    def end(self) -> dt.date:
        """First day after the slot."""
        return self.start + dt.timedelta(days=SLOT_DAYS)

    @property
    def is_missing(self) -> bool:
        return not self.passes

    @property
    def stripes(self) -> tuple[int, ...]:
        return tuple(sorted(p.reference.relative_orbit for p in self.passes))

    @property
    def references(self) -> tuple[Scene, ...]:
        return tuple(s for p in self.passes for s in p.reference.scenes)

    @property
    def pairs(self) -> tuple[tuple[Scene, Scene], ...]:
        return tuple(pair for p in self.passes for pair in p.pairs)

    @property
    def dates(self) -> tuple[dt.date, ...]:
        return tuple(sorted({p.reference.date for p in self.passes}))


@dataclass(frozen=True)
class DownloadPlan:
    """The scenes a region's year needs, slot by slot."""

    region: str
    year: int
    direction: str
    slots: tuple[SlotPlan, ...]  # the chosen slots, in order
    scenes_found: int

    @property
    def missing_slots(self) -> tuple[int, ...]:
        return tuple(s.index for s in self.slots if s.is_missing)

    @property
    def references(self) -> tuple[Scene, ...]:
        return tuple(s for slot in self.slots for s in slot.references)

    @property
    def pairs(self) -> tuple[tuple[Scene, Scene], ...]:
        return tuple(pair for slot in self.slots for pair in slot.pairs)


# ----------------------------------------------------------------------------------------------------
# Geometry


def region_aoi(region: Region) -> Polygon:
    """The region's AOI polygon in its own CRS (metres)."""
    if region.aoi_wkt:
        geometry = shapely.from_wkt(region.aoi_wkt)
        if not isinstance(geometry, Polygon):
            geometry = shapely.convex_hull(geometry)
        return geometry
    return shapely.box(*region.aoi)


def aoi_lonlat_wkt(region: Region, *, step_m: float = 5000.0) -> str:
    """The AOI as WGS84 WKT for the search, edges densified so the curved outline survives."""
    to_wgs84 = Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True)
    dense = shapely.segmentize(region_aoi(region), step_m)
    lonlat = shapely.transform(dense, lambda xy: _transform(to_wgs84, xy))
    return shapely.to_wkt(shapely.simplify(lonlat, 0.001), rounding_precision=5)


def _transform(transformer: Transformer, xy: object) -> object:
    import numpy as np

    coords = np.asarray(xy)
    x, y = transformer.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _footprints_in(region: Region, scenes: Sequence[Scene]) -> list[BaseGeometry]:
    to_region = Transformer.from_crs("EPSG:4326", region.crs, always_xy=True)
    dense = shapely.segmentize([s.footprint for s in scenes], 0.05)  # degrees
    return [
        shapely.make_valid(shapely.transform(g, lambda xy: _transform(to_region, xy)))
        for g in dense
    ]


# ----------------------------------------------------------------------------------------------------
# Planning


def group_passes(region: Region, scenes: Iterable[Scene]) -> list[Pass]:
    """Scenes grouped into passes (relative orbit, platform, UTC day), in time order."""
    unique = {s.name: s for s in scenes}
    ordered = sorted(unique.values(), key=lambda s: (s.start, s.name))
    footprints = dict(zip((s.name for s in ordered), _footprints_in(region, ordered), strict=True))
    groups: dict[tuple[int, str, dt.date], list[Scene]] = defaultdict(list)
    for scene in ordered:
        groups[(scene.relative_orbit, scene.platform, scene.date)].append(scene)
    passes = [
        Pass(
            orbit,
            platform,
            tuple(members),
            shapely.union_all([footprints[m.name] for m in members]),
        )
        for (orbit, platform, _), members in groups.items()
    ]
    return sorted(passes, key=lambda p: (p.start, p.relative_orbit))


def _partner(reference: Pass, passes: Sequence[Pass]) -> Pass | None:
    """The pass of the same stripe 12 days later (± 1 day), same platform preferred."""
    best: tuple[tuple[int, int], Pass] | None = None
    for other in passes:
        if other.relative_orbit != reference.relative_orbit:
            continue
        days = (other.date - reference.date).days
        if abs(days - REPEAT_DAYS) > PARTNER_TOLERANCE_DAYS:
            continue
        rank = (abs(days - REPEAT_DAYS), int(other.platform != reference.platform))
        if best is None or rank < best[0]:
            best = rank, other
    return None if best is None else best[1]


def pair_frames(region: Region, reference: Pass, partner: Pass) -> tuple[tuple[Scene, Scene], ...]:
    """Each reference frame with the partner frame it overlaps most (at least half its area)."""
    ref_prints = _footprints_in(region, reference.scenes)
    partner_prints = _footprints_in(region, partner.scenes)
    pairs = []
    for scene, footprint in zip(reference.scenes, ref_prints, strict=True):
        overlaps = [footprint.intersection(p).area for p in partner_prints]
        best = max(range(len(overlaps)), key=overlaps.__getitem__, default=None)
        if best is not None and overlaps[best] >= MIN_PAIR_OVERLAP * footprint.area:
            pairs.append((scene, partner.scenes[best]))
    return tuple(pairs)


def plan_slot(
    region: Region, aoi: BaseGeometry, index: int, start: dt.date, passes: Sequence[Pass]
) -> SlotPlan:
    """Pick the passes of one slot (see the module docstring)."""
    end = start + dt.timedelta(days=SLOT_DAYS)
    offers: list[tuple[Pass, Pass | None]] = []
    for orbit in sorted({p.relative_orbit for p in passes}):
        own = [p for p in passes if p.relative_orbit == orbit and start <= p.date < end]
        if not own:
            continue
        partnered = [(p, _partner(p, passes)) for p in own]
        with_partner = [(p, q) for p, q in partnered if q is not None]
        offers.append(with_partner[0] if with_partner else partnered[0])
    area = aoi.area
    covered: BaseGeometry = shapely.Polygon()
    coherent: BaseGeometry = shapely.Polygon()
    picked: list[PlannedPass] = []
    for want_partner in (True, False):
        pool = [o for o in offers if (o[1] is not None) == want_partner]
        while pool:
            gains = [
                (shapely.union(covered, p.footprint).intersection(aoi).area - covered.area) / area
                for p, _ in pool
            ]
            best = max(range(len(pool)), key=gains.__getitem__)
            if gains[best] < MIN_GAIN:
                break
            reference, partner = pool.pop(best)
            pairs = pair_frames(region, reference, partner) if partner is not None else ()
            covered = shapely.union(covered, reference.footprint).intersection(aoi)
            if pairs:
                refs = _footprints_in(region, [a for a, _ in pairs])
                partners = _footprints_in(region, [b for _, b in pairs])
                overlap = shapely.union_all(
                    [a.intersection(b) for a, b in zip(refs, partners, strict=True)]
                )
                coherent = shapely.union(coherent, overlap).intersection(aoi)
            picked.append(PlannedPass(reference, partner, pairs, gains[best]))
    picked.sort(key=lambda p: (p.reference.start, p.reference.relative_orbit))
    return SlotPlan(index, start, tuple(picked), covered.area / area, coherent.area / area)


def plan_year(
    region: Region,
    year: int,
    scenes: Iterable[Scene],
    *,
    acquisitions: int = DEFAULT_SLOTS,
    direction: str | None = None,
) -> DownloadPlan:
    """The download plan for ``region`` in ``year`` from the scenes a search found.

    Scenes of the other orbit direction, or not IW SLC, are ignored (``direction`` defaults to the
    region's).
    """
    direction = direction or region.orbit
    listed = list(scenes)
    usable = [s for s in listed if not s.direction or s.direction == direction]
    passes = group_passes(region, usable)
    aoi = region_aoi(region)
    starts = slot_starts(year)
    slots = tuple(
        plan_slot(region, aoi, k, starts[k], passes) for k in chosen_slots(year, acquisitions)
    )
    return DownloadPlan(region.name, year, direction, slots, len(listed))


def search_window(year: int, acquisitions: int = DEFAULT_SLOTS) -> tuple[dt.datetime, dt.datetime]:
    """UTC search window covering the chosen slots and their partners 12 days after the last."""
    chosen = chosen_slots(year, acquisitions)
    starts = slot_starts(year)
    first = starts[chosen[0]]
    last = starts[chosen[-1]] + dt.timedelta(days=SLOT_DAYS + REPEAT_DAYS + PARTNER_TOLERANCE_DAYS)
    return (
        dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC),
        dt.datetime.combine(last, dt.time(), tzinfo=dt.UTC),
    )


__all__ = [
    "DownloadPlan",
    "Pass",
    "PlannedPass",
    "SlotPlan",
    "aoi_lonlat_wkt",
    "group_passes",
    "pair_frames",
    "plan_slot",
    "plan_year",
    "region_aoi",
    "search_window",
]
