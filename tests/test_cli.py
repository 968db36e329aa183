"""The CLI shell: help, version, root options, error mapping, and the regions/workspace commands."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "geopandas", "rasterio", "shapely", "pyproj", "matplotlib", "pandas")


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from glaciermap.cli.main import main\n"
        "rc = main(['--help'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    for command in ("vectorize", "diff", "regions", "workspace"):
        assert command in out.stdout
    assert "not implemented" not in out.stdout.lower()


def test_every_command_has_help(run_cli):
    for command in (["vectorize"], ["diff"], ["regions"], ["regions", "show"], ["workspace"]):
        result = run_cli(*command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.stdout


def test_version(run_cli):
    from glaciermap import __version__

    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"glaciermap {__version__}"


def test_regions_list_and_show(run_cli):
    listed = run_cli("regions")
    assert listed.exit_code == 0
    assert "svalbard" in listed.stdout and "example" in listed.stdout
    shown = run_cli("regions", "show", "svalbard")
    assert shown.exit_code == 0
    assert "EPSG:32633" in shown.stdout
    assert "tiles          2115" in shown.stdout
    assert "x 400,000 – 850,000, y 8,500,000 – 8,970,000" in shown.stdout


def test_regions_tiles_export(run_cli, tmp_path):
    import geopandas as gpd

    out = tmp_path / "tiles.gpkg"
    result = run_cli("regions", "tiles", "example", "-o", out)
    assert result.exit_code == 0, result.stderr
    frame = gpd.read_file(out, layer="tiles")
    assert len(frame) == 9 and frame.crs.to_epsg() == 32633
    again = run_cli("regions", "tiles", "example", "-o", out)
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_known_error_is_one_red_line_exit_2(run_cli):
    result = run_cli("regions", "show", "atlantis")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: unknown region 'atlantis'")
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback(run_cli):
    result = run_cli("--debug", "regions", "show", "atlantis")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "unknown region" in result.stderr


def test_workspace_created_on_first_use(run_cli, tmp_path):
    ws = tmp_path / "my-ws"
    result = run_cli("--workspace", ws, "workspace")
    assert result.exit_code == 0, result.stderr
    assert (ws / "catalog.sqlite").is_file()
    assert (ws / "stacks").is_dir()
    assert str(ws) in result.stdout


def test_workspace_from_config_file(run_cli, tmp_path, monkeypatch):
    config = tmp_path / "custom.toml"
    config.write_text('workspace = "from-config"\n')
    monkeypatch.delenv("GLACIERMAP_WORKSPACE")
    result = run_cli("--config", config, "workspace")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "from-config" / "catalog.sqlite").is_file()
    assert "config file" in result.stdout


def test_console_script_runs():
    exe = subprocess.run(
        [sys.executable, "-m", "glaciermap", "regions", "show", "nowhere"],
        capture_output=True,
        text=True,
    )
    assert exe.returncode == 2
    assert "unknown region" in exe.stderr


def test_quiet_and_verbose_control_the_log(run_cli, shared_data, tmp_path):
    npi = shared_data / "svalbard_npi" / "derived"
    args = [npi / "svalbard_2007.gpkg", npi / "svalbard_1990.gpkg", "--json", "--overwrite"]
    out = tmp_path / "d.gpkg"
    normal = run_cli("diff", *args, "-o", out)
    quiet = run_cli("-q", "diff", *args, "-o", out)
    verbose = run_cli("-v", "diff", *args, "-o", out)
    assert normal.exit_code == quiet.exit_code == verbose.exit_code == 0
    assert "comparing in EPSG:32633" in normal.stderr
    assert quiet.stderr.strip() == ""
    assert len(verbose.stderr.splitlines()) >= len(normal.stderr.splitlines())
    # stdout stays pure JSON whatever the log level.
    import json

    assert json.loads(quiet.stdout)["glaciers"] == 5
