"""The workspace's SQLite catalog: what was found, ordered, downloaded and produced.

One file, ``catalog.sqlite``, so that an interrupted or cron-repeated run knows where it stopped. The
schema is versioned with ``PRAGMA user_version`` and migrated forward on open (after a copy to
``catalog.sqlite.schema<N>.bak``); each migration is a list of SQL statements appended to
:data:`MIGRATIONS` (never edited once released). WAL mode and a 30 s busy timeout let several processes
(a cron run, a hand-run stage) write at once; each write is one short transaction.

Tables:
    scenes   Sentinel-1 scenes found by search, per region/year and 24-day slot.
    jobs     HyP3 jobs (RTC / InSAR) by job id and name, with status and expiry.
    files    downloaded or imported files: URL, size, checksum and state (partial / verified).
    stages   stage stamps: which stage finished for which region/year, with a hash of its inputs, so a
             repeated run can skip work that is already done.
    runs     each ``glaciermap run``: region/year, pid, start, end and outcome (schema 2).
    stage_events  what each run's stages did: started, finished (with seconds), failed (with the
             error), waiting, interrupted, notified (schema 2); ``glaciermap run --status`` reads them.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glaciermap.errors import WorkspaceError

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE scenes (
            scene_name TEXT PRIMARY KEY,
            region TEXT NOT NULL,
            year INTEGER NOT NULL,
            slot INTEGER,
            acquired TEXT NOT NULL,          -- ISO 8601 UTC
            relative_orbit INTEGER,
            polarisation TEXT,
            footprint_wkt TEXT,
            role TEXT,                       -- reference | partner
            state TEXT NOT NULL DEFAULT 'found'
        )""",
        "CREATE INDEX scenes_region_year ON scenes(region, year)",
        """CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            job_type TEXT NOT NULL,          -- RTC_GAMMA | INSAR_GAMMA
            region TEXT NOT NULL,
            year INTEGER NOT NULL,
            slot INTEGER,
            granules TEXT NOT NULL,          -- JSON list of scene names
            status TEXT NOT NULL,
            expires TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            updated REAL NOT NULL
        )""",
        "CREATE INDEX jobs_name ON jobs(name)",
        """CREATE TABLE files (
            path TEXT PRIMARY KEY,           -- relative to the workspace root
            url TEXT,
            job_id TEXT,
            size INTEGER,
            checksum TEXT,                   -- 'md5:...' or 'sha256:...'
            state TEXT NOT NULL,             -- partial | verified | imported | failed
            updated REAL NOT NULL
        )""",
        """CREATE TABLE stages (
            region TEXT NOT NULL,
            year INTEGER NOT NULL,
            stage TEXT NOT NULL,
            key TEXT NOT NULL DEFAULT '',    -- e.g. model name for predict
            inputs_hash TEXT NOT NULL,
            outputs TEXT NOT NULL,           -- JSON list of paths relative to the workspace
            finished REAL NOT NULL,
            PRIMARY KEY (region, year, stage, key)
        )""",
    ],
    # 2: what `glaciermap run` did, for `run --status` (the stamps themselves stay in `stages`).
    [
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,         -- <pid>-<start, microseconds since the epoch>
            region TEXT NOT NULL,
            year INTEGER NOT NULL,
            pid INTEGER NOT NULL,
            started REAL NOT NULL,
            finished REAL,                   -- NULL while running, or after a kill
            outcome TEXT,                    -- done | up to date | waiting | failed | interrupted
            message TEXT
        )""",
        "CREATE INDEX runs_region_year ON runs(region, year, started)",
        """CREATE TABLE stage_events (
            run_id TEXT NOT NULL,
            region TEXT NOT NULL,
            year INTEGER NOT NULL,
            stage TEXT NOT NULL,
            event TEXT NOT NULL,             -- started | finished | failed | waiting | interrupted |
                                             -- notified
            at REAL NOT NULL,
            seconds REAL,                    -- how long the stage ran (finished, failed)
            message TEXT                     -- the error (failed, waiting), what was notified
        )""",
        "CREATE INDEX stage_events_stage ON stage_events(region, year, stage, at)",
    ],
]


TABLES = frozenset({"scenes", "jobs", "files", "stages", "runs", "stage_events"})
"""The tables :data:`MIGRATIONS` create."""


@dataclass(frozen=True)
class StageStamp:
    """A record that ``stage`` finished for ``region``/``year`` with these inputs and outputs."""

    region: str
    year: int
    stage: str
    key: str
    inputs_hash: str
    outputs: tuple[str, ...]
    finished: float


class Catalog:
    """A thin, explicit wrapper over the catalog database (no ORM)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=30)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._check()
        except (sqlite3.DatabaseError, WorkspaceError) as exc:
            self._db.close()  # so SQLite removes the -wal and -shm files it made
            if isinstance(exc, WorkspaceError):
                raise
            raise WorkspaceError(
                f"{path} is not a usable glaciermap catalog ({exc})",
                "move it away; glaciermap creates a new one on the next run",
            ) from None

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise WorkspaceError(
                f"{self.path} was written by a newer glaciermap (schema {version})",
                "upgrade glaciermap",
            )
        if 0 < version < len(MIGRATIONS):
            self._back_up(version)
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._db:
                for sql in statements:
                    self._db.execute(sql)
                self._db.execute(f"PRAGMA user_version = {number}")

    def backup_path(self, version: int) -> Path:
        """Where the catalog of schema ``version`` is kept before migrating it."""
        return self.path.with_name(f"{self.path.name}.schema{version}.bak")

    def _back_up(self, version: int) -> None:
        """Copy the catalog (consistently, with SQLite's backup API) before a migration changes it,
        under a temporary name renamed at the end, so a failed migration never costs the old one."""
        from glaciermap.io.files import atomic_output

        with atomic_output(self.backup_path(version)) as tmp:
            target = sqlite3.connect(tmp)
            try:
                self._db.backup(target)
            finally:
                target.close()

    def _check(self) -> None:
        """Raise :class:`sqlite3.DatabaseError` for damaged pages or missing tables, so a damaged
        catalog is one line at open, not a traceback (or silently empty tables) later."""
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            lines = [line for line in str(problems[0]).splitlines() if not line.startswith("***")]
            raise sqlite3.DatabaseError("; ".join(lines) or "damaged")
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        missing = sorted(TABLES - tables)
        if missing:
            raise sqlite3.DatabaseError(f"no table {', '.join(missing)}")

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically (commit on success, roll back on error)."""
        with self._db:
            yield self._db

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise ValueError(f"unknown catalog table {table!r}")
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def record_stage(
        self,
        region: str,
        year: int,
        stage: str,
        *,
        inputs_hash: str,
        outputs: list[str],
        key: str = "",
    ) -> None:
        """Stamp ``stage`` as finished (replacing an earlier stamp)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?, ?, ?, ?)",
                (region, year, stage, key, inputs_hash, json.dumps(outputs), time.time()),
            )

    def stage_stamp(self, region: str, year: int, stage: str, key: str = "") -> StageStamp | None:
        """The stamp of a finished stage, or None."""
        row = self._db.execute(
            "SELECT region, year, stage, key, inputs_hash, outputs, finished FROM stages "
            "WHERE region=? AND year=? AND stage=? AND key=?",
            (region, year, stage, key),
        ).fetchone()
        if row is None:
            return None
        return StageStamp(row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), row[6])

    def remove_stage(self, region: str, year: int, stage: str, key: str = "") -> None:
        """Drop the stamp of ``stage`` (its outputs are about to be rewritten)."""
        with self._db:
            self._db.execute(
                "DELETE FROM stages WHERE region=? AND year=? AND stage=? AND key=?",
                (region, year, stage, key),
            )

    def stage_stamps(self) -> list[StageStamp]:
        rows = self._db.execute(
            "SELECT region, year, stage, key, inputs_hash, outputs, finished FROM stages "
            "ORDER BY region, year, finished"
        ).fetchall()
        return [
            StageStamp(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6]) for r in rows
        ]

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Escape hatch for stage modules that own their tables' queries."""
        return self._db.execute(sql, params)
