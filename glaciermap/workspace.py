"""The workspace: the one place that builds the paths stages read and write.

Layout (see docs/design.md)::

    <root>/glaciermap.toml                      optional settings for this workspace
    <root>/catalog.sqlite                       scenes, jobs, files, stage stamps
    <root>/raw/<region>/<year>/                 HyP3 products as downloaded
    <root>/stacks/<region>/<year>/              tiles/, labels/, stack.vrt, stack.json, tiles.gpkg
    <root>/runs/<run_name>/                     checkpoints, metrics.csv, events, config
    <root>/predictions/<region>/<year>/<model>/ probability.tif, mask.tif, outlines.gpkg, predict.json
    <root>/inventory/<region>/<year>/           glaciers.gpkg, changes.gpkg, summary.json, report.html,
                                                item.json (see glaciermap.inventory_format)
    <root>/inventory/<region>/catalog.json      the STAC catalog of every year's inventory
    <root>/logs/run-<region>-<year>.log         what each annual run did

The folders and the catalog are created on first use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from glaciermap.catalog import Catalog
from glaciermap.errors import InputError, WorkspaceError

if TYPE_CHECKING:
    from glaciermap.stack_format import StackMeta

TOP_FOLDERS = ("raw", "stacks", "runs", "predictions", "inventory", "logs")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _part(kind: str, value: str | int) -> str:
    """Validate one path component so that names can never escape the workspace."""
    text = str(value)
    if not _SAFE_NAME.match(text) or text in {".", ".."}:
        raise WorkspaceError(
            f"{kind} {text!r} cannot be used as a folder name",
            "use letters, digits, '-', '_' and '.' only",
        )
    return text


@dataclass(frozen=True)
class Workspace:
    """A workspace folder. Create with :meth:`open`."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike[str], *, create: bool = True) -> Workspace:
        """Open the workspace at ``root``, creating its folders and catalog if needed.

        Raises:
            WorkspaceError: ``root`` is a file, or cannot be created or written.
        """
        path = Path(root).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise WorkspaceError(f"workspace {path} is a file, not a folder", "choose another path")
        if create:
            try:
                for name in TOP_FOLDERS:
                    (path / name).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(
                    f"cannot create workspace {path}: {exc.strerror}",
                    "choose a writable folder with --workspace or GLACIERMAP_WORKSPACE",
                ) from None
        elif not path.is_dir():
            raise WorkspaceError(f"workspace {path} does not exist")
        workspace = cls(path)
        workspace.catalog().close()  # creates and migrates the schema
        return workspace

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.sqlite"

    def catalog(self) -> Catalog:
        """A new connection to the catalog; close it when done."""
        return Catalog(self.catalog_path)

    def raw_dir(self, region: str, year: int) -> Path:
        return self.root / "raw" / _part("region", region) / _part("year", year)

    def stack_dir(self, region: str, year: int) -> Path:
        return self.root / "stacks" / _part("region", region) / _part("year", year)

    def stack(self, region: str, year: int) -> StackMeta:
        """The stack of ``region`` in ``year``, validated.

        Raises:
            InputError: there is none yet (the hint names the preprocess command), or it is damaged
                or of another region or year.
        """
        from glaciermap.stack_format import STACK_JSON, StackMeta

        folder = self.stack_dir(region, year)
        if not (folder / STACK_JSON).is_file():
            raise InputError(
                f"no stack for {region} {year} in {folder}",
                f"run glaciermap preprocess --region {region} --year {year} first",
            )
        meta = StackMeta.read(folder)
        meta.check_identity(region, year)
        return meta

    def record_stage(
        self,
        region: str,
        year: int,
        stage: str,
        *,
        inputs_hash: str,
        outputs: Iterable[Path],
        key: str = "",
        skipped: bool = False,
    ) -> None:
        """Stamp ``stage`` of ``region`` in ``year`` as finished, with its inputs' hash and its outputs.

        A run that ``skipped`` its work (its inputs unchanged) keeps an earlier stamp of the same inputs,
        so a stamp's time says when the outputs were made, not when they were last checked.
        """
        catalog = self.catalog()
        try:
            stamp = catalog.stage_stamp(region, year, stage, key)
            if not skipped or stamp is None or stamp.inputs_hash != inputs_hash:
                catalog.record_stage(
                    region,
                    year,
                    stage,
                    inputs_hash=inputs_hash,
                    outputs=[self.relative(p) for p in outputs],
                    key=key,
                )
        finally:
            catalog.close()

    def run_dir(self, run_name: str) -> Path:
        return self.root / "runs" / _part("run name", run_name)

    def prediction_dir(self, region: str, year: int, model: str) -> Path:
        return (
            self.root
            / "predictions"
            / _part("region", region)
            / _part("year", year)
            / _part("model", model)
        )

    def inventory_root(self, region: str) -> Path:
        """``inventory/<region>/``: every year's inventory of a region and their STAC catalog."""
        return self.root / "inventory" / _part("region", region)

    def inventory_dir(self, region: str, year: int) -> Path:
        """``inventory/<region>/<year>/``: one year's inventory update."""
        return self.inventory_root(region) / _part("year", year)

    def inventory_years(self, region: str) -> list[int]:
        """The years of ``region`` that hold an inventory (``glaciers.gpkg``), ascending."""
        from glaciermap.inventory_format import GLACIERS_GPKG

        root = self.inventory_root(region)
        if not root.is_dir():
            return []
        return sorted(
            int(p.name)
            for p in root.iterdir()
            if p.name.isdigit() and (p / GLACIERS_GPKG).is_file()
        )

    def run_log(self, region: str, year: int) -> Path:
        """``logs/run-<region>-<year>.log``: the annual run's plain, timestamped log."""
        return self.root / "logs" / f"run-{_part('region', region)}-{_part('year', year)}.log"

    def run_lock(self, region: str, year: int) -> Path:
        """``logs/run-<region>-<year>.lock``: the lock one annual run of a region-year holds."""
        return self.run_log(region, year).with_suffix(".lock")

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, as stored in the catalog."""
        return str(Path(path).resolve().relative_to(self.root))

    def contents(self) -> dict[str, list[str]]:
        """For each top folder, the ``<region>/<year>`` (or run) entries present, for display."""
        found: dict[str, list[str]] = {}
        for name in TOP_FOLDERS:
            base = self.root / name
            if name == "runs":
                entries = (
                    sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
                )
            else:
                entries = sorted(
                    f"{r.name}/{y.name}"
                    for r in (base.iterdir() if base.is_dir() else [])
                    if r.is_dir()
                    for y in r.iterdir()
                    if y.is_dir()
                )
            found[name] = entries
        return found
