"""The multi-scene training set of the shipped weights: simulated scenes, split by scene (issue 14).

    .venv/bin/python bench/training_scenes.py --out ws/scenes          # 48 train + 4 val scenes
    .venv/bin/python bench/training_scenes.py --smoke --out /tmp/x     # seconds: checks it runs

Every scene is the example region (6 x 6 km, nine 2 km tiles) simulated for one year and seed, then
stacked with its truth as labels (the same builder as ``bench/generalization.py``, cached: a second
run reuses what is there). The seeds split the scenes, so no landscape or level draw is shared:

* training scenes: seeds 1 .. N (``--train``), years 2016..2021 in turn;
* validation scenes: seeds 500 .. 500 + M (``--val``), the same years in turn; they choose the best
  epoch and calibrate the temperature (``train --val-stacks``);
* test scenes (``bench/generalization.py``): seeds from 1000, and landscapes built around real
  outlines (seeds from 2000), which no training scene uses.

Writes ``train.txt`` and ``val.txt`` (stack lists for ``train --stacks`` / ``--val-stacks``) in
``--out``. Each scene takes about 12 s on two cores and 40 MB.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import smoke_region  # bench/: the --smoke modes' tiny region

TRAIN_SEED_START = 1
VAL_SEED_START = 500


def build(region, out: Path, n_train: int, n_val: int, acquisitions: int) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """Build (or reuse) the scenes; returns the ``train.txt`` and ``val.txt`` stack lists."""
    import generalization  # the scene builder and year cycle of bench/generalization.py

    years = generalization.YEARS
    lists = {}
    for role, start, count in (
        ("train", TRAIN_SEED_START, n_train),
        ("val", VAL_SEED_START, n_val),
    ):
        stacks = []
        for i in range(count):
            began = time.perf_counter()
            stack = generalization.make_scene(
                region, years[i % len(years)], start + i, out, acquisitions
            )
            print(f"{role:5s} {stack.name:28s} {time.perf_counter() - began:5.1f} s", flush=True)
            stacks.append(stack)
        listing = out / f"{role}.txt"
        body = "".join(f"stacks/{s.name}\n" for s in stacks)
        listing.write_text(f"# {role} scenes of bench/training_scenes.py (paths relative)\n{body}")
        lists[role] = listing
    return lists["train"], lists["val"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny scene each: no meaning")
    parser.add_argument("--out", type=Path, required=True, help="folder for scenes and lists")
    parser.add_argument("--train", type=int, default=48, help="training scenes")
    parser.add_argument("--val", type=int, default=4, help="validation scenes")
    parser.add_argument("--region", default="example")
    args = parser.parse_args()

    from glaciermap.regions import BUILTIN_REGIONS

    region, n_train, n_val, acquisitions = BUILTIN_REGIONS[args.region], args.train, args.val, 15
    if args.smoke:
        region, n_train, n_val, acquisitions = smoke_region.tiny_region(), 1, 1, 4
    args.out.mkdir(parents=True, exist_ok=True)
    train, val = build(region, args.out, n_train, n_val, acquisitions)
    print(f"stack lists: {train} {val}")


if __name__ == "__main__":
    main()
