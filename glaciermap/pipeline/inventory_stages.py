"""The last three stages of ``glaciermap run``: the inventory update, its changes, and the report.

* ``update`` writes ``glaciers.gpkg`` (:func:`glaciermap.update.update_glaciers`): this year's outlines
  with ids carried over from the previous year's inventory, or from the reference on the first year.
* ``diff`` writes ``changes.gpkg`` (against the previous year and the reference) and ``summary.json``
  with the run's provenance (:func:`~glaciermap.update.write_changes`,
  :func:`~glaciermap.update.write_summary`); ``--on-change`` fires after it.
* ``report`` writes ``report.html``, the year's STAC ``item.json`` and the region's ``catalog.json``.

The previous year is the latest year before this one that holds an inventory in the workspace, so a
region can skip a year (no products) and a backfilled year compares with the one before it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glaciermap import __version__
from glaciermap.inventory_format import (
    CHANGES_GPKG,
    GLACIERS_GPKG,
    REPORT_HTML,
    STAC_CATALOG,
    STAC_ITEM,
    SUMMARY_JSON,
)
from glaciermap.pipeline.context import PREDICT_RECORD_NAME, RunContext


def previous_year(ctx: RunContext) -> int | None:
    """The latest year before the run's that holds an inventory, or None (a first year)."""
    earlier = [y for y in ctx.workspace.inventory_years(ctx.region.name) if y < ctx.year]
    return earlier[-1] if earlier else None


def previous_inventory(ctx: RunContext) -> Path | None:
    """That year's ``glaciers.gpkg``, or None."""
    year = previous_year(ctx)
    if year is None:
        return None
    return ctx.workspace.inventory_dir(ctx.region.name, year) / GLACIERS_GPKG


def _baselines(ctx: RunContext) -> dict[str, Any]:
    previous = previous_inventory(ctx)
    return {
        "previous": ctx.identity(previous) if previous is not None else None,
        "reference": ctx.identity(ctx.reference) if ctx.reference is not None else None,
    }


def _model_dates(ctx: RunContext) -> list[str]:
    """The acquisition dates the model used (predict.json's record), ISO."""
    record = json.loads((ctx.prediction_dir / PREDICT_RECORD_NAME).read_text(encoding="utf-8"))
    return [str(d) for d in record.get("dates", [])]


# ----------------------------------------------------------------------------------------------------
# update


def update_inputs(ctx: RunContext) -> Mapping[str, Any]:
    return {
        "outlines": ctx.identity(ctx.outlines_path),
        "probability": ctx.identity(ctx.probability_path),
        "record": ctx.identity(ctx.prediction_dir / PREDICT_RECORD_NAME),
        **_baselines(ctx),
        "weights": ctx.weights_identity(),
        "min_area_km2": ctx.options.min_area_km2,
        "version": __version__,
    }


def update_run(ctx: RunContext) -> None:
    from glaciermap.update import update_glaciers

    previous = previous_inventory(ctx)
    result = update_glaciers(
        ctx.outlines_path,
        ctx.probability_path,
        ctx.inventory_dir,
        region=ctx.region,
        year=ctx.year,
        previous=previous,
        reference=ctx.reference if previous is None else None,
        dates=_model_dates(ctx),
        model=ctx.model_name,
        weights_sha256=ctx.weights_identity()["tensors"],
        min_area_km2=ctx.options.min_area_km2,
    )
    counts = ", ".join(f"{n} {s}" for s, n in result.status_counts().items() if n)
    baseline = f"ids from {previous or ctx.reference or 'none (a first year without reference)'}"
    ctx.log.info(f"update: {len(result.glaciers)} glacier(s) ({counts or 'none'}); {baseline}")


def update_outputs(ctx: RunContext) -> Sequence[Path]:
    return [ctx.inventory_dir / GLACIERS_GPKG]


# ----------------------------------------------------------------------------------------------------
# diff: changes.gpkg and summary.json


def diff_inputs(ctx: RunContext) -> Mapping[str, Any]:
    from glaciermap.stack_format import STACK_JSON

    return {
        "glaciers": ctx.identity(ctx.inventory_dir / GLACIERS_GPKG),
        **_baselines(ctx),
        "stack": ctx.identity(ctx.stack_dir / STACK_JSON),  # provenance: products, inputs hash
        "record": ctx.identity(ctx.prediction_dir / PREDICT_RECORD_NAME),
        "version": __version__,
    }


def provenance(ctx: RunContext) -> dict[str, Any]:
    """Where the year's inventory came from: products, dates, weights, versions.

    Content only (names, dates, digests): a rerun that rewrote identical files gives the same
    provenance, so the summary and the report do not change with file times.
    """
    products = sorted(
        p.name.removesuffix(".zip")
        for p in ctx.raw_dir.iterdir()
        if not p.name.startswith(".") and p.name != "truth"
    )
    return {
        "products": products,
        "dates": _model_dates(ctx),
        "weights": ctx.model_name,
        "weights_sha256": ctx.weights_identity()["tensors"],
        "glaciermap_version": __version__,
    }


def diff_run(ctx: RunContext) -> None:
    from glaciermap.update import write_changes, write_summary

    previous = previous_inventory(ctx)
    write_changes(ctx.inventory_dir, region=ctx.region, previous=previous, reference=ctx.reference)
    summary = write_summary(
        ctx.inventory_dir,
        region=ctx.region.name,
        year=ctx.year,
        previous_year=previous_year(ctx),
        reference=ctx.reference,
        provenance=provenance(ctx),
        outputs=(REPORT_HTML, STAC_ITEM),
    )
    totals = summary["totals"]
    ctx.log.info(
        f"diff: {totals.get('glaciers')} glacier(s), {totals.get('fronts')} front(s) flagged, "
        f"changed: {str(summary['changed']).lower()} -> {ctx.inventory_dir / CHANGES_GPKG}"
    )


def diff_outputs(ctx: RunContext) -> Sequence[Path]:
    return [ctx.inventory_dir / CHANGES_GPKG, ctx.summary_path]


# ----------------------------------------------------------------------------------------------------
# report: report.html, item.json, catalog.json


def _inventory_files(ctx: RunContext) -> list[Any]:
    """Every year's glaciers.gpkg of the region: the report's area history reads them all."""
    root = ctx.workspace
    return [
        ctx.identity(root.inventory_dir(ctx.region.name, y) / GLACIERS_GPKG)
        for y in root.inventory_years(ctx.region.name)
    ]


def report_inputs(ctx: RunContext) -> Mapping[str, Any]:
    folder = ctx.inventory_dir
    return {
        "summary": ctx.identity(folder / SUMMARY_JSON),
        "changes": ctx.identity(folder / CHANGES_GPKG),
        "years": _inventory_files(ctx),
        "probability": ctx.identity(ctx.probability_path),
        "mask": ctx.identity(ctx.mask_path),
        "version": __version__,
    }


def report_run(ctx: RunContext) -> None:
    from glaciermap.report import write_report
    from glaciermap.stac import update_catalog, write_stac_item
    from glaciermap.update import history

    rows = history(ctx.workspace, ctx.region.name)
    page = write_report(
        ctx.inventory_dir,
        region=ctx.region.name,
        year=ctx.year,
        history=rows if rows["year"].nunique() > 1 else None,
        probability=ctx.probability_path,
    )
    write_stac_item(
        ctx.inventory_dir,
        region=ctx.region.name,
        year=ctx.year,
        crs=ctx.region.crs,
        probability=ctx.probability_path,
        mask=ctx.mask_path,
    )
    catalog = update_catalog(ctx.workspace.inventory_root(ctx.region.name), region=ctx.region.name)
    ctx.log.info(f"report: {page}; STAC catalog {catalog}")


def report_outputs(ctx: RunContext) -> Sequence[Path]:
    return [
        ctx.inventory_dir / REPORT_HTML,
        ctx.inventory_dir / STAC_ITEM,
        ctx.workspace.inventory_root(ctx.region.name) / STAC_CATALOG,
    ]


__all__ = [
    "diff_inputs",
    "diff_outputs",
    "diff_run",
    "previous_inventory",
    "previous_year",
    "provenance",
    "report_inputs",
    "report_outputs",
    "report_run",
    "update_inputs",
    "update_outputs",
    "update_run",
]
