"""glaciermap vectorize: exact areas, joins across strip seams, nodata, real outlines and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from glaciermap.errors import InputError
from glaciermap.vectorize import (
    OUTLINES_LAYER,
    SeamMerger,
    polygons_from_mask,
    vectorize_raster,
)

PIXEL = 10.0  # metres
PIXEL_AREA_KM2 = PIXEL * PIXEL / 1e6
ORIGIN = (400_000.0, 8_740_000.0)  # on the svalbard grid, EPSG:32633


def north_up(west: float, north: float, size: float) -> Affine:
    """The affine transform of a north-up raster with square pixels of ``size`` CRS units."""
    return Affine.translation(west, north) @ Affine.scale(size, -size)


def write_raster(
    path: Path,
    array: np.ndarray,
    *,
    nodata: float | None = None,
    crs: str | None = "EPSG:32633",
    transform=None,
    internal_mask: np.ndarray | None = None,
) -> Path:
    """Write a one-band GeoTIFF (10 m pixels on the svalbard grid unless told otherwise)."""
    profile = {
        "driver": "GTiff",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": array.dtype.name,
        "transform": transform or north_up(*ORIGIN, PIXEL),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
        if internal_mask is not None:
            dst.write_mask(internal_mask.astype(np.uint8) * 255)
    return path


def blobs(shape: tuple[int, int], *, seed: int = 0, scale: float = 12.0, fraction: float = 0.3):
    """A (H, W) bool mask of smooth random blobs with holes (low-pass filtered noise, thresholded)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    field = np.fft.irfft2(spectrum * np.exp(-(kx**2 + ky**2) * scale**2 * 10), s=shape)
    return field > np.quantile(field, 1 - fraction)


def read_outlines(path: Path):
    import geopandas as gpd

    return gpd.read_file(path, layer=OUTLINES_LAYER)


def canonical(polygons) -> list[bytes]:
    """Polygons as sorted normalised WKB, so that two sets can be compared exactly."""
    return sorted(shapely.to_wkb(shapely.normalize(np.asarray(polygons, dtype=object))))


# --- areas -----------------------------------------------------------------------------------------


def test_total_area_is_pixel_count_times_pixel_area(tmp_path):
    mask = blobs((230, 190), seed=1)
    raster = write_raster(tmp_path / "mask.tif", mask.astype(np.uint8))
    out = tmp_path / "outlines.gpkg"

    result = vectorize_raster(raster, out, min_area_km2=0, strip_rows=16)

    frame = read_outlines(out)
    expected_km2 = mask.sum() * PIXEL_AREA_KM2
    assert result.strips == 15
    assert result.glacier_pixels == mask.sum()
    assert frame.area.sum() / 1e6 == pytest.approx(expected_km2, rel=1e-3)
    assert frame["area_km2"].sum() == pytest.approx(expected_km2, rel=1e-3)
    assert result.total_area_km2 == pytest.approx(expected_km2, rel=1e-3)
    assert list(frame.columns) == ["id", "area_km2", "perimeter_km", "geometry"]
    assert frame["id"].tolist() == list(range(1, len(frame) + 1))
    assert frame.crs.to_epsg() == 32633
    assert set(frame.geom_type) == {"Polygon"}
    assert frame.is_valid.all()
    assert np.allclose(frame["perimeter_km"], frame.length / 1e3)
    assert len(frame) == result.count == len(polygons_from_mask(mask))


def test_default_min_area_drops_specks_and_fills_small_holes(tmp_path):
    # 10 m pixels: the default 0.01 km² is 100 pixels.
    mask = np.zeros((80, 80), dtype=np.uint8)
    mask[5:45, 5:45] = 1  # 1600 px glacier ...
    mask[10:13, 10:13] = 0  # ... with a 9 px hole (filled)
    mask[20:40, 20:40] = 0  # ... and a 400 px hole (kept)
    mask[60:65, 60:65] = 1  # 25 px speck (dropped)
    mask[50:60, 5:15] = 1  # exactly 100 px: the minimum is kept
    raster = write_raster(tmp_path / "mask.tif", mask)
    out = tmp_path / "outlines.gpkg"

    result = vectorize_raster(raster, out, strip_rows=7)

    frame = read_outlines(out).sort_values("area_km2")
    assert result.count == 2
    assert frame["area_km2"].tolist() == pytest.approx(
        [100 * PIXEL_AREA_KM2, 1200 * PIXEL_AREA_KM2]
    )
    big = frame.geometry.iloc[-1]
    assert len(big.interiors) == 1
    assert shapely.Polygon(big.interiors[0]).area == pytest.approx(400 * PIXEL**2)


# --- seams -----------------------------------------------------------------------------------------


def _seam_pattern() -> np.ndarray:
    """Shapes whose pieces meet only across strip seams when strips are 3 rows high."""
    mask = np.zeros((24, 40), dtype=bool)
    mask[0:12, 1:3] = True  # U: two arms over four strips ...
    mask[0:12, 7:9] = True
    mask[12:14, 1:9] = True  # ... joined only below the seam at row 12
    mask[1:3, 12:20] = True  # inverted U: joined at the top, arms below
    mask[3:11, 12:14] = True
    mask[3:11, 18:20] = True
    mask[14:23, 12:20] = True  # ring: its hole spans several seams
    mask[16:21, 14:18] = False
    mask[3:6, 24:27] = True  # two blobs touching only at a corner on the seam at row 6
    mask[6:9, 27:30] = True
    mask[0:24, 34:36] = True  # a column through every seam
    return mask


@pytest.mark.parametrize("strip_rows", [1, 2, 3, 4, 5, 24])
def test_glaciers_crossing_seams_come_out_whole(tmp_path, strip_rows):
    mask = _seam_pattern()
    raster = write_raster(tmp_path / "mask.tif", mask.astype(np.uint8))
    out = tmp_path / "outlines.gpkg"

    result = vectorize_raster(raster, out, min_area_km2=0, strip_rows=strip_rows)

    frame = read_outlines(out)
    # U, inverted U, ring, two corner-touching blobs, column.
    assert result.count == 6
    pixels = sorted(round(a / PIXEL**2) for a in frame.area)
    assert pixels == sorted([2 * 12 * 2 + 16, 16 + 2 * 16, 72 - 20, 9, 9, 48])
    ring = frame.geometry[frame.area.round() == 52 * PIXEL**2].iloc[0]
    assert len(ring.interiors) == 1
    assert frame.is_valid.all()


@pytest.mark.parametrize("strip_rows", [1, 3, 8, 17])
@pytest.mark.parametrize("fraction", [0.3, 0.55, 0.7])
def test_strips_give_exactly_the_one_shot_polygons(fraction, strip_rows):
    # Random noise at and beyond the percolation threshold: long, hole-riddled regions and many
    # corner-only contacts cross every seam.
    rng = np.random.default_rng(7)
    mask = rng.random((61, 47)) < fraction
    merger = SeamMerger()
    pieces = []
    for start in range(0, mask.shape[0], strip_rows):
        end = min(mask.shape[0], start + strip_rows)
        pieces.append(merger.add_strip(polygons_from_mask(mask[start:end], start), start, end))
    pieces.append(merger.finish())
    assert canonical(np.concatenate(pieces)) == canonical(polygons_from_mask(mask))


def test_worker_pool_gives_the_same_outlines(tmp_path):
    from geopandas.testing import assert_geodataframe_equal

    mask = blobs((240, 150), seed=11, fraction=0.45)
    raster = write_raster(tmp_path / "mask.tif", mask.astype(np.uint8))
    serial, pooled = tmp_path / "serial.gpkg", tmp_path / "pooled.gpkg"

    vectorize_raster(raster, serial, min_area_km2=0, strip_rows=9, workers=1)
    result = vectorize_raster(raster, pooled, min_area_km2=0, strip_rows=9, workers=2)

    assert result.strips == 27
    assert_geodataframe_equal(read_outlines(serial), read_outlines(pooled))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_raster_failing_half_way_is_an_input_error(tmp_path, workers):
    # A GeoTIFF cut short: its header opens, its later strips cannot be read.
    whole = write_raster(tmp_path / "whole.tif", np.ones((2000, 300), dtype=np.uint8))
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "outlines.gpkg"

    with pytest.raises(InputError, match=r"failed reading .*truncated\.tif \(TIFFReadEncoded"):
        vectorize_raster(truncated, out, strip_rows=250, workers=workers)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.tif", "whole.tif"]


# --- nodata ----------------------------------------------------------------------------------------


def _probability_with_gap(dtype) -> tuple[np.ndarray, np.ndarray]:
    """A (40, 50) raster that is glacier everywhere, and the (40, 50) mask of the pixels to ignore."""
    ignored = np.zeros((40, 50), dtype=bool)
    ignored[10:20, :] = True  # a band across the whole width, splitting the glacier in two
    return np.full((40, 50), 0.9 if np.dtype(dtype).kind == "f" else 1, dtype=dtype), ignored


@pytest.mark.parametrize("kind", ["nan", "nodata-value", "uint8-255", "internal-mask"])
def test_nodata_is_never_glacier(tmp_path, kind):
    if kind == "nan":
        values, ignored = _probability_with_gap(np.float32)
        values[ignored] = np.nan
        raster = write_raster(tmp_path / "p.tif", values)
    elif kind == "nodata-value":
        values, ignored = _probability_with_gap(np.float32)
        values[ignored] = 7.0  # above the threshold: only the declared nodata keeps it out
        raster = write_raster(tmp_path / "p.tif", values, nodata=7.0)
    elif kind == "uint8-255":
        values, ignored = _probability_with_gap(np.uint8)
        values[ignored] = 255  # the project's "ignore", not declared in the file
        raster = write_raster(tmp_path / "m.tif", values)
    else:
        values, ignored = _probability_with_gap(np.float32)
        raster = write_raster(tmp_path / "p.tif", values, internal_mask=~ignored)
    out = tmp_path / "outlines.gpkg"

    result = vectorize_raster(raster, out, min_area_km2=0, strip_rows=6)

    assert result.glacier_pixels == (~ignored).sum()
    assert result.count == 2
    assert result.total_area_km2 == pytest.approx((~ignored).sum() * PIXEL_AREA_KM2)


def test_all_nodata_is_an_input_error_and_leaves_no_file(tmp_path):
    raster = write_raster(tmp_path / "m.tif", np.full((20, 20), 255, dtype=np.uint8))
    out = tmp_path / "outlines.gpkg"
    with pytest.raises(InputError, match="nodata"):
        vectorize_raster(raster, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


def test_no_glacier_writes_an_empty_layer(tmp_path):
    raster = write_raster(tmp_path / "p.tif", np.full((20, 20), 0.2, dtype=np.float32))
    out = tmp_path / "outlines.gpkg"

    result = vectorize_raster(raster, out)

    frame = read_outlines(out)
    assert result.count == 0 and len(frame) == 0
    assert list(frame.columns) == ["id", "area_km2", "perimeter_km", "geometry"]
    assert frame.crs.to_epsg() == 32633


def test_threshold_selects_probabilities(tmp_path):
    probability = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    raster = write_raster(tmp_path / "p.tif", probability)
    out = tmp_path / "outlines.gpkg"
    result = vectorize_raster(raster, out, threshold=0.75, min_area_km2=0, overwrite=True)
    assert result.glacier_pixels == (probability >= 0.75).sum()


def test_geographic_raster_is_refused_with_its_utm_zone(tmp_path):
    raster = write_raster(
        tmp_path / "ll.tif",
        np.ones((10, 10), dtype=np.uint8),
        crs="EPSG:4326",
        transform=north_up(12.0, 79.0, 0.001),
    )
    with pytest.raises(InputError, match="EPSG:32633"):
        vectorize_raster(raster, tmp_path / "outlines.gpkg")


def test_simplify_reduces_vertices_and_stays_valid(tmp_path):
    mask = blobs((200, 200), seed=3)
    raster = write_raster(tmp_path / "mask.tif", mask.astype(np.uint8))
    exact, simple = tmp_path / "exact.gpkg", tmp_path / "simple.gpkg"

    vectorize_raster(raster, exact, min_area_km2=0, strip_rows=32)
    vectorize_raster(raster, simple, min_area_km2=0, simplify_m=15, strip_rows=32)

    a, b = read_outlines(exact), read_outlines(simple)
    assert b.is_valid.all() and set(b.geom_type) == {"Polygon"}
    assert shapely.get_num_coordinates(b.geometry.values).sum() < 0.7 * (
        shapely.get_num_coordinates(a.geometry.values).sum()
    )
    assert b.area.sum() == pytest.approx(a.area.sum(), rel=0.02)


# --- real outlines ---------------------------------------------------------------------------------


def test_npi_outlines_survive_rasterise_and_vectorise(shared_data, tmp_path):
    import geopandas as gpd
    from rasterio.features import rasterize

    originals = gpd.read_file(shared_data / "svalbard_npi" / "derived" / "svalbard_2007.gpkg")
    assert originals.crs.to_epsg() == 32633 and len(originals) == 5
    left, bottom, right, top = originals.total_bounds
    transform = north_up(
        np.floor(left / PIXEL) * PIXEL - 50, np.ceil(top / PIXEL) * PIXEL + 50, PIXEL
    )
    shape = (int((top - bottom) / PIXEL) + 12, int((right - left) / PIXEL) + 12)
    mask = rasterize(originals.geometry, out_shape=shape, transform=transform, dtype=np.uint8)
    raster = write_raster(tmp_path / "npi.tif", mask, transform=transform)

    exact = vectorize_raster(raster, tmp_path / "exact.gpkg", min_area_km2=0, strip_rows=37)
    cleaned = vectorize_raster(raster, tmp_path / "cleaned.gpkg", strip_rows=37)

    assert exact.strips > 15
    assert exact.total_area_km2 == pytest.approx(mask.sum() * PIXEL_AREA_KM2, rel=1e-3)
    # Seven polygons: the five glaciers, one of them (Midtre Lovénbreen) in three parts.
    assert 5 <= cleaned.count <= 7
    frame = read_outlines(tmp_path / "cleaned.gpkg")
    assert frame.is_valid.all()
    points = frame.set_geometry(frame.representative_point())
    joined = gpd.sjoin(points, originals[["name", "geometry"]], predicate="within")
    assert len(joined) == len(frame)  # every outline lies in one original glacier
    found = joined.groupby("name")["area_km2"].sum()
    expected = originals.set_index("name").area / 1e6
    assert found.index.sort_values().tolist() == expected.index.sort_values().tolist()
    for name, area in expected.items():
        assert found[name] == pytest.approx(area, rel=0.01), name


# --- command line ----------------------------------------------------------------------------------


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_cli_writes_outlines_and_a_summary(run_cli, tmp_path):
    mask = blobs((120, 100), seed=5)
    raster = write_raster(tmp_path / "mask.tif", mask.astype(np.uint8))
    out = tmp_path / "outlines.gpkg"

    result = run_cli("vectorize", raster, "-o", out, "--min-area", "0")

    assert result.exit_code == 0, result.stderr
    frame = read_outlines(out)
    assert frame.is_valid.all()
    assert f"{len(frame)} glacier(s)" in result.stdout
    assert f"{mask.sum() * PIXEL_AREA_KM2:.3f} km²" in result.stdout
    assert str(out) in result.stdout.replace("\n", "")

    again = run_cli("vectorize", raster, "-o", out)
    assert again.exit_code == 2
    assert "already exists" in again.stderr and "--overwrite" in again.stderr
    assert len(read_outlines(out)) == len(frame)  # untouched

    replaced = run_cli("vectorize", raster, "-o", out, "--overwrite", "--simplify", "10")
    assert replaced.exit_code == 0, replaced.stderr
    assert len(read_outlines(out)) < len(frame)  # the default minimum area dropped specks


def test_cli_warns_about_an_empty_result(run_cli, tmp_path):
    raster = write_raster(tmp_path / "zeros.tif", np.zeros((30, 30), dtype=np.uint8))
    out = tmp_path / "outlines.gpkg"
    result = run_cli("vectorize", raster, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "warning" in result.stderr and "wrote an empty layer" in result.stderr
    assert "0 glacier(s)" in result.stdout
    assert len(read_outlines(out)) == 0


@pytest.mark.parametrize(
    ("array", "warned"),
    [
        (np.linspace(-4, 2900, 900, dtype=np.float32).reshape(30, 30), True),  # a DEM
        (np.linspace(-25, 5, 900, dtype=np.float32).reshape(30, 30), True),  # backscatter, dB
        (np.linspace(0, 1, 900, dtype=np.float32).reshape(30, 30), False),  # a probability
        ((np.arange(900).reshape(30, 30) % 2).astype(np.uint8), False),  # a 0/1 mask
    ],
)
def test_cli_warns_when_values_are_not_a_probability_or_mask(run_cli, tmp_path, array, warned):
    raster = write_raster(tmp_path / "input.tif", array)
    result = run_cli("vectorize", raster, "-o", tmp_path / "outlines.gpkg", "--min-area", "0")
    assert result.exit_code == 0, result.stderr
    assert ("not a probability in [0, 1] or a 0/1 mask" in result.stderr) is warned


def _corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.tif"
    path.write_bytes(b"this is not a GeoTIFF\x00\xff" * 64)
    return path


def _no_crs(tmp_path: Path) -> Path:
    return write_raster(tmp_path / "nocrs.tif", np.ones((10, 10), dtype=np.uint8), crs=None)


def _vrt_without_source(tmp_path: Path) -> Path:
    """A VRT that opens but whose only source file is missing, so reading fails."""
    path = tmp_path / "mosaic.vrt"
    path.write_text(
        '<VRTDataset rasterXSize="50" rasterYSize="50"><SRS>EPSG:32633</SRS>'
        "<GeoTransform>400000, 10, 0, 8740000, 0, -10</GeoTransform>"
        '<VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
        '<SourceFilename relativeToVRT="1">gone.tif</SourceFilename><SourceBand>1</SourceBand>'
        '<SourceProperties RasterXSize="50" RasterYSize="50" DataType="Byte" '
        'BlockXSize="50" BlockYSize="1"/>'
        '<SrcRect xOff="0" yOff="0" xSize="50" ySize="50"/>'
        '<DstRect xOff="0" yOff="0" xSize="50" ySize="50"/>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    return path


@pytest.mark.parametrize(
    ("make_raster", "message"),
    [
        (lambda tmp: tmp / "missing.tif", "not found"),
        (_corrupt, "cannot read"),
        (_no_crs, "has no CRS — assign one with `gdal_edit.py -a_srs"),
        (_vrt_without_source, "gone.tif: No such file or directory"),
    ],
    ids=["missing", "corrupt", "no-crs", "vrt-source-missing"],
)
def test_cli_bad_input_is_one_line_exit_2_and_no_output(run_cli, tmp_path, make_raster, message):
    raster = make_raster(tmp_path)
    out = tmp_path / "out" / "outlines.gpkg"
    out.parent.mkdir()

    result = run_cli("vectorize", raster, "-o", out)

    assert result.exit_code == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert list(out.parent.iterdir()) == []


def test_cli_missing_output_folder_is_exit_2(run_cli, tmp_path):
    raster = write_raster(tmp_path / "mask.tif", np.ones((10, 10), dtype=np.uint8))
    result = run_cli("vectorize", raster, "-o", tmp_path / "nowhere" / "outlines.gpkg")
    assert result.exit_code == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and "does not exist" in lines[0]
