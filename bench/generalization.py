"""How weights hold on scenes they never saw: per-scene IoU, the median and the worst (issue 14).

    .venv/bin/python bench/generalization.py                       # 12 unseen example-region scenes
    .venv/bin/python bench/generalization.py --weights unet3d convlstm runs/r1/best --scenes 16
    .venv/bin/python bench/generalization.py --smoke --out /tmp/x  # seconds: checks the script runs

Each scene is the simulator's ``--region`` (default ``example``, 6 x 6 km) for one year and seed:
scene ``i`` has year ``YEARS[i % len(YEARS)]`` and seed ``--seed-start + i``. Beside these procedural
landscapes, one scene is built around each real inventory of ``--outlines`` (``simulate --outlines``;
default the NPI Svalbard outlines of 1936, 1990 and 2007 in ``../shared/data``, which lie in the
example region's corner), seeds from 2000: real glacier shapes, mostly land around them. The default seeds
(from 1000) are never used by training scenes (see ``weights/README.md``), so every scene is unseen:
another landscape, another year's melt calendar, other surface levels drawn by the simulator. Scenes
are simulated (co-polarised only), preprocessed with their truth as labels, cached under
``--out/scenes`` and ``--out/stacks`` (a second run only evaluates), and every tile of each is scored
(``--split all``) with :func:`glaciermap.training.evaluate.evaluate_stacks`.

Prints, per weights, one row per scene (IoU, precision, recall, ECE) and the median, worst and pooled
IoU; writes ``results.json`` and ``unseen.txt`` (the scenes, for ``glaciermap evaluate --stacks``).
Targets of issue 14: median >= 0.95 and worst >= 0.92 on at least 12
unseen scenes, ECE <= 0.03. Training scenes (``weights/README.md``) use seeds below 1000 and procedural
landscapes only, so the real-outline landscapes are unseen too.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import smoke_region  # bench/: the --smoke modes' tiny region

YEARS = (2016, 2017, 2018, 2019, 2020, 2021)
SEED_START = 1000
OUTLINES_SEED_START = 2000
REAL_OUTLINES = Path(__file__).resolve().parents[2] / "shared" / "data" / "svalbard_npi" / "derived"
"""NPI outlines of 1936, 1990 and 2007 (``../shared/data``), inside the example region's corner."""


def real_outlines() -> list[Path]:
    """The default real inventories to build scenes around; empty (with a line) when absent."""
    files = sorted(REAL_OUTLINES.glob("svalbard_*.gpkg"))
    if not files:
        print(f"no real outlines under {REAL_OUTLINES}: procedural scenes only")
    return files


def make_scene(  # type: ignore[no-untyped-def]
    region, year: int, seed: int, out: Path, acquisitions: int, outlines: Path | None = None
) -> Path:
    """Simulate and stack one scene (cached: an existing stack is reused); returns the stack.

    ``outlines``: a real inventory to build the landscape around (``simulate --outlines``); the
    scene's name then ends in that file's stem.
    """
    from glaciermap.preprocess.stack import build_stack
    from glaciermap.simulate.scene import simulate_year

    name = f"{region.name}-{year}-s{seed}" + (f"-{outlines.stem}" if outlines else "")
    stack = out / "stacks" / name
    if (stack / "stack.json").is_file():
        return stack
    raw = out / "scenes" / name
    simulate_year(
        region,
        year,
        raw,
        seed=seed,
        n_acquisitions=acquisitions,
        cross_pol=False,
        outlines=outlines,
        workers=2,
    )
    build_stack(
        region,
        raw,
        stack,
        year=year,
        inventory=raw / "truth" / "outlines.gpkg",
        n_slots=acquisitions,
        workers=2,
    )
    return stack


def _finite(value):  # type: ignore[no-untyped-def]
    """NaN as null, recursively (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny scene: seconds, no meaning")
    parser.add_argument("--out", type=Path, help="folder for scenes, stacks and results.json")
    parser.add_argument("--weights", nargs="+", default=None, help="default: unet3d convlstm")
    parser.add_argument("--region", default="example")
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--seed-start", type=int, default=SEED_START)
    parser.add_argument(
        "--outlines",
        nargs="*",
        type=Path,
        default=None,
        help="real inventories to build one more scene around each (seeds from 2000); default: "
        "the NPI Svalbard outlines in ../shared/data when present; give none to skip",
    )
    parser.add_argument("--acquisitions", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from glaciermap.models.lookup import resolve_weights
    from glaciermap.regions import BUILTIN_REGIONS
    from glaciermap.training.evaluate import evaluate_stacks

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-generalization-"))
    out.mkdir(parents=True, exist_ok=True)
    region = BUILTIN_REGIONS[args.region]
    n_scenes, acquisitions = args.scenes, args.acquisitions
    weights = args.weights or ["unet3d", "convlstm"]
    outlines = real_outlines() if args.outlines is None else args.outlines
    if args.smoke:
        region = smoke_region.tiny_region()
        n_scenes, acquisitions, weights, outlines = 1, 4, ["ablation/unet3d-3acq"], []

    began = time.perf_counter()
    stacks = [
        make_scene(region, YEARS[i % len(YEARS)], args.seed_start + i, out, acquisitions)
        for i in range(n_scenes)
    ]
    stacks += [
        make_scene(region, YEARS[i % len(YEARS)], OUTLINES_SEED_START + i, out, acquisitions, path)
        for i, path in enumerate(outlines)
    ]
    print(f"{len(stacks)} scene(s) ready in {time.perf_counter() - began:.0f} s under {out}")
    # The same scenes as a stack list for `glaciermap evaluate WEIGHTS --stacks unseen.txt`.
    body = "".join(f"stacks/{s.name}\n" for s in stacks)
    (out / "unseen.txt").write_text(
        f"# unseen scenes of bench/generalization.py (paths relative)\n{body}"
    )

    results = {"region": region.name, "scenes": [s.name for s in stacks], "weights": {}}
    for spec in weights:
        path = resolve_weights(spec)
        n = None if acquisitions >= 15 else min(3, acquisitions)  # the card's T on full years
        scored = evaluate_stacks(path, stacks, split="all", acquisitions=n, device=args.device)
        pooled = scored["pooled"]
        print(f"\n{spec} on {len(stacks)} unseen scene(s):")
        print(f"  {'scene':28s} {'IoU':>6s} {'prec':>6s} {'recall':>6s} {'ECE':>6s}")
        for r in scored["stacks"]:
            print(
                f"  {r['name']:28s} {r['iou']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f} "
                f"{r['ece']:6.3f}"
            )
        print(
            f"  median IoU {pooled['median_iou']:.3f}, worst {pooled['worst_iou']:.3f}, pooled "
            f"{pooled['iou']:.3f}, pooled ECE {pooled['ece']:.3f}"
        )
        results["weights"][spec] = {
            "scenes": {
                r["name"]: {k: r[k] for k in ("iou", "precision", "recall", "f1", "ece")}
                for r in scored["stacks"]
            },
            "median_iou": pooled["median_iou"],
            "worst_iou": pooled["worst_iou"],
            "pooled_iou": pooled["iou"],
            "pooled_ece": pooled["ece"],
        }
    (out / "results.json").write_text(json.dumps(_finite(results), indent=2) + "\n")
    print(f"results: {out / 'results.json'}")
    assert all(not math.isnan(w["pooled_iou"]) for w in results["weights"].values())


if __name__ == "__main__":
    main()
