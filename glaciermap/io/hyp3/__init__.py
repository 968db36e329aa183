"""HyP3 products: their names, reading and writing RTC_GAMMA and INSAR_GAMMA product zips, the HyP3 API.

ASF's HyP3 service delivers each product as ``<base>.zip`` holding one folder ``<base>/`` in which every
file starts with the base name (``<base>_VV.tif``, ``<base>_ls_map.tif``, ``<base>.README.md.txt``, ...).
This package is the one place in glaciermap that knows that format and talks to the service:

* :mod:`.names`: :class:`RtcName` and :class:`InsarName` (base names), and which files a product holds
  and which of them ``preprocess`` reads (:func:`members_preprocess_reads`);
* :mod:`.values`: no-data values and the layover/shadow flags;
* :mod:`.read`: :func:`open_product` reads a zip in place through GDAL's ``/vsizip/`` or an unpacked
  folder, :func:`extract_product` unpacks one safely;
* :mod:`.write`: :func:`write_rtc_product` and :func:`write_insar_product` write products in the same
  layout (used by the simulator, so simulated and real products go through the same reader), with
  :mod:`.pack` (files and zip) and :mod:`.texts` (README, log, parameters);
* :mod:`.api`: the HyP3 API through ``hyp3_sdk`` (imported from there only, and only on use).

rasterio, geopandas and shapely are imported inside the functions: importing this package stays cheap.
"""

from glaciermap.io.hyp3.names import (
    CORR,
    LS_MAP,
    POLARISATIONS,
    README_SUFFIX,
    InsarName,
    ProductKind,
    ProductName,
    Radiometry,
    RtcName,
    Scale,
    is_insar_name,
    is_rtc_name,
    members_preprocess_reads,
    parse_product_name,
    product_kind,
    raster_file,
    required_rasters,
    split_product_filename,
    unpacked_folder,
)
from glaciermap.io.hyp3.read import (
    Hyp3Product,
    extract_product,
    open_product,
    product_folder_problem,
)
from glaciermap.io.hyp3.values import (
    INSAR_NODATA,
    LS_LAYOVER,
    LS_LOOK_LT_OPPOSITE_SLOPE,
    LS_LOOK_LT_SLOPE,
    LS_MAP_NODATA,
    LS_SHADOW,
    LS_TESTED,
    RTC_NODATA,
    layover_shadow_mask,
)
from glaciermap.io.hyp3.write import write_insar_product, write_rtc_product

__all__ = [
    "CORR",
    "INSAR_NODATA",
    "LS_LAYOVER",
    "LS_LOOK_LT_OPPOSITE_SLOPE",
    "LS_LOOK_LT_SLOPE",
    "LS_MAP",
    "LS_MAP_NODATA",
    "LS_SHADOW",
    "LS_TESTED",
    "POLARISATIONS",
    "README_SUFFIX",
    "RTC_NODATA",
    "Hyp3Product",
    "InsarName",
    "ProductKind",
    "ProductName",
    "Radiometry",
    "RtcName",
    "Scale",
    "extract_product",
    "is_insar_name",
    "is_rtc_name",
    "layover_shadow_mask",
    "members_preprocess_reads",
    "open_product",
    "parse_product_name",
    "product_folder_problem",
    "product_kind",
    "raster_file",
    "required_rasters",
    "split_product_filename",
    "unpacked_folder",
    "write_insar_product",
    "write_rtc_product",
]
