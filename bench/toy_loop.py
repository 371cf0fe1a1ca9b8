"""Toy training speed: gankit's engine against the plain tutorial loop, in one process.

The reference is the loop tutorials and pytorch/examples write: sample a real batch, D step on
real and on detached fake, G step reusing the same fake batch, `.item()` on both losses every
iteration for the log. gankit runs the same networks, optimiser settings and batch size
through `Trainer.train_step` (which draws fresh noise for the G step). Both are timed over the
same number of iterations after a warm-up, alternating, and the median of the repeats is kept.

    python bench/toy_loop.py                 # ring preset
    python bench/toy_loop.py --preset gaussian-1d --steps 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from gankit.checks import build_optimizer
from gankit.config import resolve
from gankit.engine import Trainer


def reference_loop(trainer: Trainer, steps: int) -> float:
    """The tutorial loop on copies of gankit's initial networks; returns iterations per second."""
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
    start = time.perf_counter()
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
    return steps / (time.perf_counter() - start)


def gankit_loop(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    trainer.means.pop()  # read the statistics once, as a log record would
    return steps / (time.perf_counter() - start)


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
    parser.add_argument("--steps", type=int, default=500, help="iterations per timing")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    config = resolve(args.preset, overrides=["device=cpu"])
    trainer = Trainer(config)
    warm = max(1, args.steps // 10)
    reference_loop(trainer, warm)
    gankit_loop(trainer, warm)
    ref, ours = [], []
    for _ in range(args.repeats):
        ref.append(reference_loop(trainer, args.steps))
        ours.append(gankit_loop(trainer, args.steps))
    r, g = statistics.median(ref), statistics.median(ours)
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(
        f"preset {args.preset}: batch {config['data']['batch_size']}, "
        f"{config['train']['d_steps']} D + {config['train']['g_steps']} G updates per iteration, "
        f"{args.steps} iterations x {args.repeats} repeats (median)"
    )
    print(f"reference tutorial loop: {r:9.1f} it/s   (spread {min(ref):.1f}-{max(ref):.1f})")
    print(f"gankit engine:           {g:9.1f} it/s   (spread {min(ours):.1f}-{max(ours):.1f})")
    print(f"ratio gankit / reference: {g / r:.2f}")


if __name__ == "__main__":
    main()
