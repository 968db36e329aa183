"""The import graph: who may import what (docs/design.md, "Layers and the import rule").

* Only ``glaciermap/io/`` talks to drivers and remote services: nothing else imports ``rasterio`` itself
  (opening files, environments), ``pyogrio``, ``asf_search``, ``hyp3_sdk`` or ``requests``. GDAL's pure
  algorithms (``rasterio.warp``, ``.features``, ``.windows``, ...) may be used by the stages.
* No stage imports ``glaciermap.training`` except the ``train`` and ``evaluate`` commands.
* Modules that run without a network never pay for torch: planning a download, reading a stack,
  predict's window reader, the model card.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "glaciermap"
EDGES = ("pyogrio", "asf_search", "hyp3_sdk", "requests")
RASTERIO_ALGORITHMS = {"warp", "features", "windows", "enums", "transform", "crs", "errors"}
TRAINING_USERS = {"training", "cli/train.py", "cli/evaluate.py", "cli/calibrate.py"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every module an import statement in ``path`` names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "rasterio":  # `from rasterio import windows` names submodules
                found += [(node.lineno, f"rasterio.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _edge_violation(name: str) -> bool:
    top, _, rest = name.partition(".")
    if top in EDGES:
        return True
    return top == "rasterio" and rest.split(".")[0] not in RASTERIO_ALGORITHMS


def test_only_io_talks_to_drivers_and_services():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in _modules()
        if path.relative_to(PACKAGE).parts[0] != "io"
        for line, name in _imports(path)
        if _edge_violation(name)
    ]
    assert not offenders, "\n".join(offenders)


def test_no_stage_imports_training():
    offenders = []
    for path in _modules():
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in TRAINING_USERS or rel.as_posix() in TRAINING_USERS:
            continue
        offenders += [
            f"{rel}:{line} imports {name}"
            for line, name in _imports(path)
            if name == "glaciermap.training" or name.startswith("glaciermap.training.")
        ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "module",
    [
        "glaciermap.calendar",
        "glaciermap.stack_format",
        "glaciermap.models.card",
        "glaciermap.download.plan",
        "glaciermap.download.run",
        "glaciermap.preprocess.stack",
        "glaciermap.predict.reader",
        "glaciermap.vectorize",
        "glaciermap.diff",
        "glaciermap.workspace",
        "glaciermap.pipeline",
    ],
)
def test_importing_loads_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", f"importing {module} loads torch"


def test_importing_glaciermap_loads_no_dask():
    """Dask is imported only when a cluster is asked for (glaciermap.cluster imports it lazily)."""
    code = (
        "import sys, glaciermap.cli.main, glaciermap.cluster, glaciermap.predict.engine\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_only_the_cluster_module_imports_dask():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in _modules()
        if path.relative_to(PACKAGE).as_posix() != "cluster.py"
        for line, name in _imports(path)
        if name.split(".")[0] in ("dask", "distributed")
    ]
    assert not offenders, "\n".join(offenders)
