"""Earthdata Login credentials for HyP3 (a token, ``~/.netrc``, or a prompt, never in cron), and logging in.

Looked up in this order:

1. ``EARTHDATA_TOKEN``: an EDL bearer token (https://urs.earthdata.nasa.gov/user_tokens).
2. ``~/.netrc`` (or ``$NETRC``) with ``machine urs.earthdata.nasa.gov login USER password PASS``.
3. An interactive prompt for a token, only when standard input is a terminal (so never under cron).

Secrets are held only in memory and handed to ``hyp3_sdk``; they are never logged, printed or written to
the catalog (:class:`Credentials` hides them from ``repr``).
"""

from __future__ import annotations

import getpass
import logging
import netrc
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from glaciermap.errors import AuthError

if TYPE_CHECKING:
    from glaciermap.io.hyp3.api import Hyp3Client

log = logging.getLogger(__name__)

EDL_HOST = "urs.earthdata.nasa.gov"
TOKEN_VARIABLE = "EARTHDATA_TOKEN"

HOW_TO_LOG_IN = (
    f"set {TOKEN_VARIABLE} to an Earthdata Login token (https://{EDL_HOST}/user_tokens), add "
    f"'machine {EDL_HOST} login USER password PASS' to ~/.netrc, or run interactively to be asked "
    "for a token"
)


@dataclass(frozen=True)
class Credentials:
    """How to log into HyP3; ``source`` says where they came from (safe to show)."""

    source: str  # "EARTHDATA_TOKEN" | "~/.netrc" | "prompt"
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def _netrc_path() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def from_netrc(path: Path | None = None) -> Credentials | None:
    """EDL login and password from a netrc file, or None when it has no entry for EDL.

    A file that other users may read or write gets a warning (never its content), as ``ftp`` and
    Python's own ``netrc`` complain of one; it is still used.
    """
    path = path or _netrc_path()
    if not path.is_file():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "%s can be read or changed by other users (mode %o) — run chmod 600 %s",
            path,
            mode,
            path,
        )
    try:
        entry = netrc.netrc(str(path)).authenticators(EDL_HOST)
    except (netrc.NetrcParseError, OSError) as exc:
        raise AuthError(
            f"cannot read {path}: {getattr(exc, 'msg', exc)}",
            f"fix the file, or {HOW_TO_LOG_IN}",
        ) from None
    if entry is None or not entry[0] or not entry[2]:
        return None
    return Credentials("~/.netrc", username=entry[0], password=entry[2])


def find_credentials(*, interactive: bool | None = None) -> Credentials:
    """The first credentials available (see the module docstring).

    Args:
        interactive: allow the prompt; default: only when standard input is a terminal.

    Raises:
        AuthError: none found, naming the three ways to provide them.
    """
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        return Credentials(TOKEN_VARIABLE, token=token)
    found = from_netrc()
    if found is not None:
        return found
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if interactive:
        token = getpass.getpass("Earthdata Login token: ").strip()
        if token:
            return Credentials("prompt", token=token)
    raise AuthError("no Earthdata Login credentials for HyP3", HOW_TO_LOG_IN)


def connect(credentials: Credentials, api_url: str | None = None) -> Hyp3Client:
    """The HyP3 API (``api_url``, default ASF's) logged in with ``credentials``.

    Raises:
        AuthError: the credentials were refused (naming the three ways to provide them).
        RemoteError: the service failed or cannot be reached.
    """
    from glaciermap.io.hyp3.api import PRODUCTION_API
    from glaciermap.io.hyp3.api import connect as log_in

    return log_in(
        api_url or PRODUCTION_API,
        token=credentials.token,
        username=credentials.username,
        password=credentials.password,
        login_hint=HOW_TO_LOG_IN,
    )


__all__ = ["HOW_TO_LOG_IN", "Credentials", "connect", "find_credentials", "from_netrc"]
