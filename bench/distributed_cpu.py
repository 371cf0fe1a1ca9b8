"""One process against two (torchrun, DistributedDataParallel, gloo) on this machine's CPU.

    python bench/distributed_cpu.py [--preset ring] [--steps 500] [--batch 512]

Trains the same preset with the same global batch once in one process and once in two, prints
the wall time and iterations/s of each, and the largest difference between their final weights
(data parallelism with a global batch B must reproduce the single-process run up to float
rounding). Run folders go to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gankit import checkpoint


def train(cwd: Path, name: str, processes: int, settings: list[str]) -> float:
    """Run `gankit train` in `processes` processes; return the wall-clock seconds."""
    launcher = [sys.executable, "-m", "gankit"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc-per-node", str(processes), "-m", "gankit"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(
        [*launcher, "train", *settings, "--name", name, "-q"], cwd=cwd, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    _, path = checkpoint.list_checkpoints(run / "checkpoints")[-1]
    flat: dict[str, torch.Tensor] = {}

    def walk(prefix: str, tree: object) -> None:
        if isinstance(tree, dict):
            for key, value in tree.items():
                walk(f"{prefix}.{key}", value)
        elif isinstance(tree, torch.Tensor) and tree.is_floating_point():
            flat[prefix] = tree

    walk("gan", checkpoint.load(path)["gan"])
    return flat


def last_record(run: Path) -> dict:
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ring")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    settings = [args.preset]
    for s in (f"train.steps={args.steps}", f"data.batch_size={args.batch}", "train.tensorboard=off",
              "train.checkpoint_every=0"):  # fmt: skip
        settings += ["--set", s]
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}")
    print(f"preset {args.preset}, global batch {args.batch}, {args.steps} iterations")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        seconds = {n: train(cwd, f"p{n}", n, settings) for n in (1, 2)}
        for n, s in seconds.items():
            last = last_record(cwd / "runs" / f"p{n}")
            measures = ", ".join(f"{k[5:]} {v:.4g}" for k, v in last.items() if k.startswith("eval/"))
            print(f"{n} process{'es' if n > 1 else ''}: {s:5.1f} s wall (incl. start-up), "
                  f"{last['steps_per_s']:6.1f} it/s at the last log; {measures}")  # fmt: skip
        one, two = final_weights(cwd / "runs" / "p1"), final_weights(cwd / "runs" / "p2")
        worst = max((one[k] - two[k]).abs().max().item() for k in one)
        print(f"largest |weight(1 process) - weight(2 processes)| after {args.steps} iterations: {worst:.2e}")


if __name__ == "__main__":
    main()
