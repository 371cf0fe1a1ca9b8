"""Toy training speed: gankit's engine against the plain tutorial loop, in one process.

Two hand-written references, each `.item()`-ing both losses every iteration for the log:
- "seed loop": the algorithm of the seed tutorials (001's Keras loop, 003's TensorFlow loop)
  and of gankit, written plainly in PyTorch: a real batch, D's step on it and on G's samples
  (generated under no_grad), then G's step on fresh noise. This is the target's reference.
- "shared-batch loop": pytorch/examples' DCGAN variant, where G's step reuses the batch D just
  saw, saving one G forward pass per iteration: a different (cheaper) algorithm, shown for
  comparison.
gankit runs the same networks, optimiser settings and batch size through
`Trainer.train_step`, with its statistics on the device. All are timed over the
same number of iterations after a warm-up, alternating, and the median of the repeats is kept;
the ratio is the median of the repeats' ratios (each repeat times both loops back to back, so a
burst of load from other work on the machine falls on both), in wall-clock and in CPU time of
this process (which other processes' load disturbs less; with one torch thread it is the work done).

    python bench/toy_loop.py                 # ring preset
    python bench/toy_loop.py --preset gaussian-1d --steps 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

from gankit.checks import build_optimizer
from gankit.config import resolve
from gankit.engine import Trainer

try:
    from timing import cpu_name
except ImportError:  # run from elsewhere than bench/
    from bench.timing import cpu_name


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def rates(steps: int, start: tuple[float, float]) -> tuple[float, float]:
    """Iterations per second of wall-clock and of this process's CPU time since `start`."""
    wall, cpu = clocks()
    return steps / (wall - start[0]), steps / max(cpu - start[1], 1e-9)


def reference_loop(trainer: Trainer, steps: int, shared_batch: bool = False) -> tuple[float, float]:
    """A hand-written loop on copies of gankit's initial networks (module docstring); returns
    iterations per second (wall-clock, CPU time)."""
    import copy

    G, D = copy.deepcopy(trainer.gan.nets["G"]), copy.deepcopy(trainer.gan.nets["D"])
    config = trainer.config
    # as a tutorial writes them: the preset's optimiser with PyTorch's defaults, not train.fast's choice
    plain = {
        name: {k: v for k, v in spec.items() if k not in ("foreach", "fused")} for name, spec in config["optim"].items()
    }
    opt_d = build_optimizer(plain["D"], D.parameters())
    opt_g = build_optimizer(plain["G"], G.parameters())
    criterion = nn.BCEWithLogitsLoss()
    batch, latent = config["data"]["batch_size"], trainer.gan.latent
    d_steps, g_steps = config["train"]["d_steps"], config["train"]["g_steps"]
    target = trainer.target
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    rng = torch.Generator().manual_seed(0)
    log = []
    start = clocks()
    for _ in range(steps):
        for _ in range(d_steps):
            real = target.sample(batch, rng)
            if shared_batch:
                fake = G(latent.sample(batch, rng))
                generated = fake.detach()
            else:
                with torch.no_grad():
                    generated = G(latent.sample(batch, rng))
            d_loss = criterion(D(real), ones) + criterion(D(generated), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        for _ in range(g_steps):
            if not shared_batch:
                fake = G(latent.sample(batch, rng))
            g_loss = criterion(D(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            if shared_batch:
                fake = G(latent.sample(batch, rng))
        log.append((d_loss.item(), g_loss.item()))
    return rates(steps, start)


def gankit_loop(trainer: Trainer, steps: int) -> tuple[float, float]:
    start = clocks()
    for _ in range(steps):
        trainer.train_step()
        trainer.step += 1  # as the loop counts: gradient norms are measured on its schedule
    trainer.means.pop()  # read the statistics once, as a log record would
    return rates(steps, start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ring")
    parser.add_argument("--steps", type=int, default=100, help="iterations per timing")
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()

    config = resolve(args.preset, overrides=["device=cpu"])
    trainer = Trainer(config)
    warm = max(50, args.steps // 2)
    loops = {
        "seed loop": lambda n: reference_loop(trainer, n),
        "shared-batch loop": lambda n: reference_loop(trainer, n, shared_batch=True),
        "gankit engine": lambda n: gankit_loop(trainer, n),
    }
    for loop in loops.values():
        loop(warm)
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            timings[name].append(loop(args.steps))
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print(f"gankit's train.fast chose: {config['train']['fast_chosen']}")
    print(
        f"preset {args.preset}: batch {config['data']['batch_size']}, "
        f"{config['train']['d_steps']} D + {config['train']['g_steps']} G updates per iteration, "
        f"{args.steps} iterations x {args.repeats} repeats (median)"
    )
    ours = timings["gankit engine"]
    for clock, k in (("wall-clock", 0), ("CPU time", 1)):
        parts = [f"{name} {statistics.median(x[k] for x in t):7.1f} it/s" for name, t in timings.items()]
        print(f"{clock}: " + ", ".join(parts))
        for name in ("seed loop", "shared-batch loop"):
            ratio = statistics.median(g[k] / r[k] for r, g in zip(timings[name], ours))
            print(f"    gankit / {name}: {ratio:.2f}")


if __name__ == "__main__":
    main()
