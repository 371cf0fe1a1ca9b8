"""The truncation trick on a small class-conditional BigGAN: classifier confidence against
diversity within classes over t = 1 … 0.25, plotted for docs/biggan.md.

Without --run it first trains the model tests/test_biggan.py trains (Fashion-MNIST at 16 px,
600 iterations, about 3 minutes on one CPU thread); then it prints the sweep as a Markdown table
with each measure's rank correlation with t, and draws the two measures against t.

    GANKIT_DATA=../shared/data python bench/truncation_sweep.py --out docs/images/truncation-sweep.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from scipy.stats import spearmanr

import gankit

try:
    from tests.test_biggan import SMALL_BIGGAN  # the model the test trains
except ImportError:  # run from elsewhere than the repository root
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_biggan import SMALL_BIGGAN

VALUES = [1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25]
SHOWN = ("confidence", "class_spread", "label_agreement", "classes_covered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained class-conditional run (default: train the test's model)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="the plot (PNG)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        run = args.run or gankit.train("biggan", overrides=SMALL_BIGGAN, runs_dir=scratch, progress=False).run_dir
        rows = gankit.load(run).truncation_sweep(VALUES, n=args.n, seed=0)
    print("| t | " + " | ".join(SHOWN) + " |")
    print("|---|" + "---|" * len(SHOWN))
    for row in rows:
        print(f"| {row['truncation']} | " + " | ".join(f"{row[k]:.4g}" for k in SHOWN) + " |")
    print("| rank correlation with t | " + " | ".join(
        f"{spearmanr(VALUES, [r[k] for r in rows]).statistic:+.2f}" for k in SHOWN) + " |")  # fmt: skip
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, quality = plt.subplots(figsize=(6, 3.6))
        quality.plot(VALUES, [r["confidence"] for r in rows], "o-", color="tab:blue", label="confidence")
        quality.set_xlabel("truncation t (noise entries in [−t, t])")
        quality.set_ylabel("classifier confidence", color="tab:blue")
        quality.invert_xaxis()
        diversity = quality.twinx()
        diversity.plot(VALUES, [r["class_spread"] for r in rows], "s--", color="tab:orange", label="class spread")
        diversity.set_ylabel("within-class spread", color="tab:orange")
        quality.set_title("BigGAN on Fashion-MNIST (16 px, 600 iterations): the truncation trick")
        fig.tight_layout()
        fig.savefig(args.out, dpi=110)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
