"""DCGAN (Radford et al., seeds 001–003): all-convolutional G and D that adapt to the resolution.

The rules the seeds list: strided convolutions in D and transposed convolutions in G (no
pooling), batch norm in both (not on D's input layer nor G's output), no fully connected
hidden layers, ReLU in G with a tanh output, LeakyReLU(0.2) in D. G starts from a `base`×`base`
map and doubles it until it reaches the resolution; D mirrors that. A resolution is buildable
when it is `base`·2^k with 3 ≤ base ≤ 7 and k ≥ 1: 28 (7·4), 32 (4·8), 48, 64 (4·16), 128…
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..data import TargetInfo
from ..errors import ConfigError
from ..games import StandardGAN
from ..recipe import Latent
from .common import class_count, init_dcgan, output_layer


def plan(resolution: int) -> tuple[int, int]:
    """(base, doublings) for a square resolution; a ConfigError when there is none."""
    base, doublings = resolution, 0
    while base % 2 == 0 and base > 7:
        base, doublings = base // 2, doublings + 1
    if not 3 <= base <= 7 or doublings < 1:
        raise ConfigError(
            f"model dcgan cannot build {resolution}×{resolution} images; allowed: base·2^k with base 3–7 "
            "and k ≥ 1 (e.g. 28, 32, 48, 64, 128); set data.resolution"
        )
    return base, doublings


class DCGANGenerator(nn.Module):
    """z (joined by a label embedding when conditional) → C×R×R image."""

    def __init__(
        self,
        latent_dim: int,
        channels: int,
        resolution: int,
        width: int = 64,
        output: nn.Module | None = None,
        num_classes: int = 0,
        embed_dim: int = 0,
    ) -> None:
        super().__init__()
        base, doublings = plan(resolution)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        c = width * 2 ** (doublings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + (embed_dim if num_classes else 0), c, base, 1, 0, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
        ]
        for _ in range(doublings - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), output or nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        return self.net(z[:, :, None, None])


# D's normalisation between convolutions. A gradient penalty is a per-sample quantity, and batch
# norm couples the samples of a batch, so WGAN-GP's authors use layer norm (here GroupNorm with
# one group: normalised over channels and positions of each sample) or none in the critic.
NORMS: dict[str, Any] = {
    "batch": lambda c: [nn.BatchNorm2d(c)],
    "layer": lambda c: [nn.GroupNorm(1, c)],
    "none": lambda c: [],
}


class DCGANDiscriminator(nn.Module):
    """C×R×R image (with label planes when conditional) → one real/fake logit."""

    def __init__(
        self,
        channels: int,
        resolution: int,
        width: int = 64,
        num_classes: int = 0,
        embed_dim: int = 0,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        base, doublings = plan(resolution)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        c = width
        layers: list[nn.Module] = [
            nn.Conv2d(channels + (embed_dim if num_classes else 0), c, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
        ]
        for _ in range(doublings - 1):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), *NORMS[norm](c * 2), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [nn.Conv2d(c, 1, base, 1, 0, bias=False), nn.Flatten(0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            planes = self.embed(labels)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, planes], 1)
        return self.net(x)


def build_dcgan(config: dict[str, Any], target: TargetInfo) -> StandardGAN:
    m = config["model"]
    if len(target.shape) != 3 or target.shape[1] != target.shape[2]:
        raise ConfigError(f"model dcgan needs square images (C×R×R); data.target gives samples of shape {target.shape}")
    channels, resolution = target.shape[0], target.shape[1]
    classes = class_count(m, target)
    generator = DCGANGenerator(
        m["latent_dim"], channels, resolution, m["g_width"], output_layer(target), classes, m["embed_dim"]
    )
    norm = m["d_norm"]
    if norm == "auto":
        penalised = config["loss"]["gp"] or config["loss"]["r1"] or config["loss"]["r2"]
        norm = "layer" if penalised else "batch"
    discriminator = DCGANDiscriminator(channels, resolution, m["d_width"], classes, m["embed_dim"], norm)
    init_dcgan(generator)
    init_dcgan(discriminator)
    return StandardGAN.from_config(
        generator, discriminator, Latent(m["latent_dim"]), config, classes, target.class_frequencies
    )
