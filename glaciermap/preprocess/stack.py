"""A year of HyP3 products -> per-tile time-series stacks on the region's grid, with labels.

:func:`build_stack` is the library call behind ``glaciermap preprocess``. It

1. finds the products (:func:`~glaciermap.preprocess.products.scan_products`) and groups them into 24-day
   slots (:func:`~glaciermap.preprocess.products.assign_slots`);
2. hashes its inputs (product paths, sizes and mtimes, the parameters, the inventory and split files) and
   skips itself when ``stack.json`` holds the same hash and every file it lists exists;
3. picks the tiles of the region's grid that meet a product footprint and, tile by tile (in a process
   pool with ``workers > 1``), mosaics every slot's backscatter and coherence onto the tile
   (:func:`process_tile`, a pure function of a picklable :class:`TileTask`, so a Dask ``client.map``
   can run it as well), writes ``tiles/<tile_id>.tif`` and, with an inventory, ``labels/<tile_id>.tif``;
4. assigns train/val/test (:mod:`~glaciermap.preprocess.split`), computes per-channel normalisation
   statistics over the training tiles from per-tile partial sums, and writes ``stack.vrt``,
   ``tiles.gpkg`` and, last, ``stack.json``.

Layout of a tile file: ``T * C`` float32 bands, **time-major** (band ``t * C + c + 1`` is slot ``t``,
channel ``c``), channels ``copol_db`` then ``coherence``, NaN no data, band descriptions
``YYYY-MM-DD/<channel>``. A training sample read from it is ``(T, C, H, W)``. Labels are uint8: 1 glacier,
0 not glacier, 255 never observed.

Every file goes through :func:`~glaciermap.io.files.atomic_output`; ``stack.json`` is removed before
anything else is rewritten and written last, so it marks a complete stack.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.regions import Bounds, Region, Tile

if TYPE_CHECKING:
    import numpy as np

    from glaciermap.preprocess.products import ProductRecord, Slot

log = logging.getLogger(__name__)

CHANNELS = ("copol_db", "coherence")
"""Channel names, in band order within a slot."""
STACK_FORMAT = 1
"""Version of the stack layout written in stack.json."""
BLOCK_SIZE = 256
"""Internal tile size of the COGs."""
DEFAULT_SLOTS = 15
DEFAULT_MIN_ACQUISITIONS = 3
SPLIT_SEED = 0
COHERENCE_RESAMPLINGS = ("nearest", "bilinear", "cubic")
"""Resampling choices for the coherence (those of :mod:`glaciermap.preprocess.mosaic`)."""

ProgressCallback = Callable[[int, int, str], None]
"""Called with (tiles done, tiles in total, tile id just done)."""


@dataclass(frozen=True)
class TileTask:
    """Everything :func:`process_tile` needs for one tile; picklable and small.

    Attributes:
        tile_id, bounds: the tile.
        pixel_size: metres. crs: the region's CRS.
        slots: per slot, ``(rtc_products, insar_products)`` overlapping the tile.
        descriptions: band descriptions (``T * C``).
        stack_path: the tile file to write.
        label_path: the label file to write, or None without an inventory.
        outlines_wkb: the inventory outlines clipped to the tile (WKB), or None without an inventory.
        coherence_resampling: resampling of the 40 m coherence onto the 10 m grid.
    """

    tile_id: str
    bounds: Bounds
    pixel_size: float
    crs: str
    slots: tuple[tuple[tuple[ProductRecord, ...], tuple[ProductRecord, ...]], ...]
    descriptions: tuple[str, ...]
    stack_path: Path
    label_path: Path | None = None
    outlines_wkb: tuple[bytes, ...] | None = None
    coherence_resampling: str = "bilinear"


@dataclass(frozen=True)
class ChannelStats:
    """Streaming statistics of one channel: count, mean and sum of squared deviations (Chan et al.)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def merge(self, other: ChannelStats) -> ChannelStats:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return ChannelStats(n, mean, m2)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count else float("nan")

    @classmethod
    def of(cls, values: np.ndarray) -> ChannelStats:
        import numpy as np

        values = values[np.isfinite(values)].astype(np.float64)
        if values.size == 0:
            return cls()
        mean = float(values.mean())
        return cls(int(values.size), mean, float(((values - mean) ** 2).sum()))


@dataclass(frozen=True)
class TileResult:
    """What :func:`process_tile` did for one tile.

    Attributes:
        tile_id: the tile.
        written: False when the stack was NaN everywhere (no file written).
        valid_fraction: share of the tile's pixels observed in at least one band.
        glacier_fraction: share of the tile's pixels labelled glacier (None without an inventory).
        stats: per channel, statistics over the valid pixels of every slot.
    """

    tile_id: str
    written: bool
    valid_fraction: float = 0.0
    glacier_fraction: float | None = None
    stats: tuple[ChannelStats, ...] = ()


@dataclass(frozen=True)
class StackResult:
    """What :func:`build_stack` did.

    Attributes:
        stack_dir: the stack folder. labels_dir: the labels folder (None without an inventory).
        skipped: True when the stack was up to date and nothing was written.
        tiles: ids of the tiles in the stack.
        splits: tile id -> train/val/test/none.
        dates: the slot dates. missing_slots: indices of slots without any product.
        inputs_hash: the hash recorded in stack.json.
        metadata: the content of stack.json.
    """

    stack_dir: Path
    labels_dir: Path | None
    skipped: bool
    tiles: tuple[str, ...]
    splits: dict[str, str]
    dates: tuple[dt.date, ...]
    missing_slots: tuple[int, ...]
    inputs_hash: str
    metadata: dict[str, Any]

    @property
    def stack_json(self) -> Path:
        return self.stack_dir / "stack.json"

    @property
    def outputs(self) -> list[Path]:
        """Every file of the stack, stack.json last."""
        paths = [self.stack_dir / "tiles" / f"{t}.tif" for t in self.tiles]
        if self.labels_dir is not None:
            paths += [self.labels_dir / f"{t}.tif" for t in self.tiles]
        return [
            *paths,
            self.stack_dir / "stack.vrt",
            self.stack_dir / "tiles.gpkg",
            self.stack_json,
        ]


def band_descriptions(dates: Sequence[dt.date]) -> tuple[str, ...]:
    """``YYYY-MM-DD/<channel>`` for every band, time-major."""
    return tuple(f"{d.isoformat()}/{c}" for d in dates for c in CHANNELS)


# ----------------------------------------------------------------------------------------------------
# One tile


def process_tile(task: TileTask) -> TileResult:
    """Mosaic every slot onto one tile and write its stack (and label) file.

    Pure apart from the two files it writes: the same task gives the same files, whichever process runs
    it. Holds one tile's ``(T, C, H, W)`` array in memory, never a whole scene.
    """
    import numpy as np

    from glaciermap.preprocess.mosaic import mosaic_backscatter, mosaic_coherence

    minx, miny, maxx, maxy = task.bounds
    width = round((maxx - minx) / task.pixel_size)
    height = round((maxy - miny) / task.pixel_size)
    n_slots = len(task.slots)
    cube = np.full((n_slots, len(CHANNELS), height, width), np.nan, dtype=np.float32)
    for t, (rtc, insar) in enumerate(task.slots):
        if rtc:
            cube[t, 0] = mosaic_backscatter(list(rtc), task.bounds, task.pixel_size, task.crs)
        if insar:
            cube[t, 1] = mosaic_coherence(
                list(insar),
                task.bounds,
                task.pixel_size,
                task.crs,
                resampling=task.coherence_resampling,
            )
    valid = np.isfinite(cube)
    observed = np.asarray(valid.any(axis=(0, 1)))
    n_observed = int(observed.sum())
    if n_observed == 0:
        return TileResult(task.tile_id, written=False)
    stats = tuple(ChannelStats.of(cube[:, c]) for c in range(len(CHANNELS)))
    write_tile_cog(
        task.stack_path,
        cube.reshape(n_slots * len(CHANNELS), height, width),
        task.descriptions,
        task.bounds,
        task.pixel_size,
        task.crs,
    )
    del cube, valid
    glacier_fraction = None
    if task.label_path is not None:
        from glaciermap.preprocess.labels import GLACIER, rasterize_labels

        label = rasterize_labels(task.outlines_wkb or (), task.bounds, task.pixel_size, observed)
        write_label_cog(task.label_path, label, task.bounds, task.pixel_size, task.crs)
        glacier_fraction = float((label == GLACIER).sum()) / label.size
    return TileResult(
        task.tile_id,
        written=True,
        valid_fraction=n_observed / observed.size,
        glacier_fraction=glacier_fraction,
        stats=stats,
    )


def _cog_profile(bands: int, height: int, width: int, bounds: Bounds, pixel_size: float, crs: str):  # type: ignore[no-untyped-def]
    from rasterio.transform import from_origin

    return {
        "driver": "COG",
        "width": width,
        "height": height,
        "count": bands,
        "crs": crs,
        "transform": from_origin(bounds[0], bounds[3], pixel_size, pixel_size),
        "blocksize": BLOCK_SIZE,
        "bigtiff": "IF_SAFER",
    }


def write_tile_cog(
    path: Path,
    data: np.ndarray,
    descriptions: Sequence[str],
    bounds: Bounds,
    pixel_size: float,
    crs: str,
) -> None:
    """Write a ``(B, H, W)`` float32 stack as a COG (deflate + predictor 3, NaN no data)."""
    import rasterio

    bands, height, width = data.shape
    profile = _cog_profile(bands, height, width, bounds, pixel_size, crs)
    profile.update(
        dtype="float32",
        nodata=float("nan"),
        compress="DEFLATE",
        predictor=3,
        overview_resampling="AVERAGE",
    )
    with atomic_output(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data)
        for band, description in enumerate(descriptions, start=1):
            dst.set_band_description(band, description)


def write_label_cog(
    path: Path, label: np.ndarray, bounds: Bounds, pixel_size: float, crs: str
) -> None:
    """Write an ``(H, W)`` uint8 label as a COG (255 no data)."""
    import rasterio

    height, width = label.shape
    profile = _cog_profile(1, height, width, bounds, pixel_size, crs)
    profile.update(dtype="uint8", nodata=255, compress="DEFLATE", overview_resampling="NEAREST")
    with atomic_output(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(label, 1)
        dst.set_band_description(1, "glacier")


# ----------------------------------------------------------------------------------------------------
# The whole stack


def _overlaps(a: Bounds, b: Bounds) -> bool:
    """Whether two boxes share interior (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def select_tiles(region: Region, records: Iterable[ProductRecord]) -> list[Tile]:
    """The tiles of the region's grid that meet at least one product footprint."""
    footprints = [r.bounds_region for r in records]
    return [t for t in region.tiles() if any(_overlaps(t.bounds, f) for f in footprints)]


def _file_stamp(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def inputs_hash(
    records: Iterable[ProductRecord],
    *,
    region: Region,
    year: int,
    parameters: dict[str, Any],
    inventory: Path | None,
    split_file: Path | None,
) -> str:
    """sha256 over the products (path, size, mtime), the region, the parameters and the side files."""
    from glaciermap import __version__

    payload = {
        "format": STACK_FORMAT,
        "version": __version__,
        "products": sorted(
            [str(Path(r.path).resolve()), int(r.size), int(r.mtime_ns)] for r in records
        ),
        "region": dataclasses.asdict(region),
        "year": year,
        "parameters": parameters,
        "inventory": _file_stamp(inventory) if inventory is not None else None,
        "split_file": _file_stamp(split_file) if split_file is not None else None,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _up_to_date(stack_dir: Path, labels_dir: Path | None, digest: str) -> dict[str, Any] | None:
    """stack.json's content when it records ``digest`` and every file it lists exists, else None."""
    meta = _read_json(stack_dir / "stack.json")
    if not meta or meta.get("inputs_hash") != digest:
        return None
    tiles = meta.get("tiles", [])
    needed = [stack_dir / "stack.vrt", stack_dir / "tiles.gpkg"]
    needed += [stack_dir / "tiles" / f"{t}.tif" for t in tiles]
    if meta.get("labels"):
        if labels_dir is None:
            return None
        needed += [labels_dir / f"{t}.tif" for t in tiles]
    return meta if all(p.is_file() for p in needed) else None


def infer_year(records: Sequence[ProductRecord]) -> int:
    """The calendar year of the products, when they all fall in one."""
    years = sorted(
        {r.start.year for r in records if r.kind == "RTC"} or {r.start.year for r in records}
    )
    if len(years) != 1:
        raise InputError(
            f"the products span the years {', '.join(map(str, years))}",
            "say which year to stack with --year",
        )
    return years[0]


def _run_tasks(
    tasks: Sequence[TileTask], workers: int, progress: ProgressCallback | None
) -> Iterator[TileResult]:
    """Run :func:`process_tile` over the tasks, in this process or a spawned process pool."""
    total = len(tasks)
    if workers <= 1 or total <= 1:
        for done, task in enumerate(tasks, start=1):
            result = process_tile(task)
            if progress is not None:
                progress(done, total, task.tile_id)
            yield result
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, total), mp_context=context)
    try:
        futures = [pool.submit(process_tile, task) for task in tasks]
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            if progress is not None:
                progress(done, total, result.tile_id)
            yield result
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _remove_stale(folder: Path, prefix: str, keep: set[str]) -> None:
    """Remove tile files of an earlier run that are not part of this stack."""
    if not folder.is_dir():
        return
    for path in folder.glob(f"{prefix}-*.tif"):
        if path.stem not in keep:
            path.unlink(missing_ok=True)


def _write_tiles_gpkg(
    path: Path,
    region: Region,
    results: Sequence[TileResult],
    splits: dict[str, str],
) -> None:
    import geopandas as gpd
    import shapely

    tiles = [region.tile_from_id(r.tile_id) for r in results]
    frame = gpd.GeoDataFrame(
        {
            "tile_id": [t.id for t in tiles],
            "col": [t.col for t in tiles],
            "row": [t.row for t in tiles],
            "split": [splits[t.id] for t in tiles],
            "valid_fraction": [r.valid_fraction for r in results],
            "glacier_fraction": [
                r.glacier_fraction if r.glacier_fraction is not None else float("nan")
                for r in results
            ],
        },
        geometry=[shapely.box(*t.bounds) for t in tiles],
        crs=region.crs,
    )
    with atomic_output(path) as tmp:
        frame.to_file(tmp, layer="tiles", driver="GPKG", engine="pyogrio")


def _write_json(path: Path, content: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def build_stack(
    region: Region,
    input_dir: str | os.PathLike[str],
    stack_dir: str | os.PathLike[str],
    *,
    year: int | None = None,
    labels_dir: str | os.PathLike[str] | None = None,
    inventory: str | os.PathLike[str] | None = None,
    split: str | os.PathLike[str] = "random",
    n_slots: int = DEFAULT_SLOTS,
    min_acquisitions: int = DEFAULT_MIN_ACQUISITIONS,
    coherence_resampling: str = "bilinear",
    workers: int = 1,
    seed: int = SPLIT_SEED,
    progress: ProgressCallback | None = None,
) -> StackResult:
    """Build (or find up to date) the tile stacks of one region-year.

    Args:
        region: the region whose grid the stacks follow.
        input_dir: folder holding the HyP3 products.
        stack_dir: output folder (``tiles/``, ``stack.vrt``, ``stack.json``, ``tiles.gpkg``).
        year: the year; None infers it from the products.
        labels_dir: where labels go (default ``stack_dir/labels``); used only with an inventory.
        inventory: glacier outlines to rasterise as labels (any file ``read_inventory`` reads).
        split: ``"random"`` (60/20/20 among tiles holding glacier, seeded) or a tile grid file with
            columns codename and subset.
        n_slots: 24-day slots of the year (15 covers it).
        min_acquisitions: fewest slots with data accepted.
        coherence_resampling: resampling of the coherence onto the 10 m grid.
        workers: processes working on tiles (spawned); 1 works in this process.
        seed: seed of the random split.
        progress: called after each tile.

    Raises:
        InputError: no input folder or products, too few slots with data, no tile with data, an
            unreadable inventory or split file, or an unknown resampling.
    """
    from glaciermap.preprocess.products import assign_slots, scan_products

    input_dir = Path(input_dir)
    stack_dir = Path(stack_dir)
    if not input_dir.is_dir():
        raise InputError(
            f"input folder {input_dir} does not exist",
            "download or simulate the products first, or give the folder holding them",
        )
    if coherence_resampling not in COHERENCE_RESAMPLINGS:
        raise InputError(
            f"unknown coherence resampling {coherence_resampling!r}",
            f"choose one of: {', '.join(COHERENCE_RESAMPLINGS)}",
        )
    if min_acquisitions < 1 or not 1 <= n_slots <= 15:
        raise InputError(
            f"--acquisitions {n_slots} / --min-acquisitions {min_acquisitions} are out of range",
            "give 1 to 15 slots and at least 1 acquisition",
        )
    inventory_path = Path(inventory) if inventory is not None else None
    if inventory_path is not None and not inventory_path.exists():
        raise InputError(f"inventory {inventory_path} does not exist", "check the --inventory path")
    split_file = None if str(split) == "random" else Path(split)
    if split_file is not None and not split_file.exists():
        raise InputError(
            f"split file {split_file} does not exist", "give --split random or a tile grid file"
        )
    labels_path = None
    if inventory_path is not None:
        labels_path = Path(labels_dir) if labels_dir is not None else stack_dir / "labels"

    records = scan_products(input_dir, region)
    if not records:
        raise InputError(
            f"no HyP3 products in {input_dir}",
            "download or simulate them first (glaciermap simulate / download)",
        )
    if year is None:
        year = infer_year(records)
    parameters = {
        "n_slots": n_slots,
        "min_acquisitions": min_acquisitions,
        "coherence_resampling": coherence_resampling,
        "split": "random" if split_file is None else "file",
        "seed": seed,
        "labels_dir": str(labels_path.resolve()) if labels_path is not None else None,
    }
    digest = inputs_hash(
        records,
        region=region,
        year=year,
        parameters=parameters,
        inventory=inventory_path,
        split_file=split_file,
    )
    meta = _up_to_date(stack_dir, labels_path, digest)
    if meta is not None:
        log.info("%s is up to date", stack_dir)
        return StackResult(
            stack_dir,
            labels_path,
            skipped=True,
            tiles=tuple(meta["tiles"]),
            splits=dict(meta.get("splits", {})),
            dates=tuple(dt.date.fromisoformat(d) for d in meta["dates"]),
            missing_slots=tuple(meta["missing_slots"]),
            inputs_hash=digest,
            metadata=meta,
        )

    slots: list[Slot] = assign_slots(records, year, n_slots)
    with_data = [s for s in slots if s.rtc or s.insar]
    missing = tuple(s.index for s in slots if not (s.rtc or s.insar))
    if len(with_data) < min_acquisitions:
        raise InputError(
            f"{input_dir} has data in {len(with_data)} of {n_slots} slots of {year}, "
            f"fewer than --min-acquisitions {min_acquisitions}",
            "download the missing acquisitions or lower --min-acquisitions",
        )
    dates = tuple(s.date for s in slots)
    descriptions = band_descriptions(dates)

    tiles = select_tiles(region, records)
    if not tiles:
        raise InputError(
            f"no product in {input_dir} overlaps a tile of region {region.name!r}",
            "check that the products were ordered for this region",
        )
    outlines: dict[str, list[bytes]] | None = None
    if inventory_path is not None:
        from glaciermap.preprocess.labels import load_outlines, outlines_per_tile

        outlines = outlines_per_tile(load_outlines(inventory_path, region.crs), tiles)

    # From here on the old stack is invalid: drop its completion mark before touching any file.
    tiles_dir = stack_dir / "tiles"
    try:
        tiles_dir.mkdir(parents=True, exist_ok=True)
        if labels_path is not None:
            labels_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create {stack_dir}: {exc.strerror}", "choose a folder you can write to"
        ) from None
    (stack_dir / "stack.json").unlink(missing_ok=True)

    tasks = []
    for tile in tiles:
        per_slot = tuple(
            (
                tuple(r for r in slot.rtc if _overlaps(tile.bounds, r.bounds_region)),
                tuple(r for r in slot.insar if _overlaps(tile.bounds, r.bounds_region)),
            )
            for slot in slots
        )
        tasks.append(
            TileTask(
                tile_id=tile.id,
                bounds=tile.bounds,
                pixel_size=region.pixel_size,
                crs=region.crs,
                slots=per_slot,
                descriptions=descriptions,
                stack_path=tiles_dir / f"{tile.id}.tif",
                label_path=labels_path / f"{tile.id}.tif" if labels_path is not None else None,
                outlines_wkb=tuple(outlines[tile.id]) if outlines is not None else None,
                coherence_resampling=coherence_resampling,
            )
        )
    results = {r.tile_id: r for r in _run_tasks(tasks, workers, progress)}
    kept = [results[t.id] for t in tiles if results[t.id].written]
    if not kept:
        raise InputError(
            f"the products in {input_dir} hold no valid pixel over region {region.name!r}",
            "check the products (all layover/shadow or outside the AOI?)",
        )
    kept_ids = [r.tile_id for r in kept]

    splits = _assign_splits(kept, split_file, inventory_path is not None, seed)
    training = [r for r in kept if splits[r.tile_id] == "train"]
    if not training:
        training = kept
    stats = [ChannelStats() for _ in CHANNELS]
    for r in training:
        stats = [a.merge(b) for a, b in zip(stats, r.stats, strict=True)]

    _remove_stale(tiles_dir, region.prefix, set(kept_ids))
    if labels_path is not None:
        _remove_stale(labels_path, region.prefix, set(kept_ids))

    from rasterio.crs import CRS

    from glaciermap.preprocess.vrt import VrtSource, write_stack_vrt

    write_stack_vrt(
        stack_dir / "stack.vrt",
        [VrtSource(f"tiles/{r.tile_id}.tif", region.tile_from_id(r.tile_id).bounds) for r in kept],
        descriptions,
        pixel_size=region.pixel_size,
        crs_wkt=CRS.from_user_input(region.crs).to_wkt(),
        block_size=BLOCK_SIZE,
    )
    _write_tiles_gpkg(stack_dir / "tiles.gpkg", region, kept, splits)

    from glaciermap import __version__

    meta = {
        "format": STACK_FORMAT,
        "glaciermap_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inputs_hash": digest,
        "input_dir": str(input_dir.resolve()),
        "year": year,
        "layout": "time-major: band t*C + c + 1 is slot t, channel c; a sample is (T, C, H, W)",
        "channels": list(CHANNELS),
        "n_slots": n_slots,
        "dates": [d.isoformat() for d in dates],
        "missing_slots": list(missing),
        "missing": {
            "backscatter": [s.index for s in slots if not s.rtc],
            "coherence": [s.index for s in slots if not s.insar],
        },
        "band_descriptions": list(descriptions),
        "dtype": "float32",
        "nodata": "nan",
        "region": {
            "name": region.name,
            "crs": region.crs,
            "origin": list(region.origin),
            "tile_size": region.tile_size,
            "pixel_size": region.pixel_size,
            "prefix": region.prefix,
        },
        "tiles": kept_ids,
        "splits": {t: splits[t] for t in kept_ids},
        "labels": labels_path is not None,
        "labels_dir": str(labels_path.resolve()) if labels_path is not None else None,
        "inventory": str(inventory_path.resolve()) if inventory_path is not None else None,
        "split_source": "random" if split_file is None else str(split_file.resolve()),
        "coherence_resampling": coherence_resampling,
        "normalisation": {
            "tiles": "train" if training is not kept else "all",
            **{
                name: {"mean": s.mean, "std": s.std, "count": s.count}
                for name, s in zip(CHANNELS, stats, strict=True)
            },
        },
    }
    _write_json(stack_dir / "stack.json", meta)
    return StackResult(
        stack_dir,
        labels_path,
        skipped=False,
        tiles=tuple(kept_ids),
        splits={t: splits[t] for t in kept_ids},
        dates=dates,
        missing_slots=missing,
        inputs_hash=digest,
        metadata=meta,
    )


def _assign_splits(
    kept: Sequence[TileResult], split_file: Path | None, labelled: bool, seed: int
) -> dict[str, str]:
    """train/val/test/none per tile: tiles without glacier never train (when labels exist)."""
    from glaciermap.preprocess.split import NONE, random_split, split_from_file

    ids = [r.tile_id for r in kept]
    with_glacier = {r.tile_id for r in kept if r.glacier_fraction}
    if split_file is not None:
        splits = split_from_file(split_file, ids)
        if labelled:
            splits = {t: (s if t in with_glacier else NONE) for t, s in splits.items()}
        return splits
    if not labelled:
        return dict.fromkeys(ids, NONE)
    chosen = random_split(sorted(with_glacier), seed=seed)
    return {t: chosen.get(t, NONE) for t in ids}
