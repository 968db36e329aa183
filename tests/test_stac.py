"""STAC: each year's item and the region's catalog, validated offline, linked, rewritten only on change."""

from __future__ import annotations

import json
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path

import pystac
import pytest
from fakes.inventory import CRS, write_rasters, write_year
from pyproj import Transformer
from pystac.validation import RegisteredValidator

from glaciermap.errors import InputError
from glaciermap.inventory_read import read_glaciers
from glaciermap.stac import offline_validator, update_catalog, validate, write_stac_item


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Validation must never fetch a schema: any connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """Two years of the example region with items and the catalog; rasters under predictions/."""
    root = tmp_path / "inventory" / "example"
    predictions = tmp_path / "predictions" / "example"
    for year, previous in ((2020, None), (2021, 2020)):
        write_year(root / str(year), year=year, previous_year=previous)
        rasters = predictions / str(year) / "unet3d"
        rasters.mkdir(parents=True)
        probability, mask = write_rasters(rasters)
        (root / str(year) / "report.html").write_text("<!DOCTYPE html><p>report</p>")
        write_stac_item(
            root / str(year),
            region="example",
            year=year,
            crs=CRS,
            probability=probability,
            mask=mask,
        )
    update_catalog(root, region="example")
    return root


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*.json"))
    }


def test_catalog_and_items_validate_and_link(inventory: Path, monkeypatch) -> None:
    catalog_path = inventory / "catalog.json"
    catalog = _json(catalog_path)
    validate(catalog)
    assert catalog["type"] == "Catalog" and catalog["id"] == "glaciermap-example"
    links = {(link["rel"], link["href"]) for link in catalog["links"]}
    assert links == {
        ("root", "./catalog.json"),
        ("item", "./2020/item.json"),
        ("item", "./2021/item.json"),
    }
    assert not any(link["rel"] == "self" for link in catalog["links"])  # self-contained

    for year in (2020, 2021):
        item_path = inventory / str(year) / "item.json"
        item = _json(item_path)
        validate(item)
        assert item["id"] == f"example-{year}"
        assert {(link["rel"], link["href"]) for link in item["links"]} == {
            ("root", "../catalog.json"),
            ("parent", "../catalog.json"),
        }
        assert set(item["assets"]) == {
            "probability",
            "mask",
            "glaciers",
            "changes",
            "report",
            "summary",
        }
        # Every asset is a relative href to a file that exists.
        for key, asset in item["assets"].items():
            assert not asset["href"].startswith("/"), key
            assert (item_path.parent / asset["href"]).resolve().is_file(), (key, asset["href"])
        assets = item["assets"]
        assert assets["glaciers"]["href"] == "./glaciers.gpkg"
        assert (
            assets["probability"]["href"]
            == f"../../../predictions/example/{year}/unet3d/probability.tif"
        )
        assert assets["glaciers"]["type"] == "application/geopackage+sqlite3"
        assert assets["probability"]["type"] == pystac.MediaType.COG
        assert assets["report"]["type"] == "text/html"
        assert assets["summary"]["type"] == "application/json"
        assert assets["probability"]["roles"] == ["data"]
        assert assets["probability"]["proj:shape"] == [270, 300]
        props = item["properties"]
        assert props["proj:code"] == "EPSG:32633"
        assert props["datetime"] is None
        assert props["start_datetime"] == f"{year}-06-10T00:00:00Z"
        assert props["end_datetime"] == f"{year}-09-20T23:59:59Z"

        # The bbox holds every glacier's corners, moved to WGS 84 independently here.
        west, south, east, north = item["bbox"]
        to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
        minx, miny, maxx, maxy = read_glaciers(inventory / str(year)).total_bounds
        for x, y in ((minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)):
            lon, lat = to_wgs84.transform(x, y)
            assert west - 1e-6 <= lon <= east + 1e-6 and south - 1e-6 <= lat <= north + 1e-6
        assert 11.5 < west < east < 12.2 and 78.7 < south < north < 78.9

    # pystac itself reads the tree back and validates all of it (with the offline validator).
    monkeypatch.setattr(RegisteredValidator, "_validator", offline_validator())
    read_back = pystac.Catalog.from_file(str(catalog_path))
    assert read_back.validate_all() == 2
    items = {item.id: item for item in read_back.get_items()}
    assert set(items) == {"example-2020", "example-2021"}
    glaciers = Path(items["example-2021"].assets["glaciers"].get_absolute_href() or "")
    assert glaciers == (inventory / "2021" / "glaciers.gpkg").resolve()
    assert items["example-2021"].common_metadata.start_datetime == datetime(2021, 6, 10, tzinfo=UTC)
    assert items["example-2020"].get_root() is read_back


def test_a_repeated_update_rewrites_nothing(inventory: Path, tmp_path: Path) -> None:
    before = _snapshot(inventory)
    predictions = tmp_path / "predictions" / "example" / "2021" / "unet3d"
    write_stac_item(
        inventory / "2021",
        region="example",
        year=2021,
        crs=CRS,
        probability=predictions / "probability.tif",
        mask=predictions / "mask.tif",
    )
    update_catalog(inventory, region="example")
    assert _snapshot(inventory) == before  # same bytes, same modification times


def test_catalog_follows_the_years_on_disk(inventory: Path) -> None:
    write_year(inventory / "2022", year=2022, previous_year=2021)
    write_stac_item(inventory / "2022", region="example", year=2022, crs=CRS)
    update_catalog(inventory, region="example")
    hrefs = [link["href"] for link in _json(inventory / "catalog.json")["links"]]
    assert hrefs == ["./catalog.json", "./2020/item.json", "./2021/item.json", "./2022/item.json"]
    item = _json(inventory / "2022" / "item.json")
    validate(item)
    assert set(item["assets"]) == {"glaciers", "changes", "summary"}  # no rasters, no report yet

    shutil.rmtree(inventory / "2020")
    update_catalog(inventory, region="example")
    hrefs = [link["href"] for link in _json(inventory / "catalog.json")["links"]]
    assert hrefs == ["./catalog.json", "./2021/item.json", "./2022/item.json"]


def test_a_broken_item_is_bad_input(inventory: Path) -> None:
    before = (inventory / "catalog.json").read_bytes()
    item_path = inventory / "2021" / "item.json"
    item = _json(item_path)
    del item["geometry"]
    item_path.write_text(json.dumps(item), encoding="utf-8")
    with pytest.raises(InputError, match=r"2021/item\.json is not a valid STAC Item"):
        update_catalog(inventory, region="example")
    item_path.write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="not a valid STAC Item"):
        update_catalog(inventory, region="example")
    assert (inventory / "catalog.json").read_bytes() == before


def test_missing_folders_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        update_catalog(tmp_path / "nowhere", region="example")
    with pytest.raises(InputError, match="not found"):
        write_stac_item(tmp_path / "2020", region="example", year=2020, crs=CRS)


def test_a_year_without_glaciers_takes_its_footprint_from_the_changes(tmp_path: Path) -> None:
    from glaciermap.io.vector import write_gpkg

    folder = tmp_path / "2021"
    write_year(folder, year=2021, previous_year=2020)
    write_gpkg(folder / "glaciers.gpkg", {"glaciers": read_glaciers(folder).iloc[:0]})
    item = _json(write_stac_item(folder, region="example", year=2021, crs=CRS))
    validate(item)
    # The changes reach from G1's lost front (x 430 km) to G6's last outline (x 434.8 km).
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    west, _, east, _ = item["bbox"]
    assert west <= to_wgs84.transform(430_000, 8_750_000)[0] + 1e-6
    assert east >= to_wgs84.transform(434_800, 8_754_300)[0] - 1e-6
