"""Progressive GAN iteration speed: gankit's engine against a plain PyTorch step, in one process.

The reference is the paper's iteration written out by hand, run on deep copies of the networks
gankit built (equalised learning rate, pixel norm, minibatch standard deviation; one
initialisation, the same Adam settings, the same batches), both in the middle of fading in the
last resolution (alpha 0.5, the costlier phase: the new block and the enlarged old output both
run): one critic update on the real batch shrunk to the current resolution and blended with its
half-resolution version, against G's samples, with WGAN-GP (λ = 10) on interpolates and the drift
term ε·E[D(real)²]; one G update (−D(G(z))) with D frozen; G's moving average moved. gankit runs
`Trainer.train_step` and `update_ema` on the same batches. Both are timed over the same
iterations after a warm-up, alternating, and the median of the repeats is kept.

    python bench/progan_step.py --threads 2                  # CPU defaults (about a minute)
    python bench/progan_step.py --device cuda --width 256 --batch 64
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
from gankit.models.progan_nets import downsample, upsample
from gankit.runtime import resolve_device

try:
    from timing import random_pictures, report, side_by_side, step_arguments, sync
except ImportError:  # run from elsewhere than bench/
    from bench.timing import random_pictures, report, side_by_side, step_arguments, sync


def reference_step(trainer: Trainer, batches: list[dict], steps: int) -> float:
    """Progressive GAN's iteration on copies of gankit's networks; returns iterations per second."""
    config, gan = trainer.config, trainer.gan
    G, D = copy.deepcopy(gan.nets["G"]), copy.deepcopy(gan.nets["D"])  # at gankit's level and alpha
    average = copy.deepcopy(gan.ema["G"]) if "G" in gan.ema else None
    opt_g = build_optimizer(config["optim"]["G"], G.parameters())
    opt_d = build_optimizer(config["optim"]["D"], D.parameters())
    lam, epsilon, decay = config["loss"]["gp"], config["loss"]["drift"], config["train"]["ema_decay"]
    dim, n, device = config["model"]["latent_dim"], gan.batch_size, trainer.device
    factor = gan.full_resolution // D.resolution
    log = []
    sync(device)
    start = time.perf_counter()
    for k in range(steps):
        x = F.avg_pool2d(batches[k % len(batches)]["x"][:n], factor)
        x = x.lerp(upsample(downsample(x)), 1 - D.alpha)  # the real images fade in as G's output does
        with torch.no_grad():
            fake = G(torch.randn(n, dim, device=device))
        real_out, fake_out = D(x), D(fake)
        mix = torch.rand(n, 1, 1, 1, device=device)
        between = (mix * x + (1 - mix) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(between).sum(), between, create_graph=True)
        penalty = (grad.flatten(1).norm(dim=1) - 1).square().mean()
        d_loss = fake_out.mean() - real_out.mean() + lam * penalty + epsilon * real_out.square().mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        D.requires_grad_(False)
        g_loss = -D(G(torch.randn(n, dim, device=device))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        if average is not None:
            with torch.no_grad():
                torch._foreach_lerp_(list(average.parameters()), list(G.parameters()), 1 - decay)
        log.append((d_loss.detach(), g_loss.detach()))  # read at log time, not per step
    sync(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    args = step_arguments(__doc__, "channels at every level (the preset: 512)").parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    images, _ = random_pictures(args.resolution)
    config = resolve("progan", overrides=[f"device={args.device}", f"data.batch_size={args.batch}",
                                          f"model.width={args.width}", "model.latent_dim=128", "train.tensorboard=off",
                                          "model.fade_images=6400", "model.stable_images=6400",
                                          f"train.threads={args.threads}"])  # fmt: skip
    trainer = Trainer(config, target=tensor_target(images, None, "bench images"))
    plan = trainer.gan.plan
    fade = plan.phases[-2]  # the last resolution's fade-in
    trainer.step = fade.start + fade.length // 2 - 1
    trainer.gan.on_iteration(trainer.step, config["train"]["steps"])  # level and alpha for both sides
    batches = [trainer.data.next() for _ in range(8)]  # the same batches for both
    ref, ours = side_by_side(reference_step, trainer, batches, args.steps, args.repeats)
    size = {name: sum(p.numel() for p in net.parameters()) / 1e6 for name, net in trainer.gan.nets.items()}
    D = trainer.gan.nets["D"]
    what = (f"progan grown to {args.resolution} px, fading in {D.resolution} px at alpha {D.alpha:.2f}, batch "
            f"{trainer.gan.batch_size}, width {args.width}: G {size['G']:.2f} M and D {size['D']:.2f} M parameters, "
            f"{args.steps} iterations (1 D update with WGAN-GP and drift, 1 G update) x {args.repeats} repeats (median)")  # fmt: skip
    report(resolve_device(args.device), what, "ProGAN", ref, ours)


if __name__ == "__main__":
    main()
