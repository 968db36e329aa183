"""Option aliases shared by several commands, so that the same option reads the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

OutputPath = Annotated[
    Path,
    typer.Option(
        "--output", "-o", help="File to write; appears only once complete.", dir_okay=False
    ),
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite/--no-overwrite", help="Replace an existing output file.")
]
RegionName = Annotated[
    str | None,
    typer.Option("--region", "-r", help="Region name (see `glaciermap regions`)."),
]
MinArea = Annotated[
    float,
    typer.Option(
        "--min-area",
        help="Smallest glacier kept, km². Default 0.01 km², the RGI minimum.",
        min=0.0,
    ),
]
StackDir = Annotated[
    Path | None,
    typer.Option(
        "--stack",
        help="Stack folder (default: the workspace's stacks/REGION/YEAR/).",
        file_okay=False,
        show_default=False,
    ),
]
