"""The year's report: content, escaping, embedded images, rewriting, and the page in a real browser."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakes.inventory import HOSTILE_NAME, history, write_rasters, write_year

from glaciermap.errors import InputError
from glaciermap.inventory_read import read_glaciers
from glaciermap.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Tables (by id: rows of cell texts), image sources and tag names of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.tags: set[str] = set()
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attributes.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _body(table: list[list[str]]) -> list[list[str]]:
    return table[1:]  # the first row is the header


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """Two years of the example region, the second with its probability and mask rasters."""
    root = tmp_path_factory.mktemp("ws")
    inventory = root / "inventory" / "example"
    write_year(inventory / "2020", year=2020, previous_year=None)
    write_year(inventory / "2021", year=2021, previous_year=2020)
    predictions = root / "predictions" / "example" / "2021" / "unet3d"
    predictions.mkdir(parents=True)
    probability, mask = write_rasters(predictions)
    return {
        "root": root,
        "inventory": inventory,
        "probability": probability,
        "mask": mask,
    }


@pytest.fixture(scope="module")
def report(workspace) -> Path:
    """The 2021 report, with both years' history and the probability raster."""
    inventory = workspace["inventory"]
    rows = history({y: read_glaciers(inventory / str(y)) for y in (2020, 2021)})
    return write_report(
        inventory / "2021",
        region="example",
        year=2021,
        history=rows,
        probability=workspace["probability"],
    )


def test_report_tables_hold_the_expected_glaciers(report: Path) -> None:
    page = _parse(report)
    largest = _body(page.tables["largest-changes"])
    # G1 lost 0.3 km², G2 gained 0.1 km², G6 (0.09 km²) disappeared; the others did not change.
    assert [row[0] for row in largest] == ["G1", "G2", "G6"]
    assert largest[0][1:3] == ["Kongsbreen", "retreated"]
    assert largest[2][2] == "disappeared"
    assert float(largest[0][4]) == pytest.approx(-0.3)

    fronts = _body(page.tables["fronts-table"])
    assert [(row[0], row[2], row[5]) for row in fronts] == [
        ("G1", "retreat", "previous"),
        ("G2", "advance", "previous"),
    ]

    least = _body(page.tables["least-confident"])
    # Lowest mean probability first: G3 0.47, G4 0.52, G5 0.61, then G2, G1 (five glaciers in 2021).
    assert [row[1] for row in least] == ["G3", "G4", "G5", "G2", "G1"]
    assert least[0][2] == HOSTILE_NAME  # the name reads back as it was, once unescaped
    assert [float(row[3]) for row in least[:3]] == [0.47, 0.52, 0.61]

    per_year = page.tables["area-per-year"]
    assert per_year[0] == ["id", "name", "2020", "2021"]
    rows = {row[0]: row for row in _body(per_year)}
    assert rows["G6"][3] == "—"  # gone in 2021
    assert float(rows["G1"][2]) == pytest.approx(5.7) and float(rows["G1"][3]) == pytest.approx(5.4)

    text = report.read_text(encoding="utf-8")
    assert "Compared with 2020." in text
    assert "ab" * 32 in text  # the weights' sha256, from the provenance
    assert "unet3d" in text and "0.1.0" in text
    assert "2021-06-10 to 2021-09-20" in text


def test_report_escapes_names_from_the_data(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert HOSTILE_NAME not in text
    assert html.escape(HOSTILE_NAME, quote=True) in text
    page = _parse(report)
    assert "script" not in page.tags  # no script at all, hostile or ours
    # The only images are ours: the hostile <img src=x> is text.
    assert all(src.startswith("data:image/png;base64,") for src in page.images)


def test_report_embeds_every_image(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    page = _parse(report)
    # The map, the history plot and one thumbnail per least confident outline (5 glaciers).
    assert len(page.images) == 1 + 1 + 5
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    for outside in ('src="http', "src='http", 'href="http', "file:", "url(", "<link", "@import"):
        assert outside not in text, outside
    assert "link" not in page.tags


def test_one_year_says_so_instead_of_a_plot(workspace) -> None:
    path = write_report(workspace["inventory"] / "2020", region="example", year=2020)
    text = path.read_text(encoding="utf-8")
    page = _parse(path)
    assert "Only one year (2020) in the workspace" in text
    assert "area-per-year" not in page.tables
    # The map and six thumbnails (G6 still exists in 2020), no history plot; no raster given, so
    # the thumbnails show the outline alone.
    assert len(page.images) == 1 + 6
    assert "First year, compared with the reference inventory rgi70_sample.gpkg." in text
    assert [row[0] for row in _body(page.tables["fronts-table"])] == ["G1", "G2"]
    assert {row[5] for row in _body(page.tables["fronts-table"])} == {"reference"}


def test_an_unchanged_report_is_not_rewritten(workspace, report: Path) -> None:
    inventory = workspace["inventory"]
    before = report.read_bytes()
    mtime = report.stat().st_mtime_ns
    rows = history({y: read_glaciers(inventory / str(y)) for y in (2020, 2021)})
    time.sleep(0.01)
    again = write_report(
        inventory / "2021",
        region="example",
        year=2021,
        history=rows,
        probability=workspace["probability"],
    )
    assert again == report
    assert report.read_bytes() == before
    assert report.stat().st_mtime_ns == mtime
    with pytest.raises(InputError, match="already exists"):
        write_report(inventory / "2021", region="example", year=2021, overwrite=False)
    assert not [p.name for p in report.parent.iterdir() if ".partial" in p.name]


def test_report_refuses_another_year_or_a_missing_folder(workspace, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds year 2021, not 2020"):
        write_report(workspace["inventory"] / "2021", region="example", year=2020)
    with pytest.raises(InputError, match="not found"):
        write_report(tmp_path / "nothing", region="example", year=2020)
    assert not (workspace["inventory"] / "2021" / "report.html.partial").exists()


def test_report_without_a_summary_is_bad_input(tmp_path: Path) -> None:
    folder = tmp_path / "2020"
    write_year(folder, year=2020, previous_year=None)
    (folder / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"summary\.json is not valid JSON"):
        write_report(folder, region="example", year=2020)
    assert not (folder / "report.html").exists()


def test_a_year_without_glaciers_renders(tmp_path: Path) -> None:
    from glaciermap.io.vector import write_gpkg

    folder = tmp_path / "2021"
    write_year(folder, year=2021, previous_year=2020)
    write_gpkg(folder / "glaciers.gpkg", {"glaciers": read_glaciers(folder).iloc[:0]})
    page = _parse(write_report(folder, region="example", year=2021))
    assert [row[0] for row in _body(page.tables["largest-changes"])] == ["G6"]
    assert "least-confident" not in page.tables
    assert len(page.images) == 1  # the map


def test_importing_the_report_and_stac_modules_is_light() -> None:
    """``glaciermap run --help`` may import them: the heavy libraries load only when drawing."""
    code = (
        "import sys, glaciermap.report, glaciermap.stac, glaciermap.inventory_read; "
        "print(sorted({'geopandas', 'matplotlib', 'rasterio', 'pystac', 'torch'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- the page in a real browser -------------------------------------------------------------------

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and os.access(p, os.X_OK)),
    None,
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)

# Appended to a copy of the page (the report itself has no script): after the load event, write what
# the browser sees into the DOM, which --dump-dom prints.
_PROBE = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const result = {
    images: images.length,
    broken: images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.alt),
    widths: images.map((i) => i.naturalWidth),
    tables: Array.from(document.querySelectorAll("table")).map((t) => [t.id, t.rows.length]),
    scripts: document.scripts.length - 1,
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>
"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    return subprocess.run(
        [CHROMIUM or "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(
        report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8"
    )
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"the probe did not run: {dom.stdout[-500:]} {dom.stderr[-1000:]}"
    seen = json.loads(html.unescape(match.group(1)))
    assert seen["images"] == 7
    assert seen["broken"] == []
    assert min(seen["widths"]) > 0
    assert seen["scripts"] == 0  # none besides the probe: the hostile name stayed text
    tables = dict(seen["tables"])
    assert tables["largest-changes"] == 1 + 3
    assert tables["fronts-table"] == 1 + 2
    assert tables["least-confident"] == 1 + 5
    assert tables["area-per-year"] == 1 + 6

    screenshot = tmp_path / "report.png"
    shot = _chromium(
        tmp_path, f"--screenshot={screenshot}", "--window-size=1280,2400", report.as_uri()
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == PNG_MAGIC
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one
    if os.environ.get("GLACIERMAP_KEEP_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["GLACIERMAP_KEEP_SCREENSHOT"])


def test_a_glacier_gone_since_the_reference_only_is_not_this_year_s_change(
    workspace, tmp_path: Path
) -> None:
    """In a later year, changes.gpkg also lists what disappeared since the *reference*; the largest
    changes compare with the previous year, like the map and change_km2."""
    import geopandas as gpd
    import shapely

    from glaciermap.inventory_format import CHANGE_LAYERS, CHANGES_GPKG
    from glaciermap.io.vector import write_gpkg

    year_dir = tmp_path / "inventory" / "example" / "2021"
    shutil.copytree(workspace["inventory"] / "2021", year_dir)
    shutil.copytree(workspace["inventory"] / "2020", year_dir.parent / "2020")
    changes = year_dir / CHANGES_GPKG
    layers = {name: gpd.read_file(changes, layer=name) for name in CHANGE_LAYERS}
    old = layers["disappeared"]
    gone_long_ago = gpd.GeoDataFrame(
        {
            "glacier_id": ["G9"],
            "glac_name": ["Gammelbreen"],
            "against": ["reference"],
            "kind": ["disappeared"],
            "area_km2": [2.5],  # larger than any change this year
            "shift_m": [None],
            "front": [False],
        },
        geometry=[shapely.box(0, 0, 100, 100)],
        crs=old.crs,
    )
    layers["disappeared"] = gpd.GeoDataFrame(
        pd_concat([old, gone_long_ago]), geometry="geometry", crs=old.crs
    )
    write_gpkg(changes, layers)
    page = write_report(year_dir, region="example", year=2021)
    largest = _body(_parse(page).tables["largest-changes"])
    assert "G9" not in [row[0] for row in largest]
    assert [row[0] for row in largest] == ["G1", "G2", "G6"]


def pd_concat(frames):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)
