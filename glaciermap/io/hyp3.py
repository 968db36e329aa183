"""HyP3 products: their names, and reading and writing RTC_GAMMA and INSAR_GAMMA product zips.

ASF's HyP3 service delivers each product as ``<base>.zip`` holding one folder ``<base>/`` in which every
file starts with the base name (``<base>_VV.tif``, ``<base>_ls_map.tif``, ``<base>.README.md.txt``, ...).
The base name itself encodes the acquisition and the processing options. This module is the one place that
knows that format:

* :class:`RtcName` and :class:`InsarName` parse and format base names (``download`` names and verifies
  files with them);
* :func:`write_rtc_product` and :func:`write_insar_product` write products in the same layout (used by the
  simulator, so that simulated and real products go through the same reader);
* :func:`open_product` reads a product zip in place through GDAL's ``/vsizip/`` (nothing is extracted)
  or an unpacked folder, and :func:`extract_product` unpacks one safely.

Format facts relied on (ASF's RTC and InSAR product guides and the hyp3-gamma / hyp3-lib sources):

* HyP3 converts every GeoTIFF of an RTC product to a tiled, DEFLATE-compressed (cloud-optimised) GeoTIFF
  with the no-data value 0, and its browse scaling treats values <= 0 as no data. Backscatter, the
  incidence-angle map and the layover/shadow map therefore use **0 as no-data** here too (0 is also the
  ls_map code for "not tested"). Since hyp3-gamma 6.2.4 the DEM GeoTIFF carries **no** no-data value.
* Backscatter GeoTIFFs are float32 (one per polarisation), ls_map uint8, DEM int16 metres, incidence
  angle float32 radians. Layover and shadow pixels carry no data in the backscatter files.
* For INSAR_GAMMA products no source states the no-data value, so this module follows the project's
  convention for float rasters, **NaN**, in ``_corr``/``_amp``/``_unw_phase``; ``_water_mask`` is uint8
  with 0 = coastal water, 1 = everything else, and no no-data value.

:meth:`Hyp3Product.read` hides the difference: it returns float rasters with NaN wherever the file says
no data, so callers never see the 0 sentinel.

rasterio, geopandas and shapely are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, ClassVar, Literal, Self
from xml.etree import ElementTree as ET

import numpy as np

from glaciermap import __version__
from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.io.raster import open_raster, read_errors_as_input

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Mapping

    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.io import DatasetReader
    from rasterio.windows import Window

Radiometry = Literal["gamma0", "sigma0"]
Scale = Literal["power", "amplitude", "decibel"]
ProductKind = Literal["RTC", "INSAR"]

# ---------------------------------------------------------------------------------------------------------
# Value conventions
# ---------------------------------------------------------------------------------------------------------

#: No-data value of RTC backscatter and incidence-angle GeoTIFFs (HyP3 sets 0 on every product GeoTIFF).
RTC_NODATA = 0.0
#: No-data value of the ls_map GeoTIFF: 0 is also the code for "not tested for layover or shadow".
LS_MAP_NODATA = 0
#: No-data value of INSAR float GeoTIFFs (unconfirmed for real HyP3 products; see the module docstring).
INSAR_NODATA = math.nan

#: ls_map bit flags; a pixel's value is the sum of the flags that apply.
LS_TESTED = 1
LS_LOOK_LT_SLOPE = 2
LS_LAYOVER = 4
LS_LOOK_LT_OPPOSITE_SLOPE = 8
LS_SHADOW = 16
_LS_MAP_MAX = 31

#: Polarisations in the order products list them (co-polarised first).
POLARISATIONS = ("VV", "VH", "HH", "HV")
_RTC_POLARISATION_CODES = {"DV": ("VV", "VH"), "SV": ("VV",), "DH": ("HH", "HV"), "SH": ("HH",)}

_TIME_FORMAT = "%Y%m%dT%H%M%S"
_PLATFORMS = "ABCD"  # Sentinel-1A/B/C/D
_ORBITS = "PRO"  # precise, restituted, original predicted
_RTC_SPACINGS = (10, 20, 30)
_INSAR_SPACINGS = {40: (10, 2), 80: (20, 4)}  # pixel spacing (m) -> (range looks, azimuth looks)
_RADIOMETRY_LETTER: dict[str, str] = {"gamma0": "g", "sigma0": "s"}
_SCALE_LETTER: dict[str, str] = {"power": "p", "amplitude": "a", "decibel": "d"}
_RADIOMETRY_BY_LETTER: dict[str, Radiometry] = {"g": "gamma0", "s": "sigma0"}
_SCALE_BY_LETTER: dict[str, Scale] = {"p": "power", "a": "amplitude", "d": "decibel"}

# HyP3 browse images are 2048 pixels wide; smaller rasters are rendered at full resolution.
_BROWSE_WIDTH = 2048
# GeoTIFF and PNG content is already DEFLATE-compressed inside the file, so zipping it again gains almost
# nothing; stored (uncompressed) members also let GDAL's /vsizip/ seek straight to a COG tile instead of
# inflating the member from its start, which is what makes reading a window of a product zip cheap.
_STORED_SUFFIXES = {".tif", ".png"}

# ---------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------

_RTC_PATTERN = (
    r"S1(?P<platform>[A-D])_(?P<beam>[A-Z][A-Z0-9])_(?P<start>\d{8}T\d{6})"
    r"_(?P<pol>[DS][VH])(?P<orbit>[PRO])_RTC(?P<spacing>\d{2})"
    r"_G_(?P<rad>[gs])(?P<scale>[pad])(?P<mask>[uw])(?P<filt>[nf])(?P<clip>[ec])(?P<match>[dm])"
    r"_(?P<pid>[0-9A-F]{4})"
)
_INSAR_PATTERN = (
    r"S1(?P<ref>[A-D])(?P<sec>[A-D])_(?P<ref_start>\d{8}T\d{6})_(?P<sec_start>\d{8}T\d{6})"
    r"_(?P<pol>[VH]{2})(?P<orbit>[PRO])(?P<days>\d{3})_INT(?P<spacing>\d{2})"
    r"_G_(?P<mask>[uw])(?P<clip>[ec])(?P<swath>[123F])_(?P<pid>[0-9A-F]{4})"
)
_RTC_RE = re.compile(rf"^{_RTC_PATTERN}$")
_INSAR_RE = re.compile(rf"^{_INSAR_PATTERN}$")
# A file of a product: the base name, then nothing or a suffix starting with "_" or "." (``_VV.tif``).
# (The group names are dropped: the two patterns share some, which one regular expression cannot hold.)
_PRODUCT_FILE_RE = re.compile(
    r"^(?P<base>{}|{})(?P<rest>(?:[_.].*)?)$".format(
        *(re.sub(r"\?P<\w+>", "", pattern) for pattern in (_RTC_PATTERN, _INSAR_PATTERN))
    )
)
# A Sentinel-1 granule: S1A_IW_GRDH_1SDV_20160706T160520_20160706T160545_012000_012D5A_1A2B.
_GRANULE_RE = re.compile(
    r"^S1(?P<platform>[A-D])_(?P<beam>[A-Z0-9]{2})_(?P<type>[A-Z_]{4})_(?P<level>\d)(?P<cls>[A-Z])"
    r"(?P<pol>[SD][VH])_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{6})"
    r"_(?P<take>[0-9A-F]{6})_(?P<pid>[0-9A-F]{4})$"
)

_RTC_HINT = (
    "an RTC_GAMMA base name looks like S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A "
    "(S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_G_defklm_ssss)"
)
_INSAR_HINT = (
    "an INSAR_GAMMA base name looks like "
    "S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09"
)
_ANY_HINT = f"{_RTC_HINT}; {_INSAR_HINT}"


def _utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime in whole seconds (a naive datetime is taken to be UTC)."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


def _parse_time(text: str, whole: str, hint: str) -> datetime:
    """Parse ``YYYYMMDDTHHMMSS`` as UTC, raising :class:`InputError` naming ``whole`` if it is no date."""
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InputError(
            f"{whole!r} is not a HyP3 product name: {text} is not a date", hint
        ) from exc


def _derived_product_id(*parts: object) -> str:
    """A 4-digit upper-case hexadecimal product id derived from ``parts``.

    HyP3 draws the id at random; a simulated product derives it from its inputs instead, so that simulating
    the same scene twice gives the same file names.
    """
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:4].upper()


def _parse_granule(granule: str) -> re.Match[str]:
    """Match a Sentinel-1 granule name, raising :class:`InputError` for anything else."""
    match = _GRANULE_RE.match(granule)
    if match is None:
        raise InputError(
            f"{granule!r} is not a Sentinel-1 granule name",
            "a granule looks like S1A_IW_GRDH_1SDV_20160706T160520_20160706T160545_012000_012D5A_1A2B",
        )
    return match


@dataclass(frozen=True, kw_only=True)
class RtcName:
    """The base name of a HyP3 RTC_GAMMA product, ``S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_G_defklm_ssss``.

    Attributes:
        platform: Sentinel-1 unit letter, ``"A"`` to ``"D"`` (x).
        beam_mode: two-letter beam mode, e.g. ``"IW"`` (yy).
        start: acquisition start time, aware UTC, whole seconds (aaaaaaaaTbbbbbb). A naive datetime is
            taken to be UTC; microseconds are dropped, as the name cannot hold them.
        polarization: ``"DV"``, ``"SV"``, ``"DH"`` or ``"SH"``: dual/single + primary polarisation (pp).
        orbit: ``"P"`` precise, ``"R"`` restituted or ``"O"`` original predicted orbit (o).
        pixel_spacing: terrain-correction pixel spacing in metres, 10, 20 or 30 (zz).
        product_id: 4 upper-case hexadecimal digits (ssss).
        radiometry: ``"gamma0"`` or ``"sigma0"`` (d = g/s).
        scale: ``"power"``, ``"amplitude"`` or ``"decibel"`` (e = p/a/d).
        water_masked: water masked (f = w) or not (f = u).
        filtered: speckle filtered (k = f) or not (k = n).
        clipped: clipped area (l = c) or entire area (l = e).
        dem_matching: DEM matching (m = m) or dead reckoning (m = d).
    """

    platform: str
    beam_mode: str
    start: datetime
    polarization: str
    orbit: str
    pixel_spacing: int
    product_id: str
    radiometry: Radiometry = "gamma0"
    scale: Scale = "power"
    water_masked: bool = False
    filtered: bool = False
    clipped: bool = False
    dem_matching: bool = False

    kind: ClassVar[ProductKind] = "RTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        problems = []
        if len(self.platform) != 1 or self.platform not in _PLATFORMS:
            problems.append(f"platform {self.platform!r} is not one of {', '.join(_PLATFORMS)}")
        if not re.fullmatch(r"[A-Z][A-Z0-9]", self.beam_mode):
            problems.append(f"beam mode {self.beam_mode!r} is not two capitals/digits such as IW")
        if self.polarization not in _RTC_POLARISATION_CODES:
            problems.append(f"polarization {self.polarization!r} is not one of DV, SV, DH, SH")
        if len(self.orbit) != 1 or self.orbit not in _ORBITS:
            problems.append(f"orbit {self.orbit!r} is not P, R or O")
        if self.pixel_spacing not in _RTC_SPACINGS:
            problems.append(f"pixel spacing {self.pixel_spacing} m is not 10, 20 or 30")
        if not re.fullmatch(r"[0-9A-F]{4}", self.product_id):
            problems.append(
                f"product id {self.product_id!r} is not 4 upper-case hexadecimal digits"
            )
        if self.radiometry not in _RADIOMETRY_LETTER:
            problems.append(f"radiometry {self.radiometry!r} is not gamma0 or sigma0")
        if self.scale not in _SCALE_LETTER:
            problems.append(f"scale {self.scale!r} is not power, amplitude or decibel")
        if problems:
            raise ValueError("invalid RTC product name: " + "; ".join(problems))

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse a base name (a trailing ``.zip`` and any folders before it are ignored).

        Raises:
            InputError: ``text`` is not an RTC_GAMMA base name; the message names it.
        """
        base = _strip_base(text)
        match = _RTC_RE.match(base)
        if match is None:
            raise InputError(f"{text!r} is not a HyP3 RTC_GAMMA product name", _RTC_HINT)
        start = _parse_time(match["start"], text, _RTC_HINT)
        try:
            return cls(
                platform=match["platform"],
                beam_mode=match["beam"],
                start=start,
                polarization=match["pol"],
                orbit=match["orbit"],
                pixel_spacing=int(match["spacing"]),
                product_id=match["pid"],
                radiometry=_RADIOMETRY_BY_LETTER[match["rad"]],
                scale=_SCALE_BY_LETTER[match["scale"]],
                water_masked=match["mask"] == "w",
                filtered=match["filt"] == "f",
                clipped=match["clip"] == "c",
                dem_matching=match["match"] == "m",
            )
        except ValueError as exc:
            raise InputError(
                f"{text!r} is not a valid HyP3 RTC_GAMMA product name ({exc})", _RTC_HINT
            ) from exc

    @classmethod
    def from_granule(
        cls,
        granule: str,
        *,
        orbit: str = "P",
        pixel_spacing: int = 30,
        radiometry: Radiometry = "gamma0",
        scale: Scale = "power",
        water_masked: bool = False,
        filtered: bool = False,
        clipped: bool = False,
        dem_matching: bool = False,
        product_id: str | None = None,
    ) -> Self:
        """The name HyP3 gives the RTC product of a Sentinel-1 granule.

        Args:
            granule: the source granule, e.g. ``S1A_IW_GRDH_1SDV_20160706T160520_..._1A2B``.
            orbit, pixel_spacing, radiometry, scale, water_masked, filtered, clipped, dem_matching: the
                processing options, as in the class attributes.
            product_id: 4 hexadecimal digits; derived from the granule and the options when omitted, so
                the same inputs always give the same name.

        Raises:
            InputError: ``granule`` is not a Sentinel-1 granule name.
        """
        match = _parse_granule(granule)
        if product_id is None:
            options = (
                orbit,
                pixel_spacing,
                radiometry,
                scale,
                water_masked,
                filtered,
                clipped,
                dem_matching,
            )
            product_id = _derived_product_id(granule, *options)
        return cls(
            platform=match["platform"],
            beam_mode=match["beam"],
            start=datetime.strptime(match["start"], _TIME_FORMAT),
            polarization=match["pol"],
            orbit=orbit,
            pixel_spacing=pixel_spacing,
            product_id=product_id,
            radiometry=radiometry,
            scale=scale,
            water_masked=water_masked,
            filtered=filtered,
            clipped=clipped,
            dem_matching=dem_matching,
        )

    def format(self) -> str:
        """The base name, e.g. ``S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A``."""
        options = (
            _RADIOMETRY_LETTER[self.radiometry]
            + _SCALE_LETTER[self.scale]
            + ("w" if self.water_masked else "u")
            + ("f" if self.filtered else "n")
            + ("c" if self.clipped else "e")
            + ("m" if self.dem_matching else "d")
        )
        return (
            f"S1{self.platform}_{self.beam_mode}_{self.start.strftime(_TIME_FORMAT)}"
            f"_{self.polarization}{self.orbit}_RTC{self.pixel_spacing}_G_{options}_{self.product_id}"
        )

    def __str__(self) -> str:
        return self.format()

    @property
    def mission(self) -> str:
        """``"S1A"``, ``"S1B"``, ..."""
        return f"S1{self.platform}"

    @property
    def polarisations(self) -> tuple[str, ...]:
        """The polarisations the product holds, co-polarised first, e.g. ``("VV", "VH")``."""
        return _RTC_POLARISATION_CODES[self.polarization]

    @property
    def co_pol(self) -> str:
        """The co-polarised channel, ``"VV"`` or ``"HH"``."""
        return self.polarisations[0]

    @property
    def is_dual_pol(self) -> bool:
        """Whether the product holds a cross-polarised channel too."""
        return len(self.polarisations) == 2


@dataclass(frozen=True, kw_only=True)
class InsarName:
    """The base name of a HyP3 INSAR_GAMMA product.

    ``S1xy_aaaaaaaaTbbbbbb_ggggggggThhhhhh_pponnn_INTzz_G_def_ssss``, e.g.
    ``S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09``.

    Attributes:
        reference_platform: Sentinel-1 unit letter of the reference (earlier) granule (x).
        secondary_platform: unit letter of the secondary granule (y).
        reference_start: reference acquisition start, aware UTC, whole seconds.
        secondary_start: secondary acquisition start, aware UTC, whole seconds.
        polarization: ``"VV"`` or ``"HH"`` (pp).
        orbit: least precise orbit of the pair, ``"P"``, ``"R"`` or ``"O"`` (o).
        days: days between the acquisitions, 0-999 (nnn).
        pixel_spacing: 40 (10x2 looks) or 80 (20x4 looks) metres (zz).
        product_id: 4 upper-case hexadecimal digits (ssss).
        water_masked: water mask applied before unwrapping (d = w) or not (d = u).
        clipped: clipped area (e = c) or entire area (e = e).
        swath: sub-swath ``"1"``, ``"2"``, ``"3"`` or ``"F"`` for full (f).
    """

    reference_platform: str
    secondary_platform: str
    reference_start: datetime
    secondary_start: datetime
    polarization: str
    orbit: str
    days: int
    pixel_spacing: int
    product_id: str
    water_masked: bool = False
    clipped: bool = False
    swath: str = "F"

    kind: ClassVar[ProductKind] = "INSAR"

    def __post_init__(self) -> None:
        object.__setattr__(self, "reference_start", _utc(self.reference_start))
        object.__setattr__(self, "secondary_start", _utc(self.secondary_start))
        problems = []
        for role, letter in (
            ("reference", self.reference_platform),
            ("secondary", self.secondary_platform),
        ):
            if len(letter) != 1 or letter not in _PLATFORMS:
                problems.append(f"{role} platform {letter!r} is not one of {', '.join(_PLATFORMS)}")
        if not re.fullmatch(r"[VH]{2}", self.polarization):
            problems.append(f"polarization {self.polarization!r} is not VV or HH")
        if len(self.orbit) != 1 or self.orbit not in _ORBITS:
            problems.append(f"orbit {self.orbit!r} is not P, R or O")
        if not 0 <= self.days <= 999:
            problems.append(f"days {self.days} do not fit in 3 digits")
        if self.pixel_spacing not in _INSAR_SPACINGS:
            problems.append(f"pixel spacing {self.pixel_spacing} m is not 40 or 80")
        if not re.fullmatch(r"[0-9A-F]{4}", self.product_id):
            problems.append(
                f"product id {self.product_id!r} is not 4 upper-case hexadecimal digits"
            )
        if self.swath not in ("1", "2", "3", "F"):
            problems.append(f"swath {self.swath!r} is not 1, 2, 3 or F")
        if problems:
            raise ValueError("invalid INSAR product name: " + "; ".join(problems))

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse a base name (a trailing ``.zip`` and any folders before it are ignored).

        Raises:
            InputError: ``text`` is not an INSAR_GAMMA base name; the message names it.
        """
        base = _strip_base(text)
        match = _INSAR_RE.match(base)
        if match is None:
            raise InputError(f"{text!r} is not a HyP3 INSAR_GAMMA product name", _INSAR_HINT)
        reference_start = _parse_time(match["ref_start"], text, _INSAR_HINT)
        secondary_start = _parse_time(match["sec_start"], text, _INSAR_HINT)
        try:
            return cls(
                reference_platform=match["ref"],
                secondary_platform=match["sec"],
                reference_start=reference_start,
                secondary_start=secondary_start,
                polarization=match["pol"],
                orbit=match["orbit"],
                days=int(match["days"]),
                pixel_spacing=int(match["spacing"]),
                product_id=match["pid"],
                water_masked=match["mask"] == "w",
                clipped=match["clip"] == "c",
                swath=match["swath"],
            )
        except ValueError as exc:
            raise InputError(
                f"{text!r} is not a valid HyP3 INSAR_GAMMA product name ({exc})", _INSAR_HINT
            ) from exc

    @classmethod
    def from_granules(
        cls,
        granule_a: str,
        granule_b: str,
        *,
        orbit: str = "P",
        pixel_spacing: int = 40,
        water_masked: bool = False,
        product_id: str | None = None,
    ) -> Self:
        """The name HyP3 gives the INSAR product of two SLC granules.

        As HyP3 does, the earlier granule becomes the reference whatever the argument order, and the days
        between the pair are the start-time difference rounded to whole days.

        Args:
            granule_a, granule_b: the two Sentinel-1 granules.
            orbit: least precise orbit type used for the pair.
            pixel_spacing: 40 (10x2 looks) or 80 (20x4 looks) metres.
            water_masked: whether the water mask was applied before unwrapping.
            product_id: 4 hexadecimal digits; derived from the inputs when omitted.

        Raises:
            InputError: a granule is not a Sentinel-1 granule name.
        """
        first, second = sorted(
            (_parse_granule(granule_a), _parse_granule(granule_b)), key=lambda m: m["start"]
        )
        reference_start = datetime.strptime(first["start"], _TIME_FORMAT)
        secondary_start = datetime.strptime(second["start"], _TIME_FORMAT)
        days = round(abs((secondary_start - reference_start) / timedelta(days=1)))
        if product_id is None:
            product_id = _derived_product_id(
                first[0], second[0], orbit, pixel_spacing, water_masked
            )
        return cls(
            reference_platform=first["platform"],
            secondary_platform=second["platform"],
            reference_start=reference_start,
            secondary_start=secondary_start,
            # HyP3 takes the primary polarisation letter of each granule ("1SDV" -> "V").
            polarization=first["pol"][1] + second["pol"][1],
            orbit=orbit,
            days=days,
            pixel_spacing=pixel_spacing,
            product_id=product_id,
            water_masked=water_masked,
        )

    def format(self) -> str:
        """The base name, e.g. ``S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09``."""
        options = ("w" if self.water_masked else "u") + ("c" if self.clipped else "e") + self.swath
        return (
            f"S1{self.reference_platform}{self.secondary_platform}"
            f"_{self.reference_start.strftime(_TIME_FORMAT)}_{self.secondary_start.strftime(_TIME_FORMAT)}"
            f"_{self.polarization}{self.orbit}{self.days:03d}_INT{self.pixel_spacing}_G_{options}"
            f"_{self.product_id}"
        )

    def __str__(self) -> str:
        return self.format()

    @property
    def looks(self) -> str:
        """HyP3's ``looks`` option for this pixel spacing: ``"10x2"`` (40 m) or ``"20x4"`` (80 m)."""
        range_looks, azimuth_looks = _INSAR_SPACINGS[self.pixel_spacing]
        return f"{range_looks}x{azimuth_looks}"

    @property
    def range_looks(self) -> int:
        """Looks in range: 10 for 40 m products, 20 for 80 m products."""
        return _INSAR_SPACINGS[self.pixel_spacing][0]

    @property
    def azimuth_looks(self) -> int:
        """Looks in azimuth: 2 for 40 m products, 4 for 80 m products."""
        return _INSAR_SPACINGS[self.pixel_spacing][1]


ProductName = RtcName | InsarName


def _strip_base(text: str) -> str:
    """The last path/URL component of ``text`` without a trailing ``.zip``."""
    base = re.split(r"[/\\]", text.strip())[-1]
    return base[:-4] if base.lower().endswith(".zip") else base


def parse_product_name(text: str) -> ProductName:
    """Parse an RTC_GAMMA or INSAR_GAMMA base name, a ``<base>.zip`` file name, path or URL.

    Raises:
        InputError: ``text`` is neither kind of HyP3 product name; the message names it.
    """
    base = _strip_base(text)
    if _RTC_RE.match(base):
        return RtcName.parse(text)
    if _INSAR_RE.match(base):
        return InsarName.parse(text)
    raise InputError(f"{text!r} is not a HyP3 RTC_GAMMA or INSAR_GAMMA product name", _ANY_HINT)


def split_product_filename(filename: str) -> tuple[ProductName, str]:
    """Split the name of any file HyP3 delivers into the product name and the rest.

    ``S1A_IW_20250420T135654_DVP_RTC30_G_gpuned_7959_rgb_thumb.png`` gives the RtcName and
    ``"_rgb_thumb.png"``; ``<base>.zip`` gives ``".zip"``. Folders and URL prefixes are ignored.

    Raises:
        InputError: the file name does not start with an RTC_GAMMA or INSAR_GAMMA base name.
    """
    leaf = re.split(r"[/\\]", filename.strip())[-1]
    match = _PRODUCT_FILE_RE.match(leaf)
    if match is None:
        raise InputError(
            f"{filename!r} is not a file of a HyP3 RTC_GAMMA or INSAR_GAMMA product", _ANY_HINT
        )
    return parse_product_name(match["base"]), match["rest"]


def is_rtc_name(text: str) -> bool:
    """Whether ``text`` (a base name, ``<base>.zip``, a path or URL) is a valid RTC_GAMMA product name."""
    try:
        RtcName.parse(text)
    except InputError:
        return False
    return True


def is_insar_name(text: str) -> bool:
    """Whether ``text`` (a base name, ``<base>.zip``, a path or URL) is a valid INSAR_GAMMA product name."""
    try:
        InsarName.parse(text)
    except InputError:
        return False
    return True


def product_kind(path: str | os.PathLike[str]) -> ProductKind:
    """``"RTC"`` or ``"INSAR"`` for a product zip, folder or base name (judged by its name alone).

    Raises:
        InputError: the name is neither kind of HyP3 product name.
    """
    return parse_product_name(str(path)).kind


def layover_shadow_mask(ls_map: np.ndarray) -> np.ndarray:
    """Pixels affected by layover or shadow, which carry no data in the backscatter files.

    Args:
        ls_map: (H, W) integer layover/shadow map (sums of the ``LS_*`` flags).

    Returns:
        (H, W) bool, True where the layover (4) or shadow (16) flag is set.
    """
    return (np.asarray(ls_map).astype(np.uint8) & (LS_LAYOVER | LS_SHADOW)) != 0


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------


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
    when = _utc(processed)

    out = Path(out_dir)
    with (
        atomic_output(out / f"{base}.zip", overwrite=overwrite) as tmp_zip,
        _work_folder(out, base) as folder,
    ):
        rasters: list[
            tuple[str, str]
        ] = []  # (file name, description) for the README and the .xml files
        for pol in name.polarisations:
            description = f"{pol} {name.radiometry} {name.scale}"
            _write_cog(
                folder / f"{base}_{pol}.tif",
                encoded[pol],
                crs_obj,
                transform,
                RTC_NODATA,
                description,
                when,
            )
            rasters.append((f"{base}_{pol}.tif", f"{description}, terrain corrected; 0 = no data"))
        ls_description = (
            "layover/shadow map (sum of flags 1 tested, 2, 4 layover, 8, 16 shadow); 0 = not tested"
        )
        _write_cog(
            folder / f"{base}_ls_map.tif",
            ls,
            crs_obj,
            transform,
            LS_MAP_NODATA,
            ls_description,
            when,
        )
        rasters.append((f"{base}_ls_map.tif", ls_description))
        if dem_i16 is not None:
            dem_description = "DEM height used for terrain correction, metres (int16)"
            _write_cog(
                folder / f"{base}_dem.tif", dem_i16, crs_obj, transform, None, dem_description, when
            )
            rasters.append((f"{base}_dem.tif", dem_description))
        if inc is not None:
            inc_description = "local incidence angle, radians; 0 = no data"
            _write_cog(
                folder / f"{base}_inc_map.tif",
                inc,
                crs_obj,
                transform,
                RTC_NODATA,
                inc_description,
                when,
            )
            rasters.append((f"{base}_inc_map.tif", inc_description))

        _write_browse_png(
            folder / f"{base}.png", encoded[name.co_pol], valid_co, name.scale, crs_obj, transform
        )
        rasters.append(
            (f"{base}.png", f"grayscale browse image of {name.co_pol} in decibel; 0 = no data")
        )
        _write_extent_shapefile(folder / f"{base}_shape.shp", valid_co, crs_obj, transform, granule)

        for file_name, description in rasters:
            _write_arcgis_xml(
                folder / f"{file_name}.xml", file_name, description, base, granule, when
            )
        _write_text(
            folder / f"{base}.log", _rtc_log(name, granule, when, dem is not None, inc is not None)
        )
        # Last, so that its list of files is complete.
        _write_text(
            folder / f"{base}.README.md.txt", _rtc_readme(name, granule, when, crs_obj, folder)
        )
        _zip_folder(folder, base, tmp_zip, when)
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
    when = _utc(processed)

    out = Path(out_dir)
    with (
        atomic_output(out / f"{base}.zip", overwrite=overwrite) as tmp_zip,
        _work_folder(out, base) as folder,
    ):
        for suffix, array, nodata, description in layers:
            file_name = f"{base}_{suffix}.tif"
            _write_cog(folder / file_name, array, crs_obj, transform, nodata, description, when)
            granules = f"{reference_granule} / {secondary_granule}"
            _write_arcgis_xml(
                folder / f"{file_name}.xml", file_name, description, base, granules, when
            )
        _write_text(
            folder / f"{base}.txt", _insar_parameters(name, reference_granule, secondary_granule)
        )
        _write_text(
            folder / f"{base}.log", _insar_log(name, reference_granule, secondary_granule, when)
        )
        # Last, so that its list of files is complete.
        _write_text(
            folder / f"{base}.README.md.txt",
            _insar_readme(name, reference_granule, secondary_granule, when, crs_obj, folder),
        )
        _zip_folder(folder, base, tmp_zip, when)
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
        match = _parse_granule(granule)
    except InputError as exc:
        raise ValueError(str(exc)) from exc
    mismatches = [
        what
        for what, ours, theirs in (
            ("platform", name.platform, match["platform"]),
            ("beam mode", name.beam_mode, match["beam"]),
            ("polarisation", name.polarization, match["pol"]),
            ("start time", name.start.strftime(_TIME_FORMAT), match["start"]),
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
        ref, sec = _parse_granule(reference), _parse_granule(secondary)
    except InputError as exc:
        raise ValueError(str(exc)) from exc
    expected = (
        name.reference_platform,
        name.secondary_platform,
        name.reference_start.strftime(_TIME_FORMAT),
        name.secondary_start.strftime(_TIME_FORMAT),
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
    if arr.size and (arr.min() < 0 or arr.max() > _LS_MAP_MAX):
        raise ValueError(f"ls_map values must lie in 0-{_LS_MAP_MAX} (sums of 1, 2, 4, 8, 16)")
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


# --- files ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _work_folder(out_dir: Path, base: str) -> Iterator[Path]:
    """A hidden scratch folder beside the final zip holding ``<base>/``; removed when the block ends.

    It sits in ``out_dir`` rather than the system temp folder so that large products are staged on the
    disk the caller chose, which is known to be writable and to have room for the zip.
    """
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{base}.") as scratch:
        folder = Path(scratch) / base
        folder.mkdir()
        yield folder


def _write_cog(
    path: Path,
    array: np.ndarray,
    crs: CRS,
    transform: Affine,
    nodata: float | None,
    description: str,
    when: datetime,
) -> None:
    """Write a single-band cloud-optimised GeoTIFF.

    DEFLATE compression and 256-pixel tiles, as HyP3's conversion produces (GDAL's tiled GTiff default);
    overviews are built by the COG driver wherever the raster is larger than a tile, averaged for
    continuous values and nearest-neighbour for the categorical ls_map and water mask, whose codes must not
    be blended into codes that mean something else.
    """
    import rasterio

    categorical = np.issubdtype(array.dtype, np.integer) and array.dtype.itemsize == 1
    profile = {
        "driver": "COG",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": array.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "DEFLATE",
        "blocksize": 256,
        "overview_resampling": "NEAREST" if categorical else "AVERAGE",
        "bigtiff": "IF_SAFER",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
        dst.set_band_description(1, description)
        # GDAL writes TIFFTAG_* metadata as real TIFF tags: any tool shows the file is simulated.
        dst.update_tags(
            TIFFTAG_SOFTWARE=f"glaciermap {__version__} simulator (SIMULATED data in HyP3 format)",
            TIFFTAG_DATETIME=when.strftime("%Y:%m:%d %H:%M:%S"),
        )


def _write_browse_png(
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


def _write_extent_shapefile(
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
    frame.to_file(path, driver="ESRI Shapefile", engine="pyogrio")
    # HyP3's extent shapefile is the four files .shp/.shx/.dbf/.prj; the attribute text is plain ASCII,
    # so the code-page file GDAL adds says nothing a reader needs.
    path.with_suffix(".cpg").unlink(missing_ok=True)


def _write_arcgis_xml(
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


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _zip_timestamp(when: datetime) -> tuple[int, int, int, int, int, int]:
    """``when`` as a zip member timestamp (zip cannot store dates before 1980)."""
    when = max(when, datetime(1980, 1, 1, tzinfo=UTC))
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def _zip_folder(folder: Path, base: str, zip_path: Path, when: datetime) -> None:
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


# --- README, log and parameter texts ----------------------------------------------------------------------


def _files_section(folder: Path, notes: Mapping[str, str]) -> str:
    """A bullet list of the files in ``folder`` with what each is (by suffix after the base name)."""
    base = folder.name
    # The README lists itself too, although it is written after this list is made.
    names = sorted({file.name for file in folder.iterdir()} | {f"{base}.README.md.txt"})
    lines = []
    for file_name in names:
        rest = file_name[len(base) :]
        note = "this file" if rest == ".README.md.txt" else notes.get(rest, _default_note(rest))
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


def _rtc_readme(name: RtcName, granule: str, when: datetime, crs: CRS, folder: Path) -> str:
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
| aaaaaaaaTbbbbbb | acquisition start, UTC | {name.start.strftime(_TIME_FORMAT)} |
| pp | D(ual) or S(ingle) polarisation + primary polarisation V or H | {name.polarization} ({pols}) |
| o | orbit: P(recise), R(estituted), O(riginal predicted) | {name.orbit} |
| zz | pixel spacing, metres | {name.pixel_spacing} |
| G | terrain-correction software (GAMMA in real products) | G |
| d | g = gamma0, s = sigma0 | {_RADIOMETRY_LETTER[name.radiometry]} ({name.radiometry}) |
| e | p = power, a = amplitude, d = decibel | {_SCALE_LETTER[name.scale]} ({name.scale}) |
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


def _rtc_log(name: RtcName, granule: str, when: datetime, has_dem: bool, has_inc: bool) -> str:
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


def _insar_readme(
    name: InsarName, reference: str, secondary: str, when: datetime, crs: CRS, folder: Path
) -> str:
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
| aaaaaaaaTbbbbbb | reference acquisition start, UTC | {name.reference_start.strftime(_TIME_FORMAT)} |
| ggggggggThhhhhh | secondary acquisition start, UTC | {name.secondary_start.strftime(_TIME_FORMAT)} |
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


def _insar_parameters(name: InsarName, reference: str, secondary: str) -> str:
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


def _insar_log(name: InsarName, reference: str, secondary: str, when: datetime) -> str:
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


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------

_REDOWNLOAD = "download the product again from HyP3 (or simulate it again)"


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
        prefix = f"{self.base}_"
        return {
            file[len(prefix) : -len(".tif")]: f"{self.root}/{file}"
            for file in self.files
            if file.startswith(prefix) and file.endswith(".tif")
        }

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
        return next((pol for pol in ("VV", "HH") if pol in self.rasters), None)

    @property
    def radiometry(self) -> Radiometry | None:
        """``"gamma0"`` or ``"sigma0"`` for RTC products (from the name); None for INSAR."""
        return self.name.radiometry if isinstance(self.name, RtcName) else None

    @property
    def scale(self) -> Scale | None:
        """``"power"``, ``"amplitude"`` or ``"decibel"`` for RTC products (from the name); None for INSAR."""
        return self.name.scale if isinstance(self.name, RtcName) else None

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[DatasetReader]:
        """Open raster ``key`` with rasterio (see :func:`glaciermap.io.raster.open_raster`)."""
        with open_raster(self.raster(key)) as src:
            yield src

    def read(self, key: str, *, window: Window | None = None) -> np.ndarray:
        """Read raster ``key`` (optionally a window) as an (H, W) array with no data as NaN.

        Float rasters come back as float32 with NaN wherever the file's no-data value is (0 in HyP3
        backscatter, NaN in simulated INSAR layers). An RTC backscatter file without a no-data tag is read
        with 0 as no data, which is what HyP3 fills no data with. Integer rasters (ls_map, DEM, water mask)
        come back unchanged.

        Raises:
            InputError: no such raster, or it cannot be read (corrupt or truncated).
        """
        with self.open(key) as src, read_errors_as_input(src.name):
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
                    return archive.read(f"{self.base}/{file}").decode("utf-8")
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
    required = [name.co_pol, "ls_map"] if isinstance(name, RtcName) else ["corr"]
    missing = [key for key in required if key not in rasters]
    if missing:
        raise InputError(
            f"HyP3 product {product_path} is incomplete: no {', '.join(f'{base}_{k}.tif' for k in missing)}",
            _REDOWNLOAD,
        )
    return product


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
            "HyP3 delivers <base>.zip holding the folder <base>; keep that name ("
            + _RTC_HINT
            + ")",
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
