"""The stage table of ``glaciermap run``: what each stage depends on, does and leaves behind.

A :class:`Stage` is four things: its ``name`` (``--force NAME``, ``--status``, the catalog stamp), an
``inputs`` function describing what its result depends on (hashed into its stamp), a ``run`` function
doing the work, and an ``outputs`` function listing the files it left (stamped; a stage whose stamp
matches is skipped only while they all exist). The runner (:mod:`glaciermap.pipeline.runner`) walks
:data:`PIPELINE` in order.

Inputs are data, not the previous stage's stamp: ``preprocess`` depends on the products in ``raw/``,
``predict`` on ``stack.json`` and the weights' sha256, ``vectorize`` on ``mask.tif``. So a stage reruns
exactly when what it reads changed (new weights rerun predict, which rewrites mask.tif, which reruns
vectorize; preprocess stays), a download that found nothing new reruns nothing after it, and
``--force NAME`` marks that stage and every later one.

The inventory stages (update, diff, report) live in :mod:`glaciermap.pipeline.inventory_stages`;
``notify_after`` names the stage after which ``--on-change`` looks at summary.json (``diff``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glaciermap import __version__
from glaciermap.calendar import DEFAULT_SLOTS
from glaciermap.errors import InputError
from glaciermap.pipeline.context import PREDICT_RECORD_NAME, RunContext
from glaciermap.pipeline.inventory_stages import (
    diff_inputs,
    diff_outputs,
    diff_run,
    report_inputs,
    report_outputs,
    report_run,
    update_inputs,
    update_outputs,
    update_run,
)
from glaciermap.pipeline.sources import run_source, source_inputs, source_outputs

STAMP_KEY = "run"
"""The catalog ``stages.key`` of ``run``'s stamps (the stand-alone commands stamp with ``""``)."""


@dataclass(frozen=True)
class Stage:
    """One stage of the annual run.

    Attributes:
        name: lower-case word; ``--force`` and ``--status`` use it, the catalog stamps it.
        inputs: what the stage's result depends on, as JSON values (file identities from
            :meth:`RunContext.identity` / :meth:`RunContext.tree`, digests, options, and
            ``glaciermap.__version__`` where the code decides the result); must be cheap (no rasters
            read): it is computed on every run, also when nothing is to be done.
        run: does the work, writing every file atomically; raises
            :class:`~glaciermap.errors.InputError` for bad input and
            :class:`~glaciermap.errors.TryLaterError` when it cannot finish yet.
        outputs: the files the stage left, listed right after ``run``; stamped and checked to exist
            before the stage is skipped.
    """

    name: str
    inputs: Callable[[RunContext], Mapping[str, Any]]
    run: Callable[[RunContext], None]
    outputs: Callable[[RunContext], Sequence[Path]]


@dataclass(frozen=True)
class Pipeline:
    """The stages in order, and the stage after which ``--on-change`` may fire (None: never).

    The ``notify_after`` stage writes the year's ``summary.json`` (the inventory update).
    """

    stages: tuple[Stage, ...]
    notify_after: str | None = None

    def __post_init__(self) -> None:
        names = self.names
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat: {names}")
        if self.notify_after is not None and self.notify_after not in names:
            raise ValueError(f"notify_after {self.notify_after!r} is not a stage: {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def index(self, name: str) -> int:
        """The position of stage ``name``.

        Raises:
            InputError: no such stage.
        """
        if name not in self.names:
            raise InputError(f"no stage named {name!r}", f"choose one of: {', '.join(self.names)}")
        return self.names.index(name)

    def extended(self, *stages: Stage, notify_after: str | None = None) -> Pipeline:
        """This pipeline with ``stages`` appended (and ``notify_after`` set when given)."""
        return Pipeline(
            (*self.stages, *stages),
            notify_after if notify_after is not None else self.notify_after,
        )


# ----------------------------------------------------------------------------------------------------
# preprocess


PREPROCESS_SETTINGS: dict[str, Any] = {
    "n_slots": DEFAULT_SLOTS,  # the whole calendar: missing slots are NaN bands, predict picks its own
    "min_acquisitions": 3,
    "coherence_resampling": "bilinear",
}
"""build_stack's settings in a run (no labels: the run predicts, it does not train)."""


def preprocess_inputs(ctx: RunContext) -> Mapping[str, Any]:
    return {
        "products": ctx.tree(ctx.raw_dir, skip=("truth",)),  # truth/: the simulator's, not read
        "region": ctx.region_identity(),
        "settings": PREPROCESS_SETTINGS,
        "version": __version__,
    }


def preprocess_run(ctx: RunContext) -> None:
    from glaciermap.preprocess.stack import build_stack
    from glaciermap.stack_format import STACK_JSON

    if "preprocess" in ctx.forced:
        # build_stack skips a stack whose own inputs are unchanged; forced, it must rebuild.
        (ctx.stack_dir / STACK_JSON).unlink(missing_ok=True)
    result = build_stack(
        ctx.region,
        ctx.raw_dir,
        ctx.stack_dir,
        year=ctx.year,
        workers=ctx.executor(),
        **PREPROCESS_SETTINGS,
    )
    meta = result.meta
    if result.skipped:
        ctx.log.info(f"preprocess: the stack in {ctx.stack_dir} is up to date")
        return
    missing = ", ".join(meta.dates[i].isoformat() for i in meta.missing_slots) or "none"
    ctx.log.info(
        f"preprocess: {len(meta.tiles)} tile(s) x {meta.n_slots} slots (missing: {missing}) "
        f"-> {ctx.stack_dir}"
    )


def preprocess_outputs(ctx: RunContext) -> Sequence[Path]:
    from glaciermap.stack_format import StackMeta

    return StackMeta.read(ctx.stack_dir).files()


# ----------------------------------------------------------------------------------------------------
# predict


PREDICT_SETTINGS: dict[str, Any] = {
    "window": 384,
    "overlap": 0.5,
    "threshold": 0.5,
    "tta": False,
    "amp": True,
}
"""PredictConfig's settings in a run: predict's defaults (the batch size and readers change only speed)."""


def predict_inputs(ctx: RunContext) -> Mapping[str, Any]:
    from glaciermap.stack_format import STACK_JSON

    return {
        "stack": ctx.identity(ctx.stack_dir / STACK_JSON),
        "weights": ctx.weights_identity(),
        "settings": {**PREDICT_SETTINGS, "device": ctx.options.device},
        "version": __version__,
    }


def predict_run(ctx: RunContext) -> None:
    from glaciermap.predict.engine import PredictConfig, predict_stack

    config = PredictConfig(vectorize=False, device=ctx.options.device, **PREDICT_SETTINGS)
    result = predict_stack(
        ctx.weights, ctx.stack_dir, ctx.prediction_dir, config, workers=ctx.executor()
    )
    ctx.log.info(
        f"predict: {ctx.model_name}, {result.windows} windows, {result.pixels / 1e6:.2f} M px in "
        f"{result.seconds:.1f} s on {result.device} -> {ctx.prediction_dir}"
    )


def predict_outputs(ctx: RunContext) -> Sequence[Path]:
    return [ctx.probability_path, ctx.mask_path, ctx.prediction_dir / PREDICT_RECORD_NAME]


# ----------------------------------------------------------------------------------------------------
# vectorize


def vectorize_inputs(ctx: RunContext) -> Mapping[str, Any]:
    return {
        "mask": ctx.identity(ctx.mask_path),
        "min_area_km2": ctx.options.min_area_km2,
        "version": __version__,
    }


def vectorize_run(ctx: RunContext) -> None:
    from glaciermap.vectorize import vectorize_raster

    result = vectorize_raster(
        ctx.mask_path,
        ctx.outlines_path,
        threshold=1,
        min_area_km2=ctx.options.min_area_km2,
        overwrite=True,
        workers=ctx.executor(),
    )
    ctx.log.info(
        f"vectorize: {result.count} glacier(s), {result.total_area_km2:.3f} km² -> {result.output}"
    )


def vectorize_outputs(ctx: RunContext) -> Sequence[Path]:
    return [ctx.outlines_path]


# ----------------------------------------------------------------------------------------------------
# The table

DOWNLOAD = Stage("download", source_inputs, run_source, source_outputs)
PREPROCESS = Stage("preprocess", preprocess_inputs, preprocess_run, preprocess_outputs)
PREDICT = Stage("predict", predict_inputs, predict_run, predict_outputs)
VECTORIZE = Stage("vectorize", vectorize_inputs, vectorize_run, vectorize_outputs)

UPDATE = Stage("update", update_inputs, update_run, update_outputs)
DIFF = Stage("diff", diff_inputs, diff_run, diff_outputs)
REPORT = Stage("report", report_inputs, report_run, report_outputs)

STAGES: tuple[Stage, ...] = (DOWNLOAD, PREPROCESS, PREDICT, VECTORIZE, UPDATE, DIFF, REPORT)
PIPELINE = Pipeline(STAGES, notify_after="diff")
"""What ``glaciermap run`` runs; ``--on-change`` looks at summary.json after ``diff`` wrote it."""

__all__ = [
    "DIFF",
    "DOWNLOAD",
    "PIPELINE",
    "PREDICT",
    "PREDICT_SETTINGS",
    "PREPROCESS",
    "PREPROCESS_SETTINGS",
    "REPORT",
    "STAGES",
    "STAMP_KEY",
    "UPDATE",
    "VECTORIZE",
    "Pipeline",
    "Stage",
]
