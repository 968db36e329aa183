"""``glaciermap simulate``: a simulated Sentinel-1 year over a region, as HyP3 products, with its truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glaciermap.cli.options import (
    DefaultRegion,
    DefaultYear,
    Overwrite,
    Workers,
    output_option,
    refuse_existing,
)
from glaciermap.cli.state import AppState


def simulate(
    ctx: typer.Context,
    region: DefaultRegion = "example",
    year: DefaultYear = 2016,
    output: Annotated[
        Path | None,
        output_option(
            "Folder for the product zips (truth in its truth/ subfolder). Default: the workspace's "
            "raw/REGION/YEAR/, where preprocess looks.",
            folder=True,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    outlines: Annotated[
        Path | None,
        typer.Option(
            help="Build the landscape around a real inventory (RGI, NPI, any polygon file) instead "
            "of a procedural one.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    acquisitions: Annotated[
        int, typer.Option(help="24-day slots to simulate (15 covers the year).", min=1, max=15)
    ] = 15,
    cross_pol: Annotated[
        bool, typer.Option("--cross-pol/--no-cross-pol", help="Also write HV/VH bands.")
    ] = True,
    workers: Workers = None,
    overwrite: Overwrite = False,
) -> None:
    """Simulate a year of Sentinel-1 over a region, written exactly as ASF HyP3 delivers it.

    Writes one RTC_GAMMA zip (10 m gamma0 power, layover-shadow map, DEM, incidence) and one
    INSAR_GAMMA zip (40 m 12-day coherence) per pass, in the UTM zone of each scene's centre, plus the
    ground truth (glacier outlines, DEM, land/sea mask), an inventory from ten years earlier whose fronts
    differ, and simulation.json. Use it to try glaciermap without downloading, to teach, and to build
    training data. The physics follows published C-band ranges for Svalbard; what it does not model is
    listed in `glaciermap.simulate.physics`.

    An output folder that already holds files is refused unless --overwrite is given (files of the
    same names are then replaced, others kept).

    Example:

        glaciermap simulate --region example --year 2016 -o sim/ --seed 1
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from glaciermap.simulate.scene import simulate_year
    from glaciermap.workers import default_workers

    state: AppState = ctx.obj
    settings = state.settings()
    chosen = settings.region(region)
    out_dir = output if output is not None else state.workspace().raw_dir(chosen.name, year)
    # Hidden names are not outputs: what a killed run was writing is swept when simulating starts.
    existing = (
        [p for p in out_dir.iterdir() if not p.name.startswith(".")] if out_dir.is_dir() else []
    )
    refuse_existing(existing, overwrite)
    progress = state.progress(BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[step]}"))
    with progress:
        task = progress.add_task(f"Simulating {chosen.name} {year}", total=None, step="")

        def on_step(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, step=what)

        result = simulate_year(
            chosen,
            year,
            out_dir,
            seed=seed,
            outlines=outlines,
            n_acquisitions=acquisitions,
            cross_pol=cross_pol,
            workers=workers or default_workers(),
            progress=on_step,
        )
    crs = ", ".join(f"{n} in {c}" for c, n in sorted(result.crs_counts.items()))
    state.out.print(
        f"{len(result.rtc_products)} RTC + {len(result.insar_products)} InSAR products ({crs}) "
        f"→ {result.out_dir}; truth in {result.truth_dir}",
        markup=False,
        highlight=False,
    )
    for note in result.plan.missing:
        state.status(f"missing: {note}")
