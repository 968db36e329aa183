"""Frames shaped exactly as the inventory contract says, and rows made safe for JSON.

:func:`contract_frame` orders and types the columns of ``glaciers.gpkg`` and ``changes.gpkg`` from
:mod:`glaciermap.inventory_format` (``str`` object columns holding str, ``str|null`` str or None,
``float`` float64, ``int`` int64, ``bool`` bool), so every writer and reader agrees on the schema, and an
empty layer still has its columns. :func:`json_rows` turns table rows into plain Python values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd
    from pyproj import CRS

# Decimals kept in JSON: a micro-km² (1 m²) is below any pixel; more digits are only noise.
JSON_DECIMALS = 6


def contract_frame(
    columns: Mapping[str, Any],
    spec: Sequence[tuple[str, str]],
    *,
    geometry: Any,
    crs: CRS | str | None,
) -> gpd.GeoDataFrame:
    """A GeoDataFrame with exactly the columns of ``spec`` (name, type), in order, then ``geometry``.

    Args:
        columns: values per column name (arrays or Series of equal length); a missing column is an error.
        spec: the contract's ``(name, type)`` pairs, e.g. ``GLACIER_COLUMNS``.
        geometry: the geometries, one per row.
        crs: the frame's CRS.
    """
    import geopandas as gpd

    data: dict[str, Any] = {}
    for name, kind in spec:
        values = columns[name]
        data[name] = _typed(np.asarray(values, dtype=object), kind)
    return gpd.GeoDataFrame(
        data, geometry=gpd.GeoSeries(list(geometry), crs=crs), crs=crs
    ).reset_index(drop=True)


def _typed(values: np.ndarray, kind: str) -> pd.Series:
    """One column as its contract type (see the module docstring)."""
    nullable = kind.endswith("|null")
    base = kind.removesuffix("|null")
    if base == "str":
        cleaned = [_text_or_none(v) for v in values]
        if not nullable and any(v is None for v in cleaned):
            raise ValueError(f"a {kind} column holds a missing value")
        return pd.Series(cleaned, dtype=object)
    if base == "float":
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    if base == "int":
        return pd.Series([int(v) for v in values], dtype="int64")
    if base == "bool":
        return pd.Series([bool(v) for v in values], dtype=bool)
    raise ValueError(f"unknown column type {kind!r}")


def _text_or_none(value: Any) -> str | None:
    """str for text, None for None/NaN (pandas reads an empty text field back as NaN or None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def json_value(value: Any) -> Any:
    """A JSON-safe value: numpy scalars to Python, NaN to None, floats rounded to 6 decimals."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, JSON_DECIMALS)
    return value


def json_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts of ``columns`` with JSON-safe values."""
    return [
        {name: json_value(value) for name, value in zip(columns, row, strict=True)}
        for row in frame[list(columns)].itertuples(index=False, name=None)
    ]
