"""The year's report: one self-contained HTML page for people, beside the inventory update's files.

* :mod:`.build`: :func:`write_report` reads the year's ``glaciers.gpkg``, ``changes.gpkg`` and
  ``summary.json`` and writes ``report.html`` (sections, data, writing).
* :mod:`.figures`: the images (change map through :mod:`glaciermap.diff_plot`, thumbnails over the
  probability, the area history) as PNG bytes and data URIs.
* :mod:`.page`: the HTML itself (CSS, tables, escaping of every data value).

Importing this package loads no geopandas, rasterio or matplotlib: they are imported when a report
is drawn.
"""

from glaciermap.report.build import HISTORY_COLUMNS, render_report, write_report

__all__ = ["HISTORY_COLUMNS", "render_report", "write_report"]
