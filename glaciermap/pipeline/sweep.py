"""Sweeping the temporary files a killed run left in the folders it owns.

A run killed with ``kill -9`` (or a reboot) cannot remove what it was writing: files under
:data:`glaciermap.io.files.TEMPORARY_NAME`'s hidden names (``atomic_output``, the predict rasters'
streams), and the scratch folders the product writer and the zip extractor make beside product zips
(``.<product>.<8 characters>/``). None of them is ever under a final name, so they are only litter; the
next run of the same region and year removes them once it holds that run's lock (see
:mod:`glaciermap.pipeline.lock`), which proves the run that made them is dead: no other run writes in
these folders (a hand-run stage command on the same region and year at the same time would be unwise
anyway).

Download's resumable state is kept: ``.<stem>.part<suffix>`` files and ``.<product>.partial/`` folders
continue where they stopped.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from glaciermap.io.files import is_temporary_name

_SCRATCH_FOLDER = re.compile(r"^\.(?P<base>[A-Za-z0-9_]+)\.[a-z0-9_]{8}$")
"""``tempfile``'s ``.<product base>.<8 characters>`` folders (io/hyp3 pack.work_folder and
read.extract_product); download's ``.<base>.partial`` has 7 characters after the dot and is kept."""


def _is_scratch_folder(name: str) -> bool:
    from glaciermap.io.hyp3 import is_insar_name, is_rtc_name

    match = _SCRATCH_FOLDER.match(name)
    return match is not None and (is_rtc_name(match["base"]) or is_insar_name(match["base"]))


def leftovers(folders: Iterable[Path]) -> list[Path]:
    """The temporary files and scratch folders under ``folders`` (recursively), sorted."""
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        stack = [folder]
        while stack:
            current = stack.pop()
            for entry in current.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    if _is_scratch_folder(entry.name):
                        found.append(entry)
                    else:
                        stack.append(entry)
                elif is_temporary_name(entry.name):
                    found.append(entry)
    return sorted(found)


def sweep(folders: Iterable[Path]) -> list[Path]:
    """Remove :func:`leftovers` of ``folders``; returns what was removed."""
    removed = []
    for path in leftovers(folders):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


__all__ = ["leftovers", "sweep"]
