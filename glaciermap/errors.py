"""The errors a user can act on.

Every failure that glaciermap knows how to explain is a :class:`GlaciermapError`. The CLI turns one into a
single red line (``what is wrong — what to do``) and exit code 2; anything else is a bug and keeps its
traceback. Library code raises these with both parts filled in, so the message is useful from Python too.
"""

from __future__ import annotations


class GlaciermapError(Exception):
    """Base of all known errors.

    Args:
        message: what is wrong, naming the file or value involved.
        hint: what the user can do about it (optional but strongly encouraged).
    """

    exit_code = 2

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
