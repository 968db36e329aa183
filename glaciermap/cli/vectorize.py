"""The ``glaciermap vectorize`` command: a glacier mask or probability raster to outline polygons."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glaciermap.cli.options import Cluster, MinArea, Overwrite, Scheduler, Workers, output_option
from glaciermap.cli.state import AppState


def vectorize(
    ctx: typer.Context,
    raster: Annotated[
        Path,
        typer.Argument(
            help="Probability raster (glacier where value >= threshold) or uint8 mask "
            "(1 glacier, 0 not, 255 ignore), in a projected CRS.",
            show_default=False,
        ),
    ],
    output: Annotated[Path, output_option("GeoPackage to write (layer outlines).", folder=False)],
    threshold: Annotated[
        float,
        typer.Option(
            help="Glacier where the pixel value is at least this (probability or mask value)."
        ),
    ] = 0.5,
    min_area: MinArea = 0.01,
    simplify: Annotated[
        float | None,
        typer.Option(
            help="Simplify outlines with this tolerance, metres (topology-preserving). "
            "Default: exact pixel outlines.",
            min=0.0,
            show_default=False,
        ),
    ] = None,
    overwrite: Overwrite = False,
    band: Annotated[int, typer.Option(help="Band of the raster to read (1-based).", min=1)] = 1,
    workers: Workers = None,
    scheduler: Scheduler = None,
    cluster: Cluster = None,
) -> None:
    """Turn a glacier mask or probability raster into cleaned outline polygons (GeoPackage).

    Writes layer `outlines` with one polygon per glacier (`id`, `area_km2`, `perimeter_km`) in the
    raster's CRS. Glaciers smaller than `--min-area` are dropped and holes smaller than it filled; nodata
    pixels are never glacier. Rasters larger than memory are read strip by strip. An existing output
    is refused unless --overwrite is given.

    Example:

        glaciermap vectorize predictions/probability.tif -o outlines.gpkg --threshold 0.5 --simplify 5
    """
    from rich.markup import escape
    from rich.progress import BarColumn, TaskProgressColumn, TimeRemainingColumn

    from glaciermap.io.raster import gdal_env
    from glaciermap.vectorize import vectorize_raster

    state: AppState = ctx.obj
    progress = state.progress(BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with state.executor(workers, scheduler, cluster) as executor, gdal_env(), progress:
        task = progress.add_task(f"Vectorising {raster.name}", total=None)

        def on_strip(rows_done: int, rows_total: int) -> None:
            progress.update(task, completed=rows_done, total=rows_total)

        result = vectorize_raster(
            raster,
            output,
            threshold=threshold,
            min_area_km2=min_area,
            simplify_m=simplify,
            band=band,
            overwrite=overwrite,
            workers=executor,
            progress=on_strip,
        )
    if result.count == 0:
        reason = (
            f"no pixel reaches threshold {threshold}"
            if result.glacier_pixels == 0
            else f"every glacier is smaller than {min_area} km²"
        )
        state.err.print(
            f"[yellow]warning:[/] {escape(reason)} in {escape(str(raster))}; wrote an empty layer",
            highlight=False,
        )
    state.out.print(
        f"{result.count} glacier(s), {result.total_area_km2:.3f} km² → {result.output}",
        markup=False,
        highlight=False,
    )
