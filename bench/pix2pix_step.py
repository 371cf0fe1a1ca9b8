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
import time

import torch
import torch.nn.functional as F

from gankit.checks import build_optimizer
from gankit.config import resolve
from gankit.engine import Trainer
from gankit.runtime import resolve_device

try:
    from timing import report, side_by_side, sync
except ImportError:  # run from elsewhere than bench/
    from bench.timing import report, side_by_side, sync


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
    ref, ours = side_by_side(reference_step, trainer, batches, args.steps, args.repeats)
    size = {name: sum(p.numel() for p in net.parameters()) / 1e6 for name, net in trainer.gan.nets.items()}
    what = (f"pix2pix {args.resolution} px, batch {args.batch}: U-Net depth {trainer.gan.nets['G'].depth}, "
            f"G {size['G']:.2f} M and D {size['D']:.2f} M parameters, {args.steps} iterations x {args.repeats} "
            "repeats (median)")  # fmt: skip
    report(resolve_device(args.device), what, "pix2pix", ref, ours)


if __name__ == "__main__":
    main()
