"""Toy training speed: gankit's engine against the plain tutorial loop, in one process.

The reference is the loop tutorials and pytorch/examples write: sample a real batch, D step on
real and on detached fake, G step reusing the same fake batch, `.item()` on both losses every
iteration for the log. gankit runs the same networks, optimiser settings and batch size
through `Trainer.train_step` (which draws fresh noise for the G step). Both are timed over the
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
import platform
import statistics
import time

import torch
from torch import nn

from gankit.checks import build_optimizer
from gankit.config import resolve
from gankit.engine import Trainer


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def rates(steps: int, start: tuple[float, float]) -> tuple[float, float]:
    """Iterations per second of wall-clock and of this process's CPU time since `start`."""
    wall, cpu = clocks()
    return steps / (wall - start[0]), steps / max(cpu - start[1], 1e-9)


def reference_loop(trainer: Trainer, steps: int) -> tuple[float, float]:
    """The tutorial loop on copies of gankit's initial networks; returns iterations per second
    (wall-clock, CPU time)."""
    import copy

    G, D = copy.deepcopy(trainer.gan.nets["G"]), copy.deepcopy(trainer.gan.nets["D"])
    config = trainer.config
    opt_d = build_optimizer(config["optim"]["D"], D.parameters())
    opt_g = build_optimizer(config["optim"]["G"], G.parameters())
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
            fake = G(latent.sample(batch, rng))
            d_loss = criterion(D(real), ones) + criterion(D(fake.detach()), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        for _ in range(g_steps):
            g_loss = criterion(D(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            fake = G(latent.sample(batch, rng))
        log.append((d_loss.item(), g_loss.item()))
    return rates(steps, start)


def gankit_loop(trainer: Trainer, steps: int) -> tuple[float, float]:
    start = clocks()
    for _ in range(steps):
        trainer.train_step()
    trainer.means.pop()  # read the statistics once, as a log record would
    return rates(steps, start)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ring")
    parser.add_argument("--steps", type=int, default=100, help="iterations per timing")
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()

    config = resolve(args.preset, overrides=["device=cpu"])
    trainer = Trainer(config)
    warm = max(50, args.steps // 2)
    reference_loop(trainer, warm)
    gankit_loop(trainer, warm)
    ref, ours = [], []
    for _ in range(args.repeats):
        ref.append(reference_loop(trainer, args.steps))
        ours.append(gankit_loop(trainer, args.steps))
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print(
        f"preset {args.preset}: batch {config['data']['batch_size']}, "
        f"{config['train']['d_steps']} D + {config['train']['g_steps']} G updates per iteration, "
        f"{args.steps} iterations x {args.repeats} repeats (median)"
    )
    for clock, k in (("wall-clock", 0), ("CPU time", 1)):
        r, g = [x[k] for x in ref], [x[k] for x in ours]
        ratio = statistics.median(b / a for a, b in zip(r, g))
        print(f"{clock}: reference tutorial loop {statistics.median(r):7.1f} it/s ({min(r):.1f}-{max(r):.1f}), "
              f"gankit engine {statistics.median(g):7.1f} it/s ({min(g):.1f}-{max(g):.1f}); "
              f"ratio gankit / reference {ratio:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
