"""The first stage of a run, ``download``: a year of HyP3 products into ``raw/<region>/<year>/``.

Three sources, one stage (``--source``):

* ``asf``: the real download (:mod:`glaciermap.download.run`): search ASF, order HyP3, fetch what is
  ready. Jobs still processing end the run with :class:`~glaciermap.errors.TryLaterError` (exit 75), so a
  daily cron line finishes the year by itself; ``--wait`` watches them instead. Its stamp depends on
  the region, year and slots, and, until the year's scenes have settled in ASF's catalogue
  (:func:`settled_on`), on the day: a run searches again once a day for late scenes, and a search that
  finds nothing new changes nothing downstream.
* a folder: the product zips in it are verified and imported (hard-linked where possible); a new or
  changed zip there reruns the stage.
* ``simulate``: the simulator writes the year (demos, tests); the same seed gives the same landscape,
  hence the same glaciers, every year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glaciermap import __version__
from glaciermap.calendar import REPEAT_DAYS, chosen_slots, slot_end
from glaciermap.errors import InputError, RemoteError, TryLaterError
from glaciermap.pipeline.context import ASF, SIMULATE, RunContext

SETTLE_DAYS = 30
"""Days after the last partner pass of the year after which ASF's catalogue is taken as complete (ASF
lists most scenes within a day or two; a month leaves room for reprocessing and late deliveries)."""


_SOURCE_HINT = "give asf, simulate, or a folder holding HyP3 product zips"


def settled_on(year: int, acquisitions: int) -> dt.date:
    """The first day on which the year's search is taken as final (no more daily searches)."""
    last = chosen_slots(year, acquisitions)[-1]
    return slot_end(year, last) + dt.timedelta(days=REPEAT_DAYS + 1 + SETTLE_DAYS)


def source_inputs(ctx: RunContext, today: dt.date | None = None) -> Mapping[str, Any]:
    """What the ``download`` stage's products depend on, per source."""
    options = ctx.options
    region = ctx.region_identity()
    folder = options.source_folder
    if folder is not None:
        if not folder.is_dir():
            raise InputError(f"--source {folder} is not a folder", _SOURCE_HINT)
        zips = sorted(
            [p.name, s.st_size, s.st_mtime_ns]
            for p in folder.iterdir()
            if p.suffix.lower() == ".zip" and not p.name.startswith(".")
            for s in [p.stat()]
        )
        return {"source": "folder", "folder": str(folder.resolve()), "products": zips}
    if options.source == SIMULATE:
        return {
            "source": SIMULATE,
            "region": region,
            "seed": options.seed,
            "acquisitions": options.acquisitions,
            "cross_pol": False,
            "version": __version__,  # the simulator's code decides the products
        }
    today = today or dt.date.today()
    settled = today >= settled_on(ctx.year, options.acquisitions)
    return {
        "source": ASF,
        "region": region,
        "acquisitions": options.acquisitions,
        "searched_on": None if settled else today.isoformat(),
    }


def run_source(ctx: RunContext) -> None:
    """Fill ``raw/<region>/<year>/`` from the chosen source."""
    ctx.raw_dir.mkdir(parents=True, exist_ok=True)
    folder = ctx.options.source_folder
    if folder is not None:
        _import(ctx, folder)
    elif ctx.options.source == SIMULATE:
        _simulate(ctx)
    else:
        _download(ctx)


def source_outputs(ctx: RunContext) -> Sequence[Path]:
    """The products (zips or unpacked folders) and other entries now in ``raw/<region>/<year>/``."""
    if not ctx.raw_dir.is_dir():
        return []
    return sorted(p for p in ctx.raw_dir.iterdir() if not p.name.startswith("."))


def _import(ctx: RunContext, folder: Path) -> None:
    from glaciermap.download.run import import_products

    imported = import_products(ctx.workspace, ctx.region.name, ctx.year, folder)
    ctx.log.info(f"download: imported {len(imported)} product(s) from {folder}")


def _simulate(ctx: RunContext) -> None:
    from glaciermap.calendar import chosen_slots
    from glaciermap.simulate.scene import simulate_year

    result = simulate_year(
        ctx.region,
        ctx.year,
        ctx.raw_dir,
        seed=ctx.options.seed,
        slots=chosen_slots(ctx.year, ctx.options.acquisitions),  # the slots ASF's would fill
        cross_pol=False,  # preprocess reads the co-polarised band only
        workers=ctx.workers,
    )
    ctx.log.info(
        f"download: simulated {len(result.rtc_products)} RTC and {len(result.insar_products)} "
        f"InSAR product(s) (seed {ctx.options.seed})"
    )


def _download(ctx: RunContext) -> None:
    from glaciermap.download import run as downloads
    from glaciermap.download.auth import connect, find_credentials
    from glaciermap.io.hyp3.api import PRODUCTION_API

    options = ctx.options
    credentials = find_credentials()  # before the search: a missing login fails at once
    plan = downloads.find_plan(
        ctx.region, ctx.year, acquisitions=options.acquisitions, search_host=options.search_host
    )
    ctx.log.info(
        f"download: {plan.scenes_found} scene(s) found; {len(plan.slots)} slot(s), missing: "
        + (", ".join(str(m + 1) for m in plan.missing_slots) or "none")
    )
    hyp3 = connect(credentials, options.hyp3_url or PRODUCTION_API)
    report = downloads.download_year(
        ctx.workspace,
        ctx.region,
        ctx.year,
        hyp3=hyp3,
        plan=plan,
        watch=options.wait,
        poll_seconds=options.poll_seconds,
    )
    running = sum(s.state not in ("succeeded", "given-up") for s in report.states)
    fetched = sum(f.bytes_fetched for f in report.fetched)
    ctx.log.info(
        f"download: HyP3 {len(report.states)} product(s), {report.ordered} ordered now, "
        f"{report.count('succeeded')} done, {running} running, {report.count('given-up')} given up; "
        f"files {len(report.fetched)} fetched ({fetched / 1e6:.1f} MB), {report.skipped} already "
        f"verified, {len(report.failed)} failed"
    )
    if report.failed:
        _, why = report.failed[0]
        raise RemoteError(
            f"{len(report.failed)} file(s) could not be fetched; first: {why}",
            "the next run fetches them again (complete files are kept, partial ones resume)",
        )
    if running:
        raise TryLaterError(
            f"{running} jobs still running at HyP3; the next run continues",
            "run again later (a daily cron line finishes the year by itself), or pass --wait",
        )
    if report.count("given-up"):
        ctx.log.warning(
            f"download: {report.count('given-up')} product(s) failed at HyP3 too often and were "
            "given up; the year goes on without them"
        )
    if not report.states:
        raise InputError(
            f"ASF lists no Sentinel-1 scene for {ctx.region.name} in {ctx.year}",
            "check the region's AOI and orbit direction, and the year",
        )


__all__ = ["SETTLE_DAYS", "run_source", "settled_on", "source_inputs", "source_outputs"]
