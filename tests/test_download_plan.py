"""Scene selection for `download`: recorded ASF responses and hand-made passes."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely

from glaciermap.calendar import chosen_slots, slot_starts
from glaciermap.download.plan import aoi_lonlat_wkt, plan_year, search_window
from glaciermap.io.asf import Scene, scenes_from_records
from glaciermap.regions import Region

yaml = pytest.importorskip("yaml")

FAIRBANKS = Region(
    name="fairbanks",
    crs="EPSG:32606",
    origin=(400_000.0, 7_150_000.0),
    tile_size=10_000.0,
    pixel_size=10.0,
    prefix="FAIR",
    aoi=(440_000.0, 7_170_000.0, 500_000.0, 7_220_000.0),
)


def _records(shared_data, *names):
    records = []
    for name in names:
        loaded = yaml.safe_load((shared_data / "asf_search" / name).read_text())
        records += loaded if isinstance(loaded, list) else [loaded]
    return records


def test_recorded_responses_parse_to_iw_slc_scenes_only(shared_data):
    scenes = scenes_from_records(
        _records(
            shared_data,
            "Fairbanks_S1_stack.yml",
            "S1_baseline_stack.yml",  # GRD: not what HyP3 gets from us
            "OPERA_Products.yml",  # OPERA RTC/CSLC
            "SLC_BURST.yml",  # bursts
        )
    )
    assert [s.name[:33] for s in scenes] == [
        "S1B_IW_SLC__1SDV_20210102T032031_",
        "S1B_IW_SLC__1SDV_20210114T032030_",
        "S1B_IW_SLC__1SDV_20210126T032030_",
    ]
    first = scenes[0]
    assert first.platform == "B" and first.relative_orbit == 94 and first.frame == 210
    assert first.direction == "ascending" and first.polarisation == "VV+VH" and first.co_pol == "VV"
    assert first.start.replace(microsecond=0) == dt.datetime(2021, 1, 2, 3, 20, 31, tzinfo=dt.UTC)
    assert first.footprint.contains(shapely.Point(-147.7, 64.84))  # Fairbanks
    assert first.bytes == 4193723581


def test_recorded_stack_plans_a_partnered_slot_then_a_lonely_one(shared_data):
    """Jan 2 + its 12-day partner Jan 14 fill slot 0; Jan 26 has no partner in the recording, so
    slot 1 gets backscatter without coherence; every later slot is missing."""
    scenes = scenes_from_records(_records(shared_data, "Fairbanks_S1_stack.yml"))
    plan = plan_year(FAIRBANKS, 2021, scenes)
    assert len(plan.slots) == 15 and plan.scenes_found == 3
    first, second = plan.slots[0], plan.slots[1]
    assert first.stripes == (94,) and first.coverage == pytest.approx(1.0)
    ((reference, partner),) = first.pairs
    assert reference.name.startswith("S1B_IW_SLC__1SDV_20210102")
    assert partner.name.startswith("S1B_IW_SLC__1SDV_20210114")
    assert first.coherence_coverage == pytest.approx(1.0)
    assert [s.name[17:25] for s in second.references] == ["20210126"]
    assert second.pairs == () and second.coherence_coverage == 0.0
    assert plan.missing_slots == tuple(range(2, 15))


def test_descending_search_ignores_ascending_scenes(shared_data):
    scenes = scenes_from_records(_records(shared_data, "Fairbanks_S1_stack.yml"))
    plan = plan_year(FAIRBANKS, 2021, scenes, direction="descending")
    assert plan.missing_slots == tuple(range(15))


# ----------------------------------------------------------------------------------------------------
# Hand-made passes: two stripes, each covering part of the AOI


def _scene(orbit: int, day: dt.date, lon0: float, lon1: float, frame: int = 1, platform="A"):
    start = dt.datetime.combine(day, dt.time(16, 0, frame), tzinfo=dt.UTC)
    stamp = f"{start:%Y%m%dT%H%M%S}"
    name = f"S1{platform}_IW_SLC__1SDH_{stamp}_{stamp}_0{orbit:05d}_000000_{frame:04X}"
    return Scene(
        name=name,
        platform=platform,
        start=start,
        stop=start + dt.timedelta(seconds=27),
        relative_orbit=orbit,
        absolute_orbit=orbit,
        frame=frame,
        direction="ascending",
        polarisation="HH+HV",
        footprint=shapely.box(lon0, 64.5, lon1, 65.3),
    )


def test_greedy_pick_covers_the_aoi_with_both_stripes_and_skips_a_redundant_one():
    day = dt.date(2021, 3, 1)  # slot 2 (18 Feb - 13 Mar)
    west = [
        _scene(10, day, -149.0, -147.5),
        _scene(10, day + dt.timedelta(days=12), -149.0, -147.5),
    ]
    east = [
        _scene(12, day + dt.timedelta(days=2), -147.7, -146.0),
        _scene(12, day + dt.timedelta(days=14), -147.7, -146.0),
    ]
    # A third stripe inside the first two adds nothing.
    inner = [
        _scene(14, day + dt.timedelta(days=4), -147.9, -147.6),
        _scene(14, day + dt.timedelta(days=16), -147.9, -147.6),
    ]
    plan = plan_year(FAIRBANKS, 2021, west + east + inner)
    slot = plan.slots[2]
    assert slot.stripes == (10, 12)
    assert slot.coverage == pytest.approx(1.0)
    assert len(slot.pairs) == 2
    assert {pair[1].start.date() - pair[0].start.date() for pair in slot.pairs} == {
        dt.timedelta(days=12)
    }
    # Slot 3 starts 14 March: the partners of the east (15 March) and inner (17 March) stripes are its
    # passes, used for backscatter without coherence (nothing 12 days after them); the inner one
    # now adds area the east one leaves.
    assert plan.slots[3].stripes == (12, 14) and plan.slots[3].pairs == ()
    assert 0.0 < plan.slots[3].coverage < 1.0


def test_partial_cover_is_reported_and_frames_pair_by_overlap():
    day = dt.date(2021, 7, 20)
    west = [
        _scene(10, day, -149.0, -147.5, frame=1),
        _scene(10, day, -147.5, -147.2, frame=2),
        _scene(10, day + dt.timedelta(days=12), -147.52, -147.2, frame=2),
        _scene(10, day + dt.timedelta(days=12), -149.0, -147.48, frame=1),
    ]
    plan = plan_year(FAIRBANKS, 2021, west)
    slot = next(s for s in plan.slots if not s.is_missing)
    assert 0.5 < slot.coverage < 0.95
    assert sorted((a.frame, b.frame) for a, b in slot.pairs) == [(1, 1), (2, 2)]


def test_slots_search_window_and_aoi():
    assert slot_starts(2016)[:3] == [
        dt.date(2016, 1, 1),
        dt.date(2016, 1, 25),
        dt.date(2016, 2, 18),
    ]
    assert chosen_slots(2016, 15) == list(range(15))
    assert chosen_slots(2016, 1) == [9]  # 4 August, the slot start nearest 1 August
    assert chosen_slots(2016, 3) == [8, 9, 10]
    start, end = search_window(2016, 3)
    assert start == dt.datetime(2016, 7, 11, tzinfo=dt.UTC)
    # the last slot (28 Aug - 20 Sep) and partners up to 13 days after it ends
    assert end == dt.datetime(2016, 9, 21, tzinfo=dt.UTC) + dt.timedelta(days=13)
    wkt = aoi_lonlat_wkt(FAIRBANKS)
    aoi = shapely.from_wkt(wkt)
    assert aoi.contains(shapely.Point(-147.7, 64.84))
    with pytest.raises(Exception, match="at least 1"):
        chosen_slots(2016, 0)


def test_planning_a_download_loads_no_torch():
    """Planning a download (and importing the run module) uses the calendar, not the training code:
    no torch import, so a plan takes a fraction of a second."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys\n"
        "import glaciermap.download.run\n"
        "from glaciermap.download.plan import plan_year, search_window\n"
        "from glaciermap.regions import BUILTIN_REGIONS\n"
        "search_window(2016, 3)\n"
        "plan = plan_year(BUILTIN_REGIONS['synthetic'], 2016, [], acquisitions=3)\n"
        "assert [s.index for s in plan.slots] == [8, 9, 10]\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env
    )
    assert "TORCH False" in out.stdout
