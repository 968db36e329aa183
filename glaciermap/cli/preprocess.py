"""``glaciermap preprocess``: a year of HyP3 products -> per-tile time-series stacks, with labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glaciermap.cli.options import (
    Cluster,
    RegionName,
    ResamplingName,
    Scheduler,
    Workers,
    Year,
    output_option,
)
from glaciermap.cli.state import AppState
from glaciermap.errors import InputError


def preprocess(
    ctx: typer.Context,
    input_dir: Annotated[
        Path | None,
        typer.Argument(
            help="Folder of HyP3 products outside a workspace (then give -o). "
            "Default: the workspace's raw/REGION/YEAR/.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        output_option(
            "Stack folder when INPUT_DIR is given (labels go to its labels/). "
            "Default: the workspace's stacks/REGION/YEAR/.",
            folder=True,
        ),
    ] = None,
    region: RegionName = None,
    year: Year = None,
    inventory: Annotated[
        Path | None,
        typer.Option(
            help="Glacier outlines (RGI, NPI, any polygon file) to rasterise as training labels.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            help="'random' (60/20/20 among tiles with glacier, fixed seed) or a tile grid file with "
            "columns codename and subset.",
        ),
    ] = "random",
    acquisitions: Annotated[
        int, typer.Option(help="24-day slots of the year (15 covers it).", min=1, max=15)
    ] = 15,
    min_acquisitions: Annotated[
        int, typer.Option(help="Fewest slots with data accepted.", min=1)
    ] = 3,
    workers: Workers = None,
    coherence_resampling: Annotated[
        ResamplingName, typer.Option(help="Resampling of the 40 m coherence onto the 10 m grid.")
    ] = "bilinear",
    scheduler: Scheduler = None,
    cluster: Cluster = None,
) -> None:
    """Mosaic a year of HyP3 RTC + InSAR products into time-series stacks on the region's tile grid.

    Writes one Cloud-Optimised GeoTIFF per tile with data (`tiles/TILE_ID.tif`: T x C float32 bands,
    time-major, co-pol dB then coherence, NaN no data), `stack.vrt` joining them, `tiles.gpkg` (tile
    polygons, split, valid and glacier fractions) and `stack.json` (dates, missing slots, grid,
    normalisation statistics). With `--inventory`, also uint8 labels per tile (1 glacier, 0 not,
    255 never observed). The stack is a cache of its inputs: it is rebuilt when they change (products,
    inventory, split, settings) and skipped when they do not, so no --overwrite is needed; a stopped
    run is finished by the next one, which keeps the tiles it had written. In a workspace --year is
    required; with INPUT_DIR it is inferred from the products when not given. One task per tile, on
    local processes or on a Dask cluster (--scheduler, --cluster).

    Examples:

        glaciermap preprocess --region svalbard --year 2020 --inventory rgi.shp

        glaciermap preprocess products/ -o stack/ --region example --year 2016
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from glaciermap.preprocess.stack import build_stack

    state: AppState = ctx.obj
    if region is None:
        raise InputError("no region given", "pass --region (see `glaciermap regions`)")
    chosen = state.settings().region(region)
    workspace = None
    if input_dir is not None:
        if output is None:
            raise InputError(
                f"no output folder for the products in {input_dir}",
                "pass -o STACK_DIR, or leave out INPUT_DIR to work in the workspace",
            )
        stack_dir = output
    else:
        if output is not None:
            raise InputError(
                "-o is only for products outside a workspace",
                "give INPUT_DIR too, or leave out -o to write into the workspace",
            )
        if year is None:
            raise InputError("no year given", "pass --year (e.g. --year 2020)")
        workspace = state.workspace()
        input_dir = workspace.raw_dir(chosen.name, year)
        stack_dir = workspace.stack_dir(chosen.name, year)

    progress = state.progress(
        BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[tile]}")
    )
    with state.executor(workers, scheduler, cluster) as executor, progress:
        task = progress.add_task(f"Stacking {chosen.name}", total=None, tile="")

        def on_tile(done: int, total: int, tile_id: str) -> None:
            progress.update(task, completed=done, total=total, tile=tile_id)

        result = build_stack(
            chosen,
            input_dir,
            stack_dir,
            year=year,
            inventory=inventory,
            split=split,
            n_slots=acquisitions,
            min_acquisitions=min_acquisitions,
            coherence_resampling=coherence_resampling,
            workers=executor,
            progress=on_tile,
        )

    meta = result.meta
    if workspace is not None:
        workspace.record_stage(
            chosen.name,
            meta.year,
            "preprocess",
            inputs_hash=meta.inputs_hash,
            outputs=result.outputs,
            skipped=result.skipped,
        )

    if result.skipped:
        state.out.print(
            f"up to date: {len(meta.tiles)} tile(s) in {result.stack_dir}",
            markup=False,
            highlight=False,
        )
        return
    if meta.missing_slots:
        missing = ", ".join(meta.dates[i].isoformat() for i in meta.missing_slots)
        state.status(f"[yellow]missing slots:[/] {escape(missing)} (left as NaN bands)")
    counts = {s: list(meta.splits.values()).count(s) for s in ("train", "val", "test")}
    labels = f"; labels in {meta.labels_dir}" if meta.labels_dir is not None else ""
    state.out.print(
        f"{len(meta.tiles)} tile(s) × {meta.n_slots} slots "
        f"(train {counts['train']}, val {counts['val']}, test {counts['test']}) "
        f"→ {result.stack_dir}{labels}",
        markup=False,
        highlight=False,
    )
