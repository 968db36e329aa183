"""Options shared by several commands, declared once so that the same option reads the same everywhere.

Choices come from the library's own tables (architectures, splits, resamplings), imported from modules
that load neither torch nor GDAL, so that ``glaciermap --help`` stays fast.

The overwrite policy lives here too: no command replaces an existing output unless ``--overwrite`` is
given. Caches are not outputs: a stack is rebuilt only when its inputs changed, a download fetches only
what is missing, a training run continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from glaciermap.errors import InputError
from glaciermap.models.architectures import ARCHITECTURES
from glaciermap.preprocess.stack import COHERENCE_RESAMPLINGS
from glaciermap.stack_format import SPLITS, StackMeta

ALL_TILES = "all"
"""The split name that means every tile of a stack."""

# Typer offers a Literal's values as choices and refuses others; mypy sees plain strings.
if TYPE_CHECKING:
    ArchitectureName = str
    SplitName = str
    ResamplingName = str
else:
    ArchitectureName = Literal[ARCHITECTURES]
    SplitName = Literal[(*SPLITS, ALL_TILES)]
    ResamplingName = Literal[COHERENCE_RESAMPLINGS]


def output_option(help: str, *, folder: bool) -> Any:
    """``--output/-o``: a folder or a file, as the command writes."""
    return typer.Option(
        "--output",
        "-o",
        help=help,
        file_okay=not folder,
        dir_okay=folder,
        show_default=False,
    )


def workers_option(
    help: str = "Worker processes. Default: the CPUs this process may use, at most 4.",
    *,
    min: int = 1,
    show_default: bool = False,
) -> Any:
    """``--workers/-j``."""
    return typer.Option("--workers", "-j", help=help, min=min, show_default=show_default)


def region_option(*, show_default: bool = False) -> Any:
    """``--region/-r``."""
    return typer.Option(
        "--region", "-r", help="Region name (see glaciermap regions).", show_default=show_default
    )


def year_option(*, show_default: bool = False) -> Any:
    """``--year/-y``."""
    return typer.Option(
        "--year", "-y", help="Calendar year of the acquisitions.", show_default=show_default
    )


RegionName = Annotated[str | None, region_option()]
Year = Annotated[int | None, year_option()]
DefaultRegion = Annotated[str, region_option(show_default=True)]
"""``--region`` for a command that has a default region."""
DefaultYear = Annotated[int, year_option(show_default=True)]
"""``--year`` for a command that has a default year."""
StackDir = Annotated[
    Path | None,
    typer.Option(
        "--stack",
        help="Stack folder (from glaciermap preprocess). Default: the workspace's stack of "
        "--region and --year.",
        file_okay=False,
        show_default=False,
    ),
]
Acquisitions = Annotated[
    int,
    typer.Option(
        help="24-day slots to fill: 15 spans the year; fewer are taken around 1 August.",
        min=1,
        max=15,
    ),
]
"""``--acquisitions`` of download and run (the slots :func:`glaciermap.calendar.chosen_slots` picks)."""
Stacks = Annotated[
    list[Path] | None,
    typer.Option(
        "--stack",
        help="Stack folder (from glaciermap preprocess); repeat it for several stacks. Default: "
        "the workspace's stack of --region and --year.",
        file_okay=False,
        show_default=False,
    ),
]
StacksFile = Annotated[
    Path | None,
    typer.Option(
        "--stacks",
        help="A text file listing stack folders, one per line (# starts a comment; relative "
        "paths are relative to the file).",
        dir_okay=False,
        show_default=False,
    ),
]


def read_stack_list(path: Path) -> list[Path]:
    """The stack folders a ``--stacks`` file lists (see :data:`StacksFile`).

    Raises:
        InputError: the file cannot be read or lists nothing.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the stack list {path}: {exc}", "check --stacks") from exc
    folders = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            folder = Path(entry).expanduser()
            folders.append(folder if folder.is_absolute() else path.parent / folder)
    if not folders:
        raise InputError(f"the stack list {path} lists no stack", "one stack folder per line")
    return folders


def stack_metas(
    state: Any,
    stacks: list[Path] | None,
    stacks_file: Path | None,
    region: str | None,
    year: int | None,
) -> list[StackMeta]:
    """The stacks of ``--stack`` (repeated) and ``--stacks FILE``, read and checked; else the
    workspace's stack of ``--region`` and ``--year`` (:meth:`AppState.stack`). With ``--region`` or
    ``--year``, every stack must be of them.

    Raises:
        InputError: a folder holds no stack, a stack is of another region or year, or one is given
            twice.
    """
    folders = [*(stacks or []), *(read_stack_list(stacks_file) if stacks_file else [])]
    if not folders:
        return [state.stack(None, region, year)]
    # state.stack: one clear line for a folder without a stack
    metas = [state.stack(folder, region, year) for folder in folders]
    if len({str(m.json_path.parent) for m in metas}) != len(metas):
        raise InputError("a stack is given twice", "list each stack once")
    return metas


WEIGHTS_HELP = (
    "Weights: a shipped name (unet3d, convlstm), a name in $GLACIERMAP_WEIGHTS or the workspace's "
    "weights/, or the path of NAME.safetensors (with or without the suffix; its NAME.json card beside "
    "it)."
)
Workers = Annotated[int | None, workers_option()]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run the tasks on the Dask cluster whose scheduler is at this address "
        "(tcp://host:8786). Default: $GLACIERMAP_SCHEDULER, else [dask] scheduler in the config "
        "file, else the local processes of --workers. Its workers must see the workspace at the "
        "same paths.",
        show_default=False,
        rich_help_panel="Many machines",
    ),
]
Cluster = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Start a Dask cluster here for the tasks: local (a worker per CPU, at most 4) or "
        "local:N (N worker processes).",
        show_default=False,
        rich_help_panel="Many machines",
    ),
]
Device = Annotated[
    str,
    typer.Option(help="Torch device: auto (CUDA when present), cpu, cuda or cuda:N."),
]
Architecture = Annotated[ArchitectureName, typer.Option("--model", help="Architecture.")]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite/--no-overwrite",
        help="Replace outputs that already exist (without it, an existing output is an error).",
    ),
]
MinArea = Annotated[
    float,
    typer.Option(
        "--min-area",
        help="Smallest glacier kept, km². Default 0.01 km², the RGI minimum.",
        min=0.0,
    ),
]


def refuse_existing(paths: Iterable[Path], overwrite: bool) -> None:
    """Raise :class:`InputError` for the first of ``paths`` that exists, unless ``overwrite``.

    Called before the work starts, so a refused run costs nothing.
    """
    if overwrite:
        return
    for path in paths:
        if path.exists():
            raise InputError(
                f"{path} already exists", "pass --overwrite or choose another output name"
            )


__all__ = [
    "ALL_TILES",
    "WEIGHTS_HELP",
    "Acquisitions",
    "Architecture",
    "ArchitectureName",
    "Cluster",
    "DefaultRegion",
    "DefaultYear",
    "Device",
    "MinArea",
    "Overwrite",
    "RegionName",
    "ResamplingName",
    "Scheduler",
    "SplitName",
    "StackDir",
    "Stacks",
    "StacksFile",
    "Workers",
    "Year",
    "output_option",
    "read_stack_list",
    "refuse_existing",
    "region_option",
    "stack_metas",
    "workers_option",
    "year_option",
]
