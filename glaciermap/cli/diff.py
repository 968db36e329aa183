"""``glaciermap diff``: compare new glacier outlines with a reference inventory (over glaciermap.diff)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from glaciermap.cli.options import Overwrite, RegionName, output_option, refuse_existing
from glaciermap.errors import InputError

if TYPE_CHECKING:
    from rich.table import Table

    from glaciermap.cli.state import AppState
    from glaciermap.diff import DiffResult

# Mirrors glaciermap.diff.DEFAULT_MIN_FRONT_* (tests check they agree); repeated here so that building
# the command does not import geopandas.
_MIN_FRONT_AREA_KM2 = 0.01
_MIN_FRONT_SHIFT_M = 30.0

_STATUS_STYLE = {
    "unchanged": "dim",
    "retreated": "red",
    "advanced": "blue",
    "mixed": "magenta",
    "disappeared": "bold red",
    "new": "bold blue",
}


def diff(
    ctx: typer.Context,
    new: Annotated[
        Path,
        typer.Argument(
            help="NEW outlines (e.g. from `glaciermap vectorize`, or a newer inventory)."
        ),
    ],
    reference: Annotated[
        Path,
        typer.Argument(
            help="REFERENCE inventory: RGI 5/6/7, NPI, GeoPackage, GeoJSON, GeoParquet."
        ),
    ],
    output: Annotated[
        Path | None,
        output_option(
            "GeoPackage to write (layers glaciers, gained, lost, fronts); appears only once "
            "complete. Default: none (only the summary is printed).",
            folder=False,
        ),
    ] = None,
    region: RegionName = None,
    crs: Annotated[
        str | None,
        typer.Option(
            "--crs",
            help="Metric CRS to measure in (default: the region's, else the reference's if metric, "
            "else its UTM zone).",
        ),
    ] = None,
    min_front_area: Annotated[
        float,
        typer.Option(
            "--min-front-area",
            help="Smallest lost/gained patch flagged as a changed front, km².",
            min=0.0,
        ),
    ] = _MIN_FRONT_AREA_KM2,
    min_front_shift: Annotated[
        float,
        typer.Option(
            "--min-front-shift",
            help="Smallest margin shift flagged as a changed front (patch's widest inscribed circle), m.",
            min=0.0,
        ),
    ] = _MIN_FRONT_SHIFT_M,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the summary as JSON on stdout instead of the table: inputs, thresholds, "
            "totals, status_counts and per_glacier rows.",
        ),
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Also draw the changes as a PNG map to this file.", dir_okay=False
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Compare NEW outlines with a REFERENCE inventory: area change, gained and lost ice, changed fronts.

    Per glacier: areas, change and status; gained and lost ice; the changed fronts (patches of at least
    --min-front-area that moved at least --min-front-shift).

    NEW may merge neighbouring glaciers into one complex: its ice is split along the reference outlines,
    and ice beyond them goes to the glacier it borders most.

    Prints a table (or, with --json, one JSON document) and writes files only when asked: -o for the
    GeoPackage, --plot for a map. An existing output is refused unless --overwrite is given.

    Examples:

        glaciermap diff outlines.gpkg rgi.shp -o diff.gpkg --region svalbard --plot diff.png

        glaciermap diff new.gpkg rgi.gpkg --json | jq .totals
    """
    state: AppState = ctx.obj
    if region is not None and crs is not None:
        raise InputError("--region and --crs both set the CRS", "give only one of them")
    # Fail before the (possibly long) comparison, not after it.
    targets = [t for t in (output, plot) if t is not None]
    refuse_existing(targets, overwrite)
    for target in targets:
        if not target.resolve().parent.is_dir():
            raise InputError(f"output folder {target.parent} does not exist", "create it first")
    work_crs = state.settings().region(region).crs if region is not None else crs

    from contextlib import ExitStack

    from glaciermap.diff import diff_files, write_diff
    from glaciermap.io.lock import OutputLock

    # Held from the comparison on: a second writer of the same files stops, naming this one.
    with ExitStack() as locks:
        for target in targets:
            locks.enter_context(OutputLock(target, folder=False))
        result = diff_files(
            new,
            reference,
            crs=work_crs,
            min_front_area_km2=min_front_area,
            min_front_shift_m=min_front_shift,
        )
        if output is not None:
            write_diff(result, output, overwrite=overwrite)
        if plot is not None:
            from glaciermap.diff_plot import plot_diff

            plot_diff(result, plot, overwrite=overwrite)

    if as_json:
        # Plain stdout (not Rich) so the output is exactly one JSON document, whatever the terminal.
        typer.echo(json.dumps(result.summary, ensure_ascii=False, indent=2))
        return
    state.out.print(_glacier_table(result))
    state.out.print(total_line(result.summary), highlight=False)


def _glacier_table(result: DiffResult) -> Table:
    """One row per glacier: name and id, areas, change, status and the flagged fronts."""
    from rich.table import Table

    table = Table(
        title=f"Glacier change (areas in {result.summary.get('crs')})", title_justify="left"
    )
    table.add_column("glacier", min_width=18, overflow="fold")
    for header in ("ref km²", "new km²", "Δ km²", "Δ %"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("fronts", min_width=9)
    for row in result.summary["per_glacier"]:
        status = row["status"]
        table.add_row(
            _glacier_cell(row),
            f"{row['area_ref_km2']:.3f}",
            f"{row['area_new_km2']:.3f}",
            _signed(row["change_km2"], 3),
            "—" if row["change_pct"] is None else _signed(row["change_pct"], 1),
            f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
            _fronts_cell(row),
        )
    return table


def _signed(value: float, digits: int) -> str:
    """``+1.234`` / ``-1.234``, and an unsigned ``0.000`` for changes that round to zero."""
    rounded = round(value, digits)
    return f"{0.0:.{digits}f}" if rounded == 0 else f"{rounded:+.{digits}f}"


def _glacier_cell(row: dict[str, Any]) -> str:
    """The name with the id beneath it; just one of them when they are the same or there is no name."""
    from rich.markup import escape

    glacier_id, name = str(row["glacier_id"]), row["glacier_name"]
    if not name or name == glacier_id:
        return escape(glacier_id)
    return f"{escape(name)}\n[dim]{escape(glacier_id)}[/]"


def _fronts_cell(row: dict[str, Any]) -> str:
    """``2 retreat, 1 advance`` or ``—``."""
    parts = []
    if row["n_retreat_fronts"]:
        parts.append(f"{row['n_retreat_fronts']} retreat")
    if row["n_advance_fronts"]:
        parts.append(f"{row['n_advance_fronts']} advance")
    return ", ".join(parts) or "—"


def total_line(summary: dict[str, Any]) -> str:
    """One line: ``5 glaciers: 4 retreated, 1 mixed · 26.23 → 24.93 km² (−4.9 %) · 10 fronts flagged``."""
    totals = summary["totals"]
    counts = ", ".join(f"{n} {status}" for status, n in summary["status_counts"].items() if n)
    n = totals["glaciers"]
    line = f"{n} glacier{'' if n == 1 else 's'}: {counts or 'none'}"
    pct = totals["change_pct"]
    change = "" if pct is None else f" ({pct:+.1f} %)".replace("-", "−")
    line += f" · {totals['area_ref_km2']:.2f} → {totals['area_new_km2']:.2f} km²{change}"
    if totals["new_glaciers"]:
        k = totals["new_glaciers"]
        line += (
            f" · {k} new glacier{'' if k == 1 else 's'} ({totals['area_new_glaciers_km2']:.2f} km²)"
        )
    fronts = totals["fronts"]
    line += f" · {fronts} front{'' if fronts == 1 else 's'} flagged"
    return line
