"""The errors a user can act on.

Every failure that glaciermap knows how to explain is a :class:`GlaciermapError`. The CLI turns one into a
single line (``error: what is wrong — what to do``) and the class's ``exit_code``; anything else is a bug
and keeps its traceback. Library code raises these with both parts filled in, so the message is useful
from Python too.

Exit codes (those of ``glaciermap run``, which cron and systemd read):

* 2: bad input or configuration (:class:`InputError`, :class:`ConfigError`, :class:`WorkspaceError`,
  :class:`AuthError`; :class:`RemoteError` too, for the commands other than ``run``);
* 75 (``EX_TEMPFAIL`` of ``sysexits.h``): not finished yet, try later (:class:`TryLaterError`: HyP3 jobs
  still running, another run holding the lock, another process writing the same output);
* 1: a stage of ``glaciermap run`` failed (:class:`StageError`; the run's log has the traceback).
"""

from __future__ import annotations


class GlaciermapError(Exception):
    """Base of all known errors.

    Args:
        message: what is wrong, naming the file or value involved.
        hint: what the user can do about it (optional but strongly encouraged).
    """

    exit_code = 2
    label = "error"  # the word the CLI prints before the message

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:
        # Keep the hint when the error crosses a process boundary (worker pools pickle it).
        return (type(self), (self.message, self.hint))


class InputError(GlaciermapError):
    """A file or value given to a command is missing, unreadable or unsuitable."""


class ConfigError(GlaciermapError):
    """The configuration file or a region definition is invalid."""


class WorkspaceError(GlaciermapError):
    """The workspace cannot be created, opened or is inconsistent."""


class AuthError(GlaciermapError):
    """Credentials for a remote service are missing or rejected."""


class RemoteError(GlaciermapError):
    """A remote service failed in a way retries did not cure."""


class TryLaterError(GlaciermapError):
    """Nothing is wrong, but the work cannot finish now (HyP3 still processing, another run busy)."""

    exit_code = 75  # EX_TEMPFAIL: cron and systemd read it as "temporary, run again later"
    label = "try later"


class RunLockedError(TryLaterError):
    """Another ``glaciermap run`` holds the lock of this workspace, region and year."""


class OutputLockedError(TryLaterError):
    """Another glaciermap process is writing the output a command was asked to write."""


class StageError(GlaciermapError):
    """A stage of ``glaciermap run`` failed for a reason other than bad input (the log has the rest)."""

    exit_code = 1
