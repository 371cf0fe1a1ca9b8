"""A population of GANs trained as one program against the same GANs trained one after another
(gankit issue 17), in one process.

For each preset: N members (seeds 0…N−1) as N solo Trainers stepped in turn, then as one
Population, each for the same number of iterations, bare (no run folders, evaluations or
pictures); prints the aggregate iterations per second (members × iterations / seconds) of both
and their ratio. The two halves alternate `--repeats` times and the median ratio is printed,
so a change in the machine's load moves both.

    GANKIT_DATA=/work/shared/data python bench/population.py [gaussian-2d ring] [--members 16] [--steps 300]
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time

import torch

from gankit.config import resolve
from gankit.engine import Trainer
from gankit.population import Population


def members(preset: str, count: int, steps: int, device: str) -> list[Trainer]:
    overrides = [f"train.steps={steps}", "train.eval_every=0", "train.checkpoint_every=0", f"device={device}"]
    return [Trainer(resolve(preset, overrides=[*overrides, f"seed={seed}"])) for seed in range(count)]


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def sequential(preset: str, count: int, steps: int, device: str) -> float:
    """Aggregate iterations/s of `count` solo runs, one after another."""
    trainers = members(preset, count, steps + 2, device)
    for trainer in trainers:  # load what a run loads before the clock starts
        trainer.iterate()
        trainer.iterate()
    synchronise(device)
    started = time.perf_counter()
    for trainer in trainers:
        for _ in range(steps):
            trainer.iterate()
    synchronise(device)
    seconds = time.perf_counter() - started
    for trainer in reversed(trainers):
        trainer.close()
    return count * steps / seconds


def batched(preset: str, count: int, steps: int, device: str) -> float:
    """Aggregate iterations/s of the same `count` runs as one Population."""
    population = Population(members(preset, count, steps + 2, device))
    engine = population.engine
    engine.iterate()
    engine.iterate()
    synchronise(device)
    started = time.perf_counter()
    for _ in range(steps):
        engine.iterate()
    synchronise(device)
    seconds = time.perf_counter() - started
    population.close()
    return count * steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["gaussian-2d", "ring"])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.getLogger("gankit").setLevel(logging.WARNING)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"torch {torch.__version__} on {where}, {torch.get_num_threads()} threads; {args.members} members, "
          f"{args.steps} iterations each")  # fmt: skip
    for preset in args.presets:
        ratios = []
        for _ in range(args.repeats):
            solo = sequential(preset, args.members, args.steps, args.device)
            together = batched(preset, args.members, args.steps, args.device)
            ratios.append(together / solo)
            print(f"  {preset:<12} sequential {solo:9.1f} it/s   population {together:9.1f} it/s   "
                  f"ratio {together / solo:5.2f}×", flush=True)  # fmt: skip
        print(f"{preset:<12} median ratio {statistics.median(ratios):.2f}× over {args.repeats} pairs")


if __name__ == "__main__":
    main()
