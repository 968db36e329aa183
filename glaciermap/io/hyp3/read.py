"""Reading HyP3 products: a zip in place through GDAL's ``/vsizip/``, or an unpacked folder.

:func:`open_product` opens a product zip (nothing is extracted) or folder and checks it holds the rasters
glaciermap reads; :class:`Hyp3Product` reads its rasters with no data as NaN, so callers never see the 0
sentinel of RTC backscatter (:mod:`.values`). :func:`extract_product` unpacks a zip safely: a member that
would land outside the product folder (``..``, an absolute path, another folder, a symbolic link) makes
the whole zip refused. :func:`product_folder_problem` says whether a folder of fetched members is a
complete product.

rasterio is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from glaciermap.errors import InputError
from glaciermap.io.hyp3.names import (
    CO_POLARISATIONS,
    CORR,
    LS_MAP,
    POLARISATIONS,
    RTC_HINT,
    ProductKind,
    ProductName,
    Radiometry,
    RtcName,
    Scale,
    parse_product_name,
    raster_file,
    raster_key,
    required_rasters,
    zip_member,
)
from glaciermap.io.hyp3.values import RTC_NODATA
from glaciermap.io.raster import gdal_error_message

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

    from affine import Affine
    from rasterio.io import DatasetReader
    from rasterio.windows import Window

_REDOWNLOAD = "download the product again from HyP3 (or simulate it again)"


def rasterio_open(path: str) -> DatasetReader:
    """rasterio's own open (its errors are translated by the callers, which know the product)."""
    import rasterio

    return rasterio.open(path)


@dataclass(frozen=True)
class RasterGrid:
    """Where a product raster lies: its CRS (a rasterio CRS), pixel -> map transform and size."""

    crs: Any
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in the raster's CRS."""
        t = self.transform
        xs = (t.c, t.c + self.width * t.a)
        ys = (t.f, t.f + self.height * t.e)
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def epsg_name(self) -> str:
        """``EPSG:xxxxx``, or the CRS's own string when it has no EPSG code."""
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else str(self.crs.to_string())


@dataclass(frozen=True)
class Hyp3Product:
    """A HyP3 product zip or unpacked folder, opened for reading through GDAL paths.

    Attributes:
        path: the ``.zip`` file or the product folder.
        name: the parsed base name.
        files: the names of the files in the product folder, e.g. ``("<base>.log", "<base>_VV.tif", ...)``.
        root: GDAL path of the product folder: ``/vsizip/<zip>/<base>`` for a zip, so rasters are read
            in place without extracting anything, or the folder's absolute path.
    """

    path: Path
    name: ProductName
    files: tuple[str, ...]
    root: str

    @property
    def kind(self) -> ProductKind:
        """``"RTC"`` or ``"INSAR"``."""
        return self.name.kind

    @property
    def base(self) -> str:
        """The base name of the product."""
        return self.name.format()

    @property
    def is_zip(self) -> bool:
        """Whether the product is read from a zip (else from a folder)."""
        return self.root.startswith("/vsizip/")

    @property
    def rasters(self) -> dict[str, str]:
        """Raster key -> GDAL path, for every ``<base>_<key>.tif`` in the product (``"VV"``, ``"ls_map"``,
        ``"corr"``, ...)."""
        keys = ((raster_key(self.base, file), file) for file in self.files)
        return {key: f"{self.root}/{file}" for key, file in keys if key is not None}

    def raster(self, key: str) -> str:
        """The GDAL path of raster ``key``, e.g. ``product.raster("VV")``.

        Raises:
            InputError: the product has no such raster; the message lists those it has.
        """
        rasters = self.rasters
        if key not in rasters:
            raise InputError(
                f"{self.path} has no {key!r} raster (it has: {', '.join(sorted(rasters)) or 'none'})",
                "order the product with that layer included, or choose one of the layers it has",
            )
        return rasters[key]

    @property
    def polarisations(self) -> tuple[str, ...]:
        """Backscatter polarisations present, co-polarised first, e.g. ``("VV", "VH")``; () for INSAR."""
        rasters = self.rasters
        return tuple(pol for pol in POLARISATIONS if pol in rasters)

    @property
    def co_pol(self) -> str | None:
        """``"VV"`` or ``"HH"``, whichever backscatter the product has; None if neither."""
        return next((pol for pol in CO_POLARISATIONS if pol in self.rasters), None)

    @property
    def main_key(self) -> str:
        """The key of the raster the product is for: its co-polarised backscatter (RTC, ``"VV"`` or
        ``"HH"``) or its coherence (INSAR, ``"corr"``)."""
        if isinstance(self.name, RtcName):
            return self.co_pol or self.name.co_pol
        return CORR

    @property
    def ls_map_key(self) -> str | None:
        """The key of the layover/shadow map (``"ls_map"``) when the product holds one, else None."""
        return LS_MAP if LS_MAP in self.rasters else None

    def file_of(self, key: str) -> str:
        """The file name of raster ``key``: ``<base>_<key>.tif``."""
        return raster_file(self.base, key)

    @property
    def radiometry(self) -> Radiometry | None:
        """``"gamma0"`` or ``"sigma0"`` for RTC products (from the name); None for INSAR."""
        return self.name.radiometry if isinstance(self.name, RtcName) else None

    @property
    def scale(self) -> Scale | None:
        """``"power"``, ``"amplitude"`` or ``"decibel"`` for RTC products (from the name); None for INSAR."""
        return self.name.scale if isinstance(self.name, RtcName) else None

    def grid(self, key: str, *, check_end: bool = False) -> RasterGrid:
        """CRS, transform and size of raster ``key``, without reading its pixels.

        With ``check_end`` the raster's last block is read too: it lies at the end of a
        (cloud-optimised) GeoTIFF, so a truncated download fails here without reading the whole file.

        Raises:
            InputError: the raster cannot be opened or read (naming the product and the file), or it
                has no CRS (HyP3 products are projected to a UTM zone).
        """
        from rasterio.windows import Window

        with self.open(key) as src:
            if check_end:
                (block_h, block_w) = src.block_shapes[0]
                row = (src.height - 1) // block_h * block_h
                col = (src.width - 1) // block_w * block_w
                last = Window(
                    col, row, min(block_w, src.width - col), min(block_h, src.height - row)
                )
                src.read(1, window=last)
            return RasterGrid(src.crs, src.transform, src.width, src.height)

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[DatasetReader]:
        """Open raster ``key`` with rasterio; a failure to open or read it inside the block is one
        :class:`InputError` naming the product and the member.

        Raises:
            InputError: the raster cannot be opened or read, or it has no CRS (HyP3 products are
                projected to a UTM zone).
        """
        with self._member_errors(key), rasterio_open(self.raster(key)) as src:
            if src.crs is None:
                raise InputError(
                    f"{self.path}: {self.file_of(key)} has no CRS (HyP3 products are projected to "
                    "a UTM zone)",
                    "the product was altered after download; " + _REDOWNLOAD,
                )
            yield src

    @contextlib.contextmanager
    def _member_errors(self, key: str) -> Iterator[None]:
        """Turn GDAL's failure to open or read raster ``key`` into one short line: the product's path
        once, then the member by what follows the product's name in it (``_HH.tif``)."""
        from rasterio.errors import RasterioError

        try:
            yield
        except RasterioError as exc:
            member = self.file_of(key)[len(self.base) :]
            raise InputError(
                f"{self.path}: member {member} is truncated or corrupt "
                f"({gdal_error_message(exc, self.raster(key))})",
                _REDOWNLOAD,
            ) from exc

    def read(self, key: str, *, window: Window | None = None) -> np.ndarray:
        """Read raster ``key`` (optionally a window) as an (H, W) array with no data as NaN.

        Float rasters come back as float32 with NaN wherever the file's no-data value is (0 in HyP3
        backscatter, NaN in simulated INSAR layers). An RTC backscatter file without a no-data tag is read
        with 0 as no data, which is what HyP3 fills no data with. Integer rasters (ls_map, DEM, water mask)
        come back unchanged.

        Raises:
            InputError: no such raster, or it cannot be read (corrupt or truncated).
        """
        with self.open(key) as src:
            data = src.read(1, window=window)
            nodata = src.nodata
        if not np.issubdtype(data.dtype, np.floating):
            return data
        data = data.astype(np.float32, copy=False)
        if nodata is None and self.kind == "RTC" and key in POLARISATIONS:
            nodata = RTC_NODATA
        if nodata is not None and not math.isnan(nodata):
            data[data == np.float32(nodata)] = np.nan
        return data

    def read_text(self, suffix: str) -> str:
        """The text of ``<base><suffix>``, e.g. ``read_text(".README.md.txt")`` or ``read_text(".txt")``.

        Raises:
            InputError: the product has no such file.
        """
        file = f"{self.base}{suffix}"
        if file not in self.files:
            raise InputError(
                f"{self.path} has no file {file}", "check the suffix, e.g. '.README.md.txt'"
            )
        if self.is_zip:
            try:
                with zipfile.ZipFile(self.path) as archive:
                    return archive.read(zip_member(self.base, file)).decode("utf-8")
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(
                    f"cannot read {file} from {self.path} ({exc})", _REDOWNLOAD
                ) from exc
        return (self.path / file).read_text(encoding="utf-8")


def open_product(path: str | os.PathLike[str]) -> Hyp3Product:
    """Open a HyP3 product zip (read in place, nothing extracted) or an unpacked product folder.

    The zip must be named ``<base>.zip`` and hold only ``<base>/`` and files inside it; a member that
    would land elsewhere when extracted (``..``, an absolute path, another folder, a symbolic link) makes
    the whole zip refused. An RTC product must hold its co-polarised backscatter and its ls_map, an INSAR
    product its coherence.

    Args:
        path: ``<base>.zip`` or the folder ``<base>``.

    Returns:
        The opened product; see :class:`Hyp3Product`.

    Raises:
        InputError: missing, not a HyP3 product name, not a readable zip, unsafe members, or incomplete.
    """
    product_path = Path(path)
    if not product_path.exists():
        raise InputError(
            f"HyP3 product {product_path} not found", "check the path and the current folder"
        )
    if product_path.is_dir():
        name = _name_of(product_path, product_path.name)
        base = name.format()
        files = tuple(
            sorted(
                f.name for f in product_path.iterdir() if f.is_file() and f.name.startswith(base)
            )
        )
        root = str(product_path.resolve())
    else:
        if product_path.suffix.lower() != ".zip":
            raise InputError(
                f"{product_path} is neither a HyP3 product zip nor an unpacked product folder",
                "give the <base>.zip file HyP3 delivered or the folder unpacked from it",
            )
        name = _name_of(product_path, product_path.stem)
        base = name.format()
        with _open_zip(product_path) as archive:
            members = _checked_members(archive, product_path, base)
        files = tuple(
            sorted(m[len(base) + 1 :] for m in members if m.count("/") == 1 and not m.endswith("/"))
        )
        root = f"/vsizip/{product_path.resolve()}/{base}"
    product = Hyp3Product(path=product_path, name=name, files=files, root=root)
    rasters = product.rasters
    missing = [key for key in required_rasters(name) if key not in rasters]
    if missing:
        raise InputError(
            f"HyP3 product {product_path} is incomplete: no "
            + ", ".join(raster_file(base, key) for key in missing),
            _REDOWNLOAD,
        )
    return product


def product_folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why ``folder`` is not a complete unpacked HyP3 product, or None when it is one.

    The same checks as :func:`open_product` (the name, the rasters ``preprocess`` reads), so a folder
    that passes is one ``preprocess`` accepts.
    """
    path = Path(folder)
    if not path.is_dir():
        return f"{path} is not a folder"
    try:
        open_product(path)
    except InputError as exc:
        return exc.message
    return None


def extract_product(
    path: str | os.PathLike[str], dest: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Unpack a product zip into ``<dest>/<base>/``, guarding against members that escape ``dest``.

    The zip is checked as by :func:`open_product` first; every target path is checked again after
    resolving it, and symbolic links are refused. Files are unpacked into a hidden folder in ``dest`` that
    is renamed to ``<base>`` only when complete.

    Args:
        path: the ``<base>.zip``.
        dest: existing folder to unpack into.
        overwrite: replace an existing ``<dest>/<base>`` folder instead of raising InputError.

    Returns:
        The product folder ``<dest>/<base>``.

    Raises:
        InputError: the zip is refused by :func:`open_product`, ``dest`` is not a folder, or the target
            exists and ``overwrite`` is False.
    """
    product = open_product(path)
    if not product.is_zip:
        raise InputError(
            f"{product.path} is already an unpacked folder", "open it with open_product"
        )
    dest_dir = Path(dest)
    if not dest_dir.is_dir():
        raise InputError(f"destination folder {dest_dir} does not exist", "create it first")
    target = dest_dir / product.base
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists", "remove it, or extract with overwrite=True")
    scratch = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".{product.base}."))
    try:
        scratch_root = scratch.resolve()
        with _open_zip(product.path) as archive:
            for info in archive.infolist():
                out = (scratch / info.filename).resolve()
                # Belt and braces: _checked_members refused such names already.
                if not out.is_relative_to(scratch_root):
                    raise InputError(
                        f"{product.path} member {info.filename!r} escapes {dest_dir}", _REDOWNLOAD
                    )
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if target.exists():
            shutil.rmtree(target)
        (scratch / product.base).rename(target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot extract {product.path} ({exc})", _REDOWNLOAD) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _name_of(path: Path, base: str) -> ProductName:
    """Parse the product name of ``path`` from ``base``, naming the path in the error."""
    try:
        return parse_product_name(base)
    except InputError as exc:
        raise InputError(
            f"{path} is not named like a HyP3 product: {base!r} is not an RTC_GAMMA or INSAR_GAMMA"
            " base name",
            "HyP3 delivers <base>.zip holding the folder <base>; keep that name (" + RTC_HINT + ")",
        ) from exc


@contextlib.contextmanager
def _open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    """Open a zip for reading, turning a corrupt or truncated file into :class:`InputError`."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise InputError(
            f"{path} is not a readable zip file ({exc})",
            "the download is incomplete or corrupt; " + _REDOWNLOAD,
        ) from exc
    with archive:
        yield archive


def _checked_members(archive: zipfile.ZipFile, path: Path, base: str) -> list[str]:
    """The member names of a product zip, after refusing any that could escape ``<base>/``."""
    infos = archive.infolist()
    if not infos:
        raise InputError(f"{path} is an empty zip", _REDOWNLOAD)
    members = []
    for info in infos:
        member = info.filename
        posix = PurePosixPath(member)
        problem = None
        if "\\" in member or re.match(r"^[A-Za-z]:", member):
            problem = "uses Windows path syntax"
        elif posix.is_absolute():
            problem = "is an absolute path"
        elif ".." in posix.parts:
            problem = "climbs out of its folder with '..'"
        elif (
            not posix.parts
            or posix.parts[0] != base
            or (len(posix.parts) == 1 and not info.is_dir())
        ):
            problem = f"is not inside the product folder {base}/"
        elif stat.S_ISLNK(info.external_attr >> 16):
            problem = "is a symbolic link"
        if problem:
            raise InputError(
                f"{path} is refused: its member {member!r} {problem}",
                "a HyP3 product zip holds only the folder <base>/ and its files; " + _REDOWNLOAD,
            )
        members.append(member)
    return members


__all__ = [
    "Hyp3Product",
    "extract_product",
    "open_product",
    "product_folder_problem",
]
