"""``glaciermap evaluate``: precision, recall, F1, IoU and calibration of weights on one or several
stacks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from glaciermap.cli.options import (
    WEIGHTS_HELP,
    Overwrite,
    RegionName,
    SplitName,
    Stacks,
    StacksFile,
    Year,
    refuse_existing,
    stack_metas,
)
from glaciermap.cli.state import AppState
from glaciermap.errors import InputError


def evaluate(
    ctx: typer.Context,
    weights: Annotated[str, typer.Argument(help=WEIGHTS_HELP, show_default=False)],
    region: RegionName = None,
    year: Year = None,
    stack: Stacks = None,
    stacks: StacksFile = None,
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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the scores as one JSON document instead.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also write a reliability diagram (PNG): predicted probability against glacier "
            "frequency, pooled over the stacks, one curve per number of acquisitions.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Score weights on the whole tiles of a split: one row per stack and number of acquisitions.

    For each N in --acquisitions the same weights are evaluated on the N acquisitions around the
    ablation peak (the models accept a variable number of dates). This is not the paper's Table 1,
    whose rows are separately trained models; train one model per N to reproduce that.

    Several stacks (repeat --stack, or list them in a file given to --stacks) are scored one by one
    (a row each) and pooled (a row over all their pixels, with the median and worst stack IoU):
    scenes the model never saw show how it holds on a new year.

    ECE is the expected calibration error of the glacier probability (15 bins; with the card's
    temperature when the weights were calibrated, see glaciermap calibrate).

    Examples:

        glaciermap evaluate unet3d --region svalbard --year 2020

        glaciermap evaluate runs/r1/best --stack stack/ --acquisitions 15

        glaciermap evaluate unet3d --stacks unseen.txt --split all --acquisitions 15 --plot rel.png

    When the card already holds scores of the same stack (same input products), split and dates, a
    Card IoU column shows them beside the new ones: that is how the shipped cards are checked.
    --record updates the card in place (a record, not an output file).
    """
    from glaciermap.models.card import ModelCard
    from glaciermap.training.evaluate import evaluate_stacks, record_evaluation

    state: AppState = ctx.obj
    path = state.weights(weights)
    folders = [m.json_path.parent for m in stack_metas(state, stack, stacks, region, year)]
    try:
        counts = [int(v) for v in acquisitions.split(",") if v.strip()]
    except ValueError:
        raise InputError(
            f"--acquisitions {acquisitions!r} is not a list of integers", "e.g. 1,3,5,15"
        ) from None
    if not counts or min(counts) < 1:
        raise InputError(f"--acquisitions {acquisitions!r} needs numbers >= 1", "e.g. 1,3,5,15")
    if plot is not None:
        refuse_existing([plot], overwrite)

    card = ModelCard.read(path)
    runs: list[tuple[int, dict[str, Any]]] = []
    with state.progress() as progress:
        for n in counts:
            task = progress.add_task(f"Scoring with {n} acquisition(s)", total=None)

            def step(name: str, done: int, total: int, tile: str, task: Any = task) -> None:
                progress.update(task, description=f"{name}: {tile}", completed=done, total=total)

            result = evaluate_stacks(path, folders, split=split, acquisitions=n, progress=step)
            runs.append((n, result))
            if record:
                for m in result["stacks"]:
                    record_evaluation(path, m)

    if plot is not None:
        from glaciermap.training.reliability_plot import plot_reliability

        curves = {
            f"{n} acquisition(s): ECE {_fmt(r['pooled']['ece'])}": r["pooled"]["reliability"]
            for n, r in runs
        }
        plot_reliability(curves, plot, title=f"{path.name} on {len(folders)} stack(s), {split}")

    if as_json:
        document = {
            "weights": str(path),
            "split": split,
            "runs": [
                {
                    "acquisitions": n,
                    "stacks": [_jsonable(m) for m in r["stacks"]],
                    "pooled": _jsonable(r["pooled"]),
                }
                for n, r in runs
            ],
        }
        typer.echo(json.dumps(document, indent=2, allow_nan=False))
        return
    _print_table(state, path, split, folders, runs, card)
    if plot is not None:
        state.out.print(f"wrote {plot}", markup=False, highlight=False)
    if record:
        state.out.print(f"recorded in the card of {path}", markup=False, highlight=False)


def _print_table(state: AppState, path: Path, split: str, folders: list[Path], runs, card) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    several = len(folders) > 1
    where = f"{len(folders)} stacks" if several else str(folders[0])
    table = Table(title=f"{path} on the {split} split of {where}")
    if several:
        table.add_column("Stack")
    table.add_column("Acquisitions", justify="right")
    for column in ("Precision", "Recall", "F1", "IoU", "ECE"):
        table.add_column(column, justify="right")
    recorded = {
        id(m): card.evaluation_for(m) for _, r in runs for m in r["stacks"]
    }  # the card's scores of the same stack, split and dates
    with_card = any(v is not None for v in recorded.values())
    if with_card:
        table.add_column("Card IoU", justify="right")
    for n, r in runs:
        for m in r["stacks"]:
            label = str(n) if m["n_times"] == n else f"{n} ({m['n_times']} in the stack)"
            cells = [_fmt(m[k]) for k in ("precision", "recall", "f1", "iou", "ece")]
            if with_card:
                entry = recorded[id(m)]
                cells.append("-" if entry is None else _fmt(float(entry["iou"])))
            table.add_row(*([m["name"]] if several else []), label, *cells)
        if several:
            pooled = r["pooled"]
            cells = [_fmt(pooled[k]) for k in ("precision", "recall", "f1", "iou", "ece")]
            table.add_row(
                f"pooled ({pooled['n_stacks']}; median IoU {_fmt(pooled['median_iou'])}, "
                f"worst {_fmt(pooled['worst_iou'])})",
                str(n),
                *cells,
                *(["-"] if with_card else []),
                style="bold",
                end_section=True,
            )
    state.out.print(table)


def _jsonable(value: Any) -> Any:
    """NaN as null (JSON has no NaN), recursively."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"
