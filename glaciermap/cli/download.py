"""``glaciermap download``: a year of Sentinel-1 from ASF, processed by HyP3, fetched and verified."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from glaciermap.cli.options import Acquisitions, RegionName, Year, workers_option
from glaciermap.cli.state import AppState
from glaciermap.errors import InputError

# glaciermap.io.hyp3.api.PRODUCTION_API, repeated so that building the command imports no numpy (a test
# checks that they agree).
HYP3_API = "https://hyp3-api.asf.alaska.edu"


def download(
    ctx: typer.Context,
    region: RegionName = None,
    year: Year = None,
    acquisitions: Acquisitions = 15,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Search and print the plan; order and fetch nothing.")
    ] = False,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Wait for the HyP3 jobs (with progress), then fetch them."),
    ] = False,
    poll: Annotated[
        float, typer.Option(help="Seconds between HyP3 job checks with --watch.", min=0.0)
    ] = 60.0,
    status: Annotated[
        bool,
        typer.Option("--status", help="Show what the catalog holds for the region and year."),
    ] = False,
    import_dir: Annotated[
        Path | None,
        typer.Option(
            "--import",
            help="Register HyP3 product zips fetched by hand from this folder.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    workers: Annotated[int, workers_option("Files fetched at once.", show_default=True)] = 4,
    whole_zips: Annotated[
        bool,
        typer.Option(
            "--whole-zips",
            help="Fetch whole product zips, not only the members preprocess reads (co-pol "
            "backscatter, ls_map, coherence, README).",
        ),
    ] = False,
    max_attempts: Annotated[
        int, typer.Option(help="HyP3 jobs ordered per product before giving up on it.", min=1)
    ] = 3,
    search_host: Annotated[
        str | None,
        typer.Option(
            help="CMR host asf_search talks to (default: ASF's, cmr.earthdata.nasa.gov).",
            show_default=False,
        ),
    ] = None,
    hyp3_url: Annotated[str, typer.Option(help="HyP3 API to order from.")] = HYP3_API,
) -> None:
    """Search ASF for a year of Sentinel-1, order HyP3 RTC (10 m) and InSAR (10x2 looks), fetch them.

    The year's scenes over the region's AOI, in its orbit direction, are grouped by relative orbit
    ("stripes") and into 24-day slots; per slot the passes covering the AOI best are chosen, each with
    its partner 12 days later for coherence. HyP3 jobs are named after region, year and slot and found
    again on the next run, so running twice orders and downloads nothing new. Files arrive under
    `raw/REGION/YEAR/` only once complete and verified; interrupted ones resume.

    Log in to HyP3 with EARTHDATA_TOKEN, ~/.netrc (machine urs.earthdata.nasa.gov), or by typing a
    token when asked (only on a terminal, never under cron).

    Examples:

        glaciermap download --region svalbard --year 2016 --dry-run

        glaciermap download --region svalbard --year 2016 --watch

        glaciermap download --region svalbard --year 2016 --status
    """
    from glaciermap.calendar import check_year
    from glaciermap.download import run as downloads

    state: AppState = ctx.obj
    if region is None or year is None:
        raise InputError("download needs --region and --year", "e.g. --region svalbard --year 2016")
    check_year(year)  # before any search: ASF has nothing for such a year
    chosen = state.settings().region(region)
    workspace = state.workspace()
    if status:
        _print_status(state, downloads.status_rows(workspace, chosen.name, year), chosen.name, year)
        return
    if import_dir is not None:
        imported = downloads.import_products(workspace, chosen.name, year, import_dir)
        state.out.print(
            f"imported {len(imported)} product(s) into {workspace.raw_dir(chosen.name, year)}"
        )
        return

    from glaciermap.download.auth import connect, find_credentials

    # Credentials first (not needed for a dry run): a missing login fails before the search.
    credentials = None if dry_run else find_credentials()
    searching = state.err.status("Searching ASF…") if state.err.is_terminal else nullcontext()
    with searching:
        plan = downloads.find_plan(chosen, year, acquisitions=acquisitions, search_host=search_host)
    _print_plan(state, plan)
    if dry_run:
        return

    assert credentials is not None
    hyp3 = connect(credentials, hyp3_url)
    report = _run(
        state,
        workspace,
        chosen,
        year,
        hyp3=hyp3,
        plan=plan,
        watch=watch,
        poll_seconds=poll,
        workers=workers,
        max_attempts=max_attempts,
        whole_zips=whole_zips,
    )
    _print_report(state, report, workspace.raw_dir(chosen.name, year), watch)
    if report.failed:
        from glaciermap.errors import RemoteError

        _, why = report.failed[0]
        raise RemoteError(
            f"{len(report.failed)} file(s) could not be fetched; first: {why}",
            "run the download again: complete files are kept and partial ones resume",
        )


def _run(state: AppState, workspace: Any, region: Any, year: int, **settings: Any) -> Any:
    """``download_year`` with ``settings``, drawing its progress on stderr."""
    import threading

    from rich.progress import BarColumn, TextColumn

    progress = state.progress(BarColumn(), TextColumn("{task.fields[what]}"))
    lock = threading.Lock()
    fetched = [0]
    with progress:
        jobs = progress.add_task("HyP3 jobs", total=None, what="")
        files = progress.add_task("Fetching", total=None, what="", visible=False)

        def on_jobs(done: int, total: int) -> None:
            progress.update(jobs, completed=done, total=total, what=f"{done}/{total} done")

        def on_files(count: int, size: int) -> None:
            progress.update(files, total=size or None, visible=count > 0, what=f"{count} file(s)")

        def on_bytes(n: int) -> None:
            with lock:
                fetched[0] += n
                done = fetched[0]
            progress.update(files, completed=done, what=f"{done / 1e6:.1f} MB")

        from glaciermap.download.run import download_year

        return download_year(
            workspace,
            region,
            year,
            **settings,
            on_jobs=on_jobs,
            on_files=on_files,
            on_bytes=on_bytes,
        )


def _print_plan(state: AppState, plan) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(
        title=f"{plan.region} {plan.year}: {plan.scenes_found} {plan.direction} IW SLC scene(s) found"
    )
    for column in ("slot", "dates", "stripes", "scenes", "pairs", "AOI coverage", "coherence"):
        table.add_column(column, justify="right" if column not in ("dates", "stripes") else "left")
    for slot in plan.slots:
        table.add_row(
            f"{slot.index + 1}",
            ", ".join(f"{d:%Y-%m-%d}" for d in slot.dates) or f"({slot.start:%Y-%m-%d}: none)",
            ", ".join(str(s) for s in slot.stripes) or "-",
            str(len(slot.references)),
            str(len(slot.pairs)),
            f"{100 * slot.coverage:.1f} %",
            f"{100 * slot.coherence_coverage:.1f} %",
        )
    state.out.print(table)
    missing = plan.missing_slots
    state.out.print(
        "missing slots: " + (", ".join(str(m + 1) for m in missing) if missing else "none")
    )


def _print_report(state: AppState, report, raw: Path, watch: bool) -> None:  # type: ignore[no-untyped-def]
    counts = {k: report.count(k) for k in ("succeeded", "running", "given-up")}
    state.out.print(
        f"HyP3: {len(report.states)} product(s), {report.ordered} ordered now, "
        f"{counts['succeeded']} done, {counts['running']} running, {counts['given-up']} given up"
    )
    fetched_bytes = sum(f.bytes_fetched for f in report.fetched)
    state.out.print(
        f"files: {len(report.fetched)} fetched ({fetched_bytes / 1e6:.1f} MB), "
        f"{report.skipped} already verified, {len(report.failed)} failed -> {raw}"
    )
    if counts["running"] and not watch:
        state.out.print("jobs are still running: run again later, or with --watch to wait for them")


def _print_status(state: AppState, rows, region: str, year: int) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    scenes: dict[int, dict[str, int]] = {}
    for slot, role, count in rows["scenes"]:
        scenes.setdefault(slot, {})[role] = count
    jobs: dict[int, dict[str, int]] = {}
    for slot, _job_type, status, count in rows["jobs"]:
        entry = jobs.setdefault(slot, {})
        entry[status] = entry.get(status, 0) + count
    table = Table(title=f"catalog: {region} {year}")
    for column in ("slot", "scenes", "partners", "jobs succeeded", "running", "failed"):
        table.add_column(column, justify="right")
    for slot in sorted(set(scenes) | set(jobs)):
        s, j = scenes.get(slot, {}), jobs.get(slot, {})
        table.add_row(
            str(slot + 1),
            str(s.get("reference", 0)),
            str(s.get("partner", 0)),
            str(j.get("SUCCEEDED", 0)),
            str(j.get("RUNNING", 0) + j.get("PENDING", 0)),
            str(j.get("FAILED", 0)),
        )
    state.out.print(table)
    files = ", ".join(f"{n} {st} ({size / 1e6:.1f} MB)" for st, n, size in rows["files"]) or "none"
    state.out.print(f"files: {files}")
