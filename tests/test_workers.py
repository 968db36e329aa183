"""The one worker pool: per-worker state, order, progress, and errors that reach the caller intact."""

from __future__ import annotations

import os

import pytest

from glaciermap.errors import InputError
from glaciermap.workers import default_workers, map_tasks


def _setup(base: int) -> dict[str, int]:
    # Built once per worker: the pid shows which worker built it.
    return {"base": base, "pid": os.getpid()}


def _add(state: dict[str, int], item: int) -> tuple[int, int, int]:
    return item, state["base"] + item, state["pid"]


def _fail_on_three(_state: None, item: int) -> int:
    if item == 3:
        raise InputError(f"item {item} is bad", "give another")
    return item


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_results_state_and_order(start_method):
    items = list(range(12))
    seen: list[tuple[int, int]] = []
    results = list(
        map_tasks(
            _add,
            items,
            workers=2,
            setup=_setup,
            setup_args=(100,),
            start_method=start_method,
            progress=lambda done, total: seen.append((done, total)),
        )
    )
    assert [r[0] for r in results] == items  # ordered by default
    assert [r[1] for r in results] == [100 + i for i in items]
    pids = {r[2] for r in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2  # ran in worker processes
    assert seen == [(i, 12) for i in range(1, 13)]


def test_unordered_gives_every_result_once():
    results = list(
        map_tasks(_add, list(range(9)), workers=2, setup=_setup, setup_args=(0,), ordered=False)
    )
    assert sorted(r[0] for r in results) == list(range(9))


def test_one_worker_runs_here_with_the_same_state():
    results = list(map_tasks(_add, [1, 2], workers=1, setup=_setup, setup_args=(5,)))
    assert results == [(1, 6, os.getpid()), (2, 7, os.getpid())]


@pytest.mark.parametrize("workers", [1, 2])
def test_errors_keep_their_type_and_hint(workers):
    with pytest.raises(InputError) as caught:
        list(map_tasks(_fail_on_three, list(range(6)), workers=workers))
    assert caught.value.message == "item 3 is bad" and caught.value.hint == "give another"


def test_default_workers_is_bounded():
    assert 1 <= default_workers() <= 4
