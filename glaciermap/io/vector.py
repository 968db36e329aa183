"""Vector files: GeoPackage writing and OGR reading with clear errors, the only users of pyogrio.

* :func:`write_gpkg` writes one or more GeoDataFrames as layers of one GeoPackage, atomically (the file
  appears under its final name only when every layer is written).
* :func:`write_frame` writes one frame with any OGR driver (the shapefile of a HyP3 product).
* :func:`write_gpkg_stream` streams record batches into one layer with a single GDAL write, so GDAL
  builds the spatial index once at the end (used by ``vectorize`` for rasters larger than memory).
* :func:`read_frame` and :func:`list_layers` read any OGR source (GeoPackage, shapefile, GeoJSON,
  CSV, ...), turning the driver's errors into one :class:`~glaciermap.errors.InputError`.

Only the driver's own error types are caught: anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.io.messages import driver_message

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa

GPKG = "GPKG"


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The exceptions pyogrio raises for unreadable or unsuitable sources (and the OS's)."""
    from pyogrio.errors import DataLayerError, DataSourceError

    return (DataSourceError, DataLayerError, OSError)


def first_line(exc: BaseException, path: str | os.PathLike[str] | None = None) -> str:
    """The first line of an exception's message (GDAL's can run over several), without the driver's
    mentions of ``path`` (see :func:`~glaciermap.io.messages.driver_message`)."""
    return driver_message(exc, path)


def write_gpkg(
    path: str | os.PathLike[str],
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    overwrite: bool = True,
    layer_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``layers`` (name -> frame, in order) to one GeoPackage, atomically.

    Args:
        path: the ``.gpkg`` file.
        layers: the layers; each frame's CRS is the layer's.
        overwrite: replace an existing file; if False an existing file is an :class:`InputError`
            raised before anything is written.
        layer_options: per layer, extra keywords for ``GeoDataFrame.to_file`` (``geometry_type``,
            ``promote_to_multi``).

    Returns:
        The path written.
    """
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        for name, frame in layers.items():
            options = dict((layer_options or {}).get(name, {}))
            frame.to_file(tmp, layer=name, driver=GPKG, engine="pyogrio", **options)
    return path


def write_frame(
    path: str | os.PathLike[str], frame: gpd.GeoDataFrame, *, driver: str, layer: str | None = None
) -> Path:
    """Write one GeoDataFrame with any OGR ``driver`` (``"ESRI Shapefile"``, ``"GeoJSON"``, ...).

    Written in place, not atomically: formats such as the shapefile are several files, which one rename
    cannot publish together; callers write into a scratch folder instead.

    Returns:
        The path written.
    """
    options = {} if layer is None else {"layer": layer}
    frame.to_file(path, driver=driver, engine="pyogrio", **options)
    return Path(path)


def write_gpkg_stream(
    path: str | os.PathLike[str],
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    *,
    layer: str,
    geometry_type: str,
    crs_wkt: str,
) -> None:
    """Stream record batches (geometry as WKB in column ``geometry``) into one GeoPackage layer.

    One ``write_arrow`` call: GDAL builds the spatial index once, at the end (appending batch by batch
    was 4x slower). ``path`` is written as given; callers wrap it in :func:`atomic_output`.
    An exception raised while producing the batches is re-raised as itself (GDAL would report it as
    a generic write failure).
    """
    import pyarrow as pa
    from pyogrio.raw import write_arrow

    failure: list[BaseException] = []

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except BaseException as exc:
            failure.append(exc)
            raise

    try:
        write_arrow(
            pa.RecordBatchReader.from_batches(schema, guarded()),
            path,
            layer=layer,
            driver=GPKG,
            geometry_name="geometry",
            geometry_type=geometry_type,
            crs=crs_wkt,
        )
    except BaseException:
        if failure:
            # Not "from None": that would cut the chain of causes that names GDAL's own error.
            raise failure[0]  # noqa: B904
        raise
    if failure:
        raise failure[0]


def list_layers(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(name, geometry type)`` of every layer of a vector source.

    Raises:
        InputError: the file cannot be opened as vector data.
    """
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except _driver_errors() as exc:
        raise InputError(
            f"{path} cannot be read as vector data ({first_line(exc, path)})",
            "give a shapefile, GeoPackage, GeoJSON or GeoParquet file",
        ) from exc
    return [(str(name), str(kind) if kind is not None else "") for name, kind in layers]


def read_frame(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    read_geometry: bool = True,
    message: str | None = None,
    hint: str = "check that the file is complete and is a shapefile, GeoPackage or GeoJSON",
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read one layer of a vector source (a DataFrame without geometry when ``read_geometry=False``).

    Args:
        path: the file (any OGR source).
        layer: the layer to read; None: the first (a shapefile's or CSV's only one).
        read_geometry: False reads the attribute table only.
        message: what the error says before the driver's reason, e.g. ``"cannot read split file
            grid.shp"``; default ``"<path> cannot be read"``.
        hint: what the error tells the user to do.

    Raises:
        InputError: the file cannot be read (missing, damaged, not vector data, no such layer):
            ``"<message> (<the driver's first line>) — <hint>"``.
    """
    import pyogrio

    try:
        return pyogrio.read_dataframe(path, layer=layer, read_geometry=read_geometry)
    except _driver_errors() as exc:
        what = message if message is not None else f"{path} cannot be read"
        raise InputError(f"{what} ({first_line(exc, path)})", hint) from exc


__all__ = [
    "first_line",
    "list_layers",
    "read_frame",
    "write_frame",
    "write_gpkg",
    "write_gpkg_stream",
]
