"""Tests of ``glaciermap diff``: matching, front flagging, outputs, real-data acceptance and the CLI."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from glaciermap.diff import (
    DEFAULT_MIN_FRONT_AREA_KM2,
    DEFAULT_MIN_FRONT_SHIFT_M,
    LAYERS,
    STATUSES,
    DiffResult,
    choose_metric_crs,
    diff_files,
    diff_inventories,
    flag_front_changes,
    write_diff,
)
from glaciermap.errors import InputError
from glaciermap.io.inventory import read_inventory

UTM33 = "EPSG:32633"
X0, Y0 = 430_000.0, 8_750_000.0  # near Ny-Ålesund, inside the svalbard region


def _box(minx: float, miny: float, maxx: float, maxy: float) -> shapely.Polygon:
    return shapely.box(X0 + minx, Y0 + miny, X0 + maxx, Y0 + maxy)


def _frame(ids: list[str], geoms: list, names: list[str | None] | None = None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"glacier_id": ids, "glacier_name": names or [None] * len(ids)}, geometry=geoms, crs=UTM33
    )


def _row(result: DiffResult, glacier_id: str) -> dict:
    rows = result.glaciers.loc[result.glaciers["glacier_id"] == glacier_id]
    assert len(rows) == 1, (
        f"{glacier_id} not found once in {result.glaciers['glacier_id'].tolist()}"
    )
    return rows.iloc[0].to_dict()


# --- matching on synthetic glaciers ---------------------------------------------------------------


def test_merged_complex_is_split_along_reference_divides() -> None:
    """NEW = two adjacent reference glaciers merged, one advance below both, one retreat on R2."""
    r1, r2 = _box(0, 0, 1000, 1000), _box(1000, 0, 2000, 1000)
    reference = _frame(["R1", "R2"], [r1, r2], ["West", "East"])
    # The advance spans 1000 m of R1's snout and 200 m of R2's: it is R1's.
    advance = _box(0, -200, 1200, 0)
    retreat = _box(1800, 800, 2000, 1000)
    merged = shapely.difference(shapely.union_all([r1, r2, advance]), retreat)
    new = _frame(["complex"], [merged])

    result = diff_inventories(new, reference)

    west, east = _row(result, "R1"), _row(result, "R2")
    assert west["area_ref_km2"] == pytest.approx(1.0)
    assert west["area_new_km2"] == pytest.approx(1.0 + 0.24)
    assert west["status"] == "advanced"
    assert (west["n_advance_fronts"], west["n_retreat_fronts"]) == (1, 0)
    assert east["area_new_km2"] == pytest.approx(1.0 - 0.04)
    assert east["status"] == "retreated"
    assert (east["n_advance_fronts"], east["n_retreat_fronts"]) == (0, 1)
    assert len(result.glaciers) == 2  # nothing left over as a 'new' glacier

    fronts = result.fronts.set_index("kind")
    assert fronts.loc["advance", "glacier_id"] == "R1"
    assert fronts.loc["advance", "glacier_name"] == "West"
    assert fronts.loc["advance", "area_km2"] == pytest.approx(0.24)
    assert fronts.loc["advance", "max_shift_m"] == pytest.approx(200, abs=2)
    assert fronts.loc["retreat", "glacier_id"] == "R2"
    assert fronts.loc["retreat", "max_shift_m"] == pytest.approx(200, abs=2)
    assert result.summary["totals"]["area_new_km2"] == pytest.approx(2.2)


def test_ice_beyond_the_margin_goes_to_the_glacier_it_borders_most() -> None:
    r1, r2 = _box(0, 0, 1000, 1000), _box(1000, 0, 2000, 1000)
    reference = _frame(["R1", "R2"], [r1, r2])
    # Mostly below R2 this time (800 m of contact vs 400 m).
    advance = _box(600, -300, 1800, 0)
    new = _frame(["a", "b"], [shapely.union_all([r1, advance]), r2])
    result = diff_inventories(new, reference)
    assert _row(result, "R2")["area_new_km2"] == pytest.approx(1.0 + 0.36)
    assert _row(result, "R1")["status"] == "unchanged"
    assert _row(result, "R2")["status"] == "advanced"


def test_digitising_slivers_are_not_fronts() -> None:
    """A 5 km long margin redrawn 8 m further in: 0.04 km² lost, but no front moved 30 m."""
    reference = _frame(["G"], [_box(0, 0, 5000, 1000)])
    new = _frame(["G"], [_box(0, 8, 5000, 1000)])
    result = diff_inventories(new, reference)
    row = _row(result, "G")
    assert row["lost_km2"] == pytest.approx(0.04)
    assert row["status"] == "unchanged"
    assert len(result.fronts) == 0
    assert result.lost["max_shift_m"].iloc[0] == pytest.approx(8, abs=1.5)
    assert not result.lost["front"].any()


def test_thresholds_decide_what_is_flagged() -> None:
    reference = _frame(["G"], [_box(0, 0, 1000, 1000)])
    new = _frame(["G"], [_box(0, 100, 1000, 1000)])  # 0.1 km² lost, 100 m retreat
    assert diff_inventories(new, reference).glaciers["status"].tolist() == ["retreated"]
    too_small = diff_inventories(new, reference, min_front_area_km2=0.2)
    assert too_small.glaciers["status"].tolist() == ["unchanged"]
    too_short = diff_inventories(new, reference, min_front_shift_m=150)
    assert too_short.glaciers["status"].tolist() == ["unchanged"]
    with pytest.raises(InputError, match="must not be negative"):
        diff_inventories(new, reference, min_front_shift_m=-1)


def test_flag_front_changes_measures_patches() -> None:
    lost = np.array([shapely.box(0, 0, 400, 100), shapely.Polygon()], dtype=object)
    gained = np.array([shapely.Polygon(), shapely.box(0, 0, 50, 2000)], dtype=object)
    patches = flag_front_changes(lost, gained, min_front_area_km2=0.01, min_front_shift_m=60)
    assert patches["glacier"].tolist() == [0, 1]
    assert patches["kind"].tolist() == ["retreat", "advance"]
    assert patches["area_km2"].tolist() == pytest.approx([0.04, 0.1])
    assert patches["max_shift_m"].tolist() == pytest.approx([100, 50], abs=1.5)
    assert patches["front"].tolist() == [True, False]


def test_disappeared_mixed_and_new_glaciers() -> None:
    reference = _frame(
        ["gone", "both", "same"],
        [_box(0, 0, 500, 500), _box(2000, 0, 3000, 1000), _box(5000, 0, 6000, 1000)],
        ["Gone", "Both", "Same"],
    )
    both = shapely.union_all([_box(2000, 200, 3000, 1000), _box(2400, 1000, 2600, 1200)])
    new = _frame(
        ["both", "same", "fresh"],
        [both, _box(5000, 0, 6000, 1000), _box(9000, 0, 9300, 300)],
        ["Both", "Same", "Fresh"],
    )
    result = diff_inventories(new, reference)
    status = dict(zip(result.glaciers["glacier_id"], result.glaciers["status"], strict=True))
    assert status == {"gone": "disappeared", "both": "mixed", "same": "unchanged", "fresh": "new"}
    assert set(result.glaciers["status"]) <= set(STATUSES)
    fresh = _row(result, "fresh")
    assert fresh["glacier_name"] == "Fresh"
    assert fresh["area_ref_km2"] == 0 and fresh["area_new_km2"] == pytest.approx(0.09)
    assert np.isnan(fresh["change_pct"])
    # reference rows carry the reference outline, new rows the new outline
    assert fresh["geometry"].equals(_box(9000, 0, 9300, 300))
    assert _row(result, "both")["geometry"].equals(_box(2000, 0, 3000, 1000))
    assert _row(result, "gone")["area_new_km2"] == 0
    summary = result.summary
    assert summary["status_counts"] == {"unchanged": 1, "mixed": 1, "disappeared": 1}
    assert summary["totals"]["new_glaciers"] == 1
    assert summary["totals"]["area_new_glaciers_km2"] == pytest.approx(0.09)
    json.dumps(summary)  # JSON-safe: no NaN, no numpy scalars
    assert "NaN" not in json.dumps(summary)


def test_new_glacier_ids_stay_unique() -> None:
    reference = _frame(["R"], [_box(0, 0, 1000, 1000)])
    two_islands = shapely.union_all([_box(5000, 0, 5100, 100), _box(8000, 0, 8100, 100)])
    new = _frame(["R", "N1", "N2"], [_box(0, 0, 1000, 1000), two_islands, _box(9000, 0, 9100, 100)])
    result = diff_inventories(new, reference)
    fresh = result.glaciers.loc[result.glaciers["status"] == "new", "glacier_id"]
    assert sorted(fresh) == ["N1#1", "N1#2", "N2"]


def test_overlapping_reference_outlines_warn_once(caplog, monkeypatch) -> None:
    """The annual run matches one reference in update and again in diff: one warning, not two."""
    import glaciermap.diff

    monkeypatch.setattr(glaciermap.diff, "_OVERLAPS_WARNED", set())  # other tests' warnings
    reference = _frame(["A", "B"], [_box(0, 0, 1000, 1000), _box(900, 0, 2000, 1000)])
    new = reference.copy()
    with caplog.at_level(logging.WARNING, logger="glaciermap"):
        diff_inventories(new, reference)
        diff_inventories(new, reference)
    warned = [r for r in caplog.records if "pairs of outlines overlap" in r.getMessage()]
    assert len(warned) == 1 and "1 pairs" in warned[0].getMessage()


def test_inventories_that_do_not_overlap_warn(caplog) -> None:
    reference = _frame(["A", "B"], [_box(0, 0, 1000, 1000), _box(2000, 0, 3000, 1000)])
    new = reference.copy()
    new["geometry"] = new.translate(100_000, 0)
    with caplog.at_level(logging.WARNING, logger="glaciermap"):
        result = diff_inventories(new, reference)
    assert "do not overlap" in caplog.text
    statuses = result.glaciers.set_index("glacier_id")["status"]
    assert (result.glaciers["status"] == "disappeared").sum() == 2
    assert (result.glaciers["status"] == "new").sum() == 2
    assert statuses.loc["A"].tolist() == ["disappeared", "new"]


def test_inputs_in_different_crs_are_reprojected() -> None:
    r1, r2 = _box(0, 0, 1000, 1000), _box(1000, 0, 2000, 1000)
    reference = _frame(["R1", "R2"], [r1, r2])
    new = _frame(["N"], [shapely.union_all([r1, _box(1000, 300, 2000, 1000)])])
    same = diff_inventories(new, reference)
    mixed = diff_inventories(new.to_crs("EPSG:4326"), reference)
    assert mixed.crs.to_epsg() == 32633
    assert mixed.glaciers["area_new_km2"].to_numpy() == pytest.approx(
        same.glaciers["area_new_km2"].to_numpy(), rel=1e-5
    )
    assert mixed.glaciers["status"].tolist() == same.glaciers["status"].tolist()


def test_choose_metric_crs() -> None:
    reference = _frame(["A"], [_box(0, 0, 10, 10)])
    assert choose_metric_crs(reference).to_epsg() == 32633
    # 11.8° E: the regular UTM zone 32 (estimate_utm_crs ignores Svalbard's zone exceptions)
    assert choose_metric_crs(reference.to_crs("EPSG:4326")).to_epsg() == 32632
    assert choose_metric_crs(reference, "EPSG:3035").to_epsg() == 3035
    with pytest.raises(InputError, match="not projected in metres"):
        choose_metric_crs(reference, "EPSG:4326")
    with pytest.raises(InputError, match="not a CRS"):
        choose_metric_crs(reference, "EPSG:nonsense")


def test_write_diff_layers_round_trip(tmp_path: Path) -> None:
    reference = _frame(["G"], [_box(0, 0, 1000, 1000)], ["Glacier"])
    new = _frame(["G"], [_box(0, 100, 1000, 1100)])
    result = diff_inventories(new, reference)
    path = write_diff(result, tmp_path / "diff.gpkg")
    assert [name for name, _ in pyogrio.list_layers(path)] == list(LAYERS)
    glaciers = gpd.read_file(path, layer="glaciers")
    assert glaciers.crs.to_epsg() == 32633
    assert glaciers[["glacier_id", "glacier_name", "status"]].values.tolist() == [
        ["G", "Glacier", "mixed"]
    ]
    fronts = gpd.read_file(path, layer="fronts")
    assert sorted(fronts["kind"]) == ["advance", "retreat"]
    assert set(fronts.columns) >= {"glacier_id", "glacier_name", "kind", "area_km2", "max_shift_m"}
    assert read_inventory(path, layer="glaciers").frame["glacier_id"].tolist() == ["G"]
    with pytest.raises(InputError, match="already exists"):
        write_diff(result, path, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diff.gpkg"]


def test_empty_fronts_layer_is_written(tmp_path: Path) -> None:
    same = _frame(["G"], [_box(0, 0, 1000, 1000)])
    path = write_diff(diff_inventories(same, same), tmp_path / "same.gpkg")
    assert len(gpd.read_file(path, layer="fronts")) == 0
    assert len(gpd.read_file(path, layer="gained")) == 0


def test_plot_writes_a_png(tmp_path: Path) -> None:
    from glaciermap.diff_plot import plot_diff

    reference = _frame(["A", "B"], [_box(0, 0, 1000, 1000), _box(0, 2000, 800, 2600)], ["Aa", None])
    new = _frame(["A", "B"], [_box(0, 150, 1000, 1000), _box(0, 2000, 800, 2900)])
    result = diff_inventories(new, reference)
    png = plot_diff(result, tmp_path / "map.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]
    with pytest.raises(InputError, match="already exists"):
        plot_diff(result, png, overwrite=False)


# --- acceptance on real data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def npi(shared_data: Path) -> tuple[DiffResult, Path, Path]:
    folder = shared_data / "svalbard_npi" / "derived"
    new, reference = folder / "svalbard_2007.gpkg", folder / "svalbard_1990.gpkg"
    return diff_files(new, reference), new, reference


def test_npi_1990_to_2007_every_glacier_retreats(npi) -> None:
    result, _, _ = npi
    rows = result.glaciers.set_index("glacier_name")
    assert len(rows) == 5
    assert (rows["n_retreat_fronts"] >= 1).all()
    no_gain = ["Austre Brøggerbreen", "Austre Lovenbreen", "Edithbreen", "Steenbreen"]
    assert (rows.loc[no_gain, "n_advance_fronts"] == 0).all()
    assert (rows.loc[no_gain, "status"] == "retreated").all()
    assert (rows["area_new_km2"] < rows["area_ref_km2"]).all()
    # Midtre Lovenbreen's 2007 outline gains two patches of about 0.015 km²
    midtre = result.gained.loc[
        (result.gained["glacier_name"] == "Midtre Lovenbreen") & (result.gained["area_km2"] > 0.01)
    ]
    assert len(midtre) == 2
    assert midtre["area_km2"].to_numpy() == pytest.approx([0.015, 0.015], abs=0.003)
    assert rows.loc["Midtre Lovenbreen", "status"] in {"retreated", "mixed"}
    assert result.summary["crs"] == "EPSG:32633"


def test_npi_areas_match_geopandas(npi) -> None:
    result, new_path, reference_path = npi
    rows = result.glaciers.set_index("glacier_name")
    for path, column in ((reference_path, "area_ref_km2"), (new_path, "area_new_km2")):
        direct = gpd.read_file(path).to_crs(UTM33).set_index("name").area / 1e6
        ours = rows.loc[direct.index, column]
        assert ours.to_numpy() == pytest.approx(direct.to_numpy(), rel=1e-3)


def test_hintereisferner_rgi6_vs_rgi7_is_unchanged(shared_data: Path) -> None:
    folder = shared_data / "rgi_samples" / "hintereisferner"
    result = diff_files(folder / "rgi7g_hef.shp", folder / "Hintereisferner_RGI6.shp")
    assert len(result.fronts) == 0
    assert result.glaciers["status"].tolist() == ["unchanged"]
    assert result.glaciers["glacier_id"].tolist() == ["RGI60-11.00897"]
    assert result.crs.to_epsg() == 32632  # estimated UTM zone of the EPSG:4326 input


@pytest.mark.parametrize("year", ["2015", "2005"])
def test_glacier_national_park_in_a_metric_crs(shared_data: Path, year: str) -> None:
    folder = shared_data / "glacier_np_usgs"
    new_path, reference_path = folder / f"glaciers-{year}.json", folder / "glaciers-1966.json"
    result = diff_files(new_path, reference_path)

    reference = gpd.read_file(reference_path)
    utm = reference.estimate_utm_crs()
    assert result.crs == utm
    rows = result.glaciers.set_index("glacier_id")
    assert len(rows) == 39 and (rows["status"] != "new").all()
    direct_ref = reference.to_crs(utm).set_index("GLACNAME").area / 1e6
    assert rows.loc[direct_ref.index, "area_ref_km2"].to_numpy() == pytest.approx(
        direct_ref.to_numpy(), rel=1e-6
    )
    # 2005 holds one self-intersecting polygon, repaired on reading.
    new = read_inventory(new_path, crs=utm).frame.set_index("glacier_id")
    assert rows.loc[new.index, "area_new_km2"].to_numpy() == pytest.approx(
        (new.area / 1e6).to_numpy(), rel=2e-3
    )
    # every bit of new ice is attributed exactly once
    assert rows["area_new_km2"].sum() == pytest.approx(new.union_all().area / 1e6, rel=1e-6)
    assert (rows["status"] == "retreated").sum() > 30


def test_dissolved_ice_cap_gives_every_outlet_its_own_area(shared_data: Path) -> None:
    """Oracle: NEW = the 61 Icelandic ice-cap outlets dissolved into one polygon, REFERENCE = the outlets."""
    reference = read_inventory(shared_data / "rgi_samples/iceland_icecap/RGI6_icecap.shp")
    cap = gpd.GeoDataFrame(
        {"glacier_id": ["cap"]}, geometry=[reference.frame.union_all()], crs=reference.crs
    )
    result = diff_inventories(cap, reference)
    assert len(result.glaciers) == 61
    assert (result.glaciers["status"] == "unchanged").all()
    assert result.glaciers["area_new_km2"].to_numpy() == pytest.approx(
        result.glaciers["area_ref_km2"].to_numpy(), rel=1e-6
    )


def test_oetztal_rgi7_complex_against_rgi5(shared_data: Path) -> None:
    folder = shared_data / "rgi_samples" / "oetztal"
    result = diff_files(folder / "rgi7g_hef_complex.shp", folder / "rgi_oetztal.shp")
    rows = result.glaciers.set_index("glacier_id")
    reference = rows.loc[rows["status"] != "new"]
    assert len(reference) == 20
    assert (reference["area_new_km2"] > 0).sum() >= 10
    # the outlines both inventories share come back unchanged (RGI 5 and RGI 7 use the 2003 outlines)
    hef = rows.loc["RGI50-11.00897"]
    assert hef["glacier_name"] == "Hintereisferner"
    assert hef["status"] == "unchanged"
    assert hef["area_new_km2"] == pytest.approx(hef["area_ref_km2"], rel=1e-3)
    new = read_inventory(folder / "rgi7g_hef_complex.shp", crs=result.crs).frame
    total_new = rows["area_new_km2"].sum()
    assert total_new == pytest.approx(new.union_all().area / 1e6, rel=1e-4)


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def npi_paths(shared_data: Path) -> tuple[Path, Path]:
    folder = shared_data / "svalbard_npi" / "derived"
    return folder / "svalbard_2007.gpkg", folder / "svalbard_1990.gpkg"


def test_cli_prints_table_and_writes_gpkg(run_cli, npi_paths, tmp_path: Path) -> None:
    out = tmp_path / "diff.gpkg"
    result = run_cli("diff", *npi_paths, "-o", out)
    assert result.exit_code == 0, result.stderr
    for name in ("Austre Brøggerbreen", "Midtre Lovenbreen", "Steenbreen", "retreated"):
        assert name in result.stdout
    assert "5 glaciers: 4 retreated, 1 mixed · 26.23 → 24.93 km²" in result.stdout
    assert "fronts flagged" in result.stdout
    assert [name for name, _ in pyogrio.list_layers(out)] == list(LAYERS)


def test_cli_json_is_pure_json(run_cli, npi_paths, tmp_path: Path) -> None:
    result = run_cli("diff", *npi_paths, "-o", tmp_path / "d.gpkg", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["totals"]["glaciers"] == 5
    assert summary["crs"] == "EPSG:32633"
    assert len(summary["per_glacier"]) == 5
    assert "glacier outlines" in result.stderr  # logs went to stderr


def test_cli_plot(run_cli, npi_paths, tmp_path: Path) -> None:
    png = tmp_path / "diff.png"
    result = run_cli("diff", *npi_paths, "-o", tmp_path / "d.gpkg", "--plot", png)
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_region_sets_the_crs(run_cli, npi_paths, tmp_path: Path) -> None:
    config = tmp_path / "glaciermap.toml"
    config.write_text("")
    args = ("--config", config, "diff", *npi_paths, "-o", tmp_path / "d.gpkg", "--json")
    result = run_cli(*args, "--region", "svalbard")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["crs"] == "EPSG:32633"
    unknown = run_cli(*args, "--overwrite", "--region", "atlantis")
    assert unknown.exit_code == 2
    assert "unknown region 'atlantis'" in unknown.stderr


def test_cli_crs_option(run_cli, npi_paths, tmp_path: Path) -> None:
    result = run_cli("diff", *npi_paths, "-o", tmp_path / "d.gpkg", "--json", "--crs", "EPSG:3035")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["crs"] == "EPSG:3035"


def _bad_inputs(tmp_path: Path, npi_paths: tuple[Path, Path]) -> dict[str, tuple[Path, Path, str]]:
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([], crs=UTM33)).to_file(
        empty, layer="outlines", geometry_type="Polygon"
    )
    no_crs = tmp_path / "nocrs.shp"
    frame = gpd.read_file(npi_paths[0])
    frame.set_crs(None, allow_override=True).to_file(no_crs)
    return {
        "missing": (tmp_path / "missing.gpkg", npi_paths[1], "does not exist"),
        "empty": (npi_paths[0], empty, "has no features"),
        "no_crs": (no_crs, npi_paths[1], "has no CRS"),
    }


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.parametrize("case", ["missing", "empty", "no_crs"])
def test_cli_bad_input_exits_2_with_one_line(run_cli, npi_paths, tmp_path: Path, case: str) -> None:
    new, reference, message = _bad_inputs(tmp_path, npi_paths)[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "diff.gpkg"
    result = run_cli("--quiet", "diff", new, reference, "-o", out, "--plot", out_dir / "d.png")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and message in lines[0]
    assert result.stdout == ""
    assert list(out_dir.iterdir()) == []


def test_cli_keeps_existing_output_without_overwrite(run_cli, npi_paths, tmp_path: Path) -> None:
    out = tmp_path / "diff.gpkg"
    out.write_text("precious")
    result = run_cli("diff", *npi_paths, "-o", out)
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert out.read_text() == "precious"
    assert run_cli("diff", *npi_paths, "-o", out, "--overwrite").exit_code == 0
    assert [name for name, _ in pyogrio.list_layers(out)] == list(LAYERS)


def test_cli_checks_outputs_before_working(run_cli, npi_paths, tmp_path: Path) -> None:
    result = run_cli("diff", *npi_paths, "-o", tmp_path / "no" / "such" / "folder.gpkg")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "glacier outlines" not in result.stderr  # nothing was read
    both = run_cli("diff", *npi_paths, "-o", tmp_path / "d.gpkg", "--crs", "EPSG:32633", "-r", "x")
    assert both.exit_code == 2
    assert "give only one" in both.stderr


def test_cli_defaults_match_the_library() -> None:
    from glaciermap.cli import diff as diff_cli

    parameters = inspect.signature(diff_cli.diff).parameters
    assert parameters["min_front_area"].default == DEFAULT_MIN_FRONT_AREA_KM2
    assert parameters["min_front_shift"].default == DEFAULT_MIN_FRONT_SHIFT_M
    assert parameters["output"].default is None  # nothing written unless asked


def test_cli_module_imports_no_heavy_library() -> None:
    code = (
        "import sys, glaciermap.cli.diff; "
        "heavy = {'geopandas', 'shapely', 'matplotlib', 'pyogrio'} & set(sys.modules); "
        "print(sorted(heavy)); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_new_ice_at_all_means_every_reference_glacier_disappeared() -> None:
    """A year in which no glacier was mapped (an empty outline layer) is a result, not bad input."""
    ref = _frame(["A", "B"], [_box(0, 0, 1000, 1000), _box(2000, 0, 3000, 1000)])
    empty = _frame([], [])
    result = diff_inventories(empty, ref, crs="EPSG:32633")
    assert result.glaciers["status"].tolist() == ["disappeared", "disappeared"]
    assert result.summary["totals"]["area_new_km2"] == 0
    assert len(result.new_outlines) == 0


def test_new_ice_that_only_touches_a_reference_edge_gives_polygons_only() -> None:
    """An L-shaped NEW outline overlaps R1 and R2, and runs along R1's edge where its ice is R2's:
    R1's share of it is a polygon plus a line, and the line must not reach the outlines (GeoPackage
    layers of MultiPolygons)."""
    r1, r2 = _box(0, 0, 1000, 1000), _box(1000, -500, 2500, 500)
    ell = shapely.union_all([_box(500, 0, 2000, 500), _box(1000, 500, 2000, 1000)])
    result = diff_inventories(_frame(["L"], [ell]), _frame(["R1", "R2"], [r1, r2]))
    types = set(shapely.get_type_id(result.new_outlines.geometry.array))
    assert types <= {3, 6}, result.new_outlines.geometry.geom_type.tolist()
    assert _row(result, "R1")["area_new_km2"] == pytest.approx(0.25)
    assert _row(result, "R2")["area_new_km2"] == pytest.approx(1.0)
