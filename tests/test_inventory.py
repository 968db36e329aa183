"""Tests of the glacier inventory reader on every real inventory file in ../shared/data and on bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from glaciermap.errors import InputError
from glaciermap.io.inventory import clean_name, read_inventory, repair_polygons

# Every vector file of the three inventory folders: (path under shared data, schema, features, repaired).
INVENTORY_FILES = [
    ("rgi_samples/columbia/01_rgi60_Columbia.shp", "rgi6", 1, 0),
    ("rgi_samples/columbia/RGI60-01.10689.shp", "rgi6", 1, 1),
    ("rgi_samples/coxe/rgi_RGI50-01.10299.shp", "rgi5", 1, 0),
    ("rgi_samples/hintereisferner/Hintereisferner_RGI5.shp", "rgi5", 1, 0),
    ("rgi_samples/hintereisferner/Hintereisferner_RGI6.shp", "rgi6", 1, 0),
    ("rgi_samples/hintereisferner/rgi7g_hef.shp", "rgi7", 1, 0),
    ("rgi_samples/iceland_icecap/RGI6_icecap.shp", "rgi6", 61, 1),
    ("rgi_samples/oetztal/rgi7g_hef_complex.shp", "rgi7", 23, 0),
    ("rgi_samples/oetztal/rgi_oetztal.shp", "rgi5", 20, 3),
    ("glacier_np_usgs/glaciers-1966.json", "gnp", 39, 0),
    ("glacier_np_usgs/glaciers-1998.json", "gnp", 39, 0),
    ("glacier_np_usgs/glaciers-2005.json", "gnp", 39, 1),
    ("glacier_np_usgs/glaciers-2015.json", "gnp", 39, 0),
    ("glacier_np_usgs/lia-poly.json", "gnp", 39, 0),
    ("svalbard_npi/svalbard.gpkg", "npi", 15, 0),
    ("svalbard_npi/derived/svalbard_1936.gpkg", "npi", 5, 0),
    ("svalbard_npi/derived/svalbard_1990.gpkg", "npi", 5, 0),
    ("svalbard_npi/derived/svalbard_2007.gpkg", "npi", 5, 0),
]


def test_the_list_covers_every_inventory_file(shared_data: Path) -> None:
    found = {
        *(p.relative_to(shared_data).as_posix() for p in shared_data.glob("rgi_samples/**/*.shp")),
        *(
            p.relative_to(shared_data).as_posix()
            for p in shared_data.glob("glacier_np_usgs/*.json")
        ),
        "svalbard_npi/svalbard.gpkg",
        *(
            p.relative_to(shared_data).as_posix()
            for p in shared_data.glob("svalbard_npi/derived/*.gpkg")
        ),
    }
    assert found == {row[0] for row in INVENTORY_FILES}


@pytest.mark.parametrize(
    ("relative", "schema", "n_features", "n_repaired"),
    INVENTORY_FILES,
    ids=[Path(row[0]).name for row in INVENTORY_FILES],
)
def test_reads_every_real_inventory(
    shared_data: Path, relative: str, schema: str, n_features: int, n_repaired: int
) -> None:
    path = shared_data / relative
    inventory = read_inventory(path)
    frame = inventory.frame
    raw_columns = list(pyogrio.read_info(path)["fields"])

    assert inventory.schema == schema
    assert len(frame) == n_features > 0
    assert inventory.n_repaired == n_repaired
    assert inventory.n_dropped == 0
    assert inventory.path == path
    # ids: unique, non-null strings; names: str or None
    assert frame["glacier_id"].notna().all()
    assert frame["glacier_id"].map(lambda v: isinstance(v, str) and v != "").all()
    assert frame["glacier_id"].is_unique
    assert frame["glacier_name"].map(lambda v: v is None or (isinstance(v, str) and v != "")).all()
    # every original column kept, geometry last
    assert set(raw_columns) <= set(frame.columns)
    assert frame.columns[-1] == frame.geometry.name
    # geometries: valid 2D polygons
    geoms = np.asarray(frame.geometry.array, dtype=object)
    assert shapely.is_valid(geoms).all()
    assert set(shapely.get_type_id(geoms)) <= {3, 6}
    assert not shapely.has_z(geoms).any()
    assert frame.crs is not None


def test_rgi_schemas_give_ids_and_clean_names(shared_data: Path) -> None:
    folder = shared_data / "rgi_samples" / "hintereisferner"
    rgi5 = read_inventory(folder / "Hintereisferner_RGI5.shp").frame
    rgi6 = read_inventory(folder / "Hintereisferner_RGI6.shp").frame
    rgi7 = read_inventory(folder / "rgi7g_hef.shp").frame
    assert rgi5["glacier_name"].tolist() == ["Hintereisferner"]
    assert rgi5["Name"].iloc[0].startswith("Hintereisferner   ")  # the original is kept as it was
    assert rgi6["glacier_name"].tolist() == ["Hintereisferner"]
    assert rgi7["glacier_name"].tolist() == ["Hintereisferner"]
    assert rgi5["glacier_id"].tolist() == ["RGI50-11.00897"]
    assert rgi6["glacier_id"].tolist() == ["RGI60-11.00897"]
    assert rgi7["glacier_id"].tolist() == ["RGI2000-v7.0-G-11-03116"]

    coxe = read_inventory(shared_data / "rgi_samples/coxe/rgi_RGI50-01.10299.shp").frame
    assert coxe["glacier_name"].tolist() == ["Coxe Glacier"]
    oetztal = read_inventory(shared_data / "rgi_samples/oetztal/rgi_oetztal.shp").frame
    names = dict(zip(oetztal["glacier_id"], oetztal["glacier_name"], strict=True))
    assert names["RGI50-11.00648"] is None  # only the stray 'À' byte in the file
    assert names["RGI50-11.00787"] == "Kesselwandferner"
    assert names["RGI50-11.00719_d01"] == names["RGI50-11.00719_d02"] == "Vernagtferner"
    icecap = read_inventory(shared_data / "rgi_samples/iceland_icecap/RGI6_icecap.shp").frame
    assert icecap["glacier_name"].isna().sum() > 0
    assert "Oeldufellsjoekull" in set(icecap["glacier_name"])


def test_files_without_ids_use_unique_names_else_stem_and_position(shared_data: Path) -> None:
    gnp = read_inventory(shared_data / "glacier_np_usgs/glaciers-1966.json").frame
    assert (gnp["glacier_id"] == gnp["GLACNAME"]).all()
    npi = read_inventory(shared_data / "svalbard_npi/derived/svalbard_1990.gpkg").frame
    assert (npi["glacier_id"] == npi["name"]).all()
    # 15 rows, each name three times (one per year): names are not unique
    combined = read_inventory(shared_data / "svalbard_npi/svalbard.gpkg").frame
    assert combined["glacier_id"].tolist() == [f"svalbard-{n}" for n in range(1, 16)]
    assert combined["glacier_name"].iloc[0] == "Austre Brøggerbreen"


def test_repairs_are_logged_and_keep_area(shared_data: Path, caplog) -> None:
    path = shared_data / "rgi_samples/oetztal/rgi_oetztal.shp"
    with caplog.at_level(logging.INFO, logger="glaciermap"):
        inventory = read_inventory(path)
    assert "repaired 3 invalid geometries" in caplog.text
    raw = gpd.read_file(path)
    assert inventory.frame.to_crs(32632).area.sum() == pytest.approx(
        raw.to_crs(32632).area.sum(), rel=1e-6
    )


def test_reprojects_on_request(shared_data: Path) -> None:
    path = shared_data / "rgi_samples/hintereisferner/rgi7g_hef.shp"
    inventory = read_inventory(path, crs="EPSG:32632")
    assert inventory.crs.to_epsg() == 32632
    assert inventory.frame.area.iloc[0] / 1e6 == pytest.approx(8.036, rel=2e-3)
    assert "rgi_id" in inventory.frame.columns


# --- synthetic files ------------------------------------------------------------------------------


def _boxes(n: int, crs: str | None = "EPSG:32633") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"label": [f"g{i}" for i in range(n)]},
        geometry=[shapely.box(i * 2000.0, 0.0, i * 2000.0 + 1000.0, 1000.0) for i in range(n)],
        crs=crs,
    )


def test_generic_file_without_id_or_name_gets_stem_ids(tmp_path: Path) -> None:
    path = tmp_path / "outlines.geojson"
    _boxes(3).drop(columns="label").to_file(path)
    frame = read_inventory(path).frame
    assert read_inventory(path).schema == "generic"
    assert frame["glacier_id"].tolist() == ["outlines-1", "outlines-2", "outlines-3"]
    assert frame["glacier_name"].tolist() == [None, None, None]


def test_generic_id_and_name_columns_are_found(tmp_path: Path) -> None:
    frame = _boxes(2)
    frame["ID"] = [7, 9]
    frame["Name"] = ["Alpha  ", None]
    path = tmp_path / "glaciers.gpkg"
    frame.to_file(path)
    read = read_inventory(path).frame
    assert read["glacier_id"].tolist() == ["7", "9"]
    assert read["glacier_name"].tolist() == ["Alpha", None]


def test_geoparquet_is_read(tmp_path: Path) -> None:
    path = tmp_path / "outlines.parquet"
    frame = _boxes(2)
    frame["name"] = ["A", "B"]
    frame.to_parquet(path)
    inventory = read_inventory(path, crs="EPSG:4326")
    assert inventory.frame["glacier_id"].tolist() == ["A", "B"]
    assert inventory.crs.to_epsg() == 4326
    assert inventory.layer is None


def test_geopackage_layers(tmp_path: Path, caplog) -> None:
    path = tmp_path / "multi.gpkg"
    points = gpd.GeoDataFrame({"v": [1]}, geometry=[shapely.Point(0, 0)], crs="EPSG:32633")
    points.to_file(path, layer="stations")
    _boxes(2).to_file(path, layer="outlines")
    _boxes(1).to_file(path, layer="other_outlines")
    with caplog.at_level(logging.INFO, logger="glaciermap"):
        inventory = read_inventory(path)
    assert inventory.layer == "outlines"
    assert "reading 'outlines'" in caplog.text
    assert len(read_inventory(path, layer="other_outlines")) == 1
    with pytest.raises(InputError, match="no layer 'nope'"):
        read_inventory(path, layer="nope")
    with pytest.raises(InputError, match="no polygon geometries"):
        read_inventory(path, layer="stations")


def test_invalid_and_degenerate_geometries(tmp_path: Path) -> None:
    bowtie = shapely.from_wkt("POLYGON ((0 0, 100 100, 100 0, 0 100, 0 0))")
    collapsed = shapely.from_wkt("POLYGON ((0 0, 100 0, 200 0, 0 0))")
    frame = gpd.GeoDataFrame(
        {"name": ["bowtie", "flat", "box"]},
        geometry=[bowtie, collapsed, shapely.box(500, 500, 600, 600)],
        crs="EPSG:32633",
    )
    path = tmp_path / "bad.gpkg"
    frame.to_file(path)
    inventory = read_inventory(path)
    assert inventory.n_repaired == 2
    assert inventory.n_dropped == 1
    assert inventory.frame["glacier_id"].tolist() == ["bowtie", "box"]
    assert inventory.frame.geom_type.tolist() == ["MultiPolygon", "Polygon"]
    assert inventory.frame.is_valid.all()


def test_repair_polygons_keeps_polygon_parts_only() -> None:
    geoms = np.array(
        [
            None,
            shapely.Point(0, 0),
            shapely.from_wkt("POLYGON Z ((0 0 5, 1 0 5, 1 1 5, 0 0 5))"),
            shapely.from_wkt(
                "GEOMETRYCOLLECTION (MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5))),"
                " LINESTRING (0 0, 9 9))"
            ),
        ],
        dtype=object,
    )
    out, repaired = repair_polygons(geoms)
    assert out[0] is None and out[1] is None
    assert not shapely.has_z(out[2]) and out[2].geom_type == "Polygon"
    assert out[3].geom_type == "MultiPolygon" and shapely.area(out[3]) == pytest.approx(1.0)
    assert not repaired.any()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Hintereisferner                                À", "Hintereisferner"),
        ("À", None),
        ("   ", None),
        ("", None),
        (None, None),
        (float("nan"), None),
        (
            "Fontana (Barbadorso di Fuori) / Freibrunner",
            "Fontana (Barbadorso di Fuori) / Freibrunner",
        ),
        ("Austre Brøggerbreen", "Austre Brøggerbreen"),
        ("Ö", None),
        ("A", "A"),
    ],
)
def test_clean_name(raw: object, clean: str | None) -> None:
    assert clean_name(raw) == clean


# --- bad input ------------------------------------------------------------------------------------


def _assert_one_line(exc: InputError, path: Path) -> None:
    assert str(path) in str(exc)
    assert "\n" not in str(exc)
    assert exc.hint


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.gpkg"
    with pytest.raises(InputError, match="does not exist") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)


def test_empty_layer(tmp_path: Path) -> None:
    path = tmp_path / "empty.gpkg"
    _boxes(0).to_file(path, layer="outlines", geometry_type="Polygon")
    with pytest.raises(InputError, match="has no features") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)


def test_points_file(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    gpd.GeoDataFrame(
        {"v": [1, 2]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)], crs="EPSG:4326"
    ).to_file(path)
    with pytest.raises(InputError, match=r"no polygon geometries \(found Point\)") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_file_without_crs(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    _boxes(2, crs=None).to_file(path)
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(InputError, match="has no CRS") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.gpkg"
    path.write_text("this is not a geopackage\n")
    with pytest.raises(InputError, match="cannot be read") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)
    parquet = tmp_path / "garbage.parquet"
    parquet.write_bytes(b"PAR1 nonsense")
    with pytest.raises(InputError, match="cannot be read as GeoParquet"):
        read_inventory(parquet)


def test_table_without_geometries(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"a": [1, 2]}), path, layer="attributes")
    with pytest.raises(InputError, match="table without geometries") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)


def test_unknown_target_crs(tmp_path: Path) -> None:
    path = tmp_path / "outlines.gpkg"
    _boxes(1).to_file(path)
    with pytest.raises(InputError, match="cannot reproject"):
        read_inventory(path, crs="EPSG:nonsense")


def test_damaged_geometries_are_a_one_line_input_error(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "damaged.gpkg"
    _boxes(2).to_file(path, layer="outlines")
    # The layer keeps its declaration, but its geometry blob is garbage: listing works, reading fails.
    db = sqlite3.connect(path)
    db.execute("DROP TABLE outlines")
    db.execute("CREATE TABLE outlines (fid INTEGER PRIMARY KEY, geom BLOB, label TEXT)")
    db.execute("INSERT INTO outlines VALUES (1, x'0102', 'g0')")
    db.commit()
    db.close()
    with pytest.raises(InputError, match=r"damaged\.gpkg cannot be read \(") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)


def test_truncated_file_is_a_one_line_input_error(tmp_path: Path) -> None:
    whole = tmp_path / "whole.gpkg"
    _boxes(2).to_file(whole)
    path = tmp_path / "truncated.gpkg"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(InputError, match="cannot be read as vector data") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)


def test_damaged_geoparquet_is_a_one_line_input_error(tmp_path: Path) -> None:
    import pandas as pd

    whole = tmp_path / "whole.parquet"
    _boxes(2).to_parquet(whole)
    path = tmp_path / "truncated.parquet"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match="cannot be read as GeoParquet") as info:
        read_inventory(path)
    _assert_one_line(info.value, path)
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(plain)
    with pytest.raises(InputError, match="without 'geo' metadata") as info:
        read_inventory(plain)
    _assert_one_line(info.value, plain)


@pytest.mark.parametrize(
    ("module", "reader", "suffix"),
    [
        ("pyogrio", "list_layers", ".gpkg"),
        ("pyogrio", "read_dataframe", ".gpkg"),
        ("geopandas", "read_parquet", ".parquet"),
    ],
)
def test_a_bug_in_the_reader_is_not_bad_input(
    tmp_path: Path, monkeypatch, module: str, reader: str, suffix: str
) -> None:
    import importlib

    path = tmp_path / f"outlines{suffix}"
    frame = _boxes(2)
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_file(path)
    assert len(read_inventory(path)) == 2

    # Not a driver error: RuntimeError is the base of pyogrio's, ValueError of pyarrow's ArrowInvalid.
    bug = ValueError if module == "geopandas" else RuntimeError

    def broken(*args, **kwargs):
        raise bug("a bug in the reader, not a damaged file")

    monkeypatch.setattr(importlib.import_module(module), reader, broken)
    with pytest.raises(bug, match="a bug in the reader"):
        read_inventory(path)
