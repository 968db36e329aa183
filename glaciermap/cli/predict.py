"""``glaciermap predict``: sliding-window glacier probability, mask and outlines over a whole stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glaciermap.cli.options import (
    WEIGHTS_HELP,
    Cluster,
    Device,
    MinArea,
    Overwrite,
    RegionName,
    Scheduler,
    StackDir,
    Year,
    output_option,
    refuse_existing,
)
from glaciermap.cli.state import AppState
from glaciermap.errors import InputError


def predict(
    ctx: typer.Context,
    weights: Annotated[str, typer.Argument(help=WEIGHTS_HELP)] = "unet3d",
    region: RegionName = None,
    year: Year = None,
    stack: StackDir = None,
    output: Annotated[
        Path | None,
        output_option(
            "Output folder; needed with --stack. Default with --region and --year: a folder "
            "named after the weights in the workspace's predictions/REGION/YEAR/.",
            folder=True,
        ),
    ] = None,
    device: Device = "auto",
    window: Annotated[int, typer.Option(help="Window side, pixels.", min=8)] = 384,
    overlap: Annotated[
        float,
        typer.Option(help="Fraction of a window shared with its neighbour.", min=0.0, max=0.95),
    ] = 0.5,
    batch_size: Annotated[int, typer.Option(help="Windows per model call.", min=1)] = 4,
    readers: Annotated[
        int,
        typer.Option(
            help="Threads reading the stack (0: 1 on CPU, half the cores up to 4 with CUDA).", min=0
        ),
    ] = 0,
    tta: Annotated[
        bool, typer.Option("--tta", help="Average the four flips (4x the time).")
    ] = False,
    threshold: Annotated[float, typer.Option(help="Glacier where probability >= this.")] = 0.5,
    amp: Annotated[
        bool,
        typer.Option(
            "--amp/--no-amp", help="bf16 (else fp16) mixed precision on CUDA; CPU: float32."
        ),
    ] = True,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last/--no-channels-last",
            help="Channels-last layout for the model (faster on CPU and GPU; same result).",
        ),
    ] = True,
    vectorize: Annotated[
        bool,
        typer.Option("--vectorize/--no-vectorize", help="Also write outlines.gpkg from the mask."),
    ] = True,
    min_area: MinArea = 0.01,
    overwrite: Overwrite = False,
    threads: Annotated[
        int,
        typer.Option(
            help="Torch threads on CPU (0: every CPU). Results are bit-identical between runs with "
            "the same threads; a Dask cluster's workers use this machine's number.",
            min=0,
        ),
    ] = 0,
    block_tiles: Annotated[
        int,
        typer.Option(
            help="On a Dask cluster: tiles on a side of the block one task predicts.", min=1
        ),
    ] = 4,
    scheduler: Scheduler = None,
    cluster: Cluster = None,
) -> None:
    """Predict glacier probability over a stack with sliding windows; write COGs and outlines.

    Writes probability.tif (float32, NaN no data) and mask.tif (uint8: 1 glacier, 0 not, 255 no
    data) as Cloud-Optimised GeoTIFFs in the stack's grid, outlines.gpkg (unless --no-vectorize) and
    predict.json (weights, dates, settings, timings). Overlapping windows are blended with Gaussian
    weights, so there are no seams at window or tile borders; memory stays flat however large the
    stack. An output folder holding any of these files is refused unless --overwrite is given. An
    interrupted run leaves no file under a final name; on one machine a re-run starts over. On a
    Dask cluster (--scheduler, --cluster) the stack is cut into blocks of tiles, one task each, with
    the same result to the bit; a re-run keeps the blocks an interrupted run had finished. Tasks on
    CUDA go to workers started with --resources GPU=1.

    Examples:

        glaciermap predict --region svalbard --year 2016

        glaciermap predict convlstm --stack stack/ -o pred/ --device cpu --tta
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    from glaciermap.predict.engine import (
        MASK_NAME,
        OUTLINES_NAME,
        PROBABILITY_NAME,
        RECORD_NAME,
        PredictConfig,
        predict_stack,
    )

    state: AppState = ctx.obj
    path = state.weights(weights)
    meta = state.stack(stack, region, year)
    if output is None:
        if stack is not None:
            raise InputError("no output folder given", "pass -o OUT_DIR with --stack")
        output = state.workspace().prediction_dir(meta.region.name, meta.year, path.name)
    refuse_existing(
        (output / n for n in (PROBABILITY_NAME, MASK_NAME, OUTLINES_NAME, RECORD_NAME)), overwrite
    )

    config = PredictConfig(
        window=window,
        overlap=overlap,
        batch_size=batch_size,
        readers=readers,
        tta=tta,
        device=device,
        threshold=threshold,
        amp=amp,
        channels_last=channels_last,
        vectorize=vectorize,
        min_area_km2=min_area,
        threads=threads,
        block_tiles=block_tiles,
    )
    progress = state.progress(BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with state.executor(None, scheduler, cluster) as executor, progress:
        task = progress.add_task("Predicting windows", total=None)
        result = predict_stack(
            path,
            meta.json_path.parent,
            output,
            config,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            workers=executor,
        )
    state.out.print(
        f"{result.windows} windows, {result.pixels / 1e6:.1f} M px in {result.seconds:.1f} s on "
        f"{result.device} → {result.probability}, {result.mask}",
        markup=False,
        highlight=False,
    )
    outlines = result.outlines
    if outlines is not None:
        state.out.print(
            f"{outlines.count} glacier(s), {outlines.total_area_km2:.3f} km² → {outlines.output}",
            markup=False,
            highlight=False,
        )
