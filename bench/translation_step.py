"""CycleGAN and StarGAN iteration speed: gankit's engine against a plain PyTorch step, in one process.

For each model the reference side is a training step written out by hand from the published
algorithm, run on deep copies of the networks gankit built (one initialisation, the same
optimiser settings, the same pre-drawn batches); the gankit side is `Trainer.train_step`. The two
are timed over the same iterations after a warm-up, alternating, and the median of the repeats
is kept. One iteration is one generator update:

- CycleGAN (as junyanz/pytorch-CycleGAN-and-pix2pix trains it): G_AB and G_BA translate a and b
  and translate back; with both Ds frozen, the Gs update on the least-squares "look real" terms
  (plain mean squares), λ·cycle L1 and λ·0.5·identity L1; then the Ds update on real against
  translations passed through a history pool of 50 (each D's loss halved).
- StarGAN (as yunjey/stargan trains it): five D updates, each on a fresh batch sent to a random
  permutation of its own labels (critic WGAN loss, λ_cls classification of the real images,
  λ_gp gradient penalty at random interpolates), then one G update on the last batch and labels
  (critic, λ_cls classification of the translations, λ_rec reconstruction L1). As the authors'
  code does, the D update runs G with its graph and detaches the output, and the G update leaves
  D unfrozen (D's gradients are computed and discarded); `--lean` removes both, so that the
  difference that remains is the engine's own.

The images are random uint8 pictures written to a temporary folder and read through gankit's
`unpaired` and `domains` (or `attributes`) targets.

    python bench/translation_step.py --threads 1                  # CPU defaults (under 2 minutes)
    python bench/translation_step.py --device cuda --resolution 256 --stargan-resolution 128 \
        --width 64 --stargan-width 64                             # the papers' sizes (a GPU)
"""

from __future__ import annotations

import argparse
import copy
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.checks import build_optimizer
from gankit.config import resolve
from gankit.engine import Trainer
from gankit.runtime import resolve_device

try:
    from timing import cpu_name, gankit_step, sync
except ImportError:  # run from elsewhere than bench/
    from bench.timing import cpu_name, gankit_step, sync

ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
ANIMALS = ("cat", "dog", "wild")


# --------------------------------------------------------------------------- synthetic data


def write_pictures(folder: Path, count: int, size: int, rng: np.random.Generator) -> list[str]:
    """`count` random RGB pictures of size×size as PNGs in `folder`; returns their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"{i:04d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def unpaired_folder(root: Path, size: int, count: int) -> Path:
    """CycleGAN's layout: trainA/ and trainB/."""
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        write_pictures(root / f"train{side}", count, size, rng)
    return root


def domain_folder(root: Path, size: int, count: int) -> Path:
    """A folder per domain (AFHQ's layout)."""
    rng = np.random.default_rng(1)
    for name in ANIMALS:
        write_pictures(root / name, count, size, rng)
    return root


def attribute_folder(root: Path, size: int, count: int) -> Path:
    """CelebA's layout: the pictures and list_attr_celeba.txt beside them, random ±1 attributes."""
    rng = np.random.default_rng(2)
    names = write_pictures(root, count, size, rng)
    rows = [f"{name} " + " ".join(str(v) for v in rng.choice([-1, 1], len(ATTRIBUTES))) for name in names]
    (root / "list_attr_celeba.txt").write_text("\n".join([str(count), " ".join(ATTRIBUTES), *rows]) + "\n")
    return root


# --------------------------------------------------------------------------- the reference steps


def mean_square_to(outputs: torch.Tensor, value: float) -> torch.Tensor:
    return (outputs - value).square().mean()


class HistoryPool:
    """The history of translations a CycleGAN D learns from: it fills up to `size` images; then
    each new image is, on a fair coin, handed out as is, or stored in place of a random stored
    one, which is handed out instead. Python's RNG decides, as in the reference: no device sync."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.stored: list[torch.Tensor] = []
        self.coin = random.Random(seed)

    def __call__(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        handed = []
        for image in fakes.split(1):
            if len(self.stored) < self.size:
                self.stored.append(image)
                handed.append(image)
            elif self.coin.random() < 0.5:
                slot = self.coin.randrange(self.size)
                handed.append(self.stored[slot])
                self.stored[slot] = image
            else:
                handed.append(image)
        return torch.cat(handed)


def cyclegan_reference(trainer: Trainer, lean: bool) -> Timed:
    """The reference CycleGAN iteration on copies of gankit's networks, made once (its optimisers
    and pools live on between timings, as gankit's do)."""
    gan, optim = trainer.gan, trainer.config["optim"]
    g_ab, g_ba, d_a, d_b = (copy.deepcopy(gan.nets[name]) for name in ("G_AB", "G_BA", "D_A", "D_B"))
    opt_g = build_optimizer(optim["G"], [*g_ab.parameters(), *g_ba.parameters()])
    opt_d = build_optimizer(optim["D"], [*d_a.parameters(), *d_b.parameters()])
    pool_a, pool_b = HistoryPool(gan.pool_a.size, 1), HistoryPool(gan.pool_b.size, 2)
    cycle_weight, identity_weight = gan.cycle_weight, gan.identity_weight
    judges = [*d_a.parameters(), *d_b.parameters()]

    def iterate(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        real_a, real_b = batch["a"], batch["x"]
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        back_a, back_b = g_ba(fake_b), g_ab(fake_a)
        for p in judges:
            p.requires_grad_(False)
        look_real = mean_square_to(d_b(fake_b), 1.0) + mean_square_to(d_a(fake_a), 1.0)
        cycle = (back_a - real_a).abs().mean() + (back_b - real_b).abs().mean()
        g_loss = look_real + cycle_weight * cycle
        if identity_weight:
            kept = (g_ab(real_b) - real_b).abs().mean() + (g_ba(real_a) - real_a).abs().mean()
            g_loss = g_loss + cycle_weight * identity_weight * kept
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        for p in judges:
            p.requires_grad_(True)
        d_loss = torch.zeros((), device=real_a.device)
        for judge, real, fake, pool in ((d_a, real_a, fake_a, pool_a), (d_b, real_b, fake_b, pool_b)):
            d_loss = d_loss + 0.5 * (mean_square_to(judge(real), 1.0) + mean_square_to(judge(pool(fake.detach())), 0.0))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        return g_loss.detach(), d_loss.detach()

    return timed(trainer.device, iterate, 1)


def stargan_reference(trainer: Trainer, lean: bool) -> Timed:
    """The reference StarGAN iteration (d_steps D updates, one G update) on copies of gankit's
    networks, made once (its optimisers live on between timings, as gankit's do)."""
    gan, optim = trainer.gan, trainer.config["optim"]
    G, D = copy.deepcopy(gan.nets["G"]), copy.deepcopy(gan.nets["D"])
    opt_g, opt_d = build_optimizer(optim["G"], G.parameters()), build_optimizer(optim["D"], D.parameters())
    k = len(gan.domains)

    def own_labels(batch: dict) -> torch.Tensor:
        return batch["attrs"].float() if gan.multi_label else F.one_hot(batch["y"], k).float()

    def domain_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if gan.multi_label:  # summed over the attributes, averaged over the images
            return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / len(logits)
        return F.cross_entropy(logits, labels.argmax(1))

    def iterate(*drawn: dict) -> tuple[torch.Tensor, torch.Tensor]:
        for batch in drawn:  # the D updates, a fresh batch each
            real, own = batch["x"], own_labels(batch)
            wanted = own[torch.randperm(len(own), device=own.device)]
            if lean:
                with torch.no_grad():
                    fake = G(real, wanted)
            else:
                fake = G(real, wanted).detach()  # the authors keep G's graph here, then detach
            real_critic, real_domains = D(real)
            fake_critic, _ = D(fake)
            mix = torch.rand(len(real), 1, 1, 1, device=real.device)
            between = (mix * real + (1 - mix) * fake).requires_grad_(True)
            (slope,) = torch.autograd.grad(D(between)[0].sum(), between, create_graph=True)
            penalty = (slope.flatten(1).norm(dim=1) - 1).square().mean()
            d_loss = (fake_critic.mean() - real_critic.mean() + gan.cls_weight * domain_loss(real_domains, own)
                      + gan.gp_weight * penalty)  # fmt: skip
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        if lean:
            D.requires_grad_(False)
        fake = G(real, wanted)  # G on the last D batch and its target labels
        critic, domains = D(fake)
        back = G(fake, own)
        g_loss = (
            -critic.mean() + gan.cls_weight * domain_loss(domains, wanted) + gan.rec_weight * (back - real).abs().mean()
        )
        opt_g.zero_grad()
        opt_d.zero_grad()  # the authors clear both; D's gradients from this update are thrown away
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        return d_loss.detach(), g_loss.detach()

    return timed(trainer.device, iterate, gan.d_steps)


Timed = Callable[[list[dict], int], float]


def timed(device: torch.device, iterate: Callable[..., tuple], batches_per_iteration: int) -> Timed:
    """A timer of `iterate` over `steps` iterations of the cycled `batches`: iterations per second.
    The losses are kept on the device and read once at the end, as a log record would."""

    def run(batches: list[dict], steps: int) -> float:
        drawn = itertools.cycle(batches)
        log = []
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            log.append(iterate(*(next(drawn) for _ in range(batches_per_iteration))))
        torch.stack([value for losses in log for value in losses]).tolist()
        sync(device)
        return steps / (time.perf_counter() - start)

    return run


# --------------------------------------------------------------------------- gankit's side


def parameters(net: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M"


def compare(name: str, trainer: Trainer, reference: Callable, batches: list[dict], args: argparse.Namespace) -> None:
    warm = max(2, args.steps // 4)
    run_reference = reference(trainer, args.lean)
    run_reference(batches, warm)
    gankit_step(trainer, batches, warm)
    ref, ours = [], []
    for _ in range(args.repeats):
        ref.append(run_reference(batches, args.steps))
        ours.append(gankit_step(trainer, batches, args.steps))
    r, g = statistics.median(ref), statistics.median(ours)
    label = f"reference {name} step{' (lean)' if args.lean and name == 'stargan' else ''}:"
    print(f"{label:<34}{r:8.2f} it/s   (spread {min(ref):.2f}-{max(ref):.2f})")
    print(f"{'gankit engine:':<34}{g:8.2f} it/s   (spread {min(ours):.2f}-{max(ours):.2f})")
    print(f"ratio gankit / reference: {g / r:.2f}")


def common(args: argparse.Namespace, path: Path, resolution: int, batch: int) -> list[str]:
    return [f"device={args.device}", f"data.path={path}", f"data.resolution={resolution}",
            f"data.batch_size={batch}", "train.tensorboard=off"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cyclegan,stargan", help="comma-separated: cyclegan, stargan")
    parser.add_argument("--resolution", type=int, default=64, help="CycleGAN's image size")
    parser.add_argument("--batch", type=int, default=1, help="CycleGAN's batch (the reference: 1)")
    parser.add_argument("--width", type=int, default=32, help="CycleGAN's model.g_width and model.d_width")
    parser.add_argument("--stargan-resolution", type=int, default=64, help="StarGAN's image size")
    parser.add_argument("--stargan-batch", type=int, default=16, help="StarGAN's batch (the reference: 16)")
    parser.add_argument("--stargan-width", type=int, default=16, help="StarGAN's model.g_width and model.d_width")
    parser.add_argument("--stargan-data", choices=("domains", "attributes"), default="domains",
                        help="three domain folders (AFHQ-like, cross-entropy) or five attributes (CelebA-like)")  # fmt: skip
    parser.add_argument("--lean", action="store_true",
                        help="StarGAN reference without the authors' extra work (G's graph in D's update, D's "
                        "gradients in G's)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=8, help="iterations (G updates) per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in ("cyclegan", "stargan")]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r} (allowed: cyclegan, stargan)")

    device = resolve_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(f"machine: {where}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as tmp:
        if "cyclegan" in models:
            size = args.resolution
            path = unpaired_folder(Path(tmp) / "unpaired", size, 8)
            load = round(size * 286 / 256)
            config = resolve("cyclegan", overrides=common(args, path, size, args.batch) + [
                f"data.load_size={load}", f"model.g_width={args.width}", f"model.d_width={args.width}"])  # fmt: skip
            trainer = Trainer(config)
            batches = [trainer.data.next() for _ in range(8)]  # the same jittered batches for both
            nets = trainer.gan.nets
            blocks = config["model"]["blocks"] or (9 if size >= 256 else 6)
            print(f"cyclegan {size} px, batch {args.batch}: 2 ResNet Gs ({blocks} blocks, width {args.width}) of "
                  f"{parameters(nets['G_AB'])} and 2 PatchGANs of {parameters(nets['D_A'])} parameters, pool "
                  f"{trainer.gan.pool_a.size}, {args.steps} iterations x {args.repeats} repeats (median)")  # fmt: skip
            compare("cyclegan", trainer, cyclegan_reference, batches, args)
        if "stargan" in models:
            size = args.stargan_resolution
            extra = [f"model.g_width={args.stargan_width}", f"model.d_width={args.stargan_width}"]
            if args.stargan_data == "domains":
                path = domain_folder(Path(tmp) / "domains", size, 16)
                extra += ["data.target=domains"]
            else:
                path = attribute_folder(Path(tmp) / "attributes", size, 48)
                extra += ["data.held_out=0"]
            config = resolve("stargan", overrides=common(args, path, size, args.stargan_batch) + extra)
            trainer = Trainer(config)
            batches = [trainer.data.next() for _ in range(2 * trainer.gan.d_steps)]
            gan = trainer.gan
            print(f"stargan {size} px, batch {args.stargan_batch}, {len(gan.domains)} "
                  f"{'attributes' if gan.multi_label else 'domains'}: G (width {args.stargan_width}) "
                  f"{parameters(gan.nets['G'])} and D {parameters(gan.nets['D'])} parameters, {gan.d_steps} D "
                  f"updates per G update, {args.steps} iterations x {args.repeats} repeats (median)")  # fmt: skip
            compare("stargan", trainer, stargan_reference, batches, args)


if __name__ == "__main__":
    main()
