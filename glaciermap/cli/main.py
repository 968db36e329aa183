"""The ``glaciermap`` command: root options, command registry and the one place errors become exit codes."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from glaciermap import __version__
from glaciermap.cli import calibrate as calibrate_cli
from glaciermap.cli import diff as diff_cli
from glaciermap.cli import download as download_cli
from glaciermap.cli import evaluate as evaluate_cli
from glaciermap.cli import history as history_cli
from glaciermap.cli import predict as predict_cli
from glaciermap.cli import preprocess as preprocess_cli
from glaciermap.cli import regions as regions_cli
from glaciermap.cli import run as run_cli
from glaciermap.cli import simulate as simulate_cli
from glaciermap.cli import train as train_cli
from glaciermap.cli import vectorize as vectorize_cli
from glaciermap.cli import workspace as workspace_cli
from glaciermap.cli.command import Command, RootGroup, command_defaults
from glaciermap.cli.state import AppState
from glaciermap.errors import GlaciermapError

app = typer.Typer(
    name="glaciermap",
    cls=RootGroup,
    help=(
        "Map glacier outlines from Sentinel-1 radar time series and keep an inventory up to date.\n\n"
        "Stages run on their own or chained; outputs are GeoPackage and Cloud-Optimised GeoTIFF. "
        "No command replaces an existing output unless given --overwrite; stacks are rebuilt only "
        "when their inputs change. -v, -q, --debug, -w/--workspace and --config may also follow the "
        "command name."
    ),
    # Help text is printed as written: Rich markup only where brackets are escaped (\[train]).
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
for _name, _function in (
    ("run", run_cli.run),
    ("download", download_cli.download),
    ("vectorize", vectorize_cli.vectorize),
    ("diff", diff_cli.diff),
    ("simulate", simulate_cli.simulate),
    ("preprocess", preprocess_cli.preprocess),
    ("train", train_cli.train),
    ("evaluate", evaluate_cli.evaluate),
    ("calibrate", calibrate_cli.calibrate),
    ("predict", predict_cli.predict),
    ("history", history_cli.history),
):
    app.command(_name, cls=Command)(_function)
app.add_typer(regions_cli.app, name="regions")
app.command("workspace", cls=Command)(workspace_cli.workspace)


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
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="GLACIERMAP_CONFIG",
            help="Config file (default: ./glaciermap.toml, then ~/.config/glaciermap/glaciermap.toml).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    state = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
    ctx.obj = state
    state.debug = debug
    state.verbosity = 1 if verbose else (-1 if quiet else 0)
    state.use(config_path=config, workspace_path=workspace)
    state.configure_logging()
    if ctx.invoked_subcommand is not None and not ctx.resilient_parsing:
        ctx.default_map = _stage_defaults(ctx, state)


def _stage_defaults(ctx: typer.Context, state: AppState) -> dict[str, dict[str, Any]]:
    """Option defaults from the config file: its ``[train]`` table sets ``glaciermap train``'s, etc.

    Click's ``default_map`` carries them, so ``--help`` shows them and the command line still wins.
    """
    commands: dict[str, Any] = getattr(ctx.command, "commands", {})
    defaults = {name: command_defaults(command, name, state) for name, command in commands.items()}
    return {name: values for name, values in defaults.items() if values is not None}


_COMMAND = typer.main.get_command(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. Every known error, bad option values included, becomes one line on stderr,
    ``error: what is wrong — what to do``, and its class's exit code (:mod:`glaciermap.errors`): 2 for
    bad input or configuration, 75 for "try later" (printed as ``try later: ...``), 1 for a failed
    stage of ``run``. SIGINT and SIGTERM stop the command cleanly (:mod:`glaciermap.interrupt`): one line
    saying what was finished, and exit code 130 or 143."""
    from rich.markup import escape

    from glaciermap import interrupt

    args = sys.argv[1:] if argv is None else list(argv)
    state = AppState()
    with interrupt.handling():
        try:
            code = _main(args, state)
        except KeyboardInterrupt:  # a signal as the command returned, after Typer's own handling
            code = 130
        signum = interrupt.received()
        if code == 130 or signum is not None:  # Typer turns a KeyboardInterrupt into exit code 130
            signum = signum or signal.SIGINT
            done = interrupt.finished() or "no partial output was kept"
            name = " by SIGTERM" if signum == signal.SIGTERM else ""
            state.err.print(f"[yellow]interrupted{name}:[/] {escape(done)}", highlight=False)
            code = 128 + signum
    return code


def _main(args: list[str], state: AppState) -> int:
    """The command's exit code, every known error printed as one line."""
    from rich.markup import escape

    try:
        code = _COMMAND.main(
            args=args or ["--help"], prog_name="glaciermap", obj=state, standalone_mode=False
        )
    except GlaciermapError as exc:
        if state.debug:
            state.err.print_exception()
        colour = "bold red" if exc.exit_code != 75 else "bold yellow"
        state.err.print(f"[{colour}]{exc.label}:[/] {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except typer.TyperException as exc:
        # Click's usage errors (unknown option, value out of range, missing argument): the same one
        # line as every other bad input, pointing at the command's help.
        if state.debug:
            state.err.print_exception()
        where = getattr(getattr(exc, "ctx", None), "command_path", "glaciermap")
        message = exc.format_message().rstrip(".")
        state.err.print(
            f"[bold red]error:[/] {escape(message)} — see `{escape(where)} --help`",
            highlight=False,
        )
        return exc.exit_code
    except typer.Abort:
        state.err.print("[yellow]aborted[/]")
        return 1
    except OSError as exc:
        # A full disk, a quota, a read-only filesystem or `ulimit -f` met by a writer that does not
        # say so itself (a checkpoint, a download chunk): the user's to fix, so one line too. Writes
        # go to temporary names, so nothing half-written is left under a final one.
        from glaciermap.io.files import FULL_HINT, WRITE_ERRNOS

        if exc.errno not in WRITE_ERRNOS:
            raise
        if state.debug:
            state.err.print_exception()
        where = f" {exc.filename}" if exc.filename else ""
        state.err.print(
            f"[bold red]error:[/] cannot write{escape(where)}: {escape(exc.strerror or str(exc))}"
            f" — {FULL_HINT}",
            highlight=False,
        )
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
