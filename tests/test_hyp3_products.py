"""HyP3 product names, the simulated-product writers and the product reader (glaciermap.io.hyp3).

The name parser is checked on the real product file names in ASF's published HyP3 API responses
(../shared/data/hyp3); the writers and the reader on small products written here (60 x 50 pixels).
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import stat
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from glaciermap.errors import InputError
from glaciermap.io.hyp3 import (
    InsarName,
    RtcName,
    extract_product,
    is_insar_name,
    is_rtc_name,
    layover_shadow_mask,
    members_preprocess_reads,
    open_product,
    pack,
    parse_product_name,
    product_folder_problem,
    product_kind,
    split_product_filename,
    write_insar_product,
    write_rtc_product,
)

RTC_EXAMPLE = "S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A"
INSAR_EXAMPLE = "S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09"
GRD = "S1A_IW_GRDH_1SDV_20160706T160520_20160706T160545_012000_012D5A_1A2B"
SLC_REF = "S1A_IW_SLC__1SDV_20171111T150004_20171111T150031_019224_0208F0_1A2B"
SLC_SEC = "S1B_IW_SLC__1SDV_20171117T145926_20171117T145953_008363_00ED1B_3C4D"
CRS = "EPSG:32634"
HEIGHT, WIDTH = 60, 50
PROCESSED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------------


def test_rtc_example_name_parses_into_its_parts() -> None:
    name = RtcName.parse(RTC_EXAMPLE)
    assert (name.mission, name.beam_mode, name.polarization, name.orbit) == ("S1A", "IW", "DV", "P")
    assert name.start == datetime(2018, 1, 28, 16, 12, 1, tzinfo=UTC)
    assert (name.pixel_spacing, name.radiometry, name.scale) == (30, "gamma0", "power")
    assert not (name.water_masked or name.filtered or name.clipped or name.dem_matching)
    assert name.product_id == "FD6A"
    assert name.polarisations == ("VV", "VH") and name.co_pol == "VV" and name.is_dual_pol
    assert name.kind == "RTC"
    assert name.format() == str(name) == RTC_EXAMPLE


def test_insar_example_name_parses_into_its_parts() -> None:
    name = InsarName.parse(INSAR_EXAMPLE)
    assert (name.reference_platform, name.secondary_platform) == ("A", "B")
    assert name.reference_start == datetime(2017, 11, 11, 15, 0, 4, tzinfo=UTC)
    assert name.secondary_start == datetime(2017, 11, 17, 14, 59, 26, tzinfo=UTC)
    assert (name.polarization, name.orbit, name.days) == ("VV", "P", 6)
    assert (name.pixel_spacing, name.looks, name.range_looks, name.azimuth_looks) == (
        80,
        "20x4",
        20,
        4,
    )
    assert (name.water_masked, name.clipped, name.swath, name.product_id) == (
        False,
        False,
        "F",
        "4D09",
    )
    assert name.kind == "INSAR"
    assert name.format() == INSAR_EXAMPLE


def test_every_rtc_option_combination_round_trips() -> None:
    combos = itertools.product(
        ["gamma0", "sigma0"],
        ["power", "amplitude", "decibel"],
        *[[False, True]] * 4,
        ["DV", "SV", "DH", "SH"],
        ["P", "R", "O"],
        [10, 20, 30],
    )
    seen = set()
    for radiometry, scale, water, filtered, clipped, matching, pol, orbit, spacing in combos:
        name = RtcName(
            platform="B",
            beam_mode="EW",
            start=datetime(2021, 12, 22, 3, 4, 5),
            polarization=pol,
            orbit=orbit,
            pixel_spacing=spacing,
            product_id="0A9F",
            radiometry=radiometry,
            scale=scale,
            water_masked=water,
            filtered=filtered,
            clipped=clipped,
            dem_matching=matching,
        )
        text = name.format()
        assert RtcName.parse(text) == name
        assert parse_product_name(f"/some/folder/{text}.zip") == name
        seen.add(text)
    assert len(seen) == 2 * 3 * 16 * 4 * 3 * 3  # every combination gives its own name


def test_every_insar_option_combination_round_trips() -> None:
    for spacing, water, clipped, swath, orbit in itertools.product(
        [40, 80], [False, True], [False, True], ["1", "2", "3", "F"], ["P", "R", "O"]
    ):
        name = InsarName(
            reference_platform="C",
            secondary_platform="A",
            reference_start=datetime(2025, 3, 1, 5, 6, 7),
            secondary_start=datetime(2025, 3, 13, 5, 6, 8),
            polarization="HH",
            orbit=orbit,
            days=12,
            pixel_spacing=spacing,
            product_id="BEEF",
            water_masked=water,
            clipped=clipped,
            swath=swath,
        )
        assert InsarName.parse(name.format()) == name
        assert parse_product_name(name.format()) == name


def test_times_are_normalised_to_utc_whole_seconds() -> None:
    naive = RtcName.parse(RTC_EXAMPLE)
    with_micro = RtcName(
        platform="A",
        beam_mode="IW",
        start=datetime(2018, 1, 28, 16, 12, 1, 999_000),
        polarization="DV",
        orbit="P",
        pixel_spacing=30,
        product_id="FD6A",
    )
    assert with_micro == naive and with_micro.start.tzinfo is UTC


def _hyp3_jobs(shared_data: Path) -> list[dict]:
    """Every job in the stored HyP3 API responses (a job list, a single job, or an error body)."""
    jobs = []
    for path in sorted((shared_data / "hyp3").glob("*.json")):
        document = json.loads(path.read_text())
        if "jobs" in document:
            jobs.extend(document["jobs"])
        elif "job_type" in document:
            jobs.append(document)
    return jobs


def test_real_rtc_product_names_from_hyp3_job_responses(shared_data: Path) -> None:
    rtc_jobs = [job for job in _hyp3_jobs(shared_data) if job["job_type"] == "RTC_GAMMA"]
    assert len(rtc_jobs) >= 2
    for job in rtc_jobs:
        granule = job["job_parameters"]["granules"][0]
        params = job["job_parameters"]
        (file,) = job["files"]
        name, rest = split_product_filename(file["filename"])
        assert rest == ".zip" and isinstance(name, RtcName)
        assert name.format() + rest == file["filename"]
        assert RtcName.parse(file["filename"]) == name and is_rtc_name(file["filename"])
        assert product_kind(file["url"]) == "RTC" and not is_insar_name(file["filename"])
        # The name agrees with the granule and with the options the job asked for (defaults otherwise).
        assert name.mission == granule[:3] and name.polarization == granule[14:16]
        assert name.start.strftime("%Y%m%dT%H%M%S") == granule[17:32]
        assert name.pixel_spacing == int(params.get("resolution", 30))
        assert name.radiometry == params.get("radiometry", "gamma0")
        assert name.scale == params.get("scale", "power")
        assert name.dem_matching == params.get("dem_matching", False)
        assert name.filtered == params.get("speckle_filter", False)
        rebuilt = RtcName.from_granule(
            granule,
            orbit=name.orbit,
            pixel_spacing=name.pixel_spacing,
            radiometry=name.radiometry,
            scale=name.scale,
            filtered=name.filtered,
            dem_matching=name.dem_matching,
            product_id=name.product_id,
        )
        assert rebuilt == name
        # Browse and thumbnail images carry the same base name with their own suffixes.
        for url in job.get("browse_images", []) + job.get("thumbnail_images", []):
            image_name, suffix = split_product_filename(url)
            assert image_name == name
            assert suffix in {".png", "_rgb.png", "_thumb.png", "_rgb_thumb.png"}


def test_autorift_product_names_are_neither_rtc_nor_insar(shared_data: Path) -> None:
    autorift = [job for job in _hyp3_jobs(shared_data) if job["job_type"] == "AUTORIFT"]
    assert autorift
    for job in autorift:
        for file in job["files"]:
            assert not is_rtc_name(file["filename"]) and not is_insar_name(file["filename"])
            with pytest.raises(InputError, match="not a HyP3 RTC_GAMMA or INSAR_GAMMA"):
                product_kind(file["filename"])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_fd6a",  # lower-case product id
        "S1A_IW_20181328T161201_DVP_RTC30_G_gpuned_FD6A",  # month 13
        "S1A_IW_20180128T161201_DVP_RTC25_G_gpuned_FD6A",  # no 25 m products
        "S1X_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A",  # no Sentinel-1X
        "S1A_IW_20180128T161201_DXP_RTC30_G_gpuned_FD6A",  # polarisation X
        "S1A_IW_20180128T161201_DVP_RTC30_G_gxuned_FD6A",  # scale letter x
        "S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A_VV",  # a file, not a base name
        "S1AB_20171111T150004_20171117T145926_VVP006_INT60_G_ueF_4D09",  # no 60 m InSAR
        "S1AB_20171111T150004_20171117T145926_VVP06_INT80_G_ueF_4D09",  # days in 2 digits
        "S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ue4_4D09",  # no sub-swath 4
        "S1BA_20170112T090955_20170118T091036_HHP007_VEL240_A_2CB6",  # an AUTORIFT product
        GRD,  # a granule, not a product
        "glacier.zip",
    ],
)
def test_invalid_names_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(InputError) as excinfo:
        parse_product_name(text)
    assert repr(text) in str(excinfo.value)
    assert not is_rtc_name(text) and not is_insar_name(text)


def test_each_parser_refuses_the_other_kind() -> None:
    with pytest.raises(InputError, match="RTC_GAMMA"):
        RtcName.parse(INSAR_EXAMPLE)
    with pytest.raises(InputError, match="INSAR_GAMMA"):
        InsarName.parse(RTC_EXAMPLE)


def test_product_kind_of_paths() -> None:
    assert product_kind(Path("/data/raw/svalbard/2024") / f"{RTC_EXAMPLE}.zip") == "RTC"
    assert product_kind(Path("/data/unpacked") / INSAR_EXAMPLE) == "INSAR"
    with pytest.raises(InputError, match=r"downloads\.zip"):
        product_kind(Path("/tmp/downloads.zip"))


def test_names_from_granules() -> None:
    name = RtcName.from_granule(GRD, pixel_spacing=10, scale="decibel")
    assert name.format().startswith("S1A_IW_20160706T160520_DVP_RTC10_G_gduned_")
    # The id is derived from the inputs: the same inputs give the same name, other options another one.
    assert RtcName.from_granule(GRD, pixel_spacing=10, scale="decibel") == name
    assert RtcName.from_granule(GRD, pixel_spacing=30).product_id != name.product_id
    # The earlier granule is the reference whatever the order; 5 days 23:59:22 round to 6 days.
    insar = InsarName.from_granules(SLC_SEC, SLC_REF, pixel_spacing=80, product_id="4D09")
    assert insar.format() == INSAR_EXAMPLE
    with pytest.raises(InputError, match="not a Sentinel-1 granule"):
        RtcName.from_granule("S1A_IW_GRDH_XXXX")


def test_layover_shadow_mask() -> None:
    ls_map = np.array([[0, 1, 3, 5, 7], [9, 17, 21, 25, 31]], dtype=np.uint8)
    expected = np.array([[0, 0, 0, 1, 1], [0, 1, 1, 1, 1]], dtype=bool)
    assert np.array_equal(layover_shadow_mask(ls_map), expected)


# --------------------------------------------------------------------------------------------------------
# Writing and reading an RTC product
# --------------------------------------------------------------------------------------------------------


@dataclass
class RtcInputs:
    name: RtcName
    transform: rasterio.Affine
    vv: np.ndarray
    vh: np.ndarray
    ls_map: np.ndarray
    dem: np.ndarray
    inc_map: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """Where the backscatter files must hold data: finite input outside layover and shadow."""
        return np.isfinite(self.vv) & ~layover_shadow_mask(self.ls_map)


def _rtc_inputs(
    scale: str = "power", spacing: int = 30, shape: tuple[int, int] = (HEIGHT, WIDTH)
) -> RtcInputs:
    rng = np.random.default_rng(42)
    vv = rng.gamma(4.0, 0.05, shape).astype(np.float32)
    vh = (vv * rng.uniform(0.1, 0.3, shape)).astype(np.float32)
    ls_map = np.ones(shape, dtype=np.uint8)
    vv[:5], vh[:5], ls_map[:5] = np.nan, np.nan, 0  # swath edge: not tested, no data
    ls_map[20:25, 10:15] = 5  # layover
    ls_map[30:33, 30:35] = 25  # shadow
    ls_map[40:42, 5:8] = 3  # steep but neither layover nor shadow: keeps its data
    dem = rng.normal(600.0, 150.0, shape)
    inc_map = rng.uniform(0.2, 1.2, shape)
    inc_map[:5] = np.nan
    name = RtcName.from_granule(GRD, pixel_spacing=spacing, scale=scale)  # type: ignore[arg-type]
    return RtcInputs(
        name, from_origin(500_000, 7_600_000, spacing, spacing), vv, vh, ls_map, dem, inc_map
    )


def _write_rtc(out_dir: Path, inputs: RtcInputs, **overrides) -> Path:
    kwargs = {
        "crs": CRS,
        "transform": inputs.transform,
        "bands": {"VV": inputs.vv, "VH": inputs.vh},
        "ls_map": inputs.ls_map,
        "dem": inputs.dem,
        "inc_map": inputs.inc_map,
        "granule": GRD,
        "processed": PROCESSED,
    }
    kwargs.update(overrides)
    return write_rtc_product(out_dir, inputs.name, **kwargs)


@pytest.fixture(scope="module")
def rtc_inputs() -> RtcInputs:
    return _rtc_inputs()


@pytest.fixture(scope="module")
def rtc_zip(tmp_path_factory: pytest.TempPathFactory, rtc_inputs: RtcInputs) -> Path:
    return _write_rtc(tmp_path_factory.mktemp("rtc"), rtc_inputs)


def test_rtc_zip_name_and_layout(rtc_zip: Path, rtc_inputs: RtcInputs) -> None:
    base = rtc_inputs.name.format()
    assert rtc_zip.name == f"{base}.zip"
    assert sorted(p.name for p in rtc_zip.parent.iterdir()) == [
        rtc_zip.name
    ]  # no scratch left behind
    with zipfile.ZipFile(rtc_zip) as archive:
        infos = archive.infolist()
        assert archive.testzip() is None
    assert infos[0].filename == f"{base}/" and infos[0].is_dir()
    files = {info.filename for info in infos[1:]}
    rasters = [f"{base}_{key}.tif" for key in ("VV", "VH", "ls_map", "dem", "inc_map")]
    expected = {
        *rasters,
        *(f"{r}.xml" for r in rasters),
        f"{base}.png",
        f"{base}.png.aux.xml",
        f"{base}.png.xml",
        *(f"{base}_shape.{ext}" for ext in ("shp", "shx", "dbf", "prj")),
        f"{base}.README.md.txt",
        f"{base}.log",
    }
    assert files == {f"{base}/{f}" for f in expected}
    for info in infos[1:]:
        stored = info.filename.endswith((".tif", ".png"))
        assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)


def test_rtc_geotiffs_are_cogs_with_hyp3_types(rtc_zip: Path, rtc_inputs: RtcInputs) -> None:
    product = open_product(rtc_zip)
    assert product.kind == "RTC" and product.is_zip
    assert product.polarisations == ("VV", "VH") and product.co_pol == "VV"
    assert (product.radiometry, product.scale) == ("gamma0", "power")
    expected = {  # key: (dtype, nodata, description starts with)
        "VV": ("float32", 0.0, "VV gamma0 power"),
        "VH": ("float32", 0.0, "VH gamma0 power"),
        "ls_map": ("uint8", 0.0, "layover/shadow map"),
        "dem": ("int16", None, "DEM height"),
        "inc_map": ("float32", 0.0, "local incidence angle"),
    }
    assert set(product.rasters) == set(expected)
    for key, (dtype, nodata, description) in expected.items():
        path = product.raster(key)
        assert path.startswith("/vsizip/") and path.endswith(f"_{key}.tif")
        with rasterio.open(path) as src:
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
            assert src.profile["tiled"] and src.count == 1
            assert src.dtypes[0] == dtype
            assert src.nodata == nodata
            assert src.crs.to_epsg() == 32634
            assert src.transform == rtc_inputs.transform
            assert (src.height, src.width) == (HEIGHT, WIDTH)
            assert src.descriptions[0].startswith(description)
            assert "SIMULATED" in src.tags()["TIFFTAG_SOFTWARE"]


def test_rtc_values_round_trip(rtc_zip: Path, rtc_inputs: RtcInputs) -> None:
    product = open_product(rtc_zip)
    valid = rtc_inputs.valid
    assert (
        valid[40:42, 5:8].all() and not valid[20:25, 10:15].any() and not valid[30:33, 30:35].any()
    )
    for key, power in (("VV", rtc_inputs.vv), ("VH", rtc_inputs.vh)):
        with rasterio.open(product.raster(key)) as src:
            raw = src.read(1)
        assert np.array_equal(raw[valid], power[valid])  # float32 power, bit for bit
        assert (raw[~valid] == 0).all()  # no data, layover and shadow are HyP3's 0
        read = product.read(key)
        assert np.array_equal(np.isnan(read), ~valid)
        assert np.array_equal(read[valid], power[valid])
    assert np.array_equal(product.read("ls_map"), rtc_inputs.ls_map)
    assert np.array_equal(product.read("dem"), np.rint(rtc_inputs.dem).astype(np.int16))
    inc = product.read("inc_map")
    assert np.array_equal(np.isnan(inc), np.isnan(rtc_inputs.inc_map))
    assert np.allclose(inc[~np.isnan(inc)], rtc_inputs.inc_map[~np.isnan(inc)], atol=1e-6)
    window = rasterio.windows.Window(10, 20, 5, 4)
    assert np.array_equal(product.read("ls_map", window=window), rtc_inputs.ls_map[20:24, 10:15])


def test_rtc_readme_log_xml_browse_and_shape(rtc_zip: Path, rtc_inputs: RtcInputs) -> None:
    product = open_product(rtc_zip)
    base = product.base
    readme = product.read_text(".README.md.txt")
    assert "SIMULATED" in readme and "not made by ASF's HyP3 service" in readme
    assert "S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_G_defklm_ssss" in readme and base in readme
    assert GRD in readme and "EPSG:32634" in readme
    for flag in (
        "1: the pixel was tested",
        "2: look angle",
        "4: layover",
        "8: look angle",
        "16: shadow",
    ):
        assert flag in readme
    assert "KMZ" in readme  # says what is not included
    for file in product.files:
        assert f"`{file}`" in readme  # every file is described
    log = product.read_text(".log")
    assert GRD in log and "SIMULATED" in log and "Scale                   : power" in log
    for file in product.files:
        if file.endswith(".xml") and not file.endswith(".aux.xml"):
            root = ET.fromstring(product.read_text(file[len(base) :]))
            assert "SIMULATED" in root.findtext("dataIdInfo/idAbs", "")
    with rasterio.open(f"{product.root}/{base}.png") as png:  # georeferenced through .png.aux.xml
        assert png.dtypes[0] == "uint8" and png.crs.to_epsg() == 32634
        assert png.transform == rtc_inputs.transform and png.width == WIDTH
        image = png.read(1)
    assert np.array_equal(image == 0, ~rtc_inputs.valid)  # 0 marks no data in the browse image
    shape = gpd.read_file(f"{product.root}/{base}_shape.shp")
    assert len(shape) == 1 and shape.crs.to_epsg() == 32634 and shape["granule"][0] == GRD
    # The data extent: rows 5-59 over the full width, holes of layover and shadow filled.
    assert shape.geometry[0].area == pytest.approx(55 * WIDTH * 30 * 30)
    assert shape.geometry[0].bounds == pytest.approx(
        (500_000, 7_600_000 - 60 * 30, 500_000 + 50 * 30, 7_599_850)
    )


@pytest.mark.parametrize("scale", ["decibel", "amplitude"])
def test_rtc_scales_are_written_as_the_name_says(tmp_path: Path, scale: str) -> None:
    inputs = _rtc_inputs(scale=scale)
    inputs.vv[10, 10] = 1.0  # exactly 0 dB: still data, not the no-data 0
    product = open_product(_write_rtc(tmp_path, inputs, dem=None, inc_map=None))
    assert product.scale == scale and set(product.rasters) == {"VV", "VH", "ls_map"}
    valid = inputs.valid
    expected = 10 * np.log10(inputs.vv) if scale == "decibel" else np.sqrt(inputs.vv)
    read = product.read("VV")
    assert np.array_equal(np.isnan(read), ~valid)
    assert np.allclose(read[valid], expected[valid], rtol=1e-6, atol=1e-6)
    assert read[10, 10] == pytest.approx(0 if scale == "decibel" else 1, abs=1e-6)
    with rasterio.open(product.raster("VV")) as src:
        assert src.descriptions[0] == f"VV gamma0 {scale}"


def test_larger_single_pol_rtc_has_overviews(tmp_path: Path) -> None:
    inputs = _rtc_inputs(spacing=10, shape=(300, 260))
    granule = GRD.replace("1SDV", "1SSV")
    name = RtcName.from_granule(granule, pixel_spacing=10)
    product = open_product(
        write_rtc_product(
            tmp_path,
            name,
            crs=CRS,
            transform=inputs.transform,
            bands={"VV": inputs.vv},
            ls_map=inputs.ls_map,
            granule=granule,
            processed=PROCESSED,
        )
    )
    assert product.polarisations == ("VV",)
    for key in ("VV", "ls_map"):
        with rasterio.open(product.raster(key)) as src:
            assert src.overviews(1) == [2]
            assert src.block_shapes[0] == (256, 256)


def test_same_inputs_give_the_same_zip_name(tmp_path: Path, rtc_inputs: RtcInputs) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _write_rtc(tmp_path / "a", rtc_inputs)
    second = _write_rtc(tmp_path / "b", rtc_inputs)
    assert first.name == second.name


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bands": {"VV": np.ones((HEIGHT, WIDTH))}}, "holds VV \\+ VH"),
        ({"transform": from_origin(500_000, 7_600_000, 10, 10)}, "30 m pixels"),
        ({"crs": "EPSG:4326"}, "projected"),
        ({"granule": GRD.replace("20160706T160520", "20160706T160521")}, "start time"),
        ({"granule": "not-a-granule"}, "not a Sentinel-1 granule"),
        ({"ls_map": np.full((HEIGHT, WIDTH), 40, dtype=np.uint8)}, "0-31"),
        ({"ls_map": np.ones((HEIGHT, WIDTH + 1), dtype=np.uint8)}, "shape"),
        ({"dem": np.full((HEIGHT, WIDTH), np.nan)}, "finite"),
        ({"inc_map": np.full((HEIGHT, WIDTH), 35.0)}, "radians"),
        ({"bands": {"VV": -np.ones((HEIGHT, WIDTH)), "VH": np.ones((HEIGHT, WIDTH))}}, "negative"),
        (
            {"bands": {"VV": np.full((HEIGHT, WIDTH), np.nan), "VH": np.ones((HEIGHT, WIDTH))}},
            "no valid",
        ),
    ],
)
def test_rtc_writer_refuses_inconsistent_arguments(
    tmp_path: Path, rtc_inputs: RtcInputs, overrides: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _write_rtc(tmp_path, rtc_inputs, **overrides)
    assert list(tmp_path.iterdir()) == []


def test_rtc_writer_output_folder_problems_are_input_errors(
    tmp_path: Path, rtc_inputs: RtcInputs
) -> None:
    with pytest.raises(InputError, match="does not exist"):
        _write_rtc(tmp_path / "missing", rtc_inputs)
    _write_rtc(tmp_path, rtc_inputs)
    with pytest.raises(InputError, match="already exists"):
        _write_rtc(tmp_path, rtc_inputs, overwrite=False)


def test_failure_while_zipping_leaves_no_zip_and_keeps_the_old_one(
    tmp_path: Path, rtc_inputs: RtcInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_copy = shutil.copyfileobj
    calls = {"n": 0}

    def copy_then_fail(src, dst, length=0):
        calls["n"] += 1
        if calls["n"] == 5:  # some members are already in the zip, this one half-written
            dst.write(src.read(10))
            raise OSError("simulated I/O failure")
        return real_copy(src, dst, length)

    monkeypatch.setattr(pack.shutil, "copyfileobj", copy_then_fail)
    with pytest.raises(OSError, match="simulated I/O failure"):
        _write_rtc(tmp_path, rtc_inputs)
    assert list(tmp_path.iterdir()) == []  # neither a zip nor the scratch folder nor a partial file

    monkeypatch.setattr(pack.shutil, "copyfileobj", real_copy)
    good = _write_rtc(tmp_path, rtc_inputs)
    before = good.read_bytes()
    calls["n"] = 0
    monkeypatch.setattr(pack.shutil, "copyfileobj", copy_then_fail)
    with pytest.raises(OSError, match="simulated I/O failure"):
        _write_rtc(tmp_path, rtc_inputs)
    assert [p.name for p in tmp_path.iterdir()] == [good.name] and good.read_bytes() == before


# --------------------------------------------------------------------------------------------------------
# Writing and reading an INSAR product
# --------------------------------------------------------------------------------------------------------


@dataclass
class InsarInputs:
    name: InsarName
    transform: rasterio.Affine
    corr: np.ndarray
    amp: np.ndarray
    unw_phase: np.ndarray
    water_mask: np.ndarray


@pytest.fixture(scope="module")
def insar_inputs() -> InsarInputs:
    rng = np.random.default_rng(7)
    shape = (HEIGHT, WIDTH)
    corr = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    corr[:, :3] = np.nan
    corr[0, 10], corr[0, 11] = 0.0, 1.0  # the ends of the range are data
    amp = rng.gamma(2.0, 0.1, shape).astype(np.float32)
    amp[:, :3] = np.nan
    unw = rng.normal(0.0, 5.0, shape).astype(np.float32)
    unw[:, :3] = np.nan
    water = np.ones(shape, dtype=np.uint8)
    water[50:, :] = 0
    name = InsarName.from_granules(SLC_REF, SLC_SEC, pixel_spacing=40)
    return InsarInputs(name, from_origin(500_000, 7_600_000, 40, 40), corr, amp, unw, water)


def _write_insar(out_dir: Path, inputs: InsarInputs, **overrides) -> Path:
    kwargs = {
        "crs": CRS,
        "transform": inputs.transform,
        "corr": inputs.corr,
        "amp": inputs.amp,
        "unw_phase": inputs.unw_phase,
        "water_mask": inputs.water_mask,
        "reference_granule": SLC_REF,
        "secondary_granule": SLC_SEC,
        "processed": PROCESSED,
    }
    kwargs.update(overrides)
    return write_insar_product(out_dir, inputs.name, **kwargs)


@pytest.fixture(scope="module")
def insar_zip(tmp_path_factory: pytest.TempPathFactory, insar_inputs: InsarInputs) -> Path:
    return _write_insar(tmp_path_factory.mktemp("insar"), insar_inputs)


def test_insar_zip_layout_and_rasters(insar_zip: Path, insar_inputs: InsarInputs) -> None:
    base = insar_inputs.name.format()
    assert base.startswith("S1AB_20171111T150004_20171117T145926_VVP006_INT40_G_ueF_")
    assert insar_zip.name == f"{base}.zip"
    with zipfile.ZipFile(insar_zip) as archive:
        names = archive.namelist()
    tifs = [f"{base}_{key}.tif" for key in ("corr", "amp", "unw_phase", "water_mask")]
    expected = {
        *tifs,
        *(f"{t}.xml" for t in tifs),
        f"{base}.README.md.txt",
        f"{base}.txt",
        f"{base}.log",
    }
    assert names[0] == f"{base}/" and set(names[1:]) == {f"{base}/{f}" for f in expected}

    product = open_product(insar_zip)
    assert product.kind == "INSAR" and product.polarisations == () and product.co_pol is None
    assert product.radiometry is None and product.scale is None
    for key, dtype in (
        ("corr", "float32"),
        ("amp", "float32"),
        ("unw_phase", "float32"),
        ("water_mask", "uint8"),
    ):
        with rasterio.open(product.raster(key)) as src:
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.dtypes[0] == dtype and src.crs.to_epsg() == 32634
            assert src.transform == insar_inputs.transform
            if dtype == "float32":
                assert math.isnan(src.nodata)
            else:
                assert src.nodata is None
    for key in ("corr", "amp", "unw_phase"):
        expected_values = getattr(insar_inputs, key)
        assert np.array_equal(product.read(key), expected_values, equal_nan=True)
    assert np.array_equal(product.read("water_mask"), insar_inputs.water_mask)
    assert product.read("corr")[0, 10] == 0.0


def test_insar_texts(insar_zip: Path) -> None:
    product = open_product(insar_zip)
    readme = product.read_text(".README.md.txt")
    assert "SIMULATED" in readme and SLC_REF in readme and SLC_SEC in readme
    assert "S1xy_aaaaaaaaTbbbbbb_ggggggggThhhhhh_pponnn_INTzz_G_def_ssss" in readme
    parameters = product.read_text(".txt")
    for line in (
        f"Reference Granule: {SLC_REF}",
        f"Secondary Granule: {SLC_SEC}",
        "Range looks: 10",
        "Azimuth looks: 2",
        "Pixel spacing (m): 40",
        "Simulated: yes",
    ):
        assert line in parameters.splitlines() or any(
            row.startswith(line) for row in parameters.splitlines()
        )
    assert "Baseline" not in parameters  # nothing the simulation does not know
    assert "10x2" in product.read_text(".log")


def test_insar_optional_layers_are_written_only_when_given(
    tmp_path: Path, insar_inputs: InsarInputs
) -> None:
    product = open_product(
        _write_insar(tmp_path, insar_inputs, amp=None, unw_phase=None, water_mask=None)
    )
    assert set(product.rasters) == {"corr"}
    base = product.base
    assert set(product.files) == {
        f"{base}_corr.tif",
        f"{base}_corr.tif.xml",
        f"{base}.README.md.txt",
        f"{base}.txt",
        f"{base}.log",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"corr": np.full((HEIGHT, WIDTH), 1.5, dtype=np.float32)}, "\\[0, 1\\]"),
        ({"water_mask": np.full((HEIGHT, WIDTH), 2, dtype=np.uint8)}, "only 0"),
        ({"transform": from_origin(500_000, 7_600_000, 80, 80)}, "40 m pixels"),
        (
            {"reference_granule": SLC_SEC, "secondary_granule": SLC_REF},
            "not the reference and secondary",
        ),
        ({"amp": np.ones((HEIGHT + 1, WIDTH))}, "shape"),
    ],
)
def test_insar_writer_refuses_inconsistent_arguments(
    tmp_path: Path, insar_inputs: InsarInputs, overrides: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _write_insar(tmp_path, insar_inputs, **overrides)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------------
# Reading: folders, extraction, refusals
# --------------------------------------------------------------------------------------------------------


def test_extracted_folder_reads_like_the_zip(tmp_path: Path, rtc_zip: Path) -> None:
    from_zip = open_product(rtc_zip)
    folder = extract_product(rtc_zip, tmp_path)
    assert folder == tmp_path / from_zip.base and sorted(p.name for p in tmp_path.iterdir()) == [
        folder.name
    ]
    from_folder = open_product(folder)
    assert not from_folder.is_zip and from_folder.files == from_zip.files
    assert from_folder.rasters.keys() == from_zip.rasters.keys()
    for key in from_zip.rasters:
        assert np.array_equal(from_folder.read(key), from_zip.read(key), equal_nan=True)
    assert from_folder.read_text(".log") == from_zip.read_text(".log")
    with pytest.raises(InputError, match="already exists"):
        extract_product(rtc_zip, tmp_path)
    assert extract_product(rtc_zip, tmp_path, overwrite=True) == folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_unknown_raster_and_text_are_input_errors(rtc_zip: Path) -> None:
    product = open_product(rtc_zip)
    with pytest.raises(InputError, match=r"no 'corr' raster .*VV"):
        product.raster("corr")
    with pytest.raises(InputError, match="has no file"):
        product.read_text(".txt")


def test_product_must_be_named_and_exist(tmp_path: Path, rtc_zip: Path) -> None:
    renamed = tmp_path / "download.zip"
    shutil.copy(rtc_zip, renamed)
    with pytest.raises(InputError, match=r"download\.zip is not named like a HyP3 product"):
        open_product(renamed)
    with pytest.raises(InputError, match="not found"):
        open_product(tmp_path / f"{RTC_EXAMPLE}.zip")
    text = tmp_path / f"{RTC_EXAMPLE}.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="neither a HyP3 product zip"):
        open_product(text)


def _copy_with_extra_member(source: Path, out_dir: Path, member: str | zipfile.ZipInfo) -> Path:
    """A copy of a product zip (same name) with one more member."""
    out_dir.mkdir()
    target = out_dir / source.name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(member, b"evil")
    return target


@pytest.mark.parametrize(
    "member",
    [
        "{base}/../evil.txt",
        "../evil.txt",
        "{base}/../../evil.txt",
        "/tmp/evil.txt",
        "other/evil.txt",
        "{base}_VV.tif",  # outside the folder
        "{base}\\..\\evil.txt",
        "C:/evil.txt",
    ],
)
def test_zip_members_escaping_the_product_folder_are_refused(
    tmp_path: Path, rtc_zip: Path, member: str
) -> None:
    base = rtc_zip.name[: -len(".zip")]
    member_name = member.format(base=base)
    evil_zip = _copy_with_extra_member(rtc_zip, tmp_path / "zip", member_name)
    with pytest.raises(InputError, match="is refused") as excinfo:
        open_product(evil_zip)
    assert repr(member_name) in str(excinfo.value)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InputError, match="is refused"):
        extract_product(evil_zip, dest)
    assert list(dest.iterdir()) == []
    assert not list(tmp_path.rglob("evil.txt"))


def test_symbolic_link_members_are_refused(tmp_path: Path, rtc_zip: Path) -> None:
    base = rtc_zip.name[: -len(".zip")]
    link = zipfile.ZipInfo(f"{base}/{base}_link.tif")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    evil_zip = _copy_with_extra_member(rtc_zip, tmp_path / "zip", link)
    with pytest.raises(InputError, match="symbolic link"):
        open_product(evil_zip)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_zip_is_an_input_error_naming_the_file(
    tmp_path: Path, rtc_zip: Path, damage: str
) -> None:
    broken = tmp_path / rtc_zip.name
    if damage == "garbage":
        broken.write_bytes(b"this is not a zip file at all")
    elif (
        damage == "truncated"
    ):  # an interrupted download: the central directory at the end is missing
        broken.write_bytes(rtc_zip.read_bytes()[: rtc_zip.stat().st_size // 2])
    else:
        with zipfile.ZipFile(broken, "w"):
            pass
    with pytest.raises(InputError) as excinfo:
        open_product(broken)
    assert str(broken) in str(excinfo.value)
    with pytest.raises(InputError):
        extract_product(broken, tmp_path)


def test_incomplete_product_is_refused(tmp_path: Path, rtc_zip: Path) -> None:
    base = rtc_zip.name[: -len(".zip")]
    partial = tmp_path / rtc_zip.name
    with zipfile.ZipFile(rtc_zip) as src, zipfile.ZipFile(partial, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("_VV.tif"):
                dst.writestr(info, src.read(info))
    with pytest.raises(InputError, match=f"incomplete: no {base}_VV.tif"):
        open_product(partial)


def test_members_preprocess_reads_are_the_required_rasters_and_the_readme(
    rtc_zip: Path, insar_zip: Path
) -> None:
    for path, wanted in (
        (rtc_zip, ["_VV.tif", "_ls_map.tif", ".README.md.txt"]),
        (insar_zip, ["_corr.tif", ".README.md.txt"]),
    ):
        name = parse_product_name(path.name)
        base = name.format()
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
        chosen = members_preprocess_reads(name, members)
        assert sorted(chosen) == sorted(f"{base}/{base}{rest}" for rest in wanted)
        assert chosen == [m for m in members if m in chosen]  # in the zip's order
        # The README is optional; a raster preprocess reads is not.
        readme = f"{base}/{base}.README.md.txt"
        assert readme not in members_preprocess_reads(name, [m for m in members if m != readme])
        raster = next(m for m in chosen if m.endswith(".tif"))
        with pytest.raises(InputError, match=raster.rsplit("/", 1)[-1]):
            members_preprocess_reads(name, [m for m in members if m != raster])


def test_a_folder_of_the_members_is_a_product_and_one_lacking_a_raster_is_not(
    tmp_path: Path, rtc_zip: Path
) -> None:
    name = parse_product_name(rtc_zip.name)
    folder = tmp_path / name.format()
    folder.mkdir()
    with zipfile.ZipFile(rtc_zip) as archive:
        for member in members_preprocess_reads(name, archive.namelist()):
            (folder / member.rsplit("/", 1)[-1]).write_bytes(archive.read(member))
    assert product_folder_problem(folder) is None
    assert open_product(folder).main_key == "VV" and open_product(folder).ls_map_key == "ls_map"
    (folder / f"{name.format()}_ls_map.tif").unlink()
    problem = product_folder_problem(folder)
    assert problem is not None and f"{name.format()}_ls_map.tif" in problem
    assert product_folder_problem(tmp_path / "missing") is not None
