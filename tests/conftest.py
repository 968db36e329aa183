"""Shared fixtures: the real public data beside the checkout, and running the CLI in-process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get(
        "GLACIERMAP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real public data); tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set GLACIERMAP_SHARED_DATA)")
    return SHARED_DATA


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys, monkeypatch, tmp_path):
    """Run ``glaciermap ARGS...`` in-process and return exit code, stdout and stderr.

    The workspace and config default to fresh folders under tmp_path so tests never touch the user's.
    """
    from glaciermap.cli.main import main

    monkeypatch.setenv("GLACIERMAP_WORKSPACE", str(tmp_path / "workspace"))
    config = tmp_path / "glaciermap.toml"
    config.touch()
    monkeypatch.setenv("GLACIERMAP_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")

    def _run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return _run


EXAMPLE_STACK_SLOTS = 4
"""24-day slots of the small simulated stack shared by the training tests (one is always missing)."""


@pytest.fixture(scope="session")
def example_stack(tmp_path_factory) -> Path:
    """A small simulated stack: the `example` region's 2016, 4 slots, labels from the truth.

    Built once per test session so the tests never depend on `make demo`.
    """
    from glaciermap.preprocess.stack import build_stack
    from glaciermap.regions import BUILTIN_REGIONS
    from glaciermap.simulate.scene import simulate_year

    region = BUILTIN_REGIONS["example"]
    root = tmp_path_factory.mktemp("example-stack")
    products = root / "products"
    simulate_year(
        region,
        2016,
        products,
        seed=0,
        n_acquisitions=EXAMPLE_STACK_SLOTS,
        cross_pol=False,
        workers=2,
    )
    build_stack(
        region,
        products,
        root / "stack",
        year=2016,
        inventory=products / "truth" / "outlines.gpkg",
        n_slots=EXAMPLE_STACK_SLOTS,
    )
    return root / "stack"


@pytest.fixture(scope="session")
def example_year_stack(tmp_path_factory) -> Path:
    """The demo's stack: `example` region, 2016, all 15 slots, seed 0, built with the CLI as
    `make demo` does (about 15 s on 2 cores). The shipped cards record scores on this scene."""
    from glaciermap.cli.main import main

    root = tmp_path_factory.mktemp("example-year")
    scene, stack = root / "scene", root / "stack"
    assert (
        main(["simulate", "--region", "example", "--year", "2016", "--seed", "0", "-o", str(scene)])
        == 0
    )
    args = ["preprocess", str(scene), "-o", str(stack), "--region", "example", "--year", "2016"]
    assert main([*args, "--inventory", str(scene / "truth" / "outlines.gpkg")]) == 0
    return stack


SHIFT_DB = 5.0
"""How many dB :func:`shifted_stack` adds to the example stack's backscatter."""


def copy_stack(stack: Path, dest: Path, *, shift_db: float = 0.0) -> Path:
    """A copy of ``stack`` in ``dest``, every ``*_db`` band raised by ``shift_db`` (tiles and the
    stack.json statistics alike: the same scene, only its backscatter levels are another year's)."""
    import json
    import shutil

    import numpy as np
    import rasterio

    shutil.copytree(stack, dest)
    doc = json.loads((dest / "stack.json").read_text())
    if shift_db:
        channels = doc["channels"]
        for tile in doc["tiles"]:
            path = dest / "tiles" / f"{tile}.tif"
            with rasterio.open(path) as src:
                profile, data, descriptions = src.profile, src.read(), src.descriptions
            for band in range(data.shape[0]):
                if channels[band % len(channels)].endswith("_db"):
                    data[band] += np.float32(shift_db)
            path.unlink()
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(data)
                dst.descriptions = descriptions
        for name in channels:
            if name.endswith("_db"):
                doc["normalisation"][name]["mean"] += shift_db
    (dest / "stack.json").write_text(json.dumps(doc, indent=2))
    return dest


@pytest.fixture(scope="session")
def shifted_stack(example_stack, tmp_path_factory) -> Path:
    """The example stack with every backscatter value (and its mean) raised by :data:`SHIFT_DB`."""
    return copy_stack(
        example_stack, tmp_path_factory.mktemp("shifted") / "stack", shift_db=SHIFT_DB
    )
