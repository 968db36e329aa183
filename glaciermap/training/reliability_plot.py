"""The reliability diagram of ``evaluate --plot``: predicted glacier probability against frequency.

matplotlib's object API on the Agg canvas (no pyplot); the PNG is written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def plot_reliability(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """Write a reliability diagram: one curve per label, from :meth:`ReliabilityBins.table` rows.

    The diagonal is perfect calibration; points are bin means (mean probability, glacier frequency),
    marked by area in proportion to their pixel count; the lower panel is the histogram of pixels per
    bin (log scale), where most pixels sit near 0 and 1.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from glaciermap.io.files import atomic_output

    fig = Figure(figsize=(6, 7), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect")
    for label, rows in curves.items():
        filled = [r for r in rows if r["count"] and not math.isnan(r["frequency"])]
        xs = [r["mean_probability"] for r in filled]
        ys = [r["frequency"] for r in filled]
        total = sum(r["count"] for r in filled) or 1
        (line,) = top.plot(xs, ys, marker="", linewidth=1.5, label=label)
        top.scatter(
            xs, ys, s=[8 + 300 * r["count"] / total for r in filled], color=line.get_color()
        )
        centres = [(r["low"] + r["high"]) / 2 for r in rows]
        bottom.plot(centres, [max(r["count"], 1) for r in rows], color=line.get_color())
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="glacier frequency", title=title)
    top.set_aspect("equal", adjustable="box")
    top.legend(loc="upper left", fontsize=8)
    bottom.set(yscale="log", xlabel="predicted glacier probability", ylabel="pixels")
    out = Path(path)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return out


__all__ = ["plot_reliability"]
