"""Rasters on disk: opening them with clear errors, and the one way glaciermap writes them.

* :mod:`.read`: :func:`open_raster` and :func:`read_errors_as_input` turn GDAL's failures into one-line
  :class:`~glaciermap.errors.InputError`\\ s naming the file; :func:`open_raster_for_worker` opens one
  that a worker process keeps, :func:`gdal_env` sets GDAL options for a block.
* :mod:`.cog`: :func:`write_cog` writes an in-memory array as a Cloud-Optimised GeoTIFF (GDAL's COG
  driver: tiles, overviews and layout), :func:`copy_to_cog` turns a tiled GeoTIFF into one, streaming.
* :mod:`.stream`: :class:`RowStream` writes a single-band raster row by row as a producer finishes its
  rows; :class:`StreamedCogs` publishes several such rasters together as COGs (no final name until all
  are complete, scratch files removed on failure).

rasterio is imported inside the functions: importing this package stays cheap for the CLI.
"""

from typing import TYPE_CHECKING

from glaciermap.io.raster.cog import copy_to_cog, write_cog
from glaciermap.io.raster.read import (
    check_band,
    gdal_env,
    gdal_error_message,
    metres_per_unit,
    open_dataset,
    open_raster,
    open_raster_for_worker,
    read_errors_as_input,
)
from glaciermap.io.raster.stream import RowStream, StreamedCogs

if TYPE_CHECKING:
    # The type of an open raster, for annotations in modules that import no rasterio themselves.
    from rasterio.io import DatasetReader as DatasetReader

__all__ = [
    "RowStream",
    "StreamedCogs",
    "check_band",
    "copy_to_cog",
    "gdal_env",
    "gdal_error_message",
    "metres_per_unit",
    "open_dataset",
    "open_raster",
    "open_raster_for_worker",
    "read_errors_as_input",
    "write_cog",
]
