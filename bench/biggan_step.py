"""BigGAN iteration speed: gankit's engine against a plain PyTorch step, in one process.

The reference is BigGAN's training iteration written out by hand from the paper and its authors'
code, run on deep copies of the networks gankit built (one initialisation, spectral norm in both,
the same Adam settings, the same batches): two D updates, each on a real batch with its labels
against samples of G for labels drawn from the data's frequencies (hinge loss); then one G update
(hinge) with D frozen, the orthogonal regulariser's gradient 2β(WWᵀ ⊙ (1 − I))W added to every
weight of G but the class embeddings, and the moving average of G's weights moved. gankit runs
`Trainer.train_step` on the same batches. Both are timed over the same iterations after a
warm-up, alternating, and the median of the repeats is kept.

    python bench/biggan_step.py --threads 2                  # CPU defaults (about a minute)
    python bench/biggan_step.py --device cuda --width 256 --batch 64 --attention 16
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from gankit.checks import build_optimizer
from gankit.config import resolve
from gankit.data.memory import tensor_target
from gankit.engine import Trainer
from gankit.runtime import resolve_device

try:
    from timing import random_pictures, report, side_by_side, step_arguments, sync
except ImportError:  # run from elsewhere than bench/
    from bench.timing import random_pictures, report, side_by_side, step_arguments, sync


def reference_step(trainer: Trainer, batches: list[dict], steps: int) -> float:
    """BigGAN's iteration on copies of gankit's networks; returns iterations per second."""
    config, gan = trainer.config, trainer.gan
    G, D = copy.deepcopy(gan.nets["G"]), copy.deepcopy(gan.nets["D"])
    average = copy.deepcopy(gan.ema["G"]) if "G" in gan.ema else None
    opt_g = build_optimizer(config["optim"]["G"], G.parameters())
    opt_d = build_optimizer(config["optim"]["D"], D.parameters())
    beta, decay, dim = config["model"]["ortho"], config["train"]["ema_decay"], config["model"]["latent_dim"]
    tables = {id(p) for m in G.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    ortho = [p for p in G.parameters() if p.dim() >= 2 and id(p) not in tables]
    frequencies, n, device = gan.label_weights, config["data"]["batch_size"], trainer.device
    log, k = [], 0
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        for _ in range(config["train"]["d_steps"]):
            x, y = batches[k % len(batches)]["x"], batches[k % len(batches)]["y"]
            k += 1
            labels = torch.multinomial(frequencies, n, replacement=True)
            with torch.no_grad():
                fake = G(torch.randn(n, dim, device=device), labels)
            d_loss = F.relu(1 - D(x, y)).mean() + F.relu(1 + D(fake, labels)).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        D.requires_grad_(False)
        labels = torch.multinomial(frequencies, n, replacement=True)
        g_loss = -D(G(torch.randn(n, dim, device=device), labels), labels).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        with torch.no_grad():
            for w in ortho:
                m = w.flatten(1)
                gram = m @ m.T
                gram.fill_diagonal_(0)
                w.grad.add_((gram @ m).view_as(w), alpha=2 * beta)
        opt_g.step()
        D.requires_grad_(True)
        if average is not None:
            with torch.no_grad():
                torch._foreach_lerp_(list(average.parameters()), list(G.parameters()), 1 - decay)
                for kept, buffer in zip(average.buffers(), G.buffers()):
                    kept.copy_(buffer)
        log.append((d_loss.detach(), g_loss.detach()))  # read at log time, not per step
    sync(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = step_arguments(__doc__, "G's and D's channels (the preset: 256 and 128)")
    parser.add_argument("--attention", type=int, default=16)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    images, labels = random_pictures(args.resolution)
    config = resolve("biggan", overrides=[f"device={args.device}", f"data.batch_size={args.batch}",
                                          f"model.g_width={args.width}", f"model.d_width={args.width}",
                                          f"model.attention={args.attention}", "train.tensorboard=off", "train.ema_start=0",
                                          f"train.threads={args.threads}"])  # fmt: skip
    trainer = Trainer(config, target=tensor_target(images, labels, "bench images"))
    batches = [trainer.data.next() for _ in range(8)]  # the same batches for both
    ref, ours = side_by_side(reference_step, trainer, batches, args.steps, args.repeats)
    size = {name: sum(p.numel() for p in net.parameters()) / 1e6 for name, net in trainer.gan.nets.items()}
    what = (f"biggan {args.resolution} px, batch {args.batch}, width {args.width}, attention {args.attention}: "
            f"G {size['G']:.2f} M and D {size['D']:.2f} M parameters, {args.steps} iterations "
            f"(2 D updates and 1 G update each) x {args.repeats} repeats (median)")  # fmt: skip
    report(resolve_device(args.device), what, "BigGAN", ref, ours)


if __name__ == "__main__":
    main()
