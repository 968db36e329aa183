"""GDAL's and OGR's error messages cut to what fits in one ``error:`` line."""

from __future__ import annotations

import os
from pathlib import Path

_ADVICE = "; It might help to specify the correct driver"
"""Where OGR's advice about driver prefixes begins (no use to someone who gave the wrong file)."""


def driver_message(exc: BaseException, path: str | os.PathLike[str] | None = None) -> str:
    """The first line of ``exc``'s message, without OGR's driver advice and, with ``path``, without
    GDAL's mentions of that file: the caller's message names it already."""
    text = str(exc).strip()
    text = text.splitlines()[0].split(_ADVICE)[0] if text else ""
    if path is not None:
        for name in (os.fspath(path), Path(path).name):
            for form in (f"`{name}' ", f"'{name}' ", f"{name}: ", f"{name}, "):
                text = text.replace(form, "")
    return text.rstrip(".") or type(exc).__name__


__all__ = ["driver_message"]
