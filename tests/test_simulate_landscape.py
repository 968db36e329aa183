"""The simulated ground truth: procedural landscapes, landscapes around real outlines, and their files."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from geopandas.testing import assert_geodataframe_equal
from rasterio.features import rasterize, shapes

from glaciermap.errors import InputError
from glaciermap.simulate.landscape import (
    KINDS,
    SNOW_PATCH_MAX_KM2,
    Landscape,
    LandscapeFeatures,
    Surface,
    landscape_from_outlines,
    landsea_mask,
    procedural_landscape,
    write_truth,
)

EXAMPLE = (430_000.0, 8_752_000.0, 436_000.0, 8_758_000.0)  # the built-in `example` region's AOI
CRS = "EPSG:32633"
NPI_2007 = "svalbard_npi/derived/svalbard_2007.gpkg"


@pytest.fixture(scope="module")
def example_scenes() -> dict[int, Landscape]:
    """The example region's scene for seeds 1..3, built once for the whole module."""
    return {
        seed: procedural_landscape(EXAMPLE, CRS, np.random.default_rng(seed)) for seed in (1, 2, 3)
    }


def _four_neighbours(mask: np.ndarray) -> np.ndarray:
    """Pixels 4-adjacent to a True pixel of ``mask``."""
    out = np.zeros_like(mask)
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _component_areas_m2(mask: np.ndarray, pixel_size: float) -> list[float]:
    """Areas of the 4-connected components of a mask, m²."""
    return [
        shapely.geometry.shape(geom).area * pixel_size**2
        for geom, _ in shapes(mask.astype(np.uint8), mask=mask, connectivity=4)
    ]


def _slope(dem: np.ndarray, pixel_size: float) -> np.ndarray:
    gy, gx = np.gradient(dem.astype(np.float64), pixel_size)
    return np.hypot(gx, gy)


# ---- the example scene: every element the detector must face --------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_example_scene_has_every_required_feature(example_scenes, seed):
    ls = example_scenes[seed]
    surface, ids = ls.surface, ls.glacier_id
    sea = surface == Surface.SEA
    glacier = ids > 0
    assert sea.any(), "no sea"
    assert (surface == Surface.LAKE).any(), "no lake"
    # A tidewater glacier: glacier pixels 4-adjacent to sea pixels, and labelled as such.
    calving = np.unique(ids[glacier & _four_neighbours(sea)])
    assert len(calving) >= 1
    kinds = dict(zip(ls.outlines.glacier_id, ls.outlines.kind, strict=True))
    assert any(kinds[int(i)] == "tidewater" for i in calving)
    # A debris-covered tongue, part of a glacier.
    debris = surface == Surface.DEBRIS
    assert debris.any()
    assert (ids[debris] > 0).all()
    # A small glacier.
    areas = ls.outlines.area_km2
    assert ((areas >= 0.01) & (areas <= 0.3)).any()
    assert (ls.outlines.kind == "small").any()
    # Perennial snow patches: small, not glaciers, not in the outlines.
    snow = surface == Surface.SNOW_PATCH
    assert snow.any()
    assert max(_component_areas_m2(snow, ls.pixel_size)) < SNOW_PATCH_MAX_KM2 * 1e6
    assert not ids[snow].any()
    rows, cols = np.nonzero(snow)
    xs, ys = ls.transform @ (cols + 0.5, rows + 0.5)
    assert not shapely.intersects(ls.outlines.union_all(), shapely.points(xs, ys)).any()
    # Fast ice only on the sea.
    assert ls.fast_ice.any()
    assert not (ls.fast_ice & ~sea).any()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_example_scene_arrays_follow_the_contract(example_scenes, seed):
    ls = example_scenes[seed]
    assert ls.shape == (600, 600)
    assert ls.pixel_size == 10.0
    assert ls.bounds == EXAMPLE
    assert ls.crs == CRS
    assert ls.dem.dtype == np.float32
    assert ls.surface.dtype == np.uint8
    assert ls.glacier_id.dtype == np.int32
    assert ls.fast_ice.dtype == bool
    assert set(np.unique(ls.surface)) <= {s.value for s in Surface}
    # Glacier ids exactly on GLACIER and DEBRIS pixels.
    assert np.array_equal(ls.glacier_id > 0, ls.is_glacier)
    assert 250 <= ls.ela_m <= 600
    assert set(ls.outlines.kind) <= set(KINDS)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_example_outlines_match_the_glacier_pixels(example_scenes, seed):
    ls = example_scenes[seed]
    out = ls.outlines
    assert list(out.columns[:4]) == ["glacier_id", "glacier_name", "kind", "area_km2"]
    assert out.crs == CRS
    assert out.geometry.is_valid.all()
    assert set(out.geom_type) <= {"Polygon", "MultiPolygon"}
    assert set(out.glacier_id) == set(np.unique(ls.glacier_id[ls.glacier_id > 0]).tolist())
    assert out.glacier_name.is_unique
    counts = np.bincount(ls.glacier_id.ravel())
    pixel_m2 = counts[out.glacier_id.to_numpy()] * ls.pixel_size**2
    np.testing.assert_allclose(out.geometry.area.to_numpy(), pixel_m2, rtol=0.005)
    np.testing.assert_allclose(out.area_km2.to_numpy() * 1e6, pixel_m2, rtol=0.005)
    # Rasterising the outlines gives back the id raster (they were vectorised from it).
    back = rasterize(
        zip(out.geometry, out.glacier_id, strict=True),
        out_shape=ls.shape,
        transform=ls.transform,
        dtype="int32",
    )
    assert np.array_equal(back, ls.glacier_id)
    # Glaciers of a few km² exist, not only fragments.
    assert out.area_km2.max() > 1.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_example_terrain_is_plausible(example_scenes, seed):
    ls = example_scenes[seed]
    sea = ls.surface == Surface.SEA
    assert (ls.dem[sea] == 0).all()
    assert (ls.dem[~sea] > 0).all()
    assert np.isfinite(ls.dem).all()
    assert 500 < ls.dem.max() < 1400
    # Lakes are flat: one level per lake, never below their shores.
    lake = ls.surface == Surface.LAKE
    assert (ls.dem[lake] >= 1).all()
    # Glaciers are smoother and gentler than the rock around them.
    slope = _slope(ls.dem, ls.pixel_size)
    rock = (ls.surface == Surface.LAND) & (ls.dem > 50)
    assert np.median(slope[ls.is_glacier]) < np.median(slope[rock])
    assert np.median(slope[ls.is_glacier]) < np.tan(np.radians(15))
    # Accumulation and ablation areas both exist: the ELA lies within the glacier elevations.
    z = ls.dem[ls.is_glacier]
    assert (z > ls.ela_m).any() and (z < ls.ela_m).any()


def test_same_seed_same_landscape(example_scenes):
    again = procedural_landscape(EXAMPLE, CRS, np.random.default_rng(1))
    first = example_scenes[1]
    for name in ("dem", "surface", "glacier_id", "fast_ice"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert first.ela_m == again.ela_m
    assert_geodataframe_equal(first.outlines, again.outlines)
    # An int seed is the same as a generator seeded with it.
    assert np.array_equal(procedural_landscape(EXAMPLE, CRS, 1).glacier_id, first.glacier_id)


def test_different_seeds_differ(example_scenes):
    a, b = example_scenes[1], example_scenes[2]
    assert not np.array_equal(a.dem, b.dem)
    assert not np.array_equal(a.glacier_id > 0, b.glacier_id > 0)


# ---- scaling with the area, and the feature controls ------------------------------------------------


def test_features_scale_with_area():
    small = LandscapeFeatures.for_area(6_000, 6_000)
    tile = LandscapeFeatures.for_area(10_000, 10_000)
    large = LandscapeFeatures.for_area(60_000, 50_000)
    assert small.sea and small.fjords >= 1 and small.tidewater_glaciers >= 1
    assert small.valley_glaciers >= 1 and small.debris_tongues >= 1 and small.small_glaciers >= 1
    assert small.snow_patches >= 1 and small.lakes >= 1
    assert not small.ice_cap and not tile.ice_cap and large.ice_cap
    for name in ("valley_glaciers", "small_glaciers", "snow_patches", "lakes"):
        assert getattr(small, name) <= getattr(tile, name) <= getattr(large, name), name
    assert large.fjords > small.fjords


def test_large_scene_has_an_ice_cap_and_more_glaciers():
    # 24 km square at 40 m pixels: a large scene, cheap enough for a unit test.
    bounds = (420_000.0, 8_740_000.0, 444_000.0, 8_764_000.0)
    ls = procedural_landscape(bounds, CRS, 7, pixel_size=40.0)
    assert ls.shape == (600, 600)
    kinds = ls.outlines.kind.value_counts()
    assert kinds.get("ice_cap", 0) == 1
    assert kinds.get("tidewater", 0) >= 1
    assert len(ls.outlines) > 15
    cap = ls.outlines[ls.outlines.kind == "ice_cap"].area_km2.iloc[0]
    assert cap > 5


def test_tile_scene_is_richer_than_the_example(example_scenes):
    tile = procedural_landscape((400_000.0, 8_730_000.0, 410_000.0, 8_740_000.0), CRS, 3)
    assert tile.shape == (1000, 1000)
    assert len(tile.outlines) > min(len(ls.outlines) for ls in example_scenes.values())
    assert (tile.surface == Surface.DEBRIS).any()
    assert (tile.outlines.kind == "tidewater").any()


def test_landscape_without_sea():
    features = dataclasses.replace(
        LandscapeFeatures.for_area(6_000, 6_000), sea=False, fjords=0, tidewater_glaciers=0
    )
    ls = procedural_landscape(EXAMPLE, CRS, 4, features=features)
    assert not (ls.surface == Surface.SEA).any()
    assert not ls.fast_ice.any()
    assert (ls.dem > 0).all()
    assert len(ls.outlines) >= 1
    assert (ls.outlines.kind != "tidewater").all()


def test_inconsistent_features_and_bounds_are_input_errors():
    with pytest.raises(InputError, match="without sea"):
        procedural_landscape(EXAMPLE, CRS, 1, features=LandscapeFeatures(sea=False))
    with pytest.raises(InputError, match="negative"):
        procedural_landscape(EXAMPLE, CRS, 1, features=LandscapeFeatures(lakes=-1))
    with pytest.raises(InputError, match="too small"):
        procedural_landscape((0.0, 0.0, 100.0, 100.0), CRS, 1)
    with pytest.raises(InputError, match="empty"):
        procedural_landscape((10.0, 0.0, 0.0, 100.0), CRS, 1)


# ---- ground-truth files --------------------------------------------------------------------------------


def test_write_truth(example_scenes, tmp_path):
    ls = example_scenes[2]
    paths = write_truth(ls, tmp_path / "scene")
    truth = tmp_path / "scene" / "truth"
    assert sorted(p.name for p in truth.iterdir()) == [
        "dem.tif",
        "landsea.tif",
        "outlines.gpkg",
        "surface.tif",
    ]
    outlines = gpd.read_file(paths["outlines"], layer="glaciers")
    assert list(outlines.columns) == ["glacier_id", "glacier_name", "kind", "area_km2", "geometry"]
    assert outlines.geometry.is_valid.all()
    assert outlines.crs == CRS
    np.testing.assert_allclose(outlines.area_km2, ls.outlines.area_km2)
    expected = {
        "dem": ("float32", ls.dem),
        "landsea": ("uint8", landsea_mask(ls)),
        "surface": ("uint8", ls.surface),
    }
    for name, (dtype, values) in expected.items():
        with rasterio.open(paths[name]) as src:
            assert src.dtypes[0] == dtype
            assert src.crs == CRS
            assert src.transform == ls.transform
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert np.array_equal(src.read(1), values), name
    landsea = landsea_mask(ls)
    assert np.array_equal(landsea == 0, ls.surface == Surface.SEA)
    assert np.array_equal(landsea == 2, ls.surface == Surface.LAKE)
    assert (landsea[ls.is_glacier] == 1).all()


# ---- landscapes around real outlines (NPI Svalbard 2007, near Ny-Ålesund) --------------------------


NPI_BOUNDS = (428_000.0, 8_753_000.0, 442_000.0, 8_763_000.0)


def _inventory_clipped_area_m2(path, bounds) -> float:
    from glaciermap.io.inventory import read_inventory

    frame = read_inventory(path, crs=CRS).frame
    return float(
        shapely.area(shapely.intersection(frame.geometry.values, shapely.box(*bounds))).sum()
    )


def test_from_outlines_npi_2007(shared_data):
    path = shared_data / NPI_2007
    ls = landscape_from_outlines(path, NPI_BOUNDS, CRS, np.random.default_rng(1))
    area = ls.is_glacier.sum() * ls.pixel_size**2
    assert area == pytest.approx(_inventory_clipped_area_m2(path, NPI_BOUNDS), rel=0.01)
    out = ls.outlines
    assert list(out.glacier_id) == [1, 2, 3, 4, 5]  # inventory row order
    assert "Austre Brøggerbreen" in set(out.glacier_name)
    assert set(out.source_id) == set(out.glacier_name)
    assert out.geometry.is_valid.all()
    np.testing.assert_allclose(
        out.geometry.area, np.bincount(ls.glacier_id.ravel())[1:] * ls.pixel_size**2, rtol=0.005
    )
    sea = ls.surface == Surface.SEA
    assert (ls.dem[sea] == 0).all() and (ls.dem[~sea] > 0).all()
    assert (ls.surface == Surface.DEBRIS).any()
    assert (ls.glacier_id[ls.surface == Surface.DEBRIS] > 0).all()
    assert (ls.surface == Surface.LAKE).any()
    assert (ls.surface == Surface.SNOW_PATCH).any()
    assert not ls.glacier_id[ls.surface == Surface.SNOW_PATCH].any()
    # The sea is kept away from the inventory's glaciers: none becomes tidewater by accident.
    assert not (ls.is_glacier & _four_neighbours(sea)).any()
    # Every glacier slopes: its surface spans a good range of elevations, crossing the ELA somewhere.
    for gid in out.glacier_id:
        z = ls.dem[ls.glacier_id == gid]
        assert z.max() - z.min() > 50
    z = ls.dem[ls.is_glacier]
    assert (z > ls.ela_m).any() and (z < ls.ela_m).any()
    slope = _slope(ls.dem, ls.pixel_size)
    rock = (ls.surface == Surface.LAND) & (ls.dem > 50)
    assert np.median(slope[ls.is_glacier]) < np.median(slope[rock])


def test_from_outlines_clips_to_the_bounds(shared_data):
    path = shared_data / NPI_2007
    ls = landscape_from_outlines(path, EXAMPLE, CRS, 2)
    area = ls.is_glacier.sum() * ls.pixel_size**2
    assert area == pytest.approx(_inventory_clipped_area_m2(path, EXAMPLE), rel=0.01)
    assert shapely.box(*EXAMPLE).covers(ls.outlines.union_all())
    # The glaciers cut by the bounds keep their inventory names.
    assert {"Austre Brøggerbreen", "Midtre Lovenbreen", "Steenbreen"} <= set(
        ls.outlines.glacier_name
    )


def test_from_outlines_accepts_a_frame_in_another_crs(shared_data):
    from glaciermap.io.inventory import read_inventory

    frame = read_inventory(shared_data / NPI_2007).frame.to_crs("EPSG:4326")
    ls = landscape_from_outlines(frame, NPI_BOUNDS, CRS, 3, sea_side=None)
    assert not (ls.surface == Surface.SEA).any()
    assert len(ls.outlines) == 5
    again = landscape_from_outlines(frame, NPI_BOUNDS, CRS, 3, sea_side=None)
    assert np.array_equal(ls.dem, again.dem)


def test_from_outlines_outside_the_bounds_is_an_input_error(shared_data):
    far = (600_000.0, 8_600_000.0, 606_000.0, 8_606_000.0)
    with pytest.raises(InputError, match="outlines outside the region"):
        landscape_from_outlines(shared_data / NPI_2007, far, CRS, 1)


def test_from_outlines_rejects_a_frame_without_crs_and_a_bad_sea_side():
    frame = gpd.GeoDataFrame(geometry=[shapely.box(431_000, 8_753_000, 432_000, 8_754_000)])
    with pytest.raises(InputError, match="no CRS"):
        landscape_from_outlines(frame, EXAMPLE, CRS, 1)
    with pytest.raises(InputError, match="sea_side"):
        landscape_from_outlines(frame.set_crs(CRS), EXAMPLE, CRS, 1, sea_side="up")


def test_from_outlines_with_a_synthetic_frame():
    # A plain frame with no id or name columns: ids follow row order, names are empty.
    frame = gpd.GeoDataFrame(
        geometry=[
            shapely.box(431_000, 8_753_000, 432_000, 8_755_500).buffer(150),
            shapely.box(433_500, 8_754_000, 434_300, 8_756_000).buffer(100),
            shapely.box(440_000, 8_760_000, 441_000, 8_761_000),  # outside: dropped
        ],
        crs=CRS,
    )
    ls = landscape_from_outlines(frame, EXAMPLE, CRS, 5, sea_side="north")
    assert list(ls.outlines.glacier_id) == [1, 2]
    assert ls.outlines.glacier_name.isna().all()
    assert (ls.surface == Surface.SEA).any()
    assert (ls.glacier_id[:30] == 0).all()  # the sea side is free of glaciers
