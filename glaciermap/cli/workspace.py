"""``glaciermap workspace``: where the workspace is and what it holds."""

from __future__ import annotations

import typer

from glaciermap.cli.state import AppState


def workspace(ctx: typer.Context) -> None:
    """Show the workspace folder, where its location came from, and what it holds.

    The workspace is created on first use. Its location comes from --workspace, the
    GLACIERMAP_WORKSPACE environment variable, `workspace = "..."` in glaciermap.toml, or
    ~/.local/share/glaciermap, in that order.
    """
    from rich.table import Table

    state: AppState = ctx.obj
    settings = state.settings()
    ws = state.workspace()
    state.out.print(f"[bold]workspace[/]  {ws.root}", highlight=False)
    state.out.print(f"from       {settings.workspace_source}", highlight=False)
    if settings.files:
        state.out.print(f"config     {', '.join(map(str, settings.files))}", highlight=False)
    catalog = ws.catalog()
    try:
        counts = {t: catalog.count(t) for t in ("scenes", "jobs", "files", "stages")}
        stamps = catalog.stage_stamps()
    finally:
        catalog.close()
    state.out.print(
        "catalog    " + ", ".join(f"{n} {t}" for t, n in counts.items()), highlight=False
    )
    table = Table(title="contents", title_justify="left")
    table.add_column("folder")
    table.add_column("entries")
    for folder, entries in ws.contents().items():
        table.add_row(folder, ", ".join(entries) or "[dim]empty[/]")
    state.out.print(table)
    if stamps:
        done = Table(title="finished stages", title_justify="left")
        for column in ("region", "year", "stage", "key"):
            done.add_column(column)
        for stamp in stamps:
            done.add_row(stamp.region, str(stamp.year), stamp.stage, stamp.key)
        state.out.print(done)
