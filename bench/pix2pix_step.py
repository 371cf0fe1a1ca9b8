"""Pix2Pix iteration speed: gankit's engine against the reference training step, in one process.

The reference is the step pix2pix's own code takes for each batch: G translates the input once;
D updates on (input, target) against (input, output.detach()) with its BCE loss halved; G then
updates on D's verdict of the same output plus 100·L1. gankit runs the same networks (copies of
one initialisation), optimiser settings and batches through `Trainer.train_step`, whose D update
translates the input without gradients and whose G update translates it again. Both are timed
over the same iterations after a warm-up, alternating, and the median of the repeats is kept.

    python bench/pix2pix_step.py                       # 64 px, the full-width networks (CPU)
    python bench/pix2pix_step.py --resolution 256      # the paper's size (meant for a GPU)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from gankit.checks import build_optimizer
from gankit.config import resolve
from gankit.engine import Trainer
from gankit.runtime import resolve_device

try:
    from timing import gankit_step, sync
    from toy_loop import cpu_name
except ImportError:  # run from elsewhere than bench/
    from bench.timing import gankit_step, sync
    from bench.toy_loop import cpu_name


def reference_step(trainer: Trainer, batches: list[dict], steps: int) -> float:
    """The reference Pix2Pix step on copies of gankit's networks; returns iterations per second."""
    G, D = copy.deepcopy(trainer.gan.nets["G"]), copy.deepcopy(trainer.gan.nets["D"])
    opt_g = build_optimizer(trainer.config["optim"]["G"], G.parameters())
    opt_d = build_optimizer(trainer.config["optim"]["D"], D.parameters())
    log = []
    sync(trainer.device)
    start = time.perf_counter()
    for i in range(steps):
        a, x = batches[i % len(batches)]["a"], batches[i % len(batches)]["x"]
        fake = G(a)
        real_logits, fake_logits = D(torch.cat([a, x], 1)), D(torch.cat([a, fake.detach()], 1))
        d_loss = 0.5 * (
            F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        )
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        for p in D.parameters():
            p.requires_grad_(False)
        judged = D(torch.cat([a, fake], 1))
        g_loss = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged)) + 100 * (fake - x).abs().mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)
        log.append((d_loss.detach(), g_loss.detach()))  # read at log time, not per step
    sync(trainer.device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30, help="iterations per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    load = round(args.resolution * 286 / 256)
    config = resolve("pix2pix", overrides=[f"device={args.device}", f"data.resolution={args.resolution}",
                                           f"data.load_size={load}", f"data.batch_size={args.batch}",
                                           "data.limit=64", "train.tensorboard=off"])  # fmt: skip
    trainer = Trainer(config)
    batches = [trainer.data.next() for _ in range(8)]  # the same jittered batches for both
    warm = max(2, args.steps // 5)
    reference_step(trainer, batches, warm)
    gankit_step(trainer, batches, warm)
    ref, ours = [], []
    for _ in range(args.repeats):
        ref.append(reference_step(trainer, batches, args.steps))
        ours.append(gankit_step(trainer, batches, args.steps))
    r, g = statistics.median(ref), statistics.median(ours)
    device = resolve_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(f"machine: {where}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"pix2pix {args.resolution} px, batch {args.batch}: U-Net depth {trainer.gan.nets['G'].depth}, "
          f"G {sum(p.numel() for p in trainer.gan.nets['G'].parameters()) / 1e6:.2f} M and "
          f"D {sum(p.numel() for p in trainer.gan.nets['D'].parameters()) / 1e6:.2f} M parameters, "
          f"{args.steps} iterations x {args.repeats} repeats (median)")  # fmt: skip
    print(f"reference pix2pix step: {r:8.2f} it/s   (spread {min(ref):.2f}-{max(ref):.2f})")
    print(f"gankit engine:          {g:8.2f} it/s   (spread {min(ours):.2f}-{max(ours):.2f})")
    print(f"ratio gankit / reference: {g / r:.2f}")


if __name__ == "__main__":
    main()
