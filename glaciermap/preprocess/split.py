"""Assigning tiles to the train / val / test subsets.

Two ways: a seeded random split among the tiles that hold glacier (:func:`random_split`), or the subsets
of a published tile grid file (:func:`split_from_file`, e.g. the Svalbard grid of Maslov et al. with
columns ``codename`` and ``subset``). Tiles outside both get ``"none"``: they stay in the stack (prediction
covers them) but no training, validation or test sample is drawn from them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from glaciermap.errors import InputError

SUBSETS = ("train", "val", "test")
NONE = "none"
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
DEFAULT_SEED = 0

_ID_COLUMNS = ("codename", "tile_id", "tile", "id")
_SUBSET_COLUMNS = ("subset", "split")


def random_split(
    tile_ids: Iterable[str],
    *,
    seed: int = DEFAULT_SEED,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> dict[str, str]:
    """Split tiles into train/val/test at random, reproducibly.

    The ids are sorted before shuffling, so the result depends only on the set of ids and the seed.
    Counts are rounded so that they add up to the number of tiles (val and test take their rounded
    share, train the rest); with at least three tiles every subset gets one.

    Args:
        tile_ids: the tiles to split (typically those holding glacier).
        seed: random seed.
        fractions: shares of (train, val, test); must be non-negative and sum to 1.

    Returns:
        tile id -> ``"train"``, ``"val"`` or ``"test"``.
    """
    import numpy as np

    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise InputError(
            f"split fractions {tuple(fractions)} are not three non-negative shares summing to 1",
            "give e.g. (0.6, 0.2, 0.2)",
        )
    ids = sorted(set(tile_ids))
    n = len(ids)
    n_val = round(n * fractions[1])
    n_test = round(n * fractions[2])
    if n >= 3:
        n_val = max(n_val, 1) if fractions[1] > 0 else 0
        n_test = max(n_test, 1) if fractions[2] > 0 else 0
    n_val = min(n_val, n)
    n_test = min(n_test, n - n_val)
    order = np.random.default_rng(seed).permutation(n)
    out: dict[str, str] = {}
    for rank, index in enumerate(order):
        if rank < n_val:
            out[ids[index]] = "val"
        elif rank < n_val + n_test:
            out[ids[index]] = "test"
        else:
            out[ids[index]] = "train"
    return out


def split_from_file(path: str | os.PathLike[str], tile_ids: Iterable[str]) -> dict[str, str]:
    """The subsets of a tile grid file, for the given tiles (``"none"`` for tiles not in the file).

    Args:
        path: a vector file or CSV with a tile id column (``codename``, ``tile_id``, ``tile`` or ``id``)
            and a subset column (``subset`` or ``split``) holding train/val/test (other values: none).
        tile_ids: the tiles of the stack.

    Raises:
        InputError: the file is missing, unreadable, or lacks the columns.
    """
    from glaciermap.io.vector import read_frame

    path = Path(path)
    if not path.exists():
        raise InputError(f"split file {path} does not exist", "check the path given to --split")
    frame = read_frame(
        path,
        read_geometry=False,
        message=f"cannot read split file {path}",
        hint="give a shapefile, GeoPackage or CSV with columns codename and subset",
    )
    lower = {str(c).lower(): c for c in frame.columns}
    id_col = next((lower[c] for c in _ID_COLUMNS if c in lower), None)
    subset_col = next((lower[c] for c in _SUBSET_COLUMNS if c in lower), None)
    if id_col is None or subset_col is None:
        raise InputError(
            f"split file {path} has no tile id and subset columns "
            f"(it has: {', '.join(map(str, frame.columns)) or 'none'})",
            "give a file with columns codename (tile id) and subset (train/val/test)",
        )
    known: dict[str, str] = {}
    for tile, subset in zip(frame[id_col], frame[subset_col], strict=True):
        if tile is None or subset is None:
            continue
        value = str(subset).strip().lower()
        known[str(tile).strip()] = value if value in SUBSETS else NONE
    return {tile: known.get(tile, NONE) for tile in tile_ids}
