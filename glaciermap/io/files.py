"""Writing files so that a final name only ever holds a complete file.

Every stage writes through :func:`atomic_output`: the work goes to a hidden temporary name in the target's
folder (same filesystem, so the final rename is atomic) and is renamed only when the block finishes
without an exception. On failure — including Ctrl-C — the temporary file is removed and any earlier file
under the final name is left untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from glaciermap.errors import GlaciermapError, InputError

TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.(?:partial|stream)(?:[.-].*)?$")
"""The hidden names of files being written: :func:`atomic_output`'s ``.<stem>.<8 hex>.partial<suffix>``,
:class:`~glaciermap.io.raster.stream.StreamedCogs`' ``.<name>.<8 hex>.stream.tif`` and
``.<name>.<8 hex>.partial.tif``, and the journals or sidecars SQLite and GDAL put beside them
(``-journal``, ``.ovr``). A process killed while writing leaves them; nothing else is named so.
Download's resumable parts (``.<stem>.part<suffix>``, ``.<product>.partial/``) are not matched."""


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` (a file name, no folder) is one of :data:`TEMPORARY_NAME`'s."""
    return TEMPORARY_NAME.match(name) is not None


WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
"""Failures of writing that are the user's to fix: a full disk or quota, a read-only filesystem, a
file-size limit (``ulimit -f``). Permission errors are too."""


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is an :class:`OSError` of :data:`WRITE_ERRNOS` or a permission error."""
    return isinstance(exc, PermissionError) or (
        isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS
    )


FULL_HINT = "free some space, or choose a folder you can write to"
"""What to do when a write failed for want of room."""
_NEARLY_FULL = 1 << 20  # bytes: less than this free after a failed write means the disk filled up


def room_problem(
    folder: str | os.PathLike[str], written: Iterable[Path] = (), needed: int = 0
) -> str | None:
    """Why a write in ``folder`` may have failed for want of room, or None when there is room.

    GDAL and OGR report a full disk as a failed write, or as a damaged file they then read back,
    without ``errno``; after such a failure this looks: can a file be made in ``folder`` at all, did
    a file of ``written`` reach the process's file-size limit (``ulimit -f``), is the filesystem full?
    ``needed``: bytes the failed file could have taken (0: unknown). Drivers that write at close
    (COG) delete their partial file on failure, so it cannot be measured: a limit or a free space
    below that size is then the likely cause.
    """
    import resource
    import shutil
    import tempfile

    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".partial")
    except OSError as exc:
        return (exc.strerror or str(exc)) if is_write_failure(exc) else None
    os.close(handle)
    Path(probe).unlink()

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        sizes = [p.stat().st_size for p in written if p.is_file()]
        # A write that crosses the limit stops at it; a block short of it is as good as there.
        if (sizes and max(sizes) >= limit - (1 << 16)) or limit < needed:
            return f"files may not grow beyond {limit} bytes here (ulimit -f)"
    try:
        free = shutil.disk_usage(folder).free
        if free < max(_NEARLY_FULL, needed):
            return os.strerror(errno.ENOSPC)
    except OSError:
        return None
    return None


def write_failure(
    exc: BaseException,
    folder: str | os.PathLike[str],
    written: Iterable[Path] = (),
    needed: int = 0,
) -> str | None:
    """What went wrong when ``exc`` broke off writing ``written`` in ``folder``, when it is the
    user's to fix (:func:`is_write_failure`, :func:`room_problem`); None for anything else."""
    if isinstance(exc, OSError) and is_write_failure(exc):
        return exc.strerror or str(exc)
    return room_problem(folder, written, needed)


def write_error(
    exc: BaseException, final: Path, written: Iterable[Path], needed: int = 0
) -> InputError | None:
    """The one-line error for ``exc`` breaking off the writing of ``final`` (through ``written``,
    its temporary or partial files), or None when that failure is not the user's to fix."""
    why = write_failure(exc, final.parent, written, needed)
    return None if why is None else InputError(f"cannot write {final}: {why}", FULL_HINT)


def make_output_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and its parents) for a stage's outputs; :class:`InputError` when it cannot
    be created or written in."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create output folder {path}: {exc.strerror or exc}",
            "choose a folder you can write to",
        ) from None
    if not os.access(path, os.W_OK):
        raise InputError(
            f"output folder {path} is not writable", "choose a folder you can write to"
        )
    return path


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], *, overwrite: bool = True, needed: int = 0
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    Args:
        path: the final file name.
        overwrite: if False and ``path`` exists, raise :class:`InputError` before any work is done.
        needed: bytes the file may take (0: unknown); tells a failed write that a driver cleaned up
            after itself (GDAL's COG) from a bug, by the room left (:func:`room_problem`).

    Yields:
        A path in the same folder with the same suffix (drivers such as GPKG choose by suffix).
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise InputError(
            f"{final} already exists", "pass --overwrite or choose another output name"
        )
    parent = final.parent if str(final.parent) else Path()
    if not parent.is_dir():
        raise InputError(
            f"output folder {parent} does not exist",
            "create it first or choose another output path",
        )
    if not os.access(parent, os.W_OK):
        raise InputError(
            f"output folder {parent} is not writable", "choose a folder you can write to"
        )
    tmp = parent / f".{final.stem}.{uuid.uuid4().hex[:8]}.partial{final.suffix}"
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to the temporary file for {final}")
        tmp.replace(final)
    except GlaciermapError:
        raise
    except Exception as exc:
        # Only the failures of writing itself are the user's to fix; anything else is a bug.
        error = write_error(exc, final, [tmp], needed)
        if error is None:
            raise
        raise error from exc
    finally:
        _remove_with_sidecars(tmp)


def _remove_with_sidecars(tmp: Path) -> None:
    """Remove a temporary file and the journal files SQLite/GDAL may leave beside it."""
    for candidate in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-journal", "-wal", "-shm"))):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``sha256``, ``md5``, any :mod:`hashlib` name), read in chunks."""
    import hashlib

    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
