"""ResNet GANs (SN-GAN, and SAGAN with self-attention) for images and for vector data.

Images: G maps z through a linear layer to a `base`×`base` map and doubles it with residual
up-blocks (SN-GAN's CIFAR-10 generator at 32 px); D is a stack of residual down-blocks, a
ReLU, a global sum and a linear output. Conditional models use class-conditional batch norm in
G and a projection discriminator (Miyato & Koyama): D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩.
`attention` puts SAGAN's self-attention block at that feature-map size in both networks.

Vector data (the toy targets): the same ideas with residual MLP blocks; there are no feature
maps, so there is no self-attention.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import Tensor, nn

from ..data import TargetInfo
from ..errors import ConfigError
from ..games import StandardGAN
from ..layers import DiscriminatorBlock, GeneratorBlock, ResidualMLPBlock, SelfAttention
from ..recipe import Latent
from .common import class_count, output_layer
from .dcgan import plan

log = logging.getLogger("gankit")


def image_head(width: int, channels: int, output: nn.Module | None) -> nn.Sequential:
    """The last layers of the ResNet generators (SN-GAN, SAGAN, BigGAN): BN, ReLU, a 3×3
    convolution to the image's channels, and the output activation (tanh unless given)."""
    return nn.Sequential(
        nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, padding=1), output or nn.Tanh()
    )


class ResNetGenerator(nn.Module):
    """z → C×R×R through residual up-blocks (conditional batch norm when `num_classes`)."""

    def __init__(
        self,
        latent_dim: int,
        channels: int,
        resolution: int,
        width: int = 256,
        num_classes: int = 0,
        attention: int = 0,
        output: nn.Module | None = None,
    ) -> None:
        super().__init__()
        base, doublings = plan(resolution)
        self.base, self.width = base, width
        self.linear = nn.Linear(latent_dim, width * base * base)
        blocks: list[nn.Module] = []
        size = base
        for _ in range(doublings):
            blocks.append(GeneratorBlock(width, width, num_classes))
            size *= 2
            if size == attention and size != resolution:
                blocks.append(SelfAttention(width))
        self.blocks = nn.ModuleList(blocks)
        self.out = image_head(width, channels, output)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.linear(z).unflatten(1, (self.width, self.base, self.base))  # exports keep the batch size free
        for block in self.blocks:
            h = block(h, labels) if isinstance(block, GeneratorBlock) else block(h)
        return self.out(h)


class ResNetDiscriminator(nn.Module):
    """C×R×R → logit: residual down-blocks, two plain blocks, ReLU, global sum, linear (+ projection)."""

    def __init__(
        self, channels: int, resolution: int, width: int = 128, num_classes: int = 0, attention: int = 0
    ) -> None:
        super().__init__()
        _, doublings = plan(resolution)
        size = resolution // 2
        blocks: list[nn.Module] = [DiscriminatorBlock(channels, width, downsample=True, first=True)]
        for _ in range(max(0, doublings - 2)):
            if size == attention:
                blocks.append(SelfAttention(width))
            blocks.append(DiscriminatorBlock(width, width, downsample=True))
            size //= 2
        if size == attention:
            blocks.append(SelfAttention(width))
        blocks += [DiscriminatorBlock(width, width, False), DiscriminatorBlock(width, width, False)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = torch.relu(self.blocks(x)).sum(dim=(2, 3))
        out = self.linear(h).flatten()
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out


class ResMLPGenerator(nn.Module):
    """z (with a label embedding when conditional) → vector sample through residual MLP blocks."""

    def __init__(self, latent_dim: int, dim: int, width: int, blocks: int, num_classes: int = 0) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, width) if num_classes else None
        self.net = nn.Sequential(
            nn.Linear(latent_dim, width),
            *[ResidualMLPBlock(width) for _ in range(blocks)],
            nn.ReLU(),
            nn.Linear(width, dim),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.net[0](z)
        if self.embed is not None:
            h = h + self.embed(labels)
        return self.net[1:](h)


class ResMLPDiscriminator(nn.Module):
    """Vector → logit through residual MLP blocks, with a projection term when conditional."""

    def __init__(self, dim: int, width: int, blocks: int, num_classes: int = 0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, width), *[ResidualMLPBlock(width) for _ in range(blocks)], nn.ReLU())
        self.linear = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.body(x.flatten(1))
        out = self.linear(h).flatten()
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out


def attention_sizes(resolution: int) -> list[int]:
    base, doublings = plan(resolution)
    return [base * 2**k for k in range(1, doublings)]


def build_resnet(config: dict[str, Any], target: TargetInfo) -> StandardGAN:
    m = config["model"]
    classes = class_count(m, target)
    if len(target.shape) == 3:
        channels, resolution = target.shape[0], target.shape[1]
        if target.shape[1] != target.shape[2]:
            raise ConfigError(f"model resnet needs square images (C×R×R); got samples of shape {target.shape}")
        if m["attention"] and m["attention"] not in attention_sizes(resolution):
            sizes = ", ".join(map(str, attention_sizes(resolution))) or "none"
            raise ConfigError(f"model.attention must be 0 or a feature-map size of {resolution}-px images: {sizes}")
        generator = ResNetGenerator(
            m["latent_dim"], channels, resolution, m["g_width"], classes, m["attention"], output_layer(target)
        )
        discriminator = ResNetDiscriminator(channels, resolution, m["d_width"], classes, m["attention"])
    else:
        if m["attention"]:
            log.info("model.attention = %d ignored: vector data has no feature maps to attend over", m["attention"])
        dim = math.prod(target.shape)
        generator = ResMLPGenerator(m["latent_dim"], dim, m["g_width"], m["blocks"], classes)
        discriminator = ResMLPDiscriminator(dim, m["d_width"], m["blocks"], classes)
    return StandardGAN.from_config(
        generator, discriminator, Latent(m["latent_dim"]), config, classes, target.class_frequencies
    )
