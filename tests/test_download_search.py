"""The real asf_search code path against a fake CMR on 127.0.0.1 (HTTPS with a test CA)."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely

asf_search = pytest.importorskip("asf_search")
trustme = pytest.importorskip("trustme")

from fakes.cmr import FakeCMR  # noqa: E402
from fakes.server import FakeServer, ca_bundle  # noqa: E402

from glaciermap.errors import RemoteError  # noqa: E402
from glaciermap.io.asf import Scene, search_scenes  # noqa: E402


@pytest.fixture(autouse=True)
def _no_error_reports(monkeypatch):
    """asf_search reports failed searches to ASF: never from tests."""
    monkeypatch.setattr(asf_search, "REPORT_ERRORS", False)


@pytest.fixture
def cmr(tmp_path, monkeypatch):
    ca = trustme.CA()
    # requests prefers these variables to a session's own `verify`.
    bundle = str(ca_bundle(ca, tmp_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    monkeypatch.setenv("CURL_CA_BUNDLE", bundle)
    with FakeServer(tls=ca) as server:
        yield server, asf_search.ASFSession()


def _scene(i: int, day: dt.date, orbit: int = 30, direction: str = "ascending") -> Scene:
    start = dt.datetime.combine(day, dt.time(15, 0, i % 60), tzinfo=dt.UTC)
    return Scene(
        name=f"S1A_IW_SLC__1SDH_{start:%Y%m%dT%H%M%S}_{start:%Y%m%dT%H%M%S}_0{10000 + i:05d}_000000_{i:04X}",
        platform="A",
        start=start,
        stop=start + dt.timedelta(seconds=27),
        relative_orbit=orbit,
        absolute_orbit=10000 + i,
        frame=100 + i,
        direction=direction,
        polarisation="HH+HV",
        footprint=shapely.box(10.0, 77.0 + (i % 3) * 0.5, 20.0, 78.5 + (i % 3) * 0.5),
        bytes=4_000_000_000 + i,
    )


def test_search_through_asf_search_round_trips_scenes_with_paging(cmr, monkeypatch):
    server, session = cmr
    monkeypatch.setattr("asf_search.constants.INTERNAL.CMR_PAGE_SIZE", 250)
    scenes = [_scene(i, dt.date(2016, 1, 1) + dt.timedelta(days=i % 360)) for i in range(600)]
    scenes.append(_scene(999, dt.date(2016, 5, 1), direction="descending"))
    scenes.append(_scene(998, dt.date(2017, 5, 1)))  # another year
    fake = FakeCMR(server, scenes)
    found = search_scenes(
        "POLYGON((12 77.5, 18 77.5, 18 78, 12 78, 12 77.5))",
        dt.datetime(2016, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2016, 12, 31, tzinfo=dt.UTC),
        "ascending",
        host=server.host,
        session=session,
    )
    assert len(fake.queries) == 3  # 600 hits in pages of 250
    assert sorted(s.name for s in found) == sorted(s.name for s in scenes[:600])
    by_name = {s.name: s for s in scenes}
    for scene in found[:20]:
        original = by_name[scene.name]
        assert scene.relative_orbit == original.relative_orbit
        assert scene.absolute_orbit == original.absolute_orbit
        assert scene.frame == original.frame
        assert scene.start == original.start.replace(microsecond=0) or scene.start == original.start
        assert scene.direction == "ascending" and scene.polarisation == "HH+HV"
        assert scene.footprint.equals_exact(original.footprint, 1e-5)
        assert scene.bytes == original.bytes
    form = dict(fake.queries[0])
    assert "temporal" in form and ("polygon" in form or "bounding_box" in form)


def test_a_failing_search_service_is_one_remote_error(cmr, monkeypatch):
    server, session = cmr
    fake = FakeCMR(server, [])
    fake.failures = [500, 500, 500, 500]
    monkeypatch.setattr("time.sleep", lambda s: None)  # asf_search's retry waits
    with pytest.raises(RemoteError, match="cannot search"):
        search_scenes(
            "POLYGON((12 77.5, 18 77.5, 18 78, 12 78, 12 77.5))",
            dt.datetime(2016, 1, 1, tzinfo=dt.UTC),
            dt.datetime(2016, 12, 31, tzinfo=dt.UTC),
            "ascending",
            host=server.host,
            session=session,
        )


def test_simulated_svalbard_year_through_the_fake_search(cmr):
    """A simulated year over Svalbard's `synthetic` tiles: two stripes, one missing slot, one slot
    with a stripe missing, frames whose centres lie in two UTM zones."""
    from glaciermap.download.plan import aoi_lonlat_wkt, plan_year, search_window
    from glaciermap.regions import BUILTIN_REGIONS
    from glaciermap.simulate.catalogue import simulated_plan, simulated_scenes
    from glaciermap.simulate.scene import utm_epsg

    server, session = cmr
    region = BUILTIN_REGIONS["synthetic"]
    truth = simulated_plan(region, 2016, seed=2016)
    scenes = simulated_scenes(region, 2016, seed=2016)
    FakeCMR(server, scenes)
    start, end = search_window(2016)
    found = search_scenes(
        aoi_lonlat_wkt(region), start, end, "ascending", host=server.host, session=session
    )
    assert sorted(s.name for s in found) == sorted(s.name for s in scenes)
    assert len({utm_epsg(s.footprint.centroid.x, s.footprint.centroid.y) for s in found}) == 2
    plan = plan_year(region, 2016, found)
    assert len(truth.stripes) == 2
    lost_slot = int(truth.missing[0].split()[1].rstrip(":"))
    partial_slot = int(truth.missing[1].split()[1].rstrip(":"))
    assert plan.missing_slots == (lost_slot,)
    for slot in plan.slots:
        if slot.index == lost_slot:
            continue
        expected = {a.stripe.relative_orbit for a in truth.acquisitions if a.slot == slot.index}
        assert set(slot.stripes) == expected, slot.index
        assert all(round((b.start - a.start).total_seconds() / 86400) == 12 for a, b in slot.pairs)
        if slot.index == partial_slot:
            assert 0.3 < slot.coverage < 0.95
        else:
            assert slot.coverage == pytest.approx(1.0) and slot.coherence_coverage > 0.99


def test_the_catalogue_is_the_simulator_s_own_plan(example_year_stack):
    """The scenes a fake search serves are the passes `glaciermap simulate` made products from."""
    import json

    from glaciermap.regions import BUILTIN_REGIONS
    from glaciermap.simulate.catalogue import simulated_plan

    manifest = json.loads((example_year_stack.parent / "scene" / "simulation.json").read_text())
    plan = simulated_plan(BUILTIN_REGIONS["example"], 2016, seed=0)
    starts = sorted(a.start.isoformat() for a in plan.acquisitions)
    assert starts == sorted(r["start"] for r in manifest["acquisitions"])
