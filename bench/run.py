"""Benchmark of `glaciermap run`, run by hand (figures go into the issue notes, not into tests).

    .venv/bin/python bench/run.py                      # the example region's year, unet3d, on CPU
    .venv/bin/python bench/run.py --repeat 3 --out bench/out/run
    .venv/bin/python bench/run.py --smoke --out /tmp/x  # seconds: checks the script runs (tests)

Two figures:

* **overhead**: the stages called by hand, with the run's own settings (``simulate_year``,
  ``build_stack``, ``predict_stack``, ``vectorize_raster``, ``update_glaciers``, ``write_changes`` and
  ``write_summary``, ``write_report``, ``write_stac_item`` and ``update_catalog``), against ``run_year``
  doing the same into a fresh workspace (hashing inputs, the lock, the log, the catalog's stamps and
  events, the output checks). Both run in this process, alternately, ``--repeat`` times each; the best
  of each is kept (the machine may be shared). Target: 5 % or less. The stages' own times vary by
  several per cent from run to run on a shared machine, so the script also prints the run's bookkeeping
  alone: its wall time less its stages' times (from its log).
* **no-op**: a repeated ``glaciermap run`` on the finished workspace, in a fresh interpreter as cron
  starts it (Python start-up, imports, lock, stamps; no stage runs), best of ``--repeat``; and the
  same ``run_year`` call in this process. Target: under 2 s.

``--smoke`` uses a region of two 2 km tiles, 4 slots and the 3-date ablation weights: its figures mean
nothing; it checks that the script runs end to end against today's library.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import smoke_region  # bench/: the --smoke modes' tiny region

ROOT = Path(__file__).resolve().parents[1]
YEAR = 2016


def by_hand(region, options, out: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The run's stages called directly, with the run's settings; seconds per stage."""
    from glaciermap.calendar import chosen_slots
    from glaciermap.models.lookup import resolve_weights
    from glaciermap.pipeline.stages import PREDICT_SETTINGS, PREPROCESS_SETTINGS
    from glaciermap.predict.engine import PredictConfig, predict_stack
    from glaciermap.preprocess.stack import build_stack
    from glaciermap.simulate.scene import simulate_year
    from glaciermap.vectorize import vectorize_raster
    from glaciermap.workers import default_workers

    workers = options.workers or default_workers()
    weights = resolve_weights(options.weights)
    raw, stack, prediction = out / "raw", out / "stack", out / "prediction" / weights.name
    seconds = {}
    began = time.perf_counter()
    simulate_year(
        region,
        YEAR,
        raw,
        seed=options.seed,
        slots=chosen_slots(YEAR, options.acquisitions),
        cross_pol=False,
        workers=workers,
    )
    seconds["download"] = time.perf_counter() - began
    began = time.perf_counter()
    build_stack(region, raw, stack, year=YEAR, workers=workers, **PREPROCESS_SETTINGS)
    seconds["preprocess"] = time.perf_counter() - began
    began = time.perf_counter()
    config = PredictConfig(vectorize=False, device=options.device, **PREDICT_SETTINGS)
    predict_stack(weights, stack, prediction, config)
    seconds["predict"] = time.perf_counter() - began
    began = time.perf_counter()
    vectorize_raster(
        prediction / "mask.tif",
        prediction / "outlines.gpkg",
        threshold=1,
        min_area_km2=options.min_area_km2,
        overwrite=True,
        workers=workers,
    )
    seconds["vectorize"] = time.perf_counter() - began
    seconds.update(inventory_by_hand(region, options, raw, prediction, out / "inventory"))
    return seconds


def inventory_by_hand(region, options, raw: Path, prediction: Path, out: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The inventory stages called directly: update, changes + summary, report + STAC."""
    from glaciermap.io.files import file_digest
    from glaciermap.models.card import weight_paths
    from glaciermap.models.lookup import resolve_weights
    from glaciermap.report import write_report
    from glaciermap.simulate.scene import EARLIER_INVENTORY_YEARS
    from glaciermap.stac import update_catalog, write_stac_item
    from glaciermap.update import update_glaciers, write_changes, write_summary

    weights = resolve_weights(options.weights)
    reference = raw / "truth" / f"inventory_{YEAR - EARLIER_INVENTORY_YEARS}.gpkg"
    year_dir = out / region.name / str(YEAR)
    dates = json.loads((prediction / "predict.json").read_text())["dates"]
    seconds = {}
    began = time.perf_counter()
    update_glaciers(
        prediction / "outlines.gpkg",
        prediction / "probability.tif",
        year_dir,
        region=region,
        year=YEAR,
        previous=None,
        reference=reference,
        dates=dates,
        model=weights.name,
        weights_sha256=file_digest(weight_paths(weights)[0]),
        min_area_km2=options.min_area_km2,
    )
    seconds["update"] = time.perf_counter() - began
    began = time.perf_counter()
    write_changes(year_dir, region=region, previous=None, reference=reference)
    write_summary(
        year_dir,
        region=region.name,
        year=YEAR,
        previous_year=None,
        reference=reference,
        provenance={"products": sorted(p.name for p in raw.glob("*.zip")), "dates": dates},
        outputs=("report.html", "item.json"),
    )
    seconds["diff"] = time.perf_counter() - began
    began = time.perf_counter()
    probability, mask = prediction / "probability.tif", prediction / "mask.tif"
    write_report(year_dir, region=region.name, year=YEAR, history=None, probability=probability)
    write_stac_item(
        year_dir, region=region.name, year=YEAR, crs=region.crs, probability=probability, mask=mask
    )
    update_catalog(out / region.name, region=region.name)
    seconds["report"] = time.perf_counter() - began
    return seconds


def with_run(region, options, out: Path) -> tuple[float, dict[str, float]]:  # type: ignore[no-untyped-def]
    """``run_year`` into a fresh workspace: its wall time and the stages' own times (its catalog)."""
    from glaciermap.pipeline import PIPELINE, run_year
    from glaciermap.workspace import Workspace

    began = time.perf_counter()
    result = run_year(Workspace.open(out), region, YEAR, options)
    wall = time.perf_counter() - began
    assert result.ran == list(PIPELINE.names), result.ran
    with sqlite3.connect(out / "catalog.sqlite") as db:  # a fresh workspace: this run's events only
        rows = db.execute("SELECT stage, seconds FROM stage_events WHERE event='finished'")
        stages = {str(stage): float(seconds) for stage, seconds in rows}
    return wall, stages


def noop_cli(workspace: Path, args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``glaciermap run ARGS`` in a fresh interpreter (it must find nothing to do)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "glaciermap", "-q", "-w", str(workspace), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0 or "nothing to do" not in done.stdout:
        raise SystemExit(f"the repeated run did work or failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny region: seconds, no meaning")
    parser.add_argument("--out", type=Path, help="folder for the workspaces and results.json")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side (best kept)")
    parser.add_argument("--weights", default=None, help="default: unet3d (smoke: 3-date ablation)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    from glaciermap.pipeline import RunOptions
    from glaciermap.regions import BUILTIN_REGIONS

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-run-"))
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    if args.smoke:
        region = smoke_region.tiny_region()
        (out / "glaciermap.toml").write_text(smoke_region.TOML)
        env["GLACIERMAP_CONFIG"] = str(out / "glaciermap.toml")
        acquisitions, weights, repeat = 4, args.weights or "ablation/unet3d-3acq", 1
    else:
        region = BUILTIN_REGIONS["example"]
        (out / "glaciermap.toml").write_text("")
        env["GLACIERMAP_CONFIG"] = str(out / "glaciermap.toml")
        acquisitions, weights, repeat = 15, args.weights or "unet3d", max(1, args.repeat)
    options = RunOptions(
        weights=weights,
        source="simulate",
        acquisitions=acquisitions,
        device=args.device,
        workers=args.workers,
    )

    hand: list[tuple[float, dict[str, float]]] = []
    runs: list[tuple[float, dict[str, float]]] = []
    workspace = out / "workspace"
    for attempt in range(repeat):
        # Alternate which side goes first: the first call of all also pays for imports (torch).
        for side in ("hand", "run") if attempt % 2 == 0 else ("run", "hand"):
            if side == "hand":
                folder = out / f"hand-{attempt}"
                shutil.rmtree(folder, ignore_errors=True)
                stages = by_hand(region, options, folder)
                hand.append((sum(stages.values()), stages))
                print(f"by hand #{attempt + 1}: {hand[-1][0]:.2f} s", flush=True)
            else:
                shutil.rmtree(workspace, ignore_errors=True)
                runs.append(with_run(region, options, workspace))
                print(f"run     #{attempt + 1}: {runs[-1][0]:.2f} s", flush=True)
    best_hand = min(hand, key=lambda h: h[0])
    best_run = min(runs, key=lambda r: r[0])
    overhead = best_run[0] / best_hand[0] - 1
    # What run adds around the stages (inputs hashed, lock, log, catalog), free of the stages' noise.
    bookkeeping = best_run[0] - sum(best_run[1].values())

    cli_args = ["run", weights, "-r", region.name, "-y", str(YEAR), "--source", "simulate"]
    cli_args += ["--acquisitions", str(acquisitions), "--device", args.device]
    noop = min(noop_cli(workspace, cli_args, env) for _ in range(max(repeat, 3)))
    from glaciermap.pipeline import run_year
    from glaciermap.workspace import Workspace

    began = time.perf_counter()
    again = run_year(Workspace.open(workspace), region, YEAR, options)
    in_process = time.perf_counter() - began
    assert again.nothing_to_do

    def parts(stages: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in stages.items())

    print(f"\n{region.name} {YEAR}, {acquisitions} slots, {weights} on {args.device}:")
    print(f"stages by hand   {best_hand[0]:7.2f} s  ({parts(best_hand[1])})")
    print(f"glaciermap run   {best_run[0]:7.2f} s  ({parts(best_run[1])})")
    print(
        f"run overhead     {100 * overhead:+7.2f} %  (target <= 5 %; best run / best by hand - 1)"
    )
    print(
        f"run bookkeeping  {bookkeeping:7.2f} s  ({100 * bookkeeping / best_run[0]:.2f} % of the run: "
        "its wall time less its stages' own)"
    )
    print(f"no-op run        {noop:7.2f} s  in a fresh interpreter (target < 2 s)")
    print(f"no-op run_year   {in_process:7.3f} s  in this process")
    results = {
        "region": region.name,
        "year": YEAR,
        "acquisitions": acquisitions,
        "weights": weights,
        "device": args.device,
        "repeat": repeat,
        "by_hand_s": [h[0] for h in hand],
        "run_s": [r[0] for r in runs],
        "by_hand_stages_s": best_hand[1],
        "run_stages_s": best_run[1],
        "overhead": overhead,
        "bookkeeping_s": bookkeeping,
        "noop_cli_s": noop,
        "noop_in_process_s": in_process,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
