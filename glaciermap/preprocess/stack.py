"""A year of HyP3 products -> per-tile time-series stacks on the region's grid, with labels.

:func:`build_stack` is the library call behind ``glaciermap preprocess``. It

1. finds the products (:func:`~glaciermap.preprocess.products.scan_products`) and groups them into 24-day
   slots (:func:`~glaciermap.preprocess.products.assign_slots`);
2. hashes its inputs (product paths, sizes and mtimes, the parameters, the inventory and split files) and
   skips itself when ``stack.json`` holds the same hash and every file it lists exists;
3. picks the tiles of the region's grid that meet a product footprint and, tile by tile (one task
   each, through :func:`glaciermap.workers.map_tasks`: local processes or a Dask cluster's workers),
   mosaics every slot's backscatter and coherence onto the tile
   (:func:`~glaciermap.preprocess.tile.process_tile`), writing ``tiles/<tile_id>.tif`` and, with an
   inventory, ``labels/<tile_id>.tif``. Tiles that a stopped run of the same inputs finished are kept
   (:func:`~glaciermap.preprocess.tile.finished_tile`), so a rerun does only the rest;
4. assigns train/val/test (:mod:`~glaciermap.preprocess.split`), computes per-channel normalisation
   statistics over the training tiles from per-tile partial sums, and writes ``stack.vrt``,
   ``tiles.gpkg`` and, last, ``stack.json`` (:class:`~glaciermap.stack_format.StackMeta`), in this
   process.

The folder layout and band order are the stack contract's (:mod:`glaciermap.stack_format`). Every file
goes through :func:`~glaciermap.io.files.atomic_output`; ``stack.json`` is removed before anything else
is rewritten and written last, so it marks a complete stack. The stack folder is locked while it is
read and written (:class:`~glaciermap.io.lock.OutputLock`): a second writer stops, naming the first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap import calendar, interrupt
from glaciermap.errors import InputError
from glaciermap.io.files import make_output_folder
from glaciermap.io.lock import OutputLock
from glaciermap.io.vector import write_gpkg
from glaciermap.preprocess.tile import (
    BLOCK_SIZE,
    ChannelStats,
    TileResult,
    TileTask,
    finished_tile,
    process_tile,
    tile_inputs,
)
from glaciermap.regions import Bounds, Region, Tile
from glaciermap.stack_format import (
    CHANNELS,
    LABELS_DIR,
    STACK_FORMAT,
    STACK_JSON,
    STACK_VRT,
    TILES_DIR,
    TILES_GPKG,
    ChannelNorm,
    StackGrid,
    StackMeta,
    band_descriptions,
)
from glaciermap.workers import SharedPaths, Workers, map_tasks

if TYPE_CHECKING:
    from glaciermap.preprocess.products import ProductRecord, Slot

log = logging.getLogger(__name__)

DEFAULT_MIN_ACQUISITIONS = 3
SPLIT_SEED = 0
COHERENCE_RESAMPLINGS = ("nearest", "bilinear", "cubic")
"""Resampling choices for the coherence (those of :mod:`glaciermap.preprocess.mosaic`)."""

ProgressCallback = Callable[[int, int, str], None]
"""Called with (tiles done, tiles in total, tile id just done)."""


@dataclass(frozen=True)
class StackResult:
    """What :func:`build_stack` did.

    Attributes:
        meta: the stack's metadata as written (or found up to date), with its folder.
        skipped: True when the stack was up to date and nothing was written.
    """

    meta: StackMeta
    skipped: bool

    @property
    def stack_dir(self) -> Path:
        assert self.meta.root is not None
        return self.meta.root

    @property
    def outputs(self) -> list[Path]:
        """Every file of the stack, stack.json last."""
        return self.meta.files()


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
    """sha256 over the products (name, size, mtime), the region, the parameters and the side files.

    Products by their file name, not their absolute path: a workspace that is moved or restored from a
    backup (which keeps modification times) keeps its stacks up to date.
    """
    from glaciermap import __version__

    payload = {
        "format": STACK_FORMAT,
        "version": __version__,
        "products": sorted([Path(r.path).name, int(r.size), int(r.mtime_ns)] for r in records),
        "region": dataclasses.asdict(region),
        "year": year,
        "parameters": parameters,
        "inventory": _file_stamp(inventory) if inventory is not None else None,
        "split_file": _file_stamp(split_file) if split_file is not None else None,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _up_to_date(stack_dir: Path, digest: str, region: Region, year: int) -> StackMeta | None:
    """The stack's metadata when it records ``digest`` and every file it lists exists, else None.

    Raises:
        InputError: the folder holds the stack of another region or year: a cache of other inputs
            than these, which a typo in -o must not wipe.
    """
    try:
        meta = StackMeta.read(stack_dir)
    except InputError:
        return None  # no stack, or one this version cannot use: it is rebuilt
    if (meta.region.name, meta.year) != (region.name, year):
        raise InputError(
            f"{stack_dir} holds the stack of {meta.region.name} {meta.year}, not of "
            f"{region.name} {year}",
            "choose another output folder, or remove that stack first",
        )
    if meta.format != STACK_FORMAT or meta.inputs_hash != digest or meta.missing_files():
        return None
    return meta


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
    write_gpkg(path, {"tiles": frame})


def build_stack(
    region: Region,
    input_dir: str | os.PathLike[str],
    stack_dir: str | os.PathLike[str],
    *,
    year: int | None = None,
    inventory: str | os.PathLike[str] | None = None,
    split: str | os.PathLike[str] = "random",
    n_slots: int = calendar.DEFAULT_SLOTS,
    min_acquisitions: int = DEFAULT_MIN_ACQUISITIONS,
    coherence_resampling: str = "bilinear",
    workers: Workers = 1,
    seed: int = SPLIT_SEED,
    progress: ProgressCallback | None = None,
) -> StackResult:
    """Build (or find up to date) the tile stacks of one region-year.

    Args:
        region: the region whose grid the stacks follow.
        input_dir: folder holding the HyP3 products.
        stack_dir: output folder (``tiles/``, ``labels/``, ``stack.vrt``, ``stack.json``,
            ``tiles.gpkg``; see :mod:`glaciermap.stack_format`).
        year: the year; None infers it from the products.
        inventory: glacier outlines to rasterise as labels (any file ``read_inventory`` reads).
        split: ``"random"`` (60/20/20 among tiles holding glacier, seeded) or a tile grid file with
            columns codename and subset.
        n_slots: 24-day slots of the year (15 covers it).
        min_acquisitions: fewest slots with data accepted.
        coherence_resampling: resampling of the coherence onto the 10 m grid.
        workers: processes working on tiles (spawned; 1 works in this process), or an executor
            (:class:`~glaciermap.workers.Executor`: a Dask cluster, whose workers must see
            ``input_dir`` and ``stack_dir`` at the same paths).
        seed: seed of the random split.
        progress: called after each tile.

    Raises:
        InputError: no input folder or products, too few slots with data, no tile with data, an
            unreadable inventory or split file, or an unknown resampling.
    """
    from glaciermap.preprocess.products import assign_slots, scan_products

    # Absolute: the tasks may run in other processes and on other machines, in other folders.
    input_dir = Path(input_dir).absolute()
    stack_dir = Path(stack_dir).absolute()
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
    if min_acquisitions < 1 or not 1 <= n_slots <= calendar.MAX_SLOTS:
        raise InputError(
            f"--acquisitions {n_slots} / --min-acquisitions {min_acquisitions} are out of range",
            f"give 1 to {calendar.MAX_SLOTS} slots and at least 1 acquisition",
        )
    inventory_path = Path(inventory) if inventory is not None else None
    if inventory_path is not None and not inventory_path.exists():
        raise InputError(f"inventory {inventory_path} does not exist", "check the --inventory path")
    split_file = None if str(split) == "random" else Path(split)
    if split_file is not None and not split_file.exists():
        raise InputError(
            f"split file {split_file} does not exist", "give --split random or a tile grid file"
        )
    labels_path = stack_dir / LABELS_DIR if inventory_path is not None else None

    results: dict[str, TileResult] = {}
    tasks: list[TileTask] = []

    def written() -> str:
        if not tasks:
            return "nothing written; run again"
        done = f"{len(results)} of {len(tasks)} tiles written"
        return f"{done}, the stack is not complete; run again to build it"

    # Held from the products' scan to stack.json: a second writer of this folder stops, naming this
    # one, and the temporary files of a killed one are swept.
    with OutputLock(stack_dir, folder=True), interrupt.noting(written):
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
        }
        digest = inputs_hash(
            records,
            region=region,
            year=year,
            parameters=parameters,
            inventory=inventory_path,
            split_file=split_file,
        )
        found = _up_to_date(stack_dir, digest, region, year)
        if found is not None:
            log.info("%s is up to date", stack_dir)
            return StackResult(found, skipped=True)

        slots: list[Slot] = assign_slots(records, year, n_slots)
        with_data = [s for s in slots if s.rtc or s.insar]
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
            from glaciermap.preprocess.labels import tile_outlines

            outlines = tile_outlines(inventory_path, region.crs, tiles)

        # From here on the old stack is invalid: drop its completion mark before touching any file.
        tiles_dir = stack_dir / TILES_DIR
        make_output_folder(tiles_dir)
        if labels_path is not None:
            make_output_folder(labels_path)
        (stack_dir / STACK_JSON).unlink(missing_ok=True)

        tasks[:] = [
            TileTask(
                tile_id=tile.id,
                bounds=tile.bounds,
                pixel_size=region.pixel_size,
                crs=region.crs,
                slots=tuple(
                    (
                        tuple(r for r in slot.rtc if _overlaps(tile.bounds, r.bounds_region)),
                        tuple(r for r in slot.insar if _overlaps(tile.bounds, r.bounds_region)),
                    )
                    for slot in slots
                ),
                descriptions=descriptions,
                stack_path=tiles_dir / f"{tile.id}.tif",
                label_path=labels_path / f"{tile.id}.tif" if labels_path is not None else None,
                outlines_wkb=tuple(outlines[tile.id]) if outlines is not None else None,
                coherence_resampling=coherence_resampling,
            )
            for tile in tiles
        ]
        tasks[:] = [dataclasses.replace(t, inputs=tile_inputs(t)) for t in tasks]

        # The tiles a stopped run of these inputs finished are kept; the others are made.
        todo = []
        for task in tasks:
            kept_result = finished_tile(task)
            if kept_result is None:
                todo.append(task)
            else:
                results[task.tile_id] = kept_result
        if results:
            log.info(
                "continuing: %d of %d tiles were finished by an earlier run",
                len(results),
                len(tasks),
            )
        if progress is not None and results:
            progress(len(results), len(tasks), "")
        made = map_tasks(
            process_tile,
            todo,
            workers=workers,
            ordered=False,
            shared=SharedPaths(stack_dir, (input_dir,)),
        )
        with closing(made) as done:
            for result in done:
                results[result.tile_id] = result
                if progress is not None:
                    progress(len(results), len(tasks), result.tile_id)
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
            stack_dir / STACK_VRT,
            [VrtSource(f"{TILES_DIR}/{i}.tif", region.tile_from_id(i).bounds) for i in kept_ids],
            descriptions,
            pixel_size=region.pixel_size,
            crs_wkt=CRS.from_user_input(region.crs).to_wkt(),
            block_size=BLOCK_SIZE,
        )
        _write_tiles_gpkg(stack_dir / TILES_GPKG, region, kept, splits)

        from glaciermap import __version__

        meta = StackMeta(
            region=StackGrid.of(region),
            year=year,
            dates=dates,
            tiles=tuple(kept_ids),
            splits={t: splits[t] for t in kept_ids},
            normalisation={
                name: ChannelNorm(s.mean, s.std, s.count)
                for name, s in zip(CHANNELS, stats, strict=True)
            },
            channels=CHANNELS,
            normalisation_tiles="train" if training is not kept else "all",
            missing_slots=tuple(s.index for s in slots if not (s.rtc or s.insar)),
            missing_backscatter=tuple(s.index for s in slots if not s.rtc),
            missing_coherence=tuple(s.index for s in slots if not s.insar),
            labels=LABELS_DIR if labels_path is not None else None,
            inputs_hash=digest,
            inventory=str(inventory_path.resolve()) if inventory_path is not None else None,
            split_source="random" if split_file is None else str(split_file.resolve()),
            input_dir=str(input_dir.resolve()),
            coherence_resampling=coherence_resampling,
            glaciermap_version=__version__,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ).write(stack_dir)
        return StackResult(meta, skipped=False)


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
