"""``glaciermap evaluate``: precision, recall, F1 and IoU of weights on a split of a stack."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from glaciermap.cli.options import WEIGHTS_HELP, RegionName, SplitName, StackDir, Year
from glaciermap.cli.state import AppState
from glaciermap.errors import InputError


def evaluate(
    ctx: typer.Context,
    weights: Annotated[str, typer.Argument(help=WEIGHTS_HELP, show_default=False)],
    region: RegionName = None,
    year: Year = None,
    stack: StackDir = None,
    split: Annotated[
        SplitName, typer.Option(help="Split to score; all: every tile of the stack.")
    ] = "test",
    acquisitions: Annotated[
        str,
        typer.Option(
            help="Comma-separated numbers of acquisitions (around the ablation peak) to score with.",
        ),
    ] = "1,3,5,15",
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Write the scores into the weights' model card (replacing earlier ones for the "
            "same stack, split and dates).",
        ),
    ] = False,
) -> None:
    """Score weights on the whole tiles of a split: one row per number of acquisitions (Table 1).

    For each N in --acquisitions the same weights are evaluated on the N acquisitions around the
    ablation peak (the models accept a variable number of dates). This is not the paper's Table 1,
    whose rows are separately trained models; train one model per N to reproduce that.

    Examples:

        glaciermap evaluate unet3d --region svalbard --year 2020

        glaciermap evaluate runs/r1/best --stack stack/ --acquisitions 15

    When the card already holds scores of the same stack (same input products), split and dates, a
    Card IoU column shows them beside the new ones: that is how the shipped cards are checked.
    --record updates the card in place (a record, not an output file).
    """
    from rich.table import Table

    from glaciermap.models.card import ModelCard
    from glaciermap.training.evaluate import evaluate as run_evaluate
    from glaciermap.training.evaluate import record_evaluation

    state: AppState = ctx.obj
    path = state.weights(weights)
    meta = state.stack(stack, region, year)
    stack_dir = meta.json_path.parent
    try:
        counts = [int(v) for v in acquisitions.split(",") if v.strip()]
    except ValueError:
        raise InputError(
            f"--acquisitions {acquisitions!r} is not a list of integers", "e.g. 1,3,5,15"
        ) from None
    if not counts or min(counts) < 1:
        raise InputError(f"--acquisitions {acquisitions!r} needs numbers >= 1", "e.g. 1,3,5,15")

    card = ModelCard.read(path)
    rows = []
    with state.progress() as progress:
        for n in counts:
            progress.add_task(f"Scoring with {n} acquisition(s)", total=None)
            m = run_evaluate(path, stack_dir, split=split, acquisitions=n)
            label = str(n) if m["n_times"] == n else f"{n} ({m['n_times']} in the stack)"
            rows.append((label, m, card.evaluation_for(m)))
            if record:
                record_evaluation(path, m)

    table = Table(title=f"{path} on the {split} split of {stack_dir}")
    table.add_column("Acquisitions", justify="right")
    for column in ("Precision", "Recall", "F1", "IoU"):
        table.add_column(column, justify="right")
    with_card = any(recorded is not None for _, _, recorded in rows)
    if with_card:
        table.add_column("Card IoU", justify="right")
    for label, m, recorded in rows:
        cells = [_fmt(m[k]) for k in ("precision", "recall", "f1", "iou")]
        if with_card:
            cells.append("-" if recorded is None else _fmt(float(recorded["iou"])))
        table.add_row(label, *cells)
    state.out.print(table)
    if record:
        state.out.print(f"recorded in the card of {path}", markup=False, highlight=False)


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
