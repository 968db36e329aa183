"""Opening and reading rasters so that every failure becomes one line a user can act on.

The stages (preprocess, predict, vectorize) open their inputs through :func:`open_raster`. It turns
rasterio's and GDAL's failures — a missing file, a truncated or foreign file, a raster without a
coordinate reference system — into :class:`~glaciermap.errors.InputError` naming the file and saying what
to do. Reads that fail half-way through a file (a truncated tile, a VRT whose source went missing) are
translated the same way by :func:`read_errors_as_input`.

rasterio is imported inside the functions: importing this module must stay cheap for the CLI.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.io.messages import driver_message

if TYPE_CHECKING:
    from rasterio.io import DatasetReader


def _is_local_path(path: str) -> bool:
    """Whether ``path`` names a file on the local filesystem (not ``/vsi...`` or a URL)."""
    return not (path.startswith("/vsi") or "://" in path)


def gdal_error_message(exc: BaseException, path: str | os.PathLike[str] | None = None) -> str:
    """The first line of the innermost GDAL/rasterio cause of an exception, to fit an error on one line.

    rasterio wraps GDAL's own message ("gone.tif: No such file or directory") in a generic one ("Read
    failed. See previous exception for details."); the innermost one is what the user needs. With
    ``path``, GDAL's mentions of that file are left out: the caller's message names it already.
    """
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError

    while isinstance(exc.__cause__, RasterioError | CPLE_BaseError):
        exc = exc.__cause__
    return driver_message(exc, path)


def _messages(exc: BaseException) -> Iterator[str]:
    """The text of ``exc`` and of every exception it was raised from or during."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        todo += [current.__cause__, current.__context__]


def _named_part(exc: BaseException, parts: Sequence[str | os.PathLike[str]]) -> Path | None:
    """The first of ``parts`` whose file name GDAL's messages in ``exc`` mention, if any."""
    import re

    text = "\n".join(_messages(exc))
    for part in parts:
        # Not preceded by a name character: EXMP-1-1.tif must not match inside EXMP-11-1.tif.
        if re.search(rf"(?<![\w.-]){re.escape(Path(part).name)}", text):
            return Path(part)
    return None


def open_dataset(path: str | os.PathLike[str], *, require_crs: bool = True) -> DatasetReader:
    """Open a raster for reading and return the dataset; the caller closes it.

    For handles kept open across many reads (a DataLoader worker's tiles, a reader thread's VRT).
    Same checks and errors as :func:`open_raster`.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    name = os.fspath(path)
    if _is_local_path(name):
        local = Path(name)
        if not local.exists():
            raise InputError(f"raster {name} not found", "check the path and the current folder")
        if local.is_dir():
            raise InputError(
                f"{name} is a folder, not a raster file", "give the path of a raster file"
            )
    try:
        src = rasterio.open(name)
    except RasterioIOError as exc:
        raise InputError(
            f"cannot read {name} as a raster ({gdal_error_message(exc, name)})",
            "check that the file is a complete GeoTIFF or VRT (re-download or re-create it)",
        ) from exc
    if require_crs and src.crs is None:
        src.close()
        raise InputError(
            f"raster {name} has no CRS",
            f"assign one with `gdal_edit.py -a_srs EPSG:<code> {name}`",
        )
    return src


@contextlib.contextmanager
def open_raster(
    path: str | os.PathLike[str], *, require_crs: bool = True
) -> Iterator[DatasetReader]:
    """Open a raster for reading, raising :class:`InputError` for the failures a user can fix.

    Args:
        path: a local file (GeoTIFF, VRT, ...) or a GDAL virtual path (``/vsicurl/...``).
        require_crs: raise if the raster has no coordinate reference system. Every glaciermap stage
            needs one, so this is on by default; turn it off only to inspect a raster.

    Yields:
        The open rasterio dataset; it is closed when the block ends.

    Raises:
        InputError: the file does not exist, is a folder, cannot be read as a raster, or has no CRS.
    """
    with open_dataset(path, require_crs=require_crs) as src:
        yield src


def open_raster_for_worker(
    path: str | os.PathLike[str], *, gdal_cache_bytes: int | None = None
) -> DatasetReader:
    """Open a raster that a worker process keeps open for its whole life (a ``map_tasks`` setup).

    Unlike :func:`open_raster` it returns the dataset itself: it is the worker's state and closes when
    the process ends. Failures are the same :class:`InputError`\\ s.

    Args:
        path: the raster; a file other processes can open by name (not ``/vsimem/``).
        gdal_cache_bytes: if given, this process's GDAL block cache (``GDAL_CACHEMAX``), bytes. GDAL's
            default is 5 % of the RAM in every process, too much when several workers read at once.
    """
    if gdal_cache_bytes is not None:
        from rasterio.env import set_gdal_config

        set_gdal_config("GDAL_CACHEMAX", gdal_cache_bytes)
    return open_dataset(path)


def gdal_env(**options: str | int | bool) -> contextlib.AbstractContextManager[Any]:
    """Set GDAL configuration options (e.g. ``GDAL_CACHEMAX=bytes``) in this process for the block.

    In a thread other than the main one the options are that thread's. The context manager is
    rasterio's ``Env`` itself, not a generator, so a thread may enter one for its whole life and leave
    it unexited (a generator's cleanup would run it in whichever thread collects it).
    """
    import rasterio

    return rasterio.Env(**options)  # type: ignore[no-any-return]


@contextlib.contextmanager
def read_errors_as_input(
    path: str | os.PathLike[str],
    *,
    parts: Sequence[str | os.PathLike[str]] = (),
    hint: str = "the file is truncated or corrupt, or a file it refers to is missing; re-create it",
) -> Iterator[None]:
    """Turn a read that fails part-way through a raster into an :class:`InputError`.

    A raster can open cleanly and still fail later: a truncated GeoTIFF fails on its missing tiles, a VRT
    on a source file that was moved or damaged. Wrap the reading loop in this context manager.

    Args:
        path: the raster being read, named in the message.
        parts: the files a VRT ``path`` reads; the one GDAL's messages name is named instead of it.
        hint: what to do (e.g. how to rebuild the file).

    Raises:
        InputError: in place of rasterio's ``RasterioIOError`` raised inside the block.
    """
    from rasterio.errors import RasterioIOError

    try:
        yield
    except RasterioIOError as exc:
        damaged = _named_part(exc, parts)
        if damaged is not None:
            raise InputError(
                f"{damaged} is truncated or corrupt ({gdal_error_message(exc, damaged)})", hint
            ) from exc
        raise InputError(
            f"failed reading {os.fspath(path)} ({gdal_error_message(exc, path)})", hint
        ) from exc


def check_band(src: DatasetReader, band: int) -> None:
    """Raise :class:`InputError` unless ``band`` (1-based) exists in ``src``."""
    if not 1 <= band <= src.count:
        raise InputError(
            f"band {band} does not exist in {src.name}, which has {src.count} band(s)",
            f"choose a band from 1 to {src.count}",
        )


def metres_per_unit(src: DatasetReader) -> float:
    """How many metres one unit of the raster's projected CRS is (1.0 for UTM).

    Areas and distances must be computed in a projected metric-like CRS; a raster in longitude and
    latitude is refused with a hint naming the UTM zone that covers its centre.

    Args:
        src: an open raster with a CRS.

    Returns:
        The length of one CRS unit in metres.

    Raises:
        InputError: the CRS is geographic (degrees) or its unit is not a length.
    """
    crs = src.crs
    if crs is None:
        raise InputError(f"raster {src.name} has no CRS", "assign one with `gdal_edit.py -a_srs`")
    if crs.is_geographic:
        raise InputError(
            f"raster {src.name} is in a geographic CRS ({crs.to_string()}), so areas in degrees"
            " are meaningless",
            f"reproject it to a projected metric CRS, e.g. "
            f"`gdalwarp -t_srs {_utm_zone_code(src)} {src.name} projected.tif`",
        )
    from rasterio.errors import CRSError

    try:
        unit, factor = crs.linear_units_factor
    except CRSError:
        unit, factor = "unknown", math.nan
    if not (factor > 0 and math.isfinite(factor)):
        raise InputError(
            f"raster {src.name} has a CRS ({crs.to_string()}) whose unit ({unit}) is not a length",
            "reproject it to a projected metric CRS such as its UTM zone",
        )
    return float(factor)


def _utm_zone_code(src: DatasetReader) -> str:
    """The EPSG code of the WGS 84 UTM zone covering the centre of a geographic raster."""
    left, bottom, right, top = src.bounds
    lon = ((left + right) / 2 + 180.0) % 360.0 - 180.0
    lat = (bottom + top) / 2
    zone = min(60, max(1, int((lon + 180.0) // 6) + 1))
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"
