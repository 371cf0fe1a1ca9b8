"""CycleGAN (Zhu et al. 2017): translation between two domains without paired examples.

Two generators (G_AB: A → B, G_BA: B → A) and two PatchGAN discriminators (D_A judges domain A
images, D_B domain B). Alone, the adversarial losses let a generator map every input to any
convincing image of the other domain; the cycle-consistency loss λ·‖G_BA(G_AB(a)) − a‖₁ (and
the same from B) makes each translation keep what the way back needs, i.e. the content. The
identity loss (G_AB(b) ≈ b) keeps colours where nothing needs to change. Each discriminator
learns from a history pool of earlier translations, so that it does not chase the generator's
latest move only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..data import TargetInfo
from ..domain_translation import DomainTranslationGAN
from ..errors import ConfigError
from ..games import discriminator_stats
from ..losses import Objective, get_objective
from ..recipe import Batch, Player
from ..translation import check_patch_size, inputs_as_output, refuse_loss_settings
from .translation_nets import PatchDiscriminator, ResNetTranslator, init_normal


class ImagePool(nn.Module):
    """A history of `size` generated images (Shrivastava et al.): until it is full each new image
    is stored and passed on; then each is, with probability ½, swapped for a stored one picked at
    random (which it replaces), else passed on. The images and their count are buffers, so they
    are saved in checkpoints, and the draws come from the run's noise generator: a resumed run
    continues exactly. Everything stays on the device (no host synchronisation)."""

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def forward(self, fakes: Tensor, rng: torch.Generator) -> Tensor:
        if self.size == 0:
            return fakes.detach()
        out = []
        for fake in fakes.detach():  # one at a time, as the reference: a batch may both fill and draw
            full = self.count >= self.size
            swap = full & (torch.rand((), generator=rng, device=rng.device) < 0.5)
            drawn = torch.randint(self.size, (), generator=rng, device=rng.device)
            # a one-element index tensor: indexing with a 0-d tensor would read it on the host
            slot = torch.where(full, drawn, self.count.clamp(max=self.size - 1)).to(self.images.device).view(1)
            stored = self.images.index_select(0, slot)[0]
            out.append(torch.where(swap.to(fake.device), stored.to(fake.dtype), fake))
            kept = torch.where(~full | swap, fake.to(self.images.dtype), stored)
            self.images.index_copy_(0, slot, kept[None])
            self.count += (~full).long()
        return torch.stack(out)


class CycleGAN(DomainTranslationGAN):
    """The CycleGAN game as the reference trains it: each iteration the generators update on a
    fresh pair of unaligned batches (a from A, x from B), then the discriminators on the real
    batches against pooled translations of that same iteration."""

    generators = ("G_AB", "G_BA")
    batch_keys = ("a", "x")

    def __init__(
        self,
        nets: dict[str, nn.Module],
        objective: Objective,
        shape: tuple[int, ...],
        domains: tuple[str, str] = ("A", "B"),
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        gan_weight: float = 1.0,
        pool_size: int = 50,
        steps: tuple[int, int] = (1, 1),
        test_mode: str = "eval",
    ) -> None:
        super().__init__(nets, domains, False, test_mode)
        self.objective = objective
        self.cycle_weight, self.identity_weight, self.gan_weight = cycle_weight, identity_weight, gan_weight
        self.pool_a, self.pool_b = ImagePool(pool_size, shape), ImagePool(pool_size, shape)
        self.d_steps, self.g_steps = steps
        self.translated: tuple[Tensor, Tensor] | None = None  # this iteration's (G_BA(x), G_AB(a)), detached

    def players(self) -> list[Player]:
        return [
            Player("G", ("G_AB", "G_BA"), self.g_loss, self.g_steps),
            Player("D", ("D_A", "D_B"), self.d_loss, self.d_steps, fresh_batch=False),
        ]

    def convert(self, images: Tensor, wanted: Tensor, source: Tensor | None) -> Tensor:
        """Each image through the generator towards its wanted domain (A: index 0, B: 1)."""
        to_b = wanted[:, 1] > 0.5
        if bool(to_b.all()):
            return self.averaged("G_AB")(images)
        if not bool(to_b.any()):
            return self.averaged("G_BA")(images)
        out = torch.empty_like(images)
        out[to_b] = self.averaged("G_AB")(images[to_b])
        out[~to_b] = self.averaged("G_BA")(images[~to_b])
        return out

    def g_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        real_a, real_b = batch["a"], batch["x"]
        g_ab, g_ba = self.net("G_AB"), self.net("G_BA")
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        self.translated = (fake_a.detach(), fake_b.detach())
        adversarial = self.objective.g_loss(self.net("D_B")(fake_b)) + self.objective.g_loss(self.net("D_A")(fake_a))
        cycle = (g_ba(fake_b) - real_a).abs().mean() + (g_ab(fake_a) - real_b).abs().mean()
        loss = self.gan_weight * adversarial + self.cycle_weight * cycle
        stats = {"g_gan": adversarial.detach(), "g_cycle": cycle.detach()}
        if self.identity_weight > 0:
            identity = (g_ab(real_b) - real_b).abs().mean() + (g_ba(real_a) - real_a).abs().mean()
            loss = loss + self.identity_weight * self.cycle_weight * identity
            stats["g_identity"] = identity.detach()
        return loss, {"g_loss": loss.detach(), **stats}

    def d_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        if self.translated is None:  # D updating again in the same iteration: translate afresh
            with torch.no_grad():
                self.translated = (self.nets["G_BA"](batch["x"]), self.nets["G_AB"](batch["a"]))
        fake_a, fake_b = self.translated
        real_logits, fake_logits = [], []
        loss = torch.zeros((), device=fake_a.device)
        for name, real, fake, pool in (("D_A", batch["a"], fake_a, self.pool_a), ("D_B", batch["x"], fake_b,
                                                                                   self.pool_b)):  # fmt: skip
            d = self.net(name)
            real_logit, fake_logit = d(real).flatten(1), d(pool(fake, rng)).flatten(1)
            loss = loss + self.objective.d_loss(real_logit, fake_logit)
            real_logits.append(real_logit)
            fake_logits.append(fake_logit)
        self.translated = None
        return loss, discriminator_stats(self.objective, loss, torch.cat(real_logits), torch.cat(fake_logits))

    def loss_guides(self) -> dict[str, float]:
        return {"d_loss": 2 * self.objective.d_equilibrium}

    def accuracy_meaningful(self) -> bool:
        return not self.objective.critic

    def grid(self, target: Any, rows: int, cols: int, seed: int) -> tuple[Tensor, int] | None:
        """Held-out images of A and B in turn, one per row: input | translation | reconstruction."""
        device = next(self.parameters()).device
        shown = []
        for image, label in self.grid_cases(target, rows):
            x = target.decode(image[None].to(device))
            there = label.to(device).flip(0)[None]
            fake = self.translate(x, seed, to=there)
            back = self.translate(fake, seed, to=label.to(device)[None])
            shown += [target.to_images(t) for t in (inputs_as_output(x, fake), fake, back)]
        return torch.cat(shown), 3


def unpaired_shape(name: str, config: dict[str, Any], target: TargetInfo) -> tuple[int, int, int]:
    """The C×H×W of the domains' images, checked for a two-domain image model."""
    if len(target.shape) != 3 or target.value_range is None:
        raise ConfigError(f"model {name} translates images; data.target {config['data']['target']} is not images")
    if target.value_range != "minus-one-one":
        raise ConfigError(f"model {name}'s generators end in tanh: set data.range=minus-one-one")
    c, h, w = target.shape
    if h % 4 or w % 4:
        raise ConfigError(f"model {name}'s generators halve the images twice: data.resolution must be a multiple "
                          f"of 4, got {h}×{w}")  # fmt: skip
    return c, h, w


def build_cyclegan(config: dict[str, Any], target: TargetInfo) -> CycleGAN:
    m = config["model"]
    if tuple(target.keys) != ("a", "x") or len(target.class_names) != 2:
        raise ConfigError(f"model cyclegan needs two unaligned domains; data.target {config['data']['target']} gives "
                          f"{', '.join(target.keys)}: use data.target=unpaired (trainA/ and trainB/, or data.domains "
                          "naming two folders)")  # fmt: skip
    refuse_loss_settings("cyclegan", config["loss"])
    c, h, w = unpaired_shape("cyclegan", config, target)
    check_patch_size("cyclegan", m["d_layers"], h, w)
    blocks = m["blocks"] or (9 if h >= 256 else 6)
    nets: dict[str, nn.Module] = {
        "G_AB": ResNetTranslator(c, c, m["g_width"], blocks, m["norm"], m["dropout"]),
        "G_BA": ResNetTranslator(c, c, m["g_width"], blocks, m["norm"], m["dropout"]),
        "D_A": PatchDiscriminator(c, m["d_width"], m["d_layers"], m["norm"]),
        "D_B": PatchDiscriminator(c, m["d_width"], m["d_layers"], m["norm"]),
    }
    for net in nets.values():
        init_normal(net)
    train = config["train"]
    return CycleGAN(nets, get_objective(config["loss"]["objective"]), (c, h, w), tuple(target.class_names),
                    m["cycle_weight"], m["identity_weight"], m["gan_weight"], m["pool_size"],
                    (train["d_steps"], train["g_steps"]), m["test_mode"])  # fmt: skip
