"""``run_year``: one region-year through the stage table, resumable, locked, logged and stamped.

The order of a run:

1. check what can be checked before any work (year, weights, source folder, reference, the
   ``--on-change`` command, ``--force``'s stage): bad input is one line and exit 2, and nothing starts;
2. take the region-year's lock (:mod:`glaciermap.io.lock`); a second run stops with exit 75, naming
   the holder. When the lock names a run that died holding it, sweep that run's temporary files
   (:mod:`glaciermap.io.sweep`);
3. for each stage: hash its inputs; skip it when its stamp holds the same hash and its stamped outputs
   exist (``--force`` aside); otherwise drop its stamp, run it, check its outputs exist, stamp it. Every
   file is written under a temporary name and renamed, and the stamp comes last, so a run killed at
   any point leaves no half-written file under a final name and the next run starts at the stage that
   did not finish;
4. after the ``notify_after`` stage, run ``--on-change`` when the year's summary says ``changed``
   (:mod:`.notify`).

Errors: bad input or configuration propagates as it is (exit 2); :class:`~glaciermap.errors.TryLaterError`
(HyP3 still processing) as it is (exit 75); anything else raised by a stage becomes a
:class:`~glaciermap.errors.StageError` (exit 1) naming the stage, with the traceback in the log only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from glaciermap import interrupt
from glaciermap.calendar import check_year
from glaciermap.errors import (
    AuthError,
    ConfigError,
    GlaciermapError,
    InputError,
    StageError,
    TryLaterError,
    WorkspaceError,
)
from glaciermap.io.lock import Holder, RunLock
from glaciermap.io.sweep import sweep
from glaciermap.pipeline import stages
from glaciermap.pipeline.context import RunContext, RunOptions
from glaciermap.pipeline.runlog import RunLog, RunRecord, last_event
from glaciermap.pipeline.stages import STAMP_KEY, Pipeline, Stage
from glaciermap.regions import Region
from glaciermap.workspace import Workspace

BAD_INPUT = (InputError, ConfigError, WorkspaceError, AuthError)
"""Errors that are the user's to fix (exit 2), whichever stage raises them."""


@dataclass
class RunResult:
    """What :func:`run_year` did.

    Attributes:
        ran: the stages that ran, in order; skipped: those found up to date.
        outputs: the stamped outputs of every finished stage, by stage.
        previous: the holder line of a killed run whose lock this run took over, else None.
        swept: the temporary files of that run that were removed.
        notified: whether ``--on-change`` ran (successfully) in this run.
    """

    region: str
    year: int
    log: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    seconds: float = 0.0
    previous: Holder | None = None
    swept: list[Path] = field(default_factory=list)
    notified: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return not self.ran


def inputs_hash(stage: Stage, ctx: RunContext) -> str:
    """sha256 of the stage's name and its inputs (see :class:`~glaciermap.pipeline.stages.Stage`)."""
    payload = {"stage": stage.name, "inputs": stage.inputs(ctx)}
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_reference(path: Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a vector file with at least one layer."""
    if not path.exists():
        raise InputError(
            f"reference inventory {path} does not exist",
            "give the inventory (RGI, NPI, GLIMS, any polygon file) whose ids the first year keeps",
        )
    if path.suffix.lower() == ".parquet":
        return  # GeoParquet is read by pyarrow, not OGR: checked when the update reads it
    from glaciermap.io.vector import list_layers

    if not list_layers(path):
        raise InputError(f"reference inventory {path} holds no layer", "give a polygon file")


def _check_source(options: RunOptions) -> None:
    folder = options.source_folder
    if folder is not None and not folder.is_dir():
        raise InputError(
            f"--source {options.source!r} is neither asf, simulate nor a folder",
            "give asf, simulate, or a folder holding HyP3 product zips",
        )


def run_year(
    workspace: Workspace,
    region: Region,
    year: int,
    options: RunOptions | None = None,
    *,
    pipeline: Pipeline | None = None,
    today: dt.date | None = None,
) -> RunResult:
    """Run every stage of ``pipeline`` (default: :data:`~glaciermap.pipeline.stages.PIPELINE`) for
    ``region`` in ``year`` that is not up to date.

    Raises:
        InputError, ConfigError, WorkspaceError, AuthError: bad input or configuration (exit 2).
        TryLaterError: HyP3 still processing, or another run holds the lock (exit 75).
        StageError: a stage failed (exit 1); the log has the traceback.
    """
    from glaciermap.models.lookup import resolve_weights

    options = options or RunOptions()
    pipeline = pipeline or stages.PIPELINE
    check_year(year, today)
    weights = resolve_weights(options.weights, workspace.root)
    first_forced = pipeline.index(options.force) if options.force is not None else None
    _check_source(options)
    if options.reference is not None:
        check_reference(options.reference)
    if options.on_change is not None:
        from glaciermap.pipeline.notify import parse_command

        parse_command(options.on_change)

    name = region.name
    log_path = workspace.run_log(name, year)
    lock = RunLock(workspace.run_lock(name, year), f"{name} {year}")
    try:
        lock.acquire()
    except TryLaterError as exc:
        with RunLog(log_path) as refused:  # appended beside the holder's lines, marked by its pid
            refused.write(f"run refused: {exc.message}")
        raise
    with lock, RunLog(log_path) as run_log:
        began = time.monotonic()
        record = RunRecord(workspace, name, year)
        record.begin()
        forced = (
            frozenset(pipeline.names[first_forced:]) if first_forced is not None else frozenset()
        )
        ctx = RunContext(workspace, region, year, options, run_log, weights, forced)
        result = RunResult(name, year, log_path, previous=lock.previous)
        run_log.info(f"run {name} {year} started: {' '.join(sys.argv[1:]) or 'run_year'}")
        if year == (today or dt.date.today()).year:
            run_log.warning(f"{year} is not over: its later acquisitions are still to come")
        if lock.previous is not None:
            result.swept = sweep(ctx.owned_folders())
            run_log.warning(
                f"the previous run ({lock.previous.describe()}) was killed before it finished; "
                f"continuing after its last finished stage, {len(result.swept)} temporary "
                "file(s) of it removed"
            )
        outcome, message = "interrupted", None
        try:
            for stage in pipeline.stages:
                if _run_stage(stage, ctx, record, result):
                    result.ran.append(stage.name)
                else:
                    result.skipped.append(stage.name)
                if stage.name == pipeline.notify_after and options.on_change is not None:
                    result.notified = _notify(stage, ctx, record)
            outcome = "done" if result.ran else "up to date"
        except TryLaterError as exc:
            outcome, message = "waiting", exc.message
            raise
        except GlaciermapError as exc:
            outcome, message = "failed", exc.message
            raise
        finally:
            ctx.close()
            result.seconds = time.monotonic() - began
            record.end(outcome, message)
            if outcome == "done":
                run_log.info(
                    f"run finished in {result.seconds:.1f} s: ran {', '.join(result.ran)}"
                    + (f"; up to date: {', '.join(result.skipped)}" if result.skipped else "")
                )
            elif outcome == "up to date":
                run_log.info("nothing to do: every stage is up to date")
            else:
                run_log.write(f"run ended ({outcome}) after {result.seconds:.1f} s")
    return result


def _why_run(stage: Stage, ctx: RunContext, digest: str) -> str | None:
    """Why ``stage`` must run (a short phrase for the log), or None when it is up to date."""
    if stage.name in ctx.forced:
        return "forced"
    catalog = ctx.workspace.catalog()
    try:
        stamp = catalog.stage_stamp(ctx.region.name, ctx.year, stage.name, STAMP_KEY)
    finally:
        catalog.close()
    if stamp is None:
        return "not done yet"
    if stamp.inputs_hash != digest:
        return "its inputs changed"
    missing = [p for p in stamp.outputs if not (ctx.workspace.root / p).exists()]
    if missing:
        return f"{len(missing)} output(s) missing, e.g. {missing[0]}"
    return None


def _run_stage(stage: Stage, ctx: RunContext, record: RunRecord, result: RunResult) -> bool:
    """Run ``stage`` unless it is up to date; True when it ran."""
    workspace, region, year = ctx.workspace, ctx.region.name, ctx.year
    digest = inputs_hash(stage, ctx)
    why = _why_run(stage, ctx, digest)
    if why is None:
        ctx.log.info(f"{stage.name}: up to date, skipped")
        catalog = workspace.catalog()
        try:
            stamp = catalog.stage_stamp(region, year, stage.name, STAMP_KEY)
        finally:
            catalog.close()
        if stamp is not None:
            result.outputs[stage.name] = [workspace.root / p for p in stamp.outputs]
        return False

    ctx.log.info(f"{stage.name}: started ({why})")
    catalog = workspace.catalog()
    try:
        catalog.remove_stage(region, year, stage.name, STAMP_KEY)  # its outputs are about to change
    finally:
        catalog.close()
    record.event(stage.name, "started", message=why)
    began = time.monotonic()
    try:
        stage.run(ctx)
        outputs = [Path(p) for p in stage.outputs(ctx)]
    except TryLaterError as exc:
        record.event(stage.name, "waiting", seconds=time.monotonic() - began, message=str(exc))
        ctx.log.write(f"{stage.name}: waiting: {exc.message}")
        raise
    except BAD_INPUT as exc:
        record.event(stage.name, "failed", seconds=time.monotonic() - began, message=str(exc))
        ctx.log.failure(f"{stage.name}: {exc}")
        raise
    except Exception as exc:
        # A failed stage (a remote service, a bug): one line on the terminal, the traceback in the log.
        why_failed = (
            exc.message if isinstance(exc, GlaciermapError) else f"{type(exc).__name__}: {exc}"
        )
        record.event(stage.name, "failed", seconds=time.monotonic() - began, message=why_failed)
        ctx.log.failure(f"{stage.name} failed: {why_failed}", exc)
        hint = exc.hint if isinstance(exc, GlaciermapError) and exc.hint else None
        where = f"the log has the details: {ctx.log.path}"
        raise StageError(
            f"stage {stage.name} failed: {why_failed}", f"{hint}; {where}" if hint else where
        ) from exc
    except BaseException:
        record.event(stage.name, "interrupted", seconds=time.monotonic() - began)
        ctx.log.write(f"{stage.name}: interrupted")
        inside = interrupt.finished()  # the stage's own account, without its advice
        what = f" ({inside.split(';')[0]})" if inside else ""
        interrupt.note(f"stage {stage.name} stopped{what}; run again to continue from it")
        raise
    missing = [p for p in outputs if not p.exists()]
    if missing:
        message = f"stage {stage.name} finished without writing {missing[0]}"
        record.event(stage.name, "failed", seconds=time.monotonic() - began, message=message)
        ctx.log.failure(message)
        raise StageError(message, "this is a bug: please report it with the run's log")
    workspace.record_stage(
        region, year, stage.name, inputs_hash=digest, outputs=outputs, key=STAMP_KEY
    )
    seconds = time.monotonic() - began
    record.event(stage.name, "finished", seconds=seconds)
    ctx.log.info(f"{stage.name}: finished in {seconds:.1f} s")
    result.outputs[stage.name] = outputs
    return True


def _notify(stage: Stage, ctx: RunContext, record: RunRecord) -> bool:
    """``--on-change`` after ``stage``: once per summary, when it says changed; True when it ran."""
    from glaciermap.io.files import file_digest
    from glaciermap.pipeline.notify import run_hook, summary_says_changed

    assert ctx.options.on_change is not None
    summary = ctx.summary_path
    try:
        changed = summary_says_changed(summary)
    except InputError as exc:
        ctx.log.warning(f"on-change: {exc}")
        return False
    if not changed:
        ctx.log.info("on-change: the summary says nothing changed; no notification")
        return False
    digest = file_digest(summary)
    last = last_event(ctx.workspace, ctx.region.name, ctx.year, stage.name, ("notified",))
    if last is not None and last[3] == digest:
        ctx.log.write("on-change: this summary was notified already")
        return False
    ctx.log.info(f"on-change: running {ctx.options.on_change} {summary}")
    code = run_hook(ctx.options.on_change, summary)
    if code != 0:
        ctx.log.warning(
            f"on-change: the command exited with {code}; the next run tries again"
            if code >= 0
            else "on-change: the command timed out; the next run tries again"
        )
        return False
    record.event(stage.name, "notified", message=digest)
    return True


__all__ = ["BAD_INPUT", "RunResult", "check_reference", "run_year"]
