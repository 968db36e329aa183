"""The stack contract: stack.json read, validated and written by StackMeta; paths relative to the stack."""

from __future__ import annotations

import json
import shutil

import pytest

from glaciermap.errors import InputError
from glaciermap.stack_format import STACK_FORMAT, StackMeta, band_descriptions, band_index


def test_band_index_is_time_major():
    assert [band_index(t, c) for t in range(2) for c in range(2)] == [1, 2, 3, 4]
    assert band_index(14, 1) == 30


def test_example_stack_round_trip(example_stack):
    meta = StackMeta.read(example_stack)
    assert meta.format == STACK_FORMAT and meta.root == example_stack
    assert meta.region.name == "example" and meta.year == 2016
    assert meta.channels == ("copol_db", "coherence")
    assert meta.band_descriptions == band_descriptions(meta.dates)
    assert meta.bands([1, 3]) == [3, 4, 7, 8]
    assert meta.labels == "labels"  # relative: a moved stack reads its own labels
    assert meta.label_path(meta.tiles[0]) == example_stack / "labels" / f"{meta.tiles[0]}.tif"
    assert meta.missing_files() == []
    assert json.loads((example_stack / "stack.json").read_text()) == meta.to_json()
    means, stds = meta.statistics()
    assert len(means) == 2 and all(s > 0 for s in stds)
    # The grid places tiles on the stack's pixel raster (rows count southwards).
    col0, row0 = meta.region.tile_place("EXMP-3-176")
    assert (col0, row0) == (3 * 200, -177 * 200)


def test_a_moved_stack_reads_its_own_labels(example_stack, tmp_path):
    import rasterio

    original, moved = tmp_path / "original", tmp_path / "moved"
    shutil.copytree(example_stack, original)
    shutil.copytree(original, moved)
    doc = json.loads((original / "stack.json").read_text())
    shutil.rmtree(original)  # moved: nothing of it is left where it was built
    meta = StackMeta.read(moved)
    assert meta.labels_dir == moved / "labels"
    assert all(p.is_relative_to(moved) for p in meta.files()) and meta.missing_files() == []
    tile = meta.tiles[0]
    with (
        rasterio.open(meta.label_path(tile)) as got,
        rasterio.open(example_stack / "labels" / f"{tile}.tif") as built,
    ):
        assert (got.read() == built.read()).all()
    # A format 1 stack.json names the labels where the stack was built: the copy reads its own.
    (moved / "stack.json").write_text(json.dumps(_format_1(doc, str(original / "labels"))))
    assert StackMeta.read(moved).label_path(tile) == moved / "labels" / f"{tile}.tif"


def test_missing_and_damaged_stacks_are_one_line(example_stack, tmp_path):
    with pytest.raises(InputError, match=r"no stack in .*build the stack first"):
        StackMeta.read(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(example_stack, broken)
    (broken / "stack.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        StackMeta.read(broken)
    doc = json.loads((example_stack / "stack.json").read_text())
    for key in ("dates", "region", "normalisation"):
        (broken / "stack.json").write_text(json.dumps({k: v for k, v in doc.items() if k != key}))
        with pytest.raises(InputError, match=f"incomplete or damaged .*{key}"):
            StackMeta.read(broken)
    (broken / "stack.json").write_text(json.dumps({**doc, "labels": "/elsewhere/labels"}))
    with pytest.raises(InputError, match="outside the stack"):
        StackMeta.read(broken)
    (broken / "stack.json").write_text(json.dumps({**doc, "format": STACK_FORMAT + 1}))
    with pytest.raises(InputError, match="upgrade glaciermap"):
        StackMeta.read(broken)
    (broken / "stack.json").write_text(json.dumps(doc))
    (broken / "tiles" / f"{doc['tiles'][0]}.tif").unlink()
    with pytest.raises(InputError, match=f"lacks 1 file.*{doc['tiles'][0]}"):
        StackMeta.read(broken).check_files()


def test_wrong_region_or_year_is_refused(example_stack):
    meta = StackMeta.read(example_stack)
    meta.check_identity("example", 2016)
    with pytest.raises(InputError, match="of region 'example', not 'svalbard'"):
        meta.check_identity("svalbard", 2016)
    with pytest.raises(InputError, match="of 2016, not 2017"):
        meta.check_identity("example", 2017)


def _format_1(doc: dict, labels_dir: str | None) -> dict:
    """stack.json as glaciermap wrote it before the contract (format 1)."""
    old = {k: v for k, v in doc.items() if k != "labels"}
    return {**old, "format": 1, "labels": labels_dir is not None, "labels_dir": labels_dir}


def test_format_1_stacks_are_read_or_refused(example_stack, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(example_stack, old)
    doc = json.loads((example_stack / "stack.json").read_text())
    # Labels inside the stack (preprocess -o DIR): read, with the labels of this copy.
    (old / "stack.json").write_text(json.dumps(_format_1(doc, str(example_stack / "labels"))))
    meta = StackMeta.read(old)
    assert meta.format == 1 and meta.labels_dir == old / "labels"
    # Labels elsewhere (the old workspace layout): refused, saying how to fix it.
    shutil.rmtree(old / "labels")
    (old / "stack.json").write_text(json.dumps(_format_1(doc, str(example_stack / "labels"))))
    with pytest.raises(InputError, match=r"labels lie outside it.*rebuild"):
        StackMeta.read(old)
    # No labels: read.
    (old / "stack.json").write_text(json.dumps(_format_1(doc, None)))
    assert StackMeta.read(old).labels is None
