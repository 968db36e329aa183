"""Writing the files of a product folder and packing the folder into a zip as HyP3 does.

The rasters are cloud-optimised GeoTIFFs (through :func:`glaciermap.io.raster.write_cog`), the browse
image a PNG with its georeferencing in a ``.png.aux.xml``, the data extent an ESRI shapefile (through
:func:`glaciermap.io.vector.write_frame`), each raster described by a small ArcGIS-style ``.xml``. The
zip holds ``<base>/`` and its files, stamped with the processing time so that it does not depend on when
it was packed.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import numpy as np

from glaciermap import __version__
from glaciermap.errors import GlaciermapError, InputError
from glaciermap.io import raster
from glaciermap.io.files import FULL_HINT, write_failure
from glaciermap.io.vector import write_frame

if TYPE_CHECKING:
    from affine import Affine
    from rasterio.crs import CRS

    from glaciermap.io.hyp3.names import Scale

# HyP3 browse images are 2048 pixels wide; smaller rasters are rendered at full resolution.
_BROWSE_WIDTH = 2048
# GeoTIFF and PNG content is already DEFLATE-compressed inside the file, so zipping it again gains almost
# nothing; stored (uncompressed) members also let GDAL's /vsizip/ seek straight to a COG tile instead of
# inflating the member from its start, which is what makes reading a window of a product zip cheap.
_STORED_SUFFIXES = {".tif", ".png"}


@contextlib.contextmanager
def work_folder(out_dir: Path, base: str) -> Iterator[Path]:
    """A hidden scratch folder beside the final zip holding ``<base>/``; removed when the block ends.

    It sits in ``out_dir`` rather than the system temp folder so that large products are staged on the
    disk the caller chose, which is known to be writable and to have room for the zip.
    """
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{base}.") as scratch:
        folder = Path(scratch) / base
        folder.mkdir()
        try:
            yield folder
        except GlaciermapError:
            raise
        except Exception as exc:
            # GDAL reports a full disk as a failed write without errno: ask before the files go.
            why = write_failure(exc, out_dir, Path(scratch).rglob("*"))
            if why is None:
                raise
            raise InputError(f"cannot write {base} in {out_dir}: {why}", FULL_HINT) from exc


def write_cog(
    path: Path,
    array: np.ndarray,
    crs: CRS,
    transform: Affine,
    nodata: float | None,
    description: str,
    when: datetime,
) -> None:
    """Write a single-band cloud-optimised GeoTIFF (``array`` is (H, W)) as HyP3's conversion does.

    DEFLATE compression without a predictor and 256-pixel tiles (GDAL's tiled GTiff default); overviews
    are built by the COG driver wherever the raster is larger than a tile, averaged for continuous values
    and nearest-neighbour for the categorical ls_map and water mask (8-bit codes), whose codes must not be
    blended into codes that mean something else. Written in place: the caller writes into a scratch
    folder that is zipped when complete.
    """
    categorical = np.issubdtype(array.dtype, np.integer) and array.dtype.itemsize == 1
    raster.write_cog(
        path,
        array,
        crs=crs,
        transform=transform,
        nodata=nodata,
        descriptions=[description],
        # GDAL writes TIFFTAG_* metadata as real TIFF tags: any tool shows the file is simulated.
        tags={
            "TIFFTAG_SOFTWARE": f"glaciermap {__version__} simulator (SIMULATED data in HyP3 format)",
            "TIFFTAG_DATETIME": when.strftime("%Y:%m:%d %H:%M:%S"),
        },
        blocksize=256,
        predictor=None,
        overview_resampling="NEAREST" if categorical else "AVERAGE",
        atomic=False,
    )


def write_browse_png(
    path: Path, values: np.ndarray, valid: np.ndarray, scale: Scale, crs: CRS, transform: Affine
) -> None:
    """Write the grayscale browse PNG (at most 2048 px wide) and, through GDAL, its ``.png.aux.xml``.

    Pixels are decibels of the block-averaged power, stretched between the 2nd and 98th percentiles to
    1-255; 0 marks no data. Writing with GDAL's PNG driver puts the georeferencing in the aux file, as in
    HyP3's browse images.
    """
    import rasterio
    from affine import Affine

    power = np.where(valid, values, np.nan).astype(np.float64)
    if scale == "amplitude":
        power = power**2
    elif scale == "decibel":
        power = 10.0 ** (power / 10.0)
    height, width = power.shape
    factor = max(1, math.ceil(width / _BROWSE_WIDTH))
    if factor > 1:
        # Average power over factor x factor blocks, ignoring no-data pixels; a block with no valid pixel
        # stays no data. Padding with NaN makes the shape a multiple of the block size.
        rows, cols = math.ceil(height / factor), math.ceil(width / factor)
        padded = np.full((rows * factor, cols * factor), np.nan)
        padded[:height, :width] = power
        blocks = padded.reshape(rows, factor, cols, factor)
        counts = np.isfinite(blocks).sum(axis=(1, 3))
        sums = np.nansum(blocks, axis=(1, 3))
        power = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        transform = transform @ Affine.scale(factor)
    ok = np.isfinite(power) & (power > 0)
    out_height, out_width = int(power.shape[0]), int(power.shape[-1])
    image = np.zeros((out_height, out_width), dtype=np.uint8)
    if ok.any():
        db = 10.0 * np.log10(power[ok])
        low, high = np.percentile(db, [2, 98])
        stretched = (db - low) / (high - low) if high > low else np.full(db.shape, 0.5)
        image[ok] = np.clip(np.rint(1 + 254 * stretched), 1, 255).astype(np.uint8)
    profile = {
        "driver": "PNG",
        "width": out_width,
        "height": out_height,
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
        "nodata": 0,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(image, 1)


def write_extent_shapefile(
    path: Path, valid: np.ndarray, crs: CRS, transform: Affine, granule: str
) -> None:
    """Write the data-extent shapefile: the outline of the valid pixels with holes filled, as HyP3 does."""
    import geopandas as gpd
    import shapely
    from rasterio import features
    from shapely.geometry import MultiPolygon, Polygon, shape

    mask = valid.astype(np.uint8)
    parts = [shape(geom) for geom, _ in features.shapes(mask, mask=valid, transform=transform)]
    merged = shapely.union_all(parts)
    polygons = list(merged.geoms) if isinstance(merged, MultiPolygon) else [merged]
    # Interior no-data (layover, shadow) does not change where the scene has data: fill the holes.
    filled = shapely.union_all([Polygon(p.exterior) for p in polygons if isinstance(p, Polygon)])
    frame = gpd.GeoDataFrame({"granule": [granule]}, geometry=[filled], crs=crs)
    write_frame(path, frame, driver="ESRI Shapefile")
    # HyP3's extent shapefile is the four files .shp/.shx/.dbf/.prj; the attribute text is plain ASCII,
    # so the code-page file GDAL adds says nothing a reader needs.
    path.with_suffix(".cpg").unlink(missing_ok=True)


def write_arcgis_xml(
    path: Path, file_name: str, description: str, base: str, source: str, when: datetime
) -> None:
    """Write a small ArcGIS-style item-description XML for one raster (own minimal content)."""
    root = ET.Element("metadata", {"xml:lang": "en"})
    esri = ET.SubElement(root, "Esri")
    ET.SubElement(esri, "CreaDate").text = when.strftime("%Y%m%d")
    ET.SubElement(esri, "CreaTime").text = when.strftime("%H%M%S00")
    ET.SubElement(esri, "SyncOnce").text = "TRUE"
    info = ET.SubElement(root, "dataIdInfo")
    citation = ET.SubElement(info, "idCitation")
    ET.SubElement(citation, "resTitle").text = file_name
    ET.SubElement(info, "idAbs").text = (
        f"{description}. Part of product {base}. SIMULATED by glaciermap {__version__}: this is not ASF HyP3 "
        f"output and contains no Sentinel-1 measurements; source granule(s) named: {source}."
    )
    ET.SubElement(
        info, "idPurp"
    ).text = "Simulated data in the HyP3 product format, for testing glaciermap."
    keys = ET.SubElement(info, "searchKeys")
    for word in ("SAR", "Sentinel-1", "HyP3 format", "simulated"):
        ET.SubElement(keys, "keyword").text = word
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="UTF-8", xml_declaration=True)


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _zip_timestamp(when: datetime) -> tuple[int, int, int, int, int, int]:
    """``when`` as a zip member timestamp (zip cannot store dates before 1980)."""
    when = max(when, datetime(1980, 1, 1, tzinfo=UTC))
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def zip_folder(folder: Path, base: str, zip_path: Path, when: datetime) -> None:
    """Zip ``folder`` as ``<base>/`` plus its files, the layout HyP3's archives have.

    Members are stamped with the processing time, so the zip does not depend on when it was packed. GeoTIFF
    and PNG members are stored, the rest deflated (see ``_STORED_SUFFIXES``).
    """
    stamp = _zip_timestamp(when)
    with zipfile.ZipFile(zip_path, "w", allowZip64=True) as archive:
        folder_entry = zipfile.ZipInfo(f"{base}/", date_time=stamp)
        folder_entry.external_attr = (
            stat.S_IFDIR | 0o755
        ) << 16 | 0x10  # 0x10: MS-DOS directory flag
        archive.writestr(folder_entry, b"")
        for file in sorted(folder.iterdir()):
            info = zipfile.ZipInfo(f"{base}/{file.name}", date_time=stamp)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = (
                zipfile.ZIP_STORED
                if file.suffix.lower() in _STORED_SUFFIXES
                else zipfile.ZIP_DEFLATED
            )
            # zipfile decides from file_size whether the member needs zip64 headers (over 2 GiB).
            info.file_size = file.stat().st_size
            with file.open("rb") as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


__all__ = [
    "work_folder",
    "write_arcgis_xml",
    "write_browse_png",
    "write_cog",
    "write_extent_shapefile",
    "write_text",
    "zip_folder",
]
