"""What the root options decide, handed to every command through ``ctx.obj``.

Kept deliberately small and free of heavy imports: settings and the workspace are resolved only when a
command asks for them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from glaciermap.errors import InputError

if TYPE_CHECKING:
    from rich.progress import Progress

    from glaciermap.cluster import ClusterSpec
    from glaciermap.config import Settings
    from glaciermap.stack_format import StackMeta
    from glaciermap.workers import Executor
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
    """The global options (``--verbose``, ``--workspace``, ...), given before or after the command name."""

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

    def use(self, *, config_path: Path | None = None, workspace_path: Path | None = None) -> None:
        """Switch to another config file or workspace (given after the command name)."""
        if config_path is not None:
            self.config_path = config_path
        if workspace_path is not None:
            self.workspace_path = workspace_path
        self._settings = None

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

    def stack(self, folder: Path | None, region: str | None, year: int | None) -> StackMeta:
        """The stack a command works on: ``--stack DIR``, else the workspace's of ``--region --year``.

        With both, the folder's stack must be of that region and year.
        """
        if folder is not None:
            from glaciermap.stack_format import STACK_JSON, StackMeta

            if not (folder / STACK_JSON).is_file():
                raise InputError(
                    f"no stack in {folder}", "build it with `glaciermap preprocess` or fix --stack"
                )
            meta = StackMeta.read(folder)
            meta.check_identity(
                self.settings().region(region) if region is not None else None, year
            )
            return meta
        if region is None or year is None:
            raise InputError("no stack given", "pass --stack DIR, or --region and --year")
        chosen = self.settings().region(region)
        meta = self.workspace().stack(chosen.name, year)
        meta.check_identity(chosen)  # the grid too: the config may have redefined the region
        return meta

    def weights(self, spec: str) -> Path:
        """The weights ``spec`` names (see :mod:`glaciermap.models.lookup`), as ``folder/NAME``.

        The workspace's ``weights/`` is searched when the workspace exists; it is not created for this.
        """
        from glaciermap.models.lookup import resolve_weights
        from glaciermap.stack_format import STACK_JSON

        if (Path(spec) / STACK_JSON).is_file():  # `predict STACK` before the stack became --stack
            raise InputError(
                f"{spec} is a stack, not weights", f"give it as --stack {spec} after the weights"
            )
        root = self.settings().workspace
        return resolve_weights(spec, root if root.is_dir() else None)

    def cluster(self, scheduler: str | None, cluster: str | None) -> ClusterSpec | None:
        """The Dask cluster of ``--scheduler`` / ``--cluster``, ``GLACIERMAP_SCHEDULER`` or the config
        file's ``[dask]`` table (:func:`glaciermap.cluster.resolve_spec`); None for local processes."""
        from glaciermap.cluster import CONFIG_TABLE, resolve_spec

        settings = self.settings()
        files = ", ".join(map(str, settings.files)) or "glaciermap.toml"
        return resolve_spec(
            scheduler, cluster, settings.stages.get(CONFIG_TABLE), os.environ, config_name=files
        )

    @contextlib.contextmanager
    def executor(
        self, workers: int | None, scheduler: str | None, cluster: str | None
    ) -> Iterator[Executor]:
        """Where a command's tasks run: the Dask cluster asked for (:meth:`cluster`), connected for
        the block and left (a cluster started here is stopped) at its end; else ``workers`` local
        processes (default: the CPUs, at most 4). With -v, the cluster's log line gives the link to
        its dashboard."""
        from glaciermap.cluster import open_executor

        with open_executor(self.cluster(scheduler, cluster), workers) as executor:
            yield executor

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
