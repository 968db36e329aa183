"""``glaciermap run``: the annual inventory update as one resumable, locked, logged command for cron.

* :mod:`.stages`: the stage table (``download``, ``preprocess``, ``predict``, ``vectorize``; the
  inventory update and the report join it), each stage's inputs, work and outputs;
* :mod:`.sources`: the ``download`` stage's three sources (ASF + HyP3, a folder, the simulator);
* :mod:`.context`: the options and what every stage sees; file identities for the stamps;
* :mod:`.runner`: :func:`run_year`, which walks the table, skipping stamped stages;
* :mod:`glaciermap.io.lock`: one run per workspace, region and year; :mod:`glaciermap.io.sweep`: a
  killed run's leftovers;
* :mod:`.runlog`: the log file and the catalog's run records; :mod:`.status`: ``run --status``;
* :mod:`.notify`: ``--on-change``.

Importing this package loads no torch, GDAL or geopandas: a run that finds everything up to date
costs a few ``stat`` calls and catalog reads.
"""

from glaciermap.pipeline.context import (
    DEFAULT_WEIGHTS,
    SOURCES,
    RunContext,
    RunOptions,
    last_complete_year,
)
from glaciermap.pipeline.runner import RunResult, run_year
from glaciermap.pipeline.stages import PIPELINE, STAGES, Pipeline, Stage
from glaciermap.pipeline.status import run_status

__all__ = [
    "DEFAULT_WEIGHTS",
    "PIPELINE",
    "SOURCES",
    "STAGES",
    "Pipeline",
    "RunContext",
    "RunOptions",
    "RunResult",
    "Stage",
    "last_complete_year",
    "run_status",
    "run_year",
]
