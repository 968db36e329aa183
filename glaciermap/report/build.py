"""Building the year's report: read the inventory update, draw the figures, assemble the page, write it.

Sections, in order: headline figures, the change map, the largest changes, the flagged fronts, the least
confident outlines (each with a thumbnail over its probability window), each glacier's area across the
workspace's years, and provenance. The page is written atomically and only when its bytes change, so a
repeated run leaves ``report.html`` untouched.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.errors import InputError
from glaciermap.inventory_format import GLACIERS_GPKG, REPORT_HTML
from glaciermap.report import page
from glaciermap.report.page import Cell
from glaciermap.update.timeline import HISTORY_COLUMNS  # the history table's columns

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from glaciermap.inventory_read import YearOutputs
    from glaciermap.io.raster import DatasetReader

log = logging.getLogger(__name__)

LARGEST_CHANGES = 10
"""Rows of the largest-changes table (by |change_km2|)."""
LEAST_CONFIDENT = 6
"""Outlines shown to check by eye (lowest mean_probability first)."""
MAX_FRONT_ROWS = 30
"""Rows of the fronts table; the rest are counted and left to changes.gpkg."""
MAP_LABELS = 12
"""Glaciers named on the change map (those of the tables first)."""


def write_report(
    year_dir: str | Path,
    *,
    region: str,
    year: int,
    history: pd.DataFrame | None = None,
    probability: str | Path | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``report.html`` of one year's inventory update into ``year_dir``.

    Args:
        year_dir: the year's inventory folder (``glaciers.gpkg``, ``changes.gpkg``, ``summary.json``).
        region, year: what the folder holds (checked against ``summary.json``).
        history: every year's rows (columns :data:`HISTORY_COLUMNS`), for the area plot; None: this
            year's glaciers only (the page then says that there is one year).
        probability: the year's ``probability.tif``, drawn under the least confident outlines.
        overwrite: replace an existing report; False refuses with an :class:`InputError`.

    Returns:
        The path of ``report.html`` (unchanged on disk when the page is the same).
    """
    from glaciermap.inventory_read import read_year
    from glaciermap.io.files import atomic_output

    year_dir = Path(year_dir)
    target = year_dir / REPORT_HTML
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists", "pass --overwrite to replace it")
    outputs = read_year(year_dir)
    _check_identity(outputs, region=region, year=year)
    data = render_report(
        outputs, region=region, year=year, history=history, probability=probability
    ).encode("utf-8")
    if target.is_file() and target.read_bytes() == data:
        log.info("report %s unchanged", target)
        return target
    with atomic_output(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    log.info("wrote report %s (%d kB)", target, len(data) // 1024)
    return target


def _check_identity(outputs: YearOutputs, *, region: str, year: int) -> None:
    """Refuse a folder whose summary names another region or year."""
    for key, expected in (("region", region), ("year", year)):
        found = outputs.summary.get(key)
        if found is not None and str(found) != str(expected):
            raise InputError(
                f"{outputs.folder} holds {key} {found}, not {expected}",
                "give the inventory folder of the region and year asked for",
            )


def render_report(
    outputs: YearOutputs,
    *,
    region: str,
    year: int,
    history: pd.DataFrame | None = None,
    probability: str | Path | None = None,
) -> str:
    """The report's HTML for ``outputs`` (see :func:`write_report`)."""
    from glaciermap.io.raster import open_raster
    from glaciermap.report import figures

    largest = _largest_changes(outputs)
    fronts = _sorted_fronts(outputs)
    least = _least_confident(outputs)
    labelled = [
        str(i) for i in [*largest["glacier_id"], *fronts["glacier_id"], *least["glacier_id"]]
    ]
    layers = figures.change_layers(
        outputs,
        previous=_previous_outlines(outputs),
        label_ids=list(dict.fromkeys(labelled))[:MAP_LABELS],
    )
    map_uri = figures.data_uri(figures.change_map(layers, title=f"{region} {year}: changes"))

    if probability is not None:
        with open_raster(probability) as src:
            least_section = _least_confident_section(least, outputs, src)
    else:
        least_section = _least_confident_section(least, outputs, None)

    sections = [
        page.cards(_headline(outputs)),
        page.section(
            "Change map",
            page.figure(map_uri, f"map of the changes of {region} {year}", _map_caption(outputs)),
            section_id="map",
        ),
        _largest_changes_section(largest),
        _fronts_section(fronts),
        least_section,
        _history_section(history, outputs, year=year),
        page.section("Provenance", _provenance(outputs), section_id="provenance"),
    ]
    version = outputs.provenance.get("glaciermap_version")
    return page.page(
        title=f"Glacier inventory {region} {year}",
        subtitle=_subtitle(outputs),
        sections=sections,
        footer=f"glaciermap {version or ''}".strip() + f" · inventory update of {region} {year}",
    )


# --- data ---------------------------------------------------------------------------------------------


def _previous_outlines(outputs: YearOutputs) -> gpd.GeoDataFrame | None:
    """Last year's outlines, from the sibling folder, when the year before is on disk."""
    from glaciermap.inventory_read import read_glaciers

    previous = outputs.previous_year
    if previous is None or not (outputs.folder.parent / str(previous) / GLACIERS_GPKG).is_file():
        return None
    return read_glaciers(outputs.folder.parent / str(previous))


def _largest_changes(outputs: YearOutputs) -> pd.DataFrame:
    """The glaciers (and disappeared glaciers) with the largest |change_km2|, largest first."""
    import pandas as pd

    glaciers = pd.DataFrame(outputs.glaciers.drop(columns="geometry"))
    gone = outputs.changes["disappeared"]
    # The same baseline as the glaciers' change_km2: the previous year, else the reference (a
    # glacier gone since the reference but already absent last year did not disappear this year).
    against = "previous" if outputs.previous_year is not None else "reference"
    if "against" in gone.columns:
        gone = gone.loc[gone["against"] == against]
    if len(gone):
        gone_rows = pd.DataFrame(
            {
                "glacier_id": gone["glacier_id"].to_numpy(),
                "glac_name": gone["glac_name"].to_numpy(),
                "status": "disappeared",
                "area_km2": 0.0,
                "change_km2": -gone["area_km2"].astype(float).to_numpy(),
                "change_pct": -100.0,
                "front_shift_m": math.nan,
            }
        )
        glaciers = pd.concat([glaciers, gone_rows], ignore_index=True)
    change = pd.to_numeric(glaciers["change_km2"], errors="coerce")
    glaciers = glaciers.loc[change.notna() & (change != 0)]
    order = change.loc[glaciers.index].abs().sort_values(ascending=False, kind="stable").index
    return glaciers.loc[order].head(LARGEST_CHANGES)


def _sorted_fronts(outputs: YearOutputs) -> pd.DataFrame:
    """Flagged fronts, the largest shift first."""
    import pandas as pd

    fronts = pd.DataFrame(outputs.changes["fronts"].drop(columns="geometry"))
    if not len(fronts):
        return fronts
    shift = pd.to_numeric(fronts["shift_m"], errors="coerce").abs().fillna(-1.0)
    return fronts.loc[shift.sort_values(ascending=False, kind="stable").index]


def _least_confident(outputs: YearOutputs) -> gpd.GeoDataFrame:
    """The outlines with the lowest mean probability, lowest first."""
    import pandas as pd

    glaciers = outputs.glaciers
    p = pd.to_numeric(glaciers["mean_probability"], errors="coerce")
    order = p.dropna().sort_values(kind="stable").index
    return glaciers.loc[order].head(LEAST_CONFIDENT)


# --- sections -----------------------------------------------------------------------------------------


def _totals(outputs: YearOutputs) -> dict[str, Any]:
    """``summary.json``'s totals, completed from the files where a key is missing."""
    totals = dict(outputs.summary.get("totals") or {})
    glaciers = outputs.glaciers
    totals.setdefault("glaciers", len(glaciers))
    totals.setdefault("area_km2", float(glaciers["area_km2"].sum()))
    totals.setdefault("fronts", len(outputs.changes["fronts"]))
    totals.setdefault("disappeared", len(outputs.changes["disappeared"]))
    for status, count in glaciers["status"].value_counts().items():
        totals.setdefault(str(status), int(count))
    return totals


def _headline(outputs: YearOutputs) -> list[tuple[str, str]]:
    totals = _totals(outputs)
    items = [
        (page.esc(totals["glaciers"]), "glaciers"),
        (page.number(totals["area_km2"]), "km² of ice"),
    ]
    if totals.get("change_km2") is not None:
        pct = totals.get("change_pct")
        suffix = f" ({page.number(pct, 1, signed=True)} %)" if pct is not None else ""
        items.append((page.number(totals["change_km2"], signed=True) + suffix, "km² change"))
    items.append((page.esc(totals["fronts"]), "flagged fronts"))
    for status in ("retreated", "advanced", "mixed", "new", "split", "disappeared"):
        if totals.get(status):
            items.append((page.esc(totals[status]), status))
    return items


def _subtitle(outputs: YearOutputs) -> str:
    summary = outputs.summary
    if outputs.previous_year is not None:
        return f"Compared with {outputs.previous_year}."
    if summary.get("reference"):
        return f"First year, compared with the reference inventory {summary['reference']}."
    return "First year: nothing to compare with."


def _map_caption(outputs: YearOutputs) -> str:
    against = (
        f"the {outputs.previous_year} outlines"
        if outputs.previous_year is not None
        else "the reference inventory"
    )
    return (
        f"This year's outlines (dashed green), ice lost (red) and gained (blue) against {against}, "
        "flagged fronts hatched, disappeared glaciers dotted; names of the glaciers in the tables."
    )


def _largest_changes_section(largest: pd.DataFrame) -> str:
    if not len(largest):
        body = page.note("No glacier changed area.")
    else:
        rows = [
            [
                Cell.text(r["glacier_id"]),
                Cell.text(r["glac_name"]),
                Cell.text(r["status"]),
                Cell.num(r["area_km2"], 3),
                Cell.num(r["change_km2"], 3, signed=True),
                Cell.num(r.get("change_pct"), 1, signed=True),
                Cell.num(r.get("front_shift_m"), 0, signed=True),
            ]
            for _, r in largest.iterrows()
        ]
        body = page.table(
            ["id", "name", "status", "area km²", "change km²", "change %", "front shift m"],
            rows,
            table_id="largest-changes",
        )
    return page.section("Largest changes", body, section_id="changes")


def _fronts_section(fronts: pd.DataFrame) -> str:
    if not len(fronts):
        return page.section("Flagged fronts", page.note("No front flagged."), section_id="fronts")
    rows = [
        [
            Cell.text(r["glacier_id"]),
            Cell.text(r["glac_name"]),
            Cell.text(r["kind"]),
            Cell.num(r["area_km2"], 3),
            Cell.num(r["shift_m"], 0),
            Cell.text(r["against"]),
        ]
        for _, r in fronts.head(MAX_FRONT_ROWS).iterrows()
    ]
    body = page.table(
        ["id", "name", "kind", "area km²", "shift m", "against"], rows, table_id="fronts-table"
    )
    if len(fronts) > MAX_FRONT_ROWS:
        body += page.note(f"{len(fronts) - MAX_FRONT_ROWS} more fronts in changes.gpkg.")
    return page.section("Flagged fronts", body, section_id="fronts")


def _least_confident_section(
    least: gpd.GeoDataFrame, outputs: YearOutputs, probability: DatasetReader | None
) -> str:
    from glaciermap.report import figures

    if not len(least):
        body = page.note("No outline has a mean probability.")
    else:
        rows = []
        for _, r in least.iterrows():
            png = figures.outline_thumbnail(
                r.geometry, probability=probability, crs=outputs.glaciers.crs
            )
            label = figures.glacier_label(r["glacier_id"], r["glac_name"])
            rows.append(
                [
                    Cell.image(figures.data_uri(png), f"outline of {label}"),
                    Cell.text(r["glacier_id"]),
                    Cell.text(r["glac_name"]),
                    Cell.num(r["mean_probability"], 3),
                    Cell.num(r["area_km2"], 3),
                    Cell.text(r["status"]),
                ]
            )
        what = " over the probability (0 purple to 1 yellow)" if probability is not None else ""
        body = page.note(
            f"The outlines the model was least sure of, to check by eye: red line{what}."
        ) + page.table(
            ["outline", "id", "name", "mean probability", "area km²", "status"],
            rows,
            table_id="least-confident",
        )
    return page.section("Least confident outlines", body, section_id="least-confident")


def _history_section(history: pd.DataFrame | None, outputs: YearOutputs, *, year: int) -> str:
    import pandas as pd

    from glaciermap.report import figures

    if history is None:
        glaciers = outputs.glaciers
        history = pd.DataFrame({c: glaciers[c] for c in HISTORY_COLUMNS if c in glaciers.columns})
        history["year"] = year
    missing = [c for c in ("glacier_id", "glac_name", "year", "area_km2") if c not in history]
    if missing:
        raise ValueError(f"history lacks columns {missing}")
    years = sorted(int(y) for y in history["year"].dropna().unique())
    if len(years) < 2:
        only = years[0] if years else year
        body = page.note(
            f"Only one year ({only}) in the workspace: the area history starts with next year's run."
        )
        return page.section("Area across the years", body, section_id="history")

    highlight = [str(i) for i in _largest_changes(outputs)["glacier_id"]]
    uri = figures.data_uri(figures.history_plot(history, highlight=highlight))
    body = page.figure(
        uri,
        "glacier area across the years",
        f"{len(years)} years ({years[0]}–{years[-1]}); in colour the glaciers of the largest "
        "changes, every other glacier in grey.",
    )
    table = history.pivot_table(
        index="glacier_id", columns="year", values="area_km2", aggfunc="first"
    ).reindex(columns=years)
    names = history.dropna(subset=["glac_name"]).groupby("glacier_id")["glac_name"].last()
    rows = [
        [Cell.text(glacier_id), Cell.text(names.get(glacier_id))]
        + [Cell.num(table.at[glacier_id, y], 3) for y in years]
        for glacier_id in table.index
    ]
    body += (
        f"<details><summary>Area of each glacier per year, km² ({len(rows)} glaciers)</summary>"
        + page.table(["id", "name", *map(str, years)], rows, table_id="area-per-year")
        + "</details>"
    )
    return page.section("Area across the years", body, section_id="history")


def _provenance(outputs: YearOutputs) -> str:
    from glaciermap.inventory_read import acquisition_dates

    summary, provenance = outputs.summary, outputs.provenance
    dates = acquisition_dates(provenance)
    entries: list[tuple[str, Any]] = [
        ("region", summary.get("region")),
        ("year", summary.get("year")),
        ("compared with", outputs.previous_year or summary.get("reference")),
        ("reference inventory", summary.get("reference")),
    ]
    if dates:
        entries.append(("acquisitions", f"{dates[0]} to {dates[-1]} ({len(set(dates))} dates)"))
    order = ("products", "dates", "weights", "weights_sha256", "glaciermap_version")
    entries += [(key, provenance[key]) for key in order if key in provenance]
    entries += [(key, value) for key, value in provenance.items() if key not in order]
    return page.provenance_list(entries)


__all__ = ["HISTORY_COLUMNS", "render_report", "write_report"]
