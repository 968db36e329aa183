"""Benchmark of Dask distributed against today's local pool: overhead at equal cores, one worker vs two.

Run by hand (pytest runs only ``--smoke``)::

    .venv/bin/python bench/distributed.py                  # 2 x 2 tiles of 10 km, 15 dates, unet3d
    .venv/bin/python bench/distributed.py --side 1 --acquisitions 5 --weights ablation/unet3d-5acq
    .venv/bin/python bench/distributed.py --smoke --out /tmp/x   # two 2 km tiles: seconds

A region of ``--side`` x ``--side`` tiles is simulated once into ``--out``; then, side by side in one run,
every configuration on the same machine with the same cores (``--cores``, default 2):

* **preprocess** (``build_stack``, one task per tile): today's pool of ``cores`` processes, a Dask
  ``LocalCluster`` of ``cores`` single-threaded workers (the overhead ratio, Dask / pool), and of one
  worker (scaling: one worker / two workers);
* **predict** (``predict_stack``, outlines off): today's one sweep in this process with ``cores`` torch
  threads; Dask with one worker and ``cores`` torch threads (equal cores: the same bits, and the
  ratio is the cost of blocks, halos, shipping and assembly); Dask with ``cores`` workers of one torch
  thread each, and with one worker of one torch thread (scaling at one core per worker).

Each timing is of the stage call alone, on a cluster already started and warmed (its start is
reported apart: on a real cluster the workers are running already), as wall time and as CPU time
(this process, its children and the cluster's worker processes): on a shared machine the wall times
follow the other load, the CPU times much less. Every Dask output is compared to the local one (bytes
of every raster). The per-tile costs (CPU core-seconds per tile) are what ``docs/design.md`` projects
to all of Svalbard. Run it ``nice``d on a shared machine, and say so.

Results are printed and written to ``--out``/``results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would hide Dask's
# `distributed` package: the folder goes last instead (smoke_region is still found there).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.append(str(ROOT / "bench"))
import smoke_region  # noqa: E402  bench/: the --smoke modes' tiny region

OUT = ROOT / "bench" / "out" / "distributed"
YEAR = 2016


def bench_region(side: int, tile_m: float) -> Any:
    """``side`` x ``side`` tiles of ``tile_m`` metres on the Svalbard grid (UTM 33N)."""
    from glaciermap.regions import Region

    x0, y0 = 430_000.0, 8_740_000.0
    return Region(
        name=f"dask{side}",
        crs="EPSG:32633",
        origin=(330_000.0, 8_400_000.0),
        tile_size=tile_m,
        pixel_size=10.0,
        prefix="DASK",
        aoi=(x0, y0, x0 + side * tile_m, y0 + side * tile_m),
        description="benchmark region",
    )


def simulate(region: Any, products: Path, acquisitions: int, cores: int) -> float:
    """Simulate the region's year once (kept in ``products``); seconds taken (0 when kept)."""
    from glaciermap.simulate.scene import simulate_year

    if (products / "simulation.json").exists():
        return 0.0
    began = time.perf_counter()
    simulate_year(
        region, YEAR, products, seed=1, n_acquisitions=acquisitions, cross_pol=False, workers=cores
    )
    return time.perf_counter() - began


REPEAT = [1]
"""Runs of each timing (``--repeat``); the fastest is kept: the machine may be shared."""


def _own_cpu() -> float:
    """CPU seconds of this process (run on a worker by ``client.run``, of that worker)."""
    import psutil

    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def _cpu(executor: Any = None) -> float:
    """CPU seconds so far of this process, its finished children (a local pool's workers) and the
    cluster's worker processes."""
    import resource

    here = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = here.ru_utime + here.ru_stime + children.ru_utime + children.ru_stime
    if executor is not None and getattr(executor, "distributed", False):
        total += sum(executor.client.run(_own_cpu).values())
    return total


def _timed(call: Any, fresh: Path | None = None, executor: Any = None) -> tuple[float, float, Any]:
    """Wall and CPU seconds of the fastest of ``REPEAT`` runs of ``call`` (``fresh`` removed
    before each, untimed), and its result."""
    best, cpu, result = float("inf"), float("inf"), None
    for _ in range(REPEAT[0]):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        used = _cpu(executor)
        began = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - began
        if seconds < best:
            best, cpu = seconds, _cpu(executor) - used
    return best, cpu, result


def _started(call: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = call()
    return time.perf_counter() - began, result


def _same_files(a: Path, b: Path, names: list[str]) -> bool:
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


WARM = ("glaciermap.preprocess.stack", "glaciermap.predict.engine", "glaciermap.predict.blocks")
"""Modules imported before anything is timed, here and on the workers: a running cluster's workers
have imported them after their first task, and this process has too."""


def _warm() -> None:
    import importlib

    for name in WARM:
        importlib.import_module(name)


def _cluster(workers: int) -> tuple[float, Any]:
    """A LocalCluster of ``workers`` single-threaded processes, and the seconds it took to start
    (warmed: the stages' modules imported on every worker)."""
    from glaciermap.cluster import ClusterSpec, DaskExecutor

    seconds, executor = _started(
        lambda: DaskExecutor.connect(ClusterSpec(local_workers=workers, timeout=120))
    )
    executor.client.run(_warm)
    return seconds, executor


def bench_preprocess(region: Any, products: Path, acquisitions: int, cores: int, out: Path) -> dict:
    from glaciermap.preprocess.stack import build_stack

    def build(name: str, workers: Any) -> tuple[float, float, Any]:
        target = out / name
        return _timed(
            lambda: build_stack(
                region, products, target, year=YEAR, n_slots=acquisitions, workers=workers
            ),
            fresh=target,
            executor=workers,
        )

    results: dict[str, Any] = {}
    seconds, cpu, local = build("pool", cores)
    tiles = len(local.meta.tiles)
    results["pool_s"], results["pool_cpu_s"] = seconds, cpu
    names = [f"tiles/{t}.tif" for t in local.meta.tiles] + ["stack.vrt"]
    for workers in sorted({cores, 1}, reverse=True):
        start, executor = _cluster(workers)
        try:
            seconds, cpu, built = build(f"dask{workers}", executor)
        finally:
            executor.close()
        results[f"dask{workers}_s"], results[f"dask{workers}_cpu_s"] = seconds, cpu
        results[f"dask{workers}_start_s"] = start
        results[f"dask{workers}_identical"] = _same_files(local.stack_dir, built.stack_dir, names)
    results["tiles"] = tiles
    results["overhead"] = results[f"dask{cores}_s"] / results["pool_s"]
    results["overhead_cpu"] = results[f"dask{cores}_cpu_s"] / results["pool_cpu_s"]
    results["scaling"] = results["dask1_s"] / results[f"dask{cores}_s"]
    results["core_s_per_tile"] = results["pool_cpu_s"] / tiles
    return results


def bench_predict(stack: Path, weights: str, cores: int, block_tiles: int, out: Path) -> dict:
    from glaciermap.models.lookup import resolve_weights
    from glaciermap.predict.blocks import block_side, halo_work, plan_blocks
    from glaciermap.predict.engine import PredictConfig, predict_stack
    from glaciermap.predict.sliding import plan_windows
    from glaciermap.stack_format import StackMeta

    path = resolve_weights(weights, None)

    def run(name: str, threads: int, workers: Any) -> tuple[float, float, Any]:
        target = out / name
        config = PredictConfig(
            device="cpu", vectorize=False, threads=threads, block_tiles=block_tiles
        )
        return _timed(
            lambda: predict_stack(path, stack, target, config, workers=workers),
            fresh=target,
            executor=workers,
        )

    meta = StackMeta.read(stack)
    tile_px = round(meta.region.tile_size / meta.region.pixel_size)
    defaults = PredictConfig()
    plan = plan_windows(*_shape(stack), defaults.window, defaults.overlap)
    blocks = plan_blocks(plan.height, plan.width, block_side(tile_px, block_tiles))
    results: dict[str, Any] = {
        "tiles": len(meta.tiles),
        "blocks": len(blocks),
        "halo_work": halo_work(plan, blocks),
        "window": defaults.window,
    }
    seconds, cpu, local = run("sweep", cores, None)
    results["sweep_s"], results["sweep_cpu_s"] = seconds, cpu
    results["sweep_model_s"] = local.model_seconds
    results["pixels"] = local.pixels
    results["windows"] = local.windows
    names = ["probability.tif", "mask.tif"]
    runs = [(f"dask1x{cores}", 1, cores)]  # one worker, every core to torch: the same bits
    scales = cores > 1 and len(blocks) > 1  # one block is one task: nothing to spread
    if scales:
        runs += [(f"dask{cores}x1", cores, 1), ("dask1x1", 1, 1)]
    for name, workers, threads in runs:
        start, executor = _cluster(workers)
        try:
            seconds, cpu, done = run(name, threads, executor)
        finally:
            executor.close()
        results[f"{name}_s"], results[f"{name}_cpu_s"] = seconds, cpu
        results[f"{name}_start_s"] = start
        results[f"{name}_model_s"] = done.model_seconds
        results[f"{name}_identical"] = _same_files(local.out_dir, done.out_dir, names)
    results["overhead"] = results[f"dask1x{cores}_s"] / results["sweep_s"]
    results["overhead_cpu"] = results[f"dask1x{cores}_cpu_s"] / results["sweep_cpu_s"]
    results["overhead_beyond_halo"] = results["overhead"] / results["halo_work"]
    if scales:
        results["overhead_workers"] = results[f"dask{cores}x1_s"] / results["sweep_s"]
        results["scaling"] = results["dask1x1_s"] / results[f"dask{cores}x1_s"]
    results["core_s_per_tile"] = results["sweep_cpu_s"] / len(meta.tiles)
    return results


def _shape(stack: Path) -> tuple[int, int]:
    from glaciermap.io.raster import open_raster

    with open_raster(stack / "stack.vrt") as src:
        return int(src.height), int(src.width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2, help="region side in tiles (default 2)")
    parser.add_argument("--tile-m", type=float, default=10_000.0, help="tile side, m (10 km)")
    parser.add_argument("--acquisitions", type=int, default=15, help="slots (default 15)")
    parser.add_argument("--weights", default="unet3d", help="weights for predict (default unet3d)")
    parser.add_argument("--cores", type=int, default=2, help="cores of every configuration")
    parser.add_argument("--block-tiles", type=int, default=1, help="predict's block side, tiles")
    parser.add_argument("--out", type=Path, default=OUT, help="working folder")
    parser.add_argument("--repeat", type=int, default=1, help="runs per timing, fastest kept")
    parser.add_argument(
        "--parts", default="preprocess,predict", help="preprocess, predict or both (default)"
    )
    parser.add_argument("--smoke", action="store_true", help="two 2 km tiles, 4 slots: seconds")
    args = parser.parse_args()
    REPEAT[0] = max(1, args.repeat)
    parts = set(args.parts.split(","))
    if args.smoke:
        region = smoke_region.tiny_region()
        args.acquisitions, args.weights, args.tile_m = 4, "ablation/unet3d-3acq", region.tile_size
    else:
        region = bench_region(args.side, args.tile_m)
    args.out.mkdir(parents=True, exist_ok=True)
    _warm()
    products = args.out / f"products-{region.name}-{args.tile_m / 1000:g}km-{args.acquisitions}"
    simulated = simulate(region, products, args.acquisitions, args.cores)

    c = args.cores
    pre: dict[str, Any] = {}
    if "preprocess" in parts or not (args.out / "pool" / "stack.json").is_file():
        pre = bench_preprocess(region, products, args.acquisitions, c, args.out)
        print(
            f"preprocess, {pre['tiles']} tiles x {args.acquisitions} dates, {c} cores:\n"
            f"  local pool of {c} processes  {pre['pool_s']:7.1f} s wall {pre['pool_cpu_s']:7.1f} s "
            f"CPU\n"
            f"  Dask, {c} workers             {pre[f'dask{c}_s']:7.1f} s wall "
            f"{pre[f'dask{c}_cpu_s']:7.1f} s CPU (identical: {pre[f'dask{c}_identical']}, "
            f"cluster start {pre[f'dask{c}_start_s']:.1f} s)\n"
            f"  Dask, 1 worker              {pre['dask1_s']:7.1f} s wall {pre['dask1_cpu_s']:7.1f} s "
            f"CPU (identical: {pre['dask1_identical']})\n"
            f"  overhead Dask / pool {pre['overhead']:.2f} wall, {pre['overhead_cpu']:.2f} CPU; "
            f"scaling 1 worker / {c} workers {pre['scaling']:.2f}; "
            f"{pre['core_s_per_tile']:.1f} CPU s per tile",
            flush=True,
        )
    pred: dict[str, Any] = {}
    if "predict" in parts:
        stack = args.out / "pool"
        pred = bench_predict(stack, args.weights, c, args.block_tiles, args.out)
        lines = [
            f"predict ({args.weights}), {pred['tiles']} tiles, {pred['windows']} windows, "
            f"{pred['blocks']} blocks of {args.block_tiles} tile(s) ({pred['halo_work']:.2f} x "
            f"the windows), {c} cores:",
            f"  one sweep here, {c} threads   {pred['sweep_s']:7.1f} s wall "
            f"{pred['sweep_cpu_s']:7.1f} s CPU",
            f"  Dask, 1 worker x {c} threads  {pred[f'dask1x{c}_s']:7.1f} s wall "
            f"{pred[f'dask1x{c}_cpu_s']:7.1f} s CPU (identical: {pred[f'dask1x{c}_identical']})",
        ]
        if "scaling" in pred:
            lines += [
                f"  Dask, {c} workers x 1 thread {pred[f'dask{c}x1_s']:7.1f} s wall "
                f"{pred[f'dask{c}x1_cpu_s']:7.1f} s CPU",
                f"  Dask, 1 worker x 1 thread   {pred['dask1x1_s']:7.1f} s wall "
                f"{pred['dask1x1_cpu_s']:7.1f} s CPU",
                f"  overhead Dask / sweep {pred['overhead']:.2f} wall, {pred['overhead_cpu']:.2f} "
                f"CPU (1 worker; "
                f"{pred['overhead_beyond_halo']:.2f} beyond the halo), "
                f"{pred['overhead_workers']:.2f} ({c} workers); scaling 1 worker / {c} workers "
                f"{pred['scaling']:.2f}; {pred['core_s_per_tile']:.1f} CPU s per tile",
            ]
        else:
            lines.append(
                f"  overhead Dask / sweep {pred['overhead']:.2f} wall "
                f"({pred['overhead_beyond_halo']:.2f} beyond the halo), "
                f"{pred['overhead_cpu']:.2f} CPU; {pred['core_s_per_tile']:.1f} CPU s per tile"
            )
        print("\n".join(lines), flush=True)
    results = {
        "cores": c,
        "acquisitions": args.acquisitions,
        "weights": args.weights,
        "region": dataclasses.asdict(region),
        "block_tiles": args.block_tiles,
        "repeat": REPEAT[0],
        "simulate_s": simulated,
        "preprocess": pre,
        "predict": pred,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results → {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
