"""Make the small offline inputs that `make demo` runs on (deterministic, no network).

Writes into the folder given (default ``examples/out``):

* ``probability.tif`` — a glacier-probability raster, 600 × 600 px at 10 m over the built-in
  ``example`` region (EPSG:32633), float32 in [0, 1] with NaN nodata along a "swath edge"; what
  ``glaciermap predict`` will write once the model issues land.
* ``inventory_old.gpkg`` — an older inventory of the same glaciers (layer ``glaciers``, columns
  ``glac_id``, ``glac_name``) whose fronts differ: a tidewater glacier that has since retreated, a
  valley glacier that has advanced, an ice cap outlet digitised with a few metres of jitter, and a
  small glacier that has since disappeared.

The shapes are drawn from simple geometry (capsules and ellipses) so the demo needs no data download.
Once the simulator lands, the demo will run the whole pipeline on a simulated Sentinel-1 year instead.

Usage: python examples/make_example_inputs.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import from_origin

# The built-in `example` region: x 430-436 km, y 8752-8758 km, EPSG:32633, 10 m pixels.
X0, Y0, X1, Y1 = 430_000.0, 8_752_000.0, 436_000.0, 8_758_000.0
PIXEL = 10.0
CRS = "EPSG:32633"


def capsule(points: list[tuple[float, float]], width: float) -> shapely.Geometry:
    """A glacier-like tongue: a line through ``points`` (km offsets) buffered to ``width`` metres."""
    line = shapely.LineString([(X0 + x * 1000, Y0 + y * 1000) for x, y in points])
    return line.buffer(width / 2, quad_segs=16)


def ellipse(cx: float, cy: float, rx: float, ry: float) -> shapely.Geometry:
    circle = shapely.Point(X0 + cx * 1000, Y0 + cy * 1000).buffer(1.0, quad_segs=32)
    return shapely.affinity.scale(circle, rx, ry)


def glaciers_now() -> dict[str, shapely.Geometry]:
    """Today's outlines (what the probability raster shows)."""
    return {
        "Ice cap": shapely.union(
            ellipse(4.6, 4.6, 1000, 800), capsule([(4.2, 4.2), (3.4, 3.2)], 500)
        ),
        "Tidewater glacier": shapely.union(
            ellipse(1.2, 4.7, 700, 600), capsule([(1.2, 4.5), (1.4, 2.6)], 600)
        ),
        "Valley glacier": capsule([(4.8, 2.2), (5.2, 1.2), (5.0, 0.7)], 420),
        "New cirque glacier": ellipse(2.8, 5.4, 140, 110),
    }


def glaciers_before(now: dict[str, shapely.Geometry]) -> dict[str, shapely.Geometry]:
    """The older inventory: fronts where they were before, plus a glacier that has gone."""
    return {
        # Was longer by ~700 m: retreat of the calving front.
        "Tidewater glacier": shapely.union(
            now["Tidewater glacier"], capsule([(1.4, 2.6), (1.5, 1.9)], 600)
        ),
        # Was shorter: it has advanced since (the last ~400 m of tongue are new).
        "Valley glacier": capsule([(4.8, 2.2), (5.15, 1.3)], 420),
        # Same ice cap, digitised again with a few metres of jitter: no front should be flagged.
        "Ice cap": shapely.buffer(now["Ice cap"], 3.0, quad_segs=16),
        "Snowfield glacier": ellipse(0.8, 0.8, 180, 150),
    }


def smooth(field: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur (numpy only) so the probability falls off over a few pixels."""
    radius = int(3 * sigma_px)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    kernel /= kernel.sum()
    out = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, field)
    return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, out)


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2016)
    width, height = int((X1 - X0) / PIXEL), int((Y1 - Y0) / PIXEL)
    transform = from_origin(X0, Y1, PIXEL, PIXEL)

    now = glaciers_now()
    mask = rasterize(((g, 1) for g in now.values()), (height, width), transform=transform)
    # Specks the size of a few pixels: wet-snow patches a model may flag; --min-area removes them.
    for _ in range(25):
        r, c = rng.integers(0, height - 3), rng.integers(0, width - 3)
        mask[r : r + 2, c : c + 2] = 1
    prob = smooth(mask.astype(np.float32), sigma_px=1.5)
    prob = np.clip(prob + rng.normal(0, 0.03, prob.shape), 0, 1).astype(np.float32)
    # A slanted swath edge along the west side: no data there, which must never become glacier.
    rows, cols = np.mgrid[0:height, 0:width]
    prob[cols < 30 + rows // 20] = np.nan

    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
    }
    with rasterio.open(out_dir / "probability.tif", "w", **profile) as dst:
        dst.write(prob, 1)
        dst.set_band_description(1, "glacier probability")

    before = glaciers_before(now)
    inventory = gpd.GeoDataFrame(
        {
            "glac_id": [f"EX-{i:03d}" for i in range(1, len(before) + 1)],
            "glac_name": list(before),
            "src_date": ["2010-08-31"] * len(before),
        },
        geometry=list(before.values()),
        crs=CRS,
    )
    inventory.to_file(out_dir / "inventory_old.gpkg", layer="glaciers", driver="GPKG")
    print(f"wrote {out_dir / 'probability.tif'} and {out_dir / 'inventory_old.gpkg'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "out")
