"""Stand-in for the model's output until `predict` lands: a glacier-probability raster of the example scene.

`make demo` first simulates the example region's 2016 Sentinel-1 year (`glaciermap simulate`), which
writes the ground truth beside the radar products. Until the prediction stage exists, this script turns
that truth into what a good model would give: a probability raster (10 m, EPSG:32633, float32 in [0, 1])
that is high on glacier ice, low elsewhere, soft at the margins, with a little noise, a few wet-snow
specks (which `--min-area` removes) and NaN where the radar saw nothing (layover, shadow, swath gaps in
every pass). It is clearly a stand-in: once `glaciermap predict` exists, the demo runs it on the radar
products instead.

Usage: python examples/make_example_inputs.py SCENE_DIR OUT_TIF
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import rasterio

from glaciermap.io.hyp3 import open_product
from glaciermap.simulate.landscape import Surface


def smooth(field: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur (numpy only) so the probability falls off over a few pixels."""
    radius = int(3 * sigma_px)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    kernel /= kernel.sum()
    out = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, field)
    return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, out)


def never_seen(scene: Path, profile: dict) -> np.ndarray:
    """(H, W) bool: pixels no RTC product of the year observed (layover, shadow, outside every swath)."""
    from rasterio.warp import Resampling, reproject

    seen = np.zeros((profile["height"], profile["width"]), dtype=bool)
    for path in sorted(scene.glob("S1*_RTC10_*.zip")):
        product = open_product(path)
        with rasterio.open(product.raster(product.co_pol)) as src:
            valid = (src.read(1) > 0).astype(np.uint8)
            onto = np.zeros_like(seen, dtype=np.uint8)
            reproject(
                valid,
                onto,
                src_transform=src.transform,
                src_crs=src.crs,
                dst_transform=profile["transform"],
                dst_crs=profile["crs"],
                resampling=Resampling.nearest,
            )
        seen |= onto.astype(bool)
    return ~seen


def main(scene: Path, out_tif: Path) -> None:
    rng = np.random.default_rng(2016)
    with rasterio.open(scene / "truth" / "surface.tif") as src:
        surface = src.read(1)
        profile = src.profile
    glacier = np.isin(surface, [Surface.GLACIER, Surface.DEBRIS]).astype(np.float32)
    # Specks the size of a few pixels: wet-snow patches a model may flag; --min-area removes them.
    for _ in range(25):
        r, c = rng.integers(0, glacier.shape[0] - 3), rng.integers(0, glacier.shape[1] - 3)
        glacier[r : r + 2, c : c + 2] = 1.0
    prob = np.clip(smooth(glacier, 1.5) + rng.normal(0, 0.03, glacier.shape), 0, 1)
    prob = prob.astype(np.float32)
    prob[never_seen(scene, profile)] = np.nan
    profile.update(
        driver="GTiff", dtype="float32", nodata=float("nan"), compress="deflate", predictor=3
    )
    out_tif.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(out_tif, "w", **profile) as dst:
        dst.write(prob, 1)
        dst.set_band_description(1, "glacier probability (stand-in for the model output)")
    print(f"wrote {out_tif}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
