"""Config files, user regions and the workspace folder + catalog."""

from __future__ import annotations

import sqlite3

import pytest

from glaciermap.catalog import MIGRATIONS
from glaciermap.config import load_settings
from glaciermap.errors import ConfigError, WorkspaceError
from glaciermap.workspace import Workspace


def write(path, text):
    path.write_text(text)
    return path


def test_user_region_from_toml(tmp_path):
    config = write(
        tmp_path / "glaciermap.toml",
        """
workspace = "ws"
[regions.jotunheimen]
crs = "EPSG:32632"
tile_size = 5000
aoi = [440000, 6810000, 450000, 6820000]
orbit = "descending"
""",
    )
    settings = load_settings(config)
    region = settings.region("jotunheimen")
    assert region.crs == "EPSG:32632"
    assert region.prefix == "JOTU"
    assert region.orbit == "descending"
    assert [t.id for t in region.tiles()][:2] == ["JOTU-88-1362", "JOTU-89-1362"]
    assert len(region.tiles()) == 4
    assert settings.workspace == (tmp_path / "ws").resolve()
    assert "svalbard" in settings.regions  # built-ins stay


def test_partial_override_of_builtin_region(tmp_path):
    config = write(tmp_path / "c.toml", '[regions.svalbard]\norbit = "descending"\n')
    region = load_settings(config).region("svalbard")
    assert region.orbit == "descending"
    assert region.tile_from_id("SVAL-7-33").bounds == (400_000, 8_730_000, 410_000, 8_740_000)


def test_aoi_file_is_reprojected_into_region_crs(tmp_path):
    import geopandas as gpd
    import shapely

    aoi = gpd.GeoDataFrame(geometry=[shapely.box(11.5, 78.8, 12.5, 79.0)], crs="EPSG:4326")
    aoi.to_file(tmp_path / "aoi.gpkg")
    config = write(
        tmp_path / "c.toml",
        '[regions.kongs]\ncrs = "EPSG:32633"\naoi_file = "aoi.gpkg"\norigin = [330000, 8400000]\n',
    )
    region = load_settings(config).region("kongs")
    assert region.aoi_wkt is not None
    assert 420_000 < region.aoi[0] < 440_000
    assert region.tiles()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[regions.x]\ncrs = 'EPSG:4326'\naoi = [0, 0, 1, 1]\n", "not projected in metres"),
        ("[regions.x]\ncrs = 'EPSG:32633'\n", "missing aoi"),
        ("[regions.x]\ncrs = 'EPSG:32633'\naoi = [0, 0, 1, 1]\ncolour = 'red'\n", "unknown key"),
        ("[regions.x\n", "not valid TOML"),
        ("[regions.x]\ncrs = 'EPSG:32633'\naoi = [0, 0, 'a', 1]\n", "regions.x"),
    ],
)
def test_bad_config_is_a_config_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_settings(write(tmp_path / "c.toml", text))


def test_explicit_missing_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_unknown_region_lists_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="known: example, svalbard, synthetic"):
        load_settings(write(tmp_path / "c.toml", "")).region("alps")


def test_workspace_override_beats_config_and_workspace_file_is_read(tmp_path):
    ws = tmp_path / "elsewhere"
    ws.mkdir()
    write(ws / "glaciermap.toml", "[regions.svalbard]\norbit = 'descending'\n[train]\nepochs = 3\n")
    config = write(tmp_path / "c.toml", 'workspace = "ws"\n')
    settings = load_settings(config, workspace_override=ws)
    assert settings.workspace == ws.resolve()
    assert settings.region("svalbard").orbit == "descending"
    assert settings.stages["train"]["epochs"] == 3


def test_workspace_layout_and_catalog(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    for name in ("raw", "stacks", "runs", "predictions"):
        assert (ws.root / name).is_dir()
    assert ws.stack_dir("svalbard", 2016) == ws.root / "stacks" / "svalbard" / "2016"
    assert ws.prediction_dir("svalbard", 2016, "unet3d").parts[-4:] == (
        "predictions",
        "svalbard",
        "2016",
        "unet3d",
    )
    catalog = ws.catalog()
    try:
        assert catalog.schema_version == len(MIGRATIONS)
        assert catalog.stage_stamp("svalbard", 2016, "preprocess") is None
        catalog.record_stage("svalbard", 2016, "preprocess", inputs_hash="abc", outputs=["x.tif"])
    finally:
        catalog.close()
    # A second open keeps what the first recorded (no re-creation).
    again = Workspace.open(ws.root).catalog()
    try:
        stamp = again.stage_stamp("svalbard", 2016, "preprocess")
        assert stamp is not None and stamp.outputs == ("x.tif",) and stamp.inputs_hash == "abc"
    finally:
        again.close()


def test_workspace_rejects_names_escaping_the_root(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(WorkspaceError):
        ws.raw_dir("../etc", 2016)
    with pytest.raises(WorkspaceError):
        ws.run_dir("a/b")


def test_workspace_on_a_file_or_corrupt_catalog(tmp_path):
    afile = write(tmp_path / "file", "x")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace.open(afile)
    ws = tmp_path / "ws"
    ws.mkdir()
    write(ws / "catalog.sqlite", "this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="not a usable glaciermap catalog"):
        Workspace.open(ws)
    assert not isinstance(WorkspaceError("x"), sqlite3.Error)


def test_atomic_output_keeps_nothing_on_failure_and_replaces_on_success(tmp_path):
    from glaciermap.errors import InputError
    from glaciermap.io.files import atomic_output

    final = tmp_path / "out.gpkg"
    final.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_output(final) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert final.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]
    with atomic_output(final) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".gpkg"
        tmp.write_text("new")
    assert final.read_text() == "new"
    with pytest.raises(InputError, match="already exists"), atomic_output(final, overwrite=False):
        pass
    with pytest.raises(InputError, match="does not exist"), atomic_output(tmp_path / "no" / "x"):
        pass
    with pytest.raises(InputError, match="cannot write"), atomic_output(final) as tmp:
        raise OSError(28, "No space left on device")
    assert final.read_text() == "new"


def test_errors_keep_their_hint_across_processes():
    import pickle

    from glaciermap.errors import InputError

    err = pickle.loads(pickle.dumps(InputError("tile X is corrupt", "download it again")))
    assert isinstance(err, InputError)
    assert str(err) == "tile X is corrupt — download it again"


def _aoi_config(tmp_path):
    return write(
        tmp_path / "c.toml",
        '[regions.kongs]\ncrs = "EPSG:32633"\naoi_file = "aoi.gpkg"\norigin = [330000, 8400000]\n',
    )


def test_damaged_aoi_file_is_a_one_line_input_error(tmp_path):
    from glaciermap.errors import InputError

    (tmp_path / "aoi.gpkg").write_bytes(b"SQLite format 3\x00 cut short")
    with pytest.raises(
        InputError, match=r"\[regions.kongs\].*cannot read aoi_file .*aoi\.gpkg \("
    ) as info:
        load_settings(_aoi_config(tmp_path)).region("kongs")
    assert "\n" not in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize("bug", [RuntimeError, ValueError])
def test_a_bug_reading_the_aoi_file_is_not_bad_input(tmp_path, monkeypatch, bug):
    import geopandas as gpd
    import pyogrio
    import shapely

    gpd.GeoDataFrame(geometry=[shapely.box(11.5, 78.8, 12.5, 79.0)], crs="EPSG:4326").to_file(
        tmp_path / "aoi.gpkg"
    )
    assert load_settings(_aoi_config(tmp_path)).region("kongs").aoi_wkt is not None

    def broken(*args, **kwargs):
        raise bug("a bug in the reader, not a damaged file")

    monkeypatch.setattr(pyogrio, "read_dataframe", broken)
    with pytest.raises(bug, match="a bug in the reader"):
        load_settings(_aoi_config(tmp_path)).region("kongs")


def test_stage_stamps_record_when_outputs_are_made(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    out = workspace.stack_dir("example", 2016) / "stack.json"

    def stamp():
        catalog = workspace.catalog()
        try:
            return catalog.stage_stamp("example", 2016, "preprocess")
        finally:
            catalog.close()

    workspace.record_stage("example", 2016, "preprocess", inputs_hash="a", outputs=[out])
    first = stamp()
    assert first is not None and first.outputs == ("stacks/example/2016/stack.json",)
    # A run that skipped itself on the same inputs keeps the stamp of the run that made the outputs.
    workspace.record_stage(
        "example", 2016, "preprocess", inputs_hash="a", outputs=[out], skipped=True
    )
    assert stamp() == first
    workspace.record_stage(
        "example", 2016, "preprocess", inputs_hash="b", outputs=[out], skipped=True
    )
    assert stamp().inputs_hash == "b"
