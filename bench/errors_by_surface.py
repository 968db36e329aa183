"""Where do weights go wrong on a simulated scene? Errors by true surface class and elevation (issue 14).

    .venv/bin/python bench/errors_by_surface.py --weights unet3d --scene ws/gen/stacks/example-2016-s1000
    .venv/bin/python bench/errors_by_surface.py --smoke --out /tmp/x   # seconds: checks it runs

``--scene`` is a stack from ``bench/generalization.py`` (or ``training_scenes.py``); the simulator's truth
(``surface.tif``: land, sea, lake, glacier, debris, snow patch; ``dem.tif``) is read from the matching
folder under ``../scenes/``. Every tile is predicted whole, as ``evaluate --split all`` scores it.
Prints, per surface class, the share mapped as glacier, then the false-glacier rate of land and the
recall of glacier in 200 m elevation bands: a scene mapped badly because its sea is bright, its high
land keeps snow, or its ablation zone looks like land shows it here. Writes ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import smoke_region  # bench/: the --smoke modes' tiny region

SURFACES = {0: "land", 1: "sea", 2: "lake", 3: "glacier", 4: "debris", 5: "snow patch"}
"""The codes of the simulator's ``truth/surface.tif``."""
BAND_M = 200


def errors_by_surface(weights: str, stack: Path, scene: Path) -> dict:  # type: ignore[type-arg]
    """Shares mapped as glacier per surface class and per elevation band of land and glacier."""
    import numpy as np
    import rasterio
    import torch
    from rasterio.windows import from_bounds

    from glaciermap.models.lookup import resolve_weights
    from glaciermap.models.weights import load_weights
    from glaciermap.training.evaluate import labelled_tiles, predict_tile

    model, card = load_weights(resolve_weights(weights))
    _, tiles = labelled_tiles(card, stack, "all")
    with rasterio.open(scene / "truth" / "surface.tif") as src:
        surface, transform = src.read(1), src.transform
    with rasterio.open(scene / "truth" / "dem.tif") as src:
        dem = src.read(1, out_shape=surface.shape)
    mapped, truth, classes, heights = [], [], [], []
    for sample in tiles:
        with torch.no_grad():
            mapped.append(predict_tile(model, sample.x).numpy().ravel() > 0)
        truth.append(sample.label.numpy().ravel())
        with rasterio.open(tiles.reader.meta.tile_path(sample.tile_id)) as src:
            window = from_bounds(*src.bounds, transform=transform).round_offsets().round_lengths()
        rows = slice(window.row_off, window.row_off + window.height)
        cols = slice(window.col_off, window.col_off + window.width)
        classes.append(surface[rows, cols].ravel())
        heights.append(dem[rows, cols].ravel())
    glacier_map, label = np.concatenate(mapped), np.concatenate(truth)
    surface_px, height = np.concatenate(classes), np.concatenate(heights)
    labelled = label != 255
    union = (glacier_map | (label == 1))[labelled].sum()
    result: dict = {  # type: ignore[type-arg]
        "iou": float((glacier_map & (label == 1))[labelled].sum() / max(union, 1)),
        "mapped_as_glacier": {},
        "land_false_glacier_by_elevation": {},
        "glacier_recall_by_elevation": {},
    }
    for code, name in SURFACES.items():
        pixels = labelled & (surface_px == code)
        if pixels.any():
            result["mapped_as_glacier"][name] = float(glacier_map[pixels].mean())
    for key, code in (("land_false_glacier_by_elevation", 0), ("glacier_recall_by_elevation", 3)):
        for low in range(0, int(height.max()) + BAND_M, BAND_M):
            pixels = labelled & (surface_px == code) & (height >= low) & (height < low + BAND_M)
            if pixels.sum() >= 100:
                result[key][f"{low}-{low + BAND_M} m"] = float(glacier_map[pixels].mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny scene: no meaning")
    parser.add_argument("--weights", default="unet3d")
    parser.add_argument("--scene", type=Path, help="a stack folder of simulated scenes' stacks/")
    parser.add_argument("--out", type=Path, help="folder for results.json")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-errors-"))
    out.mkdir(parents=True, exist_ok=True)
    weights, stack = args.weights, args.scene
    if args.smoke:
        import generalization  # the scene builder of bench/generalization.py

        stack = generalization.make_scene(smoke_region.tiny_region(), 2016, 1000, out, 4)
        weights = "ablation/unet3d-3acq"
    if stack is None:
        parser.error("give --scene (or --smoke)")
    scene = stack.parent.parent / "scenes" / stack.name
    result = errors_by_surface(weights, stack, scene)
    print(f"{weights} on {stack.name}: IoU {result['iou']:.3f}")
    for name, share in result["mapped_as_glacier"].items():
        print(f"  {name:10s} mapped as glacier {share:6.1%}")
    for key, label in (
        ("land_false_glacier_by_elevation", "land, false glacier"),
        ("glacier_recall_by_elevation", "glacier, recall"),
    ):
        for band, share in result[key].items():
            print(f"  {label:20s} {band:>12s} {share:6.1%}")
    (out / "results.json").write_text(json.dumps({"weights": weights, **result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
