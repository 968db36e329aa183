"""What a run did: plain timestamped lines in ``logs/run-<region>-<year>.log`` and rows in the catalog.

The log is for people (``tail -f``, cron mail, ``grep``): one line per event, ``<ISO time> [pid] text``,
appended by every run, with tracebacks only here (the terminal gets one line). The catalog's ``runs``
and ``stage_events`` tables (schema 2 of :mod:`glaciermap.catalog`) are for ``glaciermap run --status``:
when each stage last started, finished (and how long it took), failed (and why) or waited.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TextIO

from glaciermap.io.lock import now_iso
from glaciermap.workspace import Workspace

log = logging.getLogger("glaciermap.pipeline")

EVENTS = ("started", "finished", "failed", "waiting", "interrupted", "notified")
"""What ``stage_events.event`` may say."""


class _ToRunLog(logging.Handler):
    """Library log records (``glaciermap.*``, except the pipeline's own echo) into the run's log."""

    def __init__(self, run_log: RunLog) -> None:
        super().__init__(logging.INFO)
        self.run_log = run_log

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(log.name):
            return
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        self.run_log.write(f"{level}{record.getMessage()}")


class RunLog:
    """The run's log file, opened for appending; each line is also echoed to the terminal's logger."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._handler = _ToRunLog(self)

    def __enter__(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8", buffering=1)  # line-buffered
        logging.getLogger("glaciermap").addHandler(self._handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        logging.getLogger("glaciermap").removeHandler(self._handler)
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, text: str) -> None:
        """Append ``text`` (one line per line of it) with the time and this process's id."""
        if self._file is None:
            return
        stamp = f"{now_iso()} [{os.getpid()}] "
        self._file.write("".join(f"{stamp}{line}\n" for line in text.splitlines() or [""]))

    def info(self, text: str) -> None:
        """A line in the log, and on the terminal (stderr) unless --quiet."""
        self.write(text)
        log.info(text)

    def warning(self, text: str) -> None:
        self.write(f"warning: {text}")
        log.warning(text)

    def failure(self, text: str, exc: BaseException | None = None) -> None:
        """An error line with the traceback, in the log only: the terminal gets the one-line error."""
        self.write(f"error: {text}")
        if exc is not None:
            self.write("".join(traceback.format_exception(exc)).rstrip())


class RunRecord:
    """The catalog rows of one run: its ``runs`` row and its stages' events."""

    def __init__(self, workspace: Workspace, region: str, year: int) -> None:
        self.workspace = workspace
        self.region = region
        self.year = year
        self.started = time.time()
        self.run_id = f"{os.getpid()}-{int(self.started * 1e6)}"

    def begin(self) -> None:
        catalog = self.workspace.catalog()
        try:
            with catalog.transaction() as db:
                db.execute(
                    "INSERT INTO runs (run_id, region, year, pid, started) VALUES (?, ?, ?, ?, ?)",
                    (self.run_id, self.region, self.year, os.getpid(), self.started),
                )
        finally:
            catalog.close()

    def event(
        self, stage: str, event: str, *, seconds: float | None = None, message: str | None = None
    ) -> None:
        """One stage event (one of :data:`EVENTS`)."""
        assert event in EVENTS, event
        catalog = self.workspace.catalog()
        try:
            with catalog.transaction() as db:
                db.execute(
                    "INSERT INTO stage_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.run_id,
                        self.region,
                        self.year,
                        stage,
                        event,
                        time.time(),
                        seconds,
                        message,
                    ),
                )
        finally:
            catalog.close()

    def end(self, outcome: str, message: str | None = None) -> None:
        catalog = self.workspace.catalog()
        try:
            with catalog.transaction() as db:
                db.execute(
                    "UPDATE runs SET finished=?, outcome=?, message=? WHERE run_id=?",
                    (time.time(), outcome, message, self.run_id),
                )
        finally:
            catalog.close()


def last_event(
    workspace: Workspace, region: str, year: int, stage: str, events: tuple[str, ...] = EVENTS
) -> tuple[str, float, float | None, str | None] | None:
    """``(event, time, seconds, message)`` of the stage's latest event among ``events``, or None."""
    catalog = workspace.catalog()
    try:
        marks = ", ".join("?" * len(events))
        row = catalog.execute(
            "SELECT event, at, seconds, message FROM stage_events WHERE region=? AND year=? "
            f"AND stage=? AND event IN ({marks}) ORDER BY at DESC, rowid DESC LIMIT 1",
            (region, year, stage, *events),
        ).fetchone()
    finally:
        catalog.close()
    return None if row is None else (str(row[0]), float(row[1]), row[2], row[3])


__all__ = ["EVENTS", "RunLog", "RunRecord", "last_event"]
