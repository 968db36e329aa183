"""Turn a glacier mask or probability raster into cleaned glacier outline polygons in a GeoPackage.

The raster is read in horizontal strips whose height follows a memory budget, so rasters far larger than
memory vectorise in flat memory:

1. :mod:`.strips`: each strip is classified (glacier where value >= threshold, never where the pixel is
   nodata) and polygonised by GDAL with 4-connectivity, in this process or in the worker pool of
   :func:`glaciermap.workers.map_tasks`. Coordinates are integer *pixel* units (column, row) of the whole
   raster, so polygons from neighbouring strips share their seam edges exactly and their union is clean.
2. :mod:`.seams`: :class:`SeamMerger` keeps the polygons that touch the strip's bottom seam "open" and
   unions them with the polygons of the next strip that they touch.
3. :mod:`.cleaning`: polygons that no longer touch the open seam are finished: holes smaller than the
   minimum area filled, specks dropped, coordinates moved to the map, optionally simplified.
4. :mod:`.pipeline`: :func:`vectorize_raster` runs the whole and streams the outlines into the
   GeoPackage batch by batch as they finish (:func:`glaciermap.io.vector.write_gpkg_stream`).

Areas are exact: with no simplification the total outline area equals the glacier pixel count times the
pixel area.
"""

from glaciermap.vectorize.cleaning import clean_outlines, fill_small_holes, pixel_to_map
from glaciermap.vectorize.pipeline import (
    DEFAULT_MIN_AREA_KM2,
    OUTLINES_LAYER,
    VectorizeResult,
    vectorize_raster,
    warn_if_not_probability,
)
from glaciermap.vectorize.seams import SeamMerger, iter_pixel_polygons
from glaciermap.vectorize.strips import (
    DEFAULT_STRIP_BUDGET_BYTES,
    DEFAULT_THRESHOLD,
    GDAL_CACHE_BYTES,
    UINT8_NODATA,
    ProgressCallback,
    ScanStats,
    StripPolygons,
    classify_glacier,
    mask_to_arrays,
    nodata_mode,
    polygonize_strip,
    polygons_from_mask,
    strip_height,
)

__all__ = [
    "DEFAULT_MIN_AREA_KM2",
    "DEFAULT_STRIP_BUDGET_BYTES",
    "DEFAULT_THRESHOLD",
    "GDAL_CACHE_BYTES",
    "OUTLINES_LAYER",
    "UINT8_NODATA",
    "ProgressCallback",
    "ScanStats",
    "SeamMerger",
    "StripPolygons",
    "VectorizeResult",
    "classify_glacier",
    "clean_outlines",
    "fill_small_holes",
    "iter_pixel_polygons",
    "mask_to_arrays",
    "nodata_mode",
    "pixel_to_map",
    "polygonize_strip",
    "polygons_from_mask",
    "strip_height",
    "vectorize_raster",
    "warn_if_not_probability",
]
