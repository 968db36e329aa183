"""Writing Cloud-Optimised GeoTIFFs: the one COG writer every stage uses.

GDAL's COG driver does the work (internal tiles, overviews, the layout that lets a reader fetch a window
with a few range requests); this module only chooses the options the same way everywhere:

* DEFLATE compression with the predictor that suits the data (3, floating point, for floats; 2,
  horizontal differencing, for integers), unless the caller asks otherwise;
* overviews averaged for continuous values and nearest-neighbour for integer codes (labels, masks,
  layover/shadow maps), whose values must not be blended into codes that mean something else;
* BigTIFF only when the file might pass 4 GB;
* through :func:`~glaciermap.io.files.atomic_output`, so a final name only ever holds a complete file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from glaciermap.io.files import atomic_output, write_error

if TYPE_CHECKING:
    import numpy as np
    from affine import Affine

AUTO: Literal["auto"] = "auto"


def _is_float(dtype: Any) -> bool:
    import numpy as np

    return bool(np.issubdtype(np.dtype(dtype), np.floating))


def cog_options(
    dtype: Any,
    *,
    blocksize: int = 512,
    compress: str = "DEFLATE",
    predictor: int | Literal["auto"] | None = AUTO,
    overview_resampling: str | None = None,
) -> dict[str, Any]:
    """GDAL COG creation options for rasters of ``dtype`` (see the module docstring)."""
    floating = _is_float(dtype)
    options: dict[str, Any] = {
        "compress": compress,
        "blocksize": blocksize,
        "overview_resampling": overview_resampling or ("AVERAGE" if floating else "NEAREST"),
        "bigtiff": "IF_SAFER",
    }
    if predictor == AUTO:
        options["predictor"] = 3 if floating else 2
    elif predictor is not None:
        options["predictor"] = predictor
    return options


def write_cog(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    crs: Any,
    transform: Affine,
    nodata: float | None = None,
    descriptions: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    blocksize: int = 512,
    compress: str = "DEFLATE",
    predictor: int | Literal["auto"] | None = AUTO,
    overview_resampling: str | None = None,
    atomic: bool = True,
) -> None:
    """Write ``data`` (``(H, W)`` or ``(B, H, W)``) as a Cloud-Optimised GeoTIFF.

    Args:
        path: the file to write.
        data: the pixels; their dtype is the file's.
        crs: anything rasterio takes as a CRS. transform: pixel -> map affine transform.
        nodata: the no-data value (NaN for floats), or None.
        descriptions: one per band.
        tags: dataset metadata; ``TIFFTAG_*`` keys become real TIFF tags (software, date).
        blocksize: internal tile side, pixels.
        compress: GDAL compression. predictor: ``"auto"`` (3 floats, 2 integers), a number, or None
            for none.
        overview_resampling: default AVERAGE for floats, NEAREST for integers.
        atomic: write to a hidden name and rename when complete (off when the caller already writes
            into a scratch folder).
    """
    import rasterio

    array = data if data.ndim == 3 else data[None]
    bands, height, width = array.shape
    profile = {
        "driver": "COG",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": array.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        **cog_options(
            array.dtype,
            blocksize=blocksize,
            compress=compress,
            predictor=predictor,
            overview_resampling=overview_resampling,
        ),
    }

    def write(target: Path) -> None:
        with rasterio.open(target, "w", **profile) as dst:
            dst.write(array)
            for band, description in enumerate(descriptions or (), start=1):
                dst.set_band_description(band, description)
            if tags:
                dst.update_tags(**tags)

    # Uncompressed pixels plus a third for overviews: the most the file can take. The COG driver
    # deletes its partial file when a write fails, so that size is what explains the failure.
    needed = array.nbytes * 4 // 3
    if atomic:
        with atomic_output(path, needed=needed) as tmp:
            write(tmp)
    else:
        try:
            write(Path(path))
        except Exception as exc:
            error = write_error(exc, Path(path), [Path(path)], needed)
            if error is None:
                raise
            raise error from exc


def copy_to_cog(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    blocksize: int = 512,
    compress: str = "DEFLATE",
    predictor: int | Literal["auto"] | None = AUTO,
    overview_resampling: str | None = None,
) -> None:
    """Copy a tiled GeoTIFF to a COG at ``target``; GDAL streams it block by block (flat memory).

    ``target`` is written as given (callers that publish several files together write hidden names
    and rename them at the end). Band descriptions and tags are copied with the pixels.
    """
    import rasterio
    from rasterio.shutil import copy as rio_copy

    with rasterio.open(source) as src:
        dtype = src.dtypes[0]
    rio_copy(
        source,
        target,
        driver="COG",
        **cog_options(
            dtype,
            blocksize=blocksize,
            compress=compress,
            predictor=predictor,
            overview_resampling=overview_resampling,
        ),
    )


__all__ = ["cog_options", "copy_to_cog", "write_cog"]
