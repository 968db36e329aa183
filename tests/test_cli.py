"""The CLI shell: help, version, root options, error mapping, and the regions/workspace commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert json.loads(quiet.stdout)["totals"]["glaciers"] == 5


# --- one consistent command line -----------------------------------------------------------------

COMMANDS = (
    [],
    ["run"],
    ["download"],
    ["simulate"],
    ["preprocess"],
    ["train"],
    ["evaluate"],
    ["predict"],
    ["vectorize"],
    ["diff"],
    ["regions"],
    ["regions", "show"],
    ["regions", "tiles"],
    ["workspace"],
)


def test_no_command_help_imports_a_heavy_library():
    code = (
        "import sys\n"
        "from glaciermap.cli.main import main\n"
        f"for command in {COMMANDS!r}:\n"
        "    assert main([*command, '--help']) == 0, command\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def _help(run_cli, *command: str) -> str:
    """The help text with the panels' borders and the wrapping taken out."""
    result = run_cli(*command, "--help")
    assert result.exit_code == 0, result.stderr
    return " ".join(result.stdout.replace("│", " ").split())


def test_help_shows_what_the_source_says(run_cli):
    texts = {" ".join(c): _help(run_cli, *c) for c in COMMANDS}
    for name, text in texts.items():
        assert "<bool>" not in text, name  # flags take no value
        assert "{" not in text.split("Usage:")[1][:60], name
    assert "the workspace's raw/REGION/YEAR/, where preprocess looks" in texts["simulate"]
    assert (
        "Recipe (defaults: the paper's; also settable in the config file's [train] table)"
        in (texts["train"])
    )
    assert "e.g. [train] with epochs = 30" in texts["train"]
    assert "Add your own as [regions.NAME] tables" in texts["regions"]
    assert "Usage: glaciermap vectorize [OPTIONS] RASTER" in texts["vectorize"]
    assert "Usage: glaciermap predict [OPTIONS] [WEIGHTS]" in texts["predict"]
    assert "Usage: glaciermap evaluate [OPTIONS] WEIGHTS" in texts["evaluate"]
    # Choices are the library's own tables.
    assert "<unet3d|convlstm>" in texts["train"]
    assert "<train|val|test|all>" in texts["evaluate"]
    assert "<nearest|bilinear|cubic>" in texts["preprocess"]
    # The overwrite policy is said where it applies.
    for name in ("simulate", "predict", "vectorize", "diff", "regions tiles"):
        assert "--overwrite" in texts[name], name
    assert "no --overwrite is needed" in texts["preprocess"]
    # The global options are accepted, and shown, after the command name.
    for name in ("predict", "regions show", "workspace"):
        assert "Global options" in texts[name] and "--workspace -w" in texts[name], name


def test_the_architecture_choices_are_the_registrys():
    from glaciermap.models.architectures import ARCHITECTURES
    from glaciermap.models.registry import MODELS

    assert tuple(MODELS) == ARCHITECTURES


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "--window", "0"],
        ["predict", "--overlap", "1.0"],
        ["predict", "-o", "{file}"],
        ["train", "--model", "nosuch"],
        ["evaluate", "unet3d", "--split", "everything"],
        ["evaluate"],
        ["diff", "--bogus"],
        ["nosuch"],
    ],
)
def test_values_the_parser_rejects_give_one_error_line(run_cli, tmp_path, args):
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    result = run_cli(*[a.format(file=existing) for a in args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and " — see `glaciermap" in lines[0]
    assert "Usage" not in result.stderr and "╭" not in result.stderr


def test_global_options_after_the_command(run_cli, shared_data, tmp_path):
    npi = shared_data / "svalbard_npi" / "derived"
    args = ["diff", npi / "svalbard_2007.gpkg", npi / "svalbard_1990.gpkg", "--json"]
    normal = run_cli(*args)
    quiet = run_cli(*args, "-q")
    verbose = run_cli(*args, "--verbose")
    assert normal.exit_code == quiet.exit_code == verbose.exit_code == 0
    assert quiet.stderr.strip() == "" and "comparing in" in normal.stderr
    assert len(verbose.stderr.splitlines()) >= len(normal.stderr.splitlines())
    # --config after the command still sets the command's option defaults.
    config = tmp_path / "late.toml"
    config.write_text("[diff]\nmin-front-area = 0.5\n")
    late = run_cli(*args, "--config", config)
    assert late.exit_code == 0, late.stderr
    assert json.loads(late.stdout)["min_front_area_km2"] == 0.5
    # --debug and -w after the command.
    debug = run_cli("regions", "show", "atlantis", "--debug")
    assert debug.exit_code == 2 and "Traceback" in debug.stderr
    ws = tmp_path / "late-ws"
    shown = run_cli("workspace", "-w", ws)
    assert shown.exit_code == 0 and str(ws) in shown.stdout and (ws / "catalog.sqlite").is_file()


def test_diff_json_prints_the_documented_totals_and_writes_nothing(
    run_cli, shared_data, tmp_path, monkeypatch
):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "--json | jq .totals" in readme
    npi = shared_data / "svalbard_npi" / "derived"
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("diff", npi / "svalbard_2007.gpkg", npi / "svalbard_1990.gpkg", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    totals = document["totals"]
    assert totals["glaciers"] == 5 and totals["fronts"] >= 1
    assert totals["area_ref_km2"] == pytest.approx(26.23, abs=0.005)
    assert set(document) >= {"new", "reference", "crs", "status_counts", "per_glacier"}
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no diff.gpkg appeared


def test_every_writing_command_refuses_an_existing_output(run_cli, example_stack, tmp_path):
    """No command replaces an existing output unless given --overwrite, and it says so at once."""
    made = {name: tmp_path / name for name in ("sim", "pred", "tiles.gpkg", "o.gpkg", "v.gpkg")}
    made["sim"].mkdir()
    (made["sim"] / "simulation.json").write_text("{}")
    made["pred"].mkdir()
    (made["pred"] / "mask.tif").write_text("old")
    for name in ("tiles.gpkg", "o.gpkg", "v.gpkg"):
        made[name].write_text("old")
    mask = example_stack / "labels" / f"{sorted((example_stack / 'labels').iterdir())[0].stem}.tif"
    commands = [
        ["simulate", "-o", made["sim"], "--acquisitions", "1"],
        ["predict", "--stack", example_stack, "-o", made["pred"], "--device", "cpu"],
        ["regions", "tiles", "example", "-o", made["tiles.gpkg"]],
        ["diff", made["o.gpkg"], made["o.gpkg"], "-o", made["o.gpkg"]],
        ["vectorize", mask, "-o", made["v.gpkg"]],
    ]
    for command in commands:
        result = run_cli(*command)
        assert result.exit_code == 2, command
        assert "already exists" in result.stderr and "--overwrite" in result.stderr, command
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (made["pred"] / "mask.tif").read_text() == "old"
    assert (made["sim"] / "simulation.json").read_text() == "{}"
    assert all(made[n].read_text() == "old" for n in ("tiles.gpkg", "o.gpkg", "v.gpkg"))
    # --overwrite replaces.
    replaced = run_cli("regions", "tiles", "example", "-o", made["tiles.gpkg"], "--overwrite")
    assert replaced.exit_code == 0, replaced.stderr


def test_weights_are_found_by_name_from_any_folder(tmp_path, monkeypatch):
    from glaciermap.errors import InputError
    from glaciermap.models.lookup import SHIPPED_WEIGHTS, resolve_weights

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GLACIERMAP_WEIGHTS", raising=False)
    for spec in ("unet3d", "weights/unet3d", "weights/unet3d.safetensors", "unet3d.json"):
        assert resolve_weights(spec) == SHIPPED_WEIGHTS / "unet3d", spec
    assert resolve_weights("ablation/unet3d-1acq") == SHIPPED_WEIGHTS / "ablation" / "unet3d-1acq"
    own = tmp_path / "runs" / "r1"
    own.mkdir(parents=True)
    (own / "best.safetensors").write_bytes(b"")
    assert resolve_weights("runs/r1/best.safetensors") == Path("runs/r1/best")
    with pytest.raises(InputError, match="no weights named 'nosuch'") as caught:
        resolve_weights("nosuch")
    assert "unet3d" in caught.value.hint
    assert not any(f in str(caught.value) for f in ("resolve_weights", "find_weights", "()"))


def test_a_missing_card_names_no_internal_function(tmp_path):
    from glaciermap.errors import InputError
    from glaciermap.models.card import ModelCard

    (tmp_path / "w.safetensors").write_bytes(b"")
    with pytest.raises(InputError) as caught:
        ModelCard.read(tmp_path / "w")
    assert "w.json" in str(caught.value) and "save_weights" not in str(caught.value)
    assert "glaciermap train" in str(caught.value)


def test_evaluate_and_predict_take_the_stack_and_weights_alike(run_cli, example_stack, tmp_path):
    for command in ("evaluate", "predict"):
        # The stack as a positional argument is a weights spec now: a clear error, not a run.
        wrong = run_cli(command, example_stack)
        assert wrong.exit_code == 2 and "is a stack, not weights" in wrong.stderr
        assert f"give it as --stack {example_stack}" in wrong.stderr
        missing = run_cli(command, "unet3d")
        assert missing.exit_code == 2 and "--stack DIR, or --region and --year" in missing.stderr
        other_year = run_cli(command, "unet3d", "--stack", example_stack, "--year", "2017")
        assert other_year.exit_code == 2 and "is of 2016, not 2017" in other_year.stderr
