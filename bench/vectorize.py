"""Benchmark ``glaciermap vectorize`` on a 20 000 x 20 000 mask against a one-shot polygonisation.

Run by hand (pytest does not collect it)::

    .venv/bin/python bench/vectorize.py            # builds inputs under bench/out/ once, then measures
    .venv/bin/python bench/vectorize.py --profile  # also writes cProfile statistics of the glaciermap run
    .venv/bin/python bench/vectorize.py --smoke    # seconds: a tiny procedural mosaic (tests run this)

It builds a realistic 2000 x 2000 uint8 glacier mask tile at 10 m (the NPI 2007 outlines of
``../shared/data/svalbard_npi`` rasterised, plus procedural glaciers of two sizes, specks and a nodata
swath edge; procedural only when the shared data are absent) and a VRT that repeats it 10 x 10. The
procedural field is periodic, so glaciers continue across tile edges and cross strip seams.

Then, each in its own subprocess whose peak resident memory is taken from ``os.wait4``:

1. ``python -m glaciermap vectorize big.vrt -o outlines.gpkg --min-area 0``;
2. the baseline: read the whole band into memory and consume ``rasterio.features.shapes`` over it in
   one call (glacier pixels only, 4-connectivity, map coordinates) — no cleaning and no writing.

Targets: glaciermap peak memory < 1.5 GB and wall time within 1.5x of the baseline. With
``--min-area 0`` both must find the same number of polygons.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = Path(os.environ.get("GLACIERMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
PIXEL = 10.0  # metres
# Top-left corner of the tile, EPSG:32633: the NPI 2007 outlines (x 429-441 km, y 8754-8761 km) lie
# inside the 20 x 20 km tile.
TILE_WEST, TILE_NORTH = 425_000.0, 8_770_000.0
CRS = "EPSG:32633"


def periodic_blobs(
    size: int, scale_px: float, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """A (size, size) bool mask of smooth random blobs that tiles seamlessly (FFT low-pass noise).

    Args:
        size: tile side, pixels.
        scale_px: typical blob radius, pixels.
        fraction: share of pixels that are True.
        rng: random generator.
    """
    spectrum = np.fft.rfft2(rng.standard_normal((size, size)))
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.rfftfreq(size)[None, :]
    field = np.fft.irfft2(
        spectrum * np.exp(-((kx**2 + ky**2) * (np.pi * scale_px) ** 2)), s=(size, size)
    )
    return field > np.quantile(field, 1 - fraction)


def build_tile(path: Path, size: int, shared: Path, seed: int = 2007) -> str:
    """Write the uint8 mask tile (1 glacier, 0 not, 255 nodata) and say what went into it."""
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(seed)
    transform = Affine.translation(TILE_WEST, TILE_NORTH) @ Affine.scale(PIXEL, -PIXEL)
    # Large valley-glacier-like bodies, small cirque glaciers and ice patches, single-pixel specks.
    mask = periodic_blobs(size, 40, 0.12, rng) | periodic_blobs(size, 6, 0.04, rng)
    specks = rng.integers(0, size, size=(2 * size, 2))
    mask[specks[:, 0], specks[:, 1]] = True
    source = "procedural"
    npi = shared / "svalbard_npi" / "derived" / "svalbard_2007.gpkg"
    if npi.exists():
        import geopandas as gpd
        from rasterio.features import rasterize

        outlines = gpd.read_file(npi).to_crs(CRS)
        burned = rasterize(outlines.geometry, out_shape=(size, size), transform=transform)
        if burned.any():  # a small tile may miss the real glaciers
            # Clear a margin around the real glaciers so that they keep their own outlines.
            rows, cols = np.nonzero(burned)
            top, left = max(0, rows.min() - 20), max(0, cols.min() - 20)
            mask[top : rows.max() + 20, left : cols.max() + 20] = False
            mask |= burned.astype(bool)
            source = f"NPI 2007 outlines ({len(outlines)} glaciers) + procedural"
    tile = mask.astype(np.uint8)
    # A swath edge: a nodata wedge in one corner, as layover/shadow or the swath border would leave.
    rows, cols = np.indices((size, size))
    tile[rows + cols < size // 10] = 255
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint8",
        "crs": CRS,
        "transform": transform,
        "nodata": 255,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(tile, 1)
    return source


def build_vrt(path: Path, tile: Path, size: int, repeat: int) -> None:
    """Write a VRT that repeats ``tile`` ``repeat`` x ``repeat`` times (SimpleSource entries)."""
    import rasterio

    with rasterio.open(tile) as src:
        wkt = src.crs.to_wkt()
        block_y, block_x = src.block_shapes[0]
    total = size * repeat
    root = ET.Element("VRTDataset", rasterXSize=str(total), rasterYSize=str(total))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = wkt
    ET.SubElement(root, "GeoTransform").text = f"{TILE_WEST}, {PIXEL}, 0, {TILE_NORTH}, 0, {-PIXEL}"
    band = ET.SubElement(root, "VRTRasterBand", dataType="Byte", band="1")
    ET.SubElement(band, "NoDataValue").text = "255"
    for row in range(repeat):
        for col in range(repeat):
            source = ET.SubElement(band, "SimpleSource")
            ET.SubElement(source, "SourceFilename", relativeToVRT="1").text = tile.name
            ET.SubElement(source, "SourceBand").text = "1"
            ET.SubElement(
                source,
                "SourceProperties",
                RasterXSize=str(size),
                RasterYSize=str(size),
                DataType="Byte",
                BlockXSize=str(block_x),
                BlockYSize=str(block_y),
            )
            ET.SubElement(source, "SrcRect", xOff="0", yOff="0", xSize=str(size), ySize=str(size))
            ET.SubElement(
                source,
                "DstRect",
                xOff=str(col * size),
                yOff=str(row * size),
                xSize=str(size),
                ySize=str(size),
            )
    ET.ElementTree(root).write(path, encoding="unicode")


@dataclass
class Measurement:
    """One measured command: wall time, memory and what it printed."""

    seconds: float
    peak_process_bytes: int  # the largest single process (ru_maxrss from wait4)
    peak_tree_bytes: int  # the largest sum of VmRSS over the process and its children (sampled)
    stdout: str


def _children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _tree_rss(pid: int) -> int:
    """Sum of VmRSS over a process and its descendants, bytes (pages they share count once each)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(_children(current))
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def run_measured(command: list[str]) -> Measurement:
    """Run a command; measure wall seconds, peak memory of its largest process and of its whole tree."""
    peak_tree = 0
    done = threading.Event()
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:

        def sample() -> None:
            nonlocal peak_tree
            while not done.is_set():
                peak_tree = max(peak_tree, _tree_rss(proc.pid))
                done.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout = proc.stdout.read() if proc.stdout else ""
        # wait4 reports the resources of this child and its reaped descendants; ru_maxrss (KiB on
        # Linux) is the largest single process among them, not their sum — hence the sampler.
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(command)}")
    return Measurement(
        seconds, usage.ru_maxrss * 1024, max(peak_tree, usage.ru_maxrss * 1024), stdout
    )


def baseline_child(vrt: Path) -> None:
    """The one-shot approach: whole band in memory, one ``shapes`` call. Prints a JSON summary."""
    import rasterio
    from rasterio.features import shapes

    with rasterio.open(vrt) as src:
        band = src.read(1)
        transform = src.transform
    glacier = band == 1
    polygons = 0
    for _geometry, _value in shapes(band, mask=glacier, connectivity=4, transform=transform):
        polygons += 1
    print(json.dumps({"polygons": polygons, "glacier_pixels": int(glacier.sum())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out" / "vectorize")
    parser.add_argument("--tile-size", type=int, default=2000, help="tile side, pixels")
    parser.add_argument("--repeat", type=int, default=10, help="tiles per side of the mosaic")
    parser.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the tile and the VRT")
    parser.add_argument("--profile", action="store_true", help="cProfile the glaciermap runs")
    parser.add_argument(
        "--workers",
        nargs="+",
        default=["1", "auto"],
        help="glaciermap runs to make, by --workers value ('auto': the command's default)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds, not minutes: a 2x2 mosaic of procedural 256 px tiles, one run (--workers 1), "
        "rebuilt in --out-dir (default: a new temporary folder); keeps the benchmark from rotting",
    )
    parser.add_argument("--baseline-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        baseline_child(args.baseline_child)
        return
    if not args.smoke:
        run(args)
        return
    import shutil
    import tempfile

    print("smoke run: it checks that the benchmark works; its timings mean nothing")
    args.tile_size, args.repeat, args.workers, args.rebuild = 256, 2, ["1"], True
    if args.out_dir != parser.get_default("out_dir"):
        args.shared_data = args.out_dir / "no-shared-data"  # procedural only, the same everywhere
        run(args)
        return
    args.out_dir = Path(tempfile.mkdtemp(prefix="bench-vectorize-"))
    args.shared_data = args.out_dir / "no-shared-data"
    try:
        run(args)
    finally:
        shutil.rmtree(args.out_dir)


def run(args: argparse.Namespace) -> None:
    """Build the inputs if needed, run the baseline and each glaciermap run, print and save figures."""
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    tile, vrt = out / "tile.tif", out / "big.vrt"
    if args.rebuild or not tile.exists() or not vrt.exists():
        source = build_tile(tile, args.tile_size, args.shared_data)
        build_vrt(vrt, tile, args.tile_size, args.repeat)
        print(f"built {tile.name} ({source}) and {vrt.name}")
    side = args.tile_size * args.repeat
    print(
        f"input: {vrt} — {side} x {side} px uint8 ({side * side / 1e6:.0f} MB), "
        f"{args.repeat}x{args.repeat} tiles"
    )

    from glaciermap.io.vector import read_frame

    baseline = run_measured([sys.executable, __file__, "--baseline-child", str(vrt)])
    base = json.loads(baseline.stdout)
    _report("baseline (one shapes call)", baseline, base["polygons"], None)
    summary: dict[str, object] = {
        "input": str(vrt),
        "pixels": side * side,
        "baseline": {**asdict(baseline), **base},
    }
    for workers in args.workers:
        outlines = out / f"outlines-{workers}.gpkg"
        cli = [sys.executable]
        if args.profile:
            cli += ["-m", "cProfile", "-o", str(out / f"vectorize-{workers}.prof")]
        cli += ["-m", "glaciermap", "vectorize", str(vrt), "-o", str(outlines), "--min-area", "0"]
        cli += ["--overwrite"] + ([] if workers == "auto" else ["--workers", workers])
        ours = run_measured(cli)
        table = read_frame(outlines, layer="outlines", read_geometry=False)
        polygons, area_km2 = len(table), float(table["area_km2"].sum())
        print(f"$ {' '.join(cli)}\n  {ours.stdout.strip()}")
        _report(f"glaciermap --workers {workers}", ours, polygons, baseline)
        pixel_km2 = base["glacier_pixels"] * PIXEL**2 / 1e6
        print(
            f"  polygons {'match' if polygons == base['polygons'] else 'DIFFER from'} the baseline; "
            f"area {area_km2:.3f} km² vs glacier pixels x pixel area {pixel_km2:.3f} km² "
            f"({abs(area_km2 / pixel_km2 - 1):.1e} relative)"
        )
        summary[f"glaciermap-{workers}"] = {
            **asdict(ours),
            "polygons": polygons,
            "area_km2": area_km2,
        }
        if args.profile:
            import pstats

            stats = pstats.Stats(str(out / f"vectorize-{workers}.prof"))
            stats.sort_stats("cumulative").print_stats(25)
    (out / "results.json").write_text(json.dumps(summary, indent=2))


def _report(label: str, run: Measurement, polygons: int, baseline: Measurement | None) -> None:
    """Print one run's figures, and against the baseline the verdict on both targets."""
    mib = 2**20
    print(
        f"{label}: {run.seconds:.1f} s, peak memory {run.peak_tree_bytes / mib:.0f} MiB "
        f"(largest process {run.peak_process_bytes / mib:.0f} MiB), {polygons} polygons"
    )
    if baseline is not None:
        ratio = run.seconds / baseline.seconds
        print(
            f"  time ratio {ratio:.2f}x (target <= 1.5x: {'OK' if ratio <= 1.5 else 'MISSED'}), "
            f"memory target < 1.5 GB: {'OK' if run.peak_tree_bytes < 1.5e9 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
