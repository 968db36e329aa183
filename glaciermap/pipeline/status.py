"""``glaciermap run --status``: per region and year, where each stage stands, from the catalog.

A stage is

* ``done``: stamped, and every stamped output exists (when it finished, how long it took);
* ``running``: started by the run holding the lock now;
* ``failed``: its last run failed after its last stamp (the error);
* ``waiting``: its last run waits for something outside (HyP3 jobs still processing);
* ``pending``: not done yet, or its outputs went missing, or the run doing it was killed.

The states come from the stamps (the ``stages`` table) and the runs' events (``runs``, ``stage_events``,
written by :mod:`glaciermap.pipeline.runlog`); whether a done stage's inputs changed since is known only
to a run with its options (a run reruns it then).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from glaciermap.io.lock import Holder, current_holder
from glaciermap.pipeline import stages
from glaciermap.pipeline.runlog import last_event
from glaciermap.pipeline.stages import STAMP_KEY, Pipeline
from glaciermap.workspace import Workspace

STATES = ("done", "running", "failed", "waiting", "pending")


@dataclass(frozen=True)
class StageStatus:
    """One row of the status table; ``when`` is seconds since the epoch, ``outputs`` relative to the
    workspace."""

    stage: str
    state: str
    when: float | None = None
    seconds: float | None = None
    outputs: tuple[str, ...] = ()
    note: str | None = None  # the last error, what it waits for, why it is pending


@dataclass(frozen=True)
class LastRun:
    started: float
    finished: float | None
    outcome: str | None
    message: str | None
    pid: int


@dataclass(frozen=True)
class YearStatus:
    """The stages of one region-year, the run holding its lock now (if any) and the last run."""

    region: str
    year: int
    stages: tuple[StageStatus, ...]
    holder: Holder | None
    last_run: LastRun | None
    log: Path


def region_years(workspace: Workspace) -> list[tuple[str, int]]:
    """Every region-year a run has worked on, sorted."""
    catalog = workspace.catalog()
    try:
        rows = catalog.execute(
            "SELECT region, year FROM runs UNION SELECT region, year FROM stages WHERE key=?",
            (STAMP_KEY,),
        ).fetchall()
    finally:
        catalog.close()
    return sorted({(str(r), int(y)) for r, y in rows})


def run_status(
    workspace: Workspace,
    region: str | None = None,
    year: int | None = None,
    *,
    pipeline: Pipeline | None = None,
) -> list[YearStatus]:
    """The status of every region-year a run worked on (only ``region`` / ``year`` when given; a
    region-year given in full is listed even before its first run)."""
    chosen = [
        (r, y)
        for r, y in region_years(workspace)
        if (region is None or r == region) and (year is None or y == year)
    ]
    if region is not None and year is not None and not chosen:
        chosen = [(region, year)]
    return [_year_status(workspace, r, y, pipeline or stages.PIPELINE) for r, y in chosen]


def _year_status(workspace: Workspace, region: str, year: int, pipeline: Pipeline) -> YearStatus:
    holder = current_holder(workspace.run_lock(region, year))
    catalog = workspace.catalog()
    try:
        stamps = {
            name: catalog.stage_stamp(region, year, name, STAMP_KEY) for name in pipeline.names
        }
        row = catalog.execute(
            "SELECT started, finished, outcome, message, pid FROM runs WHERE region=? AND year=? "
            "ORDER BY started DESC LIMIT 1",
            (region, year),
        ).fetchone()
    finally:
        catalog.close()
    last_run = None if row is None else LastRun(row[0], row[1], row[2], row[3], int(row[4]))
    rows = []
    for name in pipeline.names:
        stamp = stamps[name]
        last = last_event(workspace, region, year, name, _STAGE_EVENTS)
        finished = last_event(workspace, region, year, name, ("finished",))
        took = finished[2] if finished is not None else None
        event, at, seconds, message = last if last is not None else (None, None, None, None)
        after_stamp = at is not None and (stamp is None or at > stamp.finished)
        if event == "started" and after_stamp and holder is not None:
            rows.append(StageStatus(name, "running", at, note=f"run {_by(holder)}"))
        elif event == "failed" and after_stamp:
            rows.append(StageStatus(name, "failed", at, seconds, note=message))
        elif event == "waiting" and after_stamp:
            rows.append(StageStatus(name, "waiting", at, note=message))
        elif stamp is not None:
            missing = [p for p in stamp.outputs if not (workspace.root / p).exists()]
            if missing:
                rows.append(
                    StageStatus(
                        name,
                        "pending",
                        stamp.finished,
                        took,
                        stamp.outputs,
                        f"missing {missing[0]}",
                    )
                )
            else:
                rows.append(StageStatus(name, "done", stamp.finished, took, stamp.outputs))
        else:
            note = "interrupted" if event in ("started", "interrupted") else None
            rows.append(StageStatus(name, "pending", at if note else None, note=note))
    return YearStatus(region, year, tuple(rows), holder, last_run, workspace.run_log(region, year))


_STAGE_EVENTS = ("started", "finished", "failed", "waiting", "interrupted")


def _by(holder: Holder) -> str:
    return "by this process" if holder.pid == os.getpid() else f"by {holder.describe()}"


def outputs_summary(outputs: tuple[str, ...]) -> str:
    """``3 files in predictions/example/2016/unet3d`` (their common folder), or ``-``."""
    if not outputs:
        return "-"
    if len(outputs) == 1:
        return outputs[0]
    common = os.path.commonpath(outputs)
    return f"{len(outputs)} files in {common or '.'}"


__all__ = [
    "STATES",
    "LastRun",
    "StageStatus",
    "YearStatus",
    "outputs_summary",
    "region_years",
    "run_status",
]
