"""Multilayer perceptrons for the toy targets, as plain modules, and the `mlp` model entry.

The seeds' toy networks are all small MLPs: seed 000's G (L → 32 ReLU → 32 sigmoid → L) and
its D that sees only each sample's [mean, std]; seed 004's one-layer linear G and its
2 → 5 tanh → 3 tanh → 2-class D. One configurable pair of classes builds all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..data import TargetInfo
from ..diversity import MinibatchStdDev
from ..errors import ConfigError
from ..games import StandardGAN
from ..recipe import Latent, LatentKind
from .common import INITIALISERS, class_count

Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "silu"]
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
OUTPUTS: dict[str, type[nn.Module]] = {"linear": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def mlp(sizes: Sequence[int], activations: Sequence[str], output: str = "linear") -> nn.Sequential:
    """Linear layers between `sizes`, an activation after each hidden layer, then `output`."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activations[i]]())
    layers.append(OUTPUTS[output]())
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Noise vector (joined by a label embedding when conditional) → sample of `sample_shape`."""

    def __init__(
        self,
        latent_dim: int,
        sample_shape: Sequence[int],
        hidden: Sequence[int] = (128, 128),
        activations: Sequence[str] = ("relu", "relu"),
        output: str = "linear",
        num_classes: int = 0,
        embed_dim: int = 0,
    ) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        n_in = latent_dim + (embed_dim if num_classes else 0)
        self.net = mlp([n_in, *hidden, math.prod(self.sample_shape)], activations, output)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        return self.net(z).unflatten(1, self.sample_shape)  # not view(len(z), …): exports keep the batch free


class MeanStd(nn.Module):
    """Summarise each sample by its mean and (population) standard deviation, as seed 000's D does."""

    out_features = 2

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        mean = x.mean(1, keepdim=True)
        std = ((x - mean).square().mean(1, keepdim=True) + 1e-12).sqrt()
        return torch.cat([mean, std], 1)


class TwoClassHead(nn.Module):
    """Two-way softmax output given as one logit: log p(real) − log p(fake) = z_real − z_fake.

    A 2-class softmax with cross-entropy equals a sigmoid on this difference, so the seed's
    2-class D trains exactly as written while every objective still sees one logit.
    """

    def forward(self, two: Tensor) -> Tensor:
        return two[:, 1] - two[:, 0]


class MLPDiscriminator(nn.Module):
    """Sample (and label, when conditional) → one real/fake logit per sample."""

    def __init__(
        self,
        sample_shape: Sequence[int],
        hidden: Sequence[int] = (128, 128),
        activations: Sequence[str] = ("relu", "relu"),
        features: str = "raw",
        head: str = "logit",
        num_classes: int = 0,
        embed_dim: int = 0,
        mbstd: int = 0,
    ) -> None:
        super().__init__()
        self.features = MeanStd() if features == "mean-std" else nn.Flatten()
        n_in = MeanStd.out_features if features == "mean-std" else math.prod(sample_shape)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        n_in += embed_dim if num_classes else 0
        n_out = 2 if head == "softmax2" else 1
        self.net = mlp([n_in, *hidden, n_out], activations)
        if mbstd:  # the batch's spread joins the last hidden layer's features, as Progressive GAN's D does
            last = max(i for i, layer in enumerate(self.net) if isinstance(layer, nn.Linear))
            self.net[last] = nn.Sequential(MinibatchStdDev(mbstd), nn.Linear(self.net[last].in_features + 1, n_out))
        self.head = TwoClassHead() if head == "softmax2" else nn.Flatten(0)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], 1)
        return self.head(self.net(h))


def _per_layer(activations: list[str], hidden: list[int], key: str) -> list[str]:
    if len(activations) == 1:
        return activations * len(hidden)
    if len(activations) != len(hidden):
        raise ConfigError(
            f"{key} must name one activation or one per hidden layer ({len(hidden)}), got {len(activations)}"
        )
    return activations


def build_mlp(config: dict[str, Any], target: TargetInfo) -> StandardGAN:
    m = config["model"]
    classes = class_count(m, target)
    generator = MLPGenerator(
        m["latent_dim"],
        target.shape,
        m["g_hidden"],
        _per_layer(m["g_activation"], m["g_hidden"], "model.g_activation"),
        m["g_output"],
        classes,
        m["embed_dim"],
    )
    discriminator = MLPDiscriminator(
        target.shape,
        m["d_hidden"],
        _per_layer(m["d_activation"], m["d_hidden"], "model.d_activation"),
        m["d_features"],
        m["d_head"],
        classes,
        m["embed_dim"],
        m["d_mbstd"],
    )
    INITIALISERS[m["init"]](generator)
    INITIALISERS[m["init"]](discriminator)
    latent_kind: LatentKind = m["latent"]
    return StandardGAN.from_config(
        generator, discriminator, Latent(m["latent_dim"], latent_kind), config, classes, target.class_frequencies
    )
