"""Tests of the inventory update: stable ids, splits, merges, new and disappeared glaciers, the columns of
glaciers.gpkg, changes.gpkg, summary.json, and real NPI outlines across years."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from glaciermap.errors import InputError
from glaciermap.inventory_format import (
    CHANGE_LAYERS,
    CHANGES_GPKG,
    GLACIERS_GPKG,
    GLACIERS_LAYER,
    STATUSES,
    SUMMARY_JSON,
    SUMMARY_KEYS,
    change_column_names,
    glacier_column_names,
)
from glaciermap.io.raster import write_cog
from glaciermap.io.vector import write_gpkg
from glaciermap.regions import BUILTIN_REGIONS, Region, north_up_transform
from glaciermap.update import UpdateResult, update_glaciers, write_changes, write_summary

EXAMPLE = BUILTIN_REGIONS["example"]
UTM33 = EXAMPLE.crs
X0, Y0 = 431_000.0, 8_753_000.0  # inside the example region's AOI (430-436 km, 8752-8758 km)


def _box(minx: float, miny: float, maxx: float, maxy: float) -> shapely.Polygon:
    return shapely.box(X0 + minx, Y0 + miny, X0 + maxx, Y0 + maxy)


def _write(
    path: Path, geoms: list, ids: list[str] | None = None, names: list | None = None
) -> Path:
    """An outline file: vectorize's columns, or an inventory's when ids are given."""
    columns: dict = {"id": list(range(1, len(geoms) + 1))}
    if ids is not None:
        columns = {"glacier_id": ids, "glac_name": names or [None] * len(ids)}
    frame = gpd.GeoDataFrame(columns, geometry=geoms, crs=UTM33)
    write_gpkg(path, {"glaciers": frame})
    return path


def _update(tmp_path: Path, name: str, outlines: list, **kwargs) -> UpdateResult:
    year = kwargs.pop("year", 2017)
    return update_glaciers(
        _write(tmp_path / f"{name}-outlines.gpkg", outlines),
        None,
        tmp_path / name,
        region=EXAMPLE,
        year=year,
        **kwargs,
    )


def _rows(result: UpdateResult) -> dict[str, dict]:
    frame = result.glaciers.drop(columns="geometry")
    return {row["glacier_id"]: row for row in frame.to_dict("records")}


def _layer(path: Path, layer: str) -> gpd.GeoDataFrame:
    return gpd.read_file(path, layer=layer)


# --- ids: hand-built cases -------------------------------------------------------------------------


def test_a_split_keeps_the_id_on_the_largest_part_and_small_fragments_stay(tmp_path):
    previous = _write(tmp_path / "previous.gpkg", [_box(0, 0, 2000, 1000)], ["G1"], ["Storbreen"])
    # The speck lies in the gap, inside G1's old outline.
    big, broken, speck = (
        _box(0, 0, 1200, 1000),
        _box(1300, 0, 2000, 1000),
        _box(1220, 400, 1270, 450),
    )
    result = _update(tmp_path, "y", [big, broken, speck], previous=previous)

    rows = _rows(result)
    assert set(rows) == {"G1", "EXMP-2017-0001"}
    main, part = rows["G1"], rows["EXMP-2017-0001"]
    assert main["glac_name"] == "Storbreen" and main["parent_id"] is None
    # The 0.0025 km² speck is below min_area_km2: it stays with G1, as a second polygon.
    assert main["area_km2"] == pytest.approx(1.2 + 0.0025)
    g1 = result.glaciers.set_index("glacier_id").geometry["G1"]
    assert len(shapely.get_parts(g1)) == 2
    assert part["status"] == "split" and part["parent_id"] == "G1"
    assert part["glac_name"] is None
    assert part["area_km2"] == pytest.approx(0.7)
    assert part["change_km2"] == pytest.approx(0.7) and np.isnan(part["change_pct"])
    assert main["change_km2"] == pytest.approx(1.2025 - 2.0)


def test_a_detached_part_of_a_multipart_outline_is_not_a_split(tmp_path):
    """A tributary detached already in the baseline stays with its glacier (NPI's Midtre Lovenbreen)."""
    outline = shapely.MultiPolygon([_box(0, 0, 1000, 1000), _box(1500, 0, 1800, 300)])
    previous = _write(tmp_path / "previous.gpkg", [outline], ["G1"])
    result = _update(
        tmp_path, "y", [_box(0, 0, 1000, 1000), _box(1500, 0, 1800, 300)], previous=previous
    )
    assert result.glaciers["glacier_id"].tolist() == ["G1"]
    assert result.glaciers["status"].tolist() == ["unchanged"]


def test_a_complex_touching_several_glaciers_is_cut_along_their_divides(tmp_path):
    west, east = _box(0, 0, 1000, 1000), _box(1000, 0, 2000, 1000)
    previous = _write(tmp_path / "previous.gpkg", [west, east], ["W", "E"], ["West", "East"])
    advance = _box(0, -200, 1200, 0)  # mostly below W: W's
    complex_ = shapely.union_all([west, east, advance])
    result = _update(tmp_path, "y", [complex_], previous=previous)

    rows = _rows(result)
    assert set(rows) == {"W", "E"}
    assert rows["W"]["area_km2"] == pytest.approx(1.24)
    assert rows["W"]["status"] == "advanced" and rows["W"]["front_shift_m"] == pytest.approx(
        200, abs=2
    )
    assert rows["E"]["area_km2"] == pytest.approx(1.0)
    assert rows["E"]["status"] == "unchanged" and rows["E"]["front_shift_m"] == 0.0
    geoms = result.glaciers.geometry.to_numpy()
    assert shapely.area(shapely.intersection(geoms[0], geoms[1])) < 1e-6


def test_new_ice_gets_region_prefixed_ids_in_a_stable_spatial_order(tmp_path):
    previous = _write(tmp_path / "previous.gpkg", [_box(0, 0, 1000, 1000)], ["G1"])
    south, north = _box(2000, 0, 2300, 300), _box(2500, 2000, 2800, 2300)
    tiny = _box(4000, 4000, 4050, 4050)  # 0.0025 km²: below the minimum glacier size
    first = _update(tmp_path, "a", [_box(0, 0, 1000, 1000), south, north, tiny], previous=previous)
    # Same glaciers given in another order: same ids.
    again = _update(tmp_path, "b", [tiny, south, north, _box(0, 0, 1000, 1000)], previous=previous)

    for result in (first, again):
        rows = _rows(result)
        assert set(rows) == {"G1", "EXMP-2017-0001", "EXMP-2017-0002"}
        assert rows["EXMP-2017-0001"]["cenlat"] > rows["EXMP-2017-0002"]["cenlat"]  # north first
        new = rows["EXMP-2017-0002"]
        assert new["status"] == "new" and new["parent_id"] is None
        assert new["change_km2"] == pytest.approx(0.09) and np.isnan(new["change_pct"])
    assert (tmp_path / "a" / GLACIERS_GPKG).read_bytes() != b""
    a = _layer(tmp_path / "a" / GLACIERS_GPKG, GLACIERS_LAYER)
    b = _layer(tmp_path / "b" / GLACIERS_GPKG, GLACIERS_LAYER)
    pd.testing.assert_frame_equal(
        a.drop(columns="geometry").sort_values("glacier_id").reset_index(drop=True),
        b.drop(columns="geometry").sort_values("glacier_id").reset_index(drop=True),
    )


def test_new_ids_skip_numbers_the_baseline_already_uses(tmp_path):
    previous = _write(tmp_path / "previous.gpkg", [_box(0, 0, 1000, 1000)], ["EXMP-2017-0001"])
    result = _update(
        tmp_path, "y", [_box(0, 0, 1000, 1000), _box(2000, 0, 2300, 300)], previous=previous
    )
    assert sorted(result.glaciers["glacier_id"]) == ["EXMP-2017-0001", "EXMP-2017-0002"]


def test_a_glacier_without_ice_disappears_into_changes(tmp_path):
    kept, lost = _box(0, 0, 1000, 1000), _box(2000, 0, 2500, 500)
    previous = _write(tmp_path / "previous.gpkg", [kept, lost], ["K", "L"], ["Kept", "Lost"])
    result = _update(tmp_path, "y", [kept], previous=previous)
    assert result.glaciers["glacier_id"].tolist() == ["K"]
    assert result.disappeared["glacier_id"].tolist() == ["L"]
    assert result.status_counts() == {"unchanged": 1, "disappeared": 1}

    path = write_changes(tmp_path / "y", region=EXAMPLE, previous=previous)
    gone = _layer(path, "disappeared")
    assert gone[["glacier_id", "glac_name", "against", "kind"]].values.tolist() == [
        ["L", "Lost", "previous", "disappeared"]
    ]
    assert gone["area_km2"].iloc[0] == pytest.approx(0.25)
    assert shapely.equals(gone.geometry.iloc[0], shapely.MultiPolygon([lost]))
    assert gone["shift_m"].isna().all() and not gone["front"].any()


def test_a_year_without_any_glacier_left_writes_empty_layers(tmp_path):
    previous = _write(tmp_path / "previous.gpkg", [_box(0, 0, 1000, 1000)], ["G1"], ["Gone"])
    speck = _box(3000, 3000, 3050, 3050)  # below the minimum glacier size, touching nothing
    result = _update(tmp_path, "y", [speck], previous=previous)
    assert len(result.glaciers) == 0 and result.disappeared["glacier_id"].tolist() == ["G1"]
    written = _layer(tmp_path / "y" / GLACIERS_GPKG, GLACIERS_LAYER)
    assert len(written) == 0 and tuple(written.columns) == (*glacier_column_names(), "geometry")
    changes = write_changes(tmp_path / "y", region=EXAMPLE, previous=previous)
    assert _layer(changes, "disappeared")["glacier_id"].tolist() == ["G1"]
    summary = write_summary(
        tmp_path / "y", region="example", year=2017, previous_year=2016, provenance={}
    )
    assert summary["changed"] is True
    assert summary["totals"]["change_km2"] == pytest.approx(-1.0)
    assert summary["totals"]["change_pct"] == pytest.approx(-100.0)


def test_overlapping_reference_outlines_give_disjoint_glaciers(tmp_path):
    """A reference whose outlines overlap by 100 m: the shared ice goes to the first glacier only."""
    first, second = _box(0, 0, 1100, 1000), _box(1000, 0, 2000, 1000)
    reference = _write(tmp_path / "rgi.gpkg", [first, second], ["R1", "R2"])
    result = _update(tmp_path, "y", [_box(0, 0, 2000, 1000)], reference=reference)
    rows = _rows(result)
    assert rows["R1"]["area_km2"] == pytest.approx(1.1)
    assert rows["R2"]["area_km2"] == pytest.approx(0.9)
    assert result.glaciers.geometry.area.sum() == pytest.approx(2.0e6)


def test_a_first_year_without_reference_makes_every_body_new(tmp_path):
    result = _update(tmp_path, "y", [_box(0, 0, 1000, 1000), _box(2000, 0, 2300, 300)])
    assert result.against is None
    assert result.glaciers["status"].tolist() == ["new", "new"]
    assert result.glaciers["change_km2"].isna().all()
    path = write_changes(tmp_path / "y", region=EXAMPLE)
    assert all(len(_layer(path, layer)) == 0 for layer in CHANGE_LAYERS)
    summary = write_summary(tmp_path / "y", region="example", year=2017, provenance={})
    assert summary["totals"]["change_km2"] is None and summary["totals"]["new"] == 2


# --- attributes -------------------------------------------------------------------------------


def test_mean_probability_is_read_inside_each_outline(tmp_path, monkeypatch):
    """Left half 0.2, right half 0.8, a no-data strip; glaciers on each side, one off the raster."""
    bounds = (X0, Y0, X0 + 2000, Y0 + 1000)
    values = np.full((100, 200), 0.2, dtype="float32")
    values[:, 100:] = 0.8
    values[:10, :] = np.nan  # the top 100 m was not observed
    probability = tmp_path / "probability.tif"
    write_cog(
        probability, values, crs=UTM33, transform=north_up_transform(bounds, 10.0), nodata=np.nan
    )
    outlines = [_box(0, 0, 1000, 1000), _box(1100, 0, 2000, 500), _box(3000, 3000, 3500, 3500)]
    kwargs = {"region": EXAMPLE, "year": 2017}
    outlines_path = _write(tmp_path / "o.gpkg", outlines)
    result = update_glaciers(outlines_path, probability, tmp_path / "a", **kwargs)
    mean = result.glaciers.set_index("cenlon").sort_index()["mean_probability"].to_numpy()
    assert mean[0] == pytest.approx(0.2) and mean[1] == pytest.approx(0.8) and np.isnan(mean[2])

    # A glacier read in strips gives the same mean.
    monkeypatch.setattr("glaciermap.update.attributes.MAX_WINDOW_PIXELS", 150)
    strips = update_glaciers(outlines_path, probability, tmp_path / "b", **kwargs)
    assert strips.glaciers["mean_probability"].tolist() == pytest.approx(
        result.glaciers["mean_probability"].tolist(), nan_ok=True
    )


# --- the simulated example scene ---------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """The example region's truth (outlines of the year, an inventory of 2006 with other fronts) and a
    probability map: 0.9 on the true glaciers, 0.1 elsewhere."""
    from rasterio import features

    from glaciermap.simulate.scene import simulate_year

    root = tmp_path_factory.mktemp("scene")
    truth = simulate_year(EXAMPLE, 2016, root / "sim", seed=0, n_acquisitions=1, cross_pol=False)
    outlines = gpd.read_file(truth.truth_dir / "outlines.gpkg")
    transform = north_up_transform(EXAMPLE.aoi, EXAMPLE.pixel_size)
    mask = features.rasterize(
        [(g, 1) for g in outlines.geometry], out_shape=(600, 600), transform=transform
    )
    write_cog(
        root / "probability.tif",
        np.where(mask > 0, 0.9, 0.1).astype("float32"),
        crs=EXAMPLE.crs,
        transform=transform,
        nodata=np.nan,
    )
    return root


def _year_one(scene: Path, out: Path) -> UpdateResult:
    truth = scene / "sim" / "truth"
    return update_glaciers(
        truth / "outlines.gpkg",
        scene / "probability.tif",
        out,
        region=EXAMPLE,
        year=2016,
        reference=truth / "inventory_2006.gpkg",
        dates=["2016-07-13", "2016-05-20", "2016-09-23"],
        model="unet3d",
        weights_sha256="ab" * 32,
    )


def test_first_year_takes_the_reference_ids_and_names(scene, tmp_path):
    reference = gpd.read_file(scene / "sim" / "truth" / "inventory_2006.gpkg")
    result = _year_one(scene, tmp_path / "2016")

    path = tmp_path / "2016" / GLACIERS_GPKG
    assert pyogrio.list_layers(path).tolist() == [[GLACIERS_LAYER, "MultiPolygon"]]
    written = _layer(path, GLACIERS_LAYER)
    assert tuple(written.columns) == (*glacier_column_names(), "geometry")
    assert written.crs.to_epsg() == 32633
    known = dict(zip(reference["glac_id"], reference["glac_name"], strict=True))
    # Every glacier of the year carries its reference id and name; the one the truth lacks is gone.
    assert set(written["glacier_id"]) | set(result.disappeared["glacier_id"]) == set(known)
    assert len(written) == 10 and len(result.disappeared) == 1
    for glacier_id, name in zip(written["glacier_id"], written["glac_name"], strict=True):
        assert name == known[glacier_id]
    assert set(written["status"]) <= set(STATUSES) - {"new", "split", "disappeared"}
    assert (written["status"] != "unchanged").sum() >= 5  # the 2006 fronts differ
    retreated = written.loc[written["status"] == "retreated"]
    assert (retreated["front_shift_m"] < -30).all() and (retreated["change_km2"] < 0).all()
    assert written["mean_probability"].to_numpy() == pytest.approx(0.9, abs=1e-6)
    assert (written["first_date"].unique().tolist(), written["last_date"].unique().tolist()) == (
        ["2016-05-20"],
        ["2016-09-23"],
    )
    assert set(written["n_acquisitions"]) == {3} and set(written["year"]) == {2016}
    assert set(written["model"]) == {"unet3d"} and set(written["weights_sha256"]) == {"ab" * 32}
    assert (
        written["cenlon"].between(11.7, 12.1).all() and written["cenlat"].between(78.8, 78.9).all()
    )
    assert written["area_km2"].to_numpy() == pytest.approx(written.geometry.area / 1e6)
    assert written["perimeter_km"].to_numpy() == pytest.approx(written.geometry.length / 1e3)


def test_second_year_keeps_ids_and_reports_changes_against_the_first(scene, tmp_path):
    truth = scene / "sim" / "truth"
    first = _year_one(scene, tmp_path / "2016")
    # 2017: the same ice, except that the largest glacier lost its lowest 300 m.
    outlines = gpd.read_file(truth / "outlines.gpkg")
    largest = outlines.geometry.area.idxmax()
    minx, miny, maxx, _ = outlines.geometry[largest].bounds
    outlines.loc[largest, "geometry"] = outlines.geometry[largest].difference(
        shapely.box(minx, miny, maxx, miny + 300)
    )
    write_gpkg(tmp_path / "outlines-2017.gpkg", {"glaciers": outlines})
    second = update_glaciers(
        tmp_path / "outlines-2017.gpkg",
        scene / "probability.tif",
        tmp_path / "2017",
        region=EXAMPLE,
        year=2017,
        previous=first.path,
        reference=truth / "inventory_2006.gpkg",
    )
    assert second.against == "previous"
    assert sorted(second.glaciers["glacier_id"]) == sorted(first.glaciers["glacier_id"])
    rows = _rows(second)
    shrunk = first.glaciers.set_index("glacier_id").geometry.area.idxmax()
    assert rows[shrunk]["status"] == "retreated"
    assert rows[shrunk]["front_shift_m"] < -100 and rows[shrunk]["change_km2"] < -0.1
    others = [row for glacier_id, row in rows.items() if glacier_id != shrunk]
    assert {row["status"] for row in others} == {"unchanged"}
    assert all(abs(row["change_km2"]) < 1e-6 for row in others)

    changes = write_changes(
        tmp_path / "2017",
        region=EXAMPLE,
        previous=first.path,
        reference=truth / "inventory_2006.gpkg",
    )
    assert [name for name, _ in pyogrio.list_layers(changes)] == list(CHANGE_LAYERS)
    for layer in CHANGE_LAYERS:
        frame = _layer(changes, layer)
        assert tuple(frame.columns) == (*change_column_names(), "geometry"), layer
    fronts = _layer(changes, "fronts")
    against_previous = fronts.loc[fronts["against"] == "previous"]
    assert against_previous[["glacier_id", "kind"]].values.tolist() == [[shrunk, "retreat"]]
    assert against_previous["shift_m"].iloc[0] == pytest.approx(-rows[shrunk]["front_shift_m"])
    assert (fronts["against"] == "reference").sum() >= 5
    gone = _layer(changes, "disappeared")
    assert gone["against"].tolist() == ["reference"]  # gone since 2006, not since 2016
    lost = _layer(changes, "lost")
    assert set(lost["kind"]) == {"lost"} and set(_layer(changes, "gained")["kind"]) <= {"gained"}

    summary = write_summary(
        tmp_path / "2017",
        region="example",
        year=2017,
        previous_year=2016,
        reference=truth / "inventory_2006.gpkg",
        provenance={"weights": "unet3d"},
    )
    assert tuple(summary) == SUMMARY_KEYS
    assert json.loads((tmp_path / "2017" / SUMMARY_JSON).read_text()) == summary
    totals = summary["totals"]
    assert summary["changed"] is True
    assert (totals["retreated"], totals["unchanged"], totals["fronts"]) == (1, 9, 1)
    assert totals["disappeared"] == 0
    assert totals["change_km2"] == pytest.approx(rows[shrunk]["change_km2"], abs=1e-6)
    assert summary["largest_changes"][0]["glacier_id"] == shrunk
    assert summary["reference"] == "inventory_2006.gpkg" and summary["previous_year"] == 2016
    assert summary["provenance"] == {"weights": "unet3d"}
    assert {f["against"] for f in summary["fronts"]} == {"previous", "reference"}
    assert summary["fronts"][0]["against"] == "previous"
    assert summary["outputs"] == [GLACIERS_GPKG, CHANGES_GPKG, SUMMARY_JSON]


def test_an_unchanged_year_is_not_changed(scene, tmp_path):
    first = _year_one(scene, tmp_path / "2016")
    update_glaciers(
        scene / "sim" / "truth" / "outlines.gpkg",
        scene / "probability.tif",
        tmp_path / "2017",
        region=EXAMPLE,
        year=2017,
        previous=first.path,
    )
    write_changes(tmp_path / "2017", region=EXAMPLE, previous=first.path)
    summary = write_summary(
        tmp_path / "2017", region="example", year=2017, previous_year=2016, provenance={}
    )
    assert summary["changed"] is False
    assert summary["totals"]["unchanged"] == summary["totals"]["glaciers"] == 10
    assert summary["totals"]["change_km2"] == pytest.approx(0.0, abs=1e-6)
    assert summary["fronts"] == []


def test_summary_lists_the_largest_changes_and_the_least_confident(tmp_path):
    previous = _write(
        tmp_path / "previous.gpkg",
        [_box(0, 0, 1000, 1000), _box(1500, 0, 2000, 500), _box(3000, 0, 3200, 200)],
        ["A", "B", "C"],
    )
    outlines = [_box(0, 0, 1000, 700), _box(1500, 0, 2000, 450), _box(4000, 0, 4400, 400)]
    bounds = (X0, Y0, X0 + 5000, Y0 + 1000)
    values = np.full((100, 500), 0.95, dtype="float32")
    values[:, 150:250] = 0.55  # B's column
    probability = tmp_path / "p.tif"
    write_cog(probability, values, crs=UTM33, transform=north_up_transform(bounds, 10.0))
    update_glaciers(
        _write(tmp_path / "o.gpkg", outlines),
        probability,
        tmp_path / "y",
        region=EXAMPLE,
        year=2017,
        previous=previous,
    )
    write_changes(tmp_path / "y", region=EXAMPLE, previous=previous)
    summary = write_summary(
        tmp_path / "y", region="example", year=2017, previous_year=2016, provenance={}
    )
    largest = [(r["glacier_id"], round(r["change_km2"], 3)) for r in summary["largest_changes"]]
    assert largest == [("A", -0.3), ("EXMP-2017-0001", 0.16), ("B", -0.025)]
    assert summary["least_confident"][0]["glacier_id"] == "B"
    assert set(summary["largest_changes"][0]) == set(glacier_column_names())
    totals = summary["totals"]
    # Per-glacier changes add up with the disappeared glacier's loss to the region's change.
    assert totals["change_km2"] == pytest.approx(-0.3 - 0.025 + 0.16 - 0.04)
    assert totals["area_km2"] == pytest.approx(0.7 + 0.225 + 0.16)
    assert totals["change_pct"] == pytest.approx(100 * totals["change_km2"] / 1.29)
    assert (totals["disappeared"], totals["new"], totals["retreated"]) == (1, 1, 2)  # B: 50 m


# --- bad input ---------------------------------------------------------------------------------


def _one_line_input_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_bad_inputs_are_one_line(tmp_path):
    outlines = _write(tmp_path / "o.gpkg", [_box(0, 0, 1000, 1000)])
    kwargs = {"region": EXAMPLE, "year": 2017}
    with pytest.raises(InputError) as missing:
        update_glaciers(tmp_path / "nope.gpkg", None, tmp_path / "y", **kwargs)
    assert "nope.gpkg does not exist" in _one_line_input_error(missing)

    broken = tmp_path / "broken.gpkg"
    broken.write_text("not a geopackage")
    with pytest.raises(InputError) as unreadable:
        update_glaciers(outlines, None, tmp_path / "y", reference=broken, **kwargs)
    assert "broken.gpkg" in _one_line_input_error(unreadable)

    elsewhere = gpd.GeoDataFrame(
        {"glacier_id": ["far"]},
        geometry=[shapely.box(600_000, 8_900_000, 601_000, 8_901_000)],
        crs=UTM33,
    )
    write_gpkg(tmp_path / "far.gpkg", {"glaciers": elsewhere})
    with pytest.raises(InputError) as outside:
        update_glaciers(outlines, None, tmp_path / "y", reference=tmp_path / "far.gpkg", **kwargs)
    assert "no glacier inside region 'example'" in _one_line_input_error(outside)

    with pytest.raises(InputError) as probability:
        update_glaciers(outlines, tmp_path / "p.tif", tmp_path / "y", **kwargs)
    assert "p.tif not found" in _one_line_input_error(probability)

    not_ours = _write(tmp_path / "vectorized.gpkg", [_box(0, 0, 10, 10)])
    with pytest.raises(InputError) as previous:
        update_glaciers(outlines, None, tmp_path / "y", previous=not_ours, **kwargs)
    assert "not a glaciermap inventory" in _one_line_input_error(previous)
    assert not (tmp_path / "y" / GLACIERS_GPKG).exists()

    with pytest.raises(InputError) as no_year:
        write_changes(tmp_path / "empty", region=EXAMPLE)
    assert "run the inventory update first" in _one_line_input_error(no_year)


def test_a_large_reference_is_cut_to_the_region(tmp_path):
    """A glacier of the reference outside the region is neither matched nor 'disappeared'."""
    far = shapely.box(600_000, 8_900_000, 601_000, 8_901_000)
    reference = _write(tmp_path / "rgi.gpkg", [_box(0, 0, 1000, 1000), far], ["IN", "OUT"])
    result = _update(tmp_path, "y", [_box(0, 0, 1000, 1000)], reference=reference)
    assert result.glaciers["glacier_id"].tolist() == ["IN"]
    assert len(result.disappeared) == 0


# --- real outlines across years ------------------------------------------------------------------


def test_npi_outlines_keep_their_ids_across_real_years(shared_data, tmp_path):
    """NPI 1936 as the reference, 1990 and 2007 as two years: names survive, one real split."""
    npi = shared_data / "svalbard_npi" / "derived"
    svalbard = BUILTIN_REGIONS["svalbard"]
    names = set(gpd.read_file(npi / "svalbard_1936.gpkg")["name"])
    first = update_glaciers(
        npi / "svalbard_1990.gpkg",
        None,
        tmp_path / "1990",
        region=svalbard,
        year=1990,
        reference=npi / "svalbard_1936.gpkg",
    )
    rows = _rows(first)
    kept = {glacier_id for glacier_id, row in rows.items() if row["status"] != "split"}
    assert kept == names
    assert all(rows[name]["glac_name"] == name for name in names)
    assert {row["status"] for name, row in rows.items() if name in names} == {"retreated"}
    # Between 1936 and 1990 a 0.28 km² part broke off Midtre Lovenbreen; the tributary that was
    # already apart in 1936 stays with it.
    splits = [row for row in rows.values() if row["status"] == "split"]
    assert [(r["glacier_id"], r["parent_id"]) for r in splits] == [
        ("SVAL-1990-0001", "Midtre Lovenbreen")
    ]
    assert splits[0]["area_km2"] == pytest.approx(0.278, abs=0.001)
    midtre = first.glaciers.set_index("glacier_id").geometry["Midtre Lovenbreen"]
    assert len(shapely.get_parts(midtre)) == 2

    second = update_glaciers(
        npi / "svalbard_2007.gpkg",
        None,
        tmp_path / "2007",
        region=svalbard,
        year=2007,
        previous=first.path,
        reference=npi / "svalbard_1936.gpkg",
    )
    assert sorted(second.glaciers["glacier_id"]) == sorted(rows)
    assert not set(second.glaciers["status"]) & {"new", "split"}
    assert len(second.disappeared) == 0
    later = _rows(second)
    assert all(later[g]["area_km2"] <= rows[g]["area_km2"] + 1e-9 for g in rows)
    # A split is said once, the year it happens; the part keeps naming its parent.
    assert later["SVAL-1990-0001"]["status"] != "split"
    assert later["SVAL-1990-0001"]["parent_id"] == "Midtre Lovenbreen"


def test_the_update_uses_a_region_crs_other_than_the_inputs(tmp_path):
    """Outlines in WGS 84 are measured in the region's metric CRS."""
    region = Region(
        name="t", crs=UTM33, origin=(0.0, 0.0), tile_size=1000.0, pixel_size=10.0, prefix="T",
        aoi=(X0 - 1000, Y0 - 1000, X0 + 5000, Y0 + 5000),
    )  # fmt: skip
    wgs84 = gpd.GeoDataFrame({"id": [1]}, geometry=[_box(0, 0, 1000, 1000)], crs=UTM33).to_crs(
        "EPSG:4326"
    )
    write_gpkg(tmp_path / "o.gpkg", {"o": wgs84})
    result = update_glaciers(tmp_path / "o.gpkg", None, tmp_path / "y", region=region, year=2020)
    assert result.glaciers.crs.to_epsg() == 32633
    assert result.glaciers["glacier_id"].tolist() == ["T-2020-0001"]
    assert result.glaciers["area_km2"].iloc[0] == pytest.approx(1.0, rel=1e-6)


def test_an_empty_outline_file_is_a_year_without_glaciers(tmp_path):
    """vectorize writes an empty layer when the mask holds no glacier: every glacier disappeared."""
    import geopandas as gpd

    previous = _write(tmp_path / "previous.gpkg", [_box(0, 0, 1000, 1000)], ["G1"], ["Gone"])
    empty = tmp_path / "outlines.gpkg"
    gpd.GeoDataFrame({"id": []}, geometry=[], crs=EXAMPLE.crs).to_file(empty, layer="outlines")
    result = update_glaciers(
        empty, None, tmp_path / "y", region=EXAMPLE, year=2017, previous=previous
    )
    assert len(result.glaciers) == 0 and result.disappeared["glacier_id"].tolist() == ["G1"]
