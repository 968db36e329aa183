"""``glaciermap regions``: list regions, show one's grid, export its tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glaciermap.cli.command import Command, Group
from glaciermap.cli.options import Overwrite, output_option
from glaciermap.cli.state import AppState

app = typer.Typer(
    cls=Group,
    help=(
        "List the regions glaciermap knows, show one region's tile grid, or export it.\n\n"
        "Built in: svalbard (the paper's 10 km grid, EPSG:32633), example (the demo scene) and "
        "synthetic (the simulated benchmark). Add your own as \\[regions.NAME] tables in "
        "glaciermap.toml (crs, aoi or aoi_file, origin, tile_size, pixel_size, prefix, orbit)."
    ),
    invoke_without_command=True,
    rich_markup_mode="rich",
)


@app.callback()
def list_regions(ctx: typer.Context) -> None:
    """List the regions (run without a sub-command)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    state: AppState = ctx.obj
    settings = state.settings()
    table = Table(title="Regions", title_justify="left")
    for column in ("name", "CRS", "tile size", "tiles", "orbit", "description"):
        table.add_column(column, justify="right" if column in ("tile size", "tiles") else "left")
    for name in sorted(settings.regions):
        region = settings.regions[name]
        table.add_row(
            name,
            region.crs,
            f"{region.tile_size / 1000:g} km",
            str(sum(1 for _ in region.iter_tiles())),
            region.orbit,
            region.description,
        )
    state.out.print(table)


@app.command("show", cls=Command)
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Region name, e.g. svalbard.")],
) -> None:
    """Print a region's CRS, grid origin, extent and tile count."""
    state: AppState = ctx.obj
    region = state.settings().region(name)
    tiles = region.tiles()
    minx, miny, maxx, maxy = region.grid_extent()
    cols = {t.col for t in tiles}
    rows = {t.row for t in tiles}
    lines = [
        f"[bold]{region.name}[/]  {region.description}",
        f"CRS            {region.crs}",
        f"orbit          {region.orbit}",
        f"grid origin    x0 = {region.origin[0]:,.0f} m, y0 = {region.origin[1]:,.0f} m",
        f"tile size      {region.tile_size:,.0f} m ({region.tile_pixels} × {region.tile_pixels} px "
        f"at {region.pixel_size:g} m)",
        f"AOI            x {region.aoi[0]:,.0f} – {region.aoi[2]:,.0f}, "
        f"y {region.aoi[1]:,.0f} – {region.aoi[3]:,.0f}"
        + ("  (polygon)" if region.aoi_wkt else ""),
        f"grid extent    x {minx:,.0f} – {maxx:,.0f}, y {miny:,.0f} – {maxy:,.0f} "
        f"({(maxx - minx) / 1000:g} × {(maxy - miny) / 1000:g} km)",
        f"tiles          {len(tiles)} (cols {min(cols)}–{max(cols)}, rows {min(rows)}–{max(rows)}; "
        f"e.g. {tiles[0].id})",
    ]
    for line in lines:
        state.out.print(line, highlight=False)


@app.command("tiles", cls=Command)
def export_tiles(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Region name, e.g. svalbard.")],
    output: Annotated[Path, output_option("GeoPackage to write (layer tiles).", folder=False)],
    overwrite: Overwrite = False,
) -> None:
    """Write a region's tile grid as polygons (tile_id, col, row) to open in QGIS.

    An existing output is refused unless --overwrite is given.
    """
    from glaciermap.io.vector import write_gpkg

    state: AppState = ctx.obj
    region = state.settings().region(name)
    frame = region.tiles_frame()
    write_gpkg(output, {"tiles": frame}, overwrite=overwrite)
    state.status(f"wrote {len(frame)} tiles of {region.name} to {output}")
