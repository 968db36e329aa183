"""The acquisition calendar every stage agrees on: a year of 24-day slots and which of them to use.

Sentinel-1's two satellites repeat their orbits every 12 days; the paper (Maslov et al. 2024) takes one
acquisition every 24 days, 15 over a year. Slot ``k`` of a year covers the days
``[1 January + 24 k, 1 January + 24 (k + 1))``; its date is its first acquisition, or its first day when
nothing was acquired. Coherence pairs an acquisition with the pass 12 days later on the same orbit.

When a model uses fewer dates than a stack holds, :func:`select_acquisitions` picks the ``n`` consecutive
slots around the peak of the ablation season (1 August), when glacier ice and the land around it differ
most. ``simulate``, ``download``, ``preprocess``, ``train``, ``evaluate`` and ``predict`` all use this
module; it imports nothing heavier than the standard library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from glaciermap.errors import InputError

SLOT_DAYS = 24
"""Days per slot: every second 12-day repeat of one satellite's orbit."""
DEFAULT_SLOTS = 15
"""Slots in a year by default (15 x 24 = 360 days, so the year is covered)."""
MAX_SLOTS = 15
"""The most slots a year holds (a 16th would begin on 26 December and lack its coherence partner)."""
REPEAT_DAYS = 12
"""Sentinel-1's orbit repeat: the coherence partner of a pass is the pass this many days later."""
ABLATION_PEAK = (8, 1)
"""``(month, day)`` taken as the peak of the ablation season (Svalbard: late July to early August)."""
SENTINEL1_START = dt.date(2014, 10, 3)
"""Sentinel-1A's first IW acquisition: no year before 2014 has Sentinel-1 data."""


def check_year(year: int, today: dt.date | None = None) -> None:
    """Raise :class:`InputError` for a year without Sentinel-1 data: before 2014, or not begun."""
    today = today or dt.date.today()
    if year < SENTINEL1_START.year:
        raise InputError(
            f"year {year} is before Sentinel-1: no acquisitions before "
            f"{SENTINEL1_START.day} {SENTINEL1_START:%B %Y}",
            f"give a year from {SENTINEL1_START.year} on",
        )
    if year > today.year:
        raise InputError(
            f"year {year} has not begun: no Sentinel-1 acquisitions yet",
            f"give {today.year} or earlier",
        )


def slot_start(year: int, index: int) -> dt.date:
    """First day of slot ``index`` (0-based) of ``year``: 1 January + 24 ``index`` days."""
    return dt.date(year, 1, 1) + dt.timedelta(days=SLOT_DAYS * index)


def slot_starts(year: int, n_slots: int = DEFAULT_SLOTS) -> list[dt.date]:
    """First day of each of the year's ``n_slots`` slots."""
    return [slot_start(year, k) for k in range(n_slots)]


def slot_end(year: int, index: int) -> dt.date:
    """The day after the last day of slot ``index`` of ``year``."""
    return slot_start(year, index + 1)


def slot_of(day: dt.date, year: int) -> int:
    """The slot of ``year`` that ``day`` falls in (negative or >= the slot count when outside)."""
    return (day - dt.date(year, 1, 1)).days // SLOT_DAYS


def check_slot_count(n_slots: int) -> None:
    """Raise :class:`InputError` unless ``1 <= n_slots <= 15``."""
    if not 1 <= n_slots <= MAX_SLOTS:
        raise InputError(
            f"{n_slots} slots do not fit a year", f"give 1 to {MAX_SLOTS} (the default is 15)"
        )


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def select_acquisitions(
    dates: Sequence[dt.date | str],
    n: int,
    *,
    missing: Sequence[int] = (),
    peak: tuple[int, int] = ABLATION_PEAK,
) -> list[int]:
    """Indices (ascending) of the ``n`` acquisitions around the peak of the ablation season.

    The rule: the centre is the acquisition nearest to ``peak`` (1 August) of its own year (ties go
    to the earlier date); the selection is the ``n`` consecutive acquisitions around it,
    ``(n - 1) // 2`` before and the rest after (an even ``n`` leans to later in the season), shifted
    to stay within the year. Slots listed in ``missing`` (no data) are skipped as long as enough
    slots with data remain. ``n >= len(dates)`` selects every slot, missing ones included, so ``T``
    stays the stack's.

    With the default 15 slots of 2016 (…, 18 Jun, 12 Jul, 5 Aug, 29 Aug, 22 Sep, …): n=1 -> 5 Aug;
    n=3 -> 12 Jul, 5 Aug, 29 Aug; n=5 -> 18 Jun to 22 Sep; n=15 -> all.

    Raises:
        InputError: ``n`` < 1.
    """
    parsed = [_as_date(d) for d in dates]
    if n < 1:
        raise InputError(f"{n} acquisitions cannot be selected", "give at least 1")
    if n >= len(parsed):
        return list(range(len(parsed)))
    skip = set(missing)
    candidates = [i for i in range(len(parsed)) if i not in skip]
    if len(candidates) < n:
        candidates = list(range(len(parsed)))

    def distance(i: int) -> tuple[int, int]:
        d = parsed[i]
        return abs((d - dt.date(d.year, *peak)).days), i

    centre = candidates.index(min(candidates, key=distance))
    start = min(max(centre - (n - 1) // 2, 0), len(candidates) - n)
    return sorted(candidates[start : start + n])


def chosen_slots(year: int, acquisitions: int) -> list[int]:
    """The slots of ``year`` that ``--acquisitions N`` asks to download or stack: all 15 by default,
    else the ``N`` around the ablation peak (as ``train`` and ``predict`` choose dates).

    Raises:
        InputError: ``acquisitions`` < 1.
    """
    if acquisitions < 1:
        raise InputError(f"--acquisitions {acquisitions} must be at least 1", "the default is 15")
    return select_acquisitions(slot_starts(year), min(acquisitions, MAX_SLOTS))


__all__ = [
    "ABLATION_PEAK",
    "DEFAULT_SLOTS",
    "MAX_SLOTS",
    "REPEAT_DAYS",
    "SENTINEL1_START",
    "SLOT_DAYS",
    "check_slot_count",
    "check_year",
    "chosen_slots",
    "select_acquisitions",
    "slot_end",
    "slot_of",
    "slot_start",
    "slot_starts",
]
