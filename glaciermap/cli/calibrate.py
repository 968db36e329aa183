"""``glaciermap calibrate``: fit the temperature that makes predicted glacier probability a frequency."""

from __future__ import annotations

from typing import Annotated

import typer

from glaciermap.cli.options import (
    WEIGHTS_HELP,
    RegionName,
    SplitName,
    Stacks,
    StacksFile,
    Year,
    stack_metas,
)
from glaciermap.cli.state import AppState


def calibrate(
    ctx: typer.Context,
    weights: Annotated[str, typer.Argument(help=WEIGHTS_HELP, show_default=False)],
    region: RegionName = None,
    year: Year = None,
    stack: Stacks = None,
    stacks: StacksFile = None,
    split: Annotated[
        SplitName,
        typer.Option(help="Tiles to fit on: val (default), or all for scenes never trained on."),
    ] = "val",
) -> None:
    """Fit one temperature on labelled tiles and write it into the weights' model card.

    The logits are divided by the temperature before the sigmoid, so probability.tif means what it
    says: of the pixels mapped at 0.8, about 80 % are glacier. The mask (probability > 0.5) and
    every IoU stay the same. Fit on tiles the model did not train on: the validation tiles of its
    training stacks, or whole scenes it never saw (--split all). predict and evaluate use the card's
    temperature from then on; evaluate's ECE column shows the calibration error.

    Examples:

        glaciermap calibrate runs/r1/best --stacks val-scenes.txt --split all

        glaciermap calibrate runs/r1/best --region svalbard --year 2020
    """
    from glaciermap.training.calibration import calibrate_weights

    state: AppState = ctx.obj
    path = state.weights(weights)
    folders = [m.json_path.parent for m in stack_metas(state, stack, stacks, region, year)]
    with state.progress() as progress:
        task = progress.add_task("Collecting logits", total=None)

        def step(done: int, total: int, tile: str) -> None:
            progress.update(
                task, description=f"Collecting logits: {tile}", completed=done, total=total
            )

        entry = calibrate_weights(path, folders, split=split, progress=step)
    state.out.print(
        f"temperature {entry['temperature']:.4f} on {entry['pixels']:,} pixels of "
        f"{len(folders)} stack(s): ECE {entry['ece_before']:.4f} -> {entry['ece_after']:.4f}; "
        f"recorded in the card of {path}",
        markup=False,
        highlight=False,
    )
