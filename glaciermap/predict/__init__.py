"""Sliding-window prediction of glacier probability over whole stacks (``glaciermap predict``).

Splitter -> network -> merger: ``sliding`` plans the windows and blends them, ``reader`` reads and
batches them, ``network`` runs the model, ``merger`` streams the finished rows to COGs, and ``engine``
wires them in :func:`predict_stack`. The names below load on first use, so the reader and the window
plan can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PredictConfig": "glaciermap.predict.engine",
    "PredictResult": "glaciermap.predict.engine",
    "predict_stack": "glaciermap.predict.engine",
    "RowBlender": "glaciermap.predict.sliding",
    "WindowPlan": "glaciermap.predict.sliding",
    "gaussian_weight": "glaciermap.predict.sliding",
    "plan_windows": "glaciermap.predict.sliding",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
