"""Single-band rasters written top to bottom as their rows are finished, then published as COGs together.

A producer that finishes rows in order (predict's Gaussian blender) cannot hold the whole raster: it
hands each band of finished rows to a :class:`RowStream`, which writes them into a tiled scratch
GeoTIFF. Rows are buffered until a whole row of blocks is complete, so every compressed block is written
once (a partly filled compressed block written again would be re-encoded and the file would grow);
memory is about one block row plus the arriving rows, whatever the raster's height.

:class:`StreamedCogs` keeps several such streams in one folder and publishes them together: every
scratch file is copied to a Cloud-Optimised GeoTIFF (:func:`~glaciermap.io.raster.cog.copy_to_cog`,
GDAL streaming block by block) under a hidden name, and only when all are complete are they renamed to
their final names. An interrupted run (error, Ctrl-C) leaves no file under a final name, and the hidden
scratch files are removed whatever happens.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from glaciermap.errors import GlaciermapError, InputError
from glaciermap.io.files import FULL_HINT, write_failure
from glaciermap.io.raster.cog import copy_to_cog

if TYPE_CHECKING:
    import numpy as np
    from affine import Affine

SCRATCH_BLOCK = 512
"""Tile side of the scratch GeoTIFFs, pixels: the COG's, so the copy reads each block once."""


class RowStream:
    """A single-band raster written in row order into a tiled scratch GeoTIFF (ZSTD, BigTIFF if needed).

    Either :meth:`write` whole arrays of rows, or fill the ``(n, width)`` view :meth:`reserve` returns
    (no copy of the caller's rows) and :meth:`commit` it. Rows must arrive in order, without gaps.

    Args:
        path: the scratch file (a hidden name; see :class:`StreamedCogs`).
        width, height: raster size, pixels. dtype: numpy/GDAL dtype name. nodata: value or None.
        crs, transform: the grid. description: band description (copied into the COG).
        block: tile side, pixels.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        dtype: str,
        nodata: float | None,
        crs: Any,
        transform: Affine,
        description: str | None = None,
        block: int = SCRATCH_BLOCK,
    ) -> None:
        import numpy as np
        import rasterio

        self.path = Path(path)
        self.width, self.height, self.block = int(width), int(height), block
        self._dst = rasterio.open(
            self.path,
            "w",
            driver="GTiff",
            width=self.width,
            height=self.height,
            count=1,
            dtype=dtype,
            nodata=nodata,
            crs=crs,
            transform=transform,
            tiled=True,
            blockxsize=block,
            blockysize=block,
            compress="ZSTD",
            bigtiff="IF_SAFER",
        )
        if description:
            self._dst.set_band_description(1, description)
        # One buffer of rows not yet written, reused: no list of chunks, no concatenated copy.
        self._buffer = np.empty((0, self.width), dtype=dtype)
        self.pending = 0  # rows in the buffer
        self.written = 0  # rows on disk

    @property
    def next_row(self) -> int:
        """The raster row the next rows start at."""
        return self.written + self.pending

    @property
    def closed(self) -> bool:
        return bool(self._dst.closed)

    def reserve(self, row0: int, n: int) -> np.ndarray:
        """A writable ``(n, width)`` view for rows ``row0 .. row0 + n - 1``; :meth:`commit` it once filled.

        Raises:
            ValueError: ``row0`` is not :attr:`next_row`, or the rows pass the raster's bottom.
        """
        if row0 != self.next_row:
            raise ValueError(f"rows must arrive in order: got {row0}, expected {self.next_row}")
        if row0 + n > self.height:
            raise ValueError(f"rows {row0}..{row0 + n - 1} pass the raster's {self.height} rows")
        self._grow(self.pending + n)
        return self._buffer[self.pending : self.pending + n]

    def commit(self, n: int) -> None:
        """Take the ``n`` rows filled in the view :meth:`reserve` gave; write every whole block row."""
        self.pending += n
        if self.pending >= self.block:
            self._write(self.pending - self.pending % self.block)

    def write(self, row0: int, rows: np.ndarray) -> None:
        """Append ``rows`` ``(n, width)`` at ``row0`` (which must be :attr:`next_row`)."""
        self.reserve(row0, len(rows))[...] = rows
        self.commit(len(rows))

    def _grow(self, rows: int) -> None:
        import numpy as np

        if rows <= len(self._buffer):
            return
        # Room for a block row plus the arriving chunk (one window row of windows at most, usually).
        capacity = max(rows, self.block + 2 * (rows - self.pending))
        grown = np.empty((capacity, self.width), dtype=self._buffer.dtype)
        grown[: self.pending] = self._buffer[: self.pending]
        self._buffer = grown

    def _write(self, n: int) -> None:
        from rasterio.windows import Window

        self._dst.write(self._buffer[:n], 1, window=Window(0, self.written, self.width, n))
        self.written += n
        left = self.pending - n  # < block <= n, so the two ranges do not overlap
        self._buffer[:left] = self._buffer[n : n + left]
        self.pending = left

    def close(self, *, flush: bool = True) -> None:
        """Write the rows still buffered (unless ``flush`` is False: an abandoned file) and close."""
        if self._dst.closed:
            return
        if flush and self.pending:
            self._write(self.pending)
        self._dst.close()


class StreamedCogs:
    """Row streams in one folder, published together as COGs under their final names.

    Use as a context manager: :meth:`add` a stream per output, write every row, then :meth:`publish`.
    Leaving the block without publishing (an error, Ctrl-C) removes every scratch file and leaves the
    final names as they were.

    Example::

        with StreamedCogs(out) as cogs:
            prob = cogs.add("probability.tif", width=w, height=h, dtype="float32", ...)
            ...  # prob.write(row0, rows) for every band of rows
            cogs.publish(replaces=[out / "record.json"])
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.tag = uuid.uuid4().hex[:8]
        self.streams: dict[str, RowStream] = {}
        self._scratch: list[Path] = []

    def _hidden(self, name: str, kind: str) -> Path:
        path = self.folder / f".{name}.{self.tag}.{kind}.tif"
        self._scratch.append(path)
        return path

    def add(self, name: str, **stream: Any) -> RowStream:
        """Start the stream that becomes ``folder/name``; ``stream`` are :class:`RowStream`'s arguments."""
        if name in self.streams:
            raise ValueError(f"{name} is already streamed")
        path = self._hidden(name, "stream")
        self.streams[name] = RowStream(path, **stream)
        return self.streams[name]

    def publish(
        self,
        *,
        replaces: Iterable[str | os.PathLike[str]] = (),
        **cog_options: Any,
    ) -> dict[str, Path]:
        """Close the streams, copy each to a COG under a hidden name, then rename them all.

        Args:
            replaces: files removed just before the renaming (records of an older run that must not
                stand beside the new rasters).
            cog_options: :func:`~glaciermap.io.raster.cog.copy_to_cog`'s options (default: 512 px
                blocks, DEFLATE with predictor 3 for floats / 2 for integers, overviews AVERAGE for
                floats / NEAREST for integers).

        Returns:
            ``name -> final path`` of every stream.
        """
        for stream in self.streams.values():
            stream.close()
        cogs = {name: self._hidden(name, "partial") for name in self.streams}
        for name, stream in self.streams.items():
            copy_to_cog(stream.path, cogs[name], **cog_options)
        for path in replaces:
            Path(path).unlink(missing_ok=True)
        for name, path in cogs.items():
            path.replace(self.folder / name)
        return {name: self.folder / name for name in cogs}

    def __enter__(self) -> StreamedCogs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # GDAL reports a full disk as a failed write without errno: ask before the evidence goes.
        why = None
        if isinstance(exc, Exception) and not isinstance(exc, GlaciermapError):
            why = write_failure(exc, self.folder, self._scratch)
        try:
            for stream in self.streams.values():
                stream.close(flush=False)  # after publish: already closed
        finally:
            for path in self._scratch:
                path.unlink(missing_ok=True)
        if why is not None:
            raise InputError(f"cannot write in {self.folder}: {why}", FULL_HINT) from exc


__all__ = ["SCRATCH_BLOCK", "RowStream", "StreamedCogs"]
