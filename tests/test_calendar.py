"""The acquisition calendar: 24-day slots from 1 January, and the dates chosen around the ablation peak."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys

import pytest

from glaciermap.calendar import (
    DEFAULT_SLOTS,
    SLOT_DAYS,
    check_slot_count,
    chosen_slots,
    select_acquisitions,
    slot_end,
    slot_of,
    slot_start,
    slot_starts,
)
from glaciermap.errors import InputError


def test_slots_tile_the_year_in_24_day_steps():
    starts = slot_starts(2016)
    assert len(starts) == DEFAULT_SLOTS == 15
    assert starts[0] == dt.date(2016, 1, 1) and starts[1] == dt.date(2016, 1, 25)
    assert starts[-1] == dt.date(2016, 12, 2)  # 1 Jan + 14 x 24 = 336 days (2016 is a leap year)
    assert all((b - a).days == SLOT_DAYS for a, b in itertools.pairwise(starts))
    assert slot_end(2016, 0) == slot_start(2016, 1)
    assert slot_of(dt.date(2016, 1, 24), 2016) == 0 and slot_of(dt.date(2016, 1, 25), 2016) == 1
    assert slot_of(dt.date(2015, 12, 31), 2016) < 0
    assert slot_of(dt.date(2016, 12, 31), 2016) == 15  # past the 15 slots: outside


def test_slot_count_is_checked():
    check_slot_count(1)
    check_slot_count(15)
    for bad in (0, 16):
        with pytest.raises(InputError, match="do not fit a year"):
            check_slot_count(bad)


DATES_2016 = [
    "2016-01-02", "2016-01-26", "2016-02-19", "2016-03-13", "2016-04-07", "2016-05-01",
    "2016-05-25", "2016-06-18", "2016-07-12", "2016-08-05", "2016-08-29", "2016-09-22",
    "2016-10-16", "2016-11-09", "2016-12-03",
]  # fmt: skip


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, ["2016-08-05"]),
        (3, ["2016-07-12", "2016-08-05", "2016-08-29"]),
        (5, ["2016-06-18", "2016-07-12", "2016-08-05", "2016-08-29", "2016-09-22"]),
        (15, DATES_2016),
    ],
)
def test_select_acquisitions_around_ablation_peak(n, expected):
    chosen = select_acquisitions(DATES_2016, n)
    assert [DATES_2016[i] for i in chosen] == expected
    dates = [dt.date.fromisoformat(d) for d in DATES_2016]
    assert select_acquisitions(dates, n) == chosen


def test_select_acquisitions_edges_and_missing():
    # Missing 5 Aug: 12 Jul (20 days) is nearer than 29 Aug (28 days).
    assert select_acquisitions(DATES_2016, 1, missing=[9]) == [8]
    assert select_acquisitions(DATES_2016, 3, missing=[9]) == [7, 8, 10]
    assert select_acquisitions(DATES_2016, 15, missing=[9]) == list(range(15))
    # Only winter dates: the window is pushed against the end of the list.
    assert select_acquisitions(DATES_2016[:4], 3) == [1, 2, 3]
    assert select_acquisitions(DATES_2016, 2) == [9, 10]


def test_chosen_slots_for_download():
    assert chosen_slots(2016, 15) == list(range(15))
    assert chosen_slots(2016, 40) == list(range(15))
    assert chosen_slots(2016, 3) == [8, 9, 10]  # the slots starting 11 Jul, 4 Aug, 28 Aug
    with pytest.raises(InputError, match="at least 1"):
        chosen_slots(2016, 0)


def test_the_calendar_imports_nothing_heavy():
    code = (
        "import sys, glaciermap.calendar; "
        "print(sorted(m for m in ('torch', 'rasterio', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
