"""The bad-input corpus (issue 15): what a new user gets wrong, fed to every command.

Each case must give exit code 2, exactly one ``error:`` line with a hint (``what — what to do``), no
traceback, and no new file under a final name in the output location (the test's folder, workspace
included; hidden temporary names aside). The inputs are built once per module from the conftest's
example stack and its products. Cases where a warning and exit 0 are the right answer are listed at the
end, each with its reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# ----------------------------------------------------------------------------------------------------
# Inputs, built once


@dataclass(frozen=True)
class Inputs:
    """The module's inputs: good ones to run against, and bad ones."""

    stack: Path  # the example stack: example 2016, 4 slots, labels
    products: Path  # its HyP3 product zips (and truth/)
    outlines: Path  # the truth outlines of the products' scene
    mask: Path  # a one-band uint8 raster with CRS (a label tile)
    weights: Path  # tiny unet3d weights for the stack (NAME, beside NAME.json)
    bad: Path  # a folder of bad files, see the fixture


def _random_bytes(path: Path, size: int = 4096) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def _truncate(path: Path, fraction: float = 0.2) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _stack_copy(stack: Path, dest: Path, damage: Callable[[Path], object]) -> Path:
    shutil.copytree(stack, dest)
    damage(dest)
    return dest


def _zip_with_member(source: Path, folder: Path, member: str) -> Path:
    """A copy of product zip ``source`` in ``folder`` with one more member named ``member``."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy(source, target)
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr(member, "x")
    return target


def _product_with_random_member(source: Path, folder: Path, suffix: str) -> Path:
    """A copy of product zip ``source`` in ``folder`` whose member ``*<suffix>`` is random bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, os.urandom(len(data)) if info.filename.endswith(suffix) else data)
    return target


def _card(weights: Path, dest: Path, change: Callable[[dict], object]) -> Path:
    """A copy of ``weights`` named ``dest`` whose card ``change`` edits."""
    for suffix in (".safetensors", ".json"):
        shutil.copy(f"{weights}{suffix}", f"{dest}{suffix}")
    card = Path(f"{dest}.json")
    doc = json.loads(card.read_text())
    change(doc)
    card.write_text(json.dumps(doc))
    return dest


@pytest.fixture(scope="module")
def inputs(example_stack, tmp_path_factory) -> Inputs:
    import geopandas as gpd
    import rasterio
    import torch

    from glaciermap.models.registry import create_model
    from glaciermap.models.weights import save_weights

    root = tmp_path_factory.mktemp("bad-inputs")
    stack = example_stack
    products = stack.parent / "products"
    meta = json.loads((stack / "stack.json").read_text())
    tile = meta["tiles"][len(meta["tiles"]) // 2]

    torch.manual_seed(0)
    model = create_model("unet3d", in_channels=2, n_times=len(meta["dates"]), widths=[4, 8])
    weights = root / "weights" / "tiny"
    weights.parent.mkdir()
    save_weights(model, weights, {"normalisation": meta["normalisation"]})

    bad = root / "bad"
    bad.mkdir()
    zips = sorted(products.glob("*.zip"))
    rtc = next(p for p in zips if "_RTC" in p.name)
    # Files of the wrong content.
    (bad / "empty.tif").touch()
    (bad / "empty.gpkg").touch()
    _random_bytes(bad / "random.tif")
    _random_bytes(bad / "random.gpkg")
    _truncate(shutil.copy(stack / "tiles" / f"{tile}.tif", bad / "truncated.tif"))
    (bad / "text.gpkg").write_text("id,geometry\n1,POLYGON EMPTY\n")
    (bad / "empty.txt").touch()
    with rasterio.open(stack / "labels" / f"{tile}.tif") as src:
        profile, data = src.profile, src.read()
    profile.pop("crs")
    with rasterio.open(bad / "nocrs.tif", "w", **profile) as dst:
        dst.write(data)
    outlines = gpd.read_file(products / "truth" / "outlines.gpkg")
    far = outlines.copy()
    far["geometry"] = far.geometry.translate(200_000, 0)
    far.to_file(bad / "far.gpkg")
    with warnings.catch_warnings():  # pyogrio's "'crs' was not provided": the point here
        warnings.simplefilter("ignore", UserWarning)
        outlines.set_crs(None, allow_override=True).to_file(bad / "nocrs.gpkg")
    gpd.GeoDataFrame(geometry=outlines.geometry.centroid, crs=outlines.crs).to_file(
        bad / "points.gpkg"
    )
    # Stacks with a damaged part.
    label = f"labels/{tile}.tif"
    tif = f"tiles/{tile}.tif"
    _stack_copy(stack, bad / "stack-truncated-tile", lambda s: _truncate(s / tif))
    _stack_copy(stack, bad / "stack-random-tile", lambda s: _random_bytes(s / tif, 300_000))
    _stack_copy(stack, bad / "stack-missing-tile", lambda s: (s / tif).unlink())
    _stack_copy(stack, bad / "stack-missing-label", lambda s: (s / label).unlink())
    _stack_copy(stack, bad / "stack-bad-json", lambda s: (s / "stack.json").write_text("{"))
    _stack_copy(stack, bad / "stack-empty-json", lambda s: (s / "stack.json").write_text(""))

    def newer(s: Path) -> None:
        doc = json.loads((s / "stack.json").read_text())
        doc["format"] = 99
        (s / "stack.json").write_text(json.dumps(doc))

    def unlabelled(s: Path) -> None:
        doc = json.loads((s / "stack.json").read_text())
        doc["labels"] = None
        (s / "stack.json").write_text(json.dumps(doc))
        shutil.rmtree(s / "labels")

    _stack_copy(stack, bad / "stack-newer", newer)
    _stack_copy(stack, bad / "stack-unlabelled", unlabelled)
    # Product folders with one bad product.
    (bad / "no-products").mkdir()
    (bad / "no-products" / "notes.txt").write_text("nothing here")
    _product_with_random_member(rtc, bad / "products-random-member", "_HH.tif")
    _zip_with_member(rtc, bad / "products-climbing", "../escaped.txt")
    _zip_with_member(rtc, bad / "products-absolute", "/tmp/absolute.txt")
    (bad / "products-truncated").mkdir()
    _truncate(shutil.copy(rtc, bad / "products-truncated" / rtc.name), 0.5)
    # Weights whose card or tensors are wrong.
    _card(weights, bad / "weights-one-channel", lambda d: d.update(channels=["copol_db"]))
    _card(weights, bad / "weights-no-norm", lambda d: d.pop("normalisation"))
    _card(weights, bad / "weights-arguments", lambda d: d["arguments"].update(widths=[8, 16]))
    _card(weights, bad / "weights-bad-card", lambda d: None)
    Path(f"{bad / 'weights-bad-card'}.json").write_text("{not json")
    _card(weights, bad / "weights-random-tensors", lambda d: None)
    _random_bytes(Path(f"{bad / 'weights-random-tensors'}.safetensors"))
    shutil.copy(f"{weights}.safetensors", bad / "weights-no-card.safetensors")
    (bad / "stacks-empty.txt").write_text("# no stack listed\n")
    mask = shutil.copy(stack / "labels" / f"{tile}.tif", root / "mask.tif")
    return Inputs(stack, products, products / "truth" / "outlines.gpkg", mask, weights, bad)


# ----------------------------------------------------------------------------------------------------
# Read-only folders, also for root


_CAP_DAC_OVERRIDE = 1  # linux/capability.h
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _set_dac_override(on: bool) -> None:
    """Raise or drop CAP_DAC_OVERRIDE in this thread's effective set (root ignores file modes)."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    bit = 1 << _CAP_DAC_OVERRIDE
    data[0].effective = data[0].effective | bit if on else data[0].effective & ~bit
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only for this process for the block, as for a user without root."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    as_root = os.geteuid() == 0
    if as_root:
        try:
            _set_dac_override(False)
        except (OSError, AttributeError) as exc:
            folder.chmod(0o755)
            pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({exc})")
    try:
        yield folder
    finally:
        if as_root:
            _set_dac_override(True)
        folder.chmod(0o755)


# ----------------------------------------------------------------------------------------------------
# Full disks: ENOSPC at the writers


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _full_rasters(monkeypatch) -> None:
    """Every rasterio write fails as on a full disk (tiles, COGs, predict's streams)."""
    import rasterio.io

    for cls in (rasterio.io.DatasetWriter, rasterio.io.BufferedDatasetWriter):
        monkeypatch.setattr(cls, "write", _no_space)


def _full_vectors(monkeypatch) -> None:
    """Every GeoPackage write (whole frames, or vectorize's stream) leaves a partial file, then
    fails as on a full disk."""
    import geopandas
    import pyogrio.raw

    def half_written(path) -> None:
        Path(path).write_bytes(b"SQLite format 3\0")
        _no_space()

    monkeypatch.setattr(
        geopandas.GeoDataFrame, "to_file", lambda frame, path, *a, **k: half_written(path)
    )
    monkeypatch.setattr(
        pyogrio.raw, "write_arrow", lambda batches, path, *a, **k: half_written(path)
    )


def _full_zips(monkeypatch) -> None:
    """Packing a product zip fails as on a full disk."""
    monkeypatch.setattr(zipfile.ZipFile, "writestr", _no_space)


def _full_checkpoints(monkeypatch) -> None:
    """Saving a training checkpoint fails as on a full disk."""
    import torch

    monkeypatch.setattr(torch, "save", _no_space)


def _full_pngs(monkeypatch) -> None:
    """Saving a figure fails as on a full disk."""
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", _no_space)


# ----------------------------------------------------------------------------------------------------
# The cases


@dataclass
class Case:
    """A command line, with what to prepare first.

    ``args`` may hold ``{ro}`` (a read-only folder), ``{tmp}`` (the test's folder) and ``{bad}``,
    ``{stack}``, ``{products}``, ``{outlines}``, ``{mask}``, ``{weights}`` (the inputs).
    """

    args: tuple[str, ...]
    prepare: Callable[[Path, Inputs], object] | None = None
    full: Callable[..., None] | None = None  # patches the writers (monkeypatch) as on a full disk
    message: str = ""  # a piece of the error line

    @property
    def needs_read_only(self) -> bool:
        return any("{ro}" in a for a in self.args)


def case(*args: str, prepare=None, full=None, message: str = "") -> Case:
    return Case(tuple(args), prepare, full, message)


def _write(relative: str, text: str | bytes) -> Callable[[Path, Inputs], None]:
    def prepare(tmp: Path, _inputs: Inputs) -> None:
        path = tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return prepare


def _damaged_catalog(tmp: Path, _inputs: Inputs) -> None:
    """The workspace's catalog with a page overwritten (its header still reads as SQLite)."""
    path = tmp / "workspace" / "catalog.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")
    with db:
        db.executemany(
            "INSERT INTO files VALUES (?, NULL, NULL, 1, NULL, 'verified', 0)",
            [(f"raw/example/2016/{i:05d}.zip",) for i in range(2000)],
        )
    db.close()
    with path.open("r+b") as f:
        f.seek(3 * 4096)
        f.write(b"\xff" * 4096)


def _newer_catalog(tmp: Path, _inputs: Inputs) -> None:
    db = sqlite3.connect(tmp / "workspace" / "catalog.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.close()


def _catalog_without_tables(tmp: Path, _inputs: Inputs) -> None:
    path = tmp / "workspace" / "catalog.sqlite"
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text)")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()


def _random_catalog(tmp: Path, _inputs: Inputs) -> None:
    _random_bytes(tmp / "workspace" / "catalog.sqlite", 8192)


def _workspace_stack(source: str, year: int = 2016):
    """The stack ``source`` (``{stack}`` or a path under ``{bad}``) copied as the workspace's of
    example ``year``."""

    def prepare(tmp: Path, inputs: Inputs) -> None:
        folder = Path(source.format(stack=inputs.stack, bad=inputs.bad))
        shutil.copytree(folder, tmp / "workspace" / "stacks" / "example" / str(year))

    return prepare


def _inventory(content: Callable[[Path], object]):
    """A workspace inventory of example 2016 whose glaciers.gpkg ``content`` writes."""

    def prepare(tmp: Path, inputs: Inputs) -> None:
        folder = tmp / "workspace" / "inventory" / "example" / "2016"
        folder.mkdir(parents=True)
        content(folder / "glaciers.gpkg")

    return prepare


def _grid_config(tmp: Path, _inputs: Inputs) -> None:
    """A config redefining region example on 3 km tiles (the stack lies on 2 km ones)."""
    (tmp / "glaciermap.toml").write_text(
        "[regions.example]\ncrs = 'EPSG:32633'\naoi = [430000, 8752000, 436000, 8758000]\n"
        "tile_size = 3000\nprefix = 'EXMP'\n"
    )


def _stack_list(tmp: Path, inputs: Inputs) -> None:
    (tmp / "stacks.txt").write_text(f"{inputs.stack}\n{inputs.stack}\n")


def _no_credentials(monkeypatch, tmp: Path) -> None:
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    monkeypatch.setenv("NETRC", str(tmp / "no-netrc"))


def _broken_netrc(monkeypatch, tmp: Path) -> None:
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    netrc = tmp / "netrc"
    netrc.write_text("machine urs.earthdata.nasa.gov login someone password s3cret bogus\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


# Few windows: each case fails on the first read or write, or predicts quickly.
PREDICT = ("predict", "{weights}", "--device", "cpu", "--window", "256", "--overlap", "0")
OUT = "{tmp}/out"
NOBODY = "tcp://127.0.0.1:9"
"""A scheduler address where nothing listens."""
TYPO_DASK = "[dask]\nschedular = 'tcp://127.0.0.1:9'\n"
RUN = ("run", "-r", "example", "-y", "2016", "--source", "simulate")
BAD_CONFIG = _write("glaciermap.toml", "workspace = [\n")
UNKNOWN_SETTING = _write("glaciermap.toml", "[predict]\nwindows = 3\n")

CASES: dict[str, Case] = {
    # simulate
    "simulate-year-before-sentinel1": case("simulate", "--year", "2010", "-o", OUT),
    "simulate-year-in-the-future": case("simulate", "--year", "2999", "-o", OUT),
    "simulate-unknown-region": case("simulate", "--region", "atlantis", "-o", OUT),
    "simulate-acquisitions-out-of-range": case("simulate", "--acquisitions", "0", "-o", OUT),
    "simulate-output-is-a-file": case("simulate", "-o", "{mask}"),
    "simulate-read-only-output": case("simulate", "--acquisitions", "1", "-o", "{ro}/sim"),
    "simulate-missing-outlines": case("simulate", "--outlines", "{tmp}/none.gpkg", "-o", OUT),
    "simulate-random-byte-outlines": case("simulate", "--outlines", "{bad}/random.gpkg", "-o", OUT),
    "simulate-corrupt-config": case("simulate", "-o", OUT, prepare=BAD_CONFIG),
    "simulate-full-disk": case(
        "simulate",
        "--acquisitions",
        "1",
        "--no-cross-pol",
        "-j",
        "1",
        "-o",
        OUT,
        full=_full_zips,
    ),
    # preprocess
    "preprocess-missing-input": case(
        "preprocess", "{tmp}/none", "-o", OUT, "--region", "example", message="does not exist"
    ),
    "preprocess-no-products": case(
        "preprocess", "{bad}/no-products", "-o", OUT, "--region", "example"
    ),
    "preprocess-no-region": case("preprocess", "{products}", "-o", OUT),
    "preprocess-acquisitions-out-of-range": case(
        "preprocess", "{products}", "-o", OUT, "-r", "example", "--acquisitions", "16"
    ),
    "preprocess-missing-inventory": case(
        "preprocess", "{products}", "-o", OUT, "-r", "example", "--inventory", "{tmp}/x.gpkg"
    ),
    "preprocess-random-byte-inventory": case(
        "preprocess", "{products}", "-o", OUT, "-r", "example", "--inventory", "{bad}/random.gpkg"
    ),
    "preprocess-inventory-missing-the-region": case(
        "preprocess",
        "{products}",
        "-o",
        OUT,
        "-r",
        "example",
        "--acquisitions",
        "4",
        "--min-acquisitions",
        "1",
        "-j",
        "1",
        "--inventory",
        "{bad}/far.gpkg",
        message="reaches the region",
    ),
    "preprocess-missing-split-file": case(
        "preprocess", "{products}", "-o", OUT, "-r", "example", "--split", "{tmp}/grid.gpkg"
    ),
    "preprocess-random-byte-member": case(
        "preprocess",
        "{bad}/products-random-member",
        "-o",
        OUT,
        "-r",
        "example",
        message="member _HH.tif",
    ),
    "preprocess-truncated-product": case(
        "preprocess", "{bad}/products-truncated", "-o", OUT, "-r", "example"
    ),
    "preprocess-zip-member-climbing-out": case(
        "preprocess", "{bad}/products-climbing", "-o", OUT, "-r", "example", message="'..'"
    ),
    "preprocess-year-without-products": case(
        "preprocess", "{products}", "-o", OUT, "-r", "example", "--year", "2017"
    ),
    "preprocess-output-holds-another-year": case(
        "preprocess",
        "{products}",
        "-o",
        "{tmp}/stack",
        "-r",
        "example",
        "--year",
        "2017",
        prepare=lambda tmp, i: shutil.copytree(i.stack, tmp / "stack"),
        message="holds the stack of example 2016",
    ),
    "preprocess-read-only-output": case(
        "preprocess",
        "{products}",
        "-o",
        "{ro}/stack",
        "-r",
        "example",
        "--acquisitions",
        "4",
        "--min-acquisitions",
        "1",
        "-j",
        "1",
    ),
    "preprocess-full-disk": case(
        "preprocess",
        "{products}",
        "-o",
        OUT,
        "-r",
        "example",
        "--acquisitions",
        "4",
        "--min-acquisitions",
        "1",
        "-j",
        "1",
        full=_full_rasters,
    ),
    # download (nothing here reaches a network)
    "download-year-before-sentinel1": case(
        "download", "-r", "example", "-y", "2010", "--dry-run", message="before Sentinel-1"
    ),
    "download-year-in-the-future": case("download", "-r", "example", "-y", "2999", "--dry-run"),
    "download-no-region": case("download", "-y", "2016", "--dry-run"),
    "download-unknown-region": case("download", "-r", "atlantis", "-y", "2016", "--dry-run"),
    "download-acquisitions-out-of-range": case(
        "download", "-r", "example", "-y", "2016", "--acquisitions", "0"
    ),
    "download-workers-out-of-range": case("download", "-r", "example", "-y", "2016", "-j", "0"),
    "download-import-missing-folder": case(
        "download", "-r", "example", "-y", "2016", "--import", "{tmp}/none"
    ),
    "download-import-no-products": case(
        "download", "-r", "example", "-y", "2016", "--import", "{bad}/no-products"
    ),
    "download-import-truncated-zip": case(
        "download", "-r", "example", "-y", "2016", "--import", "{bad}/products-truncated"
    ),
    "download-import-member-climbing-out": case(
        "download",
        "-r",
        "example",
        "-y",
        "2016",
        "--import",
        "{bad}/products-climbing",
        message="'..'",
    ),
    "download-import-absolute-member": case(
        "download",
        "-r",
        "example",
        "-y",
        "2016",
        "--import",
        "{bad}/products-absolute",
        message="absolute",
    ),
    "download-no-credentials": case("download", "-r", "example", "-y", "2016"),
    "download-broken-netrc": case("download", "-r", "example", "-y", "2016", message="netrc"),
    "download-status-random-byte-catalog": case(
        "download",
        "-r",
        "example",
        "-y",
        "2016",
        "--status",
        prepare=_random_catalog,
        message="catalog.sqlite",
    ),
    "download-status-damaged-catalog": case(
        "download",
        "-r",
        "example",
        "-y",
        "2016",
        "--status",
        prepare=_damaged_catalog,
        message="catalog.sqlite",
    ),
    # train
    "train-no-stack": case("train"),
    "train-missing-stack": case("train", "--stack", "{tmp}/none"),
    "train-unlabelled-stack": case("train", "--stack", "{bad}/stack-unlabelled", "-o", OUT),
    "train-damaged-stack-json": case("train", "--stack", "{bad}/stack-bad-json", "-o", OUT),
    "train-empty-stack-list": case("train", "--stacks", "{bad}/stacks-empty.txt", "-o", OUT),
    "train-stack-listed-twice": case(
        "train", "--stacks", "{tmp}/stacks.txt", "-o", OUT, prepare=_stack_list
    ),
    "train-patch-out-of-range": case("train", "--stack", "{stack}", "--patch", "4", "-o", OUT),
    "train-epochs-out-of-range": case("train", "--stack", "{stack}", "--epochs", "0", "-o", OUT),
    "train-bad-widths": case("train", "--stack", "{stack}", "--widths", "a,b", "-o", OUT),
    "train-missing-init-weights": case(
        "train", "--stack", "{stack}", "--init", "{tmp}/none", "-o", OUT
    ),
    "train-stack-of-another-year": case("train", "--stack", "{stack}", "--year", "2017"),
    "train-read-only-output": case(
        "train", "--stack", "{stack}", "-o", "{ro}/run", "--epochs", "1", "--device", "cpu"
    ),
    # evaluate
    "evaluate-missing-label-tile": case(
        "evaluate",
        "{weights}",
        "--stack",
        "{bad}/stack-missing-label",
        "--split",
        "all",
        message="labels/",
    ),
    "evaluate-truncated-tile": case(
        "evaluate",
        "{weights}",
        "--stack",
        "{bad}/stack-truncated-tile",
        "--split",
        "all",
        "--acquisitions",
        "4",
        message="preprocess",
    ),
    "evaluate-random-byte-tile": case(
        "evaluate",
        "{weights}",
        "--stack",
        "{bad}/stack-random-tile",
        "--split",
        "all",
        "--acquisitions",
        "4",
        message="preprocess",
    ),
    "evaluate-unlabelled-stack": case("evaluate", "{weights}", "--stack", "{bad}/stack-unlabelled"),
    "evaluate-acquisitions-not-numbers": case(
        "evaluate", "{weights}", "--stack", "{stack}", "--acquisitions", "x,y"
    ),
    "evaluate-acquisitions-zero": case(
        "evaluate", "{weights}", "--stack", "{stack}", "--acquisitions", "0"
    ),
    "evaluate-unknown-split": case("evaluate", "{weights}", "--stack", "{stack}", "--split", "x"),
    "evaluate-weights-without-card": case(
        "evaluate", "{bad}/weights-no-card", "--stack", "{stack}"
    ),
    "evaluate-corrupt-card": case("evaluate", "{bad}/weights-bad-card", "--stack", "{stack}"),
    "evaluate-stack-of-another-region": case(
        "evaluate", "{weights}", "--stack", "{stack}", "--region", "svalbard"
    ),
    "evaluate-plot-full-disk": case(
        "evaluate",
        "{weights}",
        "--stack",
        "{stack}",
        "--split",
        "all",
        "--acquisitions",
        "4",
        "--plot",
        "{tmp}/rel.png",
        full=_full_pngs,
    ),
    # calibrate
    "calibrate-missing-stack": case("calibrate", "{weights}", "--stack", "{tmp}/none"),
    "calibrate-unlabelled-stack": case(
        "calibrate", "{weights}", "--stack", "{bad}/stack-unlabelled"
    ),
    "calibrate-weights-of-other-channels": case(
        "calibrate", "{bad}/weights-one-channel", "--stack", "{stack}", "--split", "all"
    ),
    "calibrate-unknown-split": case("calibrate", "{weights}", "--stack", "{stack}", "--split", "x"),
    "calibrate-random-byte-tensors": case(
        "calibrate", "{bad}/weights-random-tensors", "--stack", "{stack}"
    ),
    # predict
    "predict-read-only-output": case(*PREDICT, "--stack", "{stack}", "-o", "{ro}/pred"),
    "predict-truncated-tile": case(
        *PREDICT, "--stack", "{bad}/stack-truncated-tile", "-o", OUT, message="tiles/"
    ),
    "predict-random-byte-tile": case(
        *PREDICT, "--stack", "{bad}/stack-random-tile", "-o", OUT, message="tiles/"
    ),
    "predict-missing-tile": case(*PREDICT, "--stack", "{bad}/stack-missing-tile", "-o", OUT),
    "predict-damaged-stack-json": case(*PREDICT, "--stack", "{bad}/stack-bad-json", "-o", OUT),
    "predict-empty-stack-json": case(*PREDICT, "--stack", "{bad}/stack-empty-json", "-o", OUT),
    "predict-newer-stack-format": case(*PREDICT, "--stack", "{bad}/stack-newer", "-o", OUT),
    "predict-a-file-as-stack": case(*PREDICT, "--stack", "{mask}", "-o", OUT),
    "predict-window-zero": case("predict", "--stack", "{stack}", "-o", OUT, "--window", "0"),
    "predict-overlap-one": case("predict", "--stack", "{stack}", "-o", OUT, "--overlap", "1.0"),
    "predict-window-off-stride": case(
        "predict", "{weights}", "--stack", "{stack}", "-o", OUT, "--window", "63"
    ),
    "predict-unknown-weights": case("predict", "nosuch", "--stack", "{stack}", "-o", OUT),
    "predict-weights-of-other-channels": case(
        "predict", "{bad}/weights-one-channel", "--stack", "{stack}", "-o", OUT
    ),
    "predict-weights-without-statistics": case(
        "predict", "{bad}/weights-no-norm", "--stack", "{stack}", "-o", OUT
    ),
    "predict-card-arguments-not-the-tensors": case(
        "predict", "{bad}/weights-arguments", "--stack", "{stack}", "-o", OUT
    ),
    "predict-stack-of-another-year": case(*PREDICT, "--stack", "{stack}", "--year", "2017"),
    "predict-workspace-stack-of-another-year": case(
        *PREDICT,
        "--region",
        "example",
        "--year",
        "2017",
        prepare=_workspace_stack("{stack}", 2017),
        message="is of 2016",
    ),
    "predict-stack-of-another-grid": case(
        *PREDICT,
        "--stack",
        "{stack}",
        "--region",
        "example",
        "-o",
        OUT,
        prepare=_grid_config,
        message="another grid",
    ),
    "predict-no-stack-in-workspace": case(*PREDICT, "--region", "example", "--year", "2016"),
    "predict-existing-output": case(
        *PREDICT, "--stack", "{stack}", "-o", OUT, prepare=_write("out/mask.tif", "old")
    ),
    "predict-unknown-config-setting": case(
        *PREDICT, "--stack", "{stack}", "-o", OUT, prepare=UNKNOWN_SETTING
    ),
    "predict-full-disk": case(*PREDICT, "--stack", "{stack}", "-o", OUT, full=_full_rasters),
    # vectorize
    "vectorize-missing-raster": case("vectorize", "{tmp}/none.tif", "-o", "{tmp}/v.gpkg"),
    "vectorize-empty-file": case("vectorize", "{bad}/empty.tif", "-o", "{tmp}/v.gpkg"),
    "vectorize-truncated-raster": case("vectorize", "{bad}/truncated.tif", "-o", "{tmp}/v.gpkg"),
    "vectorize-random-bytes": case("vectorize", "{bad}/random.tif", "-o", "{tmp}/v.gpkg"),
    "vectorize-raster-without-crs": case("vectorize", "{bad}/nocrs.tif", "-o", "{tmp}/v.gpkg"),
    "vectorize-vector-given-as-raster": case(
        "vectorize", "{outlines}", "-o", "{tmp}/v.gpkg", message="as a raster"
    ),
    "vectorize-band-out-of-range": case("vectorize", "{mask}", "--band", "5", "-o", "{tmp}/v.gpkg"),
    "vectorize-min-area-negative": case(
        "vectorize", "{mask}", "--min-area", "-1", "-o", "{tmp}/v.gpkg"
    ),
    "vectorize-read-only-output": case("vectorize", "{mask}", "-o", "{ro}/v.gpkg", "-j", "1"),
    "vectorize-existing-output": case(
        "vectorize", "{mask}", "-o", "{tmp}/v.gpkg", prepare=_write("v.gpkg", "old")
    ),
    "vectorize-full-disk": case(
        "vectorize", "{mask}", "-o", "{tmp}/v.gpkg", "-j", "1", full=_full_vectors
    ),
    # Many machines (a cluster that cannot be used is refused before any work)
    "preprocess-unknown-cluster": case(
        "preprocess", "{products}", "-o", OUT, "-r", "example", "--cluster", "remote"
    ),
    "vectorize-scheduler-and-cluster": case(
        "vectorize", "{mask}", "-o", "{tmp}/v.gpkg", "--scheduler", NOBODY, "--cluster", "local"
    ),
    "predict-unknown-dask-setting": case(
        *PREDICT, "--stack", "{stack}", "-o", OUT, prepare=_write("glaciermap.toml", TYPO_DASK)
    ),
    # run connects when a stage first needs the cluster (an up-to-date run needs none): a spec it
    # cannot use at all is refused at once
    "run-unknown-cluster": case(*RUN, "--cluster", "local:0"),
    # diff
    "diff-missing-new": case("diff", "{tmp}/none.gpkg", "{outlines}", "-o", "{tmp}/d.gpkg"),
    "diff-missing-reference": case("diff", "{outlines}", "{tmp}/none.gpkg", "-o", "{tmp}/d.gpkg"),
    "diff-empty-file": case("diff", "{bad}/empty.gpkg", "{outlines}", "-o", "{tmp}/d.gpkg"),
    "diff-random-bytes": case("diff", "{bad}/random.gpkg", "{outlines}", "-o", "{tmp}/d.gpkg"),
    "diff-text-as-geopackage": case("diff", "{bad}/text.gpkg", "{outlines}", "-o", "{tmp}/d.gpkg"),
    "diff-raster-given-as-outlines": case("diff", "{mask}", "{outlines}", "-o", "{tmp}/d.gpkg"),
    "diff-points-not-polygons": case(
        "diff", "{bad}/points.gpkg", "{outlines}", "-o", "{tmp}/d.gpkg"
    ),
    "diff-outlines-without-crs": case(
        "diff", "{bad}/nocrs.gpkg", "{outlines}", "-o", "{tmp}/d.gpkg"
    ),
    "diff-crs-in-degrees": case(
        "diff", "{outlines}", "{outlines}", "--crs", "EPSG:4326", "-o", "{tmp}/d.gpkg"
    ),
    "diff-unknown-crs": case(
        "diff", "{outlines}", "{outlines}", "--crs", "EPSG:0", "-o", "{tmp}/d.gpkg"
    ),
    "diff-min-front-area-negative": case(
        "diff", "{outlines}", "{outlines}", "--min-front-area", "-1", "-o", "{tmp}/d.gpkg"
    ),
    "diff-read-only-output": case("diff", "{outlines}", "{outlines}", "-o", "{ro}/d.gpkg"),
    "diff-full-disk": case(
        "diff", "{outlines}", "{outlines}", "-o", "{tmp}/d.gpkg", full=_full_vectors
    ),
    "diff-plot-full-disk": case(
        "diff", "{outlines}", "{outlines}", "--plot", "{tmp}/d.png", full=_full_pngs
    ),
    # run
    "run-year-before-sentinel1": case("run", "-r", "example", "-y", "2009"),
    "run-unknown-region": case("run", "-r", "atlantis", "-y", "2016"),
    "run-missing-source-folder": case(
        "run", "-r", "example", "-y", "2016", "--source", "{tmp}/none"
    ),
    "run-random-byte-reference": case(
        "run", "-r", "example", "-y", "2016", "--reference", "{bad}/random.gpkg"
    ),
    "run-corrupt-config": case("run", "-r", "example", "-y", "2016", prepare=BAD_CONFIG),
    "run-random-byte-catalog": case(
        "run",
        "-r",
        "example",
        "-y",
        "2016",
        "--source",
        "simulate",
        prepare=_random_catalog,
        message="catalog.sqlite",
    ),
    "run-damaged-catalog": case(
        "run",
        "-r",
        "example",
        "-y",
        "2016",
        "--source",
        "simulate",
        prepare=_damaged_catalog,
        message="catalog.sqlite",
    ),
    "run-catalog-without-tables": case(
        "run",
        "--status",
        "-r",
        "example",
        prepare=_catalog_without_tables,
        message="catalog.sqlite",
    ),
    "run-catalog-of-a-newer-glaciermap": case(
        "run", "--status", "-r", "example", prepare=_newer_catalog, message="newer"
    ),
    # history
    "history-no-region": case("history"),
    "history-unknown-region": case("history", "-r", "atlantis"),
    "history-no-inventory-yet": case("history", "-r", "example"),
    "history-random-byte-inventory": case(
        "history", "-r", "example", prepare=_inventory(lambda p: _random_bytes(p))
    ),
    "history-empty-inventory-file": case(
        "history", "-r", "example", prepare=_inventory(lambda p: p.touch())
    ),
    "history-corrupt-config": case("history", "-r", "example", prepare=BAD_CONFIG),
}

_SETUP = {
    "download-no-credentials": _no_credentials,
    "download-broken-netrc": _broken_netrc,
}


def _files(root: Path) -> set[Path]:
    """Every file under ``root`` under a final name (no part of the path hidden)."""
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def _check_one_line(exit_code: int, stderr: str, message: str = "") -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert exit_code == 2, stderr
    assert len(errors) == 1, stderr
    assert " — " in errors[0], errors[0]  # what is wrong — what to do
    assert message in errors[0], errors[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_leaves_nothing(name, run_cli, inputs, tmp_path, monkeypatch):
    from glaciermap.workspace import Workspace

    bad = CASES[name]
    Workspace.open(tmp_path / "workspace").catalog().close()  # so opening it is no new file
    if bad.prepare is not None:
        bad.prepare(tmp_path, inputs)
    if name in _SETUP:
        _SETUP[name](monkeypatch, tmp_path)
    ro = tmp_path / "ro"
    args = [
        a.format(
            tmp=tmp_path,
            ro=ro,
            bad=inputs.bad,
            stack=inputs.stack,
            products=inputs.products,
            outlines=inputs.outlines,
            mask=inputs.mask,
            weights=inputs.weights,
        )
        for a in bad.args
    ]
    if bad.needs_read_only:
        ro.mkdir()
    before = _files(tmp_path)
    if bad.full is not None:
        bad.full(monkeypatch)
    with read_only(ro) if bad.needs_read_only else contextlib.nullcontext():
        result = run_cli(*args)
    monkeypatch.undo()
    _check_one_line(result.exit_code, result.stderr, bad.message)
    assert _files(tmp_path) == before, name


def test_a_full_disk_while_training_is_one_line_and_the_rerun_completes(
    run_cli, inputs, tmp_path, monkeypatch
):
    """A checkpoint that cannot be saved stops train with one line; the run folder holds only
    complete files (best weights so far, the recipe), nothing hidden, and the next run completes."""
    from glaciermap.models.weights import load_weights

    out = tmp_path / "run"
    args = [
        "train", "--stack", str(inputs.stack), "--epochs", "1", "--patch", "32", "--batch-size",
        "2", "--samples-per-epoch", "2", "--widths", "4,8", "--workers", "0", "-o", str(out),
    ]  # fmt: skip
    _full_checkpoints(monkeypatch)
    result = run_cli(*args)
    monkeypatch.undo()
    _check_one_line(result.exit_code, result.stderr, "No space left")
    assert not [p for p in out.rglob(".*")], "hidden leftovers"
    load_weights(out / "best")  # complete, its sha256 checked
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert (out / "last.pt").is_file()


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60
    commands = {c.args[0] for c in CASES.values()}
    assert commands >= {
        "simulate", "preprocess", "download", "train", "evaluate", "calibrate", "predict",
        "vectorize", "diff", "run", "history",
    }  # fmt: skip


def test_a_random_byte_member_is_one_short_line(run_cli, inputs, tmp_path):
    """The product is named once, then the member (it once took 501 characters, four names)."""
    result = run_cli(
        "preprocess", inputs.bad / "products-random-member", "-o", tmp_path / "s", "-r", "example"
    )
    _check_one_line(result.exit_code, result.stderr)
    line = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    zip_name = next((inputs.bad / "products-random-member").glob("*.zip")).name
    base = zip_name.removesuffix(".zip")
    assert line.count(base) == 1 and len(line) - len(str(inputs.bad)) < 250, line


# ----------------------------------------------------------------------------------------------------
# Full disks for real: a file-size limit (ulimit -f) in a subprocess


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["vectorize", "{mask}", "-o", "{tmp}/v.gpkg", "-j", "1"], id="vectorize"),
        pytest.param([*PREDICT, "--stack", "{stack}", "-o", "{tmp}/pred"], id="predict"),
        # The COG driver writes at close and deletes its partial file when that fails: the
        # limit is found from the size the tile could take.
        pytest.param(
            ["preprocess", "{products}", "-o", "{tmp}/stack", "--region", "example", "-j", "1"],
            id="preprocess",
        ),
        pytest.param(
            ["simulate", "--region", "example", "--year", "2016", "-o", "{tmp}/sim", "-j", "1"],
            id="simulate",
        ),
    ],
)
def test_a_file_size_limit_is_one_line(args, inputs, tmp_path):
    import resource

    def limit() -> None:  # runs in the child before glaciermap starts
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))

    env = {
        **os.environ,
        "GLACIERMAP_WORKSPACE": str(tmp_path / "workspace"),
        "GLACIERMAP_CONFIG": str(tmp_path / "glaciermap.toml"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    (tmp_path / "glaciermap.toml").touch()
    command = [
        a.format(
            tmp=tmp_path,
            mask=inputs.mask,
            stack=inputs.stack,
            weights=inputs.weights,
            products=inputs.stack.parent / "products",
        )
        for a in args
    ]
    before = _files(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "glaciermap", *command],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limit,
        timeout=300,
    )
    _check_one_line(done.returncode, done.stderr, "ulimit -f")
    assert _files(tmp_path) == before


# ----------------------------------------------------------------------------------------------------
# Where a warning and exit 0 are right


def test_weights_trained_on_other_dates_warn_and_predict(run_cli, inputs, tmp_path):
    """Both architectures accept any number of dates (docs/ARCHITECTURE: only a model that needs its
    T refuses another), so predicting goes on; but the user is told before, in one line."""

    def summer(doc: dict) -> None:
        doc["training_data"] = [{"region": "example", "year": 2016, "dates": ["2016-08-05"]}]

    weights = _card(inputs.weights, tmp_path / "summer", summer)
    result = run_cli(
        "predict", weights, "--stack", inputs.stack, "-o", tmp_path / "o", "--device", "cpu",
        "--window", "256", "--overlap", "0", "--no-vectorize",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "1 date, 4 Aug" in warnings[0], result.stderr
    assert "4 dates, 1 Jan to 13 Mar" in warnings[0] and "--acquisitions 15" in warnings[0]

    more = _card(inputs.weights, tmp_path / "fifteen", lambda doc: doc.update(n_times=15))
    result = run_cli(
        "predict", more, "--stack", inputs.stack, "-o", tmp_path / "o2", "--device", "cpu",
        "--window", "256", "--overlap", "0", "--no-vectorize",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "trained on 15 dates" in result.stderr


def test_a_netrc_others_can_read_is_used_with_a_warning(tmp_path, monkeypatch, caplog):
    """curl and requests users expect it: the login still works (refusing would break cron jobs
    that ran yesterday), and the warning never shows the secret."""
    from glaciermap.download.auth import find_credentials

    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine urs.earthdata.nasa.gov login someone password s3cret-pass\n")
    netrc.chmod(0o644)
    monkeypatch.setenv("NETRC", str(netrc))
    with caplog.at_level("WARNING", logger="glaciermap"):
        credentials = find_credentials(interactive=False)
    assert credentials.username == "someone"
    assert len(caplog.records) == 1 and "chmod 600" in caplog.text and "644" in caplog.text
    assert "s3cret-pass" not in caplog.text and "someone" not in caplog.text
    caplog.clear()
    netrc.chmod(0o600)
    with caplog.at_level("WARNING", logger="glaciermap"):
        find_credentials(interactive=False)
    assert not caplog.records


def test_an_empty_catalog_file_is_made_anew(tmp_path):
    """A 0-byte catalog.sqlite (a disk that filled up as it was created) holds nothing to lose:
    SQLite reads it as an empty database and the schema is created, silently."""
    from glaciermap.workspace import Workspace

    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "catalog.sqlite").touch()
    catalog = Workspace.open(tmp_path / "ws").catalog()
    assert catalog.count("files") == 0
    catalog.close()
