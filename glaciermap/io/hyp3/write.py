"""Writing (simulated) RTC_GAMMA and INSAR_GAMMA products in HyP3's layout.

:func:`write_rtc_product` and :func:`write_insar_product` check their arrays against the product name,
convert them to HyP3's value conventions (:mod:`.values`: scale, no-data, data types) and write the
product folder (:mod:`.pack`, :mod:`.texts`) into a zip that appears under its final name only once
complete. The simulator writes its products with them, so that simulated and real products go through
the same reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.io.hyp3.names import (
    LOG_SUFFIX,
    LS_MAP,
    README_SUFFIX,
    TIME_FORMAT,
    InsarName,
    RtcName,
    Scale,
    parse_granule,
    raster_file,
    utc_seconds,
)
from glaciermap.io.hyp3.pack import (
    work_folder,
    write_arcgis_xml,
    write_browse_png,
    write_cog,
    write_extent_shapefile,
    write_text,
    zip_folder,
)
from glaciermap.io.hyp3.texts import insar_log, insar_parameters, insar_readme, rtc_log, rtc_readme
from glaciermap.io.hyp3.values import (
    INSAR_NODATA,
    LS_MAP_MAX,
    LS_MAP_NODATA,
    RTC_NODATA,
    layover_shadow_mask,
)

if TYPE_CHECKING:
    import os

    from affine import Affine
    from rasterio.crs import CRS


def write_rtc_product(
    out_dir: str | os.PathLike[str],
    name: RtcName,
    *,
    crs: CRS | str,
    transform: Affine,
    bands: Mapping[str, np.ndarray],
    ls_map: np.ndarray,
    dem: np.ndarray | None = None,
    inc_map: np.ndarray | None = None,
    granule: str,
    processed: datetime,
    overwrite: bool = True,
) -> Path:
    """Write a (simulated) RTC_GAMMA product as HyP3 does: ``<out_dir>/<base>.zip`` holding ``<base>/``.

    The folder holds ``<base>_<POL>.tif`` per polarisation, ``_ls_map.tif``, optionally ``_dem.tif`` and
    ``_inc_map.tif`` (all cloud-optimised GeoTIFFs, each with an ArcGIS-style ``.tif.xml``), the grayscale
    browse ``<base>.png`` with its ``.png.aux.xml`` and ``.png.xml``, the data-extent shapefile
    ``_shape.shp/.shx/.dbf/.prj``, ``.README.md.txt`` and ``.log``. KMZ files, the ``_rgb`` colour browse,
    ``_rgb.tif`` and ``_area.tif`` are not written (the README says so). The zip appears under its final
    name only once complete.

    Args:
        out_dir: existing folder to write the zip into.
        name: the product name; its polarisation code says which bands are expected, its scale how they
            are written, its pixel spacing must match ``transform``.
        crs: projected CRS of the grid (HyP3 uses the scene's WGS 84 UTM zone), e.g. ``"EPSG:32633"``.
        transform: north-up affine transform whose pixel size equals ``name.pixel_spacing`` metres.
        bands: polarisation -> (H, W) backscatter in **linear power** (gamma0 or sigma0 as the name says),
            NaN where there is no data, e.g. ``{"VV": vv, "VH": vh}``. It is converted to the name's scale
            (power, amplitude = sqrt(power), decibel = 10 log10(power)); layover and shadow pixels of
            ``ls_map`` become no-data, and no-data is written as 0 as HyP3 does.
        ls_map: (H, W) integer layover/shadow map, values 0-31 (sums of the ``LS_*`` flags).
        dem: optional (H, W) finite heights in metres, written as int16 (rounded) with no no-data value.
        inc_map: optional (H, W) local incidence angle in radians, NaN where unknown (written as 0).
        granule: the source Sentinel-1 granule; it must agree with the name (platform, beam mode,
            polarisation, start time).
        processed: processing time, written to the README, log and metadata (naive = UTC).
        overwrite: replace an existing zip of the same name (default) instead of raising InputError.

    Returns:
        The path of the zip.

    Raises:
        ValueError: the arrays or arguments do not fit the name or each other (a programming error).
        InputError: ``out_dir`` is missing or not writable, or the zip exists and ``overwrite`` is False.
    """
    base = name.format()
    crs_obj = _check_grid(crs, transform, name.pixel_spacing)
    _check_granule_matches_rtc(granule, name)
    if set(bands) != set(name.polarisations):
        raise ValueError(
            f"{base} holds {' + '.join(name.polarisations)}, but bands were given for "
            f"{' + '.join(sorted(bands)) or 'nothing'}"
        )
    shape = _check_shape("ls_map", ls_map, None)
    ls = _as_ls_map(ls_map)
    blocked = layover_shadow_mask(ls)
    encoded: dict[str, np.ndarray] = {}
    valid_co: np.ndarray | None = None
    for pol in name.polarisations:
        _check_shape(f"band {pol}", bands[pol], shape)
        values, valid = _backscatter_in_scale(bands[pol], name.scale, pol)
        valid &= ~blocked
        encoded[pol] = _encode_zero_nodata(values, valid)
        if pol == name.co_pol:
            valid_co = valid
    assert valid_co is not None  # the co-polarised channel is always among name.polarisations
    if not valid_co.any():
        raise ValueError(
            f"{base}: band {name.co_pol} has no valid pixel; HyP3 never delivers such a product"
        )
    dem_i16 = _as_dem(dem, shape) if dem is not None else None
    inc = _as_inc_map(inc_map, shape) if inc_map is not None else None
    when = utc_seconds(processed)

    out = Path(out_dir)
    with (
        atomic_output(out / f"{base}.zip", overwrite=overwrite) as tmp_zip,
        work_folder(out, base) as folder,
    ):
        rasters: list[
            tuple[str, str]
        ] = []  # (file name, description) for the README and the .xml files
        for pol in name.polarisations:
            description = f"{pol} {name.radiometry} {name.scale}"
            write_cog(
                folder / raster_file(base, pol),
                encoded[pol],
                crs_obj,
                transform,
                RTC_NODATA,
                description,
                when,
            )
            rasters.append(
                (raster_file(base, pol), f"{description}, terrain corrected; 0 = no data")
            )
        ls_description = (
            "layover/shadow map (sum of flags 1 tested, 2, 4 layover, 8, 16 shadow); 0 = not tested"
        )
        write_cog(
            folder / raster_file(base, LS_MAP),
            ls,
            crs_obj,
            transform,
            LS_MAP_NODATA,
            ls_description,
            when,
        )
        rasters.append((raster_file(base, LS_MAP), ls_description))
        if dem_i16 is not None:
            dem_description = "DEM height used for terrain correction, metres (int16)"
            write_cog(
                folder / raster_file(base, "dem"),
                dem_i16,
                crs_obj,
                transform,
                None,
                dem_description,
                when,
            )
            rasters.append((raster_file(base, "dem"), dem_description))
        if inc is not None:
            inc_description = "local incidence angle, radians; 0 = no data"
            write_cog(
                folder / raster_file(base, "inc_map"),
                inc,
                crs_obj,
                transform,
                RTC_NODATA,
                inc_description,
                when,
            )
            rasters.append((raster_file(base, "inc_map"), inc_description))

        write_browse_png(
            folder / f"{base}.png", encoded[name.co_pol], valid_co, name.scale, crs_obj, transform
        )
        rasters.append(
            (f"{base}.png", f"grayscale browse image of {name.co_pol} in decibel; 0 = no data")
        )
        write_extent_shapefile(folder / f"{base}_shape.shp", valid_co, crs_obj, transform, granule)

        for file_name, description in rasters:
            write_arcgis_xml(
                folder / f"{file_name}.xml", file_name, description, base, granule, when
            )
        write_text(
            folder / f"{base}{LOG_SUFFIX}",
            rtc_log(name, granule, when, dem is not None, inc is not None),
        )
        # Last, so that its list of files is complete.
        write_text(
            folder / f"{base}{README_SUFFIX}", rtc_readme(name, granule, when, crs_obj, folder)
        )
        zip_folder(folder, base, tmp_zip, when)
    return out / f"{base}.zip"


def write_insar_product(
    out_dir: str | os.PathLike[str],
    name: InsarName,
    *,
    crs: CRS | str,
    transform: Affine,
    corr: np.ndarray,
    amp: np.ndarray | None = None,
    unw_phase: np.ndarray | None = None,
    water_mask: np.ndarray | None = None,
    reference_granule: str,
    secondary_granule: str,
    processed: datetime,
    overwrite: bool = True,
) -> Path:
    """Write a (simulated) INSAR_GAMMA product as HyP3 does: ``<out_dir>/<base>.zip`` holding ``<base>/``.

    The folder holds ``<base>_corr.tif`` and, when given, ``_amp.tif``, ``_unw_phase.tif`` and
    ``_water_mask.tif`` (cloud-optimised GeoTIFFs, each with a ``.tif.xml``), ``.README.md.txt``, the
    processing-parameter file ``<base>.txt`` and ``.log``. Browse PNG/KMZ files and the optional
    displacement, look-vector, incidence and DEM rasters are not written (the README says so).

    Args:
        out_dir: existing folder to write the zip into.
        name: the product name; its pixel spacing (40 or 80 m) must match ``transform``.
        crs: projected CRS of the grid (the scene's UTM zone).
        transform: north-up affine transform whose pixel size equals ``name.pixel_spacing`` metres.
        corr: (H, W) coherence in [0, 1], NaN where there is no data.
        amp: optional (H, W) amplitude image (reference sigma0 power), NaN = no data.
        unw_phase: optional (H, W) unwrapped phase in radians, NaN = no data.
        water_mask: optional (H, W) mask, 1 = land/inland water/ice, 0 = coastal water (uint8, no no-data).
        reference_granule, secondary_granule: the source SLC granules; they must agree with the name.
        processed: processing time (naive = UTC).
        overwrite: replace an existing zip of the same name (default) instead of raising InputError.

    Returns:
        The path of the zip.

    Raises:
        ValueError: the arrays or arguments do not fit the name or each other (a programming error).
        InputError: ``out_dir`` is missing or not writable, or the zip exists and ``overwrite`` is False.
    """
    base = name.format()
    crs_obj = _check_grid(crs, transform, name.pixel_spacing)
    _check_granules_match_insar(reference_granule, secondary_granule, name)
    shape = _check_shape("corr", corr, None)
    corr32 = np.asarray(corr, dtype=np.float32)
    finite = np.isfinite(corr32)
    if not finite.any():
        raise ValueError(f"{base}: corr has no valid pixel")
    if np.any((corr32[finite] < 0) | (corr32[finite] > 1)):
        raise ValueError(f"{base}: coherence must lie in [0, 1] (NaN for no data)")
    layers: list[tuple[str, np.ndarray, float | None, str]] = [
        ("corr", _nan_nodata(corr32), INSAR_NODATA, "coherence, 0 to 1; NaN = no data")
    ]
    if amp is not None:
        _check_shape("amp", amp, shape)
        layers.append(
            (
                "amp",
                _nan_nodata(amp),
                INSAR_NODATA,
                "amplitude image (reference, sigma0 power); NaN = no data",
            )
        )
    if unw_phase is not None:
        _check_shape("unw_phase", unw_phase, shape)
        layers.append(
            (
                "unw_phase",
                _nan_nodata(unw_phase),
                INSAR_NODATA,
                "unwrapped phase, radians; NaN = no data",
            )
        )
    if water_mask is not None:
        _check_shape("water_mask", water_mask, shape)
        layers.append(
            (
                "water_mask",
                _as_water_mask(water_mask),
                None,
                "water mask: 0 = coastal water, 1 = everything else",
            )
        )
    when = utc_seconds(processed)

    out = Path(out_dir)
    with (
        atomic_output(out / f"{base}.zip", overwrite=overwrite) as tmp_zip,
        work_folder(out, base) as folder,
    ):
        for key, array, nodata, description in layers:
            file_name = raster_file(base, key)
            write_cog(folder / file_name, array, crs_obj, transform, nodata, description, when)
            granules = f"{reference_granule} / {secondary_granule}"
            write_arcgis_xml(
                folder / f"{file_name}.xml", file_name, description, base, granules, when
            )
        write_text(
            folder / f"{base}.txt", insar_parameters(name, reference_granule, secondary_granule)
        )
        write_text(
            folder / f"{base}{LOG_SUFFIX}",
            insar_log(name, reference_granule, secondary_granule, when),
        )
        # Last, so that its list of files is complete.
        write_text(
            folder / f"{base}{README_SUFFIX}",
            insar_readme(name, reference_granule, secondary_granule, when, crs_obj, folder),
        )
        zip_folder(folder, base, tmp_zip, when)
    return out / f"{base}.zip"


# --- checks and conversions -------------------------------------------------------------------------------


def _check_grid(crs: CRS | str, transform: Affine, spacing: int) -> CRS:
    """The CRS as a rasterio CRS, after checking it is projected and the pixels are ``spacing`` m squares."""
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        crs_obj = CRS.from_user_input(crs)
    except CRSError as exc:
        raise ValueError(f"cannot interpret CRS {crs!r}: {exc}") from exc
    if not crs_obj.is_projected:
        raise ValueError(f"HyP3 products are in a projected (UTM) CRS, not {crs_obj.to_string()}")
    if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
        raise ValueError(
            f"the transform must be north-up with positive x and negative y steps: {transform!r}"
        )
    if not (math.isclose(transform.a, spacing) and math.isclose(-transform.e, spacing)):
        raise ValueError(
            f"the name says {spacing} m pixels but the transform has {transform.a} x {-transform.e} m pixels"
        )
    return crs_obj


def _check_shape(what: str, array: np.ndarray, shape: tuple[int, int] | None) -> tuple[int, int]:
    """Check ``array`` is 2-D (and of ``shape`` when given); return its shape."""
    arr = np.asarray(array)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty (H, W) array, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{what} has shape {arr.shape}, but the other rasters are {shape}")
    return (int(arr.shape[0]), int(arr.shape[1]))


def _check_granule_matches_rtc(granule: str, name: RtcName) -> None:
    """Raise ValueError unless ``granule`` is the granule ``name`` was derived from."""
    try:
        match = parse_granule(granule)
    except InputError as exc:
        raise ValueError(str(exc)) from exc
    mismatches = [
        what
        for what, ours, theirs in (
            ("platform", name.platform, match["platform"]),
            ("beam mode", name.beam_mode, match["beam"]),
            ("polarisation", name.polarization, match["pol"]),
            ("start time", name.start.strftime(TIME_FORMAT), match["start"]),
        )
        if ours != theirs
    ]
    if mismatches:
        raise ValueError(
            f"granule {granule} does not match product {name.format()}: {', '.join(mismatches)} differ"
        )


def _check_granules_match_insar(reference: str, secondary: str, name: InsarName) -> None:
    """Raise ValueError unless the granules are the reference and secondary of ``name``."""
    try:
        ref, sec = parse_granule(reference), parse_granule(secondary)
    except InputError as exc:
        raise ValueError(str(exc)) from exc
    expected = (
        name.reference_platform,
        name.secondary_platform,
        name.reference_start.strftime(TIME_FORMAT),
        name.secondary_start.strftime(TIME_FORMAT),
    )
    actual = (ref["platform"], sec["platform"], ref["start"], sec["start"])
    if actual != expected:
        raise ValueError(
            f"granules {reference} and {secondary} are not the reference and secondary of {name.format()}"
        )


def _backscatter_in_scale(
    power: np.ndarray, scale: Scale, pol: str
) -> tuple[np.ndarray, np.ndarray]:
    """Convert linear power to ``scale``; return (float32 values, bool valid) of the same (H, W) shape."""
    p = np.asarray(power, dtype=np.float32)
    valid = np.isfinite(p)
    if np.any(p[valid] < 0):
        raise ValueError(
            f"band {pol} must be linear power (>= 0, NaN for no data); it has negative values"
        )
    # A power of exactly 0 has no decibel value; the smallest normal float32 (-379 dB) stands in for it.
    p = np.where(valid, np.maximum(p, np.finfo(np.float32).tiny), np.nan).astype(np.float32)
    with np.errstate(invalid="ignore"):
        if scale == "amplitude":
            p = np.sqrt(p)
        elif scale == "decibel":
            p = (10.0 * np.log10(p)).astype(np.float32)
    return p, valid


def _encode_zero_nodata(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """float32 ``values`` with 0 where not ``valid``; a valid exact 0 (e.g. 0 dB) is nudged to the smallest
    positive float32 so that it is not read back as no data."""
    out = np.where(valid, values, np.float32(0)).astype(np.float32)
    out[valid & (out == 0)] = np.nextafter(np.float32(0), np.float32(1))
    return out


def _nan_nodata(values: np.ndarray) -> np.ndarray:
    """float32 copy of ``values`` with every non-finite value as NaN (the INSAR no-data value)."""
    out = np.asarray(values, dtype=np.float32).copy()
    out[~np.isfinite(out)] = np.nan
    return out


def _as_ls_map(ls_map: np.ndarray) -> np.ndarray:
    """The ls_map as uint8 after checking it holds integer flag sums 0-31."""
    arr = np.asarray(ls_map)
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise ValueError(f"ls_map must be an integer array of flag sums, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > LS_MAP_MAX):
        raise ValueError(f"ls_map values must lie in 0-{LS_MAP_MAX} (sums of 1, 2, 4, 8, 16)")
    return arr.astype(np.uint8)


def _as_dem(dem: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Heights in metres as int16 (rounded), after checking they are finite and fit."""
    _check_shape("dem", dem, shape)
    arr = np.asarray(dem, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("dem must be finite everywhere: HyP3's DEM GeoTIFF has no no-data value")
    rounded = np.rint(arr)
    info = np.iinfo(np.int16)
    if rounded.min() < info.min or rounded.max() > info.max:
        raise ValueError("dem heights do not fit in int16 metres")
    return rounded.astype(np.int16)


def _as_inc_map(inc_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Local incidence angle in radians as float32 with 0 = no data."""
    _check_shape("inc_map", inc_map, shape)
    arr = np.asarray(inc_map, dtype=np.float32)
    valid = np.isfinite(arr)
    # Catches angles passed in degrees by mistake: every local incidence angle lies within [-pi, pi].
    if np.any(np.abs(arr[valid]) > math.pi + 1e-6):
        raise ValueError("inc_map must be in radians (values within [-pi, pi])")
    return _encode_zero_nodata(arr, valid)


def _as_water_mask(water_mask: np.ndarray) -> np.ndarray:
    """The water mask as uint8 after checking it holds only 0 and 1."""
    arr = np.asarray(water_mask)
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise ValueError(f"water_mask must be an integer or bool array, got {arr.dtype}")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError("water_mask must hold only 0 (coastal water) and 1 (everything else)")
    return arr.astype(np.uint8)


__all__ = ["write_insar_product", "write_rtc_product"]
