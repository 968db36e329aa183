"""HyP3 product names and the names of the files inside a product.

ASF's HyP3 service delivers each product as ``<base>.zip`` holding one folder ``<base>/`` in which every
file starts with the base name (``<base>_VV.tif``, ``<base>_ls_map.tif``, ``<base>.README.md.txt``, ...).
The base name itself encodes the acquisition and the processing options (ASF's RTC and InSAR product
guides):

* :class:`RtcName` and :class:`InsarName` parse and format base names (``download`` names and verifies
  files with them, the simulator names its products with them);
* :func:`raster_file`, :func:`required_rasters` and :func:`members_preprocess_reads` are the one place
  that spells the files of a product (``_VV.tif``, ``_ls_map.tif``, ``_corr.tif``, the README): no other
  module of glaciermap writes a member name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from glaciermap.errors import InputError

if TYPE_CHECKING:
    import os
    from pathlib import Path

Radiometry = Literal["gamma0", "sigma0"]
Scale = Literal["power", "amplitude", "decibel"]
ProductKind = Literal["RTC", "INSAR"]

#: Polarisations in the order products list them (co-polarised first).
POLARISATIONS = ("VV", "VH", "HH", "HV")
_RTC_POLARISATION_CODES = {"DV": ("VV", "VH"), "SV": ("VV",), "DH": ("HH", "HV"), "SH": ("HH",)}

#: How names write times: UTC, whole seconds.
TIME_FORMAT = "%Y%m%dT%H%M%S"
_PLATFORMS = "ABCD"  # Sentinel-1A/B/C/D
_ORBITS = "PRO"  # precise, restituted, original predicted
_RTC_SPACINGS = (10, 20, 30)
_INSAR_SPACINGS = {40: (10, 2), 80: (20, 4)}  # pixel spacing (m) -> (range looks, azimuth looks)
RADIOMETRY_LETTER: dict[str, str] = {"gamma0": "g", "sigma0": "s"}
SCALE_LETTER: dict[str, str] = {"power": "p", "amplitude": "a", "decibel": "d"}
_RADIOMETRY_BY_LETTER: dict[str, Radiometry] = {"g": "gamma0", "s": "sigma0"}
_SCALE_BY_LETTER: dict[str, Scale] = {"p": "power", "a": "amplitude", "d": "decibel"}

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

RTC_HINT = (
    "an RTC_GAMMA base name looks like S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A "
    "(S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_G_defklm_ssss)"
)
_INSAR_HINT = (
    "an INSAR_GAMMA base name looks like "
    "S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09"
)
_ANY_HINT = f"{RTC_HINT}; {_INSAR_HINT}"


def utc_seconds(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime in whole seconds (a naive datetime is taken to be UTC)."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


def _parse_time(text: str, whole: str, hint: str) -> datetime:
    """Parse ``YYYYMMDDTHHMMSS`` as UTC, raising :class:`InputError` naming ``whole`` if it is no date."""
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
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


def parse_granule(granule: str) -> re.Match[str]:
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
        object.__setattr__(self, "start", utc_seconds(self.start))
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
        if self.radiometry not in RADIOMETRY_LETTER:
            problems.append(f"radiometry {self.radiometry!r} is not gamma0 or sigma0")
        if self.scale not in SCALE_LETTER:
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
            raise InputError(f"{text!r} is not a HyP3 RTC_GAMMA product name", RTC_HINT)
        start = _parse_time(match["start"], text, RTC_HINT)
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
                f"{text!r} is not a valid HyP3 RTC_GAMMA product name ({exc})", RTC_HINT
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
        match = parse_granule(granule)
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
            start=datetime.strptime(match["start"], TIME_FORMAT),
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
            RADIOMETRY_LETTER[self.radiometry]
            + SCALE_LETTER[self.scale]
            + ("w" if self.water_masked else "u")
            + ("f" if self.filtered else "n")
            + ("c" if self.clipped else "e")
            + ("m" if self.dem_matching else "d")
        )
        return (
            f"S1{self.platform}_{self.beam_mode}_{self.start.strftime(TIME_FORMAT)}"
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
        object.__setattr__(self, "reference_start", utc_seconds(self.reference_start))
        object.__setattr__(self, "secondary_start", utc_seconds(self.secondary_start))
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
            (parse_granule(granule_a), parse_granule(granule_b)), key=lambda m: m["start"]
        )
        reference_start = datetime.strptime(first["start"], TIME_FORMAT)
        secondary_start = datetime.strptime(second["start"], TIME_FORMAT)
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
            f"_{self.reference_start.strftime(TIME_FORMAT)}_{self.secondary_start.strftime(TIME_FORMAT)}"
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


# ---------------------------------------------------------------------------------------------------------
# The files of a product
# ---------------------------------------------------------------------------------------------------------

#: Raster key of the RTC layover/shadow map (``<base>_ls_map.tif``).
LS_MAP = "ls_map"
#: Raster key of the INSAR coherence (``<base>_corr.tif``).
CORR = "corr"
#: Suffix of the README every product holds (``<base>.README.md.txt``).
README_SUFFIX = ".README.md.txt"
#: Suffix of a product's processing log (``<base>.log``).
LOG_SUFFIX = ".log"
#: Suffix of a product's raster files after ``<base>_<key>``.
RASTER_SUFFIX = ".tif"
#: The co-polarised channels, one of which every RTC product holds.
CO_POLARISATIONS = ("VV", "HH")


def raster_file(base: str, key: str) -> str:
    """The file name of raster ``key`` of product ``base``: ``<base>_<key>.tif``."""
    return f"{base}_{key}{RASTER_SUFFIX}"


def raster_key(base: str, file: str) -> str | None:
    """The raster key of ``file`` (``"VV"`` for ``<base>_VV.tif``), or None if it is no raster of ``base``."""
    prefix = f"{base}_"
    if file.startswith(prefix) and file.endswith(RASTER_SUFFIX):
        return file[len(prefix) : -len(RASTER_SUFFIX)]
    return None


def zip_member(base: str, file: str) -> str:
    """The member name of ``file`` in ``<base>.zip``: ``<base>/<file>``."""
    return f"{base}/{file}"


def unpacked_folder(path: Path) -> Path | None:
    """Where product zip ``path`` (``<base>.zip``) unpacks: the folder ``<base>/`` beside it; None when
    ``path`` is no zip."""
    return path.with_suffix("") if path.suffix.lower() == ".zip" else None


def required_rasters(name: ProductName) -> tuple[str, ...]:
    """The rasters a product must hold to be used: co-pol backscatter and ls_map (RTC), coherence (INSAR)."""
    return (name.co_pol, LS_MAP) if isinstance(name, RtcName) else (CORR,)


def members_preprocess_reads(name: ProductName, members: Iterable[str]) -> list[str]:
    """The members of product ``name``'s zip that ``preprocess`` reads, plus the README, in zip order.

    Those are the rasters of :func:`required_rasters` (co-pol backscatter and ls_map, or coherence); the
    small README comes along for provenance when the zip has one.

    Args:
        name: the product's name.
        members: the zip's member names (``<base>/<file>``).

    Raises:
        InputError: a required raster is not among ``members``.
    """
    base = name.format()
    rasters = {zip_member(base, raster_file(base, key)) for key in required_rasters(name)}
    listed = list(members)
    missing = sorted(rasters - set(listed))
    if missing:
        raise InputError(
            f"{base}.zip lacks {', '.join(m.rsplit('/', 1)[-1] for m in missing)}",
            "order the product again from HyP3",
        )
    wanted = rasters | {zip_member(base, base + README_SUFFIX)}
    return [member for member in listed if member in wanted]


__all__ = [
    "CORR",
    "LOG_SUFFIX",
    "LS_MAP",
    "POLARISATIONS",
    "README_SUFFIX",
    "InsarName",
    "ProductKind",
    "ProductName",
    "Radiometry",
    "RtcName",
    "Scale",
    "is_insar_name",
    "is_rtc_name",
    "members_preprocess_reads",
    "parse_product_name",
    "product_kind",
    "raster_file",
    "raster_key",
    "required_rasters",
    "split_product_filename",
    "unpacked_folder",
    "zip_member",
]
