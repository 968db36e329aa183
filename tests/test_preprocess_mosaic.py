"""Mosaicking a slot's products onto the region grid (glaciermap.preprocess.mosaic).

Geometry is checked against what is exactly known: the simulator's swath and layover/shadow pattern,
recomputed on the region grid from the true DEM, and small hand-made products with a bright square or a
no-data hole. The simulated region lies in EPSG:32633 east of 18° E, so its products come in 32633 and 32634.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

from glaciermap.io.hyp3 import InsarName, RtcName, write_insar_product, write_rtc_product
from glaciermap.preprocess.mosaic import mosaic_backscatter, mosaic_coherence
from glaciermap.preprocess.products import ProductRecord, scan_products
from glaciermap.regions import Region
from glaciermap.simulate.acquisitions import across_track
from glaciermap.simulate.geometry import LS_NODATA_BITS, layover_shadow
from glaciermap.simulate.scene import SimulationResult, simulate_year

YEAR = 2020
PIXEL = 10.0
TWO_ZONES = Region(
    name="twozones",
    crs="EPSG:32633",
    origin=(330_000.0, 8_400_000.0),
    tile_size=2_000.0,
    pixel_size=PIXEL,
    prefix="TZ",
    aoi=(560_000.0, 8_760_000.0, 564_000.0, 8_764_000.0),
)
PROCESSED = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> SimulationResult:
    out = tmp_path_factory.mktemp("mosaic") / "raw"
    result = simulate_year(TWO_ZONES, YEAR, out, seed=1, n_acquisitions=3, cross_pol=False)
    assert set(result.crs_counts) == {"EPSG:32633", "EPSG:32634"}
    return result


@pytest.fixture(scope="module")
def records(scene) -> list[ProductRecord]:
    return scan_products(scene.out_dir, TWO_ZONES)


@pytest.fixture(scope="module")
def truth(scene):
    """The true DEM grid (= the region grid) and its bounds."""
    with rasterio.open(scene.truth_dir / "dem.tif") as src:
        return src.read(1), src.transform, tuple(src.bounds)


def _swath_truth(scene, truth, acquisition):
    """Across-track coordinate, swath coverage and layover/shadow no-data of one pass, on the region grid,
    recomputed from the true DEM as the simulator computes them."""
    dem, transform, bounds = truth
    h, w = dem.shape
    xs = transform.c + (np.arange(w) + 0.5) * transform.a
    ys = transform.f + (np.arange(h) + 0.5) * transform.e
    centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    look = scene.plan.look_azimuth_deg
    across = across_track(xs[None, :], ys[:, None], centre, look)
    covered = (across >= acquisition.near_edge_m) & (across <= acquisition.far_edge_m)
    ls = layover_shadow(dem, transform, TWO_ZONES.crs, look, acquisition.stripe.incidence_deg)
    return across, covered, (ls & LS_NODATA_BITS) != 0


def _pass_in(scene, records, crs):
    """An acquisition whose products are in ``crs``, with its RTC and INSAR records."""
    for acquisition in scene.plan.acquisitions:
        rtc = next(r for r in records if r.kind == "RTC" and r.start == acquisition.start)
        insar = next(r for r in records if r.kind == "INSAR" and r.start == acquisition.start)
        if rtc.crs == crs:
            return acquisition, rtc, insar
    raise AssertionError(f"no pass in {crs}")


def _best_shift(expected: np.ndarray, found: np.ndarray, reach: int = 3):
    """The (rows, cols) shift of ``expected`` that best matches ``found`` (intersection over union)."""
    inner = (slice(reach + 2, -reach - 2),) * 2
    scores = {}
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            shifted = np.roll(expected, (dy, dx), axis=(0, 1))[inner]
            part = found[inner]
            scores[dy, dx] = (shifted & part).sum() / (shifted | part).sum()
    best = max(scores, key=scores.get)
    return best, scores


# ---------------------------------------------------------------------------------------------------------
# Acceptance: geometry across UTM zones
# ---------------------------------------------------------------------------------------------------------


def test_a_feature_in_a_32634_product_lands_within_one_pixel_in_the_32633_stack(
    scene, records, truth
):
    """The layover/shadow and swath pattern is computed by the simulator on the region grid, written into a
    32634 product, and must come back where it was."""
    acquisition, rtc, _ = _pass_in(scene, records, "EPSG:32634")
    _, covered, blocked = _swath_truth(scene, truth, acquisition)
    expected_nodata = ~covered | blocked

    backscatter = mosaic_backscatter([rtc], truth[2], PIXEL, TWO_ZONES.crs)

    assert backscatter.shape == truth[0].shape and backscatter.dtype == np.float32
    best, scores = _best_shift(expected_nodata, ~np.isfinite(backscatter))
    assert best == (0, 0), scores
    assert scores[0, 0] > 0.9
    # The mosaic's no-data is the truth's, widened by at most the resampling kernels (2 warps).
    assert 0.0 <= (~np.isfinite(backscatter)).mean() - expected_nodata.mean() < 0.05


def test_a_bright_square_in_a_32634_product_lands_on_its_true_pixels(tmp_path):
    """A hand-made product: a 400 m bright square on the region grid, warped into UTM 34 and back."""
    bounds = (561_000.0, 8_761_000.0, 563_000.0, 8_763_000.0)
    region_t = Affine(PIXEL, 0.0, bounds[0], 0.0, -PIXEL, bounds[3])
    square = np.zeros((200, 200), dtype=bool)
    square[70:110, 90:130] = True
    power = np.where(square, 1.0, 0.01).astype(np.float32)
    # The product grid in UTM 34: north-up, 10 m, covering the window with a margin.
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(
        TWO_ZONES.crs, "EPSG:32634", *bounds, densify_pts=21
    )
    left, top = np.floor(left / PIXEL) * PIXEL - 200, np.ceil(top / PIXEL) * PIXEL + 200
    width = int(np.ceil((right - left) / PIXEL)) + 20
    height = int(np.ceil((top - bottom) / PIXEL)) + 20
    product_t = Affine(PIXEL, 0.0, left, 0.0, -PIXEL, top)
    product = np.full((height, width), np.nan, dtype=np.float32)
    reproject(
        power,
        product,
        src_transform=region_t,
        src_crs=TWO_ZONES.crs,
        dst_transform=product_t,
        dst_crs="EPSG:32634",
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear,
    )
    folder = tmp_path / "raw"
    folder.mkdir()
    _write_rtc(folder, "EPSG:32634", product_t, np.nan_to_num(product, nan=0.01))
    (record,) = scan_products(folder, TWO_ZONES)

    db = mosaic_backscatter([record], bounds, PIXEL, TWO_ZONES.crs)

    assert np.isfinite(db).all()
    found = db > 10 * np.log10((1.0 + 0.01) / 2)  # halfway in power
    rows, cols = np.nonzero(found)
    true_rows, true_cols = np.nonzero(square)
    assert abs(rows.mean() - true_rows.mean()) < 0.5
    assert abs(cols.mean() - true_cols.mean()) < 0.5
    assert abs(int(found.sum()) - int(square.sum())) <= 0.05 * square.sum()
    best, _ = _best_shift(square, found)
    assert best == (0, 0)


def test_coherence_and_backscatter_edges_coincide(scene, records, truth):
    """The swath edge of a 40 m coherence product and of its 10 m backscatter product, both in UTM 34,
    lie within one coherence pixel of each other and of the true edge after resampling."""
    acquisition, rtc, insar = _pass_in(scene, records, "EPSG:32634")
    across, covered, blocked = _swath_truth(scene, truth, acquisition)
    assert 0.05 < covered.mean() < 0.95, "the swath edge must cross the region"

    backscatter = mosaic_backscatter([rtc], truth[2], PIXEL, TWO_ZONES.crs)
    coherence = mosaic_coherence([insar], truth[2], PIXEL, TWO_ZONES.crs)

    # Edge position along range, from the fraction of no-data in a band across the near swath edge
    # (away from layover/shadow and the region's border).
    half = 150.0
    inner = np.zeros_like(covered)
    inner[8:-8, 8:-8] = True
    band = (np.abs(across - acquisition.near_edge_m) < half) & ~blocked & inner
    assert band.sum() > 1000

    def edge(valid: np.ndarray) -> float:
        return -half + 2 * half * float((~valid[band]).mean())  # metres from the true edge

    truth_edge = edge(covered)
    bs_edge = edge(np.isfinite(backscatter))
    coh_edge = edge(np.isfinite(coherence))
    assert abs(truth_edge) < PIXEL
    assert abs(bs_edge - coh_edge) <= 40.0
    assert abs(bs_edge - truth_edge) <= 40.0 and abs(coh_edge - truth_edge) <= 40.0


# ---------------------------------------------------------------------------------------------------------
# Combining and converting
# ---------------------------------------------------------------------------------------------------------


def test_overlapping_stripes_average_in_linear_power(scene, records, truth):
    by_slot: dict[int, list[ProductRecord]] = {}
    for acquisition in scene.plan.acquisitions:
        rtc = next(r for r in records if r.kind == "RTC" and r.start == acquisition.start)
        by_slot.setdefault(acquisition.slot, []).append(rtc)
    pair = next(products for products in by_slot.values() if len(products) == 2)
    assert {r.crs for r in pair} == {"EPSG:32633", "EPSG:32634"}
    bounds = truth[2]

    both = mosaic_backscatter(pair, bounds, PIXEL, TWO_ZONES.crs)
    a, b = (mosaic_backscatter([r], bounds, PIXEL, TWO_ZONES.crs) for r in pair)

    pa, pb = 10 ** (a / 10), 10 ** (b / 10)
    overlap = np.isfinite(a) & np.isfinite(b)
    only_a = np.isfinite(a) & ~np.isfinite(b)
    assert overlap.mean() > 0.2
    np.testing.assert_allclose(both[overlap], 10 * np.log10((pa + pb) / 2)[overlap], atol=1e-4)
    np.testing.assert_allclose(both[only_a], a[only_a], atol=1e-5)
    assert np.array_equal(np.isfinite(both), np.isfinite(a) | np.isfinite(b))
    # The two stripes look at the same ground in the same season: similar levels.
    assert abs(np.nanmedian(a[overlap]) - np.nanmedian(b[overlap])) < 3.0


def test_a_decibel_product_mosaics_like_the_same_data_in_power(tmp_path):
    rng = np.random.default_rng(3)
    power = rng.gamma(4.0, 0.05 / 4.0, size=(50, 60)).astype(np.float32)
    t = Affine(PIXEL, 0.0, 561_000.0, 0.0, -PIXEL, 8_763_000.0)
    bounds = (561_013.0, 8_762_623.0, 561_513.0, 8_762_983.0)  # an offset window: really resampled
    results = {}
    for scale in ("power", "decibel", "amplitude"):
        folder = tmp_path / scale
        folder.mkdir()
        _write_rtc(folder, "EPSG:32633", t, power, scale=scale)
        (record,) = scan_products(folder, TWO_ZONES)
        assert record.scale == scale
        results[scale] = mosaic_backscatter([record], bounds, PIXEL, TWO_ZONES.crs)

    assert np.isfinite(results["power"]).all()
    np.testing.assert_allclose(results["decibel"], results["power"], atol=1e-3)
    np.testing.assert_allclose(results["amplitude"], results["power"], atol=1e-3)
    # Resampled in power: the mean of the bilinear mix is the log of mixed powers, not a mix of dB.
    assert np.nanmax(results["power"]) <= 10 * np.log10(power.max()) + 1e-4


def test_bilinear_kernel_touching_no_data_gives_no_data(tmp_path):
    """Source pixels of 0.1 (-10 dB) with a no-data hole and one layover pixel; the target grid is offset
    by half a pixel so that every target pixel mixes 2 x 2 source pixels."""
    power = np.full((50, 60), 0.1, dtype=np.float32)
    power[20:25, 30:35] = np.nan
    ls_map = np.ones((50, 60), dtype=np.uint8)
    ls_map[5, 5] = 1 | 4  # layover
    t = Affine(PIXEL, 0.0, 561_000.0, 0.0, -PIXEL, 8_763_000.0)
    folder = tmp_path / "raw"
    folder.mkdir()
    _write_rtc(folder, "EPSG:32633", t, power, ls_map=ls_map)
    (record,) = scan_products(folder, TWO_ZONES)
    bounds = (561_005.0, 8_762_505.0, 561_505.0, 8_762_995.0)

    db = mosaic_backscatter([record], bounds, PIXEL, TWO_ZONES.crs)

    # Target (i, j) mixes source rows i, i+1 and columns j, j+1.
    expected = np.zeros(db.shape, dtype=bool)
    expected[19:25, 29:35] = True
    expected[4:6, 4:6] = True
    assert np.array_equal(~np.isfinite(db), expected)
    np.testing.assert_allclose(db[np.isfinite(db)], -10.0, atol=1e-5)  # no zero leaked in


@pytest.mark.parametrize("resampling", ["nearest", "bilinear", "cubic"])
def test_coherence_is_resampled_onto_the_backscatter_grid(tmp_path, resampling):
    rng = np.random.default_rng(5)
    corr = rng.uniform(0.0, 1.0, size=(30, 40)).astype(np.float32)
    t40 = Affine(40.0, 0.0, 561_000.0, 0.0, -40.0, 8_763_000.0)
    folder = tmp_path / "raw"
    folder.mkdir()
    _write_insar(folder, "EPSG:32633", t40, corr)
    (record,) = scan_products(folder, TWO_ZONES)
    bounds = (561_200.0, 8_762_200.0, 561_800.0, 8_762_800.0)  # 60 x 60 px of 10 m

    coherence = mosaic_coherence([record], bounds, PIXEL, TWO_ZONES.crs, resampling=resampling)

    assert coherence.shape == (60, 60) and coherence.dtype == np.float32
    valid = np.isfinite(coherence)
    assert ((coherence[valid] >= 0.0) & (coherence[valid] <= 1.0)).all()
    if resampling == "nearest":
        # Each 40 m pixel becomes a 4 x 4 block of 10 m pixels, exactly.
        blocks = corr[5:20, 5:20]
        np.testing.assert_array_equal(coherence, np.kron(blocks, np.ones((4, 4), np.float32)))
    else:
        assert valid.all()
        # Smooth resampling keeps the mean and stays close to the 40 m values.
        assert abs(float(coherence.mean()) - float(corr[5:20, 5:20].mean())) < 0.02


def test_coherence_hole_spreads_only_over_the_kernel(tmp_path):
    corr = np.full((30, 40), 0.6, dtype=np.float32)
    corr[14:16, 14:16] = np.nan
    t40 = Affine(40.0, 0.0, 561_000.0, 0.0, -40.0, 8_763_000.0)
    folder = tmp_path / "raw"
    folder.mkdir()
    _write_insar(folder, "EPSG:32633", t40, corr)
    (record,) = scan_products(folder, TWO_ZONES)
    bounds = (561_200.0, 8_762_200.0, 561_800.0, 8_762_800.0)  # 40 m pixels 5-19

    nearest = mosaic_coherence([record], bounds, PIXEL, TWO_ZONES.crs, resampling="nearest")
    bilinear = mosaic_coherence([record], bounds, PIXEL, TWO_ZONES.crs, resampling="bilinear")
    cubic = mosaic_coherence([record], bounds, PIXEL, TWO_ZONES.crs, resampling="cubic")

    hole = np.zeros((60, 60), dtype=bool)
    hole[36:44, 36:44] = True  # 40 m pixels 14-15 -> 10 m rows/cols (14-5)*4 .. (16-5)*4
    assert np.array_equal(~np.isfinite(nearest), hole)
    # Bilinear: 10 m pixels whose centre is within one 40 m pixel centre of the hole (2 px each side).
    grown = np.zeros_like(hole)
    grown[34:46, 34:46] = True
    assert np.array_equal(~np.isfinite(bilinear), grown)
    # Cubic reaches one 40 m pixel further; values never leak: all exactly the constant.
    assert (~np.isfinite(cubic) >= grown).all() and (~np.isfinite(cubic)).sum() > grown.sum()
    for out in (nearest, bilinear, cubic):
        np.testing.assert_allclose(out[np.isfinite(out)], 0.6, atol=1e-5)


def test_empty_slot_and_unknown_options(records, truth):
    bounds = truth[2]
    empty = mosaic_backscatter([], bounds, PIXEL, TWO_ZONES.crs)
    assert empty.shape == truth[0].shape and np.isnan(empty).all()
    assert np.isnan(mosaic_coherence([], bounds, PIXEL, TWO_ZONES.crs)).all()
    rtc = next(r for r in records if r.kind == "RTC")
    insar = next(r for r in records if r.kind == "INSAR")
    with pytest.raises(ValueError, match="RTC"):
        mosaic_backscatter([insar], bounds, PIXEL, TWO_ZONES.crs)
    with pytest.raises(ValueError, match="INSAR"):
        mosaic_coherence([rtc], bounds, PIXEL, TWO_ZONES.crs)
    with pytest.raises(ValueError, match="resampling"):
        mosaic_coherence([insar], bounds, PIXEL, TWO_ZONES.crs, resampling="lanczos")
    with pytest.raises(ValueError, match="whole number"):
        mosaic_backscatter([rtc], (0.0, 0.0, 15.0, 10.0), PIXEL, TWO_ZONES.crs)
    # A window far from every product is all no-data, without error.
    far = (100_000.0, 8_000_000.0, 100_100.0, 8_000_100.0)
    assert np.isnan(mosaic_backscatter([rtc], far, PIXEL, TWO_ZONES.crs)).all()


# ---------------------------------------------------------------------------------------------------------
# Hand-made products
# ---------------------------------------------------------------------------------------------------------


def _granule(kind: str, start: dt.datetime) -> str:
    stop = start + dt.timedelta(seconds=25)
    product = {"GRD": "GRDH", "SLC": "SLC_"}[kind]
    return (
        f"S1A_IW_{product}_1SSH_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_031466_03AB12_"
        f"{start:%H%M}"
    )


def _write_rtc(
    folder: Path,
    crs: str,
    transform: Affine,
    power: np.ndarray,
    *,
    scale: str = "power",
    ls_map: np.ndarray | None = None,
) -> Path:
    start = dt.datetime(2020, 3, 5, 15, 36, 20)
    granule = _granule("GRD", start)
    name = RtcName.from_granule(granule, pixel_spacing=10, scale=scale)
    return write_rtc_product(
        folder,
        name,
        crs=crs,
        transform=transform,
        bands={"HH": power},
        ls_map=np.ones(power.shape, np.uint8) if ls_map is None else ls_map,
        granule=granule,
        processed=PROCESSED,
    )


def _write_insar(folder: Path, crs: str, transform: Affine, corr: np.ndarray) -> Path:
    start = dt.datetime(2020, 3, 5, 15, 36, 20)
    reference = _granule("SLC", start)
    secondary = _granule("SLC", start + dt.timedelta(days=12))
    name = InsarName.from_granules(reference, secondary, pixel_spacing=40)
    return write_insar_product(
        folder,
        name,
        crs=crs,
        transform=transform,
        corr=corr,
        reference_granule=reference,
        secondary_granule=secondary,
        processed=PROCESSED,
    )
