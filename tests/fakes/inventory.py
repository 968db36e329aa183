"""Small inventory updates written by hand, following ``glaciermap.inventory_format``.

For the report and STAC tests, which are built without the inventory update itself: one call writes a
year's ``glaciers.gpkg``, ``changes.gpkg`` and ``summary.json`` (and, if asked, ``probability.tif`` and
``mask.tif``) for a few square glaciers near Ny-Ålesund (UTM 33N). Glacier ``G3``'s name is hostile
HTML, so every test that renders names sees it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from rasterio.transform import from_origin

from glaciermap.inventory_format import (
    CHANGE_LAYERS,
    CHANGES_GPKG,
    GLACIERS_GPKG,
    GLACIERS_LAYER,
    SUMMARY_JSON,
    change_column_names,
    glacier_column_names,
)
from glaciermap.io.raster import write_cog
from glaciermap.io.vector import write_gpkg

CRS = "EPSG:32633"
X0, Y0 = 430_000.0, 8_750_000.0
HOSTILE_NAME = '<script>alert("pwned")</script> & <img src=x onerror=alert(1)> $5 breen'
"""HTML that must be escaped, and an unbalanced ``$`` that matplotlib must not read as mathtext."""
PIXEL = 20.0

# id, name, (minx, miny, maxx, maxy) in metres from (X0, Y0) in the first year, mean probability
GLACIERS = [
    ("G1", "Kongsbreen", (0, 0, 2000, 3000), 0.93),
    ("G2", "Blåbreen", (3000, 0, 4000, 2000), 0.88),
    ("G3", HOSTILE_NAME, (5000, 0, 5600, 900), 0.47),
    ("G4", None, (0, 4000, 900, 4600), 0.52),
    ("G5", "Austre Lovénbreen", (2500, 4000, 3400, 5000), 0.61),
]
GONE = ("G6", "Vesle Smeltebreen", (4500, 4000, 4800, 4300))
"""Disappears in the second year."""


def _box(bounds: tuple[float, float, float, float]) -> shapely.Polygon:
    minx, miny, maxx, maxy = bounds
    return shapely.box(X0 + minx, Y0 + miny, X0 + maxx, Y0 + maxy)


def _outline(bounds: tuple[float, float, float, float], retreat_m: float) -> shapely.Polygon:
    """The box with its lower (front) edge moved up by ``retreat_m`` (down if negative)."""
    minx, miny, maxx, maxy = bounds
    return _box((minx, miny + retreat_m, maxx, maxy))


def write_year(
    folder: Path,
    *,
    region: str = "example",
    year: int,
    previous_year: int | None,
) -> dict[str, Any]:
    """Write one year's inventory files into ``folder`` (created); return the summary written.

    The first year (``previous_year`` None) is compared with a reference; ``G6`` exists only then.
    Each later year, G1 retreats 150 m and G2 advances 100 m more (flagged fronts); the others keep
    their outlines.
    """
    folder.mkdir(parents=True, exist_ok=True)
    step = 0 if previous_year is None else year - previous_year
    k = 1 + (year - 2020)  # years since the reference, for the cumulative outline
    rows, geoms = [], []
    for gid, name, bounds, p in GLACIERS:
        shift = {"G1": 150.0 * k, "G2": -100.0 * k}.get(gid, 0.0)
        before = {"G1": 150.0 * (k - 1), "G2": -100.0 * (k - 1)}.get(gid, 0.0)
        geom, old = _outline(bounds, shift), _outline(bounds, before)
        area, old_area = geom.area / 1e6, old.area / 1e6
        status = {"G1": "retreated", "G2": "advanced"}.get(gid, "unchanged")
        front = {"G1": -150.0, "G2": 100.0}.get(gid, 0.0)
        rows.append(
            {
                "glacier_id": gid,
                "glac_name": name,
                "parent_id": None,
                "area_km2": area,
                "perimeter_km": geom.length / 1000,
                "change_km2": area - old_area,
                "change_pct": 100 * (area - old_area) / old_area,
                "status": status,
                "front_shift_m": front,
                "mean_probability": p,
                "year": year,
                "first_date": f"{year}-06-10",
                "last_date": f"{year}-09-20",
                "n_acquisitions": 5,
                "model": "unet3d",
                "weights_sha256": "ab" * 32,
                "cenlon": 12.0,
                "cenlat": 78.9,
            }
        )
        geoms.append(geom)
    glaciers = gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)[
        [*glacier_column_names(), "geometry"]
    ]

    against = "reference" if previous_year is None else "previous"
    g1, g2 = GLACIERS[0], GLACIERS[1]
    lost = _box((g1[2][0], g1[2][1] + 150 * (k - 1), g1[2][2], g1[2][1] + 150 * k))
    gained = _box((g2[2][0], g2[2][1] - 100 * k, g2[2][2], g2[2][1] - 100 * (k - 1)))
    change = {
        "gained": [("G2", "Blåbreen", "gained", gained, 100.0, True)],
        "lost": [("G1", "Kongsbreen", "lost", lost, 150.0, True)],
        "fronts": [
            ("G1", "Kongsbreen", "retreat", lost, 150.0, True),
            ("G2", "Blåbreen", "advance", gained, 100.0, True),
        ],
        "disappeared": [],
    }
    if step:  # G6 existed the year before and is gone now
        change["disappeared"].append((GONE[0], GONE[1], "disappeared", _box(GONE[2]), None, False))
        change["lost"].append((GONE[0], GONE[1], "lost", _box(GONE[2]), 300.0, False))
    else:
        glaciers = _with_gone(glaciers, year)
    layers = {}
    for name in CHANGE_LAYERS:
        records = change[name]
        layers[name] = gpd.GeoDataFrame(
            {
                "glacier_id": [r[0] for r in records],
                "glac_name": [r[1] for r in records],
                "against": [against] * len(records),
                "kind": [r[2] for r in records],
                "area_km2": [r[3].area / 1e6 for r in records],
                "shift_m": [r[4] for r in records],
                "front": [r[5] for r in records],
            },
            geometry=[r[3] for r in records],
            crs=CRS,
        )[[*change_column_names(), "geometry"]]
    write_gpkg(folder / GLACIERS_GPKG, {GLACIERS_LAYER: glaciers})
    write_gpkg(folder / CHANGES_GPKG, layers)

    summary = {
        "region": region,
        "year": year,
        "previous_year": previous_year,
        "reference": "rgi70_sample.gpkg" if previous_year is None else None,
        "changed": True,
        "totals": {
            "glaciers": len(glaciers),
            "area_km2": float(glaciers["area_km2"].sum()),
            "change_km2": float(glaciers["change_km2"].sum()),
            "change_pct": -1.5,
            "fronts": 2,
            "new": 0,
            "split": 0,
            "disappeared": len(change["disappeared"]),
            "unchanged": int((glaciers["status"] == "unchanged").sum()),
            "retreated": 1,
            "advanced": 1,
            "mixed": 0,
        },
        "largest_changes": [],
        "fronts": [],
        "least_confident": [],
        "provenance": {
            "products": [f"S1A_IW_{year}07{d:02d}_RTC30" for d in range(1, 6)],
            "dates": [f"{year}-06-10", f"{year}-07-04", f"{year}-09-20"],
            "weights": "unet3d",
            "weights_sha256": "ab" * 32,
            "glaciermap_version": "0.1.0",
        },
        "outputs": [GLACIERS_GPKG, CHANGES_GPKG, SUMMARY_JSON],
    }
    (folder / SUMMARY_JSON).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _with_gone(glaciers: gpd.GeoDataFrame, year: int) -> gpd.GeoDataFrame:
    """Add G6, which exists in the first year only."""
    import pandas as pd

    row = glaciers.iloc[[3]].copy()
    geom = _box(GONE[2])
    row["glacier_id"], row["glac_name"] = GONE[0], GONE[1]
    row["area_km2"], row["change_km2"], row["change_pct"] = geom.area / 1e6, 0.0, 0.0
    row["mean_probability"], row["year"] = 0.7, year
    row = row.set_geometry([geom], crs=CRS)
    return gpd.GeoDataFrame(pd.concat([glaciers, row], ignore_index=True), crs=CRS)


def write_rasters(folder: Path) -> tuple[Path, Path]:
    """``probability.tif`` (high inside the glaciers, a gradient outside) and ``mask.tif``."""
    width, height = int(6000 / PIXEL), int(5400 / PIXEL)
    transform = from_origin(X0 - 200, Y0 + 5200, PIXEL, PIXEL)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    x = X0 - 200 + (cols + 0.5) * PIXEL
    y = Y0 + 5200 - (rows + 0.5) * PIXEL
    inside = np.zeros((height, width), bool)
    for _, _, bounds, _ in GLACIERS:
        minx, miny, maxx, maxy = bounds
        inside |= (x >= X0 + minx) & (x <= X0 + maxx) & (y >= Y0 + miny) & (y <= Y0 + maxy)
    probability = np.where(inside, 0.9, 0.1 + 0.3 * cols / width).astype("float32")
    probability[:5, :5] = np.nan
    mask = np.where(inside, 1, 0).astype("uint8")
    mask[:5, :5] = 255
    prob_path, mask_path = folder / "probability.tif", folder / "mask.tif"
    write_cog(prob_path, probability, crs=CRS, transform=transform, nodata=float("nan"))
    write_cog(mask_path, mask, crs=CRS, transform=transform, nodata=255)
    return prob_path, mask_path


def history(frames: dict[int, gpd.GeoDataFrame]) -> Any:
    """``update.history()``'s table from each year's glaciers (year -> frame)."""
    import pandas as pd

    columns = [
        "glacier_id",
        "glac_name",
        "year",
        "area_km2",
        "change_km2",
        "front_shift_m",
        "status",
    ]
    return pd.concat(
        [pd.DataFrame(frame[columns]) for _, frame in sorted(frames.items())], ignore_index=True
    )
