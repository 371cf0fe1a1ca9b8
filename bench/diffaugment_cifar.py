"""DiffAugment on the CIFAR-10 subset: the same DCGAN trained with and without `train.augment`,
measured by FID (the standard Inception, TensorFlow resize) at the end, one process.

Few images let D memorise them; DiffAugment shows D real and generated images through the same
differentiable transforms. Both runs share seed, networks, batches and protocol; only
`train.augment` differs. Printed as a Markdown table for docs/benchmarks.md.

    GANKIT_DATA=../shared/data python bench/diffaugment_cifar.py --steps 3000
"""

from __future__ import annotations

import argparse
import tempfile
import time

import gankit

SMALL = ["model.g_width=32", "model.d_width=32", "data.batch_size=64", "train.tensorboard=off",
         "train.grid_every=0", "train.checkpoint_every=0"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--n", type=int, default=1000, help="generated and real images in the FID")
    parser.add_argument("--policy", default="color,translation,cutout")
    args = parser.parse_args()
    protocol = [f"train.steps={args.steps}", f"train.eval_every={args.steps}", f"eval.n_samples={args.n}",
                f"eval.n_real={args.n}", "eval.metrics=[\"fid\"]", "eval.features=inception"]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for augment in ("", args.policy):
            start = time.perf_counter()
            result = gankit.train("dcgan-cifar10", overrides=[*SMALL, *protocol, f"train.augment={augment}"],
                                  runs_dir=runs, progress=False)  # fmt: skip
            rows.append((augment or "none", result.measures["fid"], time.perf_counter() - start))
    print(f"| train.augment | FID ({args.n} generated against {args.n} real, Inception) | minutes |")
    print("|---|---|---|")
    for augment, fid, seconds in rows:
        print(f"| {augment} | {fid:.1f} | {seconds / 60:.1f} |")


if __name__ == "__main__":
    main()
