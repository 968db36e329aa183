"""Benchmark of `glaciermap predict`, run by hand (figures go into the issue notes, not into tests).

    .venv/bin/python bench/predict.py                 # monai (when installed), share, memory
    .venv/bin/python bench/predict.py --part monai --size 1000
    .venv/bin/python bench/predict.py --part memory --sizes 2000,8000,16000
    .venv/bin/python bench/predict.py --part gpu --size 4000 --batch-size 16   # on a CUDA machine
    .venv/bin/python bench/predict.py --smoke --out /tmp/x   # seconds: checks the script runs (tests)

Parts, each side by side in one run:

* ``monai``: glaciermap's predict_stack against MONAI's ``sliding_window_inference`` on the same model
  (the shipped weights), the same input, window, overlap and Gaussian weight map; max |difference| and
  the time ratio MONAI / glaciermap. MONAI runs twice: with the network as loaded (what a MONAI user
  has) and with the network as glaciermap prepares it for prediction (BatchNorms folded,
  channels-last: ``glaciermap.models.inference``), so the second ratio compares the sweeps alone.
  glaciermap's time includes reading the stack from disk and writing the COGs; MONAI gets the input
  already normalised in memory. Needs monai (the ``bench`` extra); skipped by ``all`` without it.
* ``share``: the model's GFLOP/s inside predict (FLOPs of all windows / predict's wall time) against the
  same batches run back to back in a tight loop; the ratio is the share of predict's time the model has.
* ``gpu``: on CUDA, glaciermap predict with the shipped unet3d in bf16 over a square stack, pixels per
  second for each ``--readers`` value given (and the minutes that implies for all of Svalbard, 7.2e8 px),
  beside the model alone on the same batches in a tight loop (the ceiling the readers must feed).
* ``memory``: peak resident memory of predict in a fresh process for square stacks of the given sizes
  (a VRT repeating one 2000 px tile), with a one-parameter model (logit = scale x the first band) so that
  the sweep, the IO, the blending and the writing are what is measured; a real model adds a constant
  (its activations for one batch), whatever the raster's size.

The input tile: the example scene's stack (simulated and preprocessed into ``--out`` when absent),
mirrored out to 2000 x 2000 px. ``--smoke`` instead repeats a procedural 256 px tile and runs monai
(when installed), share and memory on a 256 px stack with 128 px windows: its figures mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "out" / "predict"
TILE = 2000
SMOKE_TILE = 256
PIXEL = 10.0
TILE_ID = "BENC-0-0"


def example_stack(out: Path) -> Path:
    stack = out / "example" / "stack"
    if (stack / "stack.json").is_file():
        return stack
    from glaciermap.cli.main import main

    scene = out / "example" / "scene"
    main(
        ["-q", "simulate", "--region", "example", "--year", "2016", "--seed", "0", "-o", str(scene)]
    )
    args = ["-q", "preprocess", str(scene), "-o", str(stack), "--region", "example"]
    main([*args, "--year", "2016", "--inventory", str(scene / "truth" / "outlines.gpkg")])
    return stack


@functools.cache
def source_tile(out: Path, smoke: bool) -> tuple[np.ndarray, object]:
    """``(bands (T*C, side, side) float32, StackMeta)`` of the tile every benchmark stack repeats.

    The example stack mirrored to 2000 px, or with ``smoke`` a procedural 256 px tile (smooth noise
    around the shipped card's statistics) with a stack.json of its own.
    """
    from glaciermap.calendar import slot_starts
    from glaciermap.io.raster import open_raster
    from glaciermap.models.weights import read_card
    from glaciermap.stack_format import ChannelNorm, StackGrid, StackMeta

    if smoke:
        card = read_card(_weights("unet3d"))
        means, stds = card.statistics(card.channels)
        t, c, side = int(card.n_times or 15), len(card.channels), SMOKE_TILE
        rng = np.random.default_rng(0)
        coarse = rng.normal(size=(t * c, side // 20, side // 20)).astype(np.float32)
        noise = np.kron(coarse, np.ones((20, 20), np.float32))
        scale = np.tile(np.asarray(stds, np.float32), t)[:, None, None]
        shift = np.tile(np.asarray(means, np.float32), t)[:, None, None]
        data = noise * scale + shift
        data[:, :40, :40] = np.nan  # a corner without data
        meta = StackMeta(
            region=StackGrid("bench", "EPSG:32633", (0.0, 0.0), side * PIXEL, PIXEL, "BENC"),
            year=2016,
            dates=tuple(slot_starts(2016, t)),
            tiles=(TILE_ID,),
            splits={TILE_ID: "none"},
            normalisation={
                name: ChannelNorm(m, s)
                for name, m, s in zip(card.channels, means, stds, strict=True)
            },
            channels=tuple(card.channels),
            normalisation_tiles="all",
        )
        return data, meta
    source = example_stack(out)
    meta = StackMeta.read(source)
    with open_raster(meta.vrt_path) as src:
        data = src.read()
    reps = -(-TILE // data.shape[1]), -(-TILE // data.shape[2])
    # Mirror rather than repeat, so no seam is a jump in the data.
    rows = np.concatenate([data if i % 2 == 0 else data[:, ::-1] for i in range(reps[0])], 1)
    full = np.concatenate([rows if j % 2 == 0 else rows[:, :, ::-1] for j in range(reps[1])], 2)
    return np.ascontiguousarray(full[:, :TILE, :TILE]), meta


def tiled_stack(out: Path, size: int, smoke: bool = False) -> Path:
    """A stack folder whose stack.vrt repeats one tile (2000 px; smoke 256 px) to ``size`` px square."""
    import geopandas as gpd
    from rasterio.crs import CRS
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from glaciermap.io.raster import write_cog
    from glaciermap.io.vector import write_gpkg
    from glaciermap.preprocess.vrt import VrtSource, stack_vrt_xml
    from glaciermap.stack_format import StackMeta

    side = SMOKE_TILE if smoke else TILE
    folder = out / (f"smoke-{size}" if smoke else f"tiled-{size}")
    if (folder / "stack.json").is_file():
        return folder
    data, source_meta = source_tile(out, smoke)
    assert isinstance(source_meta, StackMeta)
    meta = dataclasses.replace(
        source_meta, tiles=(TILE_ID,), splits={TILE_ID: "none"}, labels=None, inventory=None
    )
    crs = meta.region.crs
    tile = folder / "tiles" / f"{TILE_ID}.tif"
    tile.parent.mkdir(parents=True, exist_ok=True)
    write_cog(
        tile,
        data,
        crs=crs,
        transform=from_origin(0, side * PIXEL, PIXEL, PIXEL),
        nodata=float("nan"),
        descriptions=meta.band_descriptions,
        blocksize=256,  # as the stacks preprocess writes
    )
    n = -(-size // side)
    extent = side * PIXEL
    sources = [
        VrtSource(
            f"tiles/{TILE_ID}.tif",
            (c * extent, -(r + 1) * extent + extent, (c + 1) * extent, -r * extent + extent),
        )
        for r in range(n)
        for c in range(n)
    ]
    xml = stack_vrt_xml(
        sources,
        list(meta.band_descriptions),
        pixel_size=PIXEL,
        crs_wkt=CRS.from_user_input(crs).to_wkt(),
        block_size=256,
    )
    if size % side:  # crop the VRT to exactly size x size
        xml = xml.replace(
            f'rasterXSize="{n * side}" rasterYSize="{n * side}"',
            f'rasterXSize="{size}" rasterYSize="{size}"',
            1,
        )
    (folder / "stack.vrt").write_text(xml)
    footprint = box(0, (1 - n) * extent, n * extent, extent)
    frame = gpd.GeoDataFrame({"tile_id": [TILE_ID]}, geometry=[footprint], crs=crs)
    write_gpkg(folder / "tiles.gpkg", {"tiles": frame})
    meta.write(folder)  # last: it marks a complete stack
    return folder


def _weights(name: str) -> Path:
    return ROOT / "weights" / name


def has_monai() -> bool:
    import importlib.util

    return importlib.util.find_spec("monai") is not None


def part_monai(
    out: Path,
    size: int,
    window: int,
    overlap: float,
    batch: int,
    repeat: int = 1,
    smoke: bool = False,
) -> None:
    """MONAI with the network as loaded, MONAI with glaciermap's prepared network, and glaciermap;
    ``repeat`` rounds in turn (noise shows as the spread between rounds)."""
    import torch
    from monai.inferers import sliding_window_inference

    from glaciermap.io.raster import open_raster
    from glaciermap.models.inference import for_inference
    from glaciermap.models.weights import load_weights
    from glaciermap.predict.engine import PredictConfig, StackWindows, predict_stack
    from glaciermap.predict.sliding import gaussian_weight
    from glaciermap.stack_format import StackMeta

    stack = tiled_stack(out, size, smoke)
    weights = _weights("unet3d")
    model, card = load_weights(weights)
    model.eval()
    prepared = for_inference(model)
    meta = StackMeta.read(stack)
    means, stds = card.input_statistics(meta)
    mean, std = np.asarray(means, dtype=np.float32), np.asarray(stds, dtype=np.float32)
    t, c = int(card.n_times or meta.n_slots), len(meta.channels)
    reader = StackWindows(meta.vrt_path, meta.bands(range(t)), t, mean, std)
    x, valid = reader(0, 0, max(reader.height, reader.width))
    x, valid = x[..., :size, :size], valid[:size, :size]
    inputs = torch.from_numpy(np.ascontiguousarray(x.reshape(1, t * c, size, size)))
    weight = torch.from_numpy(gaussian_weight(window))

    def monai(network: torch.nn.Module) -> tuple[float, np.ndarray]:
        def predictor(batch: torch.Tensor) -> torch.Tensor:
            b, _, h, w = batch.shape
            return torch.sigmoid(network(batch.view(b, t, c, h, w)))

        began = time.perf_counter()
        with torch.inference_mode():
            out = sliding_window_inference(
                inputs,
                (window, window),
                batch,
                predictor,
                overlap=overlap,
                mode="gaussian",
                roi_weight_map=weight,
            )
        return time.perf_counter() - began, out[0, 0].numpy()

    def ours() -> tuple[float, np.ndarray]:
        began = time.perf_counter()
        result = predict_stack(
            weights,
            stack,
            out / f"monai-{size}",
            PredictConfig(
                window=window, overlap=overlap, batch_size=batch, device="cpu", vectorize=False
            ),
        )
        seconds = time.perf_counter() - began
        with open_raster(result.probability) as src:
            return seconds, src.read(1)

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.nanmax(np.abs(a[valid] - b[valid])))

    print(
        f"monai  {size}x{size} px window {window} overlap {overlap} batch {batch}, "
        f"{torch.get_num_threads()} threads, {int(valid.sum())} valid px"
    )
    for round_ in range(1, repeat + 1):
        plain_s, plain = monai(model)
        prep_s, prep = monai(prepared)
        ours_s, mine = ours()
        print(
            f"  round {round_}: MONAI (network as loaded) {plain_s:.1f} s, MONAI (glaciermap's "
            f"prepared network) {prep_s:.1f} s, glaciermap {ours_s:.1f} s; ratio MONAI/glaciermap "
            f"{plain_s / ours_s:.2f} and {prep_s / ours_s:.2f}; max |diff| glaciermap vs MONAI "
            f"{diff(mine, plain):.2e} and {diff(mine, prep):.2e}",
            flush=True,
        )


def part_share(
    out: Path, size: int, window: int, overlap: float, batch: int, smoke: bool = False
) -> None:
    import torch

    from glaciermap.models.registry import model_summary
    from glaciermap.models.weights import load_weights
    from glaciermap.predict.engine import PredictConfig, predict_stack, torch_batch_fn
    from glaciermap.predict.sliding import plan_windows

    stack = tiled_stack(out, size, smoke)
    weights = _weights("unet3d")
    model, card = load_weights(weights)
    t, c = int(card.n_times or 15), len(card.channels)
    flops_px = model_summary(model, t, c, window, window)["flops_per_pixel"]
    plan = plan_windows(size, size, window, overlap)
    flops = flops_px * window * window * plan.count
    result = predict_stack(
        weights,
        stack,
        out / f"share-{size}",
        PredictConfig(
            window=window, overlap=overlap, batch_size=batch, device="cpu", vectorize=False
        ),
    )
    run = torch_batch_fn(model, torch.device("cpu"))
    x = np.random.default_rng(0).normal(size=(batch, t, c, window, window)).astype(np.float32)
    batches = -(-plan.count // batch)
    run(x)  # warm-up
    began = time.perf_counter()
    for _ in range(batches):
        run(x)
    tight = time.perf_counter() - began
    inside = flops / result.seconds / 1e9
    alone = flops_px * window * window * batches * batch / tight / 1e9
    print(
        f"share  {size}x{size} px, {plan.count} windows: predict {result.seconds:.1f} s "
        f"({result.model_seconds:.1f} s in the model) = {inside:.2f} GFLOP/s; tight loop "
        f"{tight:.1f} s = {alone:.2f} GFLOP/s; ratio {inside / alone:.2f}"
    )


SVALBARD_PX = 7.2e8


def part_gpu(
    out: Path, size: int, window: int, overlap: float, batch: int, readers: list[int]
) -> None:
    import torch

    from glaciermap.models.weights import load_weights
    from glaciermap.predict.engine import PredictConfig, predict_stack, torch_batch_fn
    from glaciermap.predict.sliding import plan_windows

    if not torch.cuda.is_available():
        raise SystemExit("--part gpu needs a CUDA GPU")
    device = torch.device("cuda")
    print(f"gpu    {torch.cuda.get_device_name(device)}, torch {torch.__version__}, bf16 autocast")
    stack = tiled_stack(out, size)
    weights = _weights("unet3d")
    model, card = load_weights(weights)
    t, c = int(card.n_times or 15), len(card.channels)
    plan = plan_windows(size, size, window, overlap)
    new_px = size * size  # every pixel once, whatever the overlap
    run = torch_batch_fn(model, device)
    x = np.random.default_rng(0).normal(size=(batch, t, c, window, window)).astype(np.float32)
    for _ in range(3):
        run(x)  # warm-up: cuDNN picks its kernels
    torch.cuda.synchronize()
    batches = -(-plan.count // batch)
    began = time.perf_counter()
    for _ in range(batches):
        run(x)  # includes the host-to-device copy and the result's way back
    torch.cuda.synchronize()
    tight = time.perf_counter() - began
    rate = new_px / tight
    print(
        f"  model alone, {batches} batches of {batch}: {tight:.1f} s = {rate / 1e6:.2f} M px/s "
        f"-> Svalbard {SVALBARD_PX / rate / 60:.1f} min"
    )
    for n in readers:
        result = predict_stack(
            weights,
            stack,
            out / f"gpu-{size}",
            PredictConfig(
                window=window,
                overlap=overlap,
                batch_size=batch,
                device="cuda",
                readers=n,
                vectorize=False,
            ),
        )
        rate = result.pixels / result.seconds
        print(
            f"  predict {size}x{size} px, readers {n or 'auto'}: {result.seconds:.1f} s "
            f"({result.model_seconds:.1f} s in the model) = {rate / 1e6:.2f} M px/s -> Svalbard "
            f"{SVALBARD_PX / rate / 60:.1f} min",
            flush=True,
        )


def _register_first_band() -> None:
    import torch
    from torch import nn

    from glaciermap.models.registry import MODELS

    class FirstBandModel(nn.Module):
        stride = 1
        accepts_variable_t = True

        def __init__(self, in_channels: int = 2, n_times: int = 15) -> None:
            super().__init__()
            self.config = {"in_channels": in_channels, "n_times": n_times}
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scale * x[:, 0, :1]

    MODELS["first_band"] = FirstBandModel


def _own_peak_mib() -> float:
    """This process's peak resident memory since exec, MiB.

    VmHWM, not ``ru_maxrss``: Linux carries the parent's high-water mark across fork + exec, so the
    child of a large parent (one that ran the share part) would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # off Linux


def _memory_child(
    out: Path,
    size: int,
    window: int,
    overlap: float,
    batch: int,
    readers: int = 0,
    smoke: bool = False,
) -> None:
    import torch

    from glaciermap.models.registry import create_model
    from glaciermap.models.weights import read_card, save_weights
    from glaciermap.predict.engine import PredictConfig, predict_stack

    _register_first_band()
    card = read_card(_weights("unet3d"))
    model_path = out / "first-band"
    torch.manual_seed(0)
    model = create_model("first_band", in_channels=2, n_times=card.n_times)
    save_weights(model, model_path, {"normalisation": card.normalisation})
    began = time.perf_counter()
    result = predict_stack(
        model_path,
        tiled_stack(out, size, smoke),
        out / f"memory-{size}",
        PredictConfig(
            window=window,
            overlap=overlap,
            batch_size=batch,
            device="cpu",
            readers=readers,
            vectorize=False,
        ),
    )
    peak = _own_peak_mib()
    print(
        f"memory {size}x{size} px ({result.pixels / 1e6:.1f} M px, {result.windows} windows): "
        f"{time.perf_counter() - began:.1f} s ({result.model_seconds:.1f} s in the model), "
        f"peak RSS {peak:.0f} MiB",
        flush=True,
    )


def part_memory(
    out: Path,
    sizes: list[int],
    window: int,
    overlap: float,
    batch: int,
    readers: int,
    smoke: bool = False,
) -> None:
    """Each size in a fresh process (its peak RSS is predict's alone)."""
    for size in sizes:
        tiled_stack(out, size, smoke)  # built outside the measured process
        command = [sys.executable, __file__, "--memory-child", str(size), "--out", str(out)]
        command += ["--window", str(window), "--overlap", str(overlap)]
        command += ["--batch-size", str(batch), "--readers", str(readers)]
        subprocess.run([*command, *(["--smoke"] if smoke else [])], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["monai", "share", "memory", "gpu", "all"], default="all")
    parser.add_argument("--size", type=int, default=1000, help="side of the monai/share stack, px")
    parser.add_argument("--sizes", default="2000,8000,16000", help="sides for the memory part")
    parser.add_argument("--window", type=int, default=384)
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--readers", type=int, default=0, help="reader threads (0: predict's default)"
    )
    parser.add_argument(
        "--gpu-readers", default="0,2,4,8", help="--readers values for the gpu part (0: auto)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the monai part")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"working folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds: a procedural 256 px stack, monai (when installed), share and memory; "
        "in --out or a temporary folder; checks the script runs, its figures mean nothing",
    )
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        out = args.out or DEFAULT_OUT
        _memory_child(
            out,
            args.memory_child,
            args.window,
            args.overlap,
            args.batch_size,
            args.readers,
            args.smoke,
        )
        return
    if args.smoke:
        print("smoke run: it checks that the benchmark works; its figures mean nothing")
        args.size, args.sizes = SMOKE_TILE, str(SMOKE_TILE)
        args.window = 128  # a few small windows: the model's cost dominates a smoke run
        if args.part == "gpu":
            raise SystemExit("--smoke runs monai, share and memory; not gpu")
        if args.out is None:
            with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
                run(args, Path(tmp))
            return
    run(args, args.out or DEFAULT_OUT)


def run(args: argparse.Namespace, out: Path) -> None:
    """The parts asked for, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    geometry = (args.window, args.overlap, args.batch_size)
    if args.part in ("monai", "all"):
        if has_monai():
            part_monai(out, args.size, *geometry, args.repeat, args.smoke)
        elif args.part == "monai":
            raise SystemExit("--part monai needs monai: pip install 'glaciermap[bench]'")
        else:
            print("monai  skipped: monai is not installed (pip install 'glaciermap[bench]')")
    if args.part in ("share", "all"):
        part_share(out, args.size, *geometry, args.smoke)
    if args.part == "gpu":  # not in "all": it needs CUDA
        readers = [int(r) for r in args.gpu_readers.split(",")]
        part_gpu(out, args.size, *geometry, readers)
    if args.part in ("memory", "all"):
        sizes = [int(s) for s in args.sizes.split(",")]
        part_memory(out, sizes, *geometry, args.readers, args.smoke)


if __name__ == "__main__":
    main()
