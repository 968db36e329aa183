"""preprocess --split: reading the subsets of a tile grid file, and what an unreadable one gives."""

from __future__ import annotations

import pytest

from glaciermap.errors import InputError
from glaciermap.preprocess.split import split_from_file


def test_damaged_split_file_is_a_one_line_input_error(tmp_path):
    path = tmp_path / "grid.gpkg"
    path.write_bytes(b"SQLite format 3\x00 cut short")
    with pytest.raises(InputError, match=r"cannot read split file .*grid\.gpkg \(") as info:
        split_from_file(path, ["A-1-1"])
    assert "\n" not in str(info.value)
    assert "codename and subset" in (info.value.hint or "")


def test_a_bug_reading_the_split_file_is_not_bad_input(tmp_path, monkeypatch):
    import pyogrio

    path = tmp_path / "grid.csv"
    path.write_text("codename,subset\nA-1-1,train\nA-1-2,val\n")
    assert split_from_file(path, ["A-1-1", "A-1-2", "A-1-3"]) == {
        "A-1-1": "train",
        "A-1-2": "val",
        "A-1-3": "none",
    }

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the reader, not a damaged file")

    monkeypatch.setattr(pyogrio, "read_dataframe", broken)
    with pytest.raises(RuntimeError, match="a bug in the reader"):
        split_from_file(path, ["A-1-1"])
