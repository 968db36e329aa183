"""``glaciermap run``: the annual inventory update of a region, one command for cron."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

# HYP3_API: glaciermap.io.hyp3.api.PRODUCTION_API as `download` repeats it (its help loads no numpy).
from glaciermap.cli.download import HYP3_API
from glaciermap.cli.options import (
    WEIGHTS_HELP,
    Acquisitions,
    Cluster,
    Device,
    RegionName,
    Scheduler,
    Workers,
)
from glaciermap.cli.state import AppState
from glaciermap.errors import InputError
from glaciermap.pipeline import PIPELINE, RunOptions, last_complete_year

if TYPE_CHECKING:
    from glaciermap.pipeline import RunResult
    from glaciermap.pipeline.status import YearStatus

    StageName = str
else:
    StageName = Literal[PIPELINE.names]

_LAST_YEAR = last_complete_year()  # when the help is built: the default it shows is today's


def run(
    ctx: typer.Context,
    weights: Annotated[str, typer.Argument(help=WEIGHTS_HELP)] = "unet3d",
    region: RegionName = None,
    year: Annotated[
        int | None,
        typer.Option(
            "--year",
            "-y",
            help=f"Calendar year to map. Default: the last complete year ({_LAST_YEAR} today).",
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Inventory (RGI, NPI, GLIMS, any polygon file) whose glacier ids and names the "
            "first year keeps; later years take them from the year before.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="Where the year's products come from: asf (search ASF, order HyP3, fetch), a "
            "folder of HyP3 product zips to import, or simulate (the simulator; demos and tests).",
        ),
    ] = "asf",
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait for HyP3 to finish every job (hours) instead of exiting with 75.",
        ),
    ] = False,
    force: Annotated[
        StageName | None,
        typer.Option(help="Rerun this stage and every stage after it.", show_default=False),
    ] = None,
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Show each stage of the region's years (all regions without --region): done, "
            "pending or failed, when, how long, outputs, last error. Runs nothing.",
        ),
    ] = False,
    on_change: Annotated[
        str | None,
        typer.Option(
            help="Command run with the year's summary.json as its last argument when glaciers "
            "changed status or fronts were flagged (split like a shell line, run without one).",
            show_default=False,
        ),
    ] = None,
    acquisitions: Acquisitions = 15,
    seed: Annotated[
        int, typer.Option(help="Seed of --source simulate (the same glaciers every year).")
    ] = 0,
    device: Device = "auto",
    workers: Workers = None,
    poll: Annotated[
        float, typer.Option(help="Seconds between HyP3 job checks with --wait.", min=0.0)
    ] = 60.0,
    search_host: Annotated[
        str | None,
        typer.Option(help="CMR host asf_search talks to (default: ASF's).", show_default=False),
    ] = None,
    hyp3_url: Annotated[str, typer.Option(help="HyP3 API to order from.")] = HYP3_API,
    scheduler: Scheduler = None,
    cluster: Cluster = None,
) -> None:
    """Map a region's year and keep its inventory up to date: download (or import, or simulate),
    preprocess, predict, vectorize, update (inventory/REGION/YEAR/glaciers.gpkg, glacier ids kept from
    the year before or the reference), diff (changes.gpkg, summary.json) and report (report.html, a
    STAC item and catalog).

    Each stage is stamped in the workspace's catalog with a hash of its inputs (products, weights
    sha256, options, code version), so a repeated run skips every finished stage and a changed input
    (new weights, a late product) reruns that stage and those after it. A run killed at any point
    continues from the last finished stage; one run per region and year at a time. HyP3 jobs still
    processing end the run with exit code 75 ("try later"), so a daily cron line finishes the year by
    itself. Every run appends to the workspace's logs/run-REGION-YEAR.log. With --scheduler (or
    --cluster), preprocess, predict and vectorize run their tasks on that Dask cluster, whose workers
    must see the workspace at the same path; the simulator and the stages after vectorize run here.

    Exit codes: 0 done or nothing to do, 75 try later (HyP3 still processing, another run busy),
    2 bad input or configuration, 1 a stage failed (the log has the traceback).

    Examples:

        glaciermap run --region svalbard

        glaciermap run --region example --year 2016 --source simulate

        glaciermap run convlstm --region svalbard --year 2020 --reference rgi70_svalbard.gpkg

        glaciermap run --status
    """
    state: AppState = ctx.obj
    if status:
        from glaciermap.pipeline import run_status

        # A region name as the catalog has it (also one since removed from the config file).
        _print_status(state, run_status(state.workspace(), region, year))
        return
    if region is None:
        raise InputError("no region given", "pass --region (see `glaciermap regions`)")
    chosen = state.settings().region(region)
    options = RunOptions(
        weights=weights,
        source=source,
        reference=reference,
        acquisitions=acquisitions,
        wait=wait,
        poll_seconds=poll,
        force=force,
        on_change=on_change,
        seed=seed,
        device=device,
        workers=workers,
        cluster=state.cluster(scheduler, cluster),
        search_host=search_host,
        hyp3_url=hyp3_url,
    )
    from glaciermap.pipeline import run_year

    result = run_year(
        state.workspace(), chosen, year if year is not None else last_complete_year(), options
    )
    _print_result(state, result)


def _print_result(state: AppState, result: RunResult) -> None:
    what = f"{result.region} {result.year}"
    if result.nothing_to_do:
        line = f"{what}: up to date, nothing to do"
    else:
        line = f"{what}: ran {', '.join(result.ran)} in {result.seconds:.1f} s"
        if result.skipped:
            line += f" ({', '.join(result.skipped)} up to date)"
    last = list(result.outputs.values())[-1] if result.outputs else []  # the last stage's
    if last:
        line += f" → {last[0]}"  # the report, once the run went through
    state.out.print(line, markup=False, highlight=False)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return dt.datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M")


def _took(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _print_status(state: AppState, years: list[YearStatus]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from glaciermap.pipeline.status import outputs_summary

    if not years:
        state.out.print(f"no run yet in {state.workspace().root}", markup=False, highlight=False)
        return
    colours = {"done": "green", "failed": "red", "running": "cyan", "waiting": "yellow"}
    for year in years:
        table = Table(title=f"{year.region} {year.year}", title_justify="left")
        for column in ("stage", "state", "when", "took"):
            table.add_column(column, no_wrap=True)
        for column in ("outputs", "last error"):
            table.add_column(column, overflow="fold")  # paths and errors whole, wrapped
        for row in year.stages:
            colour = colours.get(row.state)
            table.add_row(
                row.stage,
                f"[{colour}]{row.state}[/]" if colour else row.state,
                _when(row.when),
                _took(row.seconds),
                escape(outputs_summary(row.outputs)),
                escape(row.note or ""),
            )
        state.out.print(table)
        if year.holder is not None:
            state.out.print(f"running now: {year.holder.describe()}", markup=False)
        if year.last_run is not None:
            run = year.last_run
            outcome = run.outcome or ("running" if year.holder is not None else "killed")
            message = f" ({run.message})" if run.message else ""
            state.out.print(
                f"last run: {_when(run.started)}, pid {run.pid}: {outcome}{message}",
                markup=False,
                highlight=False,
            )
        state.out.print(f"log: {year.log}", markup=False, highlight=False)
