"""The ``glaciermap`` command: root options, command registry and the one place errors become exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from glaciermap import __version__
from glaciermap.cli import diff as diff_cli
from glaciermap.cli import download as download_cli
from glaciermap.cli import evaluate as evaluate_cli
from glaciermap.cli import predict as predict_cli
from glaciermap.cli import preprocess as preprocess_cli
from glaciermap.cli import regions as regions_cli
from glaciermap.cli import simulate as simulate_cli
from glaciermap.cli import train as train_cli
from glaciermap.cli import vectorize as vectorize_cli
from glaciermap.cli import workspace as workspace_cli
from glaciermap.cli.state import AppState
from glaciermap.errors import ConfigError, GlaciermapError

app = typer.Typer(
    name="glaciermap",
    help=(
        "Map glacier outlines from Sentinel-1 radar time series and keep an inventory up to date.\n\n"
        "Stages run on their own or chained; outputs are GeoPackage and Cloud-Optimised GeoTIFF."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("download")(download_cli.download)
app.command("vectorize")(vectorize_cli.vectorize)
app.command("diff")(diff_cli.diff)
app.command("simulate")(simulate_cli.simulate)
app.command("preprocess")(preprocess_cli.preprocess)
app.command("train")(train_cli.train)
app.command("evaluate")(evaluate_cli.evaluate)
app.command("predict")(predict_cli.predict)
app.add_typer(regions_cli.app, name="regions")
app.command("workspace")(workspace_cli.workspace)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"glaciermap {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say more about each step.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only print results and errors.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="GLACIERMAP_WORKSPACE",
            help="Workspace folder (default: from the config file, else ~/.local/share/glaciermap).",
            file_okay=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="GLACIERMAP_CONFIG",
            help="Config file (default: ./glaciermap.toml, then ~/.config/glaciermap/glaciermap.toml).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    state = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
    ctx.obj = state
    state.debug = debug
    state.verbosity = 1 if verbose else (-1 if quiet else 0)
    state.workspace_path = workspace
    state.config_path = config
    state.configure_logging()
    if ctx.invoked_subcommand is not None and not ctx.resilient_parsing:
        ctx.default_map = _command_defaults(ctx, state)


def _command_defaults(ctx: typer.Context, state: AppState) -> dict[str, dict[str, Any]]:
    """Option defaults from the config file: its ``[train]`` table sets ``glaciermap train``'s, etc.

    Click's ``default_map`` carries them, so ``--help`` shows them and the command line still wins. A
    key that names no option of its command is an error (a typo would otherwise be silently ignored).
    """
    # Duck-typed: Typer ships its own copy of Click, so click.Group/click.Option are not its classes.
    commands: dict[str, Any] = getattr(ctx.command, "commands", {})
    defaults: dict[str, dict[str, Any]] = {}
    for name, table in state.settings().stages.items():
        command = commands.get(name)
        if command is None or hasattr(command, "commands"):
            continue  # settings of a stage that is not a plain command here
        options = {p.name for p in command.params if p.param_type_name == "option" and p.name}
        values: dict[str, Any] = {}
        for key, value in table.items():
            option = key.replace("-", "_")
            if option not in options or option == "help":
                raise ConfigError(
                    f"[{name}] in {', '.join(map(str, state.settings().files))} has no setting {key!r}",
                    f"use one of: {', '.join(sorted(o for o in options if o != 'help'))}",
                )
            values[option] = value
        defaults[name] = values
    return defaults


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; known errors become one red line on stderr and exit code 2."""
    state = AppState()
    try:
        app(args=argv, prog_name="glaciermap", obj=state)
    except GlaciermapError as exc:
        if state.debug:
            state.err.print_exception()
        from rich.markup import escape

        state.err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        state.err.print("[yellow]interrupted[/]: no partial output was kept")
        return 130
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
