"""StarGAN (Choi et al. 2018): one generator translating among many domains.

G takes an image with the target domain's label tiled as extra input planes and returns the
image in that domain; D has two heads on one trunk: a patch critic (real or generated, WGAN-GP)
and a domain classifier. D learns the domains from real images (λ_cls·classification loss);
G must make translations D's classifier assigns to the target (λ_cls) and that translate back
to the input when sent to its own domain (λ_rec·‖G(G(x, c'), c) − x‖₁), which keeps the content.
Domains are single labels (a folder per domain) or several attributes at once (a table).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import TargetInfo
from ..domain_translation import DomainTranslationGAN
from ..errors import ConfigError
from ..losses import Objective, get_objective
from ..recipe import Batch, Player
from ..regularisers import gradient_penalty
from ..translation import inputs_as_output, refuse_loss_settings
from .cyclegan import unpaired_shape


def _norm(norm: str, channels: int) -> nn.Module:
    """StarGAN's instance norm has a learnt scale and shift; batch norm and none as elsewhere."""
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


class StarResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), _norm(norm, channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), _norm(norm, channels),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class StarGenerator(nn.Module):
    """StarGAN's G: the image with the target label tiled as K constant planes beside its channels,
    a 7×7 stem, two stride-2 downsamplings, residual blocks, two upsamplings and a 7×7 tanh head.

    The convolutions pad with zeros, as the reference does: instance norm removes whatever is
    constant across an image, so constant label planes reach the network only through the
    borders that zero padding gives them (reflection padding would erase the label entirely).
    """

    def __init__(self, channels: int, domains: int, width: int = 64, blocks: int = 6, norm: str = "instance") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels + domains, width, 7, 1, 3, bias=False), _norm(norm, width),
                                   nn.ReLU()]  # fmt: skip
        wide = width
        for _ in range(2):
            layers += [nn.Conv2d(wide, wide * 2, 4, 2, 1, bias=False), _norm(norm, wide * 2), nn.ReLU()]
            wide *= 2
        layers += [StarResidualBlock(wide, norm) for _ in range(blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(wide, wide // 2, 4, 2, 1, bias=False), _norm(norm, wide // 2), nn.ReLU()]
            wide //= 2
        layers += [nn.Conv2d(wide, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        planes = labels[:, :, None, None].to(images.dtype).expand(-1, -1, *images.shape[2:])
        return self.model(torch.cat([images, planes], 1))


class StarDiscriminator(nn.Module):
    """StarGAN's D: `layers` 4×4 stride-2 convolutions (LeakyReLU 0.01, no normalisation, widths
    doubling), then a 3×3 patch critic and a domain classifier whose kernel covers the whole
    remaining map. Returns (critic N×1×h×w, domain logits N×K)."""

    def __init__(self, channels: int, domains: int, size: int, width: int = 64, layers: int = 6) -> None:
        super().__init__()
        body: list[nn.Module] = []
        wide = channels
        for i in range(layers):
            body += [nn.Conv2d(wide, width * 2**i, 4, 2, 1), nn.LeakyReLU(0.01)]
            wide = width * 2**i
        self.body = nn.Sequential(*body)
        self.critic = nn.Conv2d(wide, 1, 3, 1, 1, bias=False)
        self.classifier = nn.Conv2d(wide, domains, size // 2**layers, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(x)
        return self.critic(h), self.classifier(h).flatten(1)


class StarGAN(DomainTranslationGAN):
    """The StarGAN game: D updates `d_steps` times per iteration on fresh batches (each image sent
    to the labels of another image of the batch, a random permutation), then G once on D's last
    batch."""

    generators = ("G",)

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        objective: Objective,
        domains: tuple[str, ...],
        multi_label: bool,
        cls_weight: float = 1.0,
        rec_weight: float = 10.0,
        gp_weight: float = 10.0,
        steps: tuple[int, int] = (5, 1),
        test_mode: str = "eval",
    ) -> None:
        super().__init__({"G": generator, "D": discriminator}, domains, multi_label, test_mode)
        self.objective = objective
        self.cls_weight, self.rec_weight, self.gp_weight = cls_weight, rec_weight, gp_weight
        self.d_steps, self.g_steps = steps
        self.batch_keys = ("x", "attrs") if multi_label else ("x", "y")

    def players(self) -> list[Player]:
        return [
            Player("D", ("D",), self.d_loss, self.d_steps),
            Player("G", ("G",), self.g_loss, self.g_steps, fresh_batch=False),
        ]

    def twice_differentiated(self) -> frozenset[str]:
        return frozenset({"D"}) if self.gp_weight else frozenset()

    def convert(self, images: Tensor, wanted: Tensor, source: Tensor | None) -> Tensor:
        return self.averaged("G")(images, wanted)

    def batch_labels(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """The batch's own labels (float N×K) and the targets: the labels of a random permutation."""
        own = batch["attrs"].float() if self.multi_label else F.one_hot(batch["y"], len(self.domains)).float()
        order = torch.randperm(len(own), generator=rng, device=rng.device).to(own.device)
        return own, own[order]

    def domain_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Binary cross-entropy per attribute (summed, averaged over images) or cross-entropy."""
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / len(logits)
        return F.cross_entropy(logits, labels.argmax(1))

    def d_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        real, d = batch["x"], self.net("D")
        own, wanted = self.batch_labels(batch, rng)
        with torch.no_grad():
            fake = self.net("G")(real, wanted)
        real_critic, real_domains = d(real)
        fake_critic, _ = d(fake)
        adversarial = self.objective.d_loss(real_critic.flatten(1), fake_critic.flatten(1))
        classification = self.domain_loss(real_domains, own)
        loss = adversarial + self.cls_weight * classification
        stats = {"d_adv": adversarial.detach(), "d_cls": classification.detach()}
        if self.gp_weight:
            penalty = gradient_penalty(
                lambda x, _: d(x)[0].flatten(1).sum(1), real, fake, None, rng
            )  # as the reference: ∇ of the patch sum
            loss = loss + self.gp_weight * penalty
            stats["gp"] = penalty.detach()
        gap = real_critic.detach().mean() - fake_critic.detach().mean()
        return loss, {"d_loss": loss.detach(), **stats, "wasserstein": gap}

    def g_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        real, g = batch["x"], self.net("G")
        own, wanted = self.batch_labels(batch, rng)
        fake = g(real, wanted)
        critic, domains = self.net("D")(fake)
        adversarial = self.objective.g_loss(critic.flatten(1))
        classification = self.domain_loss(domains, wanted)
        reconstruction = (g(fake, own) - real).abs().mean()
        loss = adversarial + self.cls_weight * classification + self.rec_weight * reconstruction
        stats = {"g_adv": adversarial.detach(), "g_cls": classification.detach(), "g_rec": reconstruction.detach()}
        return loss, {"g_loss": loss.detach(), **stats}

    def accuracy_meaningful(self) -> bool:
        return not self.objective.critic

    def grid(self, target: Any, rows: int, cols: int, seed: int) -> tuple[Tensor, int] | None:
        """Held-out images, one per row: the input, then its translation to each domain (multi-
        label: with each attribute flipped in turn)."""
        device = next(self.parameters()).device
        k = len(self.domains)
        shown = []
        for image, label in self.grid_cases(target, rows):
            x = target.decode(image[None].to(device))
            label = label.to(device)
            if self.multi_label:
                wanted = label.expand(k, k).clone()
                wanted.diagonal().copy_(1 - label)
            else:
                wanted = torch.eye(k, device=device)
            fake = self.translate(x.expand(k, -1, -1, -1), seed, to=wanted)
            shown += [target.to_images(inputs_as_output(x, fake[:1])), target.to_images(fake)]
        return torch.cat(shown), k + 1


def build_stargan(config: dict[str, Any], target: TargetInfo) -> StarGAN:
    m, loss = config["model"], config["loss"]
    single = tuple(target.keys) == ("x", "y") and target.num_classes >= 2
    multi = tuple(target.keys) == ("x", "attrs") and target.multi_label
    if not (single or multi):
        raise ConfigError(f"model stargan needs images labelled by domain; data.target {config['data']['target']} "
                          f"gives {', '.join(target.keys)}: use data.target=domains (a folder per domain) or "
                          "attributes (a CelebA-style table)")  # fmt: skip
    refuse_loss_settings("stargan", loss, applied=("gp",))
    c, h, w = unpaired_shape("stargan", config, target)
    if h != w:
        raise ConfigError(f"model stargan needs square images; they are {h}×{w} (set data.resolution)")
    layers = m["d_layers"] or max(1, int(math.log2(h)) - 1)
    if h % 2**layers:
        raise ConfigError(f"model.d_layers = {layers} halves {h}×{h} images {layers} times: data.resolution must be a "
                          f"multiple of {2**layers} (or lower model.d_layers)")  # fmt: skip
    k = len(target.class_names)
    generator = StarGenerator(c, k, m["g_width"], m["blocks"], m["norm"])
    discriminator = StarDiscriminator(c, k, h, m["d_width"], layers)
    train = config["train"]
    return StarGAN(generator, discriminator, get_objective(loss["objective"]), tuple(target.class_names),
                   target.multi_label, m["cls_weight"], m["rec_weight"], loss["gp"],
                   (train["d_steps"], train["g_steps"]), m["test_mode"])  # fmt: skip
