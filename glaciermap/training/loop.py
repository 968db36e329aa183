"""The training loop: :class:`TrainConfig` (the paper's recipe as defaults) and :func:`fit`.

A run folder holds:

* ``best.safetensors`` + ``best.json``: the weights with the best validation IoU so far (NaN counts as
  worst) and their model card (architecture, ``T``, channels, normalisation, training data (the list of
  stacks), recipe, validation metrics, and the weights it started from). This is what a user ships.
* ``last.pt``: the state to resume from (model, optimizer, scheduler, epoch, best score, RNG). It is an
  internal file written with ``torch.save`` and read back with ``torch.load(weights_only=True)``, which
  refuses anything but tensors and plain containers; never ship it.
* ``metrics.csv``: one row per epoch (epoch, lr, train_loss, val_iou, val_f1, seconds).
* ``config.json``: the resolved :class:`TrainConfig`.
* ``tensorboard/``: TensorBoard events, when ``torch.utils.tensorboard`` can be imported.

A run trains on one stack or several (other years, other regions: see :mod:`.scenes`); patches come
from every stack alike, validation pools the val tiles of all. Inputs are normalised with one set of
statistics for all stacks (``normalisation`` None or ``"card"``: the stacks' pooled statistics, recorded
in the card, which predict and evaluate then use on any stack) or each stack with its own
(``"stack"``: the card says ``per-stack``, and predict and evaluate normalise every stack with its own
statistics too). ``init`` starts from other weights (fine-tuning): same architecture, arguments and
channels, and their normalisation (mode and, when global, statistics), so inputs mean what they meant.

On CPU a run is reproducible: the same config and seed give the same weights (model init from
``torch.manual_seed``, patches from ``(seed, epoch, index)`` whatever the number of DataLoader workers,
deterministic algorithms switched on for the duration of the run).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from glaciermap import interrupt
from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output, make_output_folder
from glaciermap.io.lock import OutputLock
from glaciermap.stack_format import StackMeta
from glaciermap.training.augment import default_augment
from glaciermap.training.distributed import (
    DistContext,
    RankSampler,
    all_reduce_sum,
    barrier,
    current,
    sync_buffers,
    torchrun_group,
    unwrap,
    wrap_model,
)
from glaciermap.training.evaluate import score_tiles
from glaciermap.training.losses import FocalLoss
from glaciermap.training.metrics import ConfusionCounts
from glaciermap.training.scenes import (
    ScenePatches,
    SceneTiles,
    StackPath,
    check_stacks,
    normalisation_statistics,
    pool_normalisation,
    stack_list,
)
from glaciermap.training.schedule import warm_restart_schedule

if TYPE_CHECKING:
    from glaciermap.models.card import ModelCard

log = logging.getLogger(__name__)

METRICS_COLUMNS = ("epoch", "lr", "train_loss", "val_iou", "val_f1", "seconds")
BEST_NAME = "best"
LAST_NAME = "last.pt"
# Changing these between a run and its resumption is fine; any other field must match.
_RESUMABLE_CHANGES = {"epochs", "num_workers", "device", "val_every"}
NORMALISATIONS = {"card": "global", "stack": "per-stack"}
"""``TrainConfig.normalisation`` -> the model card's ``normalisation.mode``."""


@dataclass
class TrainConfig:
    """The training recipe; defaults are the paper's (Maslov et al., IGARSS 2024).

    ``epochs`` 150 = warm-restart cycles of 10, 20, 40 and 80 epochs (``first_cycle`` 10, ``cycle_mult``
    2). ``model_kwargs`` go to the architecture (``in_channels`` and ``n_times`` are set from the stack
    unless given). ``amp`` applies on CUDA only (bfloat16 where supported, else float16 with a scaler).

    ``scene_augment`` adds :func:`~glaciermap.training.augment.scene_augment` (year-to-year changes:
    dB offsets and gain, per-date offsets, coherence scaling, dropped dates, speckle); off by default
    so that runs keep their samples. ``normalisation``: ``"card"`` (one set of statistics for every
    stack, recorded in the card), ``"stack"`` (each stack its own), None: ``"card"``, or with ``init``
    the init weights' mode. ``init``: weights to start from (a weights path, ``folder/NAME``).
    """

    model: str = "unet3d"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    patch: int = 384
    batch_size: int = 8
    lr: float = 5e-4
    weight_decay: float = 0.0
    focal_gamma: float = 2.0
    # No class weight: glacier covers 10-90 % of a tile, so RetinaNet's alpha=0.25 (made for rare
    # objects) would only push outlines inwards; the paper does not state one.
    focal_alpha: float | None = None
    label_smoothing: float = 0.1
    first_cycle: int = 10
    cycle_mult: int = 2
    epochs: int = 150
    samples_per_epoch: int = 2000
    val_every: int = 1
    acquisitions: int = 15
    augment: bool = True
    seed: int = 0
    num_workers: int = 2
    amp: bool = True
    device: str | None = None  # None or "auto": CUDA when present
    scene_augment: bool = False
    normalisation: str | None = None  # "card", "stack"; None: "card", or the init weights' mode
    init: str | None = None

    def __post_init__(self) -> None:
        if self.device == "auto":
            self.device = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainProgress:
    """What the progress callback receives after every batch (``phase`` "train") and validation."""

    phase: str
    epoch: int  # 1-based
    epochs: int
    batch: int
    batches: int
    loss: float
    val_iou: float | None = None
    elapsed: float = 0.0  # seconds since this fit began
    eta: float | None = None  # seconds left, estimated from the epochs done so far (after "val")

    def line(self) -> str:
        """``epoch 3/150  loss 0.1234  val IoU 0.812  elapsed 0:01:02  ETA 0:50:10``: one plain line."""
        iou = "n/a" if self.val_iou is None or math.isnan(self.val_iou) else f"{self.val_iou:.3f}"
        eta = "-" if self.eta is None else _clock(self.eta)
        return (
            f"epoch {self.epoch}/{self.epochs}  loss {self.loss:.4f}  val IoU {iou}  "
            f"elapsed {_clock(self.elapsed)}  ETA {eta}"
        )


def _clock(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def default_run_name(model: str, meta: StackMeta | Sequence[StackMeta]) -> str:
    """``MODEL-REGION-YEAR``: the run folder's name when the user gives none.

    Several stacks: their regions and years, each joined by ``+`` (``unet3d-example-2016+2017``).
    """
    metas = [meta] if isinstance(meta, StackMeta) else list(meta)
    regions = "+".join(dict.fromkeys(m.region.name for m in metas))
    years = "+".join(dict.fromkeys(str(m.year) for m in metas))
    return f"{model}-{regions}-{years}"


@dataclass
class FitResult:
    """The outcome of :func:`fit`."""

    run_dir: Path
    weights: Path  # best.safetensors
    best_epoch: int
    best_val_iou: float
    last_epoch: int
    metrics: list[dict[str, float]]
    model: nn.Module | None = None  # the trained model (last epoch), unwrapped, on CPU


def _device(config: TrainConfig, ctx: DistContext | None) -> torch.device:
    if ctx is not None and ctx.distributed:
        return ctx.device
    if config.device:
        return torch.device(config.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if on:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def _read_metrics(path: Path, before_epoch: int) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    return [r for r in rows if r["epoch"] < before_epoch]


def _write_metrics(path: Path, rows: list[dict[str, float]]) -> None:
    with atomic_output(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(METRICS_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(v) if k == "epoch" else v) for k, v in row.items()})


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # a dependency, but a broken install should not stop training
        log.warning("no TensorBoard events for this run (%s); metrics.csv has the same curves", exc)
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _check_resumable(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    now = json.loads(json.dumps(config.as_dict()))
    # A setting added since the run began: it ran with the default.
    default = json.loads(json.dumps(TrainConfig().as_dict()))
    changed = sorted(
        k for k in now if k not in _RESUMABLE_CHANGES and saved.get(k, default.get(k)) != now[k]
    )
    if changed:
        raise InputError(
            f"{path} was written with other settings ({', '.join(changed)})",
            "use the same settings or another run folder, or start over (--overwrite)",
        )


def fit(
    config: TrainConfig,
    stack_dir: StackPath | Sequence[StackPath],
    run_dir: str | os.PathLike[str],
    *,
    progress: Callable[[TrainProgress], None] | None = None,
    resume: bool = True,
    dist: DistContext | None = None,
    val_stacks: Sequence[StackPath] | None = None,
) -> FitResult:
    """Train ``config.model`` on the ``train`` split of stacks; keep the best weights by val IoU.

    Args:
        config: the recipe.
        stack_dir: the stack folder (stack.json, tiles/, labels), or several: patches are drawn from
            each alike and validation pools their val tiles. They must agree on channels and ``T``.
        val_stacks: validation scenes (split by scene, not by tile): every labelled tile of these
            stacks is scored, the best weights are chosen and calibrated on them, and the training
            stacks give all their tiles (every split) to training. None: the training stacks' val
            tiles.
        run_dir: where the run's files go (created).
        progress: called after every batch and every validation (rank 0 only).
        resume: continue from ``run_dir/last.pt`` when it exists (its settings must match, but
            ``epochs`` may grow); False starts over.
        dist: the process group context (:func:`~glaciermap.training.distributed.init_from_env`);
            default the initialised group, if any, else one process.
    """
    ctx = dist or current() or DistContext()
    device = _device(config, ctx)
    run = Path(run_dir)
    if config.epochs < 1 or config.batch_size < 1 or config.val_every < 1:
        raise InputError(
            f"epochs {config.epochs}, batch size {config.batch_size} and val_every "
            f"{config.val_every} must be >= 1",
            "",
        )
    if config.normalisation not in (None, *NORMALISATIONS):
        raise InputError(
            f"unknown normalisation {config.normalisation!r}",
            f"use {' or '.join(NORMALISATIONS)}",
        )
    stacks = stack_list(stack_dir)
    validation = stack_list(val_stacks) if val_stacks else []
    both = {str(d.resolve()) for d in stacks} & {str(d.resolve()) for d in validation}
    if both:
        raise InputError(
            f"{sorted(both)[0]} is both a training and a validation stack",
            "give each scene to one of --stack/--stacks and --val-stack/--val-stacks",
        )
    # Rank 0 writes the run folder and holds its lock: a second training of the folder stops, naming
    # this one, and a killed one's temporary files are swept.
    lock = OutputLock(run, folder=True) if ctx.is_main else contextlib.nullcontext()
    with lock:
        if ctx.is_main:
            make_output_folder(run)
        barrier(ctx)
        with _deterministic(device.type == "cpu"):
            return _fit(config, stacks, validation, run, progress, resume, ctx, device)


def run_training(
    config: TrainConfig,
    stack_dir: StackPath | Sequence[StackPath],
    run_dir: str | os.PathLike[str],
    *,
    progress: Callable[[TrainProgress], None] | None = None,
    overwrite: bool = False,
    threads: int | None = None,
    val_stacks: Sequence[StackPath] | None = None,
) -> FitResult | None:
    """:func:`fit` as ``glaciermap train`` runs it, alone or under ``torchrun``.

    Sets torch's CPU ``threads`` (None: torch's choice), joins the process group ``torchrun``
    describes for the run, and continues the run in ``run_dir`` unless ``overwrite`` starts it over.
    Returns None on ranks other than 0, which write nothing.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    with torchrun_group() as dist:
        result = fit(
            config,
            stack_dir,
            run_dir,
            progress=progress,
            resume=not overwrite,
            dist=dist,
            val_stacks=val_stacks,
        )
    return result if dist is None or dist.is_main else None


def _init_name(path: Path) -> str:
    """How the card names the init weights: a shipped name (``unet3d``), else their path."""
    from glaciermap.models.lookup import SHIPPED_WEIGHTS

    resolved = path.resolve()
    if resolved.is_relative_to(SHIPPED_WEIGHTS):
        return resolved.relative_to(SHIPPED_WEIGHTS).as_posix()
    return str(resolved)


def _load_init(
    config: TrainConfig, n_times: int, channels: Sequence[str]
) -> tuple[nn.Module, ModelCard, dict[str, Any]]:
    """The init weights' model and card, and the arguments of the model to train from them.

    Raises:
        InputError: the card does not fit the run: another architecture, other arguments than
            ``model_kwargs`` asks for, other channels, or another ``T`` for models that need theirs.
    """
    from glaciermap.models.weights import check_card_against_stack, load_weights

    assert config.init is not None
    where = f"the init weights {config.init}"
    model, card = load_weights(config.init)
    if card.architecture != config.model:
        raise InputError(
            f"{where} are a {card.architecture} model, not {config.model}",
            f"train with --model {card.architecture} (the default with --init) or give other weights",
        )
    arguments = dict(card.arguments)
    for key, value in config.model_kwargs.items():
        if json.loads(json.dumps(value)) != json.loads(json.dumps(arguments.get(key))):
            raise InputError(
                f"{where} have {key} {arguments.get(key)!r}, not {value!r}",
                "drop the option (the init weights' value is the default) or give other weights",
            )
    try:
        check_card_against_stack(card, n_times, channels)
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}", exc.hint) from None
    if "n_times" in arguments:  # a card-only argument: the network takes any T (checked above)
        arguments["n_times"] = n_times
    return model, card, arguments


def _normalisation_mode(config: TrainConfig, init_card: ModelCard | None) -> str:
    asked = NORMALISATIONS[config.normalisation] if config.normalisation is not None else None
    if init_card is None:
        return asked or NORMALISATIONS["card"]
    mode = init_card.normalisation_mode
    if asked is not None and asked != mode:
        raise InputError(
            f"--normalisation {config.normalisation} differs from the init weights' ({mode})",
            "drop --normalisation: fine-tuned weights keep the normalisation they were trained with",
        )
    return mode


def _training_data(stacks: Sequence[Path], train_set: ScenePatches) -> list[dict[str, Any]]:
    """The card's ``training_data``: one entry per stack, named ``REGION-YEAR`` (``#2``, ... when
    two share a name)."""
    entries: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for stack, part in zip(stacks, train_set.parts, strict=True):
        meta = part.reader.meta
        name = f"{meta.region.name}-{meta.year}"
        names[name] = names.get(name, 0) + 1
        entries.append(
            {
                "name": name if names[name] == 1 else f"{name}#{names[name]}",
                "stack": str(stack.resolve()),
                "region": meta.region.name,
                "year": meta.year,
                "dates": [d.isoformat() for d in part.dates],
                "acquisition_indices": list(part.acquisition_indices),
                "train_tiles": list(part.tiles),
                "normalisation": meta.normalisation_json(),
            }
        )
    return entries


def _validation_data(val_tiles: SceneTiles | None) -> list[dict[str, Any]]:
    """The card's ``metrics.validation_data``: the validation scenes and the tiles scored."""
    return [
        {
            "name": f"{part.reader.meta.region.name}-{part.reader.meta.year}",
            "stack": str(part.reader.meta.json_path.parent.resolve()),
            "tiles": list(part.tiles),
        }
        for part in (val_tiles.parts if val_tiles is not None else [])
    ]


def _fit(
    config: TrainConfig,
    stacks: list[Path],
    val_stacks: list[Path],
    run: Path,
    progress: Callable[[TrainProgress], None] | None,
    resume: bool,
    ctx: DistContext,
    device: torch.device,
) -> FitResult:
    from glaciermap.models.card import GLOBAL, PER_STACK
    from glaciermap.models.registry import create_model, model_summary
    from glaciermap.models.weights import read_card, save_weights

    metas = [StackMeta.read(d) for d in stacks]
    channels = list(metas[0].channels)
    check_stacks(stacks, [m.channels for m in metas])
    init_card = read_card(config.init) if config.init is not None else None
    mode = _normalisation_mode(config, init_card)
    statistics: tuple[list[float], list[float]] | None
    if mode == PER_STACK:
        tiles = {m.normalisation_tiles for m in metas}
        normalisation: dict[str, Any] = {
            "mode": PER_STACK,
            "tiles": tiles.pop() if len(tiles) == 1 else "mixed",
        }
        statistics = None
    elif init_card is not None:
        statistics = init_card.statistics(channels)
        normalisation = {**dict(init_card.normalisation or {}), "mode": GLOBAL}
    else:
        normalisation = {**pool_normalisation(metas), "mode": GLOBAL}
        statistics = normalisation_statistics(normalisation, channels)

    train_set = ScenePatches(
        stacks,
        split=None if val_stacks else "train",
        patch=config.patch,
        samples_per_epoch=config.samples_per_epoch,
        acquisitions=config.acquisitions,
        augment=default_augment() if config.augment else None,
        scene_augment=config.scene_augment,
        seed=config.seed,
        statistics=statistics,
    )
    n_times = train_set.n_times
    val_tiles: SceneTiles | None
    if val_stacks:
        val_tiles = SceneTiles(
            val_stacks,
            split=None,
            acquisitions=[config.acquisitions] * len(val_stacks),
            statistics=[statistics] * len(val_stacks),
        )
        check_stacks(
            [*stacks, *val_stacks],
            [channels] * len(stacks) + [p.reader.channels for p in val_tiles.parts],
            [n_times] * len(stacks) + [len(p.dates) for p in val_tiles.parts],
        )
    else:
        val_tiles = SceneTiles(
            stacks,
            split="val",
            acquisitions=[p.acquisition_indices for p in train_set.parts],
            statistics=[statistics] * len(stacks),
        )
    if not len(val_tiles or ()):
        log.warning("the stack has no validation tile: val IoU is NaN, best = first epoch")
        val_tiles = None
    elif val_tiles is not None and val_tiles.missing:
        log.warning(
            "no validation tile in %s: validation scores the other stacks' val tiles",
            ", ".join(map(str, val_tiles.missing)),
        )

    kwargs = dict(config.model_kwargs)
    init_model: nn.Module | None = None
    if config.init is not None:
        init_model, init_card, kwargs = _load_init(config, n_times, channels)
    kwargs.setdefault("in_channels", len(channels))
    kwargs.setdefault("n_times", n_times)
    torch.manual_seed(config.seed)
    model = create_model(config.model, **kwargs)
    if init_model is not None:
        model.load_state_dict(init_model.state_dict(), strict=True)
        del init_model
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = warm_restart_schedule(optimizer, config.first_cycle, config.cycle_mult)
    loss_fn = FocalLoss(config.focal_gamma, config.focal_alpha, config.label_smoothing)
    use_amp = config.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    start_epoch, best_score, best_epoch = 0, -math.inf, 0
    best_iou = math.nan
    last_path = run / LAST_NAME
    if resume and last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        _check_resumable(json.loads(state["config"]), config, last_path)
        trained_on = json.loads(state.get("stacks", "null"))
        if trained_on is not None and trained_on != [str(d.resolve()) for d in stacks]:
            raise InputError(
                f"{last_path} was trained on other stacks ({', '.join(trained_on)})",
                "give the same stacks, or another run folder, or start over (--overwrite)",
            )
        validated_on = json.loads(state.get("val_stacks", "[]"))
        if validated_on != [str(d.resolve()) for d in val_stacks]:
            before = ", ".join(validated_on) or "the training stacks' val tiles"
            raise InputError(
                f"{last_path} was validated on other stacks ({before})",
                "give the same validation stacks, or another run folder, or start over (--overwrite)",
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = int(state["epoch"])
        best_score, best_epoch = float(state["best_score"]), int(state["best_epoch"])
        best_iou = float(state["best_iou"])
        torch.set_rng_state(state["rng"])
        log.info("resuming %s after epoch %d", run, start_epoch)
    metrics = _read_metrics(run / "metrics.csv", start_epoch + 1) if ctx.is_main else []
    if ctx.is_main:
        with atomic_output(run / "config.json") as tmp:
            tmp.write_text(
                json.dumps(config.as_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )

    ddp_model = wrap_model(model, ctx)
    sampler = RankSampler(len(train_set), ctx.rank, ctx.world_size)
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        persistent_workers=False,
        pin_memory=device.type == "cuda",
        drop_last=len(sampler) >= config.batch_size,
    )
    batches = len(loader)
    writer = _tensorboard(run) if ctx.is_main else None
    summary_side = max(config.patch, 384)  # FLOPs per pixel at the paper's patch size (or larger)
    summary_side += (-summary_side) % int(getattr(model, "stride", 1) or 1)
    card_base: dict[str, Any] = {
        "summary": {
            **model_summary(model, n_times, len(channels), summary_side, summary_side),
            "input": [n_times, len(channels), summary_side, summary_side],
        },
        "channels": channels,
        "normalisation": normalisation,
        "training_data": _training_data(stacks, train_set),
        "recipe": config.as_dict(),
    }
    validation = _validation_data(val_tiles) if val_stacks else None
    if init_card is not None and config.init is not None:
        card_base["init"] = {"name": _init_name(Path(config.init)), "sha256": init_card.sha256}
    weights_path = run / f"{BEST_NAME}.safetensors"
    fit_began = time.perf_counter()
    saved = start_epoch

    def finished() -> str:
        if saved == 0:
            return f"no epoch of {config.epochs} finished; run again"
        return (
            f"{saved} of {config.epochs} epochs saved in {run / LAST_NAME}; "
            "run again to continue from there"
        )

    try:
        for epoch in range(start_epoch, config.epochs):
            began = time.perf_counter()
            train_set.set_epoch(epoch)
            ddp_model.train()
            lr = optimizer.param_groups[0]["lr"]
            total = torch.zeros(2, dtype=torch.float64)
            for i, (x, label) in enumerate(loader):
                x = x.to(device, non_blocking=True)
                label = label.to(device, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    logits = ddp_model(x)
                loss = loss_fn(logits.float(), label)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step(epoch + (i + 1) / batches)
                value = float(loss.detach())
                total += torch.tensor([value * x.shape[0], x.shape[0]], dtype=torch.float64)
                if progress is not None and ctx.is_main:
                    progress(
                        TrainProgress(
                            "train",
                            epoch + 1,
                            config.epochs,
                            i + 1,
                            batches,
                            value,
                            elapsed=time.perf_counter() - fit_began,
                        )
                    )
            all_reduce_sum(total, ctx)
            sync_buffers(model, ctx)
            train_loss = float(total[0] / total[1]) if total[1] else math.nan

            val = ConfusionCounts()
            validate = (epoch + 1) % config.val_every == 0 or epoch + 1 == config.epochs
            if val_tiles is not None and validate:
                mine = range(ctx.rank, len(val_tiles), ctx.world_size)
                counts = score_tiles(model, val_tiles, device, indices=mine, amp=use_amp)
                val = ConfusionCounts.from_tensor(all_reduce_sum(counts.as_tensor(), ctx))
            val_iou, val_f1 = val.iou, val.f1
            if progress is not None and ctx.is_main:
                elapsed = time.perf_counter() - fit_began
                done = epoch + 1 - start_epoch
                progress(
                    TrainProgress(
                        "val",
                        epoch + 1,
                        config.epochs,
                        batches,
                        batches,
                        train_loss,
                        val_iou,
                        elapsed=elapsed,
                        eta=elapsed / done * (config.epochs - epoch - 1),
                    )
                )

            score = -math.inf if math.isnan(val_iou) else val_iou
            improved = best_epoch == 0 or (validate and score > best_score)
            if improved:
                best_score, best_epoch, best_iou = score, epoch + 1, val_iou
            if ctx.is_main:
                if improved:
                    save_weights(
                        model,
                        run / BEST_NAME,
                        {
                            **card_base,
                            "metrics": {
                                "val": val.as_dict(),
                                "epoch": epoch + 1,
                                **({"validation_data": validation} if validation else {}),
                            },
                        },
                    )
                row = {
                    "epoch": float(epoch + 1),
                    "lr": lr,
                    "train_loss": train_loss,
                    "val_iou": val_iou,
                    "val_f1": val_f1,
                    "seconds": time.perf_counter() - began,
                }
                metrics.append(row)
                state = {
                    "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "best_iou": best_iou,
                    "rng": torch.get_rng_state(),
                    "config": json.dumps(config.as_dict(), sort_keys=True),
                    "stacks": json.dumps([str(d.resolve()) for d in stacks]),
                    "val_stacks": json.dumps([str(d.resolve()) for d in val_stacks]),
                }
                with atomic_output(last_path) as tmp:
                    torch.save(state, tmp)
                saved = epoch + 1
                _write_metrics(run / "metrics.csv", metrics)
                if writer is not None:
                    writer.add_scalar("loss/train", train_loss, epoch + 1)
                    writer.add_scalar("lr", lr, epoch + 1)
                    if not math.isnan(val_iou):
                        writer.add_scalar("iou/val", val_iou, epoch + 1)
                        writer.add_scalar("f1/val", val_f1, epoch + 1)
                    writer.flush()
            barrier(ctx)
        if ctx.is_main and val_tiles is not None and weights_path.is_file():
            if validation:
                fitted_on = [{"name": v["name"], "split": "all"} for v in validation]
            else:
                fitted_on = [
                    {"name": str(d["name"]), "split": "val"}
                    for d, stack in zip(card_base["training_data"], stacks, strict=True)
                    if Path(stack) not in val_tiles.missing
                ]
            _calibrate_best(run / BEST_NAME, val_tiles, device, fitted_on)
    except KeyboardInterrupt:
        interrupt.note(finished())
        raise
    finally:
        if writer is not None:
            writer.close()
        train_set.close()
        if val_tiles is not None:
            val_tiles.close()

    return FitResult(
        run_dir=run,
        weights=weights_path,
        best_epoch=best_epoch,
        best_val_iou=best_iou,
        last_epoch=max(start_epoch, config.epochs),
        metrics=metrics,
        model=model.to("cpu").eval(),
    )


def _calibrate_best(
    best: Path, val_tiles: Any, device: torch.device, fitted_on: list[dict[str, str]]
) -> None:
    """Fit the best weights' temperature on the pooled validation tiles and record it in their card
    (``fitted_on``: the scenes and splits they come from), so their probability means what it says
    (see :mod:`glaciermap.training.calibration`)."""
    from glaciermap.models.card import ModelCard
    from glaciermap.models.weights import load_weights
    from glaciermap.training.calibration import calibration_record, fit_temperature, sample_pixels

    model, _ = load_weights(best, device=device)
    logits, labels = sample_pixels(model, [val_tiles], device=device)
    if len(labels) == 0:
        return
    entry = calibration_record(logits, labels, fit_temperature(logits, labels), fitted_on)
    ModelCard.read(best).with_calibration(entry).write(best)
    log.info(
        "calibrated on %s: temperature %.3f, ECE %.3f -> %.3f",
        ", ".join(f"{f['name']} ({f['split']})" for f in fitted_on),
        entry["temperature"],
        entry["ece_before"],
        entry["ece_after"],
    )


__all__ = [
    "FitResult",
    "TrainConfig",
    "TrainProgress",
    "default_run_name",
    "fit",
    "run_training",
    "unwrap",
]
