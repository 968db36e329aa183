"""The inventory contract: what one year's inventory update writes, and the columns other stages read.

``glaciermap run`` writes, per region and year, into ``<workspace>/inventory/<region>/<year>/``::

    glaciers.gpkg   layer "glaciers": the year's inventory, one feature per glacier (GLACIER_COLUMNS)
    changes.gpkg    layers "gained", "lost", "fronts", "disappeared" (CHANGE_COLUMNS), each row saying
                    whether it compares with the previous year or with the reference ("against")
    summary.json    the same figures for monitoring (SUMMARY_KEYS)
    report.html     one self-contained page (images embedded) for people
    item.json       the STAC Item of the year's outputs

and ``<workspace>/inventory/<region>/catalog.json``, the static STAC catalog of every year.

Glacier ids are stable from year to year: ``glacier_id`` comes from the previous year's inventory, or from
the reference inventory (RGI, NPI, GLIMS) on the first year. Column names follow RGI 7 where RGI 7 has
one (``glac_name``, ``area_km2``, ``cenlon``, ``cenlat``). This module holds names and types only: it
imports nothing beyond the standard library.
"""

from __future__ import annotations

GLACIERS_GPKG = "glaciers.gpkg"
GLACIERS_LAYER = "glaciers"
CHANGES_GPKG = "changes.gpkg"
CHANGE_LAYERS = ("gained", "lost", "fronts", "disappeared")
SUMMARY_JSON = "summary.json"
REPORT_HTML = "report.html"
STAC_ITEM = "item.json"
STAC_CATALOG = "catalog.json"

STATUSES = ("unchanged", "retreated", "advanced", "mixed", "new", "split", "disappeared")
"""``status`` of a glacier against the previous year (or the reference on the first year).

``mixed``: both a retreating and an advancing front were flagged (as ``glaciermap diff`` says it).
``split``: a part that broke off a glacier of the year before; it has a new id and ``parent_id``.
``disappeared`` glaciers are not in ``glaciers.gpkg`` (they have no outline this year): they are the
``disappeared`` layer of ``changes.gpkg``, with their last outline.
"""

AGAINST = ("previous", "reference")
"""Values of ``changes.gpkg``'s ``against`` column: the previous year's inventory, or the reference."""

GLACIER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("glacier_id", "str"),  # stable id: the reference's (RGI/NPI/GLIMS) or <PREFIX>-<year>-<nnnn>
    ("glac_name", "str|null"),  # the reference's name, kept
    ("parent_id", "str|null"),  # for a split part: the id of the glacier it broke off
    ("area_km2", "float"),
    ("perimeter_km", "float"),
    ("change_km2", "float|null"),  # against the previous year (the reference on the first year)
    ("change_pct", "float|null"),  # null for new glaciers and split parts
    ("status", "str"),  # one of STATUSES
    ("front_shift_m", "float"),  # the largest flagged front shift: < 0 retreat, > 0 advance, 0 none
    ("mean_probability", "float|null"),  # mean glacier probability inside the outline
    ("year", "int"),
    (
        "first_date",
        "str|null",
    ),  # ISO date of the first acquisition the model used (null: not given)
    ("last_date", "str|null"),  # ISO date of the last acquisition the model used
    ("n_acquisitions", "int"),  # acquisitions (slots with data) the model used
    ("model", "str"),  # the weights' name (e.g. unet3d)
    ("weights_sha256", "str"),
    ("cenlon", "float"),  # centroid, WGS 84 degrees (RGI 7)
    ("cenlat", "float"),
)
"""Columns of ``glaciers.gpkg`` (besides the geometry, in the region's CRS), in order, with types."""

CHANGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("glacier_id", "str"),
    ("glac_name", "str|null"),
    ("against", "str"),  # one of AGAINST
    ("kind", "str"),  # gained | lost | retreat | advance | disappeared
    ("area_km2", "float"),
    ("shift_m", "float|null"),  # widest inscribed circle of the patch (null for disappeared)
    ("front", "bool"),  # whether the patch is a flagged changed front
)
"""Columns of every ``changes.gpkg`` layer (besides the geometry)."""

SUMMARY_KEYS = (
    "region",  # region name
    "year",
    "previous_year",  # the year compared with, or null on the first year
    "reference",  # the reference inventory's file name, or null
    "changed",  # true when a glacier changed status or a front was flagged (run --on-change fires)
    "totals",  # {glaciers, area_km2, change_km2, change_pct, fronts, new, split, disappeared,
    #            unchanged, retreated, advanced, mixed}
    "largest_changes",  # the glaciers with the largest |change_km2|, rows of glaciers.gpkg's columns
    "fronts",  # flagged fronts: glacier_id, glac_name, kind, area_km2, shift_m, against
    "least_confident",  # the glaciers with the lowest mean_probability, to check by eye
    "provenance",  # {products, dates, weights, weights_sha256, glaciermap_version}
    "outputs",  # file names written, relative to the year's folder
)
"""Top-level keys of ``summary.json``."""


def glacier_column_names() -> tuple[str, ...]:
    """The names of :data:`GLACIER_COLUMNS`, in order."""
    return tuple(name for name, _ in GLACIER_COLUMNS)


def change_column_names() -> tuple[str, ...]:
    """The names of :data:`CHANGE_COLUMNS`, in order."""
    return tuple(name for name, _ in CHANGE_COLUMNS)


__all__ = [
    "AGAINST",
    "CHANGES_GPKG",
    "CHANGE_COLUMNS",
    "CHANGE_LAYERS",
    "GLACIERS_GPKG",
    "GLACIERS_LAYER",
    "GLACIER_COLUMNS",
    "REPORT_HTML",
    "STAC_CATALOG",
    "STAC_ITEM",
    "STATUSES",
    "SUMMARY_JSON",
    "SUMMARY_KEYS",
    "change_column_names",
    "glacier_column_names",
]
