"""Acquisition plans and radar geometry of the simulator."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from affine import Affine

from glaciermap.calendar import REPEAT_DAYS, SLOT_DAYS, check_year
from glaciermap.errors import InputError
from glaciermap.simulate.acquisitions import (
    across_track,
    plan_year,
    track_heading_deg,
)
from glaciermap.simulate.geometry import (
    LS_LAYOVER,
    LS_SHADOW,
    LS_TESTED,
    layover_shadow,
    local_incidence,
)


def _plan(year=2016, seed=3, **kwargs):
    return plan_year(
        year,
        across_extent_m=8_000,
        latitude_deg=78.9,
        grid_convergence_deg=-2.9,
        orbit="ascending",
        rng=np.random.default_rng(seed),
        **kwargs,
    )


def test_ascending_track_over_svalbard_heads_north_west_and_looks_north_east():
    heading = track_heading_deg(78.9, "ascending")
    assert -50 < heading < -35
    assert 170 < track_heading_deg(78.9, "descending") < 230
    assert abs(track_heading_deg(0.0, "ascending") + 8.2) < 0.1
    plan = _plan()
    assert 35 < plan.look_azimuth_deg < 60


def test_year_plan_has_slots_stripes_partners_and_gaps():
    plan = _plan()
    assert len(plan.stripes) == 2
    a, b = plan.stripes
    # The stripes overlap inside the region and each has an edge inside it.
    assert b.near_edge_m < a.far_edge_m
    assert -4_000 < b.near_edge_m < 4_000 and -4_000 < a.far_edge_m < 4_000
    slots = {acq.slot for acq in plan.acquisitions}
    assert len(slots) == 14  # one slot lost
    per_slot = [sum(acq.slot == s for acq in plan.acquisitions) for s in sorted(slots)]
    assert sorted(per_slot) == [1] + [2] * 13  # one slot lost one stripe
    assert len(plan.missing) == 2
    jan1 = dt.date(2016, 1, 1)
    for acq in plan.acquisitions:
        first_day = jan1 + dt.timedelta(days=SLOT_DAYS * acq.slot)
        assert first_day <= acq.date < first_day + dt.timedelta(days=SLOT_DAYS)
        assert (acq.partner_start - acq.start).days in (REPEAT_DAYS - 1, REPEAT_DAYS)
        assert ((acq.absolute_orbit - 73) % 175) + 1 == acq.stripe.relative_orbit
        # A stripe's passes repeat every 12 days.
        assert (acq.date - jan1).days % REPEAT_DAYS == acq.stripe.day_offset
        assert acq.platform in ("A", "B")
    assert all(acq.platform == "A" for acq in plan.acquisitions if acq.date < dt.date(2016, 9, 26))


def test_plan_is_deterministic_and_seed_dependent():
    assert _plan(seed=5) == _plan(seed=5)
    assert _plan(seed=5).acquisitions != _plan(seed=6).acquisitions


def test_years_without_sentinel1_are_refused():
    with pytest.raises(InputError, match="3 October 2014"):
        check_year(2013)
    with pytest.raises(InputError, match="has not begun"):
        check_year(2031, today=dt.date(2026, 11, 24))
    check_year(2016)
    # In 2014 only the slots after October have data.
    plan = plan_year(
        2014,
        across_extent_m=8_000,
        latitude_deg=78.9,
        grid_convergence_deg=0.0,
        orbit="ascending",
        rng=np.random.default_rng(1),
        drop_slot=False,
        drop_stripe=False,
    )
    assert plan.acquisitions and all(a.date >= dt.date(2014, 10, 3) for a in plan.acquisitions)


def test_across_track_coordinate():
    x, y = np.array([10.0, 0.0]), np.array([0.0, 10.0])
    assert np.allclose(across_track(x, y, (0.0, 0.0), 90.0), [10.0, 0.0])
    assert np.allclose(across_track(x, y, (0.0, 0.0), 0.0), [0.0, 10.0])


def _ridge(look_azimuth=90.0):
    """A N–S ridge with 50° flanks, 1000 m high, seen from the west (look east)."""
    x = np.arange(200) * 10.0
    z = np.maximum(0.0, 1000.0 - np.abs(x - 1000.0) * 1.2)
    dem = np.tile(z, (60, 1)).astype(np.float32)
    transform = Affine(10, 0, 500_000, 0, -10, 8_000_000)
    ls = layover_shadow(dem, transform, "EPSG:32633", look_azimuth, lambda u: np.full_like(u, 40.0))
    return dem, ls


def test_slope_facing_the_radar_lays_over_and_the_far_flank_is_shadowed():
    _, ls = _ridge()
    row = ls[30]
    flank_facing = slice(20, 95)  # x 200–950 m, rising away from the sensor at 50° > 40° incidence
    flank_away = slice(105, 180)
    assert (row[flank_facing] & LS_LAYOVER).all()
    assert (row[flank_away] & LS_SHADOW).all()
    # Far beyond the ridge the terrain is flat and clean again.
    assert (row[190:] == LS_TESTED).all()
    # Near range, flat ground whose slant range the ridge top overlaps is affected by layover too.
    assert row[5] & LS_LAYOVER


def test_gentle_terrain_has_no_layover_or_shadow():
    x = np.arange(100) * 10.0
    dem = np.tile(200 + 0.2 * x, (40, 1)).astype(np.float32)  # 11° slope
    transform = Affine(10, 0, 500_000, 0, -10, 8_000_000)
    ls = layover_shadow(dem, transform, "EPSG:32633", 90.0, lambda u: np.full_like(u, 35.0))
    assert (ls == LS_TESTED).all()
    covered = np.zeros(dem.shape, dtype=bool)
    covered[:, :50] = True
    ls = layover_shadow(
        dem, transform, "EPSG:32633", 90.0, lambda u: np.full_like(u, 35.0), covered
    )
    assert (ls[:, 50:] == 0).all() and (ls[:, :50] == LS_TESTED).all()


def test_local_incidence_on_flanks():
    dem, _ = _ridge()
    inc = np.degrees(local_incidence(dem, 10.0, 90.0, np.full(dem.shape, 40.0)))
    assert inc[30, 50] == pytest.approx(10.2, abs=0.5)  # 40° − 50° slope facing the radar
    assert inc[30, 150] == pytest.approx(90.2, abs=0.5)  # 40° + 50° slope facing away
    assert inc[30, 199] == pytest.approx(40.0, abs=0.5)  # flat
