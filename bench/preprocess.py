"""Benchmark ``glaciermap preprocess`` on a simulated 4 x 4 tile (40 x 40 km) region.

Run by hand (pytest does not collect it)::

    .venv/bin/python bench/preprocess.py                 # simulates under bench/out/preprocess/ once
    .venv/bin/python bench/preprocess.py --acquisitions 3 --repeat 2
    .venv/bin/python bench/preprocess.py --smoke --out /tmp/x   # one 2 km tile, 2 dates: seconds

1. **Throughput of the reprojection + mosaic step**, side by side in one run: for every tile and slot,
   glaciermap's :func:`~glaciermap.preprocess.mosaic.mosaic_backscatter` and
   :func:`~glaciermap.preprocess.mosaic.mosaic_coherence` against GDAL's own warper
   (:func:`rasterio.warp.reproject` straight from each product's ``/vsizip/`` raster onto the same tile
   grid, bilinear, overlapping products averaged), in km² of tile per second (tile area x slots).
   Target: glaciermap / GDAL >= 0.8.
2. **Peak memory** of a whole ``build_stack`` run (one worker, labels on) over 1, 4 and 16 tiles, each in
   its own subprocess (its VmHWM): working tile by tile it should not grow with the number of tiles.

Results are printed and written to ``bench/out/preprocess/results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "preprocess"
YEAR = 2016


TILE_M = 10_000.0
"""Tile side, metres: the paper's 10 km (the smoke run uses 2 km tiles)."""


def bench_region(n_side: int = 4, tile_m: float = TILE_M):  # type: ignore[no-untyped-def]
    """A region of ``n_side`` x ``n_side`` tiles of ``tile_m`` on the Svalbard grid (UTM 33N)."""
    from glaciermap.regions import Region

    x0, y0 = 430_000.0, 8_740_000.0
    return Region(
        name=f"bench{n_side}",
        crs="EPSG:32633",
        origin=(330_000.0, 8_400_000.0),
        tile_size=tile_m,
        pixel_size=10.0,
        prefix="BNCH",
        aoi=(x0, y0, x0 + n_side * tile_m, y0 + n_side * tile_m),
        description="benchmark region",
    )


def simulate(products: Path, acquisitions: int, n_side: int, tile_m: float) -> None:
    from glaciermap.simulate.scene import simulate_year
    from glaciermap.workers import default_workers

    if (products / "simulation.json").exists():
        return
    side_km = n_side * tile_m / 1000
    print(
        f"simulating {acquisitions} acquisitions over {side_km:g} x {side_km:g} km into {products} ...",
        flush=True,
    )
    start = time.perf_counter()
    simulate_year(
        bench_region(n_side, tile_m),
        YEAR,
        products,
        seed=1,
        n_acquisitions=acquisitions,
        cross_pol=False,
        workers=default_workers(),
    )
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)


def _gdal_mosaic(paths: list[str], bounds, pixel_size: float, crs: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The baseline: GDAL's warper straight from each file onto the grid, bilinear, mean of overlaps."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin
    from rasterio.warp import reproject

    minx, miny, maxx, maxy = bounds
    width, height = round((maxx - minx) / pixel_size), round((maxy - miny) / pixel_size)
    transform = from_origin(minx, maxy, pixel_size, pixel_size)
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.uint16)
    for path in paths:
        out = np.full((height, width), np.nan, dtype=np.float32)
        with rasterio.open(path) as src:
            nodata = src.nodata if src.nodata is not None else 0.0
            reproject(
                rasterio.band(src, 1),
                out,
                src_nodata=nodata,
                dst_nodata=np.nan,
                dst_transform=transform,
                dst_crs=crs,
                resampling=Resampling.bilinear,
            )
        valid = np.isfinite(out)
        total[valid] += out[valid]
        count[valid] += 1
    result = np.full((height, width), np.nan, dtype=np.float32)
    result[count > 0] = (total[count > 0] / count[count > 0]).astype(np.float32)
    return result


def throughput(products: Path, repeat: int, n_side: int, tile_m: float) -> dict[str, float]:
    """km²/s of glaciermap's mosaic step and of GDAL's warper over every tile and slot."""
    from glaciermap.io.hyp3 import open_product
    from glaciermap.preprocess.mosaic import mosaic_backscatter, mosaic_coherence
    from glaciermap.preprocess.products import assign_slots, scan_products
    from glaciermap.preprocess.stack import _overlaps, select_tiles

    region = bench_region(n_side, tile_m)
    records = scan_products(products, region)
    slots = [s for s in assign_slots(records, YEAR, 15) if s.rtc or s.insar]
    tiles = select_tiles(region, records)
    raster_of = {}
    for r in records:
        product = open_product(r.path)
        raster_of[r.path] = product.raster(product.co_pol if r.kind == "RTC" else "corr")

    jobs = []
    for tile in tiles:
        for slot in slots:
            rtc = [r for r in slot.rtc if _overlaps(tile.bounds, r.bounds_region)]
            insar = [r for r in slot.insar if _overlaps(tile.bounds, r.bounds_region)]
            jobs.append((tile.bounds, rtc, insar))
    area_km2 = len(jobs) * (region.tile_size / 1000) ** 2

    def ours() -> None:
        for bounds, rtc, insar in jobs:
            if rtc:
                mosaic_backscatter(rtc, bounds, region.pixel_size, region.crs)
            if insar:
                mosaic_coherence(insar, bounds, region.pixel_size, region.crs)

    def gdal() -> None:
        for bounds, rtc, insar in jobs:
            if rtc:
                _gdal_mosaic(
                    [raster_of[r.path] for r in rtc], bounds, region.pixel_size, region.crs
                )
            if insar:
                _gdal_mosaic(
                    [raster_of[r.path] for r in insar], bounds, region.pixel_size, region.crs
                )

    best = {"glaciermap": float("inf"), "gdal": float("inf")}
    for _ in range(repeat):
        for name, run in (("gdal", gdal), ("glaciermap", ours)):
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {
        "tile_slots": len(jobs),
        "area_km2": area_km2,
        "glaciermap_s": best["glaciermap"],
        "gdal_s": best["gdal"],
        "glaciermap_km2_per_s": area_km2 / best["glaciermap"],
        "gdal_km2_per_s": area_km2 / best["gdal"],
        "ratio": best["gdal"] / best["glaciermap"],
    }


def child_build(products: Path, n_side: int, tile_m: float, out: Path) -> None:
    """One measured build_stack run (in a subprocess) over n_side x n_side tiles."""
    from glaciermap.preprocess.stack import build_stack

    start = time.perf_counter()
    result = build_stack(
        bench_region(n_side, tile_m),
        products,
        out,
        year=YEAR,
        inventory=products / "truth" / "outlines.gpkg",
        workers=1,
        min_acquisitions=1,
    )
    seconds = time.perf_counter() - start
    tiles = len(result.meta.tiles)
    print(json.dumps({"tiles": tiles, "seconds": seconds, "peak_mb": _own_peak_mb()}))


def _own_peak_mb() -> float | None:
    """This process's peak resident memory since exec (VmHWM), in MB; None off Linux.

    ``ru_maxrss`` from ``wait4`` is not used: Linux carries the parent's high-water mark across
    fork + exec, so a child of a large parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_memory(products: Path, n_side: int, tile_m: float, root: Path) -> dict[str, float]:
    out = root / f"stack_{n_side}x{n_side}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    command = [sys.executable, __file__, "--child", str(n_side), "--out", str(root)]
    command += ["--products", str(products), "--tile-m", str(tile_m)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child run over {n_side}x{n_side} tiles failed")
    info = json.loads(output.strip().splitlines()[-1])
    peak = info["peak_mb"] if info["peak_mb"] is not None else usage.ru_maxrss / 1024
    return {"tiles": info["tiles"], "seconds": info["seconds"], "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquisitions", type=int, default=3, help="slots simulated (default 3)")
    parser.add_argument("--repeat", type=int, default=2, help="timing repeats (best kept)")
    parser.add_argument("--side", type=int, default=4, help="region side in tiles (default 4)")
    parser.add_argument("--tile-m", type=float, default=TILE_M, help="tile side, m (default 10 km)")
    parser.add_argument("--out", type=Path, default=OUT, help="working folder")
    parser.add_argument(
        "--smoke", action="store_true", help="one 2 km tile, 2 dates: checks the script runs"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--products", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.side, args.acquisitions, args.repeat, args.tile_m = 1, 2, 1, 2000.0
    name = f"products-{args.side}x{args.side}-{args.tile_m / 1000:g}km-{args.acquisitions}"
    products = args.products or args.out / name
    if args.child:
        child_build(
            products, args.child, args.tile_m, args.out / f"stack_{args.child}x{args.child}"
        )
        return
    args.out.mkdir(parents=True, exist_ok=True)
    simulate(products, args.acquisitions, args.side, args.tile_m)

    speed = throughput(products, args.repeat, args.side, args.tile_m)
    print(
        f"reprojection + mosaic over {speed['tile_slots']} tile-slots ({speed['area_km2']:.0f} km²):\n"
        f"  glaciermap {speed['glaciermap_km2_per_s']:8.1f} km²/s ({speed['glaciermap_s']:.2f} s)\n"
        f"  GDAL warp  {speed['gdal_km2_per_s']:8.1f} km²/s ({speed['gdal_s']:.2f} s)\n"
        f"  ratio {speed['ratio']:.2f} (target >= 0.8)",
        flush=True,
    )
    memory = {}
    for n_side in (1, 2, 4):
        if n_side > args.side:
            break
        memory[n_side * n_side] = peak_memory(products, n_side, args.tile_m, args.out)
        m = memory[n_side * n_side]
        print(
            f"build_stack over {m['tiles']:2d} tiles: peak {m['peak_mb']:7.0f} MB, "
            f"{m['seconds']:.1f} s",
            flush=True,
        )
    results = {
        "acquisitions": args.acquisitions,
        "throughput": speed,
        "peak_memory": memory,
        "region": dataclasses.asdict(bench_region(args.side, args.tile_m)),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results → {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
