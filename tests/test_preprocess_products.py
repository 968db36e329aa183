"""Scanning, checking and slotting HyP3 products (glaciermap.preprocess.products).

The products come from the simulator: a 4 km x 4 km region in EPSG:32633 east of 18° E, whose two stripes
are written in two UTM zones (32633 and 32634), three slots of which the middle one is missing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from glaciermap.calendar import SLOT_DAYS
from glaciermap.errors import InputError
from glaciermap.io.hyp3 import RtcName, extract_product, open_product, write_rtc_product
from glaciermap.preprocess.products import assign_slots, scan_products
from glaciermap.regions import BUILTIN_REGIONS, Region
from glaciermap.simulate.scene import SimulationResult, simulate_year

YEAR = 2020
TWO_ZONES = Region(
    name="twozones",
    crs="EPSG:32633",
    origin=(330_000.0, 8_400_000.0),
    tile_size=2_000.0,
    pixel_size=10.0,
    prefix="TZ",
    aoi=(560_000.0, 8_760_000.0, 564_000.0, 8_764_000.0),
)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> SimulationResult:
    out = tmp_path_factory.mktemp("products") / "raw"
    result = simulate_year(TWO_ZONES, YEAR, out, seed=1, n_acquisitions=3, cross_pol=False)
    assert set(result.crs_counts) == {"EPSG:32633", "EPSG:32634"}
    return result


def _copy_products(scene: SimulationResult, dest: Path) -> Path:
    """A copy of the scene's product zips (no truth) to add bad files to."""
    dest.mkdir()
    for path in (*scene.rtc_products, *scene.insar_products):
        shutil.copy2(path, dest / path.name)
    return dest


def _write_rtc(
    out: Path, start: dt.datetime, *, scale: str = "power", radiometry: str = "gamma0"
) -> Path:
    """A small single-pol HH RTC product inside TWO_ZONES, in EPSG:32633."""
    from affine import Affine

    stop = start + dt.timedelta(seconds=25)
    granule = (
        f"S1A_IW_GRDH_1SSH_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_031466_03AB12_{start:%H%M}"
    )
    name = RtcName.from_granule(granule, pixel_spacing=10, scale=scale, radiometry=radiometry)
    power = np.full((50, 60), 0.05, dtype=np.float32)
    return write_rtc_product(
        out,
        name,
        crs="EPSG:32633",
        transform=Affine(10.0, 0.0, 561_000.0, 0.0, -10.0, 8_763_000.0),
        bands={"HH": power},
        ls_map=np.ones((50, 60), dtype=np.uint8),
        granule=granule,
        processed=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )


# ---------------------------------------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------------------------------------


def test_scan_finds_every_product_with_kind_date_and_crs(scene):
    records = scan_products(scene.out_dir, TWO_ZONES)

    assert len(records) == len(scene.rtc_products) + len(scene.insar_products) == 6
    assert {r.path for r in records} == {*scene.rtc_products, *scene.insar_products}
    assert [r.start for r in records] == sorted(r.start for r in records)
    rtc = [r for r in records if r.kind == "RTC"]
    insar = [r for r in records if r.kind == "INSAR"]
    acquisitions = sorted(scene.plan.acquisitions, key=lambda a: a.start)
    assert [r.start for r in rtc] == [a.start for a in acquisitions]
    assert [r.start for r in insar] == [a.start for a in acquisitions]
    assert [r.secondary_start for r in insar] == [a.partner_start for a in acquisitions]
    assert {r.crs for r in records} == {"EPSG:32633", "EPSG:32634"}
    for r in rtc:
        assert (r.radiometry, r.scale, r.pixel_spacing, r.secondary_start) == (
            "gamma0",
            "power",
            10.0,
            None,
        )
        assert r.co_pol in ("HH", "VV")
        assert r.base == r.path.name[: -len(".zip")]
    for r in insar:
        assert (r.radiometry, r.scale, r.pixel_spacing) == (None, None, 40.0)
        assert r.co_pol in ("HH", "VV")
    for r in records:
        assert r.size == r.path.stat().st_size and r.mtime_ns > 0
        # Bounds are in the region's CRS: a product in 32634 overlaps the 32633 AOI.
        minx, miny, maxx, maxy = r.bounds_region
        aoi = TWO_ZONES.aoi
        assert minx < aoi[2] and maxx > aoi[0] and miny < aoi[3] and maxy > aoi[1]
        with rasterio.open(
            open_product(r.path).raster("corr" if r.kind == "INSAR" else r.co_pol)
        ) as src:
            assert r.crs == f"EPSG:{src.crs.to_epsg()}"


def test_scan_ignores_truth_and_other_files_and_reads_unpacked_folders(scene, tmp_path):
    folder = _copy_products(scene, tmp_path / "raw")
    (folder / "truth").mkdir()
    shutil.copy2(scene.truth_dir / "dem.tif", folder / "truth" / "dem.tif")
    (folder / "simulation.json").write_text("{}")
    (folder / ".partial.zip").write_bytes(b"downloading")
    # One product unpacked (and its zip removed), one both unpacked and zipped: the zip is used.
    unpacked = extract_product(scene.rtc_products[0], folder)
    (folder / scene.rtc_products[0].name).unlink()
    both = extract_product(scene.insar_products[0], folder)

    records = scan_products(folder, TWO_ZONES)

    paths = {r.path for r in records}
    assert len(records) == 6
    assert unpacked in paths
    assert both not in paths and folder / scene.insar_products[0].name in paths


def test_scan_refuses_an_empty_or_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no HyP3 products"):
        scan_products(tmp_path, TWO_ZONES)
    with pytest.raises(InputError, match="not found"):
        scan_products(tmp_path / "nowhere", TWO_ZONES)


def test_scan_refuses_mixed_scale_naming_the_files(scene, tmp_path):
    folder = _copy_products(scene, tmp_path / "raw")
    odd = _write_rtc(folder, dt.datetime(2020, 3, 5, 15, 36, 20), scale="decibel")
    assert "_gdu" in odd.name

    with pytest.raises(InputError) as err:
        scan_products(folder, TWO_ZONES)

    message = str(err.value)
    assert "mixed scale" in message
    assert odd.name in message and "decibel" in message and "power" in message
    assert scene.rtc_products[0].name in message
    assert "\n" not in message


def test_scan_refuses_mixed_radiometry(scene, tmp_path):
    folder = _copy_products(scene, tmp_path / "raw")
    odd = _write_rtc(folder, dt.datetime(2020, 3, 5, 15, 36, 20), radiometry="sigma0")

    with pytest.raises(InputError, match="mixed radiometry") as err:
        scan_products(folder, TWO_ZONES)
    assert odd.name in str(err.value) and "sigma0" in str(err.value)


def test_scan_accepts_a_folder_all_in_decibel(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    _write_rtc(folder, dt.datetime(2020, 3, 5, 15, 36, 20), scale="decibel")
    _write_rtc(folder, dt.datetime(2020, 3, 29, 15, 36, 20), scale="decibel")

    records = scan_products(folder, TWO_ZONES)

    assert [r.scale for r in records] == ["decibel", "decibel"]


def test_scan_refuses_a_corrupt_zip_naming_it(scene, tmp_path):
    folder = _copy_products(scene, tmp_path / "raw")
    bad = folder / "S1A_IW_20200305T153620_SHP_RTC10_G_gpuned_ABCD.zip"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))

    with pytest.raises(InputError, match="not a readable zip") as err:
        scan_products(folder, TWO_ZONES)
    assert str(bad) in str(err.value)


def test_scan_refuses_a_zip_not_named_like_a_product(scene, tmp_path):
    folder = _copy_products(scene, tmp_path / "raw")
    stray = folder / "holiday_photos.zip"
    shutil.copy2(scene.rtc_products[0], stray)

    with pytest.raises(InputError, match="not named like a HyP3 product") as err:
        scan_products(folder, TWO_ZONES)
    assert str(stray) in str(err.value)


def test_scan_refuses_a_truncated_geotiff_naming_the_product(scene, tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    product = extract_product(scene.rtc_products[0], folder)
    copol = next(product.glob("*_HH.tif")) if any(product.glob("*_HH.tif")) else None
    copol = copol or next(product.glob("*_VV.tif"))
    data = copol.read_bytes()
    copol.write_bytes(data[: len(data) // 2])

    with pytest.raises(InputError, match="truncated or corrupt") as err:
        scan_products(folder, TWO_ZONES)
    assert str(product) in str(err.value)
    assert "\n" not in str(err.value)


def test_scan_refuses_a_product_without_crs(scene, tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    product = extract_product(scene.insar_products[0], folder)
    corr = next(product.glob("*_corr.tif"))
    with rasterio.open(corr) as src:
        values = src.read()
        profile = src.profile
    profile.pop("crs", None)
    corr.unlink()
    with rasterio.open(corr, "w", **profile) as dst:
        dst.write(values)

    with pytest.raises(InputError, match="has no CRS") as err:
        scan_products(folder, TWO_ZONES)
    assert str(product) in str(err.value)


def test_scan_refuses_products_of_another_region(scene):
    example = BUILTIN_REGIONS["example"]  # 130 km west of TWO_ZONES

    with pytest.raises(InputError, match="from another region") as err:
        scan_products(scene.out_dir, example)
    assert "S1" in str(err.value) and ".zip" in str(err.value)


# ---------------------------------------------------------------------------------------------------------
# Slots
# ---------------------------------------------------------------------------------------------------------


def test_assign_slots_groups_by_24_day_slot_and_keeps_the_missing_slot(scene):
    records = scan_products(scene.out_dir, TWO_ZONES)

    slots = assign_slots(records, YEAR, n_slots=3)

    assert [s.index for s in slots] == [0, 1, 2]
    assert [s.start for s in slots] == [
        dt.date(2020, 1, 1),
        dt.date(2020, 1, 25),
        dt.date(2020, 2, 18),
    ]
    for slot in slots:
        expected = sorted(
            (a for a in scene.plan.acquisitions if a.slot == slot.index), key=lambda a: a.start
        )
        assert [r.start for r in slot.rtc] == [a.start for a in expected]
        assert [r.start for r in slot.insar] == [a.start for a in expected]
        assert all(r.kind == "RTC" for r in slot.rtc)
        assert all(r.kind == "INSAR" for r in slot.insar)
    assert len(slots[0].rtc) == 1  # the simulator drops one stripe in slot 0
    assert len(slots[2].rtc) == 2  # both stripes, in two UTM zones
    assert {r.crs for r in slots[2].rtc} == {"EPSG:32633", "EPSG:32634"}
    assert slots[1].rtc == [] and slots[1].insar == [] and slots[1].is_empty
    assert slots[1].date == slots[1].start
    assert slots[2].date == min(r.start for r in slots[2].rtc).date()


def test_assign_slots_returns_all_slots_and_ignores_products_outside_them(scene, caplog):
    records = scan_products(scene.out_dir, TWO_ZONES)
    rtc = next(r for r in records if r.kind == "RTC")
    late = dataclasses.replace(rtc, start=dt.datetime(2020, 12, 30, 15, 0, tzinfo=dt.UTC))
    other_year = dataclasses.replace(rtc, start=dt.datetime(2019, 12, 20, 15, 0, tzinfo=dt.UTC))
    last_day = dataclasses.replace(rtc, start=dt.datetime(2020, 12, 25, 23, 0, tzinfo=dt.UTC))

    with caplog.at_level(logging.INFO, logger="glaciermap.preprocess.products"):
        slots = assign_slots([*records, late, other_year, last_day], YEAR)

    assert len(slots) == 15
    assert slots[-1].start == dt.date(2020, 1, 1) + dt.timedelta(days=14 * SLOT_DAYS)
    assert slots[-1].rtc == [last_day]  # 25 December is the last day of slot 14
    assert sum(len(s.rtc) for s in slots) == 4
    assert caplog.text.count("outside the 15 slots") == 2


def test_insar_goes_to_the_slot_of_its_reference_start(scene):
    records = scan_products(scene.out_dir, TWO_ZONES)
    insar = next(r for r in records if r.kind == "INSAR")
    # Reference on the slot's last day, secondary 12 days later in the next slot.
    edge = dataclasses.replace(
        insar,
        start=dt.datetime(2020, 1, 24, 12, tzinfo=dt.UTC),
        secondary_start=dt.datetime(2020, 2, 5, 12, tzinfo=dt.UTC),
    )

    slots = assign_slots([edge], YEAR)

    assert slots[0].insar == [edge] and slots[1].insar == []
