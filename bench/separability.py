"""Can each scene be separated at all? A small model trained on a scene's own train tiles, scored on
its own test tiles (issue 14).

    .venv/bin/python bench/separability.py --stacks scenes.txt --out bench/out/separability
    .venv/bin/python bench/separability.py --scenes 12          # the generalisation bench's scenes
    .venv/bin/python bench/separability.py --stacks one.txt --init unet3d  # fine-tuning vs scratch
    .venv/bin/python bench/separability.py --smoke --out /tmp/x  # seconds: checks the script runs

A scene on which even its own model fails (test IoU well below the others') is not a generalisation
problem: the simulator drew levels that hide the glaciers there (check them against
``../shared/docs/SAR_SIGNATURES.md``). A scene its own model maps well but shipped weights do not is
one the shipped weights fail to generalise to. Scenes come from ``--stacks FILE`` or, with
``--scenes N``, from the cache of ``bench/generalization.py`` (same seeds, built when missing).

The recipe is deliberately small (``--epochs``, 128 px patches, widths 8,16,32,64, 2 threads): it asks
whether the scene is separable, not how well the best model does. Prints one row per scene (own test
IoU, and with ``--weights`` that weights' IoU on the same test tiles); writes ``results.json``.

With ``--init WEIGHTS`` each scene also gets a model fine-tuned from those weights (``train --init``)
with the same recipe on the same train tiles: the README's way to adapt to a region with an existing
inventory, measured against training from scratch (the own model) and against the weights unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

import smoke_region  # bench/: the --smoke modes' tiny region


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="one tiny scene, one epoch: no meaning"
    )
    parser.add_argument("--out", type=Path, help="folder for runs and results.json")
    parser.add_argument("--stacks", type=Path, help="a list file of stack folders")
    parser.add_argument("--scenes", type=int, default=0, help="use generalization.py's N scenes")
    parser.add_argument(
        "--weights", default=None, help="also score these weights on each test split"
    )
    parser.add_argument(
        "--init", default=None, help="also fine-tune these weights on each scene's train tiles"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import generalization  # the scenes (the same seeds and cache) of bench/generalization.py
    import torch

    from glaciermap.cli.options import read_stack_list
    from glaciermap.models.lookup import resolve_weights
    from glaciermap.regions import BUILTIN_REGIONS
    from glaciermap.training.evaluate import evaluate
    from glaciermap.training.loop import TrainConfig, fit

    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-separability-"))
    out.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(
        model_kwargs={"widths": (8, 16, 32, 64)},
        patch=128,
        batch_size=8,
        samples_per_epoch=128,
        epochs=args.epochs,
        val_every=max(1, args.epochs // 2),
        num_workers=0,
        seed=0,
    )
    if args.smoke:
        region = smoke_region.tiny_region()
        stacks = [generalization.make_scene(region, 2016, 1000, out, 4)]
        config = dataclasses.replace(
            config, model_kwargs={"widths": (8, 16)}, patch=64, samples_per_epoch=4, epochs=1
        )
        weights = "ablation/unet3d-3acq"
        init = "ablation/unet3d-3acq" if args.init else None
    elif args.stacks is not None:
        stacks, weights, init = read_stack_list(args.stacks), args.weights, args.init
    else:
        region = BUILTIN_REGIONS["example"]
        years = generalization.YEARS
        stacks = [
            generalization.make_scene(
                region, years[i % len(years)], generalization.SEED_START + i, out, 15
            )
            for i in range(args.scenes or 12)
        ]
        weights, init = args.weights, args.init

    split = "all" if args.smoke else "test"  # the tiny scene has no test tile
    rows = {}
    for stack in stacks:
        began = time.perf_counter()
        result = fit(config, stack, out / "runs" / stack.name, resume=False)
        own = evaluate(result.weights.with_suffix(""), stack, split=split, device="cpu")
        row = {"own_test_iou": own["iou"], "train_seconds": time.perf_counter() - began}
        if weights is not None:
            n = None if not args.smoke else 3
            other = evaluate(resolve_weights(weights), stack, split, n, device="cpu")
            row["weights_test_iou"] = other["iou"]
        if init is not None:
            # The init weights' architecture and arguments: the recipe's widths may differ from them.
            tuned_config = dataclasses.replace(
                config, init=str(resolve_weights(init)), model_kwargs={}
            )
            began = time.perf_counter()
            tuned = fit(tuned_config, stack, out / "runs" / f"{stack.name}-init", resume=False)
            scored = evaluate(tuned.weights.with_suffix(""), stack, split=split, device="cpu")
            row["init_test_iou"] = scored["iou"]
            row["init_train_seconds"] = time.perf_counter() - began
        rows[stack.name] = row
        extra = f"  {weights}: {row['weights_test_iou']:.3f}" if weights else ""
        if init is not None:
            extra += f"  fine-tuned from {init}: {row['init_test_iou']:.3f}"
        print(f"{stack.name:28s} own model: {row['own_test_iou']:.3f}{extra}", flush=True)
    finite = [r["own_test_iou"] for r in rows.values() if not math.isnan(r["own_test_iou"])]
    if finite:
        print(
            f"own-model test IoU: median {sorted(finite)[len(finite) // 2]:.3f}, worst {min(finite):.3f}"
        )
    doc = {"recipe": config.as_dict(), "weights": weights, "init": init, "scenes": rows}
    text = json.dumps(generalization._finite(doc), indent=2, default=str)
    (out / "results.json").write_text(text + "\n")
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
