"""What the root options decide, handed to every command through ``ctx.obj``.

Kept deliberately small and free of heavy imports: settings and the workspace are resolved only when a
command asks for them.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from glaciermap.config import Settings
    from glaciermap.workspace import Workspace


class _PlainFormatter(logging.Formatter):
    """``message`` for info and debug, ``warning: message`` / ``error: message`` above."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


@dataclass
class AppState:
    """Options given before the command name (``glaciermap --verbose diff ...``)."""

    debug: bool = False
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    workspace_path: Path | None = None
    config_path: Path | None = None
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    _settings: Settings | None = None

    def configure_logging(self) -> None:
        """Send library logs to stderr through Rich, at the level the user chose."""
        level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[self.verbosity]
        if self.debug:
            level = logging.DEBUG
        handler: logging.Handler
        if self.err.is_terminal:
            from rich.logging import RichHandler

            handler = RichHandler(
                console=self.err, show_time=False, show_path=self.debug, markup=False
            )
        else:
            # Cron mails, CI logs and pipes: plain, unwrapped lines that grep and read well.
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_PlainFormatter())
        root = logging.getLogger("glaciermap")
        root.handlers[:] = [handler]
        root.setLevel(level)
        root.propagate = False

    def settings(self) -> Settings:
        """The merged configuration (config file, then workspace file), loaded once."""
        if self._settings is None:
            from glaciermap.config import load_settings

            self._settings = load_settings(self.config_path, workspace_override=self.workspace_path)
        return self._settings

    def workspace(self) -> Workspace:
        """Open (creating on first use) the workspace the options, environment or config point to."""
        from glaciermap.workspace import Workspace

        return Workspace.open(self.settings().workspace)

    def progress(self, *columns: Any) -> Progress:
        """A Rich progress display on stderr; off with --quiet and when stderr is not a terminal.

        Args:
            columns: Rich progress columns; after the task description by default.
        """
        from rich.progress import Progress, TextColumn

        return Progress(
            TextColumn("[progress.description]{task.description}"),
            *columns,
            console=self.err,
            # Off for --quiet, and for logs and pipes, where a bar is only noise.
            disable=self.verbosity < 0 or not self.err.is_terminal,
            transient=True,
        )

    def status(self, message: str) -> None:
        """Print a progress/status line to stderr unless --quiet."""
        if self.verbosity >= 0:
            self.err.print(message)
