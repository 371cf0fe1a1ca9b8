"""Train the image presets on the full datasets and record their quality, time and final grids.

    GANKIT_DATA=../shared/data python bench/image_presets.py            # the four of the image issue
    python bench/image_presets.py --presets dcgan --set train.steps=2000

For each preset: the wall-clock time, iterations, images seen, and the domain classifier's
view of 5,000 generated images (confidence, classes covered, KL to the data's class
histogram, and for conditional models the share drawn as the class asked for). The final
sample grid is copied to docs/images/<preset>.png and a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

import gankit

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["mnist-mlp", "dcgan", "cgan", "dcgan-fashion"])
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "bench"))
    parser.add_argument("--grids", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()

    rows = []
    for preset in args.presets:
        overrides = ["eval.n_samples=5000", "train.tensorboard=off", *args.overrides]
        start = time.perf_counter()
        result = gankit.train(preset, overrides=overrides, runs_dir=args.runs_dir, progress=False)
        seconds = time.perf_counter() - start
        config = gankit.load(result.run_dir).config
        steps, batch = result.summary["steps"], config["data"]["batch_size"]
        grid = Path(args.grids) / f"{preset}.png"
        grid.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.run_dir / "plots" / "samples-grid.png", grid)
        m = result.measures
        agreement = f"{m['label_agreement']:.3f}" if "label_agreement" in m else "–"
        rows.append(
            f"| {preset} | {config['data']['target']} | {steps} | {steps * batch:,} | {seconds / 60:.1f} | "
            f"{m['confidence']:.3f} | {m['classes_covered']} | {m['class_kl']:.3f} | {agreement} | "
            f"{m['classifier_test_accuracy']:.4f} |"
        )
        print(rows[-1], flush=True)
    print(f"\nmachine: {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(
        "| preset | data | iterations | images seen | minutes | confidence | classes covered | class KL "
        "| label agreement | classifier test acc. |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
