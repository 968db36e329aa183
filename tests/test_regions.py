"""Regions and the tile grid: the svalbard grid must reproduce the paper's published tiles."""

from __future__ import annotations

import pytest

from glaciermap.errors import ConfigError, InputError
from glaciermap.regions import BUILTIN_REGIONS, Region

SVALBARD = BUILTIN_REGIONS["svalbard"]


def test_svalbard_grid_contains_every_published_tile(shared_data):
    import geopandas as gpd

    published = gpd.read_file(shared_data / "svalbard_grid" / "data_tiles_10-0km_utm33n.shp")
    assert published.crs.to_epsg() == 32633
    ours = {t.id: t.bounds for t in SVALBARD.tiles()}
    assert len(published) == 747
    for codename, geom in zip(published["codename"], published.geometry, strict=True):
        assert codename in ours, f"{codename} missing from the generated grid"
        assert ours[codename] == pytest.approx(geom.bounds, abs=1e-6), codename


def test_known_tile_bounds_and_lookup():
    tile = SVALBARD.tile_from_id("SVAL-7-33")
    assert tile.bounds == (400_000, 8_730_000, 410_000, 8_740_000)
    assert SVALBARD.tile_at(405_000, 8_735_000) == tile
    # An edge belongs to the tile to its north-east.
    assert SVALBARD.tile_at(410_000, 8_740_000).id == "SVAL-8-34"
    assert SVALBARD.tile_pixels == 1000


def test_tiles_only_touching_the_aoi_are_excluded():
    region = Region("r", "EPSG:32633", (0, 0), 1000, 10, "R", aoi=(1000, 2000, 3000, 3500))
    ids = [t.id for t in region.tiles()]
    assert ids == ["R-1-2", "R-2-2", "R-1-3", "R-2-3"]
    assert region.grid_extent() == (1000, 2000, 3000, 4000)


def test_polygon_aoi_selects_intersecting_tiles():
    import shapely

    triangle = shapely.Polygon([(0, 0), (3000, 0), (0, 3000)])
    region = Region(
        "r", "EPSG:32633", (0, 0), 1000, 10, "R", aoi=triangle.bounds, aoi_wkt=triangle.wkt
    )
    ids = {t.id for t in region.tiles()}
    # The diagonal only touches R-1-2's and R-2-1's corners: those stay out, as does R-2-2.
    assert ids == {"R-0-0", "R-1-0", "R-2-0", "R-0-1", "R-1-1", "R-0-2"}


def test_tiles_frame_is_a_geodataframe_in_region_crs():
    frame = BUILTIN_REGIONS["example"].tiles_frame()
    assert len(frame) == 9
    assert frame.crs.to_epsg() == 32633
    assert (frame.geometry.area == 2000 * 2000).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tile_size": 1005},  # not a whole number of 10 m pixels
        {"aoi": (10, 0, 0, 10)},
        {"orbit": "sideways"},
    ],
)
def test_invalid_region_definitions_are_config_errors(kwargs):
    base = {
        "name": "r",
        "crs": "EPSG:32633",
        "origin": (0, 0),
        "tile_size": 1000,
        "pixel_size": 10,
        "prefix": "R",
        "aoi": (0, 0, 10, 10),
    }
    with pytest.raises(ConfigError):
        Region(**(base | kwargs))


def test_foreign_tile_id_is_an_input_error():
    with pytest.raises(InputError, match="not a tile id"):
        SVALBARD.tile_from_id("EXMP-1-2")
