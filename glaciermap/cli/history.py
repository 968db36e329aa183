"""``glaciermap history``: area and front shift per glacier across the workspace's years (over
glaciermap.update)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from glaciermap.cli.options import Overwrite, RegionName, refuse_existing
from glaciermap.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from glaciermap.cli.state import AppState

_STATUS_STYLE = {
    "unchanged": "dim",
    "retreated": "red",
    "advanced": "blue",
    "mixed": "magenta",
    "new": "bold blue",
    "split": "cyan",
    "disappeared": "bold red",
}


def history(
    ctx: typer.Context,
    region: RegionName = None,
    glacier: Annotated[
        str | None,
        typer.Option(
            "--glacier",
            "-g",
            help="Only this glacier id (and the parts that split off it).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON on stdout instead of the table: region, years and one row per glacier "
            "and year.",
        ),
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw area and front shift per glacier across the years as a PNG.",
            dir_okay=False,
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Area and front shift per glacier across every year of the region's inventory.

    Reads the workspace's inventory/REGION/YEAR/ folders that `glaciermap run` writes. A glacier that
    disappeared shows in the year it disappeared, with area 0. Prints a table (one row per glacier,
    one area column per year), or JSON with --json; --plot also writes a PNG (an existing one is
    refused unless --overwrite is given).

    Examples:

        glaciermap history --region svalbard

        glaciermap history --region svalbard --glacier RGI60-07.00240 --plot kongsvegen.png

        glaciermap history --region svalbard --json | jq '.rows[] | select(.status != "unchanged")'
    """
    state: AppState = ctx.obj
    if region is None:
        raise InputError("history needs --region", "e.g. glaciermap history --region svalbard")
    if plot is not None:
        refuse_existing([plot], overwrite)
        if not plot.resolve().parent.is_dir():
            raise InputError(f"output folder {plot.parent} does not exist", "create it first")
    name = state.settings().region(region).name

    from glaciermap.update import HISTORY_COLUMNS, plot_history
    from glaciermap.update import history as read_history
    from glaciermap.update.tables import json_rows

    frame = read_history(state.workspace(), name, glacier)
    years = sorted(int(y) for y in frame["year"].unique())
    if plot is not None:
        title = f"{name}: {glacier}" if glacier else f"{name}: every glacier"
        plot_history(frame, plot, title=title, overwrite=overwrite)
    if as_json:
        document = {"region": name, "years": years, "rows": json_rows(frame, HISTORY_COLUMNS)}
        # Plain stdout (not Rich), so the output is exactly one JSON document.
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    state.out.print(_table(frame, name, years))


def _table(frame: pd.DataFrame, region: str, years: list[int]) -> Table:
    """One row per glacier: its area each year, then the last year's change, front shift and status."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{region}: glacier area (km²) by year", title_justify="left")
    table.add_column("glacier", min_width=18, overflow="fold")
    for year in years:
        table.add_column(str(year), justify="right", no_wrap=True)
    table.add_column("Δ km²", justify="right", no_wrap=True)
    table.add_column("front m", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for glacier_id, rows in frame.groupby("glacier_id", sort=True):
        by_year = rows.set_index("year")
        last = by_year.loc[by_year.index.max()]
        name = rows["glac_name"].dropna()
        label = escape(str(glacier_id))
        if len(name) and name.iloc[-1] != glacier_id:
            label = f"{escape(str(name.iloc[-1]))}\n[dim]{label}[/]"
        areas = [f"{by_year.loc[y, 'area_km2']:.3f}" if y in by_year.index else "—" for y in years]
        change = last["change_km2"]
        status = str(last["status"])
        table.add_row(
            label,
            *areas,
            "—" if change != change else _signed(change, 3),  # NaN: no baseline that year
            _signed(last["front_shift_m"], 0),
            f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
        )
    return table


def _signed(value: float, digits: int) -> str:
    """``+1.234`` / ``-1.234``, and an unsigned zero for values that round to zero."""
    rounded = round(float(value), digits)
    return f"{0.0:.{digits}f}" if rounded == 0 else f"{rounded:+.{digits}f}"
