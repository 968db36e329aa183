"""Sweeping the temporary files that killed processes left in the folders they wrote.

A process killed with ``kill -9`` (or a reboot) cannot remove what it was writing: files under
:data:`glaciermap.io.files.TEMPORARY_NAME`'s hidden names (``atomic_output``, the predict rasters'
streams), the scratch folders the product writer and the zip extractor make beside product zips
(``.<product>.<8 characters>/``), and its :class:`~glaciermap.io.lock.OutputLock` files. None of them is
ever under a final name, so they are only litter. They are swept by a process that holds the lock of
the output they belong to (:mod:`glaciermap.io.lock`): holding it proves that their writer is dead. What
a lock held by another live process covers is left alone: a folder whose own lock is held, and the
temporary files of a file whose lock is held.

Download's resumable state is kept: ``.<stem>.part<suffix>`` files and ``.<product>.partial/`` folders
continue where they stopped.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from glaciermap.io.files import is_temporary_name
from glaciermap.io.lock import held_elsewhere, is_lock_name, lock_path, remove_if_stale

_SCRATCH_FOLDER = re.compile(r"^\.(?P<base>[A-Za-z0-9_]+)\.[a-z0-9_]{8}$")
"""``tempfile``'s ``.<product base>.<8 characters>`` folders (io/hyp3 pack.work_folder and
read.extract_product); download's ``.<base>.partial`` has 7 characters after the dot and is kept."""


def _is_scratch_folder(name: str) -> bool:
    from glaciermap.io.hyp3 import is_insar_name, is_rtc_name

    match = _SCRATCH_FOLDER.match(name)
    return match is not None and (is_rtc_name(match["base"]) or is_insar_name(match["base"]))


def _covered(entry: Path, live: set[str]) -> bool:
    """Whether a temporary file belongs to a file whose lock another process holds (``live``: the
    names whose ``.<name>.lock`` is held, in the entry's folder)."""
    target = _base(entry.name)
    return any(target in (name, Path(name).stem) for name in live)


def _base(name: str) -> str:
    # ".<base>.<8 hex>.(partial|stream)<rest>": the base ends before the 8 hex digits.
    found = re.match(r"^\.(?P<base>.+)\.[0-9a-f]{8}\.(?:partial|stream)", name)
    return found["base"] if found else name


def _live_locks(folder: Path, names: list[str]) -> set[str]:
    """The names in ``folder`` whose lock file is held by another process."""
    return {
        name[1 : -len(".lock")]
        for name in names
        if is_lock_name(name) and held_elsewhere(folder / name)
    }


def leftovers(folders: Iterable[Path]) -> list[Path]:
    """The temporary files, scratch folders and stale lock files under ``folders`` (recursively), but
    for those a lock held by another process covers; sorted."""
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir() or held_elsewhere(lock_path(folder)):
            continue
        stack = [folder]
        while stack:
            current = stack.pop()
            entries = list(current.iterdir())
            names = [e.name for e in entries]
            live = _live_locks(current, names)
            for entry in entries:
                if entry.is_dir() and not entry.is_symlink():
                    if entry.name in live:
                        continue  # a folder another process is writing
                    if _is_scratch_folder(entry.name):
                        found.append(entry)
                    else:
                        stack.append(entry)
                elif is_temporary_name(entry.name):
                    if not _covered(entry, live):
                        found.append(entry)
                elif is_lock_name(entry.name) and entry.name[1 : -len(".lock")] not in live:
                    found.append(entry)
    return sorted(found)


def _remove(path: Path) -> bool:
    if is_lock_name(path.name) and not is_temporary_name(path.name):
        return remove_if_stale(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


def sweep(folders: Iterable[Path]) -> list[Path]:
    """Remove :func:`leftovers` of ``folders``; returns what was removed."""
    return [path for path in leftovers(folders) if _remove(path)]


def sweep_file(output: Path) -> list[Path]:
    """Remove the temporary files written for the file ``output`` (beside it) by dead processes."""
    folder = output.parent if str(output.parent) else Path()
    if not folder.is_dir():
        return []
    names = {output.name, output.stem}
    return [
        entry
        for entry in sorted(folder.iterdir())
        if is_temporary_name(entry.name) and _base(entry.name) in names and _remove(entry)
    ]


__all__ = ["leftovers", "sweep", "sweep_file"]
