"""``summary.json``: a year's inventory in figures, for monitoring and for ``run --on-change``.

:func:`write_summary` is a stage of its own: it reads ``glaciers.gpkg`` and ``changes.gpkg`` of the
year's folder and writes the keys of :data:`~glaciermap.inventory_format.SUMMARY_KEYS`, atomically.
Totals and ``changed`` are against the year's *baseline*: the previous year, or the reference on a first
year (its fronts and disappeared glaciers; those against the reference in later years are listed in
``fronts`` but do not make a year ``changed``, or every year would be).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glaciermap.inventory_format import (
    CHANGES_GPKG,
    GLACIERS_GPKG,
    GLACIERS_LAYER,
    SUMMARY_JSON,
    SUMMARY_KEYS,
    glacier_column_names,
)

log = logging.getLogger(__name__)

TOP_N = 10
"""Rows in ``largest_changes`` and ``least_confident``."""

# Area changes below a square metre are rounding of the overlay, not change, km².
_NO_CHANGE_KM2 = 1e-6

_FRONT_KEYS = ("glacier_id", "glac_name", "kind", "area_km2", "shift_m", "against")


def write_summary(
    out_dir: str | os.PathLike[str],
    *,
    region: str,
    year: int,
    previous_year: int | None = None,
    reference: str | os.PathLike[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    outputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Write ``out_dir/summary.json`` from the year's ``glaciers.gpkg`` and ``changes.gpkg``.

    Args:
        out_dir: the year's inventory folder.
        region: the region's name. year: the inventory's year.
        previous_year: the year the update compared with, or None on the first year.
        reference: the reference inventory (its file name is recorded), or None.
        provenance: JSON-ready ``{products, dates, weights, weights_sha256, glaciermap_version}``
            from the caller, written as given.
        outputs: more file names of the year's folder to list (e.g. ``report.html``); ``glaciers.gpkg``,
            ``changes.gpkg`` (when present) and ``summary.json`` are always listed.

    Returns:
        The summary written (keys in ``SUMMARY_KEYS`` order).

    Raises:
        InputError: ``glaciers.gpkg`` is missing or unreadable.
    """
    from glaciermap.io.files import atomic_output

    folder = Path(out_dir)
    summary = summarise(
        folder,
        region=region,
        year=year,
        previous_year=previous_year,
        reference=reference,
        provenance=provenance,
        outputs=outputs,
    )
    with atomic_output(folder / SUMMARY_JSON) as tmp:
        tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s (changed: %s)", folder / SUMMARY_JSON, summary["changed"])
    return summary


def summarise(
    folder: Path,
    *,
    region: str,
    year: int,
    previous_year: int | None,
    reference: str | os.PathLike[str] | None,
    provenance: Mapping[str, Any] | None,
    outputs: Sequence[str],
) -> dict[str, Any]:
    """The summary of :func:`write_summary`, without writing it."""
    import pandas as pd

    from glaciermap.errors import InputError
    from glaciermap.io.vector import list_layers, read_frame
    from glaciermap.update.tables import json_rows, json_value

    glaciers_path, changes_path = folder / GLACIERS_GPKG, folder / CHANGES_GPKG
    if not glaciers_path.is_file():
        raise InputError(f"{glaciers_path} does not exist", "run the inventory update first")
    glaciers = read_frame(glaciers_path, layer=GLACIERS_LAYER, read_geometry=False)
    layers = {name for name, _ in list_layers(changes_path)} if changes_path.is_file() else set()
    fronts, gone = (
        read_frame(changes_path, layer=name, read_geometry=False)
        if name in layers
        else pd.DataFrame(columns=list(_FRONT_KEYS))
        for name in ("fronts", "disappeared")
    )
    baseline = (
        "previous" if previous_year is not None else "reference" if reference is not None else None
    )
    fronts_now = fronts.loc[fronts["against"] == baseline]
    gone_now = gone.loc[gone["against"] == baseline]

    area = float(glaciers["area_km2"].sum())
    change: float | None = None
    change_pct: float | None = None
    if baseline is not None:
        # Per-glacier changes add up (a new id's change is its whole area); disappeared ice is lost.
        change = float(glaciers["change_km2"].sum()) - float(gone_now["area_km2"].sum())
        before = area - change
        change_pct = 100.0 * change / before if before > 0 else None
    counts = glaciers["status"].value_counts()
    totals: dict[str, Any] = {
        "glaciers": len(glaciers),
        "area_km2": json_value(area),
        "change_km2": json_value(change),
        "change_pct": json_value(change_pct),
        "fronts": len(fronts_now),
    }
    for status in ("new", "split", "disappeared", "unchanged", "retreated", "advanced", "mixed"):
        totals[status] = len(gone_now) if status == "disappeared" else int(counts.get(status, 0))

    columns = list(glacier_column_names())
    # Glaciers whose area did not change are not among the changes (nor are those without a baseline).
    changed_rows = glaciers.loc[glaciers["change_km2"].abs() > _NO_CHANGE_KM2]
    largest = changed_rows.assign(_size=changed_rows["change_km2"].abs()).sort_values(
        ["_size", "glacier_id"], ascending=[False, True], kind="stable"
    )
    confident = glaciers.loc[glaciers["mean_probability"].notna()].sort_values(
        ["mean_probability", "glacier_id"], kind="stable"
    )
    listed_fronts = fronts.assign(_size=fronts["shift_m"].abs()).sort_values(
        ["against", "_size", "glacier_id"], ascending=[True, False, True], kind="stable"
    )
    written = [GLACIERS_GPKG, *([CHANGES_GPKG] if changes_path.is_file() else []), SUMMARY_JSON]
    summary = {
        "region": region,
        "year": int(year),
        "previous_year": None if previous_year is None else int(previous_year),
        "reference": None if reference is None else Path(reference).name,
        "changed": bool(
            (glaciers["status"] != "unchanged").any() or len(gone_now) or len(fronts_now)
        ),
        "totals": totals,
        "largest_changes": json_rows(largest.head(TOP_N), columns),
        "fronts": json_rows(listed_fronts, _FRONT_KEYS),
        "least_confident": json_rows(confident.head(TOP_N), columns),
        "provenance": dict(provenance or {}),
        "outputs": [*written, *(o for o in outputs if o not in written)],
    }
    assert tuple(summary) == SUMMARY_KEYS
    return summary
