"""Pix2Pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

G (a U-Net or a ResNet translator) maps an input image a to an output; a PatchGAN D judges
the input and an output together (a real pair (a, x) against a generated pair (a, G(a))), so
it can check that the output fits its input, patch by patch. G minimises the adversarial loss
plus λ·‖G(a) − x‖₁ (λ = 100): L1 gets the low frequencies right, the adversarial term makes
the output sharp. D's loss is halved, as in the paper, to slow it against G.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..data import TargetInfo
from ..errors import ConfigError
from ..games import discriminator_stats
from ..losses import Objective, get_objective
from ..recipe import Batch, Player
from ..translation import TranslationGAN, check_patch_size, refuse_loss_settings
from .translation_nets import PatchDiscriminator, ResNetTranslator, UNetGenerator, init_normal


class Pix2Pix(TranslationGAN):
    """The Pix2Pix game, as the reference trains it: each iteration G translates a fresh pair
    batch once; D updates on it (the translation detached), then G updates through D's verdict
    on that same translation, with D frozen. Under data parallelism G translates again for its
    own update (its forward must run through its DDP wrapper for the gradients to be reduced)."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        objective: Objective,
        l1_weight: float = 100.0,
        gan_weight: float = 1.0,
        d_steps: int = 1,
        g_steps: int = 1,
        test_mode: str = "train",
    ) -> None:
        super().__init__({"G": generator, "D": discriminator}, test_mode)
        self.objective, self.l1_weight, self.gan_weight = objective, l1_weight, gan_weight
        self.d_steps, self.g_steps = d_steps, g_steps
        self.translated: Tensor | None = None  # G's output on this iteration's batch, graph kept for G's update

    @property
    def shares_translation(self) -> bool:
        return not self.group.distributed

    def players(self) -> list[Player]:
        shared = ("G",) if self.shares_translation else ()
        return [
            Player("D", ("D",), self.d_loss, self.d_steps, forwards=shared),
            Player("G", ("G",), self.g_loss, self.g_steps, fresh_batch=False),
        ]

    def judge(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """D's patch logits for (input, output) pairs, one row of logits per image."""
        return self.net("D")(torch.cat([inputs, outputs], 1)).flatten(1)

    def d_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        inputs, real = batch["a"], batch["x"]
        if self.shares_translation:
            self.translated = fake = self.net("G")(inputs)
        else:
            with torch.no_grad():
                fake = self.net("G")(inputs)
        real_logits, fake_logits = self.judge(inputs, real), self.judge(inputs, fake.detach())
        loss = 0.5 * self.objective.d_loss(real_logits, fake_logits)
        return loss, discriminator_stats(self.objective, loss, real_logits, fake_logits)

    def g_loss(self, batch: Batch, rng: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        inputs, real = batch["a"], batch["x"]
        fake, self.translated = self.translated, None  # the first G update uses D's translation
        if fake is None:
            fake = self.net("G")(inputs)
        adversarial = self.objective.g_loss(self.judge(inputs, fake))
        l1 = (fake - real).abs().mean()
        loss = self.gan_weight * adversarial + self.l1_weight * l1
        return loss, {"g_loss": loss.detach(), "g_gan": adversarial.detach(), "g_l1": l1.detach()}

    def loss_guides(self) -> dict[str, float]:
        return {"d_loss": 0.5 * self.objective.d_equilibrium}

    def accuracy_meaningful(self) -> bool:
        return not self.objective.critic


def build_pix2pix(config: dict[str, Any], target: TargetInfo) -> Pix2Pix:
    m = config["model"]
    if not target.input_shape:
        raise ConfigError(f"model pix2pix needs paired data (an input image a with its target x); data.target "
                          f"{config['data']['target']} gives {', '.join(target.keys)}: use data.target=paired "
                          "(data.path, data.layout) or facades")  # fmt: skip
    refuse_loss_settings("pix2pix", config["loss"])
    if target.value_range != "minus-one-one":
        raise ConfigError("model pix2pix's generator ends in tanh: set data.range=minus-one-one")
    (c_in, h, w), c_out = target.input_shape, target.shape[0]
    if h != w:
        raise ConfigError(f"model pix2pix needs square images; the pairs are {h}×{w} (set data.resolution)")
    check_patch_size("pix2pix", m["d_layers"], h, w, "the pairs are")
    if m["generator"] == "resnet" and h % 4:
        raise ConfigError(f"model.generator = resnet halves the images twice: data.resolution must be a multiple "
                          f"of 4, got {h}")  # fmt: skip
    if m["generator"] == "unet":
        generator: nn.Module = UNetGenerator(c_in, c_out, h, m["g_width"], m["depth"], m["norm"], m["dropout"])
    else:
        generator = ResNetTranslator(c_in, c_out, m["g_width"], m["blocks"], m["norm"], m["dropout"])
    discriminator = PatchDiscriminator(c_in + c_out, m["d_width"], m["d_layers"], m["norm"])
    init_normal(generator)
    init_normal(discriminator)
    objective = get_objective(config["loss"]["objective"])
    train = config["train"]
    return Pix2Pix(generator, discriminator, objective, m["l1_weight"], m["gan_weight"], train["d_steps"],
                   train["g_steps"], m["test_mode"])  # fmt: skip
