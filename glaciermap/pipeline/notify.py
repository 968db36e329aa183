"""``run --on-change CMD``: run a command with the year's summary.json when the summary says ``changed``.

The command is split as a shell would (:func:`shlex.split`) but run without one, with the summary's
path as its last argument, so ``--on-change "mail-summary --to ops@example.org"`` runs
``mail-summary --to ops@example.org <workspace>/inventory/R/Y/summary.json``. It is checked before the
run starts (it must parse and name an executable). A summary is notified once: the runner records its
sha256 when the command succeeds, so a repeated run does not mail again, and a command that failed is
tried again by the next run.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

from glaciermap.errors import InputError

HOOK_TIMEOUT_S = 600.0
"""The longest a notification command may take (the run's lock is held meanwhile)."""


def parse_command(command: str) -> list[str]:
    """``command`` split into arguments, its program found on ``PATH`` (or given as a path).

    Raises:
        InputError: it does not parse, is empty, or names no executable program.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise InputError(
            f"--on-change {command!r} cannot be split into arguments ({exc})",
            "quote it as you would in a shell",
        ) from None
    if not argv:
        raise InputError("--on-change is empty", "give the command to run, e.g. mail-summary")
    if shutil.which(argv[0]) is None:
        raise InputError(
            f"--on-change: {argv[0]!r} is not an executable program",
            "give its full path, or a program on PATH (cron's PATH is short: /usr/bin:/bin)",
        )
    return argv


def summary_says_changed(summary: Path) -> bool:
    """Whether ``summary.json`` says ``"changed": true``.

    Raises:
        InputError: the file is missing or not a JSON object.
    """
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{summary} does not exist", "the inventory update writes it") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{summary} cannot be read as JSON ({exc})", "rerun the update") from None
    if not isinstance(data, dict):
        raise InputError(f"{summary} is not a JSON object", "rerun the update")
    return bool(data.get("changed"))


def run_hook(command: str, summary: Path, *, timeout: float = HOOK_TIMEOUT_S) -> int:
    """Run ``command`` with ``summary`` as its last argument; returns its exit code (-1: timed out,
    127: not found). Its output goes where the run's goes (cron mail, the journal)."""
    argv = [*shlex.split(command), str(summary)]
    try:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        ).returncode
    except subprocess.TimeoutExpired:
        return -1
    except FileNotFoundError:
        return 127


__all__ = ["HOOK_TIMEOUT_S", "parse_command", "run_hook", "summary_says_changed"]
