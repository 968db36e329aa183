"""`glaciermap run` on the command line: the real download path against the fake ASF, HyP3 and bucket
(exit 75 while jobs run), exit codes and one-line errors, the lock message and --status."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from glaciermap.pipeline import PIPELINE, Pipeline, Stage
from glaciermap.regions import BUILTIN_REGIONS

TOKEN = "EDL-SECRET-TOKEN-0123456789"
WEIGHTS = "ablation/unet3d-3acq"


def _mtimes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and "logs" not in p.parts and not p.name.startswith("catalog.sqlite")
    }


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------------
# The real download path, against the fakes


def _serve(tmp_path, monkeypatch, scenes, **hyp3_options):
    """The fakes (:func:`fakes.services.fake_services`), skipped without the clients' test extras."""
    pytest.importorskip("asf_search")
    pytest.importorskip("trustme")
    from fakes.services import fake_services

    with fake_services(tmp_path, monkeypatch, scenes, token=TOKEN, **hyp3_options) as served:
        yield served


@pytest.fixture
def services(tmp_path, monkeypatch):
    """Random products (the download path, not the pictures, is under test)."""
    from glaciermap.simulate.catalogue import simulated_scenes

    # The fake's products lie inside the example region.
    scenes = simulated_scenes(BUILTIN_REGIONS["example"], 2016, seed=0)
    yield from _serve(tmp_path, monkeypatch, scenes, auto_advance=False)


def _asf_args(services, *more: str) -> list[str]:
    cmr, hyp3, _ = services
    args = ["run", WEIGHTS, "-r", "example", "-y", "2016", "--acquisitions", "3"]
    args += ["--search-host", cmr.host, "--hyp3-url", hyp3.api.url, "--poll", "0"]
    return [*args, "--device", "cpu", "-j", "1", *more]


def test_pending_hyp3_jobs_exit_75_then_the_year_completes_then_nothing_is_sent(
    run_cli, services, tmp_path
):
    _, hyp3, servers = services
    first = run_cli(*_asf_args(services))
    assert first.exit_code == 75, first.stderr
    lines = _error_lines(first.stderr)
    assert lines[-1] == (
        "try later: 12 jobs still running at HyP3; the next run continues — run again later (a "
        "daily cron line finishes the year by itself), or pass --wait"
    )
    assert len(hyp3.submissions) == 1 and len(hyp3.jobs) == 12
    status = run_cli("run", "--status", "-r", "example")
    assert status.exit_code == 0, status.stderr
    rows = _status_rows(status.stdout)
    assert (
        rows["download"][0] == "waiting" and "12 jobs still running at HyP3" in rows["download"][4]
    )
    assert rows["preprocess"][0] == "pending"

    still = run_cli(*_asf_args(services))  # jobs still running: nothing ordered twice
    assert still.exit_code == 75 and len(hyp3.submissions) == 1

    hyp3.finish()
    done = run_cli(*_asf_args(services))
    assert done.exit_code == 0, done.stderr
    assert "example 2016: ran download, preprocess, predict, vectorize, update, diff, report" in (
        done.stdout
    )
    workspace = tmp_path / "workspace"
    outlines = workspace / "predictions" / "example" / "2016" / "unet3d-3acq" / "outlines.gpkg"
    report = workspace / "inventory" / "example" / "2016" / "report.html"
    assert outlines.is_file() and report.is_file() and str(report) in done.stdout

    requests = [len(server.log) for server in servers]
    files = _mtimes(workspace)
    again = run_cli(*_asf_args(services))
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith("example 2016: up to date, nothing to do")
    assert [len(server.log) for server in servers] == requests  # no request at all
    assert _mtimes(workspace) == files
    log = (workspace / "logs" / "run-example-2016.log").read_text()
    assert log.count("run example 2016 started") == 4 and "download: up to date, skipped" in log
    assert TOKEN not in log

    status = run_cli("run", "--status")
    assert status.exit_code == 0
    rows = _status_rows(status.stdout)
    assert {stage: rows[stage][0] for stage in PIPELINE.names} == dict.fromkeys(
        PIPELINE.names, "done"
    )
    assert rows["vectorize"][3] == "predictions/example/2016/unet3d-3acq/outlines.gpkg"
    assert "last run: " in status.stdout and ": up to date" in status.stdout


def _status_rows(text: str) -> dict[str, list[str]]:
    """``stage -> [state, when, took, outputs, last error]`` from a --status table (one line per row
    at the tests' 200 columns)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 6 and cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


# ----------------------------------------------------------------------------------------------------
# Two consecutive years through the real download path, with the simulator's products


@pytest.fixture(scope="module")
def simulated_years(tmp_path_factory):
    """The example region's 2016 and 2017 (seed 0, the three slots around 1 August) as HyP3 zips."""
    from glaciermap.calendar import chosen_slots
    from glaciermap.simulate.scene import simulate_year

    root = tmp_path_factory.mktemp("simulated")
    region = BUILTIN_REGIONS["example"]
    for year in (2016, 2017):
        slots = chosen_slots(year, 3)  # the ones `--acquisitions 3` downloads
        simulate_year(region, year, root / str(year), slots=slots, cross_pol=False, workers=2)
    return root


@pytest.fixture
def year_services(tmp_path, monkeypatch, simulated_years):
    """CMR lists both years' passes; HyP3 answers each job with the simulated product of that pass
    and moves jobs along each time it is asked (so ``--wait`` finishes)."""
    from fakes.simulated import SimulatedProducts

    from glaciermap.simulate.catalogue import simulated_scenes

    region = BUILTIN_REGIONS["example"]
    scenes = [s for y in (2016, 2017) for s in simulated_scenes(region, y, seed=0)]
    products = SimulatedProducts(simulated_years / "2016", simulated_years / "2017")
    yield from _serve(tmp_path, monkeypatch, scenes, auto_advance=True, products=products)


def test_two_consecutive_years_keep_ids_report_changes_and_show_in_history(
    run_cli, year_services, simulated_years, tmp_path
):
    import geopandas as gpd

    from glaciermap.inventory_format import (
        CHANGE_LAYERS,
        CHANGES_GPKG,
        GLACIERS_GPKG,
        SUMMARY_JSON,
    )

    reference = simulated_years / "2016" / "truth" / "inventory_2006.gpkg"
    reference_ids = set(gpd.read_file(reference)["glac_id"])
    workspace = tmp_path / "workspace"
    inventory = workspace / "inventory" / "example"

    first = run_cli(*_asf_args(year_services, "--reference", str(reference), "--wait"))
    assert first.exit_code == 0, first.stderr
    year1 = gpd.read_file(inventory / "2016" / GLACIERS_GPKG)
    carried = year1[year1["status"] != "new"]
    # Year 1 takes its ids (and names) from the reference.
    assert set(carried["glacier_id"]) <= reference_ids
    assert carried["area_km2"].sum() > 0.9 * year1["area_km2"].sum()
    assert set(year1.loc[year1["status"] == "new", "glacier_id"]).isdisjoint(reference_ids)
    summary1 = json.loads((inventory / "2016" / SUMMARY_JSON).read_text())
    assert summary1["previous_year"] is None and summary1["reference"] == reference.name

    args = _asf_args(year_services, "--reference", str(reference), "--wait")
    second = run_cli(*[("2017" if a == "2016" else a) for a in args])
    assert second.exit_code == 0, second.stderr
    assert "example 2017: ran download, preprocess, predict" in second.stdout
    year2 = gpd.read_file(inventory / "2017" / GLACIERS_GPKG)
    # Year 2 keeps year 1's ids: every glacier that is not new or a split part has one of them.
    kept = year2[~year2["status"].isin(["new", "split"])]
    assert len(kept) > 0 and set(kept["glacier_id"]) <= set(year1["glacier_id"])
    assert kept["area_km2"].sum() > 0.9 * year2["area_km2"].sum()
    unchanged = year2[year2["status"] == "unchanged"]
    assert set(unchanged["glacier_id"]) <= set(year1["glacier_id"])
    same = year1.set_index("glacier_id")["area_km2"].reindex(kept["glacier_id"])
    change = kept.set_index("glacier_id")["change_km2"]
    assert change.round(6).equals((kept.set_index("glacier_id")["area_km2"] - same).round(6))
    # ... and reports its changes against year 1.
    summary2 = json.loads((inventory / "2017" / SUMMARY_JSON).read_text())
    assert summary2["previous_year"] == 2016
    assert summary2["totals"]["glaciers"] == len(year2)
    against = set()
    for layer in CHANGE_LAYERS:
        against |= set(gpd.read_file(inventory / "2017" / CHANGES_GPKG, layer=layer)["against"])
    assert "previous" in against

    history = run_cli("history", "-r", "example", "--json")
    assert history.exit_code == 0, history.stderr
    document = json.loads(history.stdout)
    assert document["years"] == [2016, 2017]
    rows = document["rows"]
    for glacier_id in kept["glacier_id"]:
        assert {r["year"] for r in rows if r["glacier_id"] == glacier_id} == {2016, 2017}
    table = run_cli("history", "-r", "example")
    assert table.exit_code == 0 and "2016" in table.stdout and "2017" in table.stdout


# ----------------------------------------------------------------------------------------------------
# Exit codes and one-line errors


def test_help_names_today_s_default_year(run_cli):
    result = run_cli("run", "--help")
    assert result.exit_code == 0
    assert f"Default: the last complete year ({dt.date.today().year - 1} today)." in result.stdout
    for stage in PIPELINE.names:
        assert stage in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "atlantis"], "unknown region 'atlantis'"),
        (["-y", "2016"], "no region given"),
        (["-r", "example", "-y", "2009"], "year 2009 is before Sentinel-1"),
        (["-r", "example", "-y", "2999"], "year 2999 has not begun"),
        (["-r", "example", "-y", "2016", "--reference", "missing.gpkg"], "does not exist"),
        (["-r", "example", "-y", "2016", "--reference", "{bad}"], "cannot be read as vector data"),
        (["-r", "example", "-y", "2016", "--source", "no/such/folder"], "neither asf, simulate"),
        (["-r", "example", "-y", "2016", "--force", "train"], "'train' is not one of"),
        (["-r", "example", "-y", "2016", "--on-change", "no-such-mailer"], "not an executable"),
        (["-r", "example", "-y", "2016", "no-such-weights"], "no weights named 'no-such-weights'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_cli, tmp_path, args, message):
    bad = tmp_path / "bad.gpkg"
    bad.write_text("this is not a GeoPackage")
    args = [a.replace("{bad}", str(bad)) for a in args]
    result = run_cli("run", *args)
    assert result.exit_code == 2, result.stderr
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "workspace" / "raw" / "example").exists()


def test_a_failed_stage_is_one_line_and_exit_1(run_cli, monkeypatch, tmp_path):
    from glaciermap.pipeline import stages

    def explode(ctx):
        raise RuntimeError("the disk caught fire")

    broken = Pipeline((Stage("download", lambda ctx: {}, explode, lambda ctx: []),))
    monkeypatch.setattr(stages, "PIPELINE", broken)
    result = run_cli("run", "-r", "example", "-y", "2016", "--source", "simulate")
    assert result.exit_code == 1
    lines = _error_lines(result.stderr)
    assert lines[-1].startswith("error: stage download failed: RuntimeError: the disk caught fire")
    assert "Traceback" not in result.stderr
    log = (tmp_path / "workspace" / "logs" / "run-example-2016.log").read_text()
    assert "Traceback (most recent call last)" in log and "the disk caught fire" in log
    status = run_cli("run", "--status", "-r", "example", "-y", "2016")
    rows = _status_rows(status.stdout)
    assert rows["download"][0] == "failed" and "the disk caught fire" in rows["download"][4]


def test_a_concurrent_run_gets_one_line_naming_the_holder(run_cli, tmp_path):
    from fakes.lockholder import lock_held_elsewhere

    from glaciermap.workspace import Workspace

    workspace = Workspace.open(tmp_path / "workspace")
    lock = workspace.run_lock("example", 2016)
    with lock_held_elsewhere(lock, "example 2016") as holder:
        result = run_cli("run", "-r", "example", "-y", "2016", "--source", "simulate")
        assert result.exit_code == 75
        lines = _error_lines(result.stderr)
        assert len(lines) == 1, lines
        assert lines[0].startswith(
            f"try later: another glaciermap run of example 2016 is in progress (pid {holder.pid}, "
            "started "
        )
        status = run_cli("run", "--status", "-r", "example", "-y", "2016")
        assert f"running now: pid {holder.pid}" in status.stdout
    assert not (tmp_path / "workspace" / "raw" / "example").exists()


def test_status_without_runs(run_cli):
    result = run_cli("run", "--status")
    assert result.exit_code == 0 and "no run yet" in result.stdout
