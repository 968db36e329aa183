"""The command classes every ``glaciermap`` command is built with.

They add what Typer does not do the way glaciermap wants:

* the global options (``-v``, ``-q``, ``--debug``, ``-w/--workspace``, ``--config``) are accepted after
  the command name too (``glaciermap predict --region x -v``), shown in a panel of their own;
* option defaults come from the config file's table of the command (``[train]`` for ``train``), also
  when ``--config`` or ``--workspace`` follows the command name;
* usage lines name arguments as Click does (``RASTER``, ``[WEIGHTS]``), and flags show no ``<bool>``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from glaciermap.cli.state import AppState
from glaciermap.errors import ConfigError

GLOBAL_PANEL = "Global options (also accepted before the command)"


def command_defaults(command: Any, name: str, state: AppState) -> dict[str, Any] | None:
    """Option defaults of ``command`` from the config file's ``[name]`` table, or None without one.

    A key that names no option of the command is an error: a typo would otherwise be silently ignored.
    Groups (``regions``) take no defaults.
    """
    settings = state.settings()
    table = settings.stages.get(name)
    if table is None or hasattr(command, "commands"):
        return None
    options = {
        p.name: p for p in command.params if p.param_type_name == "option" and p.expose_value
    }
    values: dict[str, Any] = {}
    for key, value in table.items():
        option = key.replace("-", "_")
        if option not in options:
            raise ConfigError(
                f"[{name}] in {', '.join(map(str, settings.files))} has no setting {key!r}",
                f"use one of: {', '.join(sorted(options))}",
            )
        # A repeatable option (train's --stack) takes one value or a list.
        many = getattr(options[option], "multiple", False)
        values[option] = [value] if many and not isinstance(value, list) else value
    return values


def _apply_global(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> None:
    """Record a global option given after the command name in the shared :class:`AppState`."""
    state = ctx.find_object(AppState)
    if ctx.resilient_parsing or state is None or value is None or value is False:
        return
    if param.name == "verbose":
        state.verbosity = 1
    elif param.name == "quiet" and state.verbosity != 1:  # as before the command: -v wins
        state.verbosity = -1
    elif param.name == "debug":
        state.debug = True
    elif param.name == "workspace":
        state.use(workspace_path=value)
    elif param.name == "config":
        state.use(config_path=value)
    state.configure_logging()
    if param.name in ("workspace", "config") and ctx.info_name is not None:
        # Eager options run before the others take their defaults, so these still apply.
        ctx.default_map = command_defaults(ctx.command, ctx.info_name, state)


def _global_options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Say more about each step.",
            callback=_apply_global,
            is_eager=True,
            expose_value=False,
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Only print results and errors.",
            callback=_apply_global,
            is_eager=True,
            expose_value=False,
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show full tracebacks on errors.",
            callback=_apply_global,
            is_eager=True,
            expose_value=False,
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = False,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace folder.",
            file_okay=False,
            callback=_apply_global,
            is_eager=True,
            expose_value=False,
            show_default=False,
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file.",
            dir_okay=False,
            callback=_apply_global,
            is_eager=True,
            expose_value=False,
            show_default=False,
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = None,
) -> None:
    """Declares the global options for :func:`global_params`; never called."""


def global_params() -> list[Any]:
    """The global options as Click parameters, built by Typer from :func:`_global_options`."""
    probe = typer.Typer(add_completion=False)
    probe.command()(_global_options)
    return list(typer.main.get_command(probe).params)


_GLOBAL_PARAMS = global_params()


def _tidy(params: list[Any]) -> list[Any]:
    """Arguments named in capitals; flags without a ``<bool>`` type in the help."""
    for param in params:
        if param.param_type_name == "argument" and param.metavar is None:
            param.metavar = str(param.name).upper()
        elif getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


def reflow(text: str | None) -> str | None:
    """Help text with each prose paragraph on one line, so the terminal wraps it at its own width.

    Paragraphs with indented lines (examples) keep their lines. Typer's Rich mode keeps the source's
    line breaks, which break a second time at terminal widths narrower than the source.
    """
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs
    )


def _usage(command: Any, ctx: Any) -> list[str]:
    """``[OPTIONS] RASTER`` / ``[OPTIONS] [WEIGHTS]``: required arguments bare, optional in brackets."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            name = param.metavar or str(param.name).upper()
            pieces.append(
                (name if param.required else f"[{name}]") + ("..." if param.nargs != 1 else "")
            )
    return pieces


class Command(TyperCommand):
    """A ``glaciermap`` command: its own options, then the global ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy([*super().get_params(ctx), *_GLOBAL_PARAMS])

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx)


class Group(TyperGroup):
    """A group of commands (``glaciermap regions``), taking the global options like a command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy([*super().get_params(ctx), *_GLOBAL_PARAMS])


class RootGroup(TyperGroup):
    """``glaciermap`` itself: declares the global options (with their environment variables)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))


__all__ = ["GLOBAL_PANEL", "Command", "Group", "RootGroup", "command_defaults", "global_params"]
