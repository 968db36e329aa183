"""One ``glaciermap download`` run: search -> plan -> order -> (watch) -> fetch, remembered in the catalog.

Every step reads the catalog and the services first, so an interrupted or cron-repeated run continues
where it stopped: scenes already planned are kept, jobs are found by name, files already verified on
disk are not fetched again, and half-fetched ones resume. Running twice in a row orders nothing and
downloads nothing the second time.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap import interrupt
from glaciermap.catalog import Catalog
from glaciermap.download.orders import Orders, OrderState, Product, wanted_products
from glaciermap.download.plan import DownloadPlan, aoi_lonlat_wkt, plan_year, search_window
from glaciermap.errors import InputError, RemoteError
from glaciermap.io.http import (
    Fetched,
    Fetcher,
    NotRangeable,
    RemoteFile,
    check_content,
    part_path,
)
from glaciermap.io.lock import OutputLock
from glaciermap.regions import Region
from glaciermap.workspace import Workspace

if TYPE_CHECKING:
    from glaciermap.io.hyp3.api import Hyp3Client

log = logging.getLogger(__name__)

OFFLINE_HINT = (
    "check the network connection; without one, `glaciermap simulate` makes a simulated demo scene "
    "and `glaciermap download --import DIR` registers HyP3 products already on disk"
)


@dataclass
class DownloadReport:
    """What a run found, ordered and fetched."""

    plan: DownloadPlan
    states: list[OrderState] = field(default_factory=list)
    ordered: int = 0
    fetched: list[Fetched] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, error)

    def count(self, state: str) -> int:
        return sum(s.state == state for s in self.states)


# ----------------------------------------------------------------------------------------------------
# Search and plan


def find_plan(
    region: Region,
    year: int,
    *,
    acquisitions: int = 15,
    search_host: str | None = None,
    session: Any = None,
) -> DownloadPlan:
    """Search ASF for the year's scenes over the region and choose them (no credentials needed).

    Raises:
        RemoteError: the search failed; when the service cannot be reached at all (no network), the
            hint names what works offline: a simulated scene, or products already on disk.
    """
    from glaciermap.io.asf import SearchUnreachableError, search_scenes

    start, end = search_window(year, acquisitions)
    try:
        scenes = search_scenes(
            aoi_lonlat_wkt(region), start, end, region.orbit, host=search_host, session=session
        )
    except SearchUnreachableError as exc:
        raise RemoteError(exc.message, OFFLINE_HINT) from None
    return plan_year(region, year, scenes, acquisitions=acquisitions)


def record_plan(catalog: Catalog, plan: DownloadPlan) -> None:
    """Every planned scene in the catalog's ``scenes`` table (reference or partner)."""
    rows = []
    for slot in plan.slots:
        for planned in slot.passes:
            for scene in planned.reference.scenes:
                rows.append((scene, slot.index, "reference"))
            for _, partner in planned.pairs:
                rows.append((partner, slot.index, "partner"))
    with catalog.transaction() as db:
        for scene, index, role in rows:
            db.execute(
                "INSERT INTO scenes (scene_name, region, year, slot, acquired, relative_orbit, "
                "polarisation, footprint_wkt, role, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "'planned') ON CONFLICT(scene_name) DO UPDATE SET slot=excluded.slot, "
                "role=CASE WHEN scenes.role='reference' THEN 'reference' ELSE excluded.role END",
                (
                    scene.name,
                    plan.region,
                    plan.year,
                    index,
                    scene.start.isoformat(),
                    scene.relative_orbit,
                    scene.polarisation,
                    scene.footprint.wkt,
                    role,
                ),
            )


# ----------------------------------------------------------------------------------------------------
# Files


def _verified_products(catalog: Catalog, workspace: Workspace, region: str, year: int) -> set[str]:
    """Job ids whose files are all verified on disk (and still the size recorded)."""
    done: dict[str, bool] = {}
    for path, job_id, size, state in catalog.execute(
        "SELECT f.path, f.job_id, f.size, f.state FROM files f JOIN jobs j ON f.job_id = j.job_id "
        "WHERE j.region=? AND j.year=?",
        (region, year),
    ):
        on_disk = workspace.root / path
        # A zip of the recorded size, or a folder of the members preprocess reads.
        present = on_disk.is_dir() or (
            on_disk.is_file() and (size is None or on_disk.stat().st_size == size)
        )
        ok = state in ("verified", "imported") and present
        done[job_id] = done.get(job_id, True) and ok
    return {job for job, ok in done.items() if ok}


def _product_keys_fetched(
    catalog: Catalog, workspace: Workspace, region: str, year: int
) -> set[tuple[str, tuple[str, ...]]]:
    jobs = _verified_products(catalog, workspace, region, year)
    keys = set()
    for job_id, job_type, granules in catalog.execute(
        "SELECT job_id, job_type, granules FROM jobs WHERE region=? AND year=?", (region, year)
    ):
        if job_id in jobs:
            keys.add((job_type, tuple(json.loads(granules))))
    return keys


def _record_file(
    catalog: Catalog,
    workspace: Workspace,
    remote: RemoteFile,
    job_id: str,
    state: str,
    checksum: str | None,
) -> None:
    with catalog.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                workspace.relative(remote.path),
                remote.url,
                job_id,
                remote.size,
                checksum,
                state,
                time.time(),
            ),
        )


def _verifies_locally(path: Path) -> bool:
    try:
        check_content(path, path.name)
    except RemoteError:
        return False
    return True


def _recorded(catalog: Catalog, workspace: Workspace, path: Path) -> str | None:
    row = catalog.execute(
        "SELECT state FROM files WHERE path=?", (workspace.relative(path),)
    ).fetchone()
    return None if row is None else str(row[0])


def files_to_fetch(
    states: list[OrderState], catalog: Catalog, workspace: Workspace, raw_dir: Path
) -> tuple[list[tuple[RemoteFile, str]], int]:
    """``(file, job id)`` for every succeeded job's files not yet on disk (as the zip or as the
    unpacked folder of its members), and how many were skipped as there already."""
    from glaciermap.io.hyp3 import product_folder_problem, unpacked_folder

    wanted: list[tuple[RemoteFile, str]] = []
    skipped = 0
    for state in states:
        if state.state != "succeeded" or state.job is None:
            continue
        for listed in state.job.files:
            target = raw_dir / Path(listed.filename).name
            remote = RemoteFile(listed.url, target, size=listed.size)
            folder = unpacked_folder(target)
            whole = target.is_file() and (
                remote.size is None or target.stat().st_size == remote.size
            )
            done = False
            if whole:
                if _recorded(catalog, workspace, target) in ("verified", "imported"):
                    done = True
                elif _verifies_locally(target):
                    # Renamed by a run that stopped before it could record it: check, record.
                    _record_file(catalog, workspace, remote, state.job.job_id, "verified", None)
                    done = True
            elif (
                folder is not None
                and folder.is_dir()
                and (
                    _recorded(catalog, workspace, folder) == "verified"
                    or product_folder_problem(folder) is None
                )
            ):
                _record_members(catalog, workspace, folder, remote.url, state.job.job_id)
                done = True
            if done:
                skipped += 1
            else:
                wanted.append((remote, state.job.job_id))
    return wanted, skipped


def _record_members(
    catalog: Catalog, workspace: Workspace, folder: Path, url: str, job_id: str
) -> None:
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    with catalog.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, 'crc32', 'verified', ?)",
            (workspace.relative(folder), url, job_id, size, time.time()),
        )


def fetch_product(
    fetcher: Fetcher,
    remote: RemoteFile,
    *,
    whole_zips: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> Fetched:
    """A product file: only the members preprocess reads when the server allows it (into the
    unpacked folder ``raw/.../<base>/``), otherwise the whole zip."""
    from glaciermap.download.members import fetch_members
    from glaciermap.io.hyp3 import unpacked_folder

    folder = unpacked_folder(remote.path)
    if not whole_zips and folder is not None and remote.size:
        try:
            got = fetch_members(fetcher, remote.url, remote.size, folder, on_bytes)
        except NotRangeable as why:
            log.info("%s: fetching the whole zip (%s)", remote.path.name, why)
        else:
            size = sum(f.stat().st_size for f in got.folder.iterdir())
            return Fetched(got.folder, size, got.bytes_fetched, 0, "crc32")
    return fetcher.fetch(remote, on_bytes=on_bytes)


# ----------------------------------------------------------------------------------------------------
# The run


def download_year(
    workspace: Workspace,
    region: Region,
    year: int,
    *,
    hyp3: Hyp3Client,
    plan: DownloadPlan,
    watch: bool = False,
    poll_seconds: float = 60.0,
    watch_timeout: float = 6 * 3600.0,
    workers: int = 4,
    max_attempts: int = 3,
    whole_zips: bool = False,
    fetcher: Fetcher | None = None,
    on_jobs: Callable[[int, int], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    on_files: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadReport:
    """Order what ``plan`` needs from HyP3 and fetch what is ready into ``raw/<region>/<year>/``.

    The product folder is locked for the whole run: a second download of the region-year stops,
    naming this one (it would order the same jobs again).
    """
    raw = workspace.raw_dir(region.name, year)
    wanted: list[tuple[RemoteFile, str]] = []
    fetched: list[RemoteFile] = []  # appended by the fetching threads as each file is complete

    def finished() -> str:
        files = f"{len(fetched)} of {len(wanted)} files fetched" if wanted else "nothing fetched"
        return f"{files}; run again to continue (partly fetched files resume)"

    def seen(n: int) -> None:
        interrupt.check()  # the fetching threads stop with the main thread
        if on_bytes is not None:
            on_bytes(n)

    with OutputLock(raw, folder=True), interrupt.noting(finished):
        catalog = workspace.catalog()
        try:
            record_plan(catalog, plan)
            orders = Orders(hyp3, catalog, region.name, year, max_attempts=max_attempts)
            products: list[Product] = wanted_products(plan)
            fetched_keys = _product_keys_fetched(catalog, workspace, region.name, year)
            states = orders.survey(products, fetched=fetched_keys)
            report = DownloadReport(plan, states)
            report.ordered = len(orders.submit(states))
            if watch:
                orders.watch(
                    states,
                    interval=poll_seconds,
                    timeout=watch_timeout,
                    progress=on_jobs,
                    sleep=sleep,
                )
            elif on_jobs is not None:
                on_jobs(sum(s.state in ("succeeded", "given-up") for s in states), len(states))
            wanted[:], report.skipped = files_to_fetch(states, catalog, workspace, raw)
            if on_files is not None:
                on_files(len(wanted), sum(r.size or 0 for r, _ in wanted))
            for remote, job_id in wanted:
                _record_file(catalog, workspace, remote, job_id, "partial", None)
            fetcher = fetcher or Fetcher(sleep=sleep)

            def one(remote: RemoteFile) -> Fetched | BaseException:
                assert fetcher is not None
                try:
                    got = fetch_product(fetcher, remote, whole_zips=whole_zips, on_bytes=seen)
                except (RemoteError, InputError) as exc:
                    return exc
                fetched.append(remote)
                return got

            with ThreadPoolExecutor(
                max_workers=max(1, workers), thread_name_prefix="glaciermap-fetch"
            ) as pool:
                results = list(pool.map(one, [r for r, _ in wanted]))
            # Recorded here, in the catalog's own thread; a run killed before this point leaves
            # renamed files that the next run verifies locally (files_to_fetch) instead of fetching.
            for (remote, job_id), result in zip(wanted, results, strict=True):
                if isinstance(result, BaseException):
                    failure = getattr(result, "message", str(result))
                    report.failed.append((remote.path.name, failure))
                    _record_file(catalog, workspace, remote, job_id, "failed", None)
                elif result.path.is_dir():
                    report.fetched.append(result)
                    _record_members(catalog, workspace, result.path, remote.url, job_id)
                else:
                    report.fetched.append(result)
                    _record_file(catalog, workspace, remote, job_id, "verified", result.checksum)
            return report
        finally:
            catalog.close()


# ----------------------------------------------------------------------------------------------------
# Status and import


def status_rows(workspace: Workspace, region: str, year: int) -> dict[str, Any]:
    """What the catalog holds for a region and year: scenes, jobs by status, files by state."""
    catalog = workspace.catalog()
    try:
        scenes = catalog.execute(
            "SELECT slot, role, COUNT(*) FROM scenes WHERE region=? AND year=? GROUP BY slot, role",
            (region, year),
        ).fetchall()
        jobs = catalog.execute(
            "SELECT slot, job_type, status, COUNT(*) FROM jobs WHERE region=? AND year=? "
            "GROUP BY slot, job_type, status",
            (region, year),
        ).fetchall()
        files = catalog.execute(
            "SELECT f.state, COUNT(*), COALESCE(SUM(f.size), 0) FROM files f "
            "WHERE f.path LIKE ? GROUP BY f.state",
            (f"raw/{region}/{year}/%",),
        ).fetchall()
    finally:
        catalog.close()
    return {"scenes": scenes, "jobs": jobs, "files": files}


def import_products(workspace: Workspace, region: str, year: int, folder: Path) -> list[Path]:
    """Register HyP3 products a user fetched by hand: each verified, then copied (hard-linked where
    possible) into ``raw/<region>/<year>/`` under a temporary name and renamed; the catalog records
    them as ``imported``.

    Raises:
        InputError: the folder holds no HyP3 product, or one of them is damaged or holds members
            that would land outside its folder (nothing is imported).
    """
    from glaciermap.io.hyp3 import is_insar_name, is_rtc_name, open_product

    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder", "give the folder holding the product zips")
    found = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() == ".zip" and (is_rtc_name(p.stem) or is_insar_name(p.stem))
    )
    if not found:
        raise InputError(
            f"no HyP3 RTC_GAMMA or INSAR_GAMMA product zips in {folder}",
            "give the folder holding the zips as HyP3 delivered them (names unchanged)",
        )
    for path in found:
        try:
            check_content(path, path.name)
        except RemoteError as exc:
            raise InputError(
                f"{path.name} cannot be imported: {exc.message}", "fetch it again"
            ) from None
        open_product(path)  # preprocess's checks: members inside <base>/, the rasters it reads
    raw = workspace.raw_dir(region, year)
    with OutputLock(raw, folder=True):
        raw.mkdir(parents=True, exist_ok=True)
        catalog = workspace.catalog()
        imported = []
        try:
            for path in found:
                target = raw / path.name
                temporary = part_path(target)
                temporary.unlink(missing_ok=True)
                try:
                    temporary.hardlink_to(path)
                except OSError:
                    shutil.copyfile(path, temporary)
                temporary.replace(target)
                with catalog.transaction() as db:
                    db.execute(
                        "INSERT OR REPLACE INTO files VALUES (?, ?, NULL, ?, NULL, 'imported', ?)",
                        (
                            workspace.relative(target),
                            path.resolve().as_uri(),
                            target.stat().st_size,
                            time.time(),
                        ),
                    )
                imported.append(target)
        finally:
            catalog.close()
    return imported


__all__ = [
    "DownloadReport",
    "download_year",
    "files_to_fetch",
    "find_plan",
    "import_products",
    "record_plan",
    "status_rows",
]
