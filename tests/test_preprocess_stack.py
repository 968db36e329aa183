"""preprocess: tile stacks, VRT, labels, splits, skip-if-done and the CLI, on a small simulated year."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from glaciermap.errors import InputError
from glaciermap.regions import BUILTIN_REGIONS

REGION = BUILTIN_REGIONS["example"]
YEAR = 2016
SLOTS = 4  # the simulator leaves one slot without acquisition: 3 slots with data


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """A simulated year of the example region (9 tiles of 2 km): products + truth/outlines.gpkg."""
    from glaciermap.simulate.scene import simulate_year

    out = tmp_path_factory.mktemp("sim") / "products"
    simulate_year(REGION, YEAR, out, seed=0, n_acquisitions=SLOTS, cross_pol=False, workers=2)
    return out


@pytest.fixture(scope="module")
def inventory(sim) -> Path:
    return sim / "truth" / "outlines.gpkg"


@pytest.fixture(scope="module")
def built(sim, inventory, tmp_path_factory):
    """One stack built with labels, shared by the read-only tests."""
    from glaciermap.preprocess.stack import build_stack

    out = tmp_path_factory.mktemp("stack")
    result = build_stack(
        REGION, sim, out / "stack", year=YEAR, inventory=inventory, n_slots=SLOTS, workers=1
    )
    return result


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------------------------------------
# Pure parts


def test_random_split_fractions_and_seed():
    from glaciermap.preprocess.split import random_split

    ids = [f"T-{i}-0" for i in range(20)]
    split = random_split(ids, seed=3)
    counts = {s: list(split.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 12, "val": 4, "test": 4}
    assert random_split(reversed(ids), seed=3) == split  # order of the input does not matter
    assert random_split(ids, seed=4) != split
    small = random_split(["a", "b", "c"])
    assert sorted(small.values()) == ["test", "train", "val"]
    with pytest.raises(InputError):
        random_split(ids, fractions=(0.5, 0.2, 0.2))


def test_channel_stats_merge_matches_numpy():
    from glaciermap.preprocess.tile import ChannelStats

    rng = np.random.default_rng(0)
    parts = [rng.normal(3, 2, size=n).astype(np.float32) for n in (10, 1000, 0, 57)]
    parts[1][:5] = np.nan
    total = ChannelStats()
    for part in parts:
        total = total.merge(ChannelStats.of(part))
    values = np.concatenate(parts).astype(np.float64)
    values = values[np.isfinite(values)]
    assert total.count == values.size
    assert total.mean == pytest.approx(values.mean(), rel=1e-9)
    assert total.std == pytest.approx(values.std(), rel=1e-9)


def test_rasterize_labels_pixel_centres_and_ignore():
    import shapely

    from glaciermap.preprocess.labels import rasterize_labels

    bounds = (0.0, 0.0, 100.0, 100.0)
    # Covers the centres of columns 0-3 (x 0-40) of every row; x 40-44 holds no centre.
    square = shapely.box(0, 0, 44, 100)
    observed = np.ones((10, 10), dtype=bool)
    observed[0, :] = False
    label = rasterize_labels([shapely.to_wkb(square)], bounds, 10.0, observed)
    assert label.dtype == np.uint8
    assert (label[0] == 255).all()
    assert (label[1:, :4] == 1).all() and (label[1:, 4:] == 0).all()


def test_vrt_xml_places_tiles():
    from glaciermap.preprocess.vrt import VrtSource, stack_vrt_xml

    text = stack_vrt_xml(
        [
            VrtSource("tiles/a.tif", (0, 0, 100, 100)),
            VrtSource("tiles/b.tif", (100, 100, 200, 200)),
        ],
        ["2016-01-01/copol_db", "2016-01-01/coherence"],
        pixel_size=10.0,
        crs_wkt="EPSG:32633",
    )
    assert 'rasterXSize="20" rasterYSize="20"' in text
    assert text.count("<VRTRasterBand") == 2 and text.count("<SimpleSource>") == 4
    assert '<DstRect xOff="0" yOff="10" xSize="10" ySize="10" />' in text  # a: south-west
    assert '<DstRect xOff="10" yOff="0" xSize="10" ySize="10" />' in text  # b: north-east
    assert "<NoDataValue>nan</NoDataValue>" in text


# ------------------------------------------------------------------------------------------------
# The built stack


def test_stack_json_and_tile_files(built):
    import rasterio

    from glaciermap import __version__

    meta = json.loads((built.stack_dir / "stack.json").read_text())
    assert meta["channels"] == ["copol_db", "coherence"]
    assert len(meta["dates"]) == SLOTS and meta["dates"] == sorted(meta["dates"])
    assert len(meta["missing_slots"]) == SLOTS - 3
    assert meta["region"] == {
        "name": "example",
        "crs": "EPSG:32633",
        "origin": [330000.0, 8400000.0],
        "tile_size": 2000.0,
        "pixel_size": 10.0,
        "prefix": "EXMP",
    }
    assert meta["glaciermap_version"] == __version__
    assert len(meta["inputs_hash"]) == 64
    assert sorted(meta["tiles"]) == sorted(t.id for t in REGION.tiles())
    norm = meta["normalisation"]
    assert norm["tiles"] == "train"
    assert -30 < norm["copol_db"]["mean"] < 5 and norm["copol_db"]["std"] > 0
    assert 0 < norm["coherence"]["mean"] < 1 and 0 < norm["coherence"]["std"] < 1

    tiles = sorted((built.stack_dir / "tiles").glob("*.tif"))
    assert [p.stem for p in tiles] == sorted(meta["tiles"])
    expected = [f"{d}/{c}" for d in meta["dates"] for c in ("copol_db", "coherence")]
    missing = meta["missing_slots"][0]
    with rasterio.open(tiles[0]) as src:
        assert src.count == SLOTS * 2
        assert list(src.descriptions) == expected
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"
        assert src.crs.to_epsg() == 32633 and src.res == (10.0, 10.0)
        data = src.read()
    assert np.isnan(data[2 * missing : 2 * missing + 2]).all()  # the missing slot: NaN bands
    copol = data[0::2]
    coherence = data[1::2]
    assert np.isfinite(copol).any() and np.isfinite(coherence).any()
    assert np.nanmin(coherence) >= 0 and np.nanmax(coherence) <= 1


def test_label_area_matches_inventory(built, inventory):
    import geopandas as gpd
    import rasterio
    import shapely

    outlines = gpd.read_file(inventory).to_crs(REGION.crs)
    checked = 0
    for tile in REGION.tiles():
        with rasterio.open(built.meta.label_path(tile.id)) as src:
            label = src.read(1)
            assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert set(np.unique(label)) <= {0, 1, 255}
        if (label == 255).any():
            continue  # not fully observed
        expected = gpd.clip(outlines, shapely.box(*tile.bounds)).area.sum()
        area = (label == 1).sum() * REGION.pixel_size**2
        assert area == pytest.approx(expected, rel=0.005, abs=REGION.pixel_size**2)
        checked += 1
    assert checked >= 3


def test_tiles_gpkg_and_splits(built):
    import geopandas as gpd

    frame = gpd.read_file(built.stack_dir / "tiles.gpkg", layer="tiles")
    assert set(frame.columns) >= {"tile_id", "split", "valid_fraction", "glacier_fraction"}
    assert sorted(frame.tile_id) == sorted(built.meta.tiles)
    assert frame.crs.to_epsg() == 32633
    assert ((frame.valid_fraction > 0) & (frame.valid_fraction <= 1)).all()
    splits = dict(zip(frame.tile_id, frame.split, strict=True))
    assert splits == built.meta.splits
    assert set(splits.values()) <= {"train", "val", "test", "none"}
    no_glacier = frame.loc[frame.glacier_fraction == 0, "tile_id"]
    assert all(splits[t] == "none" for t in no_glacier)
    with_glacier = [t for t, f in zip(frame.tile_id, frame.glacier_fraction, strict=True) if f > 0]
    from glaciermap.preprocess.split import random_split

    assert {t: splits[t] for t in with_glacier} == random_split(with_glacier, seed=0)
    for tile, geometry in zip(frame.tile_id, frame.geometry, strict=True):
        assert geometry.bounds == REGION.tile_from_id(tile).bounds


def test_vrt_is_seamless(built):
    import rasterio
    from rasterio.windows import Window, from_bounds

    meta = json.loads((built.stack_dir / "stack.json").read_text())
    with rasterio.open(built.stack_dir / "stack.vrt") as vrt:
        assert vrt.count == SLOTS * 2
        assert list(vrt.descriptions) == meta["band_descriptions"]
        assert vrt.crs.to_epsg() == 32633 and vrt.res == (10.0, 10.0)
        assert vrt.bounds == pytest.approx(REGION.grid_extent())
        # A window across the seam of four tiles.
        seam_x, seam_y = 432_000.0, 8_754_000.0
        window = from_bounds(seam_x - 300, seam_y - 300, seam_x + 300, seam_y + 300, vrt.transform)
        window = Window(*(round(v) for v in (window.col_off, window.row_off, 60, 60)))
        mosaic = vrt.read(window=window)
        assert np.isnan(vrt.nodata)
    for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1)):
        tile = REGION.tile_at(seam_x + dx, seam_y + dy)
        with rasterio.open(built.stack_dir / "tiles" / f"{tile.id}.tif") as src:
            left, right = max(tile.bounds[0], seam_x - 300), min(tile.bounds[2], seam_x + 300)
            bottom, top = max(tile.bounds[1], seam_y - 300), min(tile.bounds[3], seam_y + 300)
            part = src.read(window=from_bounds(left, bottom, right, top, src.transform))
        col = round((left - (seam_x - 300)) / 10)
        row = round(((seam_y + 300) - top) / 10)
        np.testing.assert_array_equal(
            mosaic[:, row : row + part.shape[1], col : col + part.shape[2]], part
        )


def test_min_acquisitions_error(sim, tmp_path):
    from glaciermap.preprocess.stack import build_stack

    with pytest.raises(InputError, match="min-acquisitions"):
        build_stack(REGION, sim, tmp_path / "s", year=YEAR, n_slots=SLOTS, min_acquisitions=4)
    assert not (tmp_path / "s" / "stack.json").exists()


# ------------------------------------------------------------------------------------------------
# Skip-if-done, interruption, parallel, split file


def test_rerun_skips_and_changes_nothing(sim, inventory, tmp_path):
    from glaciermap.preprocess.stack import build_stack

    kwargs = {"year": YEAR, "inventory": inventory, "n_slots": SLOTS}
    first = build_stack(REGION, sim, tmp_path / "s", **kwargs)
    assert not first.skipped
    before = _snapshot(tmp_path / "s")
    second = build_stack(REGION, sim, tmp_path / "s", **kwargs)
    assert second.skipped and second.meta.inputs_hash == first.meta.inputs_hash
    assert _snapshot(tmp_path / "s") == before
    # A changed parameter is a different stack.
    third = build_stack(REGION, sim, tmp_path / "s", **kwargs, coherence_resampling="nearest")
    assert not third.skipped and third.meta.inputs_hash != first.meta.inputs_hash
    # A tile file gone: rebuilt.
    (tmp_path / "s" / "tiles" / f"{third.meta.tiles[0]}.tif").unlink()
    assert not build_stack(
        REGION, sim, tmp_path / "s", **kwargs, coherence_resampling="nearest"
    ).skipped


def test_interrupted_run_leaves_no_partial_file(sim, inventory, tmp_path, monkeypatch):
    from glaciermap.preprocess import stack, tile

    calls = {"n": 0}
    real = tile.write_tile

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tile, "write_tile", failing)
    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        stack.build_stack(REGION, sim, out, year=YEAR, inventory=inventory, n_slots=SLOTS)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not any("partial" in p.name for p in files)
    assert not (out / "stack.json").exists() and not (out / "stack.vrt").exists()
    assert len(list((out / "tiles").glob("*.tif"))) == 2


def test_a_stopped_build_keeps_finished_tiles_unless_their_products_changed(
    sim, built, inventory, tmp_path
):
    """A stack without its stack.json (a stopped run): the rerun keeps the tiles whose tag names the
    same inputs and whose files are newer than their products, and makes the others again."""
    import os

    from glaciermap.preprocess.stack import build_stack
    from glaciermap.preprocess.tile import RESULT_TAG

    out = tmp_path / "stack"
    shutil.copytree(built.stack_dir, out)  # copy2: the files keep their times
    (out / "stack.json").unlink()
    tiles = sorted((out / "tiles").glob("*.tif"))
    (tiles[0]).unlink()  # not written yet when the run stopped
    before = {p.name: p.stat().st_mtime_ns for p in tiles[1:]}
    kwargs = {"year": YEAR, "inventory": inventory, "n_slots": SLOTS}
    result = build_stack(REGION, sim, out, **kwargs)
    assert {p.name: p.stat().st_mtime_ns for p in tiles[1:]} == before  # kept
    assert tiles[0].read_bytes() == (built.stack_dir / "tiles" / tiles[0].name).read_bytes()
    assert (
        json.loads((out / "stack.json").read_text())["normalisation"]
        == json.loads((built.stack_dir / "stack.json").read_text())["normalisation"]
    )  # the kept tiles' statistics, from their tags
    import rasterio

    with rasterio.open(tiles[1]) as src:
        assert json.loads(src.tags()[RESULT_TAG])["inputs"]

    # A product rewritten after the tiles (a new download): every tile it reaches is made again.
    (out / "stack.json").unlink()
    product = next(sim.glob("*.zip"))
    stat = product.stat()
    try:
        os.utime(product, ns=(stat.st_atime_ns, max(before.values()) + 10**9))
        build_stack(REGION, sim, out, **kwargs)
        assert all(p.stat().st_mtime_ns != before[p.name] for p in tiles[1:] if p.exists())
    finally:
        os.utime(product, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert result.meta.tiles == built.meta.tiles


def test_parallel_workers_give_the_same_stack(sim, built, tmp_path):
    import rasterio

    from glaciermap.preprocess.stack import build_stack

    result = build_stack(REGION, sim, tmp_path / "p", year=YEAR, n_slots=SLOTS, workers=2)
    assert sorted(result.meta.tiles) == sorted(built.meta.tiles)
    assert result.meta.labels_dir is None and not (tmp_path / "p" / "labels").exists()
    assert result.meta.normalisation_tiles == "all"
    assert set(result.meta.splits.values()) == {"none"}
    for tile in result.meta.tiles[:3]:
        with (
            rasterio.open(tmp_path / "p" / "tiles" / f"{tile}.tif") as a,
            rasterio.open(built.stack_dir / "tiles" / f"{tile}.tif") as b,
        ):
            np.testing.assert_array_equal(a.read(), b.read())


def test_split_from_file(sim, inventory, tmp_path):
    import geopandas as gpd
    import shapely

    from glaciermap.preprocess.stack import build_stack

    ids = [t.id for t in REGION.tiles()]
    grid = gpd.GeoDataFrame(
        {"codename": ids[:3], "subset": ["train", "val", "test"]},
        geometry=[shapely.box(*REGION.tile_from_id(t).bounds) for t in ids[:3]],
        crs=REGION.crs,
    )
    grid.to_file(tmp_path / "grid.shp")
    result = build_stack(
        REGION,
        sim,
        tmp_path / "s",
        year=YEAR,
        inventory=inventory,
        split=tmp_path / "grid.shp",
        n_slots=SLOTS,
    )
    with_glacier = {t for t in ids if result.meta.splits[t] != "none"}
    assert with_glacier <= set(ids[:3])
    for tile, subset in zip(ids[:3], ["train", "val", "test"], strict=True):
        assert result.meta.splits[tile] in (subset, "none")
    assert all(result.meta.splits[t] == "none" for t in ids[3:])


def test_real_grid_split_file(shared_data):
    from glaciermap.preprocess.split import split_from_file

    path = shared_data / "svalbard_grid" / "data_tiles_10-0km_utm33n.shp"
    splits = split_from_file(path, ["SVAL-7-33", "SVAL-7-35", "SVAL-0-0"])
    assert splits == {"SVAL-7-33": "train", "SVAL-7-35": "val", "SVAL-0-0": "none"}


# ------------------------------------------------------------------------------------------------
# CLI


def test_cli_input_dir(run_cli, sim, inventory, tmp_path):
    out = tmp_path / "cli"
    args = ["preprocess", sim, "-o", out, "--region", "example", "--year", YEAR]
    args += ["--acquisitions", SLOTS, "--inventory", inventory, "-j", "1"]
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert "9 tile(s)" in result.stdout
    assert (out / "stack.json").is_file() and len(list((out / "labels").glob("*.tif"))) == 9
    again = run_cli(*args)
    assert again.exit_code == 0 and "up to date" in again.stdout


def test_cli_workspace(run_cli, sim, tmp_path):
    from glaciermap.workspace import Workspace

    workspace = Workspace.open(tmp_path / "workspace")
    raw = workspace.raw_dir("example", YEAR)
    raw.mkdir(parents=True)
    for path in sim.glob("*.zip"):
        shutil.copy2(path, raw / path.name)
    result = run_cli(
        "preprocess", "--region", "example", "--year", YEAR, "--acquisitions", SLOTS, "-j", "1"
    )
    assert result.exit_code == 0, result.stderr
    stack_dir = workspace.stack_dir("example", YEAR)
    assert (stack_dir / "stack.json").is_file() and (stack_dir / "stack.vrt").is_file()
    catalog = workspace.catalog()
    try:
        stamp = catalog.stage_stamp("example", YEAR, "preprocess")
    finally:
        catalog.close()
    assert stamp is not None
    assert stamp.inputs_hash == json.loads((stack_dir / "stack.json").read_text())["inputs_hash"]
    assert "stacks/example/2016/stack.json" in stamp.outputs


def _error_lines(stderr: str) -> int:
    """The error is one line (info log lines about the products may come before it)."""
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: ")
    return sum(line.startswith("error") for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "2016"], "no region given"),
        (["--region", "example"], "no year given"),
        (["--region", "example", "--year", "2016"], "does not exist"),
        (["--region", "nowhere", "--year", "2016"], "unknown region"),
        (["--region", "example", "--year", "2016", "-o", "x"], "-o is only for"),
    ],
)
def test_cli_errors_are_one_line(run_cli, args, message):
    result = run_cli("preprocess", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert _error_lines(result.stderr) == 1


def test_cli_min_acquisitions_and_input_dir_errors(run_cli, sim, tmp_path):
    result = run_cli(
        "preprocess", sim, "-o", tmp_path / "o", "--region", "example", "--acquisitions", SLOTS,
        "--min-acquisitions", "4",
    )  # fmt: skip
    assert result.exit_code == 2 and "min-acquisitions" in result.stderr
    assert _error_lines(result.stderr) == 1
    result = run_cli("preprocess", sim, "--region", "example")
    assert result.exit_code == 2 and "pass -o" in result.stderr


def test_a_moved_folder_of_products_and_stack_stays_up_to_date(sim, tmp_path):
    """The inputs hash names products by file name, size and time, not by absolute path: a workspace
    moved or restored from a backup (times kept) does not rebuild its stacks."""
    from glaciermap.preprocess.stack import build_stack

    first = build_stack(REGION, sim, tmp_path / "a" / "stack", year=YEAR, n_slots=SLOTS)
    shutil.copytree(sim, tmp_path / "b" / "products")  # copy2: modification times kept
    shutil.copytree(tmp_path / "a" / "stack", tmp_path / "b" / "stack")
    moved = build_stack(
        REGION, tmp_path / "b" / "products", tmp_path / "b" / "stack", year=YEAR, n_slots=SLOTS
    )
    assert moved.skipped and moved.meta.inputs_hash == first.meta.inputs_hash
