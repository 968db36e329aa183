"""`glaciermap run`'s library: stamps, skipping, reruns, --force, the lock, kill -9 and the sweep, hooks.

Two simulated workspaces are built once: the example region (the demo's 6 x 6 km, 4 slots) and a
`tiny` region of two 2 km tiles that the copies for the rerun and kill tests start from. Weights:
`ablation/unet3d-3acq` (3 dates), so predict is quick on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakes.tiny import TINY, TINY_TOML

from glaciermap.errors import InputError, RunLockedError, StageError
from glaciermap.io.lock import Holder, RunLock
from glaciermap.pipeline import PIPELINE, RunOptions, Stage, run_status, run_year
from glaciermap.pipeline.stages import STAMP_KEY, Pipeline
from glaciermap.regions import BUILTIN_REGIONS
from glaciermap.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
YEAR = 2016
WEIGHTS = "ablation/unet3d-3acq"
EXAMPLE = BUILTIN_REGIONS["example"]
OPTIONS = RunOptions(weights=WEIGHTS, source="simulate", acquisitions=4, device="cpu", workers=1)
INVENTORY_FILES = ("glaciers.gpkg", "changes.gpkg", "summary.json", "report.html", "item.json")
MAPPING = Pipeline(PIPELINE.stages[: PIPELINE.index("vectorize") + 1])
"""The stages up to the outlines, which the failure and hook tests extend with stages of their own."""


def after(stage: str) -> list[str]:
    """``stage`` and every stage after it."""
    return list(PIPELINE.names[PIPELINE.index(stage) :])


# ----------------------------------------------------------------------------------------------------
# Helpers


def stamps(workspace: Path) -> dict[str, tuple[str, float]]:
    """``stage -> (inputs hash, finished)`` of the run's stamps."""
    with sqlite3.connect(workspace / "catalog.sqlite") as db:
        rows = db.execute(
            "SELECT stage, inputs_hash, finished FROM stages WHERE key=?", (STAMP_KEY,)
        ).fetchall()
    return {stage: (digest, finished) for stage, digest, finished in rows}


def mtimes(workspace: Path) -> dict[str, int]:
    """Every file of a workspace but its catalog and logs, with its mtime in ns."""
    return {
        str(p.relative_to(workspace)): p.stat().st_mtime_ns
        for p in workspace.rglob("*")
        if p.is_file()
        and p.parts[len(workspace.parts)] not in ("logs",)
        and not p.name.startswith("catalog.sqlite")
    }


def final_files(workspace: Path) -> list[str]:
    """The outputs of a workspace: every file under raw/, stacks/, predictions/ and inventory/."""
    return sorted(
        str(p.relative_to(workspace))
        for top in ("raw", "stacks", "predictions", "inventory")
        for p in (workspace / top).rglob("*")
        if p.is_file()
    )


def assert_same_outputs(a: Path, b: Path, *, ignore: tuple[str, ...] = ()) -> None:
    """The two workspaces hold the same files with the same content (:mod:`fakes.trees`); a copied
    workspace's records may name either workspace (stack.json is not rewritten)."""
    from fakes.trees import assert_same_file

    assert final_files(a) == final_files(b)
    for name in final_files(a):
        assert_same_file(a / name, b / name, volatile=ignore, roots=(a, b))


def hidden(workspace: Path) -> list[Path]:
    """Hidden files and folders among the outputs (what a killed writer leaves)."""
    return sorted(
        p
        for top in ("raw", "stacks", "predictions", "inventory")
        for p in (workspace / top).rglob(".*")
    )


def copy_workspace(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)  # copy2 keeps mtimes to the nanosecond: stamps stay valid
    return target


# ----------------------------------------------------------------------------------------------------
# The example region, end to end


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    workspace = Workspace.open(tmp_path_factory.mktemp("example") / "ws")
    result = run_year(workspace, EXAMPLE, YEAR, dataclasses.replace(OPTIONS, workers=2))
    return workspace, result


def test_a_run_from_simulate_to_the_report_on_the_example_region(example_run):
    import geopandas as gpd

    workspace, result = example_run
    assert result.ran == list(PIPELINE.names)
    root = workspace.root
    stack = root / "stacks" / "example" / "2016"
    prediction = root / "predictions" / "example" / "2016" / "unet3d-3acq"
    assert (stack / "stack.json").is_file() and len(list((stack / "tiles").glob("*.tif"))) == 9
    for name in ("probability.tif", "mask.tif", "predict.json", "outlines.gpkg"):
        assert (prediction / name).is_file(), name
    outlines = gpd.read_file(prediction / "outlines.gpkg")
    assert len(outlines) > 3 and outlines.crs.to_epsg() == 32633
    assert set(stamps(root)) == set(PIPELINE.names)
    assert result.outputs["vectorize"] == [prediction / "outlines.gpkg"]
    inventory = root / "inventory" / "example" / "2016"
    for name in INVENTORY_FILES:
        assert (inventory / name).is_file(), name
    assert (root / "inventory" / "example" / "catalog.json").is_file()
    glaciers = gpd.read_file(inventory / "glaciers.gpkg")
    # A first year takes its ids from the reference (the simulated scene's inventory of 2006).
    reference = gpd.read_file(root / "raw" / "example" / "2016" / "truth" / "inventory_2006.gpkg")
    assert set(glaciers.glacier_id) & set(reference.glac_id)
    summary = json.loads((inventory / "summary.json").read_text())
    assert summary["year"] == YEAR and summary["previous_year"] is None
    log = (root / "logs" / "run-example-2016.log").read_text()
    for stage in PIPELINE.names:
        assert f"{stage}: started (not done yet)" in log and f"{stage}: finished in" in log
    assert not hidden(root)


def test_a_repeated_run_rewrites_no_file_and_records_no_stamp(example_run):
    workspace, _ = example_run
    before_files, before_stamps = mtimes(workspace.root), stamps(workspace.root)
    again = run_year(workspace, EXAMPLE, YEAR, OPTIONS)
    assert again.nothing_to_do and again.skipped == list(PIPELINE.names)
    assert mtimes(workspace.root) == before_files
    assert stamps(workspace.root) == before_stamps
    log = (workspace.root / "logs" / "run-example-2016.log").read_text()
    assert log.count("vectorize: up to date, skipped") >= 1
    assert "nothing to do: every stage is up to date" in log
    statuses = run_status(workspace, "example", YEAR)
    assert [s.state for s in statuses[0].stages] == ["done"] * len(PIPELINE.names)
    assert statuses[0].last_run is not None and statuses[0].last_run.outcome == "up to date"


# ----------------------------------------------------------------------------------------------------
# Reruns on the tiny region


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A finished run of the tiny region (the baseline the reruns and kills compare with)."""
    workspace = Workspace.open(tmp_path_factory.mktemp("tiny") / "ws")
    result = run_year(workspace, TINY, YEAR, OPTIONS)
    assert result.ran == list(PIPELINE.names)
    return workspace.root


def test_new_weights_rerun_predict_and_every_stage_after_it_not_preprocess(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")
    shipped = ROOT / "weights" / "ablation"
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(shipped / "unet3d-3acq.safetensors", mine)
    card = json.loads((shipped / "unet3d-3acq.json").read_text())
    card["notes"] = "the same tensors, another card: another sha256 of the weights' files"
    (mine / "unet3d-3acq.json").write_text(json.dumps(card))
    before = stamps(root)
    stack_files = {k: v for k, v in mtimes(root).items() if k.startswith("stacks/")}

    result = run_year(
        Workspace.open(root),
        TINY,
        YEAR,
        dataclasses.replace(OPTIONS, weights=str(mine / "unet3d-3acq")),
    )
    assert result.ran == after("predict") and result.skipped == ["download", "preprocess"]
    now = stamps(root)
    assert now["download"] == before["download"] and now["preprocess"] == before["preprocess"]
    assert now["predict"][0] != before["predict"][0]
    assert {k: v for k, v in mtimes(root).items() if k.startswith("stacks/")} == stack_files
    # The same tensors predict the same glaciers.
    assert_same_outputs(tiny, root, ignore=("weights",))


def test_force_reruns_that_stage_and_those_after_it(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")
    before = stamps(root)
    result = run_year(
        Workspace.open(root), TINY, YEAR, dataclasses.replace(OPTIONS, force="preprocess")
    )
    assert result.ran == after("preprocess") and result.skipped == ["download"]
    now = stamps(root)
    assert now["download"] == before["download"]
    assert all(now[s][1] > before[s][1] for s in after("preprocess"))
    assert_same_outputs(tiny, root)
    with pytest.raises(InputError, match="no stage named 'train'"):
        run_year(Workspace.open(root), TINY, YEAR, dataclasses.replace(OPTIONS, force="train"))


def test_a_late_product_reruns_preprocess_and_after_not_download(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")
    raw = root / "raw" / "tiny" / "2016"
    late = next(p for p in sorted(raw.glob("*.zip")))
    os.utime(late, ns=(late.stat().st_atime_ns, late.stat().st_mtime_ns + 10**9))  # "re-delivered"
    result = run_year(Workspace.open(root), TINY, YEAR, OPTIONS)
    assert result.ran == after("preprocess") and result.skipped == ["download"]


def test_missing_outputs_rerun_their_stage(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")
    (root / "predictions" / "tiny" / "2016" / "unet3d-3acq" / "outlines.gpkg").unlink()
    result = run_year(Workspace.open(root), TINY, YEAR, OPTIONS)
    assert result.ran == after("vectorize")
    assert_same_outputs(tiny, root)


# ----------------------------------------------------------------------------------------------------
# The lock


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_lock_of_a_dead_pid_is_taken_over_and_its_leftovers_swept(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")
    dead = Holder(_dead_pid(), os.uname().nodename, "2026-01-01T00:00:00+00:00", ("glaciermap",))
    (root / "logs" / "run-tiny-2016.lock").write_text(dead.to_json())
    prediction = root / "predictions" / "tiny" / "2016" / "unet3d-3acq"
    litter = [
        prediction / ".probability.tif.0123abcd.stream.tif",
        prediction / ".outlines.89abcdef.partial.gpkg",
        prediction / ".outlines.89abcdef.partial.gpkg-journal",
        root / "stacks" / "tiny" / "2016" / "tiles" / ".TINY-51-177.fedcba98.partial.tif",
    ]
    scratch = (
        root / "raw" / "tiny" / "2016" / ".S1A_IW_20160111T154727_SHP_RTC10_G_gpuned_A5BB.x1y2z3_4"
    )
    resumable = (
        root / "raw" / "tiny" / "2016" / ".S1A_IW_20160704T154727_SHP_RTC10_G_gpuned_0000.part.zip"
    )
    for path in [*litter, resumable]:
        path.write_bytes(b"half")
    scratch.mkdir()
    (scratch / "member.tif").write_bytes(b"half")

    result = run_year(Workspace.open(root), TINY, YEAR, OPTIONS)
    assert result.nothing_to_do
    assert result.previous is not None and result.previous.pid == dead.pid
    assert sorted(result.swept) == sorted([*litter, scratch])
    assert not any(p.exists() for p in [*litter, scratch]) and resumable.exists()
    log = (root / "logs" / "run-tiny-2016.log").read_text()
    assert f"pid {dead.pid}" in log and "was killed" in log
    assert (root / "logs" / "run-tiny-2016.lock").read_text() == ""  # released cleanly


def test_temporary_files_are_left_alone_after_a_clean_run(tiny, tmp_path):
    """Without a killed run before it, a run sweeps nothing (a file being written by someone else)."""
    root = copy_workspace(tiny, tmp_path / "ws")
    other = root / "predictions" / "tiny" / "2016" / "unet3d-3acq" / ".mask.tif.0123abcd.stream.tif"
    other.write_bytes(b"being written")
    result = run_year(Workspace.open(root), TINY, YEAR, OPTIONS)
    assert result.previous is None and result.swept == [] and other.exists()


def test_a_held_lock_stops_a_second_run_naming_the_holder(tmp_path):
    from fakes.lockholder import lock_held_elsewhere

    workspace = Workspace.open(tmp_path / "ws")
    with lock_held_elsewhere(workspace.run_lock("tiny", YEAR), "tiny 2016") as holder:
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}, started ") as caught:
            run_year(workspace, TINY, YEAR, OPTIONS)
        assert caught.value.exit_code == 75
        state = run_status(workspace, "tiny", YEAR)[0]
        assert state.holder is not None and state.holder.pid == holder.pid
    assert (
        "run refused: another glaciermap run of tiny 2016"
        in workspace.run_log("tiny", YEAR).read_text()
    )
    with RunLock(workspace.run_lock("tiny", YEAR), "tiny 2016") as lock:
        assert lock.previous is None  # the holder let go cleanly


def test_forked_children_do_not_keep_the_lock(tmp_path):
    """A forked worker (the simulator's) closes its copy of the lock: the lock dies with the run."""
    path = tmp_path / "run.lock"
    lock = RunLock(path, "x").acquire()
    ready, tell = os.pipe()
    child = os.fork()
    if child == 0:  # the child outlives the lock's release by its parent
        import time

        os.write(tell, b"1")  # the fork's hooks have run
        time.sleep(1.0)
        os._exit(0)
    try:
        assert os.read(ready, 1) == b"1"
        lock.release()
        with RunLock(path, "x"):
            pass  # taken while the forked child still lives
    finally:
        os.waitpid(child, 0)
        os.close(ready)
        os.close(tell)


# ----------------------------------------------------------------------------------------------------
# kill -9 inside each stage


KILLER = textwrap.dedent(
    """
    import os, pathlib, signal, sys

    from glaciermap.io.files import is_temporary_name
    from glaciermap.pipeline import stages

    STAGE, AT = sys.argv[1], sys.argv[2]
    MAIN = os.getpid()
    inside = [False]
    _replace = pathlib.Path.replace


    def replace(self, target):
        # The first temporary file of the stage about to take its final name: kill the run. A
        # forked worker kills its parent, then itself at once (the parent-death signal would come a
        # moment later, after this very rename).
        if inside[0] and AT == "writing" and is_temporary_name(self.name):
            os.kill(MAIN, signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        return _replace(self, target)


    def main():
        pathlib.Path.replace = replace
        stage = next(s for s in stages.PIPELINE.stages if s.name == STAGE)
        work = stage.run

        def run(ctx):
            inside[0] = True
            work(ctx)
            os.kill(MAIN, signal.SIGKILL)  # "done": every output written, no stamp yet

        object.__setattr__(stage, "run", run)
        from glaciermap.cli.main import main as cli

        sys.exit(cli(sys.argv[3:]))


    if __name__ == "__main__":  # spawned workers import this module again
        main()
    """
)


@pytest.mark.parametrize(
    ("stage", "at"),
    [
        ("download", "writing"),
        ("preprocess", "writing"),
        ("predict", "writing"),
        ("vectorize", "writing"),
        ("update", "writing"),
        ("diff", "writing"),
        ("report", "writing"),
        ("predict", "done"),
    ],
)
def test_a_run_killed_inside_a_stage_is_finished_by_the_next_run(tiny, tmp_path, stage, at):
    root = copy_workspace(tiny, tmp_path / "ws")
    if stage == "report":
        # The report and STAC writers skip files whose bytes would not change: remove them, so the
        # forced stage has files to write and the kill lands inside one.
        inventory = root / "inventory" / "tiny"
        for name in ("2016/report.html", "2016/item.json", "catalog.json"):
            (inventory / name).unlink()
    before = stamps(root)
    (tmp_path / "glaciermap.toml").write_text(TINY_TOML)
    (tmp_path / "killer.py").write_text(KILLER)
    args = ["run", WEIGHTS, "-r", "tiny", "-y", str(YEAR), "--source", "simulate"]
    args += ["--acquisitions", "4", "--device", "cpu", "--force", stage, "-w", str(root)]
    # download kills from a forked simulator worker; the others inside the run's own process.
    args += ["--workers", "2" if stage == "download" else "1"]
    env = {
        **os.environ,
        "GLACIERMAP_CONFIG": str(tmp_path / "glaciermap.toml"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    killed = subprocess.run(
        [sys.executable, str(tmp_path / "killer.py"), stage, at, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    after_kill = stamps(root)
    assert stage not in after_kill  # dropped as the stage started
    earlier = PIPELINE.names[: PIPELINE.names.index(stage)]
    assert all(after_kill[s] == before[s] for s in earlier)
    if at == "writing":
        assert hidden(root), "the kill came before a temporary file was renamed"

    result = run_year(Workspace.open(root), TINY, YEAR, OPTIONS)
    assert result.previous is not None and result.previous.pid > 0
    assert result.ran[0] == stage and result.skipped == list(earlier)
    assert not hidden(root)
    assert_same_outputs(tiny, root)
    assert all(stamps(root)[s] == before[s] for s in earlier)


# ----------------------------------------------------------------------------------------------------
# Failures, status and --on-change, with stages added to the table as the inventory stages will be


def _stage(name: str, work, outputs=lambda ctx: []) -> Stage:
    return Stage(name, lambda ctx: {"version": 1}, work, outputs)


def test_a_failing_stage_is_exit_1_with_its_traceback_in_the_log_and_status(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")

    def explode(ctx):
        raise ZeroDivisionError("the update divided by zero glaciers")

    pipeline = MAPPING.extended(_stage("update", explode))
    workspace = Workspace.open(root)
    with pytest.raises(StageError) as caught:
        run_year(workspace, TINY, YEAR, OPTIONS, pipeline=pipeline)
    assert caught.value.exit_code == 1
    assert str(caught.value).startswith(
        "stage update failed: ZeroDivisionError: the update divided by zero glaciers — "
        "the log has the details: "
    )
    log = workspace.run_log("tiny", YEAR).read_text()
    assert "Traceback (most recent call last)" in log and "def explode" not in str(caught.value)
    rows = {r.stage: r for r in run_status(workspace, "tiny", YEAR, pipeline=pipeline)[0].stages}
    assert [rows[s].state for s in MAPPING.names] == ["done"] * len(MAPPING.names)
    assert rows["update"].state == "failed" and "divided by zero" in (rows["update"].note or "")

    # Bad input inside a stage stays bad input (exit 2), and is recorded too.
    def refuse(ctx):
        raise InputError("the reference has no glacier", "give another --reference")

    with pytest.raises(InputError):
        run_year(
            workspace, TINY, YEAR, OPTIONS, pipeline=MAPPING.extended(_stage("update", refuse))
        )
    rows = {r.stage: r for r in run_status(workspace, "tiny", YEAR, pipeline=pipeline)[0].stages}
    assert rows["update"].state == "failed" and "no glacier" in (rows["update"].note or "")


def test_a_stage_that_leaves_no_output_fails(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")
    pipeline = MAPPING.extended(
        _stage("extra", lambda ctx: None, lambda ctx: [ctx.inventory_dir / "never-written.html"])
    )
    with pytest.raises(StageError, match="finished without writing"):
        run_year(Workspace.open(root), TINY, YEAR, OPTIONS, pipeline=pipeline)
    assert "extra" not in stamps(root)


@pytest.fixture
def hook(tmp_path) -> tuple[str, Path]:
    """A command that appends its arguments to a file."""
    script = tmp_path / "hook.py"
    calls = tmp_path / "calls.txt"
    script.write_text(
        "import sys\n"
        f"with open({str(calls)!r}, 'a') as f:\n"
        "    f.write(' '.join(sys.argv[1:]) + '\\n')\n"
    )
    return f"{sys.executable} {script} --to 'ops team'", calls


def _summary_stage(changed: bool) -> Stage:
    def write(ctx):
        ctx.inventory_dir.mkdir(parents=True, exist_ok=True)
        ctx.summary_path.write_text(
            json.dumps({"region": "tiny", "year": 2016, "changed": changed})
        )

    return Stage("update", lambda ctx: {"changed": changed}, write, lambda ctx: [ctx.summary_path])


def test_on_change_runs_the_command_with_the_summary_once(tiny, tmp_path, hook):
    command, calls = hook
    root = copy_workspace(tiny, tmp_path / "ws")
    workspace = Workspace.open(root)
    summary = root / "inventory" / "tiny" / "2016" / "summary.json"
    options = dataclasses.replace(OPTIONS, on_change=command)

    changed = MAPPING.extended(_summary_stage(True), notify_after="update")
    assert run_year(workspace, TINY, YEAR, options, pipeline=changed).notified
    assert calls.read_text() == f"--to ops team {summary}\n"
    # Repeated: the same summary is not notified again.
    assert not run_year(workspace, TINY, YEAR, options, pipeline=changed).notified
    assert calls.read_text().count("\n") == 1

    quiet = MAPPING.extended(_summary_stage(False), notify_after="update")
    assert not run_year(workspace, TINY, YEAR, options, pipeline=quiet).notified
    assert calls.read_text().count("\n") == 1


def test_on_change_is_checked_before_the_run(tiny, tmp_path):
    root = copy_workspace(tiny, tmp_path / "ws")
    for command, message in (
        ("mail 'unbalanced", "cannot be split"),
        ("no-such-program-glaciermap", "is not an executable program"),
        ("", "is empty"),
    ):
        with pytest.raises(InputError, match=message):
            run_year(
                Workspace.open(root), TINY, YEAR, dataclasses.replace(OPTIONS, on_change=command)
            )


def test_a_hand_written_summary_drives_the_hook(tmp_path, hook):
    from glaciermap.pipeline.notify import run_hook, summary_says_changed

    command, calls = hook
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"changed": True, "totals": {"fronts": 2}}))
    assert summary_says_changed(summary)
    assert run_hook(command, summary) == 0 and calls.read_text().endswith(f"{summary}\n")
    summary.write_text("{not json")
    with pytest.raises(InputError, match="cannot be read as JSON"):
        summary_says_changed(summary)


# ----------------------------------------------------------------------------------------------------
# Inputs, the catalog and the contract with predict


def test_the_asf_source_searches_daily_until_the_year_has_settled(tmp_path):
    import datetime as dt

    from glaciermap.pipeline.context import RunContext
    from glaciermap.pipeline.runlog import RunLog
    from glaciermap.pipeline.sources import settled_on, source_inputs

    workspace = Workspace.open(tmp_path / "ws")
    ctx = RunContext(workspace, EXAMPLE, 2024, RunOptions(), RunLog(tmp_path / "log"), Path("w"))
    settled = settled_on(2024, 15)
    assert dt.date(2025, 1, 20) < settled < dt.date(2025, 3, 1)
    early = source_inputs(ctx, today=dt.date(2025, 1, 2))
    assert early["searched_on"] == "2025-01-02"
    assert source_inputs(ctx, today=dt.date(2025, 1, 3)) != early
    assert source_inputs(ctx, today=settled)["searched_on"] is None
    assert source_inputs(ctx, today=settled) == source_inputs(ctx, today=dt.date(2030, 1, 1))


def test_bad_year_and_reference_are_input_errors(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    with pytest.raises(InputError, match="before Sentinel-1"):
        run_year(workspace, TINY, 2009, OPTIONS)
    with pytest.raises(InputError, match="has not begun"):
        run_year(workspace, TINY, 2999, OPTIONS)
    bad = tmp_path / "rgi.gpkg"
    bad.write_text("not a geopackage")
    with pytest.raises(InputError, match="cannot be read as vector data"):
        run_year(workspace, TINY, YEAR, dataclasses.replace(OPTIONS, reference=bad))
    with pytest.raises(InputError, match="does not exist"):
        run_year(workspace, TINY, YEAR, dataclasses.replace(OPTIONS, reference=tmp_path / "no"))
    assert not (workspace.root / "raw" / "tiny").exists()  # nothing started


def test_a_schema_1_catalog_migrates_keeping_its_stamps(tmp_path):
    from glaciermap.catalog import MIGRATIONS, Catalog

    path = tmp_path / "catalog.sqlite"
    with sqlite3.connect(path) as db:
        for sql in MIGRATIONS[0]:
            db.execute(sql)
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO stages VALUES ('x', 2016, 'preprocess', '', 'abc', '[]', 1.0)")
    catalog = Catalog(path)
    try:
        assert catalog.schema_version == len(MIGRATIONS) >= 2
        assert catalog.stage_stamp("x", 2016, "preprocess") is not None
        assert catalog.count("runs") == 0 and catalog.count("stage_events") == 0
        backup = catalog.backup_path(1)
    finally:
        catalog.close()
    # The schema-1 catalog was kept, as it was, before the migration.
    with sqlite3.connect(backup) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("SELECT inputs_hash FROM stages").fetchall() == [("abc",)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".bak")) == [backup.name]
    Catalog(path).close()  # up to date: no second backup
    assert len([p for p in tmp_path.iterdir() if p.name.endswith(".bak")]) == 1


def _stamp_many(path: str, worker: int, count: int) -> None:
    from glaciermap.catalog import Catalog

    catalog = Catalog(Path(path))
    try:
        for i in range(count):
            catalog.record_stage("r", 2016, f"s{worker}-{i}", inputs_hash=str(i), outputs=[])
    finally:
        catalog.close()


def test_parallel_writers_lose_nothing(tmp_path):
    """Processes stamping one catalog at once (WAL, busy timeout) keep every stamp."""
    import multiprocessing

    from glaciermap.catalog import Catalog

    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_stamp_many, args=(str(path), w, 150)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    catalog = Catalog(path)
    try:
        assert catalog.count("stages") == 4 * 150
    finally:
        catalog.close()


def test_file_names_agree_with_predict():
    from glaciermap.pipeline import context
    from glaciermap.predict import engine

    assert context.PROBABILITY_NAME == engine.PROBABILITY_NAME
    assert context.MASK_NAME == engine.MASK_NAME
    assert context.PREDICT_RECORD_NAME == engine.RECORD_NAME
    assert context.OUTLINES_NAME == engine.OUTLINES_NAME


def test_a_pipeline_refuses_repeated_or_unknown_names():
    with pytest.raises(ValueError, match="repeat"):
        PIPELINE.extended(PIPELINE.stages[0])
    with pytest.raises(ValueError, match="not a stage"):
        PIPELINE.extended(notify_after="nothing")
