"""``glaciermap train``: fit a model on stacks' train splits, keeping the best weights by val IoU."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from glaciermap.cli.options import (
    WEIGHTS_HELP,
    ArchitectureName,
    Device,
    RegionName,
    Year,
    output_option,
    stack_metas,
    workers_option,
)
from glaciermap.cli.state import AppState
from glaciermap.models.architectures import DEFAULT_ARCHITECTURE, parse_widths

if TYPE_CHECKING:
    NormalisationName = str
else:
    NormalisationName = Literal["card", "stack"]

_R = "Recipe (defaults: the paper's; also settable in the config file's \\[train] table)"


def train(
    ctx: typer.Context,
    region: RegionName = None,
    year: Year = None,
    stack: Annotated[
        list[Path] | None,
        typer.Option(
            "--stack",
            metavar="<dir>",
            help="Stack folder (from glaciermap preprocess); repeat it to train on several stacks "
            "(other years or regions: patches come from each alike, validation pools their val "
            "tiles). Default: the workspace's stack of --region and --year.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    stacks: Annotated[
        Path | None,
        typer.Option(
            "--stacks",
            help="A text file listing stack folders to train on, one per line (# comments; "
            "relative paths are relative to the file); adds to --stack.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    val_stack: Annotated[
        list[Path] | None,
        typer.Option(
            "--val-stack",
            metavar="<dir>",
            help="A validation scene (split by scene): every tile of it is scored, and the best "
            "weights are chosen and calibrated on it, while every tile of the training stacks "
            "trains; repeat it for several. Default: the training stacks' val tiles.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    val_stacks: Annotated[
        Path | None,
        typer.Option(
            "--val-stacks",
            help="A text file listing validation stack folders (as --stacks); adds to --val-stack.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        ArchitectureName | None,
        typer.Option(
            "--model",
            help=f"Architecture (default {DEFAULT_ARCHITECTURE}; with --init, the init weights').",
            show_default=False,
        ),
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(
            "--init",
            metavar="<weights>",
            help="Start from these weights (fine-tuning) instead of random ones; their architecture, "
            "widths, channels and normalisation carry over. " + WEIGHTS_HELP,
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option(help="Epochs (150 = warm-restart cycles of 10, 20, 40, 80).", min=1)
    ] = 150,
    patch: Annotated[int, typer.Option(help="Side of the training patches, pixels.", min=8)] = 384,
    batch_size: Annotated[int, typer.Option(help="Patches per batch.", min=1)] = 8,
    lr: Annotated[float, typer.Option(help="Adam learning rate.", min=0.0)] = 5e-4,
    acquisitions: Annotated[
        int, typer.Option(help="Acquisitions per sample, around the ablation peak.", min=1)
    ] = 15,
    samples_per_epoch: Annotated[int, typer.Option(help="Patches per epoch.", min=1)] = 2000,
    run_name: Annotated[
        str | None,
        typer.Option(help="Run name (default: MODEL-REGION-YEAR).", show_default=False),
    ] = None,
    output: Annotated[
        Path | None,
        output_option("Run folder (default: the workspace's runs/RUN_NAME/).", folder=True),
    ] = None,
    workers: Annotated[
        int, workers_option("DataLoader worker processes.", min=0, show_default=True)
    ] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    widths: Annotated[
        str | None,
        typer.Option(
            help="Channels per U-Net level, comma-separated, e.g. 16,32,64 (default: the model's, "
            "or the --init weights').",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite/--no-overwrite",
            help="Start over in a run folder that holds a run (without it, the run is continued "
            "from its last checkpoint, with the same settings).",
        ),
    ] = False,
    device: Device = "auto",
    first_cycle: Annotated[
        int, typer.Option(help="Epochs of the first warm-restart cycle.", min=1, rich_help_panel=_R)
    ] = 10,
    cycle_mult: Annotated[
        int,
        typer.Option(help="Each cycle is this many times the previous.", min=1, rich_help_panel=_R),
    ] = 2,
    focal_gamma: Annotated[
        float, typer.Option(help="Focal loss focusing exponent.", min=0.0, rich_help_panel=_R)
    ] = 2.0,
    focal_alpha: Annotated[
        float | None,
        typer.Option(
            help="Focal loss weight of the glacier class (0-1); default none: both classes alike.",
            min=0.0,
            max=1.0,
            show_default=False,
            rich_help_panel=_R,
        ),
    ] = None,
    label_smoothing: Annotated[
        float,
        typer.Option(
            help="Label smoothing: targets become s/2 and 1-s/2.",
            min=0.0,
            max=1.0,
            rich_help_panel=_R,
        ),
    ] = 0.1,
    weight_decay: Annotated[
        float, typer.Option(help="Adam weight decay.", min=0.0, rich_help_panel=_R)
    ] = 0.0,
    val_every: Annotated[
        int,
        typer.Option(
            help="Score the val tiles every N epochs (and after the last).",
            min=1,
            rich_help_panel=_R,
        ),
    ] = 1,
    augment: Annotated[
        bool,
        typer.Option(
            "--augment/--no-augment", help="On-the-fly augmentations.", rich_help_panel=_R
        ),
    ] = True,
    scene_augment: Annotated[
        bool,
        typer.Option(
            "--scene-augment/--no-scene-augment",
            help="Also mimic year-to-year change in each patch: backscatter offsets (±3 dB) and "
            "contrast (×0.8-1.2), per-date offsets (±1 dB), coherence ×0.7-1.3, dropped dates, "
            "extra speckle. Off by default so that earlier recipes give the same runs; turn it on "
            "for models meant for scenes they never saw.",
            rich_help_panel=_R,
        ),
    ] = False,
    normalisation: Annotated[
        NormalisationName | None,
        typer.Option(
            "--normalisation",
            help="card: normalise every stack with one set of statistics (the training stacks' "
            "pooled), recorded in the model card and used by predict and evaluate on any stack; "
            "stack: normalise each stack with its own stack.json statistics, in training and in "
            "predict and evaluate (levels that shift from year to year are taken out). Default "
            "card, or with --init the init weights'.",
            show_default=False,
            rich_help_panel=_R,
        ),
    ] = None,
    amp: Annotated[
        bool,
        typer.Option(
            "--amp/--no-amp",
            help="Mixed precision on CUDA (bf16 where supported).",
            rich_help_panel=_R,
        ),
    ] = True,
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads for torch (default: torch's choice, all cores).",
            min=1,
            show_default=False,
            rich_help_panel=_R,
        ),
    ] = None,
) -> None:
    """Train a glacier model on the train split of stacks; keep the weights with the best val IoU.

    Writes to the run folder best.safetensors + best.json (model card), metrics.csv, config.json,
    last.pt (internal resume state; never ship it) and TensorBoard events when TensorBoard is
    installed. A run folder that already holds a run is continued from its last checkpoint (more
    --epochs extend it); --overwrite starts it over. Runs on CUDA when present. Under torchrun it
    trains with DistributedDataParallel. On a terminal a progress bar shows each epoch; in a log
    (cron, nohup, a pipe) one line per epoch gives loss, val IoU, elapsed time and ETA.

    Several stacks (--stack repeated, --stacks FILE) train one model across scenes: they must have the
    same channels and give the same number of dates; each selects its own dates around the ablation
    peak. --val-stack/--val-stacks split by scene instead of by tile: those scenes validate (and
    calibrate), and every tile of the training stacks trains. --init fine-tunes other weights on them.

    Examples:

        glaciermap train --region svalbard --year 2020

        glaciermap train --stack ws/stacks/svalbard/2019 --stack ws/stacks/svalbard/2020 \\
            --normalisation stack --scene-augment

        glaciermap train --stacks train-scenes.txt --val-stacks val-scenes.txt --scene-augment

        glaciermap train --init unet3d --stacks my-stacks.txt --epochs 30 --lr 1e-4

        torchrun --nproc-per-node 4 -m glaciermap train --stack stack/ -o runs/big

    Every option can also be set in the config file, e.g. \\[train] with epochs = 30 and patch = 128
    (names as the options, - or _); the command line wins.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from glaciermap.training.loop import TrainConfig, TrainProgress, default_run_name, run_training

    state: AppState = ctx.obj
    metas = stack_metas(state, stack, stacks, region, year)
    val_metas = (
        stack_metas(state, val_stack, val_stacks, None, None) if (val_stack or val_stacks) else []
    )
    init_path = state.weights(init) if init is not None else None
    if model is None:
        from glaciermap.models.card import ModelCard

        model = ModelCard.read(init_path).architecture if init_path else DEFAULT_ARCHITECTURE
    if output is None:
        output = state.workspace().run_dir(run_name or default_run_name(model, metas))
    config = TrainConfig(
        model=model,
        model_kwargs={"widths": parse_widths(widths)} if widths else {},
        patch=patch,
        batch_size=batch_size,
        lr=lr,
        epochs=epochs,
        samples_per_epoch=samples_per_epoch,
        acquisitions=acquisitions,
        seed=seed,
        num_workers=workers,
        first_cycle=first_cycle,
        cycle_mult=cycle_mult,
        focal_gamma=focal_gamma,
        focal_alpha=focal_alpha,
        label_smoothing=label_smoothing,
        weight_decay=weight_decay,
        val_every=val_every,
        augment=augment,
        scene_augment=scene_augment,
        normalisation=normalisation,
        init=str(init_path.resolve()) if init_path is not None else None,
        amp=amp,
        device=device,
    )
    progress = state.progress(
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("loss {task.fields[loss]}  val IoU {task.fields[iou]}"),
    )
    with progress:
        task = progress.add_task("Training", total=None, loss="-", iou="-")

        def on_step(p: TrainProgress) -> None:
            if p.phase == "val":
                if progress.disable:  # a log, not a terminal: one plain line per epoch
                    state.status(p.line())
                    return
                iou = "nan" if p.val_iou is None or math.isnan(p.val_iou) else f"{p.val_iou:.3f}"
                progress.update(task, iou=iou)
                return
            progress.update(
                task,
                description=f"Epoch {p.epoch}/{p.epochs}",
                completed=p.batch,
                total=p.batches,
                loss=f"{p.loss:.4f}",
            )

        result = run_training(
            config,
            [meta.json_path.parent for meta in metas],
            output,
            progress=on_step,
            overwrite=overwrite,
            threads=threads,
            val_stacks=[meta.json_path.parent for meta in val_metas],
        )
    if result is None:  # another rank of a torchrun group: rank 0 reports
        return
    state.out.print(
        f"best val IoU {result.best_val_iou:.4f} (epoch {result.best_epoch}) → {result.weights}",
        markup=False,
        highlight=False,
    )
