"""Tests of ``glaciermap history``: a region's glaciers across the workspace's years, as a frame, a table,
JSON and a plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from glaciermap.errors import InputError
from glaciermap.io.vector import write_gpkg
from glaciermap.regions import BUILTIN_REGIONS
from glaciermap.update import (
    HISTORY_COLUMNS,
    history,
    plot_history,
    update_glaciers,
    write_changes,
    write_summary,
)
from glaciermap.workspace import Workspace

EXAMPLE = BUILTIN_REGIONS["example"]
X0, Y0 = 431_000.0, 8_753_000.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _box(minx: float, miny: float, maxx: float, maxy: float) -> shapely.Polygon:
    return shapely.box(X0 + minx, Y0 + miny, X0 + maxx, Y0 + maxy)


def _outlines(path: Path, geoms: list) -> Path:
    frame = gpd.GeoDataFrame({"id": range(1, len(geoms) + 1)}, geometry=geoms, crs=EXAMPLE.crs)
    write_gpkg(path, {"outlines": frame})
    return path


def _run_year(ws: Workspace, tmp: Path, year: int, geoms: list, reference: Path) -> None:
    """The update's three stages for one year, as the pipeline runs them."""
    years = ws.inventory_years("example")
    previous = ws.inventory_dir("example", years[-1]) / "glaciers.gpkg" if years else None
    out = ws.inventory_dir("example", year)
    update_glaciers(
        _outlines(tmp / f"outlines-{year}.gpkg", geoms),
        None,
        out,
        region=EXAMPLE,
        year=year,
        previous=previous,
        reference=reference,
    )
    write_changes(out, region=EXAMPLE, previous=previous, reference=reference)
    write_summary(
        out,
        region="example",
        year=year,
        previous_year=years[-1] if years else None,
        reference=reference,
        provenance={},
    )


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    """Three years of the example region: A retreats, B splits in 2017, C disappears in 2018."""
    ws = Workspace.open(tmp_path / "workspace")
    reference = tmp_path / "rgi.gpkg"
    write_gpkg(
        reference,
        {
            "rgi": gpd.GeoDataFrame(
                {"rgi_id": ["RGI-A", "RGI-B", "RGI-C"], "glac_name": ["Abreen", "Bbreen", None]},
                geometry=[
                    _box(0, 0, 1000, 1000),
                    _box(1500, 0, 2500, 500),
                    _box(3000, 0, 3300, 300),
                ],
                crs=EXAMPLE.crs,
            )
        },
    )
    a, c = _box(0, 0, 1000, 1000), _box(3000, 0, 3300, 300)
    b_parts = [_box(1500, 0, 2100, 500), _box(2200, 0, 2500, 500)]
    _run_year(ws, tmp_path, 2016, [a, _box(1500, 0, 2500, 500), c], reference)
    _run_year(ws, tmp_path, 2017, [_box(0, 100, 1000, 1000), *b_parts, c], reference)
    _run_year(ws, tmp_path, 2018, [_box(0, 200, 1000, 1000), *b_parts], reference)
    return ws


def test_history_has_a_row_per_glacier_and_year(workspace):
    frame = history(workspace, "example")
    assert tuple(frame.columns) == HISTORY_COLUMNS
    years = frame.groupby("glacier_id")["year"].apply(list).to_dict()
    assert years == {
        "EXMP-2017-0001": [2017, 2018],
        "RGI-A": [2016, 2017, 2018],
        "RGI-B": [2016, 2017, 2018],
        "RGI-C": [2016, 2017, 2018],
    }
    a = frame.loc[frame["glacier_id"] == "RGI-A"].set_index("year")
    assert a["area_km2"].tolist() == pytest.approx([1.0, 0.9, 0.8])
    assert a["status"].tolist() == ["unchanged", "retreated", "retreated"]
    assert a["front_shift_m"].tolist() == pytest.approx([0.0, -100.0, -100.0], abs=2)
    assert a["glac_name"].tolist() == ["Abreen"] * 3
    c = frame.loc[frame["glacier_id"] == "RGI-C"].set_index("year")
    assert c.loc[2018, "status"] == "disappeared" and c.loc[2018, "area_km2"] == 0.0
    assert c.loc[2018, "change_km2"] == pytest.approx(-0.09)
    split = frame.loc[frame["glacier_id"] == "EXMP-2017-0001"].set_index("year")
    assert split.loc[2017, "status"] == "split" and split.loc[2017, "parent_id"] == "RGI-B"


def test_history_of_one_glacier_includes_its_split_parts(workspace):
    frame = history(workspace, "example", "RGI-B")
    assert frame[["glacier_id", "year"]].values.tolist() == [
        ["EXMP-2017-0001", 2017],
        ["EXMP-2017-0001", 2018],
        ["RGI-B", 2016],
        ["RGI-B", 2017],
        ["RGI-B", 2018],
    ]
    assert frame["parent_id"].tolist()[:2] == ["RGI-B", "RGI-B"]
    assert frame["status"].tolist()[:2] == ["split", "unchanged"]
    with pytest.raises(InputError, match="no glacier 'nosuch' in the inventory of 'example'"):
        history(workspace, "example", "nosuch")


def test_plot_history_writes_a_png(workspace, tmp_path):
    path = plot_history(history(workspace, "example"), tmp_path / "history.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE) and path.stat().st_size > 10_000
    with pytest.raises(InputError, match="already exists"):
        plot_history(history(workspace, "example"), path, overwrite=False)


def test_cli_history_table_json_and_plot(run_cli, workspace, tmp_path):
    ws = ["-w", workspace.root]
    table = run_cli("history", "--region", "example", *ws)
    assert table.exit_code == 0, table.stderr
    for text in ("Abreen", "RGI-A", "EXMP-2017-0001", "2016", "2018", "disappeared", "retreated"):
        assert text in table.stdout, text

    shown = run_cli("history", "--region", "example", "--glacier", "RGI-A", "--json", *ws)
    assert shown.exit_code == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["region"] == "example" and document["years"] == [2016, 2017, 2018]
    assert [row["year"] for row in document["rows"]] == [2016, 2017, 2018]
    assert document["rows"][1]["area_km2"] == pytest.approx(0.9)
    assert set(document["rows"][0]) == set(HISTORY_COLUMNS)

    plot = tmp_path / "a.png"
    drawn = run_cli("history", "-r", "example", "--plot", plot, "--json", *ws)
    assert drawn.exit_code == 0, drawn.stderr
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    before = plot.read_bytes()
    refused = run_cli("history", "-r", "example", "--plot", plot, *ws)
    assert refused.exit_code == 2
    assert "already exists" in refused.stderr and "--overwrite" in refused.stderr
    assert plot.read_bytes() == before
    replaced = run_cli("history", "-r", "example", "--plot", plot, "--overwrite", *ws)
    assert replaced.exit_code == 0, replaced.stderr


def test_cli_history_without_an_inventory_says_to_run(run_cli, tmp_path):
    result = run_cli("history", "--region", "example", "-w", tmp_path / "empty")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "glaciermap run --region example" in lines[0]
    unknown = run_cli("history", "--region", "atlantis", "-w", tmp_path / "empty")
    assert unknown.exit_code == 2 and "unknown region" in unknown.stderr
    missing = run_cli("history", "-w", tmp_path / "empty")
    assert missing.exit_code == 2 and "--region" in missing.stderr


def test_history_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from glaciermap.cli.main import main\n"
        "assert main(['history', '--help']) == 0\n"
        "import glaciermap.update\n"
        "heavy = [m for m in ('geopandas', 'pandas', 'shapely', 'rasterio', 'matplotlib', 'torch')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
