"""End to end: ``glaciermap simulate`` writes a year of HyP3 products and the truth, reproducibly."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import rasterio

from glaciermap.errors import InputError
from glaciermap.io.hyp3 import InsarName, RtcName, open_product
from glaciermap.regions import BUILTIN_REGIONS, Region
from glaciermap.simulate.scene import simulate_year, utm_epsg

EXAMPLE = BUILTIN_REGIONS["example"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    result = simulate_year(EXAMPLE, 2016, out, seed=7, n_acquisitions=4)
    return result


def test_products_are_hyp3_zips_in_the_scene_utm_zones(scene):
    rtc = sorted(scene.out_dir.glob("S1*_RTC10_G_*.zip"))
    insar = sorted(scene.out_dir.glob("S1*_INT40_G_*.zip"))
    assert len(rtc) == len(insar) == len(scene.plan.acquisitions)
    assert len(rtc) >= 5  # 4 slots x 2 stripes, less what the plan dropped
    crss = set()
    for path in rtc:
        name = RtcName.parse(path.stem)
        assert name.pixel_spacing == 10 and name.radiometry == "gamma0" and name.scale == "power"
        product = open_product(path)
        assert product.co_pol in ("VV", "HH")
        with rasterio.open(product.raster(product.co_pol)) as src:
            crss.add(src.crs.to_epsg())
            assert src.res == (10.0, 10.0)
            assert src.dtypes[0] == "float32"
            data = src.read(1, masked=True)
            # Power scale: values near 0; in dB within the C-band range of the scene's surfaces.
            db = 10 * np.log10(data.compressed())
            assert np.percentile(db, 1) > -45 and np.percentile(db, 99) < 10
        with rasterio.open(product.raster("ls_map")) as src:
            assert src.dtypes[0] == "uint8"
    for path in insar:
        name = InsarName.parse(path.stem)
        assert name.pixel_spacing == 40 and name.days == 12
        with rasterio.open(open_product(path).raster("corr")) as src:
            corr = src.read(1)
            assert src.res == (40.0, 40.0)
            valid = corr[np.isfinite(corr)]
            assert valid.size and valid.min() >= 0 and valid.max() <= 1
    # The example region (EPSG:32633, 11.9° E) is seen by scenes centred in two standard UTM zones.
    assert (
        crss == set(scene.crs_counts_epsg) if hasattr(scene, "crs_counts_epsg") else len(crss) >= 1
    )
    assert all(c.startswith("EPSG:326") for c in scene.crs_counts)


def test_truth_and_manifest(scene):
    import geopandas as gpd

    truth = scene.truth_dir
    outlines = gpd.read_file(truth / "outlines.gpkg", layer="glaciers")
    assert len(outlines) >= 3 and outlines.is_valid.all()
    assert outlines.crs.to_epsg() == 32633
    earlier = next(truth.glob("inventory_*.gpkg"))
    assert earlier.name == "inventory_2006.gpkg"
    old = gpd.read_file(earlier)
    assert old.is_valid.all() and len(old) >= len(outlines)
    # The fronts differ: the earlier inventory is not the same ice.
    assert abs(old.area.sum() - outlines.area.sum()) > 0.01e6
    for name in ("dem.tif", "landsea.tif", "surface.tif"):
        with rasterio.open(truth / name) as src:
            assert src.crs.to_epsg() == 32633
    manifest = json.loads((scene.out_dir / "simulation.json").read_text())
    assert manifest["seed"] == 7 and manifest["year"] == 2016 and manifest["region"] == "example"
    assert len(manifest["acquisitions"]) == len(scene.plan.acquisitions)


def test_same_seed_same_arrays(scene, tmp_path):
    again = simulate_year(EXAMPLE, 2016, tmp_path, seed=7, n_acquisitions=4)
    first, second = scene.rtc_products[0], again.rtc_products[0]
    assert first.name == second.name
    a, b = open_product(first), open_product(second)
    with rasterio.open(a.raster(a.co_pol)) as s1, rasterio.open(b.raster(b.co_pol)) as s2:
        assert np.array_equal(s1.read(1), s2.read(1))


def test_year_without_acquisitions_is_refused_before_writing(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(InputError, match="3 October 2014"):
        simulate_year(EXAMPLE, 2012, out)
    assert not out.exists()


def test_region_too_large_is_refused(tmp_path):
    with pytest.raises(InputError, match="too large to simulate"):
        simulate_year(BUILTIN_REGIONS["svalbard"], 2016, tmp_path)


def test_outlines_outside_the_region_are_refused(tmp_path, shared_data):
    far = Region(
        "far", "EPSG:32633", (0, 0), 2000, 10, "FAR", aoi=(600_000, 8_600_000, 604_000, 8_604_000)
    )
    npi = shared_data / "svalbard_npi" / "derived" / "svalbard_2007.gpkg"
    with pytest.raises(InputError, match=r"outside|do not|no outline"):
        simulate_year(far, 2016, tmp_path / "out", outlines=npi, n_acquisitions=1)
    assert not list((tmp_path / "out").glob("*.zip"))


def test_utm_zone_of_a_point():
    assert utm_epsg(11.9, 78.9) == 32632
    assert utm_epsg(16.0, 78.9) == 32633
    assert utm_epsg(19.0, 78.9) == 32634
    assert utm_epsg(-70.0, -45.0) == 32719


def test_cli_simulate_and_bad_input(run_cli, tmp_path):
    out = tmp_path / "sim"
    ok = run_cli(
        "simulate", "--region", "example", "--year", "2016", "-o", out, "--acquisitions", "1"
    )
    assert ok.exit_code == 0, ok.stderr
    assert "RTC" in ok.stdout and (out / "simulation.json").is_file()
    unknown = run_cli("simulate", "--region", "atlantis", "-o", tmp_path / "x")
    assert unknown.exit_code == 2 and "unknown region" in unknown.stderr
    early = run_cli("simulate", "--year", "2010", "-o", tmp_path / "y")
    assert early.exit_code == 2 and "no acquisitions" in early.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    unwritable = run_cli("simulate", "-o", blocker / "sub", "--acquisitions", "1")
    assert unwritable.exit_code == 2 and "cannot create output folder" in unwritable.stderr


def _member_crcs(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: info.CRC for info in archive.infolist()}


def test_worker_processes_write_the_same_products(scene, tmp_path):
    calls = []
    parallel = simulate_year(
        EXAMPLE, 2016, tmp_path, seed=7, n_acquisitions=4, workers=2,
        progress=lambda done, total, what: calls.append((done, total)),
    )  # fmt: skip
    assert [p.name for p in parallel.rtc_products] == [p.name for p in scene.rtc_products]
    assert [p.name for p in parallel.insar_products] == [p.name for p in scene.insar_products]
    # Every member of every product is the same whichever worker made it, in whatever order.
    serial = scene.rtc_products + scene.insar_products
    forked = parallel.rtc_products + parallel.insar_products
    for a, b in zip(serial, forked, strict=True):
        assert _member_crcs(a) == _member_crcs(b), a.name
    for name in ("dem.tif", "landsea.tif", "surface.tif"):
        assert (scene.truth_dir / name).read_bytes() == (parallel.truth_dir / name).read_bytes()
    steps = len(parallel.plan.acquisitions) + 1
    assert calls == [(done, steps) for done in range(1, steps + 1)]
    last_a, last_b = (
        open_product(scene.insar_products[-1]),
        open_product(parallel.insar_products[-1]),
    )
    with rasterio.open(last_a.raster("corr")) as s1, rasterio.open(last_b.raster("corr")) as s2:
        assert np.array_equal(s1.read(1), s2.read(1), equal_nan=True)


def test_landscape_around_a_real_inventory(tmp_path, shared_data):
    import geopandas as gpd

    npi = shared_data / "svalbard_npi" / "derived" / "svalbard_2007.gpkg"
    result = simulate_year(EXAMPLE, 2016, tmp_path, seed=1, outlines=npi, n_acquisitions=1)
    truth = gpd.read_file(result.truth_dir / "outlines.gpkg", layer="glaciers")
    names = set(truth["glacier_name"])
    # The example region (x 430–436 km, y 8752–8758 km) holds parts of these NPI glaciers.
    assert {"Edithbreen", "Austre Lovenbreen"} & names
    assert result.rtc_products


def test_chosen_slots_are_the_same_products_as_in_any_other_choice(tmp_path):
    """``slots=`` picks passes out of the whole year's plan: a slot's products do not depend on which
    other slots are simulated with it (the fake HyP3 serves them for the slots `download` orders)."""
    both = simulate_year(EXAMPLE, 2016, tmp_path / "a", seed=0, slots=[8, 9], cross_pol=False)
    one = simulate_year(EXAMPLE, 2016, tmp_path / "b", seed=0, slots=[9], cross_pol=False)
    assert {a.slot for a in both.plan.acquisitions} == {8, 9}
    assert {a.slot for a in one.plan.acquisitions} == {9}
    for product in (*one.rtc_products, *one.insar_products):
        assert product.read_bytes() == (tmp_path / "a" / product.name).read_bytes()
    with pytest.raises(InputError, match="slots"):
        simulate_year(EXAMPLE, 2016, tmp_path / "c", slots=[15])
