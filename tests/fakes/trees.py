"""Comparing what two runs wrote: the same files, rasters and zips byte for byte, GeoPackages feature
for feature (their headers hold times), JSON records but for times, weights to float tolerance."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

VOLATILE = frozenset({"created", "seconds", "model_seconds", "inputs_hash"})
"""Record keys that hold times (or, for build_stack's inputs hash, the products' absolute paths)."""


def files(root: Path) -> list[str]:
    """Every file under ``root``, hidden ones included, relative and sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def hidden(root: Path) -> list[Path]:
    """Hidden files and folders under ``root`` and its lock beside it: what a killed writer leaves."""
    beside = root.parent / f".{root.name}.lock"
    return sorted([*root.rglob(".*"), *([beside] if beside.exists() else [])])


def assert_same_file(
    left: Path, right: Path, *, volatile: Iterable[str] = (), roots: Iterable[Path] = ()
) -> None:
    """``left`` and ``right`` hold the same content; ``roots``' paths are equal in JSON records."""
    import numpy as np

    name = str(right)
    if left.suffix == ".gpkg":
        import geopandas as gpd
        import pyogrio

        for layer, _ in pyogrio.list_layers(left):
            x, y = gpd.read_file(left, layer=layer), gpd.read_file(right, layer=layer)
            assert x.drop(columns="geometry").equals(y.drop(columns="geometry")), name
            assert x.geometry.geom_equals_exact(y.geometry, 0).all(), name
    elif left.suffix == ".json":
        skip = VOLATILE | set(volatile)

        def record(path: Path) -> object:
            text = path.read_text()
            for root in roots:
                text = text.replace(str(root), "<root>")
            return {k: v for k, v in json.loads(text).items() if k not in skip}

        assert record(left) == record(right), name
    elif left.suffix == ".csv":  # metrics: every column but the times, to float tolerance
        a, b = (np.genfromtxt(p, delimiter=",", names=True) for p in (left, right))
        assert a.dtype.names == b.dtype.names, name
        for column in a.dtype.names or ():
            if column != "seconds":
                assert np.allclose(a[column], b[column], atol=1e-5, equal_nan=True), (name, column)
    elif left.suffix == ".safetensors":
        from safetensors.numpy import load_file

        x, y = load_file(str(left)), load_file(str(right))
        assert x.keys() == y.keys(), name
        assert all(np.allclose(x[k], y[k], atol=1e-5) for k in x), name
    else:
        assert left.read_bytes() == right.read_bytes(), name


def assert_same_tree(
    a: Path, b: Path, *, skip: Iterable[str] = (), volatile: Iterable[str] = ()
) -> None:
    """``a`` and ``b`` hold the same files (hidden ones included) with the same content; files and
    folders named in ``skip`` are left out (TensorBoard events, resume state)."""
    left_out = set(skip)

    def kept(root: Path) -> list[str]:
        return [f for f in files(root) if left_out.isdisjoint(Path(f).parts)]

    assert kept(a) == kept(b)
    for name in kept(a):
        assert_same_file(a / name, b / name, volatile=volatile, roots=(a, b))
