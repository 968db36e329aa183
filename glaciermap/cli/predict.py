"""``glaciermap predict``: sliding-window glacier probability, mask and outlines over a whole stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glaciermap.cli.options import MinArea, RegionName
from glaciermap.cli.state import AppState
from glaciermap.errors import InputError


def predict(
    ctx: typer.Context,
    stack: Annotated[
        Path | None,
        typer.Argument(
            help="Stack folder (from `glaciermap preprocess`); then give -o. Default: the "
            "workspace's stacks/REGION/YEAR/.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output folder (default: the workspace's predictions/REGION/YEAR/MODEL/).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    region: RegionName = None,
    year: Annotated[int | None, typer.Option("--year", "-y", help="Year to predict.")] = None,
    model: Annotated[
        str, typer.Option(help="Shipped weights to use: unet3d or convlstm.")
    ] = "unet3d",
    weights: Annotated[
        Path | None,
        typer.Option(
            help="Other weights (`name`, `name.safetensors` or `name.json`); overrides --model.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="auto (CUDA when present), cuda, cuda:N or cpu.")
    ] = "auto",
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
) -> None:
    """Predict glacier probability over a stack with sliding windows; write COGs and outlines.

    Writes `probability.tif` (float32, NaN no data) and `mask.tif` (uint8: 1 glacier, 0 not, 255 no
    data) as Cloud-Optimised GeoTIFFs in the stack's grid, `outlines.gpkg` (unless --no-vectorize) and
    `predict.json` (weights, dates, settings, timings). Overlapping windows are blended with Gaussian
    weights, so there are no seams at window or tile borders; memory stays flat however large the
    stack. Not resumable: an interrupted run leaves no file under a final name, and a re-run starts over.

    Examples:

        glaciermap predict --region svalbard --year 2016

        glaciermap predict stack/ -o pred/ --model convlstm --device cpu --tta
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    from glaciermap.predict.engine import OUTLINES_NAME, PredictConfig, predict_stack
    from glaciermap.predict.weights_lookup import find_weights
    from glaciermap.vectorize import vectorize_raster
    from glaciermap.workers import default_workers

    state: AppState = ctx.obj
    workspace = None
    if stack is None:
        if region is None or year is None:
            raise InputError(
                "no stack given", "pass --region and --year, or a stack folder and -o OUT_DIR"
            )
        workspace = state.workspace()
        region_name = state.settings().region(region).name
        stack = workspace.stack_dir(region_name, year)
        if not (stack / "stack.json").is_file():
            raise InputError(
                f"no stack for {region_name} {year} in {stack}",
                f"run glaciermap preprocess --region {region_name} --year {year} first",
            )
    if weights is None:
        root = workspace.root if workspace is not None else None
        weights = find_weights(model, root)
        name = model
    else:
        name = weights.name.removesuffix(".safetensors").removesuffix(".json")
    if output is None:
        if workspace is None or region is None or year is None:
            raise InputError("no output folder given", "pass -o OUT_DIR with a stack folder")
        output = workspace.prediction_dir(state.settings().region(region).name, year, name)

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
    )
    progress = state.progress(BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with progress:
        task = progress.add_task("Predicting windows", total=None)
        result = predict_stack(
            weights,
            stack,
            output,
            config,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    state.out.print(
        f"{result.windows} windows, {result.pixels / 1e6:.1f} M px in {result.seconds:.1f} s on "
        f"{result.device} → {result.probability}, {result.mask}",
        markup=False,
        highlight=False,
    )
    if vectorize:
        outlines = vectorize_raster(
            result.mask,
            result.out_dir / OUTLINES_NAME,
            threshold=1,
            min_area_km2=min_area,
            overwrite=True,
            workers=default_workers(),
        )
        state.out.print(
            f"{outlines.count} glacier(s), {outlines.total_area_km2:.3f} km² → {outlines.output}",
            markup=False,
            highlight=False,
        )
