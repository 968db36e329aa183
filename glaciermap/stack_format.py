"""The stack contract: what ``stack.json`` holds, and where a stack's files lie.

A stack is one folder that carries everything about one region-year on the region's tile grid::

    <stack>/stack.json          this module's StackMeta, written last (it marks a complete stack)
    <stack>/tiles/<tile>.tif    T*C float32 bands, time-major, NaN no data (COG)
    <stack>/labels/<tile>.tif   uint8 labels: 1 glacier, 0 not glacier, 255 ignore (with an inventory)
    <stack>/stack.vrt           every tile as one raster (relative paths)
    <stack>/tiles.gpkg          tile polygons, split, valid and glacier fractions

Band ``t * C + c + 1`` of a tile (1-based) is slot ``t``, channel ``c``; a sample read from it is
``(T, C, H, W)``. Every path in ``stack.json`` is relative to the stack folder, so a stack that is
copied or moved reads its own tiles and labels. :class:`StackMeta` is the only reader and writer of
``stack.json``; format 1 (glaciermap 0.x before the contract) is read when its labels lie inside the
stack and refused otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError

if TYPE_CHECKING:
    from glaciermap.regions import Region

STACK_FORMAT = 2
"""Version of ``stack.json`` written now. 2: labels inside the stack, paths relative, typed contract."""
READABLE_FORMATS = (1, 2)
CHANNELS = ("copol_db", "coherence")
"""Channel names, in band order within a slot: co-polarised gamma0 in dB, 12-day coherence."""
STACK_JSON = "stack.json"
STACK_VRT = "stack.vrt"
TILES_GPKG = "tiles.gpkg"
TILES_DIR = "tiles"
LABELS_DIR = "labels"
SPLITS = ("train", "val", "test")
NO_SPLIT = "none"
LAYOUT = "time-major: band t*C + c + 1 is slot t, channel c; a sample is (T, C, H, W)"

_REBUILD = "rebuild it with glaciermap preprocess"
REBUILD_STACK = "rebuild the stack with glaciermap preprocess"
"""The hint for a stack file that is damaged."""


def band_index(slot: int, channel: int, n_channels: int = len(CHANNELS)) -> int:
    """1-based band of ``slot`` (0-based) and ``channel`` (0-based) in a time-major tile file."""
    return slot * n_channels + channel + 1


def band_descriptions(
    dates: Sequence[dt.date], channels: Sequence[str] = CHANNELS
) -> tuple[str, ...]:
    """``YYYY-MM-DD/<channel>`` for every band, time-major."""
    return tuple(f"{d.isoformat()}/{c}" for d in dates for c in channels)


@dataclass(frozen=True)
class StackGrid:
    """The region grid a stack lies on (a copy of the region's, so a stack is read without config).

    Attributes:
        name: region name. crs: projected CRS (``EPSG:xxxxx``). origin: grid origin (x0, y0), metres.
        tile_size: tile edge, metres. pixel_size: metres. prefix: tile id prefix.
    """

    name: str
    crs: str
    origin: tuple[float, float]
    tile_size: float
    pixel_size: float
    prefix: str

    @classmethod
    def of(cls, region: Region) -> StackGrid:
        """The grid of a region (its AOI and orbit are not part of a stack)."""
        return cls(
            name=region.name,
            crs=region.crs,
            origin=(float(region.origin[0]), float(region.origin[1])),
            tile_size=float(region.tile_size),
            pixel_size=float(region.pixel_size),
            prefix=region.prefix,
        )

    @property
    def tile_pixels(self) -> int:
        """Tile edge in pixels."""
        return round(self.tile_size / self.pixel_size)

    def tile_place(self, tile_id: str) -> tuple[int, int]:
        """``(col0, row0)`` of a tile's top-left pixel on the grid's pixel raster.

        Column 0 / row 0 is the grid origin; rows count southwards, so a tile's top edge
        (``y0 + (row + 1) * tile_size``) lies at pixel row ``-(row + 1) * tile_pixels``.
        """
        try:
            col, row = (int(v) for v in tile_id.rsplit("-", 2)[1:])
        except ValueError:
            raise InputError(
                f"tile id {tile_id!r} is not <PREFIX>-<col>-<row>", "rebuild the stack"
            ) from None
        side = self.tile_pixels
        return col * side, -(row + 1) * side


@dataclass(frozen=True)
class ChannelNorm:
    """Mean and standard deviation of one channel over the pixels counted."""

    mean: float
    std: float
    count: int = 0


@dataclass(frozen=True)
class StackMeta:
    """The content of ``stack.json`` (see the module docstring for the folder layout).

    Attributes:
        region: the grid. year: the calendar year.
        dates: each slot's date (``T`` of them). channels: channel names (``C``).
        tiles: ids of the tiles with data, in grid order. splits: tile id -> train/val/test/none.
        missing_slots: slots without any product. missing_backscatter / missing_coherence: slots
            without that channel.
        normalisation: channel -> statistics; ``normalisation_tiles`` says over which tiles
            (``train``, or ``all`` when the stack has no train split).
        labels: the labels folder relative to the stack (``labels``), or None without labels.
        inputs_hash: sha256 of preprocess's inputs (its skip-if-done check).
        inventory, split_source, input_dir: where labels, split and products came from (for people).
        coherence_resampling: how the 40 m coherence was resampled.
        glaciermap_version, created: who wrote it, when (ISO 8601, UTC).
        root: the folder it was read from or written to (not stored).
    """

    region: StackGrid
    year: int
    dates: tuple[dt.date, ...]
    tiles: tuple[str, ...]
    splits: Mapping[str, str]
    normalisation: Mapping[str, ChannelNorm]
    channels: tuple[str, ...] = CHANNELS
    normalisation_tiles: str = "train"
    missing_slots: tuple[int, ...] = ()
    missing_backscatter: tuple[int, ...] = ()
    missing_coherence: tuple[int, ...] = ()
    labels: str | None = None
    inputs_hash: str = ""
    inventory: str | None = None
    split_source: str = "random"
    input_dir: str | None = None
    coherence_resampling: str = "bilinear"
    glaciermap_version: str = ""
    created: str = ""
    format: int = STACK_FORMAT
    root: Path | None = field(default=None, compare=False)

    # ------------------------------------------------------------------------------------------------
    # Derived facts

    @property
    def n_slots(self) -> int:
        return len(self.dates)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def band_descriptions(self) -> tuple[str, ...]:
        return band_descriptions(self.dates, self.channels)

    def bands(self, slots: Iterable[int]) -> list[int]:
        """1-based bands of every channel of the given slots, time-major."""
        n = len(self.channels)
        return [band_index(t, c, n) for t in slots for c in range(n)]

    def tiles_of(self, split: str | None) -> list[str]:
        """Tiles of one split (``None``: every tile), in the stack's order."""
        if split is None:
            return list(self.tiles)
        return [t for t in self.tiles if self.splits.get(t) == split]

    def statistics(self, channels: Sequence[str] | None = None) -> tuple[list[float], list[float]]:
        """Per-channel ``(means, stds)`` in channel order.

        Raises:
            InputError: a channel has no statistics or an unusable std.
        """
        names = list(channels or self.channels)
        try:
            means = [self.normalisation[c].mean for c in names]
            stds = [self.normalisation[c].std for c in names]
        except KeyError as exc:
            raise InputError(
                f"{self._where} has no normalisation statistics for {exc.args[0]!r}", _REBUILD
            ) from None
        if not all(math.isfinite(s) and s > 0 for s in stds):
            raise InputError(f"{self._where} has unusable normalisation statistics", _REBUILD)
        return means, stds

    def normalisation_json(self) -> dict[str, Any]:
        """The normalisation as stored in ``stack.json`` and copied into model cards."""
        return {
            "tiles": self.normalisation_tiles,
            **{
                name: {"mean": n.mean, "std": n.std, "count": n.count}
                for name, n in self.normalisation.items()
            },
        }

    # ------------------------------------------------------------------------------------------------
    # Paths (need ``root``)

    @property
    def _where(self) -> str:
        return str(self.root / STACK_JSON) if self.root is not None else STACK_JSON

    def _root(self) -> Path:
        if self.root is None:
            raise ValueError("this StackMeta was not read from or written to a folder")
        return self.root

    @property
    def json_path(self) -> Path:
        return self._root() / STACK_JSON

    @property
    def vrt_path(self) -> Path:
        return self._root() / STACK_VRT

    @property
    def tiles_gpkg(self) -> Path:
        return self._root() / TILES_GPKG

    @property
    def labels_dir(self) -> Path | None:
        return self._root() / self.labels if self.labels is not None else None

    def tile_path(self, tile_id: str) -> Path:
        return self._root() / TILES_DIR / f"{tile_id}.tif"

    def label_path(self, tile_id: str) -> Path:
        if self.labels is None:
            raise InputError(
                f"the stack in {self._root()} has no labels", "rebuild it with --inventory"
            )
        return self._root() / self.labels / f"{tile_id}.tif"

    def files(self) -> list[Path]:
        """Every file of the stack, ``stack.json`` last."""
        paths = [self.tile_path(t) for t in self.tiles]
        if self.labels is not None:
            paths += [self.label_path(t) for t in self.tiles]
        return [*paths, self.vrt_path, self.tiles_gpkg, self.json_path]

    def missing_files(self, *, labels: bool = True) -> list[Path]:
        """Files the stack lists that are not on disk (label files only with ``labels``)."""
        paths = [self.tile_path(t) for t in self.tiles] + [self.vrt_path, self.tiles_gpkg]
        if labels and self.labels is not None:
            paths += [self.label_path(t) for t in self.tiles]
        return [p for p in paths if not p.is_file()]

    def check_files(self, *, labels: bool = True) -> None:
        """Raise :class:`InputError` naming the files missing from the stack (label files only with
        ``labels``: predicting needs none)."""
        missing = self.missing_files(labels=labels)
        if missing:
            shown = ", ".join(str(p.relative_to(self._root())) for p in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(
                f"the stack in {self._root()} lacks {len(missing)} file(s): {shown}{more}",
                "re-run glaciermap preprocess for this region and year",
            )

    def check_identity(self, region: str | Region | None = None, year: int | None = None) -> None:
        """Raise :class:`InputError` when the stack is not of ``region`` / ``year`` (when given).

        A :class:`~glaciermap.regions.Region` must match by name and grid too: a region redefined in
        the config (another CRS, origin or tile size) is another region under the same name.
        """
        name = region if region is None or isinstance(region, str) else region.name
        if name is not None and name != self.region.name:
            raise InputError(
                f"the stack in {self._root()} is of region {self.region.name!r}, not {name!r}",
                "give the stack of the region asked for, or drop --region",
            )
        if (
            region is not None
            and not isinstance(region, str)
            and StackGrid.of(region) != self.region
        ):
            grid = self.region
            raise InputError(
                f"the stack in {self._root()} lies on another grid than region {name!r} "
                f"(the stack's: {grid.crs}, {grid.tile_size:g} m tiles from "
                f"{grid.origin[0]:.0f}, {grid.origin[1]:.0f})",
                f"rebuild it with glaciermap preprocess --region {name}",
            )
        if year is not None and int(year) != self.year:
            raise InputError(
                f"the stack in {self._root()} is of {self.year}, not {year}",
                "give the stack of the year asked for, or drop --year",
            )

    # ------------------------------------------------------------------------------------------------
    # JSON

    def to_json(self) -> dict[str, Any]:
        """The ``stack.json`` document (paths relative to the stack)."""
        return {
            "format": STACK_FORMAT,
            "glaciermap_version": self.glaciermap_version,
            "created": self.created,
            "inputs_hash": self.inputs_hash,
            "input_dir": self.input_dir,
            "year": self.year,
            "layout": LAYOUT,
            "channels": list(self.channels),
            "n_slots": self.n_slots,
            "dates": [d.isoformat() for d in self.dates],
            "missing_slots": list(self.missing_slots),
            "missing": {
                "backscatter": list(self.missing_backscatter),
                "coherence": list(self.missing_coherence),
            },
            "band_descriptions": list(self.band_descriptions),
            "dtype": "float32",
            "nodata": "nan",
            "region": {
                "name": self.region.name,
                "crs": self.region.crs,
                "origin": list(self.region.origin),
                "tile_size": self.region.tile_size,
                "pixel_size": self.region.pixel_size,
                "prefix": self.region.prefix,
            },
            "tiles": list(self.tiles),
            "splits": {t: self.splits[t] for t in self.tiles},
            "labels": self.labels,
            "inventory": self.inventory,
            "split_source": self.split_source,
            "coherence_resampling": self.coherence_resampling,
            "normalisation": self.normalisation_json(),
        }

    def write(self, stack_dir: str | os.PathLike[str]) -> StackMeta:
        """Write ``stack.json`` atomically into ``stack_dir``; returns the meta with ``root`` set."""
        from glaciermap.io.files import atomic_output

        root = Path(stack_dir)
        with atomic_output(root / STACK_JSON) as tmp:
            tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return dataclasses.replace(self, root=root)

    @classmethod
    def from_json(cls, doc: Any, root: Path | None = None) -> StackMeta:
        """Validate a parsed ``stack.json``; :class:`InputError` naming the first problem."""
        where = str(root / STACK_JSON) if root is not None else STACK_JSON
        if not isinstance(doc, dict):
            raise InputError(f"{where} is not a JSON object", _REBUILD)
        version = doc.get("format")
        if version not in READABLE_FORMATS:
            newer = isinstance(version, int) and version > STACK_FORMAT
            raise InputError(
                f"{where} has stack format {version!r}; this glaciermap reads formats "
                f"{', '.join(map(str, READABLE_FORMATS))}",
                "upgrade glaciermap" if newer else _REBUILD,
            )
        try:
            labels = _labels_of(doc, root, where)
            grid = doc["region"]
            region = StackGrid(
                name=str(grid["name"]),
                crs=str(grid["crs"]),
                origin=(float(grid["origin"][0]), float(grid["origin"][1])),
                tile_size=float(grid["tile_size"]),
                pixel_size=float(grid["pixel_size"]),
                prefix=str(grid["prefix"]),
            )
            channels = tuple(str(c) for c in doc["channels"])
            norm_doc = doc["normalisation"]
            normalisation = {
                c: ChannelNorm(
                    float(norm_doc[c]["mean"]),
                    float(norm_doc[c]["std"]),
                    int(norm_doc[c].get("count", 0)),
                )
                for c in channels
                if c in norm_doc
            }
            tiles = tuple(str(t) for t in doc["tiles"])
            splits = {str(k): str(v) for k, v in (doc.get("splits") or {}).items()}
            missing = doc.get("missing") or {}
            meta = cls(
                region=region,
                year=int(doc["year"]),
                dates=tuple(dt.date.fromisoformat(d) for d in doc["dates"]),
                tiles=tiles,
                splits={t: splits.get(t, NO_SPLIT) for t in tiles},
                normalisation=normalisation,
                channels=channels,
                normalisation_tiles=str(norm_doc.get("tiles", "train")),
                missing_slots=tuple(int(i) for i in doc.get("missing_slots", ())),
                missing_backscatter=tuple(int(i) for i in missing.get("backscatter", ())),
                missing_coherence=tuple(int(i) for i in missing.get("coherence", ())),
                labels=labels,
                inputs_hash=str(doc.get("inputs_hash", "")),
                inventory=doc.get("inventory"),
                split_source=str(doc.get("split_source", "random")),
                input_dir=doc.get("input_dir"),
                coherence_resampling=str(doc.get("coherence_resampling", "bilinear")),
                glaciermap_version=str(doc.get("glaciermap_version", "")),
                created=str(doc.get("created", "")),
                format=int(version),
                root=root,
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(
                f"{where} is incomplete or damaged ({_describe(exc)})", _REBUILD
            ) from None
        if not meta.dates or not meta.channels:
            raise InputError(f"{where} lists no dates or no channels", _REBUILD)
        return meta

    @classmethod
    def read(cls, stack_dir: str | os.PathLike[str]) -> StackMeta:
        """Read and validate ``<stack_dir>/stack.json``.

        Raises:
            InputError: no stack there, unreadable or invalid JSON, a format this version cannot read.
        """
        root = Path(stack_dir)
        path = root / STACK_JSON
        if not path.is_file():
            hint = (
                "build the stack first (glaciermap preprocess)"
                if not root.is_file()
                else "give the stack folder, not a file in it"
            )
            raise InputError(f"no stack in {root} ({STACK_JSON} not found)", hint)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"cannot read {path} ({_describe(exc)})", _REBUILD) from None
        return cls.from_json(doc, root)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _labels_of(doc: dict[str, Any], root: Path | None, where: str) -> str | None:
    """The labels folder relative to the stack, from either format."""
    if doc.get("format") != 1:
        labels = doc.get("labels")
        if labels is None:
            return None
        if not isinstance(labels, str) or Path(labels).is_absolute() or ".." in Path(labels).parts:
            raise InputError(f"{where} names labels outside the stack ({labels!r})", _REBUILD)
        return labels
    # Format 1 stored a flag and an absolute folder, which a copied stack would still read.
    if not doc.get("labels"):
        return None
    stored = doc.get("labels_dir")
    if root is not None and (root / LABELS_DIR).is_dir():
        return LABELS_DIR
    raise InputError(
        f"{where} is an old stack whose labels lie outside it ({stored})",
        "rebuild it with glaciermap preprocess (labels now live in the stack's labels/ folder)",
    )


__all__ = [
    "CHANNELS",
    "LABELS_DIR",
    "NO_SPLIT",
    "REBUILD_STACK",
    "SPLITS",
    "STACK_FORMAT",
    "STACK_JSON",
    "STACK_VRT",
    "TILES_DIR",
    "TILES_GPKG",
    "ChannelNorm",
    "StackGrid",
    "StackMeta",
    "band_descriptions",
    "band_index",
]
