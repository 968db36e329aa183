"""Settings from ``glaciermap.toml``: where the workspace is, and the regions users add.

Lookup order for the config file: ``--config`` / ``GLACIERMAP_CONFIG``, then ``./glaciermap.toml``, then
``$XDG_CONFIG_HOME/glaciermap/glaciermap.toml`` (``~/.config/...``). A missing default file is fine (all
settings have defaults); a missing file named explicitly is an error. The workspace's own
``glaciermap.toml`` is read afterwards and wins for the keys it sets.

Example::

    workspace = "/data/glaciermap"          # relative paths are relative to this file

    [regions.svalbard]                      # adjust a built-in region
    orbit = "descending"

    [regions.jotunheimen]                   # add one
    crs = "EPSG:32632"
    origin = [0, 0]                         # tile edges on multiples of tile_size (default)
    tile_size = 10000                       # metres (default)
    pixel_size = 10                         # metres (default)
    prefix = "JOTU"                         # tile ids JOTU-<col>-<row> (default: name[:4] upper)
    aoi = [440000, 6810000, 520000, 6870000]   # minx, miny, maxx, maxy in crs; or aoi_file = "aoi.gpkg"
    orbit = "ascending"

Other top-level tables (``[preprocess]``, ``[train]``, ...) are kept as stage settings for the stages.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glaciermap.errors import ConfigError
from glaciermap.regions import BUILTIN_REGIONS, Region

CONFIG_NAME = "glaciermap.toml"
_REGION_KEYS = {
    "crs",
    "origin",
    "tile_size",
    "pixel_size",
    "prefix",
    "aoi",
    "aoi_file",
    "orbit",
    "description",
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings.

    Attributes:
        workspace: the workspace folder (not necessarily created yet).
        workspace_source: where ``workspace`` came from, for ``glaciermap workspace``.
        regions: built-in regions merged with the user's, by name.
        stages: raw per-stage tables from the config files (``{"train": {...}}``).
        files: the config files that were read, in order.
    """

    workspace: Path
    workspace_source: str
    regions: Mapping[str, Region]
    stages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    def region(self, name: str) -> Region:
        """The region called ``name``; unknown names are a :class:`ConfigError` listing the known."""
        try:
            return self.regions[name]
        except KeyError:
            known = ", ".join(sorted(self.regions))
            raise ConfigError(
                f"unknown region {name!r} (known: {known})",
                f"add [regions.{name}] to {CONFIG_NAME} or pick a known one",
            ) from None


def default_config_path() -> Path | None:
    """The first existing default config file, or None."""
    candidates = [Path.cwd() / CONFIG_NAME]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    candidates.append(Path(xdg) / "glaciermap" / CONFIG_NAME)
    return next((p for p in candidates if p.is_file()), None)


def default_workspace() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "glaciermap"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; a syntax error names the file and line."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist", "fix --config / GLACIERMAP_CONFIG or create it"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the file's syntax") from None


def load_settings(
    config_path: Path | None = None, *, workspace_override: Path | None = None
) -> Settings:
    """Resolve the settings from the config file(s), an explicit workspace and the built-ins.

    Args:
        config_path: explicit config file (must exist); None searches the default locations.
        workspace_override: ``--workspace`` / ``GLACIERMAP_WORKSPACE``, which beats the config file.
    """
    files: list[Path] = []
    data: dict[str, Any] = {}
    path = config_path if config_path is not None else default_config_path()
    if path is not None:
        data = read_toml(path)
        files.append(path)

    if workspace_override is not None:
        workspace, source = (
            Path(workspace_override).expanduser(),
            "--workspace / GLACIERMAP_WORKSPACE",
        )
    elif "workspace" in data:
        ws = Path(str(data["workspace"])).expanduser()
        assert path is not None
        workspace, source = (ws if ws.is_absolute() else path.parent / ws), f"config file {path}"
    else:
        workspace, source = default_workspace(), "default"

    regions = dict(BUILTIN_REGIONS)
    stages: dict[str, dict[str, Any]] = {}
    layers = [(path, data)] if path is not None else []
    ws_config = workspace / CONFIG_NAME
    if ws_config.is_file() and ws_config != path:
        layers.append((ws_config, read_toml(ws_config)))
        files.append(ws_config)
    for source_file, layer in layers:
        assert source_file is not None
        for name, table in (layer.get("regions") or {}).items():
            regions[name] = region_from_table(name, table, source_file, base=regions.get(name))
        for key, value in layer.items():
            if isinstance(value, dict) and key != "regions":
                stages.setdefault(key, {}).update(value)

    return Settings(
        workspace=workspace.resolve(),
        workspace_source=source,
        regions=regions,
        stages=stages,
        files=tuple(files),
    )


def region_from_table(
    name: str, table: Mapping[str, Any], source: Path, *, base: Region | None = None
) -> Region:
    """Build a :class:`Region` from a ``[regions.NAME]`` table, on top of ``base`` if it exists.

    Raises:
        ConfigError: unknown keys, a missing CRS or AOI, a CRS that is not projected in metres.
    """
    where = f"[regions.{name}] in {source}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - _REGION_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
            f"allowed: {', '.join(sorted(_REGION_KEYS))}",
        )
    values: dict[str, Any] = dataclasses.asdict(base) if base is not None else {}
    values["name"] = name
    try:
        if "crs" in table:
            values["crs"] = _metric_crs(str(table["crs"]), where)
        if "origin" in table:
            x0, y0 = (float(v) for v in table["origin"])
            values["origin"] = (x0, y0)
        for key in ("tile_size", "pixel_size"):
            if key in table:
                values[key] = float(table[key])
        for key in ("prefix", "orbit", "description"):
            if key in table:
                values[key] = str(table[key])
        if "aoi" in table:
            minx, miny, maxx, maxy = (float(v) for v in table["aoi"])
            values["aoi"], values["aoi_wkt"] = (minx, miny, maxx, maxy), None
        aoi_path: Path | None = None
        if "aoi_file" in table:
            if "crs" not in values:
                raise ConfigError(f"{where}: set crs before aoi_file can be reprojected")
            aoi_path = Path(str(table["aoi_file"])).expanduser()
            aoi_path = aoi_path if aoi_path.is_absolute() else source.parent / aoi_path
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: {exc}", "see the example in `glaciermap regions --help`"
        ) from None
    # Read outside the try: a ValueError from the reader is a bug, not a badly written value.
    if aoi_path is not None:
        values["aoi_wkt"], values["aoi"] = _read_aoi(aoi_path, values["crs"], where)
    values.setdefault("origin", (0.0, 0.0))
    values.setdefault("tile_size", 10_000.0)
    values.setdefault("pixel_size", 10.0)
    values.setdefault("prefix", name[:4].upper())
    missing = [k for k in ("crs", "aoi") if k not in values]
    if missing:
        raise ConfigError(f"{where}: missing {' and '.join(missing)}", "add them to the table")
    return Region(**values)


def _metric_crs(text: str, where: str) -> str:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(text)
    except CRSError:
        raise ConfigError(f"{where}: {text!r} is not a CRS", 'use e.g. "EPSG:32633"') from None
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise ConfigError(
            f"{where}: CRS {text} is not projected in metres",
            "use the UTM zone of the region (EPSG:326xx north, 327xx south) or another metric CRS",
        )
    return text


def _read_aoi(path: Path, crs: str, where: str) -> tuple[str, tuple[float, float, float, float]]:
    from glaciermap.io.vector import read_frame

    if not path.is_file():
        raise ConfigError(f"{where}: aoi_file {path} does not exist")
    frame = read_frame(
        path,
        message=f"{where}: cannot read aoi_file {path}",
        hint="give a GeoPackage, shapefile or GeoJSON holding the area's polygon",
    )
    if frame.empty or frame.crs is None:
        raise ConfigError(f"{where}: aoi_file {path} is empty or has no CRS")
    geom = frame.to_crs(crs).union_all()
    return geom.wkt, tuple(float(v) for v in geom.bounds)  # type: ignore[return-value]
