"""The texts a HyP3 product ships: its README, its processing log and (INSAR) its parameter file.

A simulated product says on every page that it is simulated; otherwise the texts follow HyP3's: the
README explains the name, lists the files and the value conventions, the log is ``<time> - INFO - ...``
lines, the parameter file ``Key: value`` lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from glaciermap import __version__
from glaciermap.io.hyp3.names import (
    POLARISATIONS,
    RADIOMETRY_LETTER,
    README_SUFFIX,
    SCALE_LETTER,
    TIME_FORMAT,
    InsarName,
    RtcName,
)

if TYPE_CHECKING:
    from rasterio.crs import CRS


def _files_section(folder: Path, notes: Mapping[str, str]) -> str:
    """A bullet list of the files in ``folder`` with what each is (by suffix after the base name)."""
    base = folder.name
    # The README lists itself too, although it is written after this list is made.
    names = sorted({file.name for file in folder.iterdir()} | {base + README_SUFFIX})
    lines = []
    for file_name in names:
        rest = file_name[len(base) :]
        note = "this file" if rest == README_SUFFIX else notes.get(rest, _default_note(rest))
        lines.append(f"- `{file_name}`: {note}")
    return "\n".join(lines)


def _default_note(rest: str) -> str:
    if rest.endswith(".tif.xml") or rest.endswith(".png.xml"):
        return "ArcGIS-style item-description metadata for the file of the same name"
    return "product file"


def _crs_label(crs: CRS) -> str:
    """``"EPSG:32634 (WGS 84 / UTM zone 34N)"`` for the README."""
    import pyproj

    return f"{crs.to_string()} ({pyproj.CRS.from_wkt(crs.to_wkt()).name})"


def rtc_readme(name: RtcName, granule: str, when: datetime, crs: CRS, folder: Path) -> str:
    """The ``<base>.README.md.txt`` of an RTC product whose other files are in ``folder``."""
    base = name.format()
    pols = " and ".join(name.polarisations)
    notes = {
        **{
            f"_{pol}.tif": f"{pol} {name.radiometry} backscatter in {name.scale} scale (float32)"
            for pol in POLARISATIONS
        },
        "_ls_map.tif": "layover/shadow map (uint8 flag sums, see below)",
        "_dem.tif": "DEM heights in metres (int16, no no-data value)",
        "_inc_map.tif": "local incidence angle in radians (float32)",
        ".png": f"grayscale browse image of {name.co_pol} (decibel stretch, 0 = no data)",
        ".png.aux.xml": "georeferencing of the browse image (GDAL PAM)",
        "_shape.shp": "shapefile outlining the area with data (with .shx, .dbf, .prj)",
        "_shape.shx": "shapefile index",
        "_shape.dbf": "shapefile attributes (source granule)",
        "_shape.prj": "shapefile coordinate reference system",
        ".log": "processing parameters",
    }
    return f"""SIMULATED RTC product in the HyP3 RTC_GAMMA format
====================================================

**This product was SIMULATED by glaciermap {__version__}.** It was not made by ASF's HyP3 service and
contains no Sentinel-1 measurements: the backscatter, layover/shadow map and other layers come from
glaciermap's Sentinel-1 simulator. Only the file layout, names, data types and value conventions follow
HyP3's RTC_GAMMA products, so that glaciermap reads simulated and real products the same way.

Simulated on: {when.isoformat(timespec="seconds")}
Granule it stands in for: {granule}
Projection: {_crs_label(crs)}; pixel spacing {name.pixel_spacing} m

## Name

The folder and every file in it start with the base name `{base}`, built as
`S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_G_defklm_ssss`:

| part | meaning | here |
|---|---|---|
| x | Sentinel-1 unit (A, B, C, D) | {name.platform} |
| yy | beam mode | {name.beam_mode} |
| aaaaaaaaTbbbbbb | acquisition start, UTC | {name.start.strftime(TIME_FORMAT)} |
| pp | D(ual) or S(ingle) polarisation + primary polarisation V or H | {name.polarization} ({pols}) |
| o | orbit: P(recise), R(estituted), O(riginal predicted) | {name.orbit} |
| zz | pixel spacing, metres | {name.pixel_spacing} |
| G | terrain-correction software (GAMMA in real products) | G |
| d | g = gamma0, s = sigma0 | {RADIOMETRY_LETTER[name.radiometry]} ({name.radiometry}) |
| e | p = power, a = amplitude, d = decibel | {SCALE_LETTER[name.scale]} ({name.scale}) |
| f | u = not water masked, w = water masked | {"w" if name.water_masked else "u"} |
| k | n = not speckle filtered, f = filtered | {"f" if name.filtered else "n"} |
| l | e = entire area, c = clipped | {"c" if name.clipped else "e"} |
| m | d = dead reckoning, m = DEM matching | {"m" if name.dem_matching else "d"} |
| ssss | product id, 4 hexadecimal digits | {name.product_id} |

## Files

{_files_section(folder, notes)}

The GeoTIFFs are cloud-optimised (tiled, DEFLATE-compressed, with overviews when larger than one tile).
Not included, although HyP3 can deliver them: KMZ files, the colour browse image (`_rgb.png`), the RGB
decomposition (`_rgb.tif`) and the scattering-area map (`_area.tif`).

## Values

- Backscatter ({pols}): {name.radiometry} in {name.scale} scale, float32. No data is 0 (the GeoTIFF
  no-data value), as in HyP3 products; layover and shadow pixels are always no data.
- Incidence angle map (when present): local incidence angle in radians, float32, 0 = no data.
- DEM (when present): heights in metres, int16, no no-data value.
- Layover/shadow map (`_ls_map.tif`, uint8): each value is the sum of the flags that apply:
  - 1: the pixel was tested for layover and shadow (0 = not tested: outside the data)
  - 2: look angle smaller than the slope angle
  - 4: layover
  - 8: look angle smaller than the opposite slope angle
  - 16: shadow

  So 1 is a clean pixel, 5 and 7 are layover, 17 and 25 are shadow, 21 is both; anything with 4 or 16
  set carries no data in the backscatter files.
"""


def rtc_log(name: RtcName, granule: str, when: datetime, has_dem: bool, has_inc: bool) -> str:
    """The ``<base>.log`` of an RTC product: its processing options, one log line each."""
    stamp = when.strftime("%m/%d/%Y %I:%M:%S %p")
    entries = [
        "SIMULATED product: glaciermap Sentinel-1 simulator, no SAR data was processed",
        "Parameters for this run:",
        f"    Granule (stood in for)  : {granule}",
        f"    Output resolution       : {name.pixel_spacing}.0",
        f"    Radiometry              : {name.radiometry}",
        f"    Scale                   : {name.scale}",
        f"    Speckle filter          : {name.filtered}",
        f"    DEM matching            : {name.dem_matching}",
        f"    Include DEM             : {has_dem}",
        f"    Include inc. angle map  : {has_inc}",
        f"    Orbit type              : {name.orbit}",
        f"    Output name             : {name.format()}",
        f"Processor: glaciermap {__version__} simulator",
    ]
    return "".join(f"{stamp} - INFO - {entry}\n" for entry in entries)


def insar_readme(
    name: InsarName, reference: str, secondary: str, when: datetime, crs: CRS, folder: Path
) -> str:
    """The ``<base>.README.md.txt`` of an INSAR product whose other files are in ``folder``."""
    base = name.format()
    notes = {
        "_corr.tif": "coherence, 0 to 1 (float32, NaN = no data)",
        "_amp.tif": "amplitude image of the reference acquisition, sigma0 power (float32, NaN = no data)",
        "_unw_phase.tif": "unwrapped interferometric phase in radians (float32, NaN = no data)",
        "_water_mask.tif": "water mask (uint8): 0 = coastal water, 1 = everything else",
        ".txt": "processing parameters",
        ".log": "processing log",
    }
    return f"""SIMULATED InSAR product in the HyP3 INSAR_GAMMA format
=======================================================

**This product was SIMULATED by glaciermap {__version__}.** It was not made by ASF's HyP3 service and
contains no Sentinel-1 measurements: the coherence and other layers come from glaciermap's Sentinel-1
simulator. Only the file layout, names, data types and value conventions follow HyP3's INSAR_GAMMA
products, so that glaciermap reads simulated and real products the same way.

Simulated on: {when.isoformat(timespec="seconds")}
Granules it stands in for:
 - Reference: {reference}
 - Secondary: {secondary}
Projection: {_crs_label(crs)}; pixel spacing {name.pixel_spacing} m ({name.looks} looks)

## Name

The folder and every file in it start with the base name `{base}`, built as
`S1xy_aaaaaaaaTbbbbbb_ggggggggThhhhhh_pponnn_INTzz_G_def_ssss`:

| part | meaning | here |
|---|---|---|
| x, y | Sentinel-1 units: reference, secondary | {name.reference_platform}, {name.secondary_platform} |
| aaaaaaaaTbbbbbb | reference acquisition start, UTC | {name.reference_start.strftime(TIME_FORMAT)} |
| ggggggggThhhhhh | secondary acquisition start, UTC | {name.secondary_start.strftime(TIME_FORMAT)} |
| pp | polarisation (VV or HH) | {name.polarization} |
| o | orbit: P(recise), R(estituted), O(riginal predicted) | {name.orbit} |
| nnn | days between the acquisitions | {name.days:03d} |
| zz | pixel spacing, metres (80 = 20x4 looks, 40 = 10x2 looks) | {name.pixel_spacing} |
| G | processing software (GAMMA in real products) | G |
| d | u = unmasked, w = water masked before unwrapping | {"w" if name.water_masked else "u"} |
| e | e = entire area, c = clipped | {"c" if name.clipped else "e"} |
| f | sub-swath 1, 2, 3 or F(ull) | {name.swath} |
| ssss | product id, 4 hexadecimal digits | {name.product_id} |

## Files

{_files_section(folder, notes)}

The GeoTIFFs are cloud-optimised (tiled, DEFLATE-compressed, with overviews when larger than one tile).
Not included, although HyP3 can deliver them: browse PNG and KMZ images, wrapped phase, displacement
maps, look vectors, incidence-angle maps and the DEM.

## Values

- Coherence: 0 (no correlation) to 1 (perfect correlation), float32; NaN is no data.
- Amplitude and unwrapped phase (when present): float32; NaN is no data.
- Water mask (when present): 0 marks coastal water, 1 everything else; it has no no-data value.
"""


def insar_parameters(name: InsarName, reference: str, secondary: str) -> str:
    """The ``<base>.txt`` parameter file: only what the simulation knows, in HyP3's ``Key: value`` form."""
    entries = [
        ("Reference Granule", reference),
        ("Secondary Granule", secondary),
        ("Reference start time (UTC)", name.reference_start.isoformat()),
        ("Secondary start time (UTC)", name.secondary_start.isoformat()),
        ("Days between acquisitions", str(name.days)),
        ("Range looks", str(name.range_looks)),
        ("Azimuth looks", str(name.azimuth_looks)),
        ("Pixel spacing (m)", str(name.pixel_spacing)),
        ("Water mask applied", "yes" if name.water_masked else "no"),
        ("Processor", f"glaciermap {__version__} simulator"),
        ("Simulated", "yes (no Sentinel-1 data was processed)"),
    ]
    return "".join(f"{key}: {value}\n" for key, value in entries)


def insar_log(name: InsarName, reference: str, secondary: str, when: datetime) -> str:
    """The ``<base>.log`` of an INSAR product."""
    stamp = when.strftime("%m/%d/%Y %I:%M:%S %p")
    entries = [
        "SIMULATED product: glaciermap Sentinel-1 simulator, no SAR data was processed",
        f"Reference granule (stood in for): {reference}",
        f"Secondary granule (stood in for): {secondary}",
        f"Looks: {name.looks}",
        f"Output name: {name.format()}",
        f"Processor: glaciermap {__version__} simulator",
    ]
    return "".join(f"{stamp} - INFO - {entry}\n" for entry in entries)


__all__ = ["insar_log", "insar_parameters", "insar_readme", "rtc_log", "rtc_readme"]
