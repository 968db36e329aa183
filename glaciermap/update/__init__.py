"""The annual inventory update: this year's outlines become a glacier inventory with stable ids.

Three stages, each reading files and writing its own atomically into ``inventory/<region>/<year>/``
(see :mod:`glaciermap.inventory_format`), so a pipeline can stamp and restart them one by one:

* :func:`update_glaciers` (``glaciers.py``) -> ``glaciers.gpkg``: ids from last year's inventory or the
  reference (``ids.py``, over :mod:`glaciermap.diff`), attributes per glacier (``attributes.py``);
* :func:`write_changes` (``changes.py``) -> ``changes.gpkg``: gained, lost, fronts and disappeared
  glaciers against the previous year and the reference;
* :func:`write_summary` (``summary.py``) -> ``summary.json``.

:func:`history` and :func:`plot_history` (``timeline.py``) read every year of a region back. The names
below load on first use, so importing the package loads no geopandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_MIN_AREA_KM2": "glaciermap.update.glaciers",
    "UpdateResult": "glaciermap.update.glaciers",
    "update_glaciers": "glaciermap.update.glaciers",
    "write_changes": "glaciermap.update.changes",
    "write_summary": "glaciermap.update.summary",
    "history": "glaciermap.update.timeline",
    "plot_history": "glaciermap.update.timeline",
    "HISTORY_COLUMNS": "glaciermap.update.timeline",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
